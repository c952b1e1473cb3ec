"""The shipped base model (`audiodiff-base-64`) on real held-out music, per genre, scored by the instrument.

For each genre of the real-music collection (`scripts/real_music.py`), the held-out tracks (every 4th track of the
genre, sorted by name, as `train_base.py` and `bench_quality.py` split them; none was trained on) go alternately to
two sides: side A is the reference (a folder of WAVs, and the same tracks prepared as a dataset: both kinds of
reference), side B gives real 6 s excerpts scored like generated clips (real-vs-real). Scored against each
reference with `audiodiff evaluate`'s instrument (`run_evaluation`):

- the base model's clips: `audiodiff generate audiodiff-base-64 --genre G --seconds 6` (default sampler), made
  through the CLI as a user would;
- optionally a from-scratch model of today's demo presets (`--scratch RUN`: a pipeline folder, e.g. trained by
  `bench_quality.py`'s stages), the same way;
- real 6 s excerpts of side B, twice: as WAVs (read one slice per clip, "real held-out 6 s") and as whole 6 s images
  ("real held-out 6 s, whole"), scored exactly like a generated clip (the pulse of whole clips, the artefact check
  of whole clips);
- known-bad sets made from side B: Gaussian-blurred (sigma 2 px), the reference's mean image plus noise, frames
  shuffled in time, copies of one clip, the untrained model (one slice each); and two rhythm probes made from the
  whole 6 s excerpts, judged on their pulse alone: the frames shuffled in time, and clips spliced from slices of 4
  different excerpts (each slice real, no one beat over the clip).

Genre share comes from a three-genre classifier (`audiodiff train-classifier`, seed 0) trained on the base's training
data (other tracks than both sides); two more (seeds 1 and 2, `benchlib.genres`) score the models' and the real sets
again, and the table gives the range. Reported per set: precision, recall, density, coverage (fine log-mel and COLA
embeddings), Frechet distance ratios, flagged share by reason, the structure ratios (spectral detail, onsets, and the
pulse of whole clips against real runs of their length), seam score, genre share, diversity.

    python scripts/bench_base.py [--genres rock,electronic,cinematic] [--clips 32] [--base PIPELINE] [--scratch RUN]
        [--also-scheduler dpm-sde [--also-steps 20]] [--rescore]

Last line: `RESULT precision_ratio=<min over genres> recall_ratio=<min> flagged=<max> flagged_real=<max>
genre_share=<min> blurred_flagged=<min> bad_ranked_below=<share> precision_ratio_cola=<min> recall_ratio_cola=<min>
fd_cola=<max over genres and references> fd_cola_real=<max> pulse_ratio=<min> pulse_ratio_real=<min>
pulse_ratio_shuffled=<max> pulse_ratio_spliced=<max> genre_share_seeds_min=<min over genres and classifier seeds>
genre_share_seeds_max=<min over genres of the max over seeds>` (pulse: the
median clip's pulse clarity over real music's of its length; the `_cola` ones in the COLA embedding, the others in
the fine log-mel one; the ratios and the `_real` keys are to / of the real held-out excerpts scored whole, like the
generated 6 s clips; a known-bad set, one slice a clip, is held against the excerpts read one slice per clip),
then with `--also-scheduler dpm-sde` the same for its set (`flagged_dpm_sde=` ...; with `--also-steps 40`,
`flagged_dpm_sde_40=` ...).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import torch

from audiodiff.audio import save_audio
from audiodiff.codec import SpectrogramCodec
from audiodiff.config import MelConfig
from audiodiff.pretrained import DEFAULT_BASE, shipped_folder
from benchlib.cli import audiodiff
from benchlib.collection import SHAREABLE_LICENCES, excerpts, manifest_by_file, split_tracks
from benchlib.genres import genre_shares, spread_text, trained_classifiers
from benchlib.known_sets import SHUFFLED_WHOLE, SPLICED_WHOLE, known_bad_sets, rhythm_probes
from benchlib.machine import machine_line
from benchlib.scoring import headline
from benchlib.sides import evaluate_sets, reference_folders, whole_clips, whole_images, write_wavs
from benchlib.tables import number, result_line

WORK = Path(os.environ.get("AUDIODIFF_BENCH_BASE", Path.home() / ".cache" / "audiodiff" / "bench-base"))
BASE_DATA = Path.home() / ".cache" / "audiodiff" / "base-64" / "dataset"
RHYTHM_PROBES = (SHUFFLED_WHOLE, SPLICED_WHOLE)


def base_headline(report: dict) -> dict:
    """`benchlib.scoring.headline` (genre shares included), then seam score and diversity (generated and reference)."""
    return {
        **headline(report),
        "seam": (report.get("seams") or {}).get("seam_score"),
        "diversity_db": report["diversity"]["generated_mean_pairwise_db"],
        "reference_diversity_db": report["diversity"]["reference_mean_pairwise_db"],
    }


def docs_examples(args, genre: str, generated: Path, held_out: list[Path], mel, codec, slices: int):
    """Two generated clips and two real excerpts of the held-out tracks whose licence allows sharing them
    (CC-BY-SA-3.0, Expat), as PNGs and WAVs in the genre's work folder (`docs-examples/`, what the README's figure
    is drawn from); the first of each, the WAVs the README links, copied to `args.docs/base-examples/`. The excerpt
    files name their track. Returns the PNGs (generated, real)."""
    from audiodiff.codec import model_to_pixels, save_png
    from real_music import ensure_collection

    manifest = manifest_by_file(ensure_collection())
    folder = WORK / genre / "docs-examples"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    made = []
    for index in range(2):
        for suffix in (".png", ".wav"):
            source = generated / f"generated_{index:03d}{suffix}"
            shutil.copyfile(source, folder / f"{genre}-generated-{index}{suffix}")
        made.append(folder / f"{genre}-generated-{index}.png")
    shareable = [track for track in held_out if manifest[f"{genre}/{track.name}"]["license"] in SHAREABLE_LICENCES]
    shareable = shareable or [track for track in sorted(args.all_held_out[genre]) if
                              manifest[f"{genre}/{track.name}"]["license"] in SHAREABLE_LICENCES]  # fmt: skip
    real = []
    generator = torch.Generator().manual_seed(args.seed + 1)
    for index, clip in enumerate(excerpts(shareable[:1], mel, slices, 2, generator)):
        stem = f"{genre}-real-{index}-{shareable[0].stem}"
        save_audio(folder / f"{stem}.wav", clip, mel.sample_rate)
        image = codec.encode(torch.from_numpy(clip[None]))[0, 0, :, : slices * mel.x_res]
        save_png(folder / f"{stem}.png", model_to_pixels(image).numpy())
        real.append(folder / f"{stem}.png")
    linked = args.docs / "base-examples"
    linked.mkdir(parents=True, exist_ok=True)
    for png in (made[0], real[0]):
        shutil.copyfile(png.with_suffix(".wav"), linked / png.with_suffix(".wav").name)
    return made, real


def write_figure(rows: list[tuple[str, list[Path], list[Path]]], path: Path, tile: int = 88) -> Path:
    """PNG: per genre, two rows of a generated clip (left) beside a held-out real excerpt (right), spectrograms of
    6 s drawn 4 tiles wide, low frequencies at the bottom."""
    from PIL import Image, ImageDraw

    from audiodiff.codec import load_png, pixels_to_model
    from audiodiff.figures import colourise

    width, label, gap, caption = 4 * tile, 90, 12, 16
    lines = sum(min(len(generated), len(real), 2) for _, generated, real in rows)
    canvas = Image.new("RGB", (label + 2 * (width + gap), lines * (tile + caption) + len(rows) * 8 + 30), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((label, 8), "generated by audiodiff-base-64", fill=(0, 0, 0))
    draw.text((label + width + gap, 8), "real held-out music (not trained on)", fill=(0, 0, 0))
    y = 28
    for genre, generated, real in rows:
        draw.text((6, y + tile // 2), genre, fill=(0, 0, 0))
        for pair in zip(generated[:2], real[:2]):
            for column, png in enumerate(pair):
                pixels, bits = load_png(png)
                image = colourise(pixels_to_model(torch.from_numpy(pixels.astype("int64")), bits))
                canvas.paste(Image.fromarray(image).resize((width, tile), Image.Resampling.BILINEAR),
                             (label + column * (width + gap), y))  # fmt: skip
                draw.text((label + column * (width + gap), y + tile + 2), png.stem[:60], fill=(60, 60, 60))
            y += tile + caption
        y += 8
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def also_name(args) -> str:
    """The set name of `--also-scheduler` (and `--also-steps`): "base model (dpm-sde)", "base model (dpm-sde, 40
    steps)"."""
    parts = [args.also_scheduler or "", f"{args.also_steps} steps" if args.also_steps else "",
             f"{args.also_bpm:g} BPM" if args.also_bpm else ""]  # fmt: skip
    return f"base model ({', '.join(part for part in parts if part)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", default="rock,electronic,cinematic")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base", default=DEFAULT_BASE, help="the pipeline to score (default: the shipped base)")
    parser.add_argument("--scratch", type=Path, default=None, help="a from-scratch demo-preset pipeline to compare")
    parser.add_argument("--also-scheduler", default=None, metavar="NAME",
                        help="also score the base's clips made with this sampler (e.g. dpm-sde)")  # fmt: skip
    parser.add_argument("--also-steps", type=int, default=None, metavar="N",
                        help="with --also-scheduler: this many sampling steps (default: its own)")  # fmt: skip
    parser.add_argument(
        "--also-bpm",
        type=float,
        default=None,
        metavar="BPM",
        help="also (or with --also-scheduler) score the base's clips drawn at this tempo (--bpm)",
    )
    parser.add_argument("--docs", type=Path, default=None, help="write the README's figure and example WAVs here")
    parser.add_argument("--rescore", action="store_true",
                        help="keep the models' clip sets of the last run where they exist (no generate): score them "
                        "again after the instrument changed")  # fmt: skip
    args = parser.parse_args()
    from real_music import ensure_collection

    collection = ensure_collection()
    print(machine_line())
    base_folder = shipped_folder(args.base) or Path(args.base)
    mel = MelConfig.load(base_folder / "mel" / "mel_config.json")
    codec = SpectrogramCodec(mel)
    split = split_tracks(collection)
    WORK.mkdir(parents=True, exist_ok=True)
    classifiers = trained_classifiers(WORK, BASE_DATA)
    slices = round(args.seconds / mel.slice_seconds)
    args.all_held_out = {}
    rows = []
    pictures: list[tuple[str, list[Path], list[Path]]] = []
    for genre in args.genres.split(","):
        tracks = sorted(collection / file for file in split[genre]["held_out"])
        args.all_held_out[genre] = tracks
        side_a, side_b = tracks[0::2], tracks[1::2]
        work = WORK / genre
        models = [("base model", args.base, []), ("from scratch (demo presets)", args.scratch, [])]
        if args.also_scheduler or args.also_bpm:
            options = ["--scheduler", args.also_scheduler] if args.also_scheduler else []
            options += ["--steps", args.also_steps] if args.also_steps else []
            options += ["--bpm", args.also_bpm] if args.also_bpm else []
            models.append((also_name(args), args.base, options))
        aside = WORK / ".kept" / genre  # --rescore: the models' sets survive `reference_folders` making work anew
        for name, _, _ in models if args.rescore else ():
            if (work / "sets" / name).is_dir():
                aside.mkdir(parents=True, exist_ok=True)
                (work / "sets" / name).rename(aside / name)
        reference, dataset = reference_folders(work, genre, side_a, base_folder / "mel")
        if aside.is_dir():
            (work / "sets").mkdir(parents=True, exist_ok=True)
            for folder in list(aside.iterdir()):
                folder.rename(work / "sets" / folder.name)
        sets: dict[str, Path] = {}
        for name, pipeline, options in models:
            if pipeline is None:
                continue
            folder = work / "sets" / name
            sets[name] = folder
            if args.rescore and len(list(folder.glob("generated_*.wav"))) == args.clips:
                continue
            shutil.rmtree(folder, ignore_errors=True)  # generate adds a set beside an earlier run's: start afresh
            audiodiff("generate", pipeline, "--genre", genre, "--clips", args.clips, "--seconds", args.seconds,
                      "--seed", args.seed, "--out", folder, "--device", "cpu", *options, quiet=True)  # fmt: skip
        generator = torch.Generator().manual_seed(args.seed)
        real = excerpts(side_b, mel, slices, args.clips, generator)
        sets["real held-out 6 s"] = write_wavs(real, work / "sets" / "real held-out 6 s", mel.sample_rate)
        # The same excerpts as whole 6 s images, scored exactly like generated clips (a folder of WAVs is read one
        # slice per clip): what the pulse of whole clips, and the artefact check of whole clips, are held against.
        whole = work / "sets" / "real held-out 6 s, whole"
        sets[whole.name] = whole_images(sets["real held-out 6 s"], mel, whole)
        if args.docs is not None:
            pictures.append((genre, *docs_examples(args, genre, sets["base model"], side_b, mel, codec, slices)))
        one = codec.encode(torch.from_numpy(excerpts(side_b, mel, 1, args.clips, generator)))
        reference_images = codec.encode(torch.from_numpy(excerpts(side_a, mel, 1, args.clips, generator)))
        noise = 0.05 * torch.randn(one.shape, generator=generator)
        sets.update(known_bad_sets(one, reference_images, noise, generator, work / "sets", mel, args.clips, args.seed))
        # Whole 6 s real clips that lose the beat (their own generator: the sets above stay as they were).
        probes_from = whole_clips(sets[whole.name], mel)
        sets.update(rhythm_probes(probes_from, mel.x_res, torch.Generator().manual_seed(args.seed + 1), work / "sets"))
        references = {"WAV folder": reference, "dataset": dataset}
        genre_rows = evaluate_sets(sets, references, work / "reports", base_headline, genre, count=args.clips,
                                   mel_config=mel, seed=args.seed, classifier=classifiers[0])  # fmt: skip
        # The genre share of the models' and the real sets under every classifier seed (`benchlib.genres`): the
        # same for both references, so counted once a set.
        shares = {name: genre_shares(sets[name], mel, classifiers, genre, args.clips)
                  for name in sets if name in {model[0] for model in models} or name.startswith("real")}  # fmt: skip
        rows += [{**row, "genre_shares": shares.get(row["set"])} for row in genre_rows]
    (WORK / "rows.json").write_text(json.dumps(rows, indent=2) + "\n")
    if args.docs is not None:
        print(f"figure: {write_figure(pictures, args.docs / 'base-vs-real.png')}")
    print()
    print(
        "| genre | reference | set | flagged | detail / onsets / pulse (x real) | precision (real) | recall (real) | "
        "coverage | FD fine | FD log-mel | "
        "COLA precision (real) | COLA recall (real) | FD COLA | genre share | seam | diversity dB (ref) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def structure(row) -> str:
        return " / ".join("-" if row.get(key) is None else f"{row[key]:.2f}"
                          for key in ("detail_ratio", "onset_ratio", "pulse_ratio"))  # fmt: skip

    for row in rows:
        share = "" if row["genre_share"] is None else f"{row['genre_share']:.2f}"
        share = spread_text(row["genre_shares"]) if row.get("genre_shares") else share
        diversity = f"{row['diversity_db']:.1f} ({row['reference_diversity_db']:.1f})"
        seam = "" if row["seam"] is None else row["seam"]
        print(f"| {row['genre']} | {row['reference']} | {row['set']} | {100 * row['flagged']:.0f}% "
              f"{','.join(row['reasons'])} | {structure(row)} | {row['precision']:.2f} ({row['real_precision']:.2f}) | "
              f"{row['recall']:.2f} ({row['real_recall']:.2f}) | {row['coverage']:.2f} | {row['fd_fine']} | "
              f"{row['fd_log_mel']} | {row['precision_cola']:.2f} ({row['real_precision_cola']:.2f}) | "
              f"{row['recall_cola']:.2f} ({row['real_recall_cola']:.2f}) | {row['fd_cola']} | {share} | {seam} | "
              f"{diversity} |")  # fmt: skip
    base = [row for row in rows if row["set"] == "base model"]
    generated = ("base model", "from scratch (demo presets)", also_name(args))
    # Real music scored like with like: whole 6 s excerpts for the generated 6 s clips, single slices for the
    # one-slice known-bad sets.
    real = [row for row in rows if row["set"] == "real held-out 6 s, whole"]
    real_slices = [row for row in rows if row["set"] == "real held-out 6 s"]
    # The rhythm probes are real music cut up: judged on their pulse only (`probes`), not ranked with the known-bad.
    probes = [row for row in rows if row["set"] in RHYTHM_PROBES]
    known_bad = [row for row in rows if row["set"] not in generated and not row["set"].startswith("real")]
    known_bad = [row for row in known_bad if row["set"] not in RHYTHM_PROBES]

    def peers(row) -> list[dict]:
        pool = real if row["set"] in generated else real_slices
        return [r for r in pool if r["genre"] == row["genre"] and r["reference"] == row["reference"]]

    def worse(row) -> bool:
        return all(
            min(row["precision"], row["recall"]) < 0.6 * min(peer["precision"], peer["recall"])
            or row["flagged"] > max(0.2, 2 * peer["flagged"])
            for peer in peers(row)
        )

    def ratio(key, rows) -> str:
        """The smallest generated/real ratio over the genres and references where real music scores above 0 (a
        ratio to 0 is undefined, not huge: rock's 3 held-out tracks give real-vs-real precision 0); `n/a` if none."""
        ratios = [row[key] / peer[key] for row in rows for peer in peers(row) if peer[key] > 0]
        return f"{min(ratios):.2f}" if ratios else "n/a"

    def scores(rows, suffix: str = "") -> dict:
        return {f"{key}{suffix}": value for key, value in {
            "precision_ratio": ratio("precision", rows),
            "recall_ratio": ratio("recall", rows),
            "flagged": f"{max(row['flagged'] for row in rows):.3f}",
            "genre_share": f"{min(row['genre_share'] or 0 for row in rows):.2f}",
            "genre_share_seeds_min": number(min((min(row["genre_shares"]) for row in rows if row.get("genre_shares")),
                                                default=None), 2),
            "genre_share_seeds_max": number(min((max(row["genre_shares"]) for row in rows if row.get("genre_shares")),
                                                default=None), 2),
            "precision_ratio_cola": ratio("precision_cola", rows),
            "recall_ratio_cola": ratio("recall_cola", rows),
            "fd_cola": f"{max(row['fd_cola'] or 0 for row in rows):.2f}",
            "pulse_ratio": number(min((row["pulse_ratio"] for row in rows if row.get("pulse_ratio") is not None),
                                      default=None)),
        }.items()}  # fmt: skip

    other = [row for row in rows if row["set"] == also_name(args)]
    suffix = (
        (f"_{args.also_scheduler.replace('-', '_')}" if args.also_scheduler else "")
        + (f"_{args.also_steps}" if args.also_steps else "")
        + (f"_bpm_{args.also_bpm:g}" if args.also_bpm else "")
    )
    print(result_line({
        **scores(base),
        "flagged_real": f"{max(row['flagged'] for row in real):.3f}",
        "blurred_flagged": f"{min(row['flagged'] for row in known_bad if row['set'].startswith('blurred')):.2f}",
        "bad_ranked_below": f"{sum(map(worse, known_bad)) / len(known_bad):.2f}",
        "fd_cola_real": f"{max(row['fd_cola'] or 0 for row in real):.2f}",
        "pulse_ratio_real": number(min((row["pulse_ratio"] for row in real if row.get("pulse_ratio") is not None),
                                       default=None)),
        "pulse_ratio_shuffled": number(max((row["pulse_ratio"] for row in probes if row["set"] == SHUFFLED_WHOLE
                                            and row.get("pulse_ratio") is not None), default=None)),
        "pulse_ratio_spliced": number(max((row["pulse_ratio"] for row in probes if row["set"] == SPLICED_WHOLE
                                           and row.get("pulse_ratio") is not None), default=None)),
        **(scores(other, suffix) if other else {}),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
