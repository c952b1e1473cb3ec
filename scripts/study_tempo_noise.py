"""A study: does tempo-locked noise (`generate --bpm`, `audiodiff.tempo_noise`) give the base's 6 s clips a beat?

The shipped base decides each clip's layout from its noise (the same seed gives the same layout under every label,
sampler and width), and its 6 s clips lose the beat where overlapping windows disagree on its phase. Tempo-locked
noise repeats every two beats (`lock * tiled + sqrt(1 - lock^2) * fresh`), the start noise and every stochastic
step's noise alike, so every window sees the same noise at the same phase of the bar.

For each genre, `--clips` joint 6 s clips (what `generate --seconds 6` does, the recommended sampler) per lock
(`--rhos`; 0: white noise, today's default), the same seeds, and real held-out 6 s excerpts: pulse clarity (median,
quartiles), the strongest onset period as BPM, onset strength and spectral detail against real music, how alike the
clip is to itself one block later (`beat_repeat`: a loop scores 1), and a figure of the first three clips of each.

    python scripts/study_tempo_noise.py [--genres electronic,rock] [--clips 8] [--rhos 0,0.5,0.8] [--bpm 120]
        [--figure F.png] [--scheduler dpm]

Last line: `RESULT pulse_<rho>=<min over genres of median pulse over real's> ...`.
"""

from __future__ import annotations

import argparse
import time

import torch
from bench_pulse import model_clips, summary

from audiodiff import tempo_noise
from audiodiff.artifacts import image_statistics, onset_autocorrelation, pulse_clarity
from audiodiff.codec import SpectrogramCodec
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.pretrained import DEFAULT_BASE, resolve
from benchlib.collection import excerpts, split_tracks
from benchlib.machine import machine_line
from benchlib.tables import result_line


def strongest_bpm(images: torch.Tensor, top_db: float, rate: float) -> torch.Tensor:
    lags, correlations = onset_autocorrelation(images, top_db, rate)
    best = torch.tensor(list(lags))[correlations.argmax(dim=-1)].float()
    return rate * 60 / best


def beat_repeat(images: torch.Tensor, period: int) -> torch.Tensor:
    """Pearson correlation of each image with itself `period` columns later: 1 for a loop of that period."""
    early, late = images[..., :-period].flatten(1).double(), images[..., period:].flatten(1).double()
    early, late = early - early.mean(1, keepdim=True), late - late.mean(1, keepdim=True)
    return ((early * late).sum(1) / (early.norm(dim=1) * late.norm(dim=1)).clamp(min=1e-9)).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE)
    parser.add_argument("--genres", default="electronic,rock")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--rhos", default="0,0.5,0.8")
    parser.add_argument("--bpm", type=float, default=120.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=None)
    parser.add_argument("--scheduler", default="auto", help="the sampler (default: the folder's recommended one)")
    args = parser.parse_args()
    from real_music import ensure_collection

    collection = ensure_collection()
    print(machine_line())
    pipeline = AudioDiffusionPipeline.from_pretrained(resolve(args.base))
    pipeline.set_progress_bar_config(disable=True)
    pipeline.set_scheduler(args.scheduler)  # "auto": the folder's recommended sampler, as `generate` uses
    mel = pipeline.mel_config
    codec = SpectrogramCodec(mel)
    rate = mel.sample_rate / mel.hop_length
    period = tempo_noise.period_columns(args.bpm, rate)
    print(f"block of {period} columns: {tempo_noise.locked_bpm(args.bpm, rate):.1f} BPM")
    slices = round(args.seconds / mel.slice_seconds)
    split = split_tracks(collection)
    rhos = [float(value) for value in args.rhos.split(",")]
    ratios: dict[str, list[float]] = {}
    shown = {}
    for genre in args.genres.split(","):
        tracks = sorted(collection / file for file in split[genre]["held_out"])
        generator = torch.Generator().manual_seed(args.seed)
        real = codec.encode(torch.from_numpy(excerpts(tracks, mel, slices, 2 * args.clips, generator)))
        sets = {"real": real}
        for rho in rhos:
            started = time.perf_counter()
            tempo = {"bpm": args.bpm, "tempo_lock": rho} if rho > 0 else {}
            made = model_clips(pipeline, genre, args.clips, args.seed, seconds=args.seconds, **tempo)
            sets[f"rho {rho:g}"] = made
            print(f"{genre} rho {rho:g}: {time.perf_counter() - started:.0f} s", flush=True)
        print(f"\n{genre} ({len(tracks)} held-out tracks)")
        real_stats = image_statistics(real, mel.top_db)
        for name, images in sets.items():
            pulse = pulse_clarity(images, mel.top_db, rate)
            stats = image_statistics(images, mel.top_db)
            relative = " ".join(
                f"{key} {float(stats[key].median() / real_stats[key].median()):.2f}x"
                for key in ("onset_strength", "spectral_detail")
            )
            print(f"  {name}: pulse {summary(pulse)}, tempo {summary(strongest_bpm(images, mel.top_db, rate))} BPM, "
                  f"beat_repeat {summary(beat_repeat(images, period))}, {relative}")  # fmt: skip
            if name != "real":
                ratios.setdefault(f"pulse_{name.split()[1]}", []).append(
                    float(pulse.median()) / float(pulse_clarity(real, mel.top_db, rate).median())
                )
        shown[genre] = sets
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [(genre, name) for genre, sets in shown.items() for name in sets]
        figure, axes = plt.subplots(len(rows), 3, figsize=(15, 1.6 * len(rows)), squeeze=False)
        for row, (genre, name) in enumerate(rows):
            for column in range(3):
                axis = axes[row, column]
                axis.imshow(shown[genre][name][column, 0].numpy(), origin="lower", aspect="auto", cmap="magma")
                axis.set_xticks([])
                axis.set_yticks([])
                if column == 0:
                    axis.set_ylabel(f"{genre}\n{name}", fontsize=8)
        figure.tight_layout()
        figure.savefig(args.figure, dpi=80)
    print(result_line({key: f"{min(values):.3f}" for key, values in ratios.items()}))


if __name__ == "__main__":
    main()
