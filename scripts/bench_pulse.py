"""Where the beat is lost: the pulse of a model's single slices and whole 6 s clips against real music and chance.

For each genre of the real-music collection, on the held-out tracks of the shipped base's split (none trained on),
the pulse clarity (`audiodiff.artifacts.pulse_clarity`: the peak autocorrelation of the onset envelope at beat
periods of 60-200 BPM, up to half the clip) of:

- real single slices (one model slice, 1.5 s at the base's settings), and the same slices with their frames
  shuffled in time: chance, what an envelope of the same frames without a beat scores at this length;
- real 6 s excerpts encoded whole, and shuffled likewise;
- the model's single slices (4x `--clips`: a slice's pulse varies widely), with its recommended sampler
  (`--scheduler auto`), and with `--ddpm` also `--clips` of them with the 1000-step DDPM training scheduler (is the
  sampler what smooths the beat away?);
- the model's 6 s clips, denoised jointly (MultiDiffusion, what `generate --seconds 6` does), and continued slice by
  slice (`--continued`: each new window keeps the clip's last three quarters of a slice as context through the
  keep-mask, so the beat made so far is in view while the next quarter is made).

A model that renders a beat inside a slice and loses it at the joins scores near real in single slices and low in
6 s clips; one that has no beat scores near chance in both. Median and quartiles over the clips.

    python scripts/bench_pulse.py [--base audiodiff-base-64] [--genres electronic,rock,cinematic] [--clips 16]
        [--ddpm] [--continued]

Last line: `RESULT slice_ratio=<min over genres of the model's single slices' median over real single slices'>
chance_ratio=<max over genres: shuffled real slices over real> joint_ratio=<min: joint 6 s clips over real 6 s>
clip_chance_ratio=<max: shuffled real 6 s over real 6 s>
[continued_ratio=<min>] [ddpm_slice_ratio=<min>]`.
"""

from __future__ import annotations

import argparse
import time

import torch

from audiodiff.artifacts import pulse_clarity
from audiodiff.codec import SpectrogramCodec
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.pretrained import DEFAULT_BASE, resolve
from benchlib.collection import excerpts, split_tracks
from benchlib.machine import machine_line
from benchlib.tables import result_line

BATCH = 8


def summary(values: torch.Tensor) -> str:
    return f"{values.median():.3f} ({values.quantile(0.25):.3f}-{values.quantile(0.75):.3f})"


def model_clips(
    pipeline, genre: str, clips: int, seed: int, steps: int | None = None, seconds: float | None = None, **options
) -> torch.Tensor:
    """`clips` clips of `genre`, `(clips, 1, height, frames)` in [-1, 1]: single slices, or with `seconds` clips that
    long denoised jointly in overlapping windows (the pipeline's long-clip path); `steps` sampler steps; `options`: the
    pipeline's other keywords (`bpm`, ...)."""
    return torch.cat([
        pipeline(batch_size=min(BATCH, clips - start), genre=genre, num_inference_steps=steps, seconds=seconds,
                 output_type="pt", generator=torch.Generator().manual_seed(seed + start), **options).images
        for start in range(0, clips, BATCH)
    ])  # fmt: skip


def continued_clips(pipeline, genre: str, clips: int, seed: int, frames: int) -> torch.Tensor:
    """`clips` clips of `frames` columns made slice by slice: a first slice, then windows whose first three quarters
    are the clip's last columns (kept through the keep-mask) and whose last quarter is new."""
    width = pipeline.mel_config.x_res
    new = max(1, width // 4)
    keep = torch.zeros(width)
    keep[: width - new] = 1.0
    made = []
    for start in range(0, clips, BATCH):
        count = min(BATCH, clips - start)
        generator = torch.Generator().manual_seed(seed + start)
        canvas = pipeline(batch_size=count, genre=genre, generator=generator, output_type="pt").images
        while canvas.shape[-1] < frames:
            window = torch.cat([canvas[..., -(width - new) :], torch.full((count, 1, width, new), -1.0)], dim=-1)
            out = pipeline(images=window, mask=keep, genre=genre, generator=generator, output_type="pt").images
            canvas = torch.cat([canvas, out[..., width - new :]], dim=-1)
        made.append(canvas[..., :frames])
    return torch.cat(made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help="the pipeline to measure (default: the shipped base)")
    parser.add_argument("--genres", default="electronic,rock,cinematic")
    parser.add_argument("--clips", type=int, default=16, help="6 s clips per set (single slices: 4x as many)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ddpm", action="store_true", help="also single slices with the 1000-step DDPM scheduler")
    parser.add_argument("--continued", action="store_true", help="also 6 s clips continued slice by slice")
    args = parser.parse_args()
    from real_music import ensure_collection

    collection = ensure_collection()
    print(machine_line())
    pipeline = AudioDiffusionPipeline.from_pretrained(resolve(args.base))
    pipeline.set_progress_bar_config(disable=True)
    mel = pipeline.mel_config
    codec = SpectrogramCodec(mel)
    rate = mel.sample_rate / mel.hop_length
    slices = round(args.seconds / mel.slice_seconds)
    frames = round(args.seconds * rate)
    split = split_tracks(collection)
    seconds = f"{args.seconds:g} s"
    # RESULT key -> (the set, the real set it is held against): chance is the real set's frames shuffled.
    keys = {"slice_ratio": ("model slices (auto sampler)", "real slices"),
            "chance_ratio": ("real slices, frames shuffled", "real slices"),
            "joint_ratio": (f"model {seconds}, joint", f"real {seconds}, whole"),
            "clip_chance_ratio": (f"real {seconds}, frames shuffled", f"real {seconds}, whole"),
            "continued_ratio": (f"model {seconds}, continued", f"real {seconds}, whole"),
            "ddpm_slice_ratio": ("model slices (1000-step DDPM)", "real slices")}  # fmt: skip
    ratios: dict[str, list[float]] = {}
    for genre in args.genres.split(","):
        tracks = sorted(collection / file for file in split[genre]["held_out"])
        generator = torch.Generator().manual_seed(args.seed)
        real = codec.encode(torch.from_numpy(excerpts(tracks, mel, 1, 4 * args.clips, generator)))
        shuffled = real[..., torch.randperm(real.shape[-1], generator=generator)]
        whole = codec.encode(torch.from_numpy(excerpts(tracks, mel, slices, 2 * args.clips, generator)))
        whole_shuffled = whole[..., torch.randperm(whole.shape[-1], generator=generator)]
        real_sets = {
            "real slices": real,
            "real slices, frames shuffled": shuffled,
            f"real {seconds}, whole": whole,
            f"real {seconds}, frames shuffled": whole_shuffled,
        }
        pulses = {name: pulse_clarity(images, mel.top_db, rate) for name, images in real_sets.items()}
        timings = {}
        runs = [("model slices (auto sampler)", "auto", model_clips, {"clips": 4 * args.clips})]
        runs += [("model slices (1000-step DDPM)", "ddpm", model_clips, {"steps": 1000})] if args.ddpm else []
        runs += [(f"model {seconds}, joint", "auto", model_clips, {"seconds": args.seconds})]
        runs += [(f"model {seconds}, continued", "auto", continued_clips, {"frames": frames})] if args.continued else []
        for name, sampler, make, options in runs:
            pipeline.set_scheduler(sampler)
            started = time.perf_counter()
            made = make(pipeline, genre, **{"clips": args.clips, "seed": args.seed, **options})
            pulses[name] = pulse_clarity(made, mel.top_db, rate)
            timings[name] = time.perf_counter() - started
        print(f"\n{genre} ({len(tracks)} held-out tracks; pulse clarity, median (quartiles))")
        for name, values in pulses.items():
            took = f", {timings[name] / 60:.1f} min" if name in timings else ""
            print(f"  {name}: {summary(values)} over {len(values)}{took}")
        for key, (name, real_name) in keys.items():
            if name in pulses:
                ratios.setdefault(key, []).append(float(pulses[name].median()) / float(pulses[real_name].median()))
    worst = {key: (max(values) if "chance" in key else min(values)) for key, values in ratios.items()}
    print(result_line({key: f"{value:.3f}" for key, value in worst.items()}))


if __name__ == "__main__":
    main()
