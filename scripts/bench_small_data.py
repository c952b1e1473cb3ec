"""Fine-tuning the shipped base model on "your own ten songs", as a new user would, measured on real music.

The songs: the first 3 and 10 tracks (`--songs`) of one package of the real-music collection
(`scripts/real_music.py`) that the base model (`audiodiff-base-64`) never heard (default `colobot-common-sounds`,
synthesizer soundtrack music), named as a new genre (`--genre`, default `colobot`: a genre the base does not know,
added by the fine-tune). The package's tracks after the largest song count are the held-out reference, the same for
every count. Through the CLI, timed, with the peak memory of each command:

1. `audiodiff prepare SONGS --mel-config audiodiff-base-64 --genre-from folder`, for each song count;
2. `audiodiff finetune audiodiff-base-64 --data DATA --genre G` with the default plan (printed) for each count;
   for the largest count also, with `--lora`, LoRA adapters (`--config finetune-lora`), with `--offsets`
   `--random-offsets`, with `--old` the issue's old preset (6 optimizer steps, `--max-steps 6`), and with
   `--genre-init` the new genre's class row started from the unconditional label (`--genre-init unconditional`)
   instead of the default, the closest label (printed); each `--variant 'LABEL=OPTIONS'` one more fine-tune of the
   largest count with those options (`--add` keeps the last run's sets and runs only the variants), and
   `'LABEL=OPTIONS :: GENERATE OPTIONS'` samples it with those `generate` options too (variants with the same
   finetune options share one fine-tune: one model sampled at several guidance scales; OPTIONS `default` samples
   the default fine-tune, e.g. `'unguided=default :: --guide none'`);
3. 32 clips of 6 s from each fine-tune (`--genre G`; sampled as its folder recommends: since 2026-12-08 a
   `finetune`-preset fine-tune is guided by its base at 1.25 unless the variant's generate options say
   `--guide none`) and, as "before", from the base: `--genre electronic` (the
   closest genre it knows) and unconditional;
4. `audiodiff evaluate --training DATA --classifier C` of each against the held-out tracks: precision/recall (COLA
   and fine log-mel embeddings), Frechet distances, flagged share, genre share and the copy check; next to real
   held-out excerpts (real-vs-real) and the training slices replayed exactly and with light noise (which the copy
   check must flag). The classifier C (`audiodiff train-classifier`, 600 steps) is trained on the base's training
   data (rock, electronic, cinematic) merged with the largest count's songs (`G`), with seed 0: genre share is the
   share of clips it calls `G` rather than a genre the base knew. Two more classifiers (seeds 1 and 2,
   `benchlib.genres`) score every set again: the table gives the seed-0 share with the range over the three.

    python scripts/bench_small_data.py [--package colobot-common-sounds] [--songs 3,10] [--clips 32] [--lora]
    python scripts/bench_small_data.py --rescore   # the last run's clips, scored again (after the instrument changed)
    python scripts/bench_small_data.py --add --variant 'lr 3e-4=--learning-rate 3e-4'   # one more fine-tune, then all

Last line: `RESULT steps_default_10=... genre_share_10=... copy_share_10=... recall_ratio_10=... minutes_10=...
lora_genre_share_10=... unconditional_start_genre_share_10=... genre_share_base=... genre_share_real=...
genre_share_10_min=... genre_share_10_max=... genre_share_base_max=...` (10: the largest song count; recall ratio in
the COLA embedding, to real-vs-real; `_min` / `_max`: over the three classifiers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from audiodiff.codec import model_to_pixels, pixels_to_model, save_png
from audiodiff.config import MelConfig
from audiodiff.evaluation import run_evaluation
from audiodiff.pretrained import DEFAULT_BASE, shipped_folder
from benchlib.cli import timed_audiodiff as timed
from benchlib.collection import excerpts, manifest
from benchlib.genres import CLASSIFIER_SEEDS, genre_shares, spread_text, trained_classifiers
from benchlib.machine import machine_line
from benchlib.scoring import headline
from benchlib.sides import whole_images, write_wavs
from benchlib.tables import result_line

WORK = Path(os.environ.get("AUDIODIFF_BENCH_SMALL_DATA", Path.home() / ".cache" / "audiodiff" / "bench-small-data"))


# The real held-out excerpts as whole 6 s images, scored exactly like generated clips (`benchlib.sides.whole_images`).
WHOLE = "real held-out 6 s, whole"
BASE_DATA = Path(os.environ.get("AUDIODIFF_BASE_WORK", Path.home() / ".cache" / "audiodiff" / "base-64")) / "dataset"


def ensure_base_data() -> None:
    """The base model's training slices (the classifiers' other genres), built by `train_base.py --stage data` (the
    same split and thinning as the shipped base) where a fresh machine has none yet."""
    if (BASE_DATA / "audiodiff_dataset.json").is_file():
        return
    print(f"{BASE_DATA}: none yet, building it (scripts/train_base.py --stage data)", flush=True)
    script = Path(__file__).with_name("train_base.py")
    subprocess.run([sys.executable, str(script), "--stage", "data", "--work", str(BASE_DATA.parent)], check=True)


def copy_headline(report: dict) -> dict:
    """`benchlib.scoring.headline`, then the copy check (near-copy share, its threshold, the clips' median distance
    to their nearest training window and held-out music's) and the clips' diversity."""
    copies = report.get("copies") or {}
    return {
        **headline(report),
        "copies": copies.get("near_copy_share"),
        "copy_threshold_db": copies.get("threshold_db"),
        "nearest_training_db": copies.get("generated_median_nearest_db"),
        "held_out_to_training_db": copies.get("yardstick_median_db"),
        "diversity_db": report["diversity"]["generated_mean_pairwise_db"],
    }


def training_slice_sets(data: Path, clips: int, seed: int) -> dict[str, Path]:
    """`clips` training slices spread over the dataset `data`, exactly and with N(0, 0.03) noise (about 1.2 dB):
    sets the copy check must flag."""
    from datasets import load_from_disk

    from audiodiff.codec import pil_to_pixels

    rows = load_from_disk(str(data))
    exact, noised = WORK / "sets" / "training slices (exact)", WORK / "sets" / "training slices + noise"
    exact.mkdir(parents=True)
    noised.mkdir(parents=True)
    noise = torch.Generator().manual_seed(seed + 1)
    for index in torch.linspace(0, len(rows) - 1, clips).round().long().tolist():
        pixels, bits = pil_to_pixels(rows[index]["image"])
        save_png(exact / f"slice_{index:05d}.png", pixels, bits)
        image = pixels_to_model(torch.from_numpy(pixels.astype("int64")), bits)
        image = (image + 0.03 * torch.randn(image.shape, generator=noise)).clamp(-1, 1)
        save_png(noised / f"slice_{index:05d}.png", model_to_pixels(image, bits).numpy(), bits)
    return {"training slices (exact)": exact, "training slices + noise": noised}


# What a run's rows.json keeps of each fine-tune's plan (`--rescore` carries it over).
PLAN_KEYS = ("steps", "minutes", "peak_mb", "plan", "genre_start")


def number(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="colobot-common-sounds")
    parser.add_argument("--genre", default="colobot")
    parser.add_argument("--songs", default="3,10", help="song counts to fine-tune on, comma-separated")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--offsets", action="store_true", help="also fine-tune with --random-offsets and compare")
    parser.add_argument("--lora", action="store_true", help="also fine-tune LoRA adapters (--config finetune-lora)")
    parser.add_argument("--old", action="store_true", help="also the issue's old preset: 6 optimizer steps")
    parser.add_argument("--genre-init", action="store_true",
                        help="also start the new genre's class row from the unconditional label (the default: the "
                        "closest known label) and compare")  # fmt: skip
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=OPTIONS[ :: GENERATE OPTIONS]",
                        help="also fine-tune the largest count with these finetune options, e.g. 'lr 3e-4="
                        "--learning-rate 3e-4', and sample it with these generate options, e.g. ':: --guidance 2' "
                        "(repeatable; the set is named '10 songs, LABEL'; the same finetune options train once; "
                        "OPTIONS 'default' samples the default fine-tune, e.g. 'base guided=default :: --guide base')"
                        )  # fmt: skip
    parser.add_argument("--add", action="store_true",
                        help="keep the last run: fine-tune and generate only the --variant runs, then score every "
                        "set again (as --rescore)")  # fmt: skip
    parser.add_argument("--max-steps", type=int, default=None, help="override the default plan (a shorter run)")
    parser.add_argument("--rescore", action="store_true",
                        help="score the last run's clip sets again with today's instrument: no prepare, fine-tune or "
                        "generate (the plans and times come from its rows.json)")  # fmt: skip
    args = parser.parse_args()
    from real_music import ensure_collection

    collection = ensure_collection(package=args.package)
    print(machine_line())
    counts = sorted(int(count) for count in args.songs.split(","))
    most = counts[-1]
    files = sorted(row["file"] for row in manifest(collection) if row["package"] == args.package)
    held_out = files[most:]
    print(f"{args.package}: fine-tuning on the first {args.songs} tracks, {len(held_out)} held out")
    variants = [parsed_variant(text, most) for text in args.variant]
    if args.rescore:
        return report(args, *rescored_sets(args, counts))
    if args.add:
        if not variants:
            parser.error("--add needs at least one --variant")
        sets, training_of, datasets, plans = rescored_sets(args, counts)
        variant_plans, folders = fine_tuned_variants(args, variants, datasets, plans)
        plans.update(variant_plans)
        for label, count, _, generate in variants:
            sets[label] = generated(args, folders[label], ["--genre", args.genre, *generate], label)
            training_of[label] = datasets[count]
        return report(args, sets, training_of, datasets, plans)
    shutil.rmtree(WORK, ignore_errors=True)
    reference = WORK / "held-out" / args.genre
    reference.mkdir(parents=True)
    for file in held_out:
        (reference / Path(file).name).symlink_to(collection / file)
    datasets = {}
    for count in counts:
        music = WORK / f"music-{count}" / args.genre
        music.mkdir(parents=True)
        for file in files[:count]:
            (music / Path(file).name).symlink_to(collection / file)
        datasets[count] = WORK / f"data-{count}"
        _, minutes, _ = timed("prepare", music.parent, "--out", datasets[count], "--mel-config", DEFAULT_BASE,
                              "--genre-from", "folder")  # fmt: skip
        print(f"prepare {count} songs: {minutes:.1f} min")
    ensure_base_data()
    timed("prepare", "--merge", BASE_DATA, datasets[most], "--out", WORK / "classifier-data")
    started = time.perf_counter()
    trained_classifiers(WORK, WORK / "classifier-data")
    print(f"classifiers (rock, electronic, cinematic, {args.genre}; seeds {CLASSIFIER_SEEDS}): "
          f"{(time.perf_counter() - started) / 60:.1f} min")  # fmt: skip
    runs = [(f"{count} songs, default", count, []) for count in counts]
    runs += [(f"{most} songs, LoRA", most, ["--config", "finetune-lora"])] if args.lora else []
    runs += [(f"{most} songs, random offsets", most, ["--random-offsets"])] if args.offsets else []
    runs += [(f"{most} songs, old preset (6 steps)", most, ["--max-steps", 6])] if args.old else []
    runs += [(f"{most} songs, new genre from unconditional", most, ["--genre-init", "unconditional"])
             ] if args.genre_init else []  # fmt: skip
    models, plans = [], {}
    for label, count, options in runs:
        plans[label] = fine_tuned(args, label, datasets[count], options)
        models.append((label, model_folder(label), ["--genre", args.genre], count))
    variant_plans, folders = fine_tuned_variants(args, variants, datasets, plans)
    plans.update(variant_plans)
    models += [(label, folders[label], ["--genre", args.genre, *generate], count)
               for label, count, _, generate in variants]  # fmt: skip
    models += [("base, electronic", DEFAULT_BASE, ["--genre", "electronic"], most),
               ("base, unconditional", DEFAULT_BASE, [], most)]  # fmt: skip
    mel = MelConfig.load(shipped_folder(DEFAULT_BASE) / "mel" / "mel_config.json")
    sets, training_of = {}, {}
    for name, pipeline, genre_options, count in models:
        sets[name], training_of[name] = generated(args, pipeline, genre_options, name), datasets[count]
    generator = torch.Generator().manual_seed(args.seed)
    real = excerpts([collection / file for file in held_out], mel, 4, args.clips, generator)
    sets["real held-out 6 s"] = write_wavs(real, WORK / "sets" / "real held-out 6 s", mel.sample_rate)
    sets[WHOLE] = whole_images(sets["real held-out 6 s"], mel, WORK / "sets" / WHOLE)
    sets.update(training_slice_sets(datasets[most], args.clips, args.seed))
    report(args, sets, training_of, datasets, plans)


def parsed_variant(text: str, count: int) -> tuple[str, int, list[str], list[str]]:
    """A `--variant 'LABEL=OPTIONS[ :: GENERATE OPTIONS]'` as a run: ('COUNT songs, LABEL', COUNT, the finetune
    options split on spaces, the generate options)."""
    label, separator, options = text.partition("=")
    options, _, generate = options.partition("::")
    if not separator or not label.strip() or not options.split():
        raise SystemExit(f"--variant {text!r}: expected LABEL=OPTIONS, e.g. 'lr 3e-4=--learning-rate 3e-4'")
    return f"{count} songs, {label.strip()}", count, options.split(), generate.split()


# A variant's finetune options that name no fine-tune of its own: it samples the count's default fine-tune.
DEFAULT_RUN = "default"


def fine_tuned_variants(args, variants, datasets: dict, known: dict) -> tuple[dict[str, dict], dict[str, Path]]:
    """Fine-tune each `--variant` (variants with the same count and finetune options share the first one's model:
    one fine-tune sampled with several generate options; options `default`: the count's default fine-tune, made by
    this run or the last, with its plan from `known`); the plans and the model folders, by label."""
    plans, folders, first = {}, {}, {}
    for label, count, options, _ in variants:
        if options == [DEFAULT_RUN]:
            folders[label] = model_folder(f"{count} songs, default")
            if not folders[label].is_dir():
                raise SystemExit(f"--variant {label!r}: no default fine-tune of {count} songs to sample; run without "
                                 "--add first")  # fmt: skip
            plans[label] = dict(known.get(f"{count} songs, default", {}))
            continue
        trained = first.setdefault((count, tuple(options)), label)
        plans[label] = fine_tuned(args, label, datasets[count], options) if trained == label else plans[trained]
        folders[label] = model_folder(trained)
    return plans, folders


def model_folder(label: str) -> Path:
    return WORK / "models" / label.replace(", ", "-").replace(" ", "-").replace("(", "").replace(")", "")


def fine_tuned(args, label: str, data: Path, options: list) -> dict:
    """`audiodiff finetune` of the shipped base on `data` into `model_folder(label)`, timed: the plan it printed,
    its steps, minutes, peak memory and where the new genre's class row started."""
    if args.max_steps and "--max-steps" not in options:
        options = [*options, "--max-steps", args.max_steps]
    shutil.rmtree(model_folder(label), ignore_errors=True)
    output, minutes, peak = timed("finetune", DEFAULT_BASE, "--data", data, "--genre", args.genre,
                                  "--out", model_folder(label), *options)  # fmt: skip
    plan = next(line for line in output.splitlines() if line.startswith("plan:"))
    steps = int(plan.split("; ")[1].split(" steps")[0])
    starts = [line.split("starting from ", 1)[1] for line in output.splitlines() if "starting from " in line]
    start = starts[0] if starts else ""
    estimates = [line.strip() for line in output.splitlines() if line.strip().startswith("estimated: ")]
    print(f"{label}: {plan}\nnew genre's class row: {start}\n{estimates[0] if estimates else 'no estimate'}\n"
          f"finetune: {minutes:.1f} min, peak memory of the commands so far {peak:.0f} MB")  # fmt: skip
    return {"steps": steps, "minutes": minutes, "peak_mb": peak, "plan": plan, "genre_start": start}


def generated(args, pipeline, genre_options: list, name: str) -> Path:
    """`args.clips` clips of 6 s from `pipeline` into `WORK/sets/name` (an earlier set of that name replaced), timed:
    the minutes are printed."""
    folder = WORK / "sets" / name
    shutil.rmtree(folder, ignore_errors=True)
    _, minutes, _ = timed("generate", pipeline, *genre_options, "--clips", args.clips, "--seconds", 6, "--seed",
                          args.seed, "--out", folder, "--device", "cpu")  # fmt: skip
    print(f"generate {name}: {minutes:.1f} min")
    return folder


def rescored_sets(args, counts: list[int]):
    """The last run's sets (`WORK/sets/*`), each with its training data (`data-N` for "N songs, ..." sets, else the
    largest count's), the datasets and the plans of its rows.json: what `report` needs to score them again."""
    most = counts[-1]
    datasets = {count: WORK / f"data-{count}" for count in counts}
    last = json.loads((WORK / "rows.json").read_text())
    plans = {name: {key: row[key] for key in PLAN_KEYS if key in row} for name, row in last.items()}
    sets, training_of = {}, {}
    if not (WORK / "sets" / WHOLE).is_dir():  # a run from before the whole excerpts: made from its WAVs
        mel = MelConfig.load(shipped_folder(DEFAULT_BASE) / "mel" / "mel_config.json")
        whole_images(WORK / "sets" / "real held-out 6 s", mel, WORK / "sets" / WHOLE)
    for folder in sorted(path for path in (WORK / "sets").iterdir() if path.is_dir()):
        sets[folder.name] = folder
        songs = folder.name.split(" songs")[0]
        training_of[folder.name] = datasets.get(int(songs), datasets[most]) if songs.isdigit() else datasets[most]
    return sets, training_of, datasets, plans


def report(args, sets, training_of, datasets, plans) -> None:
    """Score every set against the held-out tracks (`run_evaluation` with the copy check), write rows.json, print
    the table and the RESULT line."""
    most = max(datasets)
    mel = MelConfig.load(shipped_folder(DEFAULT_BASE) / "mel" / "mel_config.json")
    if not (WORK / "classifier-data").is_dir():  # a run from before the merged data was kept
        timed("prepare", "--merge", BASE_DATA, datasets[most], "--out", WORK / "classifier-data")
    classifiers = trained_classifiers(WORK, WORK / "classifier-data")
    rows = {}
    for name, folder in sets.items():
        run = run_evaluation(folder, WORK / "held-out", WORK / "reports" / name, training=training_of.get(name,
                             datasets[most]), genre=args.genre, count=args.clips, mel_config=mel, seed=args.seed,
                             classifier=classifiers[0])  # fmt: skip
        shares = genre_shares(folder, mel, classifiers, args.genre, args.clips)
        rows[name] = {**copy_headline(run.report), **plans.get(name, {}), "genre_shares": shares}
        print(json.dumps({"set": name, **rows[name]}), flush=True)
    (WORK / "rows.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(
        "\n| set | steps | minutes | genre share | flagged | precision / recall COLA (real) | precision / recall "
        "fine (real) | FD COLA / fine ratio | near-copies | nearest training dB (held-out) | diversity dB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row.get('steps', '-')} | {number(row.get('minutes'), 1)} | "
            f"{spread_text(row['genre_shares'])} | "
            f"{100 * row['flagged']:.0f}% | {number(row['precision_cola'])} / {number(row['recall_cola'])} "
            f"({number(row['real_precision_cola'])} / {number(row['real_recall_cola'])}) | "
            f"{row['precision']:.2f} / {row['recall']:.2f} ({row['real_precision']:.2f} / {row['real_recall']:.2f}) | "
            f"{row['fd_cola']} / {row['fd_fine']} | {100 * (row['copies'] or 0):.0f}% | "
            f"{row['nearest_training_db']} ({row['held_out_to_training_db']}) | {row['diversity_db']:.1f} |"
        )
    default = rows[f"{most} songs, default"]
    recall_ratio = (default["recall_cola"] or 0) / max(default["real_recall_cola"] or 0, 1e-9)
    print(result_line({
        f"steps_default_{most}": default["steps"], f"genre_share_{most}": number(default["genre_share"]),
        f"copy_share_{most}": number(default["copies"]), f"recall_ratio_{most}": f"{recall_ratio:.2f}",
        f"minutes_{most}": f"{default['minutes']:.1f}",
        f"lora_genre_share_{most}": number(rows.get(f"{most} songs, LoRA", {}).get("genre_share")),
        f"unconditional_start_genre_share_{most}": number(
            rows.get(f"{most} songs, new genre from unconditional", {}).get("genre_share")),
        "genre_share_base": number(rows["base, unconditional"]["genre_share"]),
        "genre_share_real": number(rows["real held-out 6 s"]["genre_share"]),
        f"genre_share_{most}_min": f"{min(default['genre_shares']):.2f}",
        f"genre_share_{most}_max": f"{max(default['genre_shares']):.2f}",
        "genre_share_base_max": f"{max(rows['base, unconditional']['genre_shares']):.2f}",
    }))  # fmt: skip


if __name__ == "__main__":
    main()
