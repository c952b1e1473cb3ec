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
from pathlib import Path

from benchlib.cli import audiodiff
from benchlib.collection import link_tracks, split_tracks
from benchlib.generation import generate_images
from benchlib.quality_study import MEL_PRESET, WORK, load_reference, thin_dataset
from benchlib.scoring import score_and_save, set_slug, summary
from benchlib.tables import markdown_table, result_line


def stage_data(args) -> None:
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
            audiodiff("finetune", base, "--data", data, "--config", "demo-finetune", "--genre", args.genre,
                      "--out", finetuned, "--max-steps", finetune_steps, "--seed", args.seed)  # fmt: skip


# --- evaluate ---------------------------------------------------------------------------------------------------------
def generate(pipeline, sampler: str, steps: int, count: int, seconds: float, seed: int, genre: str, batch: int):
    """`count` clips `(count, 1, n_mels, frames)` of one sampler through `audiodiff.sampling.generate` (what
    `audiodiff generate` runs), clip k from a generator seeded `seed + k`; returns them and the clips redrawn.

    "+redraw" draws clips that fail the artefact check again, as `audiodiff generate` does by default; without it,
    every clip is kept as drawn (the sampler's own failure rate). "dpm-thresholded" is audiodiff 0.1's default
    (DPM-Solver++ with the solver's own thresholding, which made noise clips), kept to show what the fix changed.
    """
    from audiodiff import sampling

    name, *options = sampler.split("+")
    pipeline.set_scheduler("dpm" if name == "dpm-thresholded" else name)
    if name == "dpm-thresholded":
        pipeline._clip_range = lambda timestep: None
    try:
        images, clips = generate_images(
            pipeline, count=count, seed=seed, steps=steps, genre=genre if pipeline.genres else None,
            seconds=seconds, batch_size=batch, redraw=sampling.DEFAULT_REDRAW if "redraw" in options else 0,
        )  # fmt: skip
    finally:
        pipeline.__dict__.pop("_clip_range", None)
    return images, len(clips.redrawn)


def ensure_fences(pipeline, args) -> None:
    """Pipelines trained before audiodiff stored artefact-check fences get them from the fine-tuning data (the
    genre's training slices), as training now does."""
    if pipeline.quality:
        return
    import torch

    from audiodiff.data import load_spectrogram_dataset
    from audiodiff.evaluation.artifacts import Fences

    data = load_spectrogram_dataset(args.work / "dataset").select_genres([args.genre])
    rows = torch.linspace(0, len(data) - 1, min(1024, len(data))).round().long().tolist()
    images = data.to_tensor(data.dataset.select(rows)["image"])
    mel = pipeline.mel_config
    pipeline.quality = {"fences": Fences.from_images(images, mel.x_res, float(mel.top_db)).to_dict()}


def stage_evaluate(args) -> None:
    import time

    import torch

    from audiodiff.classifier import GenreClassifier
    from audiodiff.config import MelConfig
    from audiodiff.pipeline import AudioDiffusionPipeline

    results_dir = args.work / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    mel = MelConfig.find(args.work / "dataset")
    classifier_dir = args.work / "classifier"
    if not (classifier_dir / "config.json").is_file():
        audiodiff("train-classifier", "--data", args.work / "dataset", "--out", classifier_dir, "--max-steps", 400,
                  "--seed", args.seed, "--device", "cpu")  # fmt: skip
    classifier = GenreClassifier.from_pretrained(classifier_dir)
    reference, probe, real_long = load_reference(args, mel)
    frames = real_long.shape[-1]
    rows: dict[str, dict] = {}

    def record(name: str, images, figure: bool = True, joins=None) -> None:
        _, report = score_and_save(images, mel, set_slug(name), args.genre, reference, classifier, results_dir,
                                   figure=figure, joins=joins)  # fmt: skip
        rows[name] = summary(report)
        print(f"{name:<34} " + "  ".join(f"{key}={value}" for key, value in rows[name].items()), flush=True)

    # 1. The instrument on known-good and known-bad sets of real music.
    generator = torch.Generator().manual_seed(args.seed)
    singles = probe.images
    record("real held-out clips", singles, figure=False)
    record("real long excerpts", real_long)
    record("real + speckle", (singles + torch.randn(singles.shape, generator=generator) * 0.3).clamp(-1, 1))
    noisy = singles.clone()
    noisy[: len(noisy) // 4] = torch.rand(noisy[: len(noisy) // 4].shape, generator=generator) * 2 - 1
    record("real, a quarter pure noise", noisy)
    tracks = probe.images
    pieces = -(-frames // mel.x_res)
    # Slices from unrelated places (other tracks, or far apart in one) butted together at the slice joins.
    order = torch.randint(len(tracks), (args.clips, pieces), generator=generator)
    spliced = torch.cat([tracks[order[:, piece]] for piece in range(pieces)], dim=-1)[..., :frames]
    joins = [list(range(mel.x_res, frames, mel.x_res))] * len(spliced)
    record("real slices spliced at random", spliced, joins=joins)

    timings: dict[str, float] = {}
    for recipe, _, _ in args.recipes:
        folder = args.runs / recipe / f"finetuned-{args.genre}"
        pipeline = AudioDiffusionPipeline.from_pretrained(folder).to(args.device)
        pipeline.set_progress_bar_config(disable=True)
        ensure_fences(pipeline, args)
        if recipe == args.recipes[0][0]:
            from diffusers import UNet2DModel

            torch.manual_seed(args.seed)  # the architecture at initialisation, as training starts it
            untrained = AudioDiffusionPipeline(
                unet=UNet2DModel.from_config(pipeline.unet.config), scheduler=pipeline.scheduler,
                mel_config=mel, genres=pipeline.genres,
            ).to(args.device)  # fmt: skip
            untrained.set_progress_bar_config(disable=True)
            images, _ = generate(untrained, args.default, None, args.clips, args.seconds, args.seed, args.genre,
                                 args.batch_size)  # fmt: skip
            record("untrained model", images)
        redrawn: dict[str, int] = {}
        for sampler, steps, count in args.samplers:
            begin = time.perf_counter()
            images, redrawn[sampler] = generate(pipeline, sampler, steps, min(count, args.clips), args.seconds,
                                                args.seed, args.genre, args.batch_size)  # fmt: skip
            name = f"{recipe} {sampler}-{steps}"
            timings[name] = (time.perf_counter() - begin) / len(images)
            record(name, images)
            rows[name]["redrawn"] = redrawn[sampler]
            rows[name]["seconds_per_clip"] = round(timings[name], 2)
    (results_dir / "summary.json").write_text(json.dumps({"rows": rows, "seconds_per_clip": timings}, indent=1))
    header = ["flagged clips", "seam score", "fine FD ratio", "log-mel FD ratio", "classifier FD ratio", "genre share"]
    columns = ["flagged", "seam", "fd_fine", "fd_log_mel", "fd_classifier", "genre_share"]
    table = markdown_table(rows, columns, header)
    print("\n".join(table))
    (results_dir / "table.md").write_text("\n".join(table) + "\n")
    main_recipe = args.recipes[-1][0]
    missing = dict.fromkeys(next(iter(rows.values())))  # a sampler left out of --samplers reports None
    default_row = rows.get(f"{main_recipe} {args.default}+redraw-{args.default_steps}", missing)
    ddpm_row = rows.get(f"{main_recipe} ddpm-1000", missing)
    print(result_line({
        "flagged_default": default_row["flagged"], "flagged_ddpm": ddpm_row["flagged"],
        "seam_default": default_row["seam"], "seam_real": rows["real long excerpts"]["seam"],
        "fd_fine_default": default_row["fd_fine"], "fd_fine_ddpm": ddpm_row["fd_fine"],
    }))  # fmt: skip


def parse_samplers(text: str) -> list[tuple[str, int | None, int]]:
    """ "ddpm:1000:16,DEFAULT" -> [(name, steps, clips), ...]; DEFAULT is the pipeline's default sampler."""
    from audiodiff.schedulers import DEFAULT_SCHEDULER, DEFAULT_STEPS

    samplers = []
    for part in text.split(","):
        if part.startswith("DEFAULT"):
            samplers.append((DEFAULT_SCHEDULER + part.removeprefix("DEFAULT"), DEFAULT_STEPS, 10**9))
            continue
        name, steps, *count = part.split(":")
        samplers.append((name, int(steps), int(count[0]) if count else 10**9))
    return samplers


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
    parser.add_argument("--reference-clips", type=int, default=96, help="Held-out real slices (x2: compared, base).")
    parser.add_argument(
        "--samplers",
        type=parse_samplers,
        default=parse_samplers("ddpm:1000,ddim:50,dpm-thresholded:20,DEFAULT,DEFAULT+redraw"),
        help="name:steps[:clips] (DEFAULT = the pipeline default), comma-separated.",
    )
    parser.add_argument("--batch-size", type=int, default=8)
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
    if args.stage in ("all", "evaluate"):
        from audiodiff.schedulers import DEFAULT_SCHEDULER, DEFAULT_STEPS

        args.default, args.default_steps = DEFAULT_SCHEDULER, DEFAULT_STEPS
        args.device = "cpu" if args.device == "auto" else args.device
        stage_evaluate(args)


if __name__ == "__main__":
    main()
