"""A few-minute GPU check of the reference architecture (ref-256): training and sampling speed, peak memory.

Trains the `ref-256` preset on 256x256 spectrograms of synthesized music with audiodiff's loop (bf16 autocast
through accelerate, channels_last), then times, per 5.9 s clip: DPM-Solver++ sampling (eager, bf16 autocast, and
optionally torch.compile) at batch 1 and batch 8, and Griffin-Lim decoding. Prints samples/s, peak GPU memory and
seconds per clip; the last line is `RESULT key=value ...`.

    python scripts/gpu_check.py [--batch-size 8] [--steps 40] [--compile]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import torch

from audiodiff.config import MelConfig
from audiodiff.data import load_spectrogram_dataset, prepare_dataset
from audiodiff.synth import write_collection
from audiodiff.training import TrainConfig, Trainer
from benchlib.machine import machine_line


def timed(function, repeats: int = 1) -> float:
    """Seconds per call of `function()` after one warm-up call, with the GPU synchronised around it."""
    function()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--sampling-steps", type=int, default=20)
    parser.add_argument("--compile", action="store_true", help="also time sampling with a torch.compile'd UNet")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device")
    print(machine_line(keys=None), flush=True)
    results: dict[str, float] = {}
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
        results["train_samples_per_s"] = result.samples_per_second
        results["train_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        print(
            f"train ref-256 bf16 batch {args.batch_size}: {result.samples_per_second:.1f} samples/s "
            f"(includes the first steps' warm-up), peak {results['train_peak_gib']:.1f} GiB",
            flush=True,
        )
        del trainer
        torch.cuda.empty_cache()

        from audiodiff.pipeline import AudioDiffusionPipeline

        pipeline = AudioDiffusionPipeline.from_pretrained(folder / "run").to("cuda").set_scheduler("dpm")
        pipeline.set_progress_bar_config(disable=True)
        pipeline.unet.to(memory_format=torch.channels_last)
        steps = args.sampling_steps
        shape = (1, 256, 256)

        def sample(batch: int, autocast: bool) -> None:
            generator = torch.Generator("cuda").manual_seed(0)
            latents = torch.randn((batch, *shape), generator=generator, device="cuda")
            scope = torch.autocast("cuda", torch.bfloat16) if autocast else contextlib.nullcontext()
            with scope, torch.no_grad():
                pipeline._sample(
                    latents=latents, init_images=None, strength=1.0, keep=None, batch_size=batch,
                    num_inference_steps=steps, generator=generator, labels=None, guidance_scale=1.0, eta=0.0,
                )  # fmt: skip

        variants = [("fp32", False), ("bf16", True)]
        for name, autocast in variants:
            for batch in (1, 8):
                seconds = timed(lambda batch=batch, autocast=autocast: sample(batch, autocast))
                results[f"sample_{name}_b{batch}_s_per_clip"] = seconds / batch
                print(f"sampling {steps} DPM-Solver++ steps, {name}, batch {batch}: {seconds / batch:.3f} s per clip")
        if args.compile:
            pipeline.unet = torch.compile(pipeline.unet)
            start = time.perf_counter()
            sample(1, True)
            torch.cuda.synchronize()
            print(f"torch.compile warm-up: {time.perf_counter() - start:.1f} s")
            for batch in (1, 8):
                seconds = timed(lambda batch=batch: sample(batch, True))
                results[f"sample_compiled_bf16_b{batch}_s_per_clip"] = seconds / batch
                print(f"sampling, compiled bf16, batch {batch}: {seconds / batch:.3f} s per clip")
        codec = pipeline.codec()
        images = torch.rand((8, *shape), device="cuda") * 2 - 1
        generator = torch.Generator("cuda").manual_seed(0)
        seconds = timed(lambda: codec.decode(images[:1], generator=generator), repeats=5)
        results["decode_b1_s_per_clip"] = seconds
        seconds = timed(lambda: codec.decode(images, generator=generator), repeats=3)
        results["decode_b8_s_per_clip"] = seconds / 8
        print(
            f"Griffin-Lim decode ({pipeline.mel_config.n_iter} iterations): "
            f"{results['decode_b1_s_per_clip'] * 1000:.1f} ms per clip at batch 1, "
            f"{results['decode_b8_s_per_clip'] * 1000:.1f} ms at batch 8"
        )
        print("RESULT " + " ".join(f"{key}={value:.4g}" for key, value in results.items()))


if __name__ == "__main__":
    main()
