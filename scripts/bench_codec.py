"""Codec throughput: the reference `Mel` (librosa) against audiodiff's torch codec on the same audio.

Encodes and decodes the same real-length audio (synthesized music, reference 256x256 settings) with both, in one
process, and prints throughput in seconds of audio per second, the ratios and the spectral convergence of each
decoder's round trip. The last line is machine-readable.

    .venv/bin/python scripts/bench_codec.py [--seconds 60] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from audiodiff.audio import slice_audio
from audiodiff.codec import SpectrogramCodec
from audiodiff.config import MelConfig
from audiodiff.evaluation.metrics import spectral_convergence
from audiodiff.runtime import resolve_device
from audiodiff.synth import GENRES, synthesize
from benchlib.machine import machine_line


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=36.0, help="seconds of audio per genre")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from diffusers.pipelines.deprecated.audio_diffusion import Mel

    print(machine_line())
    print(machine_line(("torch", "torchaudio", "diffusers", "librosa"), label="versions"))
    config = MelConfig()
    device = resolve_device(args.device)
    codec = SpectrogramCodec(config).to(device)
    audio = np.concatenate([synthesize(genre, args.seconds, config.sample_rate, seed=args.seed) for genre in GENRES])
    slices = slice_audio(audio, config.slice_size)
    seconds = len(slices) * config.slice_size / config.sample_rate
    print(f"audio: {len(slices)} slices of {config.slice_seconds:.2f} s = {seconds:.1f} s (3 synthesized genres)")

    reference = Mel(**config.to_dict())
    reference.load_audio(raw_audio=np.concatenate(slices))
    reference_images, reference_encode = timed(
        lambda: [reference.audio_slice_to_image(index) for index in range(len(slices))]
    )
    batch = torch.from_numpy(slices).to(device)
    codec.audio_to_pixels(batch[:2])  # warm-up (allocations, FFT plans)

    def encode():
        pixels = codec.audio_to_pixels(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return pixels

    pixels, ours_encode = timed(encode)
    agreement = (np.abs(pixels.cpu().numpy() - np.stack([np.asarray(i) for i in reference_images])) <= 1).mean()

    np.random.seed(args.seed)
    reference_audio, reference_decode = timed(
        lambda: np.stack([reference.image_to_audio(image) for image in reference_images])
    )
    images = codec.pixels_to_images(pixels)
    codec.decode(images[:1], generator=torch.Generator(device).manual_seed(args.seed))  # warm-up

    def decode():
        decoded = codec.decode(images, generator=torch.Generator(device).manual_seed(args.seed))
        if device.type == "cuda":
            torch.cuda.synchronize()
        return decoded

    ours_audio, ours_decode = timed(decode)
    target = torch.from_numpy(slices)
    sc_reference = spectral_convergence(target, torch.from_numpy(reference_audio).float()).mean().item()
    sc_ours = spectral_convergence(target, ours_audio.cpu()).mean().item()

    rows = [
        ("encode", reference_encode, ours_encode),
        ("decode", reference_decode, ours_decode),
    ]
    print(f"{'step':8s} {'reference s':>12s} {'audiodiff s':>12s} {'ref audio-s/s':>14s} {'ours audio-s/s':>15s} ratio")
    for name, ref_time, our_time in rows:
        print(
            f"{name:8s} {ref_time:12.2f} {our_time:12.2f} {seconds / ref_time:14.1f} {seconds / our_time:15.1f} "
            f"{ref_time / our_time:5.1f}x"
        )
    print(f"pixels within 1 grey level of the reference: {agreement * 100:.3f}%")
    print(f"spectral convergence of the round trip (lower is better): reference {sc_reference:.4f}, ours {sc_ours:.4f}")
    print(
        f"RESULT encode_ratio={reference_encode / ours_encode:.2f} decode_ratio={reference_decode / ours_decode:.2f} "
        f"sc_ref={sc_reference:.4f} sc_ours={sc_ours:.4f}"
    )


if __name__ == "__main__":
    main()
