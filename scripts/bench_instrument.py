"""Does `audiodiff evaluate` prefer music to mush? The instrument scored on real held-out music and on sets whose
answer is known, through the same `run_evaluation` the CLI runs.

On the real-music collection (`scripts/real_music.py`), at the demo's settings (64 mel bands x 64 frames, 1.49 s
slices). Nothing is trained, so every track may serve: per genre, up to `--tracks` tracks a side, alternating (in
name order, spread over the genre): side A is the reference (a folder of WAVs, and the same tracks prepared as a
dataset), side B gives the clips evaluated as "generated":

- real: 6 s excerpts of side B's tracks, as WAV files (cut into slices by the evaluation) and as 4-slice PNGs (one
  long image each, referred to the excerpt's own peak, as `audiodiff generate` writes them), and 1-slice PNGs;
- known-bad, made from the real 1-slice excerpts: Gaussian blur along time and frequency (a wash), the reference's
  mean image plus a little noise, the frames shuffled in time, copies of one clip, and an untrained model's clips.

Each must rank below the real excerpts on the headline numbers: flagged share, precision or recall (the fine log-mel
embedding), and the fine Frechet distance ratio. Real excerpts should be flagged rarely (target <= 5%) and score a
Frechet ratio near 1 against both kinds of reference.

    python scripts/bench_instrument.py [--genres electronic,rock,cinematic] [--clips 32] [--seed 0]

Last line: `RESULT real_flagged=<max over genres and reference kinds> real_fd=<max> real_recall_ratio=<min>
bad_ranked_below=<share of known-bad rows worse than real on all three> blurred_flagged=<min>`.
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
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import split_tracks  # noqa: E402

from audiodiff.audio import load_audio, save_audio, slice_audio  # noqa: E402
from audiodiff.codec import SpectrogramCodec, model_to_pixels, save_png  # noqa: E402
from audiodiff.config import MelConfig, configs_dir  # noqa: E402
from audiodiff.evaluation import run_evaluation  # noqa: E402
from audiodiff.runtime import environment_info  # noqa: E402

COLLECTION = Path(os.environ.get("AUDIODIFF_REAL_MUSIC", Path.home() / ".cache" / "audiodiff" / "real-music"))
WORK = Path(os.environ.get("AUDIODIFF_BENCH_INSTRUMENT", Path.home() / ".cache" / "audiodiff" / "bench-instrument"))


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """`(batch, 1, height, width)` images blurred by a Gaussian of `sigma` pixels along both axes."""
    radius = int(3 * sigma)
    kernel = torch.exp(-(torch.arange(-radius, radius + 1.0) ** 2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = torch.nn.functional.pad(images, (radius, radius, radius, radius), mode="replicate")
    return torch.nn.functional.conv2d(
        torch.nn.functional.conv2d(padded, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1)
    )


def excerpts(files: list[Path], mel: MelConfig, slices: int, count: int, generator: torch.Generator) -> np.ndarray:
    """`count` excerpts of `slices` slices each, drawn at random from the loud parts of `files`: `(count, samples)`."""
    pieces = []
    for file in files:
        audio = load_audio(file, mel.sample_rate)
        chunks = slice_audio(audio, mel.slice_size * slices)
        rms = np.sqrt((chunks**2).mean(axis=1))
        pieces += [chunk for chunk, level in zip(chunks, rms) if level > 10 ** (-40 / 20)]
    order = torch.randperm(len(pieces), generator=generator)[:count].tolist()
    return np.stack([pieces[index] for index in order])


def write_pngs(images: torch.Tensor, folder: Path, stem: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        save_png(folder / f"{stem}_{index:03d}.png", model_to_pixels(image[0]))
    return folder


def untrained_clips(mel: MelConfig, count: int, folder: Path, seed: int) -> Path:
    """PNGs of an untrained small-64 model sampled with 10 DDIM steps (what a run that learned nothing makes)."""
    from diffusers import DDIMScheduler

    from audiodiff.models import build_model, load_model_preset
    from audiodiff.pipeline import AudioDiffusionPipeline

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = build_model(load_model_preset("small-64"), (mel.y_res, mel.x_res))
    pipeline = AudioDiffusionPipeline(unet=unet, scheduler=DDIMScheduler(), mel_config=mel)
    pipeline.set_progress_bar_config(disable=True)
    images = pipeline(batch_size=count, num_inference_steps=10, output_type="pt",
                      generator=torch.Generator().manual_seed(seed)).images  # fmt: skip
    return write_pngs(images, folder, "untrained")


def known_bad_sets(one, reference_images, noise, generator, folder: Path, mel: MelConfig, count: int, seed: int):
    """The sets whose answer is known, as PNG folders under `folder`: real one-slice clips `one` Gaussian-blurred,
    the reference's mean image plus `noise`, `one` with its frames shuffled in time (by `generator`), copies of one
    clip, and `count` clips of the untrained model. Returns {name: folder}."""
    bad = {
        "blurred (sigma 2 px)": gaussian_blur(one, 2.0),
        "mean image + noise": (reference_images.mean(dim=0, keepdim=True) + noise).clamp(-1, 1),
        "frames shuffled": one[..., torch.randperm(one.shape[-1], generator=generator)],
        "copies of one clip": one[:1].expand_as(one).clone(),
    }
    sets = {name: write_pngs(images, folder / name, "clip") for name, images in bad.items()}
    sets["untrained model"] = untrained_clips(mel, count, folder / "untrained model", seed)
    return sets


def headline(report: dict) -> dict:
    fidelity = report["precision_recall"]["log-mel-fine"]
    reasons = {name: count for name, count in report["artifacts"]["by_reason"].items() if count}
    return {
        "flagged": report["artifacts"]["flagged_share"],
        "reasons": reasons,
        "precision": fidelity["precision"],
        "recall": fidelity["recall"],
        "density": fidelity["density"],
        "coverage": fidelity["coverage"],
        "real_precision": fidelity["real"]["precision"],
        "real_recall": fidelity["real"]["recall"],
        "fd_fine": report["frechet_distance"]["log-mel-fine"]["ratio_to_baseline"],
        "fd_log_mel": report["frechet_distance"]["log-mel"]["ratio_to_baseline"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", default="electronic,rock,cinematic")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tracks", type=int, default=6, help="tracks per side (reference, evaluated clips)")
    args = parser.parse_args()
    info = environment_info()
    print("machine:", ", ".join(f"{key}={info[key]}" for key in ("device", "cpu_count", "torch_threads", "platform")))
    print(f"data: real music, {COLLECTION}: per genre, alternate tracks as the reference and as the evaluated clips")
    mel_file = configs_dir() / "mel" / "demo-64.yaml"
    mel = MelConfig.load(mel_file)
    codec = SpectrogramCodec(mel)
    split = split_tracks(COLLECTION)
    rows = []
    for genre in args.genres.split(","):
        # Nothing is trained here, so every track of the genre may serve; alternate tracks go to each side, at most
        # `--tracks` a side, so that the reference's split into compared and baseline clips has several tracks.
        tracks = [COLLECTION / file for file in split[genre]["train"] + split[genre]["held_out"]]
        tracks = sorted(tracks)[:: max(1, len(tracks) // (2 * args.tracks))]
        side_a, side_b = tracks[0::2][: args.tracks], tracks[1::2][: args.tracks]
        work = WORK / genre
        shutil.rmtree(work, ignore_errors=True)
        reference_folder = work / "reference" / genre
        reference_folder.mkdir(parents=True)
        for file in side_a:
            (reference_folder / file.name).symlink_to(file)
        dataset = work / "reference-dataset"
        subprocess.run([sys.executable, "-m", "audiodiff.cli.main", "prepare", str(work / "reference"), "--out",
                        str(dataset), "--mel-config", str(mel_file), "--genre-from", "folder"],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        generator = torch.Generator().manual_seed(args.seed)
        long_audio = excerpts(side_b, mel, 4, args.clips, generator)
        one_audio = excerpts(side_b, mel, 1, args.clips, generator)
        sets: dict[str, Path] = {}
        wav_folder = work / "sets" / "real 6 s WAV"
        wav_folder.mkdir(parents=True)
        for index, clip in enumerate(long_audio):
            save_audio(wav_folder / f"excerpt_{index:03d}.wav", clip, mel.sample_rate)
        sets["real 6 s WAV"] = wav_folder
        long_images = codec.encode(torch.from_numpy(long_audio))[..., : 4 * mel.x_res]
        sets["real 6 s PNG"] = write_pngs(long_images, work / "sets" / "real 6 s PNG", "excerpt")
        one = codec.encode(torch.from_numpy(one_audio))
        sets["real 1-slice PNG"] = write_pngs(one, work / "sets" / "real 1-slice PNG", "excerpt")
        noise = 0.05 * torch.randn(one.shape, generator=generator)
        reference_images = codec.encode(torch.from_numpy(excerpts(side_a, mel, 1, args.clips, generator)))
        sets.update(known_bad_sets(one, reference_images, noise, generator, work / "sets", mel, args.clips, args.seed))
        for reference_kind, reference in (("WAV folder", work / "reference"), ("dataset", dataset)):
            for name, folder in sets.items():
                run = run_evaluation(folder, reference, work / "reports" / reference_kind / name, genre=genre,
                                     count=args.clips, mel_config=mel, seed=args.seed)  # fmt: skip
                row = {"genre": genre, "reference": reference_kind, "set": name, **headline(run.report)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    (WORK / "rows.json").write_text(json.dumps(rows, indent=2) + "\n")
    print()
    print("| genre | reference | set | flagged | precision | recall | coverage | FD fine ratio | FD log-mel ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['genre']} | {row['reference']} | {row['set']} | {100 * row['flagged']:.0f}% "
              f"{','.join(row['reasons'])} | {row['precision']:.2f} ({row['real_precision']:.2f}) | "
              f"{row['recall']:.2f} ({row['real_recall']:.2f}) | {row['coverage']:.2f} | {row['fd_fine']} | "
              f"{row['fd_log_mel']} |")  # fmt: skip
    real = [row for row in rows if row["set"].startswith("real")]
    known_bad = [row for row in rows if not row["set"].startswith("real")]

    def worse(row) -> bool:
        peers = [r for r in real if r["genre"] == row["genre"] and r["reference"] == row["reference"]]
        return all(
            row["flagged"] > peer["flagged"]
            or min(row["precision"], row["recall"]) < 0.6 * min(peer["precision"], peer["recall"])
            or (row["fd_fine"] or 0) > 2 * (peer["fd_fine"] or 0)
            for peer in peers
        )

    blurred = [row["flagged"] for row in known_bad if row["set"].startswith("blurred")]
    print(
        f"RESULT real_flagged={max(row['flagged'] for row in real):.3f} "
        f"real_fd={max(row['fd_fine'] or 0 for row in real):.2f} "
        f"real_recall_ratio={min(row['recall'] / max(row['real_recall'], 1e-9) for row in real):.2f} "
        f"bad_ranked_below={sum(map(worse, known_bad)) / len(known_bad):.2f} blurred_flagged={min(blurred):.2f}"
    )


if __name__ == "__main__":
    main()
