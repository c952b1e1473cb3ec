"""A spectrogram dataset folder: loading it for training (ours, the reference format, hub ids) and writing its files.

A prepared dataset is a folder DIR:

    data-0000x-of-0000n.arrow, state.json, dataset_info.json   a `datasets.Dataset` (`save_to_disk`, sharded)
    mel_config.json                                             the codec settings (reference `Mel` format)
    audiodiff_dataset.json                                      bit depth, genre names, settings and summary
    contact_sheet.png                                           optional: a grid of slices labelled with genre
    .prepare-work/                                              the resume cache of `prepare` (`workdir.py`)

Columns, one row per slice (the reference's first three, then ours):

    image               datasets Image: PNG of `(y_res, x_res)` pixels, mode "L" (8-bit) or "I;16" (16-bit)
    audio_file          str, the source file as found (folder joined with the relative path), or a row's name
    slice               int32, slice i covers samples [i * slice_size, (i + 1) * slice_size) at the codec rate
    genre               ClassLabel, only when genres are known (`--genre` / `--genre-from`)
    source_sample_rate  int32, the file's own sample rate before resampling
    loudness_db         float32, RMS level of the slice in dBFS (mono, at the codec sample rate)

Loading (`load_spectrogram_dataset`) accepts our folders, folders made by audio-diffusion's `audio_to_images.py`
(columns image, audio_file, slice; no mel_config.json), and hub ids.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from audiodiff.audio import audio_file_kind
from audiodiff.codec import levels_for, pil_to_pixels, pixels_to_model
from audiodiff.config import MEL_CONFIG_NAME, MelConfig
from audiodiff.data.workdir import WORK_DIR_NAME
from audiodiff.utils import LOCK_NAME, SAVED_DATASET_MARKERS, atomic_file, first_line, is_hub_id, is_saved_dataset

logger = logging.getLogger(__name__)

# audiodiff's additions to a dataset folder (a pipeline folder has its own, `pipeline.PIPELINE_METADATA_NAME`).
DATASET_METADATA_NAME = "audiodiff_dataset.json"
CONTACT_SHEET_NAME = "contact_sheet.png"


class DatasetError(ValueError):
    """A dataset or source cannot be used; `str(error)` is one line naming it and the problem."""


@dataclasses.dataclass
class SpectrogramDataset:
    """A spectrogram dataset ready for training.

    dataset: a `datasets.Dataset` with at least `image` (and `audio_file`, `slice`; `genre` when labelled).
    mel_config: the codec settings the images were made with. genres: label names (index = ClassLabel id) or None.
    bits: 8 or 16, the PNG depth. source: where it was loaded from.
    """

    dataset: Any
    mel_config: MelConfig
    genres: list[str] | None
    bits: int
    source: str

    def __len__(self) -> int:
        return len(self.dataset)

    def genre_id(self, name: str) -> int:
        """The ClassLabel id of genre `name`; a one-line `DatasetError` when the dataset does not have it."""
        if not self.genres:
            raise DatasetError(f"{self.source}: unknown genre {name!r}: this dataset has no genre labels")
        if name not in self.genres:
            raise DatasetError(f"{self.source}: unknown genre {name!r} (genres: {', '.join(self.genres)})")
        return self.genres.index(name)

    def select_genres(self, names: Sequence[str]) -> SpectrogramDataset:
        """Only the rows of the given genres (labels keep their ids). Writes no cache files."""
        wanted = {self.genre_id(name) for name in names}
        labels = np.asarray(self.dataset.with_format("arrow")["genre"].to_numpy())
        rows = np.flatnonzero(np.isin(labels, list(wanted)))
        return dataclasses.replace(self, dataset=self.dataset.select(rows.tolist()))

    def rows_by_track(self) -> dict[str, list[int]]:
        """Row indices grouped by `audio_file`, slices in row order: pick a random slice per track per epoch.

        A dataset without an `audio_file` column treats every row as its own track.
        """
        if "audio_file" not in self.dataset.column_names:
            return {str(row): [row] for row in range(len(self.dataset))}
        groups: dict[str, list[int]] = {}
        for row, name in enumerate(self.dataset.with_format("arrow")["audio_file"].to_pylist()):
            groups.setdefault(name, []).append(row)
        return groups

    def to_tensor(self, images: Sequence[Image.Image] | Image.Image) -> torch.Tensor:
        """PIL images of this dataset -> `(batch, 1, y_res, x_res)` float32 in [-1, 1]."""
        return images_to_tensor(images, self.bits)


def images_to_tensor(images: Sequence[Image.Image | np.ndarray] | Image.Image, bits: int) -> torch.Tensor:
    """Spectrogram images (PIL, or `(height, width)` integer pixel arrays) -> `(batch, 1, height, width)` in [-1, 1].

    The codec's mapping `pixel / levels * 2 - 1` with levels = 2**bits - 1, so that training sees exactly what
    `SpectrogramCodec.encode(audio, bits)` gives. A PIL image of another bit depth is an error (a 16-bit image read
    as 8-bit would be silently wrong).
    """
    levels_for(bits)  # an unknown depth is refused before any image is read
    if isinstance(images, (Image.Image, np.ndarray)):
        images = [images]
    arrays = []
    for index, image in enumerate(images):
        if isinstance(image, Image.Image):
            pixels, depth = pil_to_pixels(image)
            if depth != bits:
                raise ValueError(f"image {index} is {depth}-bit (PIL mode {image.mode}) but {bits}-bit was expected")
        else:
            pixels = np.asarray(image)
            if pixels.ndim != 2:
                raise ValueError(f"image {index}: expected (height, width) pixels, got shape {pixels.shape}")
        arrays.append(pixels.astype(np.float32))
    if not arrays:
        raise ValueError("images_to_tensor needs at least one image")
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        raise ValueError(f"images have different sizes {sorted(shapes)}; a batch needs one size")
    return pixels_to_model(np.stack(arrays), bits).unsqueeze(1)


def open_dataset(source: str, split: str):
    """A `datasets.Dataset` from a `save_to_disk` folder, a folder of data files, or a hub id; plus its folder."""
    import datasets

    path = Path(source)
    if path.is_dir():
        if is_saved_dataset(path):
            try:
                saved = datasets.load_from_disk(str(path))
            except Exception as error:  # a damaged or half-copied save: name it instead of a deep traceback
                raise DatasetError(f"{source}: cannot load this saved dataset ({first_line(error)})") from None
            if not isinstance(saved, datasets.DatasetDict):
                return saved, path
            if split not in saved:
                raise DatasetError(f"{source}: no split {split!r} (splits: {', '.join(saved)})")
            return saved[split], path
        try:
            return datasets.load_dataset(str(path), split=split), path
        except Exception as error:  # datasets raises many types; the user needs the one line, not the traceback
            raise DatasetError(f"{source}: not loadable as a dataset ({first_line(error)})") from None
    if path.exists():
        raise DatasetError(f"{source}: is a file, not a dataset folder or hub id")
    if not is_hub_id(source, owner_required=False) or audio_file_kind(path) is not None:
        raise DatasetError(f"{source}: no such file or folder")
    try:
        return datasets.load_dataset(source, split=split), None
    except Exception as error:
        raise DatasetError(
            f"{source}: no such file or folder, and loading it as a Hugging Face dataset failed ({first_line(error)})"
        ) from None


def _hub_file(repo_id: str, filename: str) -> Path | None:
    """A file of a hub dataset repository, or None when it is absent or the hub cannot be reached."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset"))
    except Exception:  # absent file, offline, private repo: all mean "not available", callers fall back
        return None


def read_metadata(folder: str | Path) -> dict[str, Any] | None:
    """`DIR/audiodiff_dataset.json` as a dict, or None when the folder has none."""
    path = Path(folder) / DATASET_METADATA_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: not valid JSON ({error})") from None


def load_spectrogram_dataset(source: str | os.PathLike, split: str = "train") -> SpectrogramDataset:
    """Load a spectrogram dataset for training.

    `source`: a folder made by `audiodiff prepare`; a reference-format folder (audio-diffusion's
    `audio_to_images.py`: columns image, audio_file, slice, no mel_config.json: x_res/y_res are taken from the first
    image, the other settings are the reference defaults, and a warning is logged); a local folder of data files;
    or a hub id (`datasets.load_dataset`). `split` picks the split of a DatasetDict or hub dataset.
    Raises `DatasetError` (one line) for a missing image column, an empty dataset or inconsistent settings.
    """
    from datasets import ClassLabel
    from datasets import Image as ImageFeature

    source = str(source)
    dataset, folder = open_dataset(source, split)
    if "image" not in dataset.column_names:
        raise DatasetError(f"{source}: no 'image' column (columns: {', '.join(dataset.column_names)})")
    if len(dataset) == 0:
        raise DatasetError(f"{source}: the dataset is empty (split {split!r} has no rows)")
    if not isinstance(dataset.features["image"], ImageFeature):
        dataset = dataset.cast_column("image", ImageFeature())
    if folder is not None:
        metadata = read_metadata(folder)
        mel_config = MelConfig.find(folder)
    else:
        metadata_path = _hub_file(source, DATASET_METADATA_NAME)
        metadata = json.loads(metadata_path.read_text()) if metadata_path else None
        mel_path = _hub_file(source, MEL_CONFIG_NAME)
        mel_config = MelConfig.load(mel_path) if mel_path is not None else None
    first = dataset[0]["image"]
    _, first_bits = pil_to_pixels(first)
    if mel_config is None:
        mel_config = MelConfig(x_res=first.width, y_res=first.height)
        logger.warning(
            "%s: no %s; assuming x_res=%d, y_res=%d from the first image and the reference defaults "
            "(sample_rate=%d, n_fft=%d, hop_length=%d, top_db=%d)",
            source,
            MEL_CONFIG_NAME,
            mel_config.x_res,
            mel_config.y_res,
            mel_config.sample_rate,
            mel_config.n_fft,
            mel_config.hop_length,
            mel_config.top_db,
        )
    if (first.width, first.height) != (mel_config.x_res, mel_config.y_res):
        raise DatasetError(
            f"{source}: images are {first.width}x{first.height} but {MEL_CONFIG_NAME} says "
            f"x_res={mel_config.x_res}, y_res={mel_config.y_res}"
        )
    bits = int(metadata["bits"]) if metadata and "bits" in metadata else first_bits
    if bits != first_bits:
        raise DatasetError(f"{source}: {DATASET_METADATA_NAME} says {bits}-bit but the first image is {first_bits}-bit")
    genres = metadata.get("genres") if metadata else None
    if genres is None and isinstance(dataset.features.get("genre"), ClassLabel):
        genres = list(dataset.features["genre"].names)
    return SpectrogramDataset(dataset=dataset, mel_config=mel_config, genres=genres, bits=bits, source=source)


# --- writing a dataset folder (prepare and merge) --------------------------------------------------------------------
_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_SIZE_UNITS.update({"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40})


def parse_size(value: str | int | None) -> int | None:
    """A file size: bytes as an int, or a whole number with a unit ("500MB", "2GiB"); None stays None.

    Raises DatasetError (naming --max-shard-size) for anything else, before any work is done."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]I?B|B)?\s*", str(value), flags=re.IGNORECASE)
    if not match or int(match.group(1)) == 0:
        raise DatasetError(f"--max-shard-size must be a positive whole number of bytes or e.g. 500MB, got {value!r}")
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").upper()]


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output that is a file, or a non-empty folder that is not an audiodiff dataset folder."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetError(f"{out_dir}: exists and is not a folder")
    # The lock file of `utils.output_lock` is left behind by every run (never removed: see there), so a folder holding
    # only it is as empty as a new one.
    if out_dir.is_dir() and any(entry.name != LOCK_NAME for entry in out_dir.iterdir()):
        if not ((out_dir / DATASET_METADATA_NAME).is_file() or (out_dir / WORK_DIR_NAME).is_dir()):
            raise DatasetError(f"{out_dir}: exists and is not an audiodiff dataset folder; choose a new or empty one")


def save_dataset_files(dataset, out_dir: Path, max_shard_size: str | int | None, num_shards: int | None) -> None:
    """`save_to_disk` into a fresh folder, then swap it in for DIR's previous dataset files (DIR's other files stay)."""
    from datasets.utils import disable_progress_bars, enable_progress_bars, is_progress_bar_enabled

    fresh = out_dir / WORK_DIR_NAME / "dataset"
    if fresh.exists():
        shutil.rmtree(fresh)
    was_enabled = is_progress_bar_enabled()
    disable_progress_bars()
    try:
        dataset.save_to_disk(str(fresh), max_shard_size=None if num_shards else max_shard_size, num_shards=num_shards)
    finally:
        if was_enabled:
            enable_progress_bars()
    for old in out_dir.iterdir():
        if old.name in (*SAVED_DATASET_MARKERS, "dataset_info.json") or re.fullmatch(
            r"data-\d+-of-\d+\.arrow", old.name
        ):
            old.unlink()
    for new in fresh.iterdir():
        os.replace(new, out_dir / new.name)
    fresh.rmdir()


def write_metadata(out_dir: Path, metadata: dict[str, Any]) -> None:
    """Write DIR/audiodiff_dataset.json atomically."""
    with atomic_file(out_dir / DATASET_METADATA_NAME) as temporary:
        temporary.write_text(json.dumps(metadata, indent=2) + "\n")


def record_license(folder: str | os.PathLike, licence: str) -> None:
    """Record the music's licence (a hub licence id, e.g. `cc-by-sa-4.0`) in DIR/audiodiff_dataset.json, where the
    cards of the dataset and of the models trained on it (`audiodiff.cards`) read it."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    if metadata is None:
        raise DatasetError(f"{folder}: no {DATASET_METADATA_NAME}, so no licence can be recorded")
    write_metadata(folder, {**metadata, "license": licence})
