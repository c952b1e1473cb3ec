"""Calibrating the artefact fences' spreads (`audiodiff.artifacts.FENCE_SPREADS`) on tracks no benchmark scores.

A fence sits `k` spreads beyond the reference windows' tail (`Fences.fit`). Fitted on a few tracks, it knows their
texture only: a reference of four cinematic tracks flagged 9% of whole 6 s excerpts of three other held-out cinematic
tracks for total variation (`bench_base.py`), because those recordings are grainier than any of the four. How far
beyond the tail a fence must sit for *other tracks* of the genre to pass can only be measured across tracks, so this
measures it on the base's training tracks of each genre (never the held-out tracks that `bench_base.py` validates
on): `--splits` times, 4 tracks are drawn as the reference (their slices, encoded one by one, as `evaluate` reads a
reference) and 3 others give whole 6 s excerpts, judged like a generated 6 s clip (a clip is flagged when any of
its 4 windows crosses a fence). For each statistic and spread `k`: the share of those real excerpts flagged (a false
alarm), and the share flagged of known-bad versions of the same excerpts (frames shuffled in time, speckle of 0.1 of
the pixel range, Gaussian-blurred by 2 px) that the statistic is there to catch.

    python scripts/bench_fence_spreads.py [--genres rock,electronic,cinematic] [--spreads 2,2.5,3,3.5,4,5]
        [--splits 40] [--target 0.01]

The chosen spread of a statistic is the smallest of `--spreads` whose false alarms, averaged over the splits, are at
most `--target` in every genre (1%: eight statistics at 1% each stay under the 5% of real music the quality issue
allows to be flagged; `audiodiff.artifacts.FENCE_SPREADS` holds the spreads this chose). Last line: `RESULT
<statistic>=<chosen spread> ... real_flagged_<genre>=<share of real excerpts flagged for any reason at the chosen
spreads, mean over splits> ... shuffled_flagged_<genre>=<the same for frames shuffled>`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from audiodiff.artifacts import STATISTICS, Fences, comparable_windows, image_statistics
from audiodiff.audio import load_audio, slice_audio
from audiodiff.codec import SpectrogramCodec
from audiodiff.config import MelConfig
from audiodiff.pretrained import DEFAULT_BASE, shipped_folder
from benchlib.collection import split_tracks
from benchlib.known_sets import gaussian_blur
from benchlib.machine import machine_line
from benchlib.tables import result_line

REFERENCE_TRACKS, OTHER_TRACKS = 4, 3  # as bench_base.py's sides of the held-out tracks (cinematic: 4 and 3)
SLICES_PER_TRACK, EXCERPTS_PER_TRACK, EXCERPT_SLICES = 160, 12, 4
LOUD = 10 ** (-40 / 20)  # RMS: the parts of a track `benchlib.collection.excerpts` draws from


def evenly(items: np.ndarray, count: int) -> np.ndarray:
    """At most `count` of `items`, spread evenly over them."""
    if len(items) <= count:
        return items
    return items[np.linspace(0, len(items) - 1, count).round().astype(int)]


def track_sample(file, mel, codec, generator: torch.Generator) -> dict:
    """One track: the statistics of its reference windows (slices encoded one by one), and per set (real and its
    known-bad versions) the statistics of its 6 s excerpts' windows, with each window's excerpt."""
    width, top_db = mel.x_res, float(mel.top_db)
    audio = load_audio(file, mel.sample_rate)
    sample: dict = {}
    one = slice_audio(audio, mel.slice_size)
    one = evenly(one[np.sqrt((one**2).mean(axis=1)) > LOUD], SLICES_PER_TRACK)
    sample["reference"] = image_statistics(comparable_windows(codec.encode(torch.from_numpy(one)), width)[0], top_db)
    long = slice_audio(audio, mel.slice_size * EXCERPT_SLICES)
    long = evenly(long[np.sqrt((long**2).mean(axis=1)) > LOUD], EXCERPTS_PER_TRACK)
    real = codec.encode(torch.from_numpy(long))[..., : EXCERPT_SLICES * width]
    sets = {
        "real": real,
        "frames shuffled": real[..., torch.randperm(real.shape[-1], generator=generator)],
        "speckle 0.1": (real + 0.2 * torch.randn(real.shape, generator=generator)).clamp(-1, 1),
        "blurred 2 px": gaussian_blur(real, 2.0),
    }
    for name, images in sets.items():
        pieces, clip_index, _ = comparable_windows(images, width)
        sample[name] = (image_statistics(pieces, top_db), clip_index)
    return sample


def flagged(fences: Fences, sample: tuple[dict, torch.Tensor], clips: int) -> dict[str, torch.Tensor]:
    """Per statistic, `(clips,)`: whether any window of each excerpt crosses its fence."""
    statistics, clip_index = sample
    flags = fences.flags(statistics)
    return {name: torch.zeros(clips, dtype=torch.bool).index_put_((clip_index,), values, accumulate=True)
            for name, values in flags.items()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", default="rock,electronic,cinematic")
    parser.add_argument("--spreads", default="2,2.5,3,3.5,4,5")
    parser.add_argument("--splits", type=int, default=40)
    parser.add_argument("--target", type=float, default=0.01, help="the false-alarm budget of each statistic")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from real_music import ensure_collection

    started = time.monotonic()
    collection = ensure_collection()
    print(machine_line())
    mel = MelConfig.load(shipped_folder(DEFAULT_BASE) / "mel" / "mel_config.json")
    codec = SpectrogramCodec(mel)
    split = split_tracks(collection)
    spreads = [float(value) for value in args.spreads.split(",")]
    sets = ("real", "frames shuffled", "speckle 0.1", "blurred 2 px")
    # hits[genre][k][set]: per split, per statistic, whether each excerpt of the other tracks is flagged
    hits: dict = {}
    for genre in args.genres.split(","):
        generator = torch.Generator().manual_seed(args.seed)
        tracks = [track_sample(collection / file, mel, codec, generator) for file in sorted(split[genre]["train"])]
        print(f"{genre}: {len(tracks)} training tracks sampled ({time.monotonic() - started:.0f} s)", flush=True)
        hits[genre] = {k: {name: [] for name in sets} for k in spreads}
        for _ in range(args.splits):
            order = torch.randperm(len(tracks), generator=generator).tolist()
            reference = [tracks[index] for index in order[:REFERENCE_TRACKS]]
            others = [tracks[index] for index in order[REFERENCE_TRACKS : REFERENCE_TRACKS + OTHER_TRACKS]]
            pool = {stat: torch.cat([track["reference"][stat] for track in reference]) for stat in STATISTICS}
            for k in spreads:
                fences = Fences.fit(pool, spreads=dict.fromkeys(STATISTICS, k))
                for name in sets:
                    per_track = [flagged(fences, track[name], int(track[name][1].max()) + 1) for track in others]
                    hits[genre][k][name].append({stat: torch.cat([flags[stat] for flags in per_track])
                                                 for stat in STATISTICS})  # fmt: skip

    def share(genre, k, name, stat) -> tuple[float, float]:
        """Mean and worst over the splits of the share flagged by `stat`."""
        values = [float(split_hits[stat].float().mean()) for split_hits in hits[genre][k][name]]
        return float(np.mean(values)), float(np.max(values))

    print()
    print(
        "Share of 6 s excerpts of other tracks flagged by each statistic: real (false alarms; mean over splits, "
        "worst split, per genre) and known-bad versions of the same excerpts (mean over splits and genres)."
    )
    print()
    print("| statistic | spread k | " + " | ".join(f"{genre} real" for genre in hits) + " | "
          + " | ".join(sets[1:]) + " |")  # fmt: skip
    print("|---|---|" + "---|" * (len(hits) + len(sets) - 1))
    chosen: dict[str, float] = {}
    for stat in STATISTICS:
        for k in spreads:
            real = [share(genre, k, "real", stat) for genre in hits]
            bad = [np.mean([share(genre, k, name, stat)[0] for genre in hits]) for name in sets[1:]]
            print(f"| {stat} | {k:g} | " + " | ".join(f"{100 * m:.1f}% ({100 * w:.0f}%)" for m, w in real)
                  + " | " + " | ".join(f"{100 * b:.0f}%" for b in bad) + " |")  # fmt: skip
            if stat not in chosen and max(m for m, _ in real) <= args.target:
                chosen[stat] = k
        chosen.setdefault(stat, spreads[-1])
    print()
    print("At the chosen spreads, any statistic (mean over splits, worst split):")
    print()
    print("| set | " + " | ".join(hits) + " |")
    print("|---|" + "---|" * len(hits))
    anyone: dict[str, dict[str, float]] = {name: {} for name in sets}
    for name in sets:
        cells = []
        for genre in hits:
            values = [float(torch.stack([hits[genre][chosen[stat]][name][index][stat] for stat in STATISTICS])
                            .any(dim=0).float().mean()) for index in range(args.splits)]  # fmt: skip
            anyone[name][genre] = float(np.mean(values))
            cells.append(f"{100 * np.mean(values):.1f}% ({100 * np.max(values):.0f}%)")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print(f"chosen spreads: {chosen} ({time.monotonic() - started:.0f} s)")
    print(result_line({**{stat: f"{k:g}" for stat, k in chosen.items()},
                       **{f"real_flagged_{genre}": f"{value:.3f}" for genre, value in anyone["real"].items()},
                       **{f"shuffled_flagged_{genre}": f"{value:.3f}"
                          for genre, value in anyone["frames shuffled"].items()}}))  # fmt: skip


if __name__ == "__main__":
    main()
