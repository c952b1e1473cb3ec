"""Real music on both sides of an evaluation (`bench_instrument.py`, `bench_base.py`): tracks as a reference of
both kinds (a folder of WAVs and the same tracks prepared as a dataset), excerpts written as WAV folders that are
evaluated like generated clips, and every set of clips scored against every reference with `run_evaluation`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

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


def whole_clips(folder: Path, mel) -> torch.Tensor:
    """The clips of a set folder as whole images `(N, 1, n_mels, frames)` (`mel`: a `MelConfig`): its PNGs, else
    its WAVs, each encoded whole, cut to the shortest. (Evaluated, a folder of WAVs is read one slice per clip; a
    6 s excerpt here is one clip with its four windows, like a generated 6 s clip.)"""
    from audiodiff.audio import load_audio
    from audiodiff.codec import SpectrogramCodec
    from audiodiff.evaluation.clips import open_source

    if any(folder.glob("*.png")):
        source = open_source(folder, mel)
        return source.load(source.refs).images
    codec = SpectrogramCodec(mel)
    images = [codec.encode(torch.from_numpy(load_audio(path, mel.sample_rate))[None])
              for path in sorted(folder.glob("*.wav"))]  # fmt: skip
    frames = min(image.shape[-1] for image in images)
    return torch.cat([image[..., :frames] for image in images])


def whole_images(wavs: Path, mel, folder: Path) -> Path:
    """The WAVs of `wavs`, each encoded whole (`whole_clips`), as 8-bit PNGs `folder/excerpt_<k>.png` (made
    afresh); the folder. Evaluated, each is one clip of its full length, as a generated clip is: a folder of WAVs is
    read one slice per clip."""
    from benchlib.known_sets import write_pngs

    shutil.rmtree(folder, ignore_errors=True)
    return write_pngs(whole_clips(wavs, mel), folder, "excerpt")


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
