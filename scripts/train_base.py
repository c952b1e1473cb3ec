"""Train the base model that ships with audiodiff (`audiodiff-base-64`) on the real-music collection.

The recipe, end to end, through the same CLI commands a user runs:

1. data: from the collection (`scripts/real_music.py`), the tracks whose licence allows redistributing a model
   trained on them under CC-BY-SA-3.0 (CC-BY-SA-3.0 and Expat/MIT; the GPL-licensed packages are left out, since
   GPL and CC-BY-SA-3.0 cannot be combined), minus the held-out tracks (every 4th track of each genre, sorted by
   name, as in `bench_quality.py`), prepared at the demo's settings (`configs/mel/demo-64.yaml`) and thinned to at
   most `--rows-per-genre` slices per genre spread evenly over each track, so that no genre dominates;
2. train: `audiodiff train --config base` (genre-conditioned, v-prediction, Min-SNR-5, EMA), resumed from its
   newest checkpoint when the run folder exists, so that the training can go over several runs (stop it at any
   time; the next run goes on from the last checkpoint, exactly);
3. export: the EMA weights as fp16 safetensors into `audiodiff/pretrained/base-64/`, recommending the sampler
   `RECOMMENDED_SAMPLER` with `RECOMMENDED_STEPS` steps (what `--scheduler auto` then uses), with the model card
   (`MODEL_CARD.md` there) left as written by hand, and `training.json` recording the run (steps, samples seen,
   time, machine, loss curve) and the held-out tracks.

    python scripts/train_base.py [--stage all|data|train|export] [--max-steps N] [--config base|base-gpu]
        [TRAIN OPTIONS...]

On a lent GPU, `scripts/gpu_base.sh` runs the train and export stages with the `base-gpu` preset for a time budget.

Last line: `RESULT steps=... samples_seen=... hours=... final_loss=...`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from benchlib.cli import audiodiff
from benchlib.collection import SHAREABLE_LICENCES, link_tracks, manifest_by_file, split_tracks
from benchlib.quality_study import MEL_PRESET, thin_dataset
from benchlib.tables import result_line

WORK = Path(os.environ.get("AUDIODIFF_BASE_WORK", Path.home() / ".cache" / "audiodiff" / "base-64"))
EXPORT = Path(__file__).resolve().parents[1] / "audiodiff" / "pretrained" / "base-64"
# The sampler "auto" uses for the exported weights: `bench_base.py --also-scheduler dpm-sde` measured it better than
# the default (dpm) on every genre's minimum (BENCHMARKS.md, "The shipped base model"). Measure again for new weights.
RECOMMENDED_SAMPLER = "dpm-sde"
# Its steps: for the 9000-step weights, 60 against 40 took the cinematic clips flagged as blurred from 9% to 0% and the
# worst COLA precision ratio from 0.65 to 0.78 (`bench_base.py --also-scheduler dpm-sde --also-steps 60`, BENCHMARKS.md;
# for the 3000-step weights before them, 40 against 20 had taken that flagged share from 69% to 0%).
RECOMMENDED_STEPS = 60


def licensed_split(collection: Path) -> dict[str, dict[str, list[str]]]:
    """`split_tracks`, each genre's training tracks kept only where their licence allows the model's licence."""
    rows = manifest_by_file(collection)
    split = split_tracks(collection)
    for parts in split.values():
        parts["left_out"] = [file for file in parts["train"] if rows[file]["license"] not in SHAREABLE_LICENCES]
        parts["train"] = [file for file in parts["train"] if rows[file]["license"] in SHAREABLE_LICENCES]
        parts["held_out_same_licences"] = [
            file for file in parts["held_out"] if rows[file]["license"] in SHAREABLE_LICENCES
        ]
    return split


def stage_data(args) -> None:
    from audiodiff.config import configs_dir
    from real_music import ensure_collection

    collection = ensure_collection()
    split = licensed_split(collection)
    rows = manifest_by_file(collection)
    for genre, parts in split.items():
        minutes = sum(rows[file]["seconds"] for file in parts["train"]) / 60
        print(f"{genre}: {len(parts['train'])} training tracks ({minutes:.1f} min), {len(parts['held_out'])} held out")
    train_files = [file for parts in split.values() for file in parts["train"]]
    link_tracks(collection, train_files, args.work / "music-train")
    full = args.work / "dataset-full"
    mel = configs_dir() / "mel" / f"{MEL_PRESET}.yaml"
    if audiodiff(
        "prepare", args.work / "music-train", "--out", full, "--mel-config", mel, "--genre-from", "folder", check=False
    ):
        sys.exit("prepare failed")
    thin_dataset(full, args.work / "dataset", args.rows_per_genre)
    sources = [
        {key: rows[file][key] for key in ("genre", "file", "package", "version", "license", "copyright", "seconds")}
        for file in train_files
    ]
    (args.work / "split.json").write_text(json.dumps({"split": split, "training_tracks": sources}, indent=1) + "\n")


def stage_train(args) -> None:
    run = args.work / "run"
    resume = ["--resume"] if (run / "checkpoints").is_dir() and any((run / "checkpoints").iterdir()) else []
    command = ["train", "--data", args.work / "dataset", "--config", args.config, "--out", run, *resume]
    if args.max_steps:
        command += ["--max-steps", args.max_steps]
    command += args.train_options
    started = time.monotonic()
    status = audiodiff(*command, check=False)  # a stopped training is resumed by the next run
    print(f"train ran {(time.monotonic() - started) / 60:.1f} min, exit status {status}")


def training_hours(run: Path) -> float:
    """Hours the run trained: over every process that trained it (one TensorBoard event file each, in `logs/`), the
    time from its first logged event to its last, summed, so that the pauses between resumed runs do not count (steps
    trained again after a stop do). Without event files, the time from the run's first record to its losses."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    spans = []
    for events in sorted(run.glob("logs/**/events.out.tfevents.*")):
        times = [event.wall_time for event in EventFileLoader(str(events)).Load()]
        spans.append(max(times) - min(times) if times else 0.0)
    if any(spans):
        return sum(spans) / 3600
    return ((run / "losses.json").stat().st_mtime - (run / "run.json").stat().st_mtime) / 3600


def export_pipeline(run: Path, target: Path, split: dict) -> dict:
    """The finished run's pipeline (EMA weights) as fp16 safetensors in `target`, its record cleaned of local paths
    and completed with what it was trained on; `target/training.json` holds the loss curve (means of 50 steps) and
    the held-out tracks. The model card (`MODEL_CARD.md`) in `target` is kept."""
    from audiodiff.models import count_parameters
    from audiodiff.pipeline import AudioDiffusionPipeline
    from audiodiff.runtime import environment_info

    pipeline = AudioDiffusionPipeline.from_pretrained(run)
    pipeline.sampler = RECOMMENDED_SAMPLER
    pipeline.sampler_steps = RECOMMENDED_STEPS
    losses = json.loads((run / "losses.json").read_text())
    config = json.loads((run / "run.json").read_text())["config"]
    steps = int(pipeline.training["steps"])
    hours = training_hours(run)
    summary = {
        "steps": steps,
        "samples_seen": steps * config["batch_size"] * config["gradient_accumulation_steps"],
        "hours": hours,
        "final_loss": sum(losses[-50:]) / len(losses[-50:]),
        "parameters": count_parameters(pipeline.unet),
    }
    pipeline.training = {
        "recipe": "scripts/train_base.py (configs/train/base.yaml)",
        "data": "the real-music collection (scripts/real_music.py), CC-BY-SA-3.0 and Expat tracks; see MODEL_CARD.md",
        "preset": "base",
        "config": config,
        **summary,
    }
    target.mkdir(parents=True, exist_ok=True)
    card = target / "MODEL_CARD.md"
    kept = card.read_text() if card.is_file() else None
    for path in target.iterdir():
        if path.name != card.name:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    pipeline.unet.half()
    pipeline.save_pretrained(target)
    forget_source(target)
    if kept is not None:
        card.write_text(kept)
    curve = [sum(losses[i : i + 50]) / len(losses[i : i + 50]) for i in range(0, len(losses), 50)]
    record = {**summary, "loss_every_50_steps": curve, "machine": environment_info(), "split": split}
    (target / "training.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    return summary


def forget_source(folder: Path) -> None:
    """Drop the `_name_or_path` diffusers writes into a saved folder's configs: the local path the run was loaded
    from, which means nothing in a shipped copy."""
    for path in [folder / "model_index.json", *folder.glob("*/config.json")]:
        config = json.loads(path.read_text())
        if config.pop("_name_or_path", None) is not None:
            path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def stage_export(args) -> None:
    run = args.work / "run"
    summary = export_pipeline(run, args.export, split=json.loads((args.work / "split.json").read_text()))
    print(result_line({
        "steps": summary["steps"], "samples_seen": summary["samples_seen"], "hours": f"{summary['hours']:.2f}",
        "final_loss": f"{summary['final_loss']:.4f}",
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("all", "data", "train", "export"), default="all")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--rows-per-genre", type=int, default=1000)
    parser.add_argument("--max-steps", type=int, default=None, help="override the preset's max_steps")
    parser.add_argument("--export", type=Path, default=EXPORT, help="folder the export stage writes (the package's)")
    parser.add_argument("--config", default="base", help="training preset (base-gpu: scripts/gpu_base.sh's)")
    args, args.train_options = parser.parse_known_args()  # the rest goes to `audiodiff train` (e.g. --batch-size)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.stage in ("all", "data") and not (args.work / "dataset").is_dir():
        stage_data(args)
    if args.stage in ("all", "train"):
        stage_train(args)
    if args.stage in ("all", "export"):
        stage_export(args)


if __name__ == "__main__":
    main()
