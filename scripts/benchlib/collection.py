"""The real-music collection (`scripts/real_music.py`) as benchmarks use it: its manifest, the split into training
and held-out tracks, folders of linked tracks and loud excerpts drawn from tracks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

# The licences whose excerpts the README may carry and under which a model trained on them may be shared
# (CC-BY-SA-3.0; GPL cannot be combined with it).
SHAREABLE_LICENCES = ("CC-BY-SA-3.0", "Expat (MIT)")


def manifest(collection: Path) -> list[dict]:
    """The collection's `manifest.json`: one row per track (genre, file, package, version, license, ...)."""
    return json.loads((collection / "manifest.json").read_text())


def manifest_by_file(collection: Path) -> dict[str, dict]:
    """The manifest's rows by their `file` (`genre/track.wav`)."""
    return {row["file"]: row for row in manifest(collection)}


def split_tracks(collection: Path, split_file: Path | None = None) -> dict[str, dict[str, list[str]]]:
    """Per genre, the training and held-out tracks: `split_file` (a `split.json` of `bench_quality.py`) when given,
    else the rule every benchmark shares: every 4th track of the genre (sorted by file name, from the second) is
    held out."""
    if split_file is not None:
        return json.loads(split_file.read_text())
    rows = manifest(collection)
    split: dict[str, dict[str, list[str]]] = {}
    for genre in sorted({row["genre"] for row in rows}):
        files = sorted(row["file"] for row in rows if row["genre"] == genre)
        held = files[1::4]
        split[genre] = {"train": [f for f in files if f not in held], "held_out": held}
    return split


def link_tracks(collection: Path, files: list[str], folder: Path) -> Path:
    """A folder of `genre/track.wav` symbolic links to the given collection files (made anew)."""
    if folder.exists():
        shutil.rmtree(folder)
    for file in files:
        target = folder / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(collection / file)
    return folder


def excerpts(files: list[Path], mel, slices: int, count: int, generator: torch.Generator) -> np.ndarray:
    """`count` excerpts of `slices` slices each (`mel`: a `MelConfig`), drawn at random by `generator` from the
    parts of `files` louder than -40 dBFS RMS: `(count, samples)`."""
    from audiodiff.audio import load_audio, slice_audio

    pieces = []
    for file in files:
        audio = load_audio(file, mel.sample_rate)
        chunks = slice_audio(audio, mel.slice_size * slices)
        rms = np.sqrt((chunks**2).mean(axis=1))
        pieces += [chunk for chunk, level in zip(chunks, rms) if level > 10 ** (-40 / 20)]
    order = torch.randperm(len(pieces), generator=generator)[:count].tolist()
    return np.stack([pieces[index] for index in order])
