"""Fine-tuning the shipped base model on "your own ten songs", as a new user would, measured on real music.

The songs: 10 tracks of one package of the real-music collection (`scripts/real_music.py`) that the base model
(`audiodiff-base-64`) never heard (default `colobot-common-sounds`, synthesizer soundtrack music), named as a new
genre (`--genre`, default `colobot`: a genre the base does not know, added by the fine-tune). The package's other
tracks are the held-out reference. Through the CLI, timed, with the peak memory of each command:

1. `audiodiff prepare SONGS --mel-config audiodiff-base-64 --genre-from folder`;
2. `audiodiff finetune audiodiff-base-64 --data DATA --genre G` with the default preset (its plan printed),
   with `--offsets` the same with `--random-offsets`, and with `--lora` LoRA adapters (`--config finetune-lora`);
3. 32 clips of 6 s from the fine-tune (`--genre G`) and, as "before", from the base (`--genre electronic`, the
   closest genre it knows);
4. `audiodiff evaluate --training DATA` of each against the held-out tracks: precision/recall, Frechet distances,
   flagged share and the copy check; next to real held-out excerpts (real-vs-real) and the training slices
   themselves replayed exactly and with light noise (which the copy check must flag).

    python scripts/bench_small_data.py [--package colobot-common-sounds] [--songs 10] [--clips 32]

Last line: `RESULT steps=... finetune_minutes=... finetune_peak_mb=... fd_before=... fd_after=... recall_before=...
recall_after=... copies_after=... copies_exact=... copies_noised=... copies_real=...`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import torch

from audiodiff.codec import load_png, model_to_pixels, pixels_to_model, save_png
from audiodiff.config import MelConfig
from audiodiff.evaluation import run_evaluation
from audiodiff.pretrained import DEFAULT_BASE, shipped_folder
from benchlib.cli import timed_audiodiff as timed
from benchlib.collection import excerpts, manifest
from benchlib.machine import machine_line
from benchlib.scoring import headline
from benchlib.sides import write_wavs
from benchlib.tables import result_line

WORK = Path(os.environ.get("AUDIODIFF_BENCH_SMALL_DATA", Path.home() / ".cache" / "audiodiff" / "bench-small-data"))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="colobot-common-sounds")
    parser.add_argument("--genre", default="colobot")
    parser.add_argument("--songs", type=int, default=10)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--offsets", action="store_true", help="also fine-tune with --random-offsets and compare")
    parser.add_argument("--lora", action="store_true", help="also fine-tune LoRA adapters (--config finetune-lora)")
    parser.add_argument("--max-steps", type=int, default=None, help="override the preset's plan (a shorter run)")
    args = parser.parse_args()
    from real_music import ensure_collection

    collection = ensure_collection()
    print(machine_line())
    files = sorted(row["file"] for row in manifest(collection) if row["package"] == args.package)
    songs, held_out = files[: args.songs], files[args.songs :]
    print(f"{args.package}: {len(songs)} songs to fine-tune on, {len(held_out)} held out")
    shutil.rmtree(WORK, ignore_errors=True)
    music, reference = WORK / "music" / args.genre, WORK / "held-out" / args.genre
    for folder, chosen in ((music, songs), (reference, held_out)):
        folder.mkdir(parents=True)
        for file in chosen:
            (folder / Path(file).name).symlink_to(collection / file)
    data = WORK / "data"
    output, prepare_minutes, _ = timed("prepare", WORK / "music", "--out", data, "--mel-config", DEFAULT_BASE,
                                       "--genre-from", "folder")  # fmt: skip
    print(f"prepare: {prepare_minutes:.1f} min")
    models = []
    variants = (("fine-tuned", []), ("fine-tuned, random offsets", ["--random-offsets"]),
                ("fine-tuned, LoRA", ["--config", "finetune-lora"]))  # fmt: skip
    wanted = {"fine-tuned": True, "fine-tuned, random offsets": args.offsets, "fine-tuned, LoRA": args.lora}
    timings = {}
    for variant, options in variants:
        if not wanted[variant]:
            continue
        tuned = WORK / variant.replace(", ", "-").replace(" ", "-")
        if args.max_steps:
            options = [*options, "--max-steps", args.max_steps]
        output, minutes, peak = timed("finetune", DEFAULT_BASE, "--data", data, "--genre", args.genre,
                                      "--out", tuned, *options)  # fmt: skip
        plan = next(line for line in output.splitlines() if line.startswith("plan:"))
        if variant == "fine-tuned":
            steps, finetune_minutes, finetune_peak = int(plan.split("; ")[1].split(" steps")[0]), minutes, peak
        timings[variant] = minutes
        print(f"{variant}: {plan}\nfinetune: {minutes:.1f} min, peak memory of the commands so far {peak:.0f} MB")
        models.append((variant, tuned, args.genre))
    minutes, peak = finetune_minutes, finetune_peak
    mel = MelConfig.load(shipped_folder(DEFAULT_BASE) / "mel" / "mel_config.json")
    sets = {}
    for name, pipeline, genre in (*models, ("base (electronic)", DEFAULT_BASE, "electronic")):
        folder = WORK / "sets" / name
        shutil.rmtree(folder, ignore_errors=True)  # generate adds a set beside an earlier run's: start afresh
        timed("generate", pipeline, "--genre", genre, "--clips", args.clips, "--seconds", 6, "--seed", args.seed,
              "--out", folder, "--device", "cpu")  # fmt: skip
        sets[name] = folder
    generator = torch.Generator().manual_seed(args.seed)
    real = excerpts([collection / file for file in held_out], mel, 4, args.clips, generator)
    sets["real held-out 6 s"] = write_wavs(real, WORK / "sets" / "real held-out 6 s", mel.sample_rate)
    from datasets import load_from_disk

    from audiodiff.codec import pil_to_pixels

    training_rows = load_from_disk(str(data))
    slices = WORK / "training-slices"
    slices.mkdir(parents=True)
    for index in torch.linspace(0, len(training_rows) - 1, args.clips).round().long().tolist():
        pixels, bits = pil_to_pixels(training_rows[index]["image"])
        save_png(slices / f"slice_{index:05d}.png", pixels, bits)
    pngs = sorted(slices.glob("*.png"))
    exact, noised = WORK / "sets" / "training slices (exact)", WORK / "sets" / "training slices + noise"
    exact.mkdir(parents=True)
    noised.mkdir(parents=True)
    noise = torch.Generator().manual_seed(args.seed + 1)
    for png in pngs[: args.clips]:
        pixels, bits = load_png(png)
        shutil.copyfile(png, exact / png.name)
        image = pixels_to_model(torch.from_numpy(pixels.astype("int64")), bits)
        image = (image + 0.03 * torch.randn(image.shape, generator=noise)).clamp(-1, 1)
        save_png(noised / png.name, model_to_pixels(image, bits).numpy(), bits)
    sets["training slices (exact)"], sets["training slices + noise"] = exact, noised
    rows = {}
    for name, folder in sets.items():
        run = run_evaluation(folder, WORK / "held-out", WORK / "reports" / name, training=data, genre=args.genre,
                             count=args.clips, mel_config=mel, seed=args.seed)  # fmt: skip
        rows[name] = copy_headline(run.report)
        print(json.dumps({"set": name, **rows[name]}), flush=True)
    (WORK / "rows.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n| set | flagged | precision (real) | recall (real) | FD fine | FD log-mel | near-copies | "
          "nearest training dB (held-out) | diversity dB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {100 * row['flagged']:.0f}% | {row['precision']:.2f} ({row['real_precision']:.2f}) | "
              f"{row['recall']:.2f} ({row['real_recall']:.2f}) | {row['fd_fine']} | {row['fd_log_mel']} | "
              f"{100 * (row['copies'] or 0):.0f}% | {row['nearest_training_db']} ({row['held_out_to_training_db']}) | "
              f"{row['diversity_db']:.1f} |")  # fmt: skip
    after, before = rows["fine-tuned"], rows["base (electronic)"]
    print(result_line({
        "steps": steps, "finetune_minutes": f"{minutes:.1f}", "finetune_peak_mb": f"{peak:.0f}",
        "fd_before": before["fd_fine"], "fd_after": after["fd_fine"], "recall_before": f"{before['recall']:.2f}",
        "recall_after": f"{after['recall']:.2f}", "copies_after": after["copies"],
        "copies_exact": rows["training slices (exact)"]["copies"],
        "copies_noised": rows["training slices + noise"]["copies"], "copies_real": rows["real held-out 6 s"]["copies"],
        **({"lora_minutes": f"{timings['fine-tuned, LoRA']:.1f}", "lora_fd": rows["fine-tuned, LoRA"]["fd_fine"],
            "lora_recall": f"{rows['fine-tuned, LoRA']['recall']:.2f}",
            "lora_copies": rows["fine-tuned, LoRA"]["copies"]} if args.lora else {}),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
