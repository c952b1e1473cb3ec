"""Training throughput: audiodiff's loop against a plain loop like the diffusion course's, same model and batch.

The plain loop is AdamW + MSE on the noise over a DataLoader of the same dataset, nothing else (torch's default
AdamW, as the course notebook; a second plain loop takes the fused AdamW audiodiff uses, the stricter baseline).
audiodiff's loop adds the cosine schedule with warm-up, gradient clipping, EMA, accelerate and its resumable data
order. All run in this process, alternately, for the same number of steps; the best of the rounds is kept for each.
`--channels-last` / `--compile` / `--mixed-precision bf16|auto` turn on audiodiff's throughput options (the plain
loops stay as they are, in fp32). The last line is machine-readable.

    .venv/bin/python scripts/bench_train.py [--model small-64] [--size 64] [--batch-size 8] [--steps 30]
        [--mixed-precision no|bf16|auto]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from audiodiff.data import images_to_tensor, load_spectrogram_dataset, prepare_dataset
from audiodiff.models import ModelPreset, build_unet
from audiodiff.runtime import best_device, mixed_precision_for
from audiodiff.synth import write_collection
from audiodiff.training import TrainConfig, Trainer
from benchlib.machine import machine_line


def plain_loop(data, preset, size, batch_size, steps, seed, fused=False) -> float:
    """The course notebook's loop (with `fused`, on the fused AdamW): returns samples/s."""
    from diffusers import DDPMScheduler

    torch.manual_seed(seed)
    unet = build_unet(preset, (size, size))
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4, fused=fused or None)
    rows = data.dataset
    dataset = [rows[i]["image"] for i in range(len(rows))]
    loader = torch.utils.data.DataLoader(
        range(len(dataset)),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=lambda indices: images_to_tensor([dataset[i] for i in indices], data.bits),
    )
    done, start = 0, time.perf_counter()
    while done < steps:
        for images in loader:
            noise = torch.randn_like(images)
            timesteps = torch.randint(0, 1000, (images.shape[0],))
            prediction = unet(scheduler.add_noise(images, noise, timesteps), timesteps).sample
            loss = F.mse_loss(prediction, noise)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            done += 1
            if done == steps:
                break
    return steps * batch_size / (time.perf_counter() - start)


def audiodiff_loop(data, model, batch_size, steps, seed, out_dir: Path, **options) -> float:
    config = TrainConfig(
        model=model,
        batch_size=batch_size,
        max_steps=steps,
        epochs=None,
        lr_warmup_steps=5,
        checkpoint_every=0,
        sample_every=0,
        num_samples=0,
        seed=seed,
        **options,
    )
    return Trainer.start(config, data, out_dir, progress=False).run().samples_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small-64")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="compiles once per round (the time counts)")
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "auto"], help="audiodiff's loop")
    args = parser.parse_args()
    print(machine_line())
    from audiodiff.config import MelConfig

    mel = MelConfig(x_res=args.size, y_res=args.size)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_collection(folder / "music", tracks_per_genre=2, seconds=max(20.0, 6 * mel.slice_seconds))
        prepare_dataset([folder / "music"], folder / "data", mel_config=mel, genre_from="folder", progress=False)
        data = load_spectrogram_dataset(folder / "data")
        preset = ModelPreset.load(args.model)
        print(
            f"model {args.model}, {args.size}x{args.size}, batch {args.batch_size}, {args.steps} steps, "
            f"{len(data.dataset)} images, channels_last={args.channels_last}, compile={args.compile}, "
            f"mixed_precision={args.mixed_precision} ({mixed_precision_for(args.mixed_precision, best_device())})"
        )
        plain, fused, ours = [], [], []
        for round_index in range(args.rounds):
            plain.append(plain_loop(data, preset, args.size, args.batch_size, args.steps, round_index))
            fused.append(plain_loop(data, preset, args.size, args.batch_size, args.steps, round_index, fused=True))
            ours.append(
                audiodiff_loop(
                    data,
                    args.model,
                    args.batch_size,
                    args.steps,
                    round_index,
                    folder / f"run{round_index}",
                    channels_last=args.channels_last,
                    compile=args.compile,
                    mixed_precision=args.mixed_precision,
                )
            )
            print(
                f"round {round_index}: plain {plain[-1]:.2f} samples/s, plain with fused AdamW {fused[-1]:.2f}, "
                f"audiodiff {ours[-1]:.2f}"
            )
    ratio, fused_ratio = max(ours) / max(plain), max(ours) / max(fused)
    print(
        f"best: plain {max(plain):.2f} samples/s, plain with fused AdamW {max(fused):.2f}, audiodiff {max(ours):.2f}; "
        f"ratio {ratio:.3f} ({fused_ratio:.3f} to the fused plain loop)"
    )
    print(f"RESULT train_ratio={ratio:.3f} train_ratio_fused_plain={fused_ratio:.3f}")


if __name__ == "__main__":
    main()
