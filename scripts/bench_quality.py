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


def thin_dataset(source: Path, target: Path, rows_per_genre: int, block: int = 1) -> None:
    """Keep at most `rows_per_genre` rows per genre, the same share of each track's slices, evenly spaced in blocks
    of `block` consecutive slices (1: single slices; `bench_widths.py` keeps blocks for variable-width crops)."""
    from datasets import load_from_disk

    dataset = load_from_disk(str(source))
    arrow = dataset.with_format("arrow")
    genres = np.asarray(arrow["genre"].to_numpy())
    files, numbers = arrow["audio_file"].to_pylist(), arrow["slice"].to_pylist()
    keep: list[int] = []
    for genre in np.unique(genres):
        rows = np.flatnonzero(genres == genre)
        share = min(1.0, rows_per_genre / len(rows))
        by_track: dict[str, list[int]] = {}
        for row in rows:
            by_track.setdefault(files[row], []).append(int(row))
        for track_rows in by_track.values():
            track_rows.sort(key=lambda row: numbers[row])
            count = max(1, round(len(track_rows) * share / block))
            starts = np.linspace(0, max(0, len(track_rows) - block), count).round().astype(int)
            for start in sorted(set(starts.tolist())):
                keep += track_rows[start : start + block]
    keep = sorted(set(keep))
    if target.exists():
        shutil.rmtree(target)
    dataset.select(keep).save_to_disk(str(target))
    for name in ("mel_config.json", "audiodiff_dataset.json"):
        shutil.copyfile(source / name, target / name)
    print(f"thinned {len(dataset)} -> {len(keep)} rows ({rows_per_genre} per genre at most, blocks of {block})")


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
            audiodiff("finetune", base, "--data", data, "--config", "demo-finetune", "--genre", args.genre,
                      "--out", finetuned, "--max-steps", finetune_steps, "--seed", args.seed)  # fmt: skip


# --- evaluate ---------------------------------------------------------------------------------------------------------
def load_reference(args, mel):
    """The held-out tracks of the genre in two disjoint groups: the reference every set is scored against (slices;
    `evaluate` splits it again by track into compared and baseline clips), and probe tracks, the real music scored
    like a generator (slices, and long continuous excerpts each encoded as one image)."""
    import torch

    from audiodiff.codec import SpectrogramCodec
    from audiodiff.evaluation.clips import FolderClips, select_refs

    source = FolderClips(args.work / "music-held-out", mel)
    files = sorted({ref.path for ref in source.refs if ref.genre == args.genre})
    probe_files = set(files[::3])
    generator = torch.Generator().manual_seed(args.seed)
    reference_refs = [ref for ref in source.refs if ref.genre == args.genre and ref.path not in probe_files]
    probe_refs = [ref for ref in source.refs if ref.path in probe_files]
    clips = source.load(select_refs(reference_refs, 2 * args.reference_clips, None, generator))
    probe = source.load(select_refs(probe_refs, args.clips, None, generator))
    # Long excerpts: `seconds`-long stretches of held-out tracks, each encoded as one image (continuous music).
    from audiodiff.audio import load_audio

    frames = round(args.seconds * mel.sample_rate / mel.hop_length)
    length = (frames - 1) * mel.hop_length
    from audiodiff.data.encoding import DEFAULT_MIN_LOUDNESS_DB, slice_loudness_db

    codec = SpectrogramCodec(mel)
    excerpts = []
    for path in sorted(probe_files):
        audio = load_audio(path, mel.sample_rate)
        pieces = [audio[start : start + length] for start in range(0, len(audio) - length, 4 * length)]
        # Like the reference slices: no near-silent stretch (a fade-out is not music to compare with).
        excerpts += [piece for piece in pieces if slice_loudness_db(piece[None])[0] >= DEFAULT_MIN_LOUDNESS_DB]
    long_audio = torch.from_numpy(np.stack(excerpts[:: max(1, len(excerpts) // args.clips)][: args.clips]))
    long_images = codec.encode(long_audio, bits=8)[..., :frames]
    return clips, probe, long_images


def generate(pipeline, sampler: str, steps: int, count: int, seconds: float, seed: int, genre: str, batch: int):
    """`count` clips `(count, 1, n_mels, frames)` of one sampler through `audiodiff.sampling.generate` (what
    `audiodiff generate` runs), clip k from a generator seeded `seed + k`; returns them and the clips redrawn.

    "+redraw" draws clips that fail the artefact check again, as `audiodiff generate` does by default; without it,
    every clip is kept as drawn (the sampler's own failure rate). "dpm-thresholded" is audiodiff 0.1's default
    (DPM-Solver++ with the solver's own thresholding, which made noise clips), kept to show what the fix changed.
    """
    from audiodiff import sampling
    from audiodiff.codec import pixels_to_model

    name, *options = sampler.split("+")
    pipeline.set_scheduler("dpm" if name == "dpm-thresholded" else name)
    if name == "dpm-thresholded":
        pipeline._clip_range = lambda timestep: None
    try:
        clips = sampling.generate(
            pipeline, count=count, seed=seed, steps=steps, genre=genre if pipeline.genres else None,
            seconds=seconds, batch_size=batch, redraw=sampling.DEFAULT_REDRAW if "redraw" in options else 0,
        )  # fmt: skip
    finally:
        pipeline.__dict__.pop("_clip_range", None)
    return pixels_to_model(clips.images, clips.bits).unsqueeze(1), len(clips.redrawn)


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


def clip_set(images, mel, name: str, genre: str, joins=None):
    from audiodiff.evaluation.clips import ClipSet

    names = [f"{name}_{index:03d}" for index in range(len(images))]
    return ClipSet(images, mel, [genre] * len(images), names, names, name, "generated", joins=joins)


def score(generated, reference, args, classifier) -> dict:
    """The `audiodiff evaluate` report of a clip set against the held-out reference."""
    from audiodiff.evaluation.embeddings import ClassifierEmbedder, FineEmbedder, LogMelEmbedder
    from audiodiff.evaluation.report import evaluate

    top_db = float(reference.mel_config.top_db)
    return evaluate(
        generated,
        reference,
        target_genre=args.genre,
        embedders=[LogMelEmbedder(top_db), FineEmbedder(top_db), ClassifierEmbedder(classifier)],
        classifier=classifier,
        reconstruction_clips=1,
    )


def summary(report: dict) -> dict:
    seams = report.get("seams", {})
    distances = report["frechet_distance"]
    return {
        "flagged": report["artifacts"]["flagged_share"],
        "flagged_windows": report["artifacts"]["flagged_window_share"],
        "real_flagged": report["artifacts"].get("real_flagged_share"),
        "seam": seams.get("seam_score"),
        "seam_real_p90_db": seams.get("reference_p90_change_db"),
        "fd_fine": distances["log-mel-fine"]["ratio_to_baseline"],
        "fd_log_mel": distances["log-mel"]["ratio_to_baseline"],
        "fd_classifier": distances["classifier"]["ratio_to_baseline"],
        "genre_share": report["genre"].get("target_share"),
        "genre_share_real": report["genre"].get("reference_target_share"),
    }


def stage_evaluate(args) -> None:
    import time

    import torch

    from audiodiff.classifier import GenreClassifier
    from audiodiff.config import MelConfig
    from audiodiff.figures import render_figure
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
        clips = clip_set(images, mel, name.replace(" ", "_").replace("/", "-").replace(",", ""), args.genre, joins)
        report = score(clips, reference, args, classifier)
        rows[name] = summary(report)
        print(f"{name:<34} " + "  ".join(f"{key}={value}" for key, value in rows[name].items()), flush=True)
        if figure:
            render_figure(clips, reference, report, results_dir / f"{clips.source}.png")
        (results_dir / f"{clips.source}.json").write_text(json.dumps(report, indent=1) + "\n")

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
    columns = "flagged clips | seam score | fine FD ratio | log-mel FD ratio | classifier FD ratio | genre share"
    table = [f"| set | {columns} |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in rows.items():
        cells = [row["flagged"], row["seam"], row["fd_fine"], row["fd_log_mel"], row["fd_classifier"],
                 row["genre_share"]]  # fmt: skip
        table.append(f"| {name} | " + " | ".join("-" if cell is None else f"{cell:.3g}" for cell in cells) + " |")
    print("\n".join(table))
    (results_dir / "table.md").write_text("\n".join(table) + "\n")
    main_recipe = args.recipes[-1][0]
    missing = dict.fromkeys(next(iter(rows.values())))  # a sampler left out of --samplers reports None
    default_row = rows.get(f"{main_recipe} {args.default}+redraw-{args.default_steps}", missing)
    ddpm_row = rows.get(f"{main_recipe} ddpm-1000", missing)
    print(
        f"RESULT flagged_default={default_row['flagged']} flagged_ddpm={ddpm_row['flagged']} "
        f"seam_default={default_row['seam']} seam_real={rows['real long excerpts']['seam']} "
        f"fd_fine_default={default_row['fd_fine']} fd_fine_ddpm={ddpm_row['fd_fine']}"
    )


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
