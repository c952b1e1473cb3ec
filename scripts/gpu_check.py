"""A few-minute GPU check of the reference architecture (ref-256): training and sampling speed, peak memory.

Trains the `ref-256` preset on 256x256 spectrograms of synthesized music with audiodiff's loop (bf16 autocast
through accelerate, channels_last, optionally torch.compile), then times DDIM sampling steps. Prints samples/s,
peak GPU memory and seconds per sampling step.

    .venv/bin/python scripts/gpu_check.py [--batch-size 8] [--steps 40] [--compile]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from audiodiff.config import MelConfig
from audiodiff.data import load_spectrogram_dataset, prepare_dataset
from audiodiff.runtime import environment_info
from audiodiff.synth import write_collection
from audiodiff.training import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--sampling-steps", type=int, default=20)
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet for the sampling test")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device")
    info = environment_info()
    print("machine:", ", ".join(f"{key}={value}" for key, value in info.items()))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_collection(folder / "music", tracks_per_genre=2, seconds=30.0)
        prepare_dataset(
            [folder / "music"], folder / "data", mel_config=MelConfig(), genre_from="folder", progress=False
        )
        data = load_spectrogram_dataset(folder / "data")
        config = TrainConfig(
            model="ref-256",
            batch_size=args.batch_size,
            max_steps=args.steps,
            epochs=None,
            mixed_precision="bf16",
            lr_warmup_steps=5,
            checkpoint_every=0,
            sample_every=0,
            num_samples=0,
        )
        trainer = Trainer.start(config, data, folder / "run", progress=False)
        trainer.unet.to(memory_format=torch.channels_last)
        torch.cuda.reset_peak_memory_stats()
        result = trainer.run()
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(
            f"train ref-256 bf16 batch {args.batch_size}: {result.samples_per_second:.1f} samples/s, "
            f"peak {peak:.1f} GiB"
        )

        from audiodiff.pipeline import AudioDiffusionPipeline

        pipeline = AudioDiffusionPipeline.from_pretrained(folder / "run").to("cuda")
        pipeline.unet.to(memory_format=torch.channels_last)
        if args.compile:
            pipeline.unet = torch.compile(pipeline.unet)
        generator = torch.Generator("cuda").manual_seed(0)
        pipeline(batch_size=1, num_inference_steps=3, generator=generator)  # warm-up (and compilation)
        torch.cuda.synchronize()
        start = time.perf_counter()
        pipeline(batch_size=1, num_inference_steps=args.sampling_steps, generator=generator)
        torch.cuda.synchronize()
        per_step = (time.perf_counter() - start) / args.sampling_steps
        print(f"sampling ref-256 batch 1: {per_step * 1000:.1f} ms per step (compile={args.compile}), incl. decoding")
        print(
            f"RESULT gpu_train_samples_per_s={result.samples_per_second:.1f} peak_gib={peak:.1f} "
            f"sample_step_ms={per_step * 1000:.1f}"
        )


if __name__ == "__main__":
    main()
