"""Which sampler gives the shipped base model's clips the most structure? A short study on real held-out music.

Per genre, 16 clips of 6 s from `audiodiff generate audiodiff-base-64 --genre G` with each sampler setting below
(seed 0, through the CLI), scored by `audiodiff evaluate`'s instrument against the genre's held-out reference
folder and with the genre classifier that `bench_base.py` leaves in its work folder (run it first):

- `dpm`, 20 steps, guidance 1: the default (DPM-Solver++, deterministic);
- `dpm`, 20 steps, guidance 3 (classifier-free guidance);
- `dpm-sde`, 20 steps, guidance 1 (DPM-Solver++ SDE: fresh noise at every step).

    python scripts/bench_base_samplers.py [--genres cinematic,electronic] [--clips 16]

Last line: `RESULT flagged_default=<max over genres> flagged_sde=<max> recall_cola_default=<min>
recall_cola_sde=<min> fd_cola_default=<max> fd_cola_sde=<max>`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from audiodiff.config import MelConfig
from audiodiff.pretrained import DEFAULT_BASE, shipped_folder
from benchlib.cli import audiodiff
from benchlib.machine import machine_line
from benchlib.scoring import headline
from benchlib.sides import evaluate_sets
from benchlib.tables import result_line

BENCH_BASE = Path(os.environ.get("AUDIODIFF_BENCH_BASE", Path.home() / ".cache" / "audiodiff" / "bench-base"))
WORK = Path(os.environ.get("AUDIODIFF_BENCH_SAMPLERS", Path.home() / ".cache" / "audiodiff" / "bench-base-samplers"))
VARIANTS = {
    "dpm 20, guidance 1 (default)": [],
    "dpm 20, guidance 3": ["--guidance", 3],
    "dpm-sde 20, guidance 1": ["--scheduler", "dpm-sde"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", default="cinematic,electronic")
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    classifier = BENCH_BASE / "classifier"
    if not (classifier / "config.json").is_file():
        sys.exit(f"{classifier}: no classifier; run scripts/bench_base.py first (it makes the references too)")
    print(machine_line())
    mel = MelConfig.load(shipped_folder(DEFAULT_BASE) / "mel" / "mel_config.json")
    rows = []
    for genre in args.genres.split(","):
        reference = BENCH_BASE / genre / "reference"
        if not reference.is_dir():
            sys.exit(f"{reference}: no held-out reference for {genre!r}; run scripts/bench_base.py first")
        sets = {}
        for name, options in VARIANTS.items():
            sets[name] = WORK / genre / name.replace(", ", "_").replace(" ", "_")
            shutil.rmtree(sets[name], ignore_errors=True)
            audiodiff("generate", DEFAULT_BASE, "--genre", genre, "--clips", args.clips, "--seconds", 6, "--seed",
                      args.seed, "--out", sets[name], "--device", "cpu", *options, quiet=True)  # fmt: skip
        rows += evaluate_sets(sets, {"WAV folder": reference}, WORK / "reports" / genre, headline, genre,
                              count=args.clips, mel_config=mel, seed=args.seed, classifier=classifier)  # fmt: skip
    (WORK / "rows.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n| genre | sampler | flagged | COLA precision / recall (real) | FD COLA ratio | "
          "fine precision / recall (real) | FD fine ratio | genre share |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['genre']} | {row['set']} | {100 * row['flagged']:.0f}% {','.join(row['reasons'])} | "
              f"{row['precision_cola']:.2f} / {row['recall_cola']:.2f} ({row['real_precision_cola']:.2f} / "
              f"{row['real_recall_cola']:.2f}) | {row['fd_cola']} | {row['precision']:.2f} / {row['recall']:.2f} "
              f"({row['real_precision']:.2f} / {row['real_recall']:.2f}) | {row['fd_fine']} | "
              f"{row['genre_share']:.2f} |")  # fmt: skip

    def of(sampler: str) -> list[dict]:
        return [row for row in rows if row["set"].startswith(sampler)]

    default, sde = of("dpm 20, guidance 1"), of("dpm-sde")
    print(result_line({
        "flagged_default": f"{max(r['flagged'] for r in default):.3f}",
        "flagged_sde": f"{max(r['flagged'] for r in sde):.3f}",
        "recall_cola_default": f"{min(r['recall_cola'] for r in default):.2f}",
        "recall_cola_sde": f"{min(r['recall_cola'] for r in sde):.2f}",
        "fd_cola_default": f"{max(r['fd_cola'] for r in default):.2f}",
        "fd_cola_sde": f"{max(r['fd_cola'] for r in sde):.2f}",
    }))  # fmt: skip


if __name__ == "__main__":
    main()
