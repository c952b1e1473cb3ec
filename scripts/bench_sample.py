"""Sampling speed and quality: the reference default (DDPM, 1000 steps) against audiodiff's fast default
(DPM-Solver++(2M), 20 steps), same model, same machine.

What it does, in one run:
1. synthesizes a small training set (audiodiff.synth: beats, pads, arpeggios) and encodes it to spectrogram images
   of 5.94 s (x_res 256 frames at 22050 Hz, hop 512; 64 mel bands by default to keep CPU training short);
2. trains a small UNet (about 0.6 M parameters, no attention) on them for a few hundred steps (DDPM objective);
3. times one 5.9 s clip (batch 1, UNet + Griffin-Lim vocoder) with each sampler and counts UNet evaluations;
4. checks quality: generates a few clips with each sampler and measures their distance to the training
   spectrograms: the Frechet distance on log-mel frame embeddings (the metric of `audiodiff evaluate`) and a
   mel-statistics distance (RMS over mel bands of the difference of per-band dB mean and dB spread). Held-out real
   slices give the floor, the untrained model the ceiling.

Usage: python scripts/bench_sample.py [--train-steps 400] [--quality-clips 8] [--mels 64] [--device cpu]
The last line is `RESULT sample_speedup=<x> unet_evals_ref=<n> unet_evals_ours=<n>`.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel

from audiodiff.audio import slice_audio
from audiodiff.codec import SpectrogramCodec
from audiodiff.config import MelConfig
from audiodiff.evaluation.embeddings import log_mel_frame_embeddings
from audiodiff.evaluation.metrics import frechet_distance_between
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.runtime import environment_info, resolve_device
from audiodiff.synth import GENRES, synthesize


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


def mel_statistics_distance(images: torch.Tensor, reference: torch.Tensor, top_db: float) -> float:
    """RMS over mel bands of the differences of per-band mean dB and per-band dB standard deviation."""

    def statistics(batch):
        decibels = (batch[:, 0].clamp(-1, 1) + 1) / 2 * top_db - top_db  # (count, n_mels, frames)
        per_band = decibels.transpose(0, 1).reshape(decibels.shape[1], -1)
        return per_band.mean(dim=1), per_band.std(dim=1)

    (mean_a, spread_a), (mean_b, spread_b) = statistics(images), statistics(reference)
    return float(torch.cat([mean_a - mean_b, spread_a - spread_b]).square().mean().sqrt())


def distances(images: torch.Tensor, reference: torch.Tensor, top_db: float) -> tuple[float, float]:
    embeddings = (log_mel_frame_embeddings(batch, top_db) for batch in (images, reference))
    return frechet_distance_between(*embeddings), mel_statistics_distance(images, reference, top_db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mels", type=int, default=64, help="Mel bands (image height); 256 = the reference size.")
    parser.add_argument("--train-steps", type=int, default=400)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--quality-clips", type=int, default=8, help="Clips per sampler for the quality check.")
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
    print("  load average   " + " ".join(f"{value:.2f}" for value in os.getloadavg()) + " (other work on the machine)")

    config = MelConfig(x_res=256, y_res=arguments.mels, sample_rate=22050, n_fft=2048, hop_length=512)
    started = time.perf_counter()
    training_images = spectrograms(config, range(3), 12.0)  # 3 tracks x 2 slices per genre
    held_out = spectrograms(config, range(3, 5), 12.0)
    print(
        f"\ndata: {len(training_images)} training and {len(held_out)} held-out slices of "
        f"{config.slice_seconds:.2f} s, images {config.y_res}x{config.x_res} ({time.perf_counter() - started:.1f} s)"
    )

    unet = small_unet(config).to(device)
    untrained = copy.deepcopy(unet)
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
    pipe.set_progress_bar_config(disable=True)
    samplers = [
        ("reference default: DDPM", "ddpm", arguments.ref_steps),
        ("audiodiff default: DPM-Solver++(2M)", "dpm", arguments.fast_steps),
    ]

    print("\none 5.9 s clip, batch 1 (UNet + Griffin-Lim vocoder), one run each:")
    seconds, evaluations = {}, {}
    for label, name, steps in samplers:
        pipe.set_scheduler(name)
        before = pipe.unet_evaluations
        started = time.perf_counter()
        output = pipe(num_inference_steps=steps, generator=torch.Generator().manual_seed(0), output_type="pt")
        seconds[name] = time.perf_counter() - started
        evaluations[name] = pipe.unet_evaluations - before
        print(
            f"  {label:38s} {steps:5d} steps  {evaluations[name]:5d} UNet evaluations  {seconds[name]:8.2f} s  "
            f"audio {tuple(output.audios.shape)}"
        )

    print(
        f"\nquality: {arguments.quality_clips} clips per sampler vs the {len(training_images)} training "
        "spectrograms (lower is closer)"
    )
    top_db = float(config.top_db)
    rows = [("held-out real slices (floor)", held_out)]
    for label, name, steps in samplers:
        pipe.set_scheduler(name)
        generator = [torch.Generator().manual_seed(1000 + index) for index in range(arguments.quality_clips)]
        output = pipe(
            batch_size=arguments.quality_clips, num_inference_steps=steps, generator=generator, output_type="pt"
        )
        rows.append((f"{label} {steps}", output.images))
    baseline = AudioDiffusionPipeline(unet=untrained, scheduler=DDPMScheduler(), mel_config=config).set_scheduler("dpm")
    baseline.set_progress_bar_config(disable=True)
    generator = [torch.Generator().manual_seed(1000 + index) for index in range(arguments.quality_clips)]
    rows.append(
        (
            "untrained model, DPM-Solver++ 20 (ceiling)",
            baseline(
                batch_size=arguments.quality_clips, num_inference_steps=20, generator=generator, output_type="pt"
            ).images,
        )
    )
    print(f"  {'':48s} {'Frechet (log-mel)':>18s} {'mel stats (dB)':>15s}")
    scores = {}
    for label, images in rows:
        frechet, statistics = distances(images.cpu(), training_images, top_db)
        scores[label] = (frechet, statistics)
        print(f"  {label:48s} {frechet:18.1f} {statistics:15.2f}")
    reference_score, fast_score = scores[rows[1][0]], scores[rows[2][0]]
    print(
        f"  fast / reference: Frechet x{fast_score[0] / reference_score[0]:.2f}, "
        f"mel stats x{fast_score[1] / reference_score[1]:.2f}"
    )

    speedup = seconds["ddpm"] / seconds["dpm"]
    print(
        f"\nRESULT sample_speedup={speedup:.1f} unet_evals_ref={evaluations['ddpm']} "
        f"unet_evals_ours={evaluations['dpm']}"
    )


if __name__ == "__main__":
    main()
