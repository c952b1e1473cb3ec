"""Sampling speed: the reference default (DDPM, 1000 steps) against audiodiff's samplers, same model, same machine.

What it does, in one run:
1. takes a pipeline folder (`--pipeline`, e.g. a model fine-tuned on the real-music collection by
   `scripts/bench_quality.py`), or else synthesizes a small training set (audiodiff.synth: beats, pads, arpeggios,
   5.94 s slices, 64 mel bands by default) and trains a small UNet (about 0.6 M parameters) on it for a few hundred
   steps, so that the script runs anywhere;
2. times one clip of one slice (batch 1, UNet + Griffin-Lim vocoder) with each sampler and counts UNet evaluations.

Quality is not measured here: which sampler sounds right is `scripts/bench_quality.py`'s question, answered on real
music with the artefact and seam checks (an earlier version of this script compared samplers by a 32-band log-mel
Frechet distance on synthesized music, which could not see noise clips).

Usage: python scripts/bench_sample.py [--pipeline FOLDER] [--train-steps 400] [--mels 64] [--device cpu]
The last line is `RESULT sample_speedup=<x> unet_evals_ref=<n> unet_evals_ours=<n>`.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel

from audiodiff.audio import slice_audio
from audiodiff.codec import SpectrogramCodec
from audiodiff.config import MelConfig
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.runtime import environment_info, resolve_device
from audiodiff.synth import GENRES, synthesize
from benchlib.machine import load_average


def spectrograms(config: MelConfig, tracks: range, seconds: float) -> torch.Tensor:
    """8-bit spectrogram images `(count, 1, y_res, x_res)` in [-1, 1] of synthesized tracks, all slices."""
    codec = SpectrogramCodec(config)
    slices = [
        slice_audio(synthesize(genre, seconds, config.sample_rate, seed=track), config.slice_size)
        for genre in GENRES
        for track in tracks
    ]
    return codec.encode(torch.from_numpy(np.concatenate(slices)), bits=8)


def small_unet(config: MelConfig) -> UNet2DModel:
    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=(config.y_res, config.x_res),
        in_channels=1,
        out_channels=1,
        layers_per_block=1,
        block_out_channels=(16, 32, 64),
        down_block_types=("DownBlock2D",) * 3,
        up_block_types=("UpBlock2D",) * 3,
        norm_num_groups=8,
        add_attention=False,
    )


def train(unet: UNet2DModel, images: torch.Tensor, steps: int, batch_size: int, device: torch.device) -> list[float]:
    """DDPM training (Ho et al. 2020): predict the noise added at a random timestep; AdamW, constant rate."""
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=2e-3, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    unet.train()
    losses = []
    for _ in range(steps):
        batch = images[torch.randint(0, len(images), (batch_size,), generator=generator)].to(device)
        noise = torch.randn(batch.shape, generator=generator).to(device)
        timesteps = torch.randint(0, 1000, (batch_size,), generator=generator).to(device)
        loss = torch.nn.functional.mse_loss(unet(scheduler.add_noise(batch, noise, timesteps), timesteps).sample, noise)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    unet.eval()
    return losses


def small_trained_pipeline(arguments, device: torch.device) -> AudioDiffusionPipeline:
    """The self-contained case: a small UNet trained on synthesized music (or loaded with --load)."""
    config = MelConfig(x_res=256, y_res=arguments.mels, sample_rate=22050, n_fft=2048, hop_length=512)
    started = time.perf_counter()
    training_images = spectrograms(config, range(3), 12.0)  # 3 tracks x 2 slices per genre
    print(
        f"\ndata: {len(training_images)} synthesized slices of {config.slice_seconds:.2f} s, images "
        f"{config.y_res}x{config.x_res} ({time.perf_counter() - started:.1f} s)"
    )
    unet = small_unet(config).to(device)
    parameters = sum(parameter.numel() for parameter in unet.parameters())
    if arguments.load:
        unet = AudioDiffusionPipeline.from_pretrained(arguments.load).unet.to(device)
        print(f"model: UNet2DModel {parameters / 1e6:.2f} M parameters, loaded from {arguments.load}")
    else:
        started = time.perf_counter()
        losses = train(unet, training_images, arguments.train_steps, arguments.train_batch, device)
        print(
            f"model: UNet2DModel {parameters / 1e6:.2f} M parameters; trained {arguments.train_steps} steps of batch "
            f"{arguments.train_batch} in {time.perf_counter() - started:.0f} s, loss {np.mean(losses[:20]):.3f} -> "
            f"{np.mean(losses[-20:]):.3f}"
        )
    pipe = AudioDiffusionPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000), mel_config=config)
    if arguments.save:
        pipe.save_pretrained(arguments.save)
    return pipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mels", type=int, default=64, help="Mel bands (image height); 256 = the reference size.")
    parser.add_argument("--train-steps", type=int, default=400)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--pipeline", default=None, help="Time this pipeline folder instead of a small trained one.")
    parser.add_argument("--ref-steps", type=int, default=1000, help="DDPM steps (the reference default: 1000).")
    parser.add_argument("--fast-steps", type=int, default=20, help="DPM-Solver++ steps (audiodiff's default: 20).")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    parser.add_argument("--save", default=None, help="Also save the trained pipeline to this folder.")
    parser.add_argument("--load", default=None, help="Skip training: load this pipeline folder (from --save).")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    device = resolve_device(arguments.device)
    print("command:", " ".join([sys.executable, *sys.argv]))
    for key, value in environment_info().items():
        print(f"  {key:14s} {value}")
    print(f"  run device     {device}, torch threads {torch.get_num_threads()}")
    print(f"  load average   {load_average()} (other work on the machine)")

    if arguments.pipeline:
        pipe = AudioDiffusionPipeline.from_pretrained(arguments.pipeline).to(device)
        config = pipe.mel_config
        parameters = sum(parameter.numel() for parameter in pipe.unet.parameters())
        print(f"\nmodel: {arguments.pipeline}, {parameters / 1e6:.2f} M parameters, {config.y_res}x{config.x_res}")
    else:
        pipe = small_trained_pipeline(arguments, device)
        config = pipe.mel_config
    pipe.set_progress_bar_config(disable=True)
    genre = pipe.genres[0] if pipe.genres else None
    samplers = [
        ("reference default: DDPM", "ddpm", arguments.ref_steps),
        ("DDIM", "ddim", 50),
        ("audiodiff default: DPM-Solver++(2M)", "dpm", arguments.fast_steps),
    ]

    print(f"\none {config.slice_seconds:.2f} s clip, batch 1 (UNet + Griffin-Lim vocoder), one run each:")
    seconds, evaluations = {}, {}
    for label, name, steps in samplers:
        pipe.set_scheduler(name)
        before = pipe.unet_evaluations
        started = time.perf_counter()
        output = pipe(
            num_inference_steps=steps, generator=torch.Generator().manual_seed(0), genre=genre, output_type="pt"
        )
        seconds[name] = time.perf_counter() - started
        evaluations[name] = pipe.unet_evaluations - before
        print(
            f"  {label:38s} {steps:5d} steps  {evaluations[name]:5d} UNet evaluations  {seconds[name]:8.2f} s  "
            f"audio {tuple(output.audios.shape)}"
        )

    speedup = seconds["ddpm"] / seconds["dpm"]
    print(
        f"\nRESULT sample_speedup={speedup:.1f} unet_evals_ref={evaluations['ddpm']} "
        f"unet_evals_ours={evaluations['dpm']}"
    )


if __name__ == "__main__":
    main()
