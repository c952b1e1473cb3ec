"""Real music on both sides of an evaluation (`bench_instrument.py`, `bench_base.py`): tracks as a reference of
both kinds (a folder of WAVs and the same tracks prepared as a dataset), excerpts written as WAV folders that are
evaluated like generated clips, and every set of clips scored against every reference with `run_evaluation`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from benchlib.cli import audiodiff


def reference_folders(work: Path, genre: str, tracks: list[Path], mel_config) -> tuple[Path, Path]:
    """`work` made anew with `reference/<genre>/` (links to `tracks`) and `reference-dataset` (the same tracks
    prepared with `mel_config`, a preset file or pipeline folder, through `audiodiff prepare`). Returns both."""
    shutil.rmtree(work, ignore_errors=True)
    reference_folder = work / "reference" / genre
    reference_folder.mkdir(parents=True)
    for file in tracks:
        (reference_folder / file.name).symlink_to(file)
    dataset = work / "reference-dataset"
    audiodiff("prepare", work / "reference", "--out", dataset, "--mel-config", mel_config, "--genre-from", "folder",
              quiet=True)  # fmt: skip
    return work / "reference", dataset


def write_wavs(clips: np.ndarray, folder: Path, sample_rate: int, stem: str = "excerpt") -> Path:
    """Audio `(clips, samples)` as `folder/<stem>_000.wav`, ... (the folder must not exist yet); the folder."""
    from audiodiff.audio import save_audio

    folder.mkdir(parents=True)
    for index, clip in enumerate(clips):
        save_audio(folder / f"{stem}_{index:03d}.wav", clip, sample_rate)
    return folder


def whole_images(wavs: Path, mel, folder: Path) -> Path:
    """The WAVs of `wavs`, each encoded whole (`mel`: a `MelConfig`) as an 8-bit PNG `folder/<name>.png` (made
    afresh); the folder. Evaluated, each is one clip of its full length, as a generated clip is: a folder of WAVs is
    read one slice per clip."""
    import torch

    from audiodiff.audio import load_audio
    from audiodiff.codec import SpectrogramCodec, model_to_pixels, save_png

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    codec = SpectrogramCodec(mel)
    for path in sorted(wavs.glob("*.wav")):
        image = codec.encode(torch.from_numpy(load_audio(path, mel.sample_rate))[None])[0, 0]
        save_png(folder / f"{path.stem}.png", model_to_pixels(image))
    return folder


def evaluate_sets(sets: dict[str, Path], references: dict[str, Path], reports: Path, headline, genre: str,
                  **options) -> list[dict]:  # fmt: skip
    """Every set (a folder of clips) against every reference through `run_evaluation` (reports in
    `reports/<reference kind>/<set>`, `options` passed on: count, mel_config, seed, classifier, ...): a row per
    pair, `{"genre", "reference", "set", **headline(report)}`, each printed as JSON as soon as it is scored."""
    from audiodiff.evaluation import run_evaluation

    rows = []
    for reference_kind, reference in references.items():
        for name, folder in sets.items():
            run = run_evaluation(folder, reference, reports / reference_kind / name, genre=genre, **options)
            row = {"genre": genre, "reference": reference_kind, "set": name, **headline(run.report)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows
