"""Variable-width training on real music: long clips made in one piece by a model trained on 1x, 2x and 4x crops,
against the same model trained on single slices whose long clips are denoised in overlapping windows.

Both models train the demo's genre-conditioned base recipe (`configs/train/demo-base.yaml`: small-64, v-prediction,
Min-SNR-5) on the same data for the same steps, seed and pixels per step (a step at width k takes batch/k crops of k
consecutive slices); only `--widths` differs. Data: the real-music collection of `scripts/bench_quality.py` (run its
data stage first), thinned here in *blocks* of `--block` consecutive slices per track (its own `dataset` is thinned
slice by slice, which leaves no consecutive slices), at most `--rows-per-genre` slices per genre.

Each model makes `--clips` clips of `--seconds` (4 slices at the demo's settings) of `--genre`, DPM-Solver++ 20
steps, guidance `--guidance`, from the same seeds, plus as many one-slice clips (does wide training cost single-slice
quality?), scored with `audiodiff evaluate`'s instrument against held-out tracks (`benchlib.scoring.score`): flagged
clips, seam score (1 = joins as abrupt as real music's), fine / log-mel / classifier Frechet distance ratios, genre
share; real long excerpts are scored the same way as the reference point.

    .venv/bin/python scripts/bench_widths.py [--steps 1500] [--clips 24] [--stage all|data|train|evaluate]

Writes WORK/results-widths/ (table.md, summary.json, a figure per set, WAVs of the first clips). Last line:
`RESULT seam_single=... seam_wide=... seam_real=... fd_fine_single=... fd_fine_wide=... ...`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchlib.cli import audiodiff
from benchlib.generation import generate_images
from benchlib.quality_study import WORK, load_reference, thin_dataset
from benchlib.scoring import score_and_save, set_slug, summary
from benchlib.tables import markdown_table, result_line

MODELS = {"single": "1", "wide": "1,2,4"}


def stage_data(args) -> None:
    """`dataset-blocks`: blocks of `--block` consecutive slices evenly spread over each track, the same share of
    every track of a genre, at most `--rows-per-genre` slices per genre (`benchlib.quality_study.thin_dataset`)."""
    source, target = args.work / "dataset-full", args.work / "dataset-blocks"
    if (target / "dataset_info.json").is_file():
        return
    if not source.is_dir():
        raise SystemExit(f"{source} is missing: run scripts/bench_quality.py --stage data first")
    thin_dataset(source, target, args.rows_per_genre, block=args.block)


def stage_train(args) -> None:
    for name, widths in MODELS.items():
        out = args.work / "runs-widths" / f"{name}-{args.steps}"
        if (out / "model_index.json").is_file():
            continue
        resume = ["--resume"] if (out / "run.json").is_file() else []
        data = args.work / "dataset-blocks"
        audiodiff("train", "--data", data, "--config", "demo-base", "--out", out, "--max-steps", args.steps,
                  "--widths", widths, "--seed", args.seed, *resume)  # fmt: skip


def stage_evaluate(args) -> None:
    from audiodiff.audio import save_audio
    from audiodiff.classifier import GenreClassifier
    from audiodiff.config import MelConfig
    from audiodiff.pipeline import AudioDiffusionPipeline

    results = args.work / "results-widths"
    results.mkdir(parents=True, exist_ok=True)
    mel = MelConfig.find(args.work / "dataset")
    classifier = GenreClassifier.from_pretrained(args.work / "classifier")
    reference, probe, real_long = load_reference(args, mel)
    rows: dict[str, dict] = {}

    def record(name: str, images) -> None:
        # The names here hold no "/": set_slug gives the stems they always had.
        _, report = score_and_save(images, mel, set_slug(name), args.genre, reference, classifier, results)
        rows[name] = summary(report)
        print(f"{name:<28} " + "  ".join(f"{key}={value}" for key, value in rows[name].items()), flush=True)

    record("real long excerpts", real_long)
    record("real held-out slices", probe.images)
    for name in MODELS:
        pipeline = AudioDiffusionPipeline.from_pretrained(args.work / "runs-widths" / f"{name}-{args.steps}")
        pipeline.set_scheduler("dpm").set_progress_bar_config(disable=True)
        for label, seconds in (("long", args.seconds), ("1 slice", None)):
            begin = time.perf_counter()
            pipeline.unet_evaluations = 0
            images, clips = generate_images(pipeline, count=args.clips, seed=args.seed, steps=20, genre=args.genre,
                                            guidance=args.guidance, seconds=seconds,
                                            batch_size=args.batch_size)  # fmt: skip
            elapsed = (time.perf_counter() - begin) / args.clips
            set_name = f"{name} {label}"
            record(set_name, images)
            rows[set_name]["seconds_per_clip"] = round(elapsed, 3)
            rows[set_name]["model_calls_per_clip"] = pipeline.unet_evaluations / args.clips
            for index in range(min(4, args.clips)):
                file = results / "wavs" / f"{set_name.replace(' ', '_')}_{index}.wav"
                save_audio(file, clips.audios[index], clips.sample_rate)
    (results / "summary.json").write_text(json.dumps(rows, indent=1) + "\n")
    columns = ["flagged", "seam", "fd_fine", "fd_log_mel", "fd_classifier", "genre_share", "seconds_per_clip",
               "model_calls_per_clip"]  # fmt: skip
    table = markdown_table(rows, columns)
    print("\n".join(table))
    (results / "table.md").write_text("\n".join(table) + "\n")
    single, wide = rows["single long"], rows["wide long"]
    print(result_line({
        "seam_single": single["seam"], "seam_wide": wide["seam"], "seam_real": rows["real long excerpts"]["seam"],
        "fd_fine_single": single["fd_fine"], "fd_fine_wide": wide["fd_fine"], "flagged_single": single["flagged"],
        "flagged_wide": wide["flagged"], "fd_fine_single_slice": rows["single 1 slice"]["fd_fine"],
        "fd_fine_wide_slice": rows["wide 1 slice"]["fd_fine"],
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=["all", "data", "train", "evaluate"], default="all")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--genre", default="electronic")
    parser.add_argument("--rows-per-genre", type=int, default=1500)
    parser.add_argument("--block", type=int, default=4, help="Consecutive slices kept together when thinning.")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--reference-clips", type=int, default=96)
    parser.add_argument("--seconds", type=float, default=5.9, help="Default: 4 slices at the demo's settings.")
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.stage in ("all", "data"):
        stage_data(args)
    if args.stage in ("all", "train"):
        stage_train(args)
    if args.stage in ("all", "evaluate"):
        stage_evaluate(args)


if __name__ == "__main__":
    main()
