"""The recipe table: which training recipe makes the best spectrogram model for the same compute (issue 14).

Every recipe trains the same genre-conditioned model (the demo's `small-64` at 64x64 with classifier-free label
dropout, `configs/train/demo-base.yaml`) on the same data for the same number of training samples (`--steps` x
`--batch-size`), with at least two seeds each:

    default            epsilon prediction, linear betas, uniform loss weighting (audiodiff's 2022 defaults)
    v                  v-prediction (Salimans and Ho 2022)
    v-zero-snr         v-prediction + zero terminal SNR (Lin et al. 2023), sampled with trailing timesteps
    min-snr5-eps       Min-SNR-5 loss weighting (Hang et al. 2023), epsilon prediction
    min-snr5-v         Min-SNR-5 loss weighting, v-prediction
    cosine             cosine noise schedule (squaredcos_cap_v2, Nichol and Dhariwal 2021), epsilon prediction
    v-cosine-min-snr5  the combination: v-prediction + cosine schedule + Min-SNR-5
    dit-min-snr5-v     the DiT backbone at matched parameters (`dit-64`, 3.72 M against small-64's 3.68 M) on the
                       winning recipe (Min-SNR-5, v-prediction); `dit-tiny` in the smoke test
    dit-conv-min-snr5-v  the same with U-ViT's 3x3 convolution after un-patchifying (`dit-64-conv`), added after
                       dit-min-snr5-v's clips showed 4x4 blocks
    dit-lr1e-4-min-snr5-v  dit-64 at the DiT paper's learning rate (1e-4 instead of demo-base's 5e-4)

The combination is fixed before any result is seen rather than chosen from the single-option runs: all runs then
train in one parallel wave (the GPU budget is one wave), and the combination is not picked on the same seeds and
reference clips it is then scored on.

Data: the synthesized collection (`audiodiff.synth`, genres beats / pads / arpeggios), not the real-music collection
of `scripts/bench_quality.py`: a recipe study needs 14+ training runs, which the real collection's preparation and
longer training cannot afford in one GPU lease; on synthesized music the differences between recipes are a first
signal, to be confirmed on real music (DESIGN.md, section 6). The held-out reference clips come from other
synthesized tracks (another synthesizer seed) than the training tracks.

Each run: train through the Python API (`audiodiff.training.Trainer`), then generate `--clips` one-slice clips
(genre-balanced: rounded up to a multiple of 4 per genre; genre-conditioned, DPM-Solver++ 20 steps, guidance
`--guidance`; the same noise seeds for every run) and score them with `audiodiff evaluate`'s instrument
(`benchlib.scoring.score`): flagged-clip share, Frechet distance ratios to the reference-vs-reference baseline on the
fine log-mel, 32-band log-mel and classifier embeddings, and genre share (the share of clips a genre classifier
trained on the training set assigns to the genre they were conditioned on). The instrument is checked in the same
run on known sets (real held-out clips of other tracks, the same with speckle noise, an untrained model).

Recipes are ranked by the mean fine FD ratio across seeds (`log-mel-fine`, the Frechet distance validated on real
music in BENCHMARKS.md); the 32-band log-mel FD ratio of the issue is reported next to it. Loss values are each
recipe's own objective (noise, velocity, Min-SNR-weighted) and are not comparable across recipes.

    # CPU (200 steps: about 5-6 minutes per run at one free core; 7 recipes x 2 seeds = 14 runs):
    .venv/bin/python scripts/bench_recipes.py --jobs 2
    # GPU (all 14 runs at once on one card, one CPU core each; --train-ratio adds bench_train.py's CPU figure):
    python scripts/bench_recipes.py --device cuda --jobs 14 --steps 3000
    # smoke test (tiny model, 32x32, a few steps; about 2-3 minutes on 2 CPU cores):
    .venv/bin/python scripts/bench_recipes.py --smoke --jobs 2

Writes WORK/results-recipes/ (summary.json, table.md, losses.png, contact_<recipe>.png); training runs are in
WORK/runs and reused when their settings are unchanged, so an interrupted benchmark resumes. The last line is
`RESULT fd_ratio_default=... fd_ratio_best=... best=... ...` (fd_ratio = fine FD ratio, mean over seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchlib.cli import stay_offline
from benchlib.machine import machine_description
from recipe_study import log
from recipe_study.data import stage_data
from recipe_study.parent import measure_train_ratio, run_all
from recipe_study.results import write_results
from recipe_study.run import run_one
from recipe_study.settings import INSTRUMENT, NOT_RUN, RECIPES, settings_of

# Nothing may be downloaded: the benchmark runs on machines without network access.
stay_offline()

WORK = Path.home() / ".cache" / "audiodiff" / "bench-recipes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help=f"Working folder (default: {WORK}[-smoke]).")
    parser.add_argument("--steps", type=int, default=None, help="Training steps per run (default 200; smoke 20).")
    parser.add_argument("--batch-size", type=int, default=None, help="Default 16 (smoke: 8).")
    parser.add_argument("--seeds", default="0,1", help="Comma-separated training seeds (at least 2 for the table).")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="Comma-separated, from: " + ", ".join(RECIPES))
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="Runs at once.")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--clips", type=int, default=32, help="Generated clips per run (rounded up, genre-balanced).")
    parser.add_argument("--guidance", type=float, default=1.0, help="Classifier-free guidance of generation.")
    parser.add_argument("--tracks-per-genre", type=int, default=12, help="Synthesized 40 s training tracks per genre.")
    parser.add_argument("--smoke", action="store_true", help="Tiny model, 32x32, a few steps: checks the script.")
    parser.add_argument("--train-ratio", action="store_true", help="Also run scripts/bench_train.py at the end.")
    parser.add_argument("--status-every", type=float, default=60.0, help="Seconds between progress lines.")
    parser.add_argument("--one", nargs=2, metavar=("RECIPE", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work = (args.work or Path(f"{WORK}{'-smoke' if args.smoke else ''}")).expanduser().resolve()
    args.steps = args.steps or (20 if args.smoke else 200)
    args.batch_size = args.batch_size or (8 if args.smoke else 16)
    if args.clips < 6:
        parser.error("--clips must be at least 6 (2 per genre)")
    settings = settings_of(args)
    if args.one:
        run_one(args, settings, args.one[0], int(args.one[1]))
        return
    recipes = [name.strip() for name in args.recipes.split(",") if name.strip()]
    for name in recipes:
        if name in NOT_RUN:
            parser.error(f"{name}: {NOT_RUN[name]}")
        if name not in RECIPES:
            parser.error(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: torch sees no CUDA device")
    args.machine = machine_description(args.device)
    started = time.perf_counter()
    log(
        f"bench_recipes: {len(recipes)} recipes x seeds {seeds}, {settings.model}, {args.steps} steps x batch "
        f"{args.batch_size}, {args.jobs} jobs, device {args.device}, work {args.work}; machine: {args.machine}"
    )
    args.work.mkdir(parents=True, exist_ok=True)
    stage = time.perf_counter()
    data_info = stage_data(args, settings)
    timings = {"data": time.perf_counter() - stage}
    log(f"stage data: {timings['data']:.1f} s")

    stage = time.perf_counter()
    # The instrument last: with --jobs equal to the number of runs every training starts at once.
    tasks = [(recipe, seed) for seed in seeds for recipe in recipes] + [(INSTRUMENT, 0)]
    results = run_all(
        args, settings, tasks, lambda done: write_results(args, settings, data_info, done, recipes, final=False)
    )
    timings["runs"] = time.perf_counter() - stage
    log(f"stage runs (train, generate, score; {args.jobs} at once): {timings['runs']:.1f} s")

    stage = time.perf_counter()
    summary = write_results(args, settings, data_info, results, recipes, final=True)
    train_ratio = measure_train_ratio() if args.train_ratio else None
    timings["results"] = time.perf_counter() - stage
    timings["total"] = time.perf_counter() - started
    log(f"stage results: {timings['results']:.1f} s; total {timings['total']:.1f} s")
    runs = [result for (recipe, _), result in results.items() if recipe != INSTRUMENT]
    if runs:
        for key in ("train", "generate", "score"):
            values = [result["seconds"].get(key, 0.0) for result in runs]
            log(f"per run {key}: mean {sum(values) / len(values):.1f} s, max {max(values):.1f} s")
    summary["seconds"] = {key: round(value, 1) for key, value in timings.items()}
    out = args.work / "results-recipes"
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    log((out / "table.md").read_text())
    log(f"results in {out}")
    table, best = summary["table"], summary["best"]

    def mean(recipe: str | None, key: str) -> str:
        entry = table.get(recipe or "", {}).get(key)
        return "none" if entry is None or entry["mean"] is None else f"{entry['mean']:.4g}"

    default_fd = table.get("default", {}).get("fd_fine", {}).get("mean")
    best_fd = table.get(best or "", {}).get("fd_fine", {}).get("mean")
    gain = 1 - best_fd / default_fd if default_fd and best_fd is not None else None
    fields = [
        f"fd_ratio_default={mean('default', 'fd_fine')}",
        f"fd_ratio_best={mean(best, 'fd_fine')}",
        f"best={best}",
        "fd_rank=fine",
        f"gain_over_default={'none' if gain is None else f'{gain:.3f}'}",
        f"fd_log_mel_default={mean('default', 'fd_log_mel')}",
        f"fd_log_mel_best={mean(best, 'fd_log_mel')}",
        f"flagged_default={mean('default', 'flagged')}",
        f"flagged_best={mean(best, 'flagged')}",
        f"genre_share_best={mean(best, 'genre_share')}",
        f"seeds={len(seeds)}",
        f"steps={args.steps}",
        f"runs={len(runs)}/{len(recipes) * len(seeds)}",
    ]
    if train_ratio is not None:
        fields.append(f"train_ratio={train_ratio:.3f}")
    print("RESULT " + " ".join(fields), flush=True)
    if len(runs) < len(recipes) * len(seeds):
        sys.exit(1)


if __name__ == "__main__":
    main()
