"""Spectrogram datasets: preparing them from a music collection, and loading them for training.

A prepared dataset is a folder DIR:

    data-0000x-of-0000n.arrow, state.json, dataset_info.json   a `datasets.Dataset` (`save_to_disk`, sharded)
    mel_config.json                                             the codec settings (reference `Mel` format)
    audiodiff_dataset.json                                      bit depth, genre names, settings and summary
    contact_sheet.png                                           optional: a grid of slices labelled with genre
    .prepare-work/parts/<ab>/<key>.arrow                        one finished source file each (resume cache)

Columns, one row per slice (the reference's first three, then ours):

    image               datasets Image: PNG of `(y_res, x_res)` pixels, mode "L" (8-bit) or "I;16" (16-bit)
    audio_file          str, the source file as found (folder joined with the relative path), or a row's name
    slice               int32, slice i covers samples [i * slice_size, (i + 1) * slice_size) at the codec rate
    genre               ClassLabel, only when genres are known (`--genre` / `--genre-from`)
    source_sample_rate  int32, the file's own sample rate before resampling
    loudness_db         float32, RMS level of the slice in dBFS (mono, at the codec sample rate)

Preparation works file by file: each source file is decoded, resampled, cut into slices, encoded in batches by
`SpectrogramCodec` and written as one small Arrow "part" named by a key of (real path, size, mtime, settings), or
(dataset fingerprint, row, settings) for dataset rows. Parts are written atomically, so a run that is killed
keeps every finished file; the next run reuses them and only assembles. The final dataset is always rebuilt from
the parts of the current sources, in source order, so a re-run never adds a row twice.

Loading (`load_spectrogram_dataset`) accepts our folders, folders made by audio-diffusion's `audio_to_images.py`
(columns image, audio_file, slice; no mel_config.json), and hub ids.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from audiodiff.audio import AUDIO_EXTENSIONS, AudioError, load_audio, slice_audio
from audiodiff.codec import SpectrogramCodec, levels_for, pil_to_pixels, pixels_to_model, pixels_to_pil
from audiodiff.config import MEL_CONFIG_NAME, MelConfig
from audiodiff.figures import contact_sheet, write_contact_sheet  # noqa: F401 - their old home; figures.py draws
from audiodiff.utils import SAVED_DATASET_MARKERS, atomic_file, first_line, is_hub_id, is_saved_dataset

logger = logging.getLogger(__name__)

METADATA_NAME = "audiodiff_dataset.json"
CONTACT_SHEET_NAME = "contact_sheet.png"
WORK_DIR_NAME = ".prepare-work"
FORMAT_NAME = "audiodiff-spectrograms"
FORMAT_VERSION = 1
# Bump when the bytes a part holds change for the same settings, so old parts are not reused.
PART_VERSION = 1
DEFAULT_MIN_LOUDNESS_DB = -60.0
DEFAULT_MAX_SHARD_SIZE = "500MB"
# Formats people keep music in that libsndfile cannot read: reported as skipped instead of silently ignored.
UNSUPPORTED_AUDIO_EXTENSIONS = (".m4a", ".aac", ".wma", ".mp4", ".alac", ".ape")
FILE_LIST_EXTENSIONS = (".txt", ".lst", ".m3u", ".m3u8")
_SILENCE_FLOOR_DB = -200.0
_DATA_FILE_EXTENSIONS = (".parquet", ".arrow", ".jsonl", ".json", ".csv")


class DatasetError(ValueError):
    """A dataset or source cannot be used; `str(error)` is one line naming it and the problem."""


# ======================================================================================================================
# Loading
# ======================================================================================================================
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


def _open_dataset(source: str, split: str):
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
    if not is_hub_id(source, owner_required=False) or _kind(path) is not None:
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
    path = Path(folder) / METADATA_NAME
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
    dataset, folder = _open_dataset(source, split)
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
        metadata_path = _hub_file(source, METADATA_NAME)
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
        raise DatasetError(f"{source}: {METADATA_NAME} says {bits}-bit but the first image is {first_bits}-bit")
    genres = metadata.get("genres") if metadata else None
    if genres is None and isinstance(dataset.features.get("genre"), ClassLabel):
        genres = list(dataset.features["genre"].names)
    return SpectrogramDataset(dataset=dataset, mel_config=mel_config, genres=genres, bits=bits, source=source)


# ======================================================================================================================
# Sources: what to prepare
# ======================================================================================================================
@dataclasses.dataclass(frozen=True)
class SourceItem:
    """One track to prepare: a file on disk (`path`) or a row of a dataset source (`dataset`, `row`).

    audio_file: the name stored in the dataset. shard_key: what `--shard i/n` hashes (stable across machines:
    the path relative to its folder source). skip_reason: set when the item is known unusable before reading it.
    """

    audio_file: str
    genre: str | None = None
    path: str | None = None
    dataset: int | None = None
    row: int | None = None
    shard_key: str = ""
    skip_reason: str | None = None


@dataclasses.dataclass
class _DatasetSource:
    name: str
    dataset: Any  # datasets.Dataset holding only the audio column, cast to Audio(decode=False)
    audio_column: str
    fingerprint: str
    split: str


@dataclasses.dataclass
class SourceListing:
    """Everything `prepare_dataset` will look at: items in output order, genre names, opened dataset sources."""

    items: list[SourceItem]
    genres: list[str] | None
    datasets: list[_DatasetSource]


def parse_genre_from(value: str | None) -> tuple[str, str | None] | None:
    """`"folder"` -> ("folder", None); `"column:NAME"` -> ("column", NAME); None -> None."""
    if value is None:
        return None
    if value == "folder":
        return ("folder", None)
    if value.startswith("column:") and value[len("column:") :]:
        return ("column", value[len("column:") :])
    raise DatasetError(f"--genre-from must be 'folder' or 'column:NAME', got {value!r}")


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """`"i/n"` -> (i, n) with 0 <= i < n."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise DatasetError(f"--shard must be i/n with 0 <= i < n (e.g. 0/4), got {value!r}")
    return int(match.group(1)), int(match.group(2))


def in_shard(key: str, shard: tuple[int, int] | None) -> bool:
    """Whether `key` belongs to shard (i, n): a hash of the key, so every machine agrees without coordination."""
    if shard is None:
        return True
    return int(hashlib.sha1(key.encode()).hexdigest()[:12], 16) % shard[1] == shard[0]


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    if suffix in UNSUPPORTED_AUDIO_EXTENSIONS:
        return "unsupported"
    return None


def _unsupported_reason(path: str) -> str:
    return f"unsupported format {Path(path).suffix.lower()} (libsndfile cannot read it; convert it to FLAC or WAV)"


def _walk_audio(root: Path) -> list[Path]:
    """Audio (and unsupported audio) files under `root`, sorted, skipping hidden folders such as our work folder."""
    found = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            if _kind(Path(name)) is not None:
                found.append(Path(folder) / name)
    return found


def _looks_like_data_folder(path: Path) -> bool:
    return any(
        candidate.suffix.lower() in _DATA_FILE_EXTENSIONS for candidate in path.rglob("*") if candidate.is_file()
    )


def _read_file_list(list_path: Path) -> list[tuple[str, str]]:
    """(line, path) for each path listed one per line (blank lines and # comments skipped); relative paths are
    relative to the list's folder. The line as written is the shard key: the same list sharded on machines that
    keep it in different places still splits the same way."""
    try:
        lines = list_path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{list_path}: cannot read the file list ({first_line(error)})") from None
    paths = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        paths.append((line, line if os.path.isabs(line) else str(list_path.parent / line)))
    return paths


def _file_item(path: str, shard_key: str, genre_mode, genre: str | None, root: Path | None) -> SourceItem:
    if genre_mode is not None and genre_mode[0] == "folder":
        if root is not None:
            parts = Path(path).relative_to(root).parts
            genre = parts[0] if len(parts) > 1 else None
            missing = f"not in a genre sub-folder of {root}"
        else:
            genre = Path(path).parent.name or None
            missing = "no parent folder to take the genre from"
    else:
        missing = None
    skip = _unsupported_reason(path) if _kind(Path(path)) == "unsupported" else None
    if skip is None and genre_mode is not None and genre_mode[0] == "folder" and genre is None:
        skip = missing
    return SourceItem(audio_file=path, genre=genre, path=path, shard_key=shard_key, skip_reason=skip)


def _open_audio_dataset(source: str, split: str, audio_column: str | None) -> tuple[_DatasetSource, Any]:
    """Open a dataset source; returns our handle (audio column only, undecoded) and the full dataset."""
    from datasets import Audio, Value

    dataset, _ = _open_dataset(source, split)
    if audio_column is None:
        candidates = [name for name, feature in dataset.features.items() if isinstance(feature, Audio)]
        if not candidates and "audio" in dataset.column_names:
            candidates = ["audio"]
        if len(candidates) != 1:
            found = ", ".join(candidates) if candidates else "none"
            raise DatasetError(f"{source}: cannot tell the audio column (Audio columns: {found}); use --audio-column")
        audio_column = candidates[0]
    if audio_column not in dataset.column_names:
        raise DatasetError(f"{source}: no column {audio_column!r} (columns: {', '.join(dataset.column_names)})")
    feature = dataset.features[audio_column]
    audio_only = dataset.select_columns([audio_column])
    if isinstance(feature, Value) and feature.dtype in ("string", "large_string"):
        pass  # a column of file paths: read as they are
    else:
        try:
            audio_only = audio_only.cast_column(audio_column, Audio(decode=False))
        except Exception as error:
            raise DatasetError(
                f"{source}: column {audio_column!r} is not audio ({type(feature).__name__}: {first_line(error)})"
            ) from None
    handle = _DatasetSource(source, audio_only, audio_column, dataset._fingerprint, split)
    return handle, dataset


def _dataset_items(handle: _DatasetSource, index: int, full, genre_mode, genre: str | None) -> list[SourceItem]:
    """Items of a dataset source; audio_file is the row's own path when it has a unique one, else `source[row]`."""
    import pyarrow as pa
    import pyarrow.compute as compute
    from datasets import ClassLabel

    column = handle.dataset.with_format("arrow")[handle.audio_column]
    if pa.types.is_struct(column.type):
        paths = compute.struct_field(column, "path").to_pylist()
    else:
        paths = column.to_pylist()
    counts: dict[str, int] = {}
    for path in paths:
        if path:
            counts[path] = counts.get(path, 0) + 1
    genres: list[str | None] = [genre] * len(paths)
    if genre_mode is not None and genre_mode[0] == "column":
        name = genre_mode[1]
        if name not in full.column_names:
            raise DatasetError(f"{handle.name}: no genre column {name!r} (columns: {', '.join(full.column_names)})")
        values = full.with_format("arrow")[name].to_pylist()
        feature = full.features[name]
        if isinstance(feature, ClassLabel):
            genres = [None if value is None or value < 0 else feature.int2str(value) for value in values]
        else:
            genres = [None if value is None or str(value) == "" else str(value) for value in values]
    elif genre_mode is not None and genre_mode[0] == "folder":
        raise DatasetError(f"{handle.name}: --genre-from folder needs a folder source; use --genre-from column:NAME")
    items = []
    for row, path in enumerate(paths):
        audio_file = path if path and counts[path] == 1 else f"{handle.name}[{row}]"
        skip = "no genre in the genre column" if genre_mode is not None and genres[row] is None else None
        items.append(
            SourceItem(
                audio_file=audio_file,
                genre=genres[row],
                dataset=index,
                row=row,
                shard_key=f"{handle.name}[{row}]",
                skip_reason=skip,
            )
        )
    return items


def list_sources(
    sources: Sequence[str | os.PathLike],
    genre: str | None = None,
    genre_from: str | None = None,
    split: str = "train",
    audio_column: str | None = None,
    shard: tuple[int, int] | None = None,
) -> SourceListing:
    """Resolve SOURCE arguments into items, in a fixed order (sources as given, folders sorted, rows in order).

    Each source is a folder (searched recursively), an audio file, a file list (.txt/.lst/.m3u: one path a line),
    a `save_to_disk` dataset folder, a folder of data files (parquet, ...) or a hub id with an audio column.
    Genre names (ClassLabel order) are the sorted genres of all items before sharding, so that every shard of a
    multi-machine run agrees on the label ids.
    """
    if genre is not None and genre_from is not None:
        raise DatasetError("use either --genre or --genre-from, not both")
    genre_mode = parse_genre_from(genre_from)
    if not sources:
        raise DatasetError("no sources given")
    items: list[SourceItem] = []
    handles: list[_DatasetSource] = []
    seen: set[str] = set()

    def add_file(path: str, shard_key: str, root: Path | None) -> None:
        real = os.path.realpath(path)
        if real in seen:  # the same file reached twice (listed and inside a folder): one copy only
            return
        seen.add(real)
        items.append(_file_item(path, shard_key, genre_mode, genre, root))

    for source in map(str, sources):
        path = Path(source)
        if path.is_dir() and not is_saved_dataset(path):
            files = _walk_audio(path)
            if files:
                if genre_mode is not None and genre_mode[0] == "column":
                    raise DatasetError(f"{source}: --genre-from column:NAME needs a dataset source, this is a folder")
                for file in files:
                    add_file(os.path.join(source, str(file.relative_to(path))), file.relative_to(path).as_posix(), path)
                continue
            if not _looks_like_data_folder(path):
                raise DatasetError(f"{source}: no audio files in this folder")
        elif path.is_file():
            if path.suffix.lower() in FILE_LIST_EXTENSIONS:
                for line, listed in _read_file_list(path):
                    add_file(listed, line, None)
                continue
            if _kind(path) is None:
                raise DatasetError(
                    f"{source}: not an audio file ({', '.join(AUDIO_EXTENSIONS)}), a file list "
                    f"({', '.join(FILE_LIST_EXTENSIONS)}) or a folder"
                )
            if genre_mode is not None and genre_mode[0] == "column":
                raise DatasetError(f"{source}: --genre-from column:NAME needs a dataset source, this is a file")
            add_file(source, source, None)
            continue
        handle, full = _open_audio_dataset(source, split, audio_column)
        items.extend(_dataset_items(handle, len(handles), full, genre_mode, genre))
        handles.append(handle)
    genres: list[str] | None = None
    if genre is not None:
        genres = [genre]
    elif genre_mode is not None:
        genres = sorted({item.genre for item in items if item.genre is not None})
    items = [item for item in items if in_shard(item.shard_key, shard)]
    return SourceListing(items=items, genres=genres, datasets=handles)


# ======================================================================================================================
# Encoding one track
# ======================================================================================================================
@dataclasses.dataclass(frozen=True)
class EncodeSettings:
    """How a track becomes rows. A slice is kept when its RMS level is at least `min_loudness_db` dBFS and its image
    is not uniform (the reference's "completely silent" test). `pad_short` zero-pads a track shorter than one slice
    to one slice (the reference's behaviour) instead of skipping it as too short."""

    mel_config: MelConfig
    bits: int = 8
    min_loudness_db: float = DEFAULT_MIN_LOUDNESS_DB
    pad_short: bool = False
    batch_size: int = 64

    def __post_init__(self) -> None:
        levels_for(self.bits)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")

    def fingerprint(self) -> str:
        """Hash of everything that changes the rows of a track (not the batch size)."""
        settings = {
            "mel": self.mel_config.to_dict(),
            "bits": self.bits,
            "min_loudness_db": float(self.min_loudness_db),
            "pad_short": self.pad_short,
            "part_version": PART_VERSION,
        }
        return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def slice_loudness_db(slices: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of each `(num_slices, slice_size)` slice -> `(num_slices,)`; digital silence is -200."""
    mean_square = np.mean(np.square(slices, dtype=np.float64), axis=-1)
    return np.maximum(10.0 * np.log10(np.maximum(mean_square, 1e-30)), _SILENCE_FLOOR_DB).astype(np.float32)


def png_bytes(pixels: np.ndarray, bits: int) -> bytes:
    """`(height, width)` integer pixels -> PNG file bytes (8-bit "L" or 16-bit "I;16")."""
    with io.BytesIO() as buffer:
        pixels_to_pil(pixels, bits).save(buffer, format="PNG")
        return buffer.getvalue()


def encode_track(audio: np.ndarray, codec: SpectrogramCodec, settings: EncodeSettings) -> dict[str, Any]:
    """Slice and encode one `(time,)` track at the codec's sample rate.

    Returns `slice` (int list), `image` (PNG bytes list), `loudness_db` (float list) for the kept slices, and
    `total` / `silent` slice counts. The trailing partial slice is dropped, as in the reference.
    """
    slices = slice_audio(audio, settings.mel_config.slice_size, pad_short=settings.pad_short)
    loudness = slice_loudness_db(slices) if len(slices) else np.zeros(0, dtype=np.float32)
    rows: dict[str, Any] = {"slice": [], "image": [], "loudness_db": [], "total": len(slices), "silent": 0}
    for start in range(0, len(slices), settings.batch_size):
        batch = torch.from_numpy(slices[start : start + settings.batch_size])
        with torch.no_grad():
            pixels = codec.audio_to_pixels(batch, settings.bits).cpu()
        # Digital silence encodes as a uniform image (all pixels at the maximum): the reference's silence test.
        uniform = pixels.amin(dim=(-2, -1)) == pixels.amax(dim=(-2, -1))
        for offset, image in enumerate(pixels.numpy()):
            index = start + offset
            if uniform[offset] or loudness[index] < settings.min_loudness_db:
                rows["silent"] += 1
                continue
            rows["slice"].append(index)
            rows["image"].append(png_bytes(image, settings.bits))
            rows["loudness_db"].append(float(loudness[index]))
    return rows


# ======================================================================================================================
# The work folder: one atomic part per finished track
# ======================================================================================================================
def _part_schema(record: dict[str, Any]):
    import pyarrow as pa

    return pa.schema(
        [("slice", pa.int32()), ("image", pa.binary()), ("loudness_db", pa.float32())],
        metadata={b"audiodiff": json.dumps(record).encode()},
    )


def write_part(path: Path, rows: dict[str, Any], record: dict[str, Any]) -> None:
    """Write a part (the kept rows + the track's record in the schema metadata) atomically: temp file, rename."""
    import pyarrow as pa

    path.parent.mkdir(parents=True, exist_ok=True)
    schema = _part_schema(record)
    table = pa.table(
        {
            "slice": pa.array(rows.get("slice", []), pa.int32()),
            "image": pa.array(rows.get("image", []), pa.binary()),
            "loudness_db": pa.array(rows.get("loudness_db", []), pa.float32()),
        },
        schema=schema,
    )
    with atomic_file(path) as temporary, pa.OSFile(str(temporary), "wb") as sink:
        with pa.ipc.new_stream(sink, schema) as writer:
            writer.write_table(table)


def read_part_record(path: Path) -> dict[str, Any] | None:
    """The record of a finished part, or None when it is missing or unreadable (then the track is redone)."""
    import pyarrow as pa

    try:
        with pa.OSFile(str(path), "rb") as source:
            metadata = pa.ipc.open_stream(source).schema.metadata or {}
        return json.loads(metadata[b"audiodiff"])
    except (OSError, KeyError, ValueError, pa.ArrowInvalid):
        return None


def read_part_table(path: Path):
    import pyarrow as pa

    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_stream(source).read_all()


def _item_key(item: SourceItem, handles: list[_DatasetSource], settings_fingerprint: str) -> str:
    """Cache key: real path, size and mtime of a file (so an edited file is redone), or dataset fingerprint + row."""
    if item.path is not None:
        status = os.stat(item.path)
        identity = ["file", os.path.realpath(item.path), status.st_size, status.st_mtime_ns]
    else:
        handle = handles[item.dataset]
        identity = ["row", handle.fingerprint, handle.split, item.row]
    return hashlib.sha1(json.dumps([identity, settings_fingerprint]).encode()).hexdigest()


def _part_path(work: Path, key: str) -> Path:
    return work / "parts" / key[:2] / f"{key}.arrow"


# --- the per-track task, run in worker processes (or inline) ----------------------------------------------------------
_CODECS: dict[MelConfig, SpectrogramCodec] = {}


def _encoder_only_vocoder(mel_power: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    raise RuntimeError("the preparation codec only encodes")


def _codec(config: MelConfig) -> SpectrogramCodec:
    """An encode-only codec, one per process: the default Griffin-Lim vocoder's set-up (a pseudo-inverse) costs
    seconds on a busy CPU and preparation never decodes."""
    if config not in _CODECS:
        _CODECS.clear()
        _CODECS[config] = SpectrogramCodec(config, vocoder=_encoder_only_vocoder)
    return _CODECS[config]


def _warm_up(config: MelConfig) -> None:
    """Pay one-time costs (lazy imports of the resampler, the codec) in the parent, so forked workers inherit them
    instead of each paying them again."""
    import librosa

    librosa.resample(np.zeros(256, dtype=np.float32), orig_sr=44100, target_sr=config.sample_rate, res_type="soxr_hq")
    _codec(config)


def _init_worker() -> None:
    # Each worker is one process on one core: torch's own threads would only fight the other workers.
    torch.set_num_threads(1)


def _source_info(source: str | bytes) -> tuple[int, int]:
    import soundfile

    info = soundfile.info(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    return int(info.samplerate), int(info.channels)


def process_track(name: str, source: str | bytes, part_path: Path, settings: EncodeSettings) -> dict[str, Any]:
    """Decode, resample, slice and encode one track and write its part. Returns its record.

    Record: status "ok" (rows written), "silent" (every slice below the threshold), "too_short" (under one slice)
    (these three are cached in the part), or "failed" (unreadable; not cached, retried on the next run); reason,
    seconds (decoded length at the codec rate), source_sample_rate, channels, slices (kept), silent_slices.
    """
    config = settings.mel_config
    try:
        audio = load_audio(source, config.sample_rate, name=name)
        source_rate, channels = _source_info(source)
    except AudioError as error:
        return {"status": "failed", "reason": error.reason}
    except Exception as error:  # a decoder bug or memory error on one file must not stop a long run
        return {"status": "failed", "reason": f"error while decoding ({type(error).__name__}: {first_line(error)})"}
    seconds = len(audio) / config.sample_rate
    record: dict[str, Any] = {
        "status": "ok",
        "reason": None,
        "seconds": seconds,
        "source_sample_rate": source_rate,
        "channels": channels,
        "slices": 0,
        "silent_slices": 0,
    }
    if len(audio) < config.slice_size and not settings.pad_short:
        record.update(
            status="too_short",
            reason=f"too short ({seconds:.2f} s; one slice is {config.slice_seconds:.2f} s)",
        )
        write_part(part_path, {}, record)
        return record
    rows = encode_track(audio, _codec(config), settings)
    record.update(slices=len(rows["slice"]), silent_slices=rows["silent"])
    if not rows["slice"]:
        record.update(
            status="silent",
            reason=f"silent (all {rows['total']} slice(s) below {settings.min_loudness_db:g} dBFS RMS)",
        )
    write_part(part_path, rows, record)
    return record


def _run_task(task: tuple) -> tuple[int, dict[str, Any]]:
    index, name, source, part_path, settings = task
    return index, process_track(name, source, Path(part_path), settings)


# ======================================================================================================================
# Preparing
# ======================================================================================================================
@dataclasses.dataclass
class PrepareSummary:
    """What a preparation did. `skipped` holds (audio_file, reason) for every track not in the dataset."""

    out_dir: str
    files_found: int = 0
    files_read: int = 0
    files_reused: int = 0
    slices_written: int = 0
    silent_slices: int = 0
    seconds_read: float = 0.0
    seconds_in_dataset: float = 0.0
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    genres: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    shard: str | None = None

    @property
    def failed(self) -> list[tuple[str, str]]:
        """Skipped because unreadable (corrupt, empty, missing, unsupported), not because short or silent."""
        return [(name, reason) for name, reason in self.skipped if not reason.startswith(("too short", "silent"))]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["skipped"] = [{"audio_file": name, "reason": reason} for name, reason in self.skipped]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrepareSummary:
        data = dict(data)
        data["skipped"] = [(entry["audio_file"], entry["reason"]) for entry in data.get("skipped", [])]
        fields = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in fields})

    def lines(self) -> list[str]:
        """A human summary, one fact per line."""
        skipped_kinds: dict[str, int] = {}
        for _, reason in self.skipped:
            kind = re.split(r"[(:]", reason, maxsplit=1)[0].strip()
            skipped_kinds[kind] = skipped_kinds.get(kind, 0) + 1
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(skipped_kinds.items()))
        used = self.files_found - len(self.skipped)
        out = [
            f"files:   {self.files_found} found: {used} in the dataset, {len(self.skipped)} skipped"
            + (f" ({kinds})" if kinds else ""),
            f"read:    {self.files_read} files decoded, {self.seconds_read / 3600:.3f} h of audio"
            + (f" ({self.files_reused} reused from a previous run)" if self.files_reused else ""),
            f"slices:  {self.slices_written} written ({self.seconds_in_dataset / 3600:.3f} h), "
            f"{self.silent_slices} silent skipped",
        ]
        for name, counts in sorted(self.genres.items()):
            out.append(f"genre:   {name}: {counts['files']} files, {counts['slices']} slices")
        if self.shard:
            out.append(f"shard:   {self.shard}")
        for name, reason in self.skipped:
            out.append(f"skipped: {name}: {reason}")
        return out


def default_num_proc() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not ((out_dir / METADATA_NAME).is_file() or (out_dir / WORK_DIR_NAME).is_dir()):
            raise DatasetError(f"{out_dir}: exists and is not an audiodiff dataset folder; choose a new or empty one")


def _task_source(item: SourceItem, handles: list[_DatasetSource]) -> str | bytes | None:
    """What to decode: the file path, or a dataset row's bytes (or its path when the row holds only a path)."""
    if item.path is not None:
        return item.path
    handle = handles[item.dataset]
    value = handle.dataset[item.row][handle.audio_column]
    if isinstance(value, str):
        return value
    if value is None:
        return None
    return value.get("bytes") or value.get("path")


def _run_tracks(
    todo: list[tuple[int, SourceItem, Path]],
    handles: list[_DatasetSource],
    settings: EncodeSettings,
    num_proc: int,
    done: Callable[[int, dict[str, Any]], None],
) -> None:
    """Process `todo` (item index, item, part path) inline or in `num_proc` worker processes; calls `done` per track.

    At most a few tasks per worker are in flight, so a dataset source's audio bytes are read only shortly before
    they are needed.
    """

    def tasks() -> Iterator[tuple]:
        for index, item, part in todo:
            source = _task_source(item, handles)
            if source is None:
                done(index, {"status": "failed", "reason": "the row holds no audio (no bytes and no path)"})
                continue
            yield (index, item.audio_file, source, str(part), settings)

    if num_proc <= 1 or len(todo) <= 1:
        for task in tasks():
            done(*_run_task(task))
        return
    # fork shares the already imported torch/librosa with the workers (spawn would re-import them: seconds each).
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    if method == "fork":
        _warm_up(settings.mel_config)
    context = multiprocessing.get_context(method)
    pending: set[concurrent.futures.Future] = set()
    feed = tasks()
    with concurrent.futures.ProcessPoolExecutor(num_proc, mp_context=context, initializer=_init_worker) as pool:
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < num_proc * 3:
                    task = next(feed, None)
                    if task is None:
                        exhausted = True
                        break
                    pending.add(pool.submit(_run_task, task))
                if not pending:
                    break
                finished, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in finished:
                    done(*future.result())
        except concurrent.futures.process.BrokenProcessPool:
            raise DatasetError(
                "a worker process died (out of memory, or a crash in a decoder); finished files are kept: "
                "run the same command again to resume, with a smaller --num-proc if memory is short"
            ) from None
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _features(genres: list[str] | None):
    from datasets import ClassLabel, Features, Value
    from datasets import Image as ImageFeature

    columns: dict[str, Any] = {"image": ImageFeature(), "audio_file": Value("string"), "slice": Value("int32")}
    if genres is not None:
        columns["genre"] = ClassLabel(names=list(genres))
    columns["source_sample_rate"] = Value("int32")
    columns["loudness_db"] = Value("float32")
    return Features(columns)


def _assemble(parts: list[tuple[SourceItem, Path, dict[str, Any]]], genres: list[str] | None, target: Path) -> int:
    """Stream the kept rows of `parts` (in order) into one Arrow file of the final features. Returns rows written."""
    import pyarrow as pa

    features = _features(genres)
    schema = features.arrow_schema
    label = {name: index for index, name in enumerate(genres or [])}
    written = 0
    with pa.OSFile(str(target), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for item, part, record in parts:
            if record["status"] != "ok":
                continue
            table = read_part_table(part)
            count = table.num_rows
            columns = {
                "image": pa.StructArray.from_arrays(
                    [table["image"].combine_chunks(), pa.nulls(count, pa.string())], names=["bytes", "path"]
                ),
                "audio_file": pa.array([item.audio_file] * count, pa.string()),
                "slice": table["slice"].combine_chunks(),
            }
            if genres is not None:
                columns["genre"] = pa.array([label[item.genre]] * count, pa.int64())
            columns["source_sample_rate"] = pa.array([record["source_sample_rate"]] * count, pa.int32())
            columns["loudness_db"] = table["loudness_db"].combine_chunks()
            writer.write_table(pa.table(columns, schema=schema))
            written += count
    return written


def _save_dataset(dataset, out_dir: Path, max_shard_size: str | int | None, num_shards: int | None) -> None:
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


def _write_metadata(out_dir: Path, metadata: dict[str, Any]) -> None:
    with atomic_file(out_dir / METADATA_NAME) as temporary:
        temporary.write_text(json.dumps(metadata, indent=2) + "\n")


def _metadata(
    settings: EncodeSettings, genres: list[str] | None, sources: list[str], summary: PrepareSummary
) -> dict[str, Any]:
    from audiodiff import __version__

    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "audiodiff_version": __version__,
        "bits": settings.bits,
        "genres": genres,
        "min_loudness_db": settings.min_loudness_db,
        "loudness": "RMS level of each mono slice at the codec sample rate, in dBFS",
        "pad_short": settings.pad_short,
        "sources": sources,
        "summary": summary.to_dict(),
    }


def prepare_dataset(
    sources: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    mel_config: MelConfig | None = None,
    *,
    genre: str | None = None,
    genre_from: str | None = None,
    bits: int = 8,
    num_proc: int | None = None,
    min_loudness_db: float | None = DEFAULT_MIN_LOUDNESS_DB,
    pad_short: bool = False,
    split: str = "train",
    audio_column: str | None = None,
    shard: str | tuple[int, int] | None = None,
    max_shard_size: str | int | None = DEFAULT_MAX_SHARD_SIZE,
    num_shards: int | None = None,
    keep_work: bool = True,
    progress: bool = True,
    on_track: Callable[[SourceItem, dict[str, Any], bool], None] | None = None,
) -> PrepareSummary:
    """Turn music into a spectrogram dataset in `out_dir` (see the module docstring for the layout and columns).

    sources: folders, audio files, file lists, dataset folders or hub ids (`list_sources`). genre / genre_from:
    one label for everything, or "folder" (first sub-folder of a folder source) / "column:NAME" (a dataset column).
    num_proc: worker processes (default: the usable cores). min_loudness_db: quieter slices are skipped (None keeps
    all but digitally silent ones). shard: "i/n" prepares only the i-th of n hash-shards of the items (for
    multi-machine runs; merge the outputs with `merge_datasets`). on_track(item, record, reused) is called after
    each track, in the calling process.

    Finished tracks are kept in DIR/.prepare-work and reused by the next run with the same settings (resume after
    an interruption, instant re-runs); `keep_work=False` deletes that folder after a successful run.
    Raises `DatasetError` when no slice at all could be written.
    """
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    shard = parse_shard(shard) if isinstance(shard, str) else shard
    settings = EncodeSettings(
        mel_config=mel_config or MelConfig(),
        bits=bits,
        min_loudness_db=-math.inf if min_loudness_db is None else float(min_loudness_db),
        pad_short=pad_short,
    )
    listing = list_sources(sources, genre, genre_from, split, audio_column, shard)
    work = out_dir / WORK_DIR_NAME
    work.mkdir(parents=True, exist_ok=True)
    fingerprint = settings.fingerprint()
    summary = PrepareSummary(
        out_dir=str(out_dir), files_found=len(listing.items), shard=f"{shard[0]}/{shard[1]}" if shard else None
    )
    records: list[dict[str, Any] | None] = [None] * len(listing.items)
    part_paths: list[Path | None] = [None] * len(listing.items)
    reused: list[bool] = [False] * len(listing.items)
    todo: list[tuple[int, SourceItem, Path]] = []
    for index, item in enumerate(listing.items):
        if item.skip_reason is not None:
            records[index] = {"status": "failed", "reason": item.skip_reason}
            continue
        try:
            key = _item_key(item, listing.datasets, fingerprint)
        except OSError as error:
            records[index] = {"status": "failed", "reason": f"cannot read the file ({error.strerror or error})"}
            continue
        part_paths[index] = _part_path(work, key)
        record = read_part_record(part_paths[index]) if part_paths[index].is_file() else None
        if record is not None:
            records[index], reused[index] = record, True
        else:
            todo.append((index, item, part_paths[index]))

    from tqdm import tqdm

    bar = tqdm(
        total=len(listing.items),
        initial=len(listing.items) - len(todo),
        unit="file",
        desc="prepare",
        disable=not progress,
        dynamic_ncols=True,
    )
    slices_so_far = 0

    def report(index: int, record: dict[str, Any], was_reused: bool) -> None:
        nonlocal slices_so_far
        slices_so_far += record.get("slices", 0) or 0
        if record["status"] != "ok" and progress:
            tqdm.write(f"skipped {listing.items[index].audio_file}: {record['reason']}", file=sys.stderr)
        if on_track is not None:
            on_track(listing.items[index], record, was_reused)

    for index, record in enumerate(records):
        if record is not None:
            report(index, record, reused[index])
    bar.set_postfix(slices=slices_so_far)

    def done(index: int, record: dict[str, Any]) -> None:
        records[index] = record
        report(index, record, False)
        bar.update(1)
        bar.set_postfix(slices=slices_so_far)

    workers = num_proc if num_proc is not None else default_num_proc()
    try:
        _run_tracks(todo, listing.datasets, settings, max(1, workers), done)
    finally:
        bar.close()

    parts = []
    for index, item in enumerate(listing.items):
        record = records[index]
        if record["status"] != "ok":
            summary.skipped.append((item.audio_file, record["reason"]))
        if record["status"] == "failed":
            continue
        summary.files_read += 1
        summary.files_reused += int(reused[index])
        summary.seconds_read += record["seconds"]
        summary.silent_slices += record.get("silent_slices", 0)
        if record["status"] == "ok":
            summary.slices_written += record["slices"]
            if item.genre is not None:
                counts = summary.genres.setdefault(item.genre, {"files": 0, "slices": 0})
                counts["files"] += 1
                counts["slices"] += record["slices"]
        parts.append((item, part_paths[index], record))
    summary.seconds_in_dataset = summary.slices_written * settings.mel_config.slice_seconds
    if summary.slices_written == 0:
        raise DatasetError(
            f"{out_dir}: no slices to write: {len(listing.items)} file(s) found, all skipped"
            + (f" (first: {summary.skipped[0][0]}: {summary.skipped[0][1]})" if summary.skipped else "")
        )

    from datasets import Dataset

    assembled = work / "assembled.arrow"
    _assemble(parts, listing.genres, assembled)
    dataset = Dataset.from_file(str(assembled))
    _save_dataset(dataset, out_dir, max_shard_size, num_shards)
    del dataset
    assembled.unlink()
    settings.mel_config.save(out_dir)
    _write_metadata(out_dir, _metadata(settings, listing.genres, [str(source) for source in sources], summary))
    if keep_work:
        _prune_parts(work, {path for path in part_paths if path is not None})
    else:
        shutil.rmtree(work)
    return summary


def _prune_parts(work: Path, keep: set[Path]) -> None:
    """Delete parts of files no longer in the sources (and temp files of killed runs): the cache = this dataset."""
    for path in (work / "parts").glob("*/*"):
        if path not in keep:
            path.unlink(missing_ok=True)


# ======================================================================================================================
# Merging (multi-machine preparation)
# ======================================================================================================================
def merge_datasets(
    sources: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    max_shard_size: str | int | None = DEFAULT_MAX_SHARD_SIZE,
    num_shards: int | None = None,
) -> PrepareSummary:
    """Concatenate datasets made by `prepare_dataset` (e.g. one per `--shard i/n`) into `out_dir`.

    They must share mel settings and bit depth. Genre names are united (sorted) and labels remapped; a row whose
    (audio_file, slice) was already taken from an earlier source is dropped, so overlapping inputs add nothing twice.
    """
    from datasets import ClassLabel, concatenate_datasets

    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    if any(Path(source).resolve() == out_dir.resolve() for source in sources):
        raise DatasetError(f"{out_dir}: the merge output must not be one of its inputs")
    loaded = []
    for source in sources:
        if read_metadata(source) is None:
            raise DatasetError(f"{source}: not a dataset made by audiodiff prepare (no {METADATA_NAME})")
        loaded.append(load_spectrogram_dataset(source))
    if not loaded:
        raise DatasetError("nothing to merge")
    first = loaded[0]
    for other in loaded[1:]:
        if other.mel_config != first.mel_config:
            raise DatasetError(f"{other.source}: mel settings differ from {first.source}")
        if other.bits != first.bits:
            raise DatasetError(f"{other.source}: {other.bits}-bit images but {first.source} has {first.bits}-bit")
        if (other.genres is None) != (first.genres is None):
            raise DatasetError(f"{other.source}: genre labels present in one input and not in {first.source}")
    genres = sorted({name for part in loaded for name in part.genres}) if first.genres is not None else None
    seen: set[tuple[str, int]] = set()
    pieces = []
    summary = PrepareSummary(out_dir=str(out_dir))
    for part in loaded:
        table = part.dataset.with_format("arrow").select_columns(["audio_file", "slice"])[:]
        keep = []
        for row, key in enumerate(zip(table["audio_file"].to_pylist(), table["slice"].to_pylist())):
            if key not in seen:
                seen.add(key)
                keep.append(row)
        dataset = part.dataset if len(keep) == len(part.dataset) else part.dataset.select(keep)
        if genres is not None and part.genres != genres:
            old = np.asarray(dataset.with_format("arrow")["genre"].to_numpy())
            mapping = np.asarray([genres.index(name) for name in part.genres])
            columns = dataset.column_names
            dataset = dataset.remove_columns("genre").add_column(
                "genre", mapping[old].tolist(), feature=ClassLabel(names=genres)
            )
            dataset = dataset.select_columns(columns)
        pieces.append(dataset)
        other = PrepareSummary.from_dict(read_metadata(part.source)["summary"])
        for name in ("files_found", "files_read", "files_reused", "silent_slices", "seconds_read"):
            setattr(summary, name, getattr(summary, name) + getattr(other, name))
        summary.skipped.extend(other.skipped)
        summary.slices_written += len(keep)
    merged = concatenate_datasets(pieces)
    if genres is not None:
        labels = np.asarray(merged.with_format("arrow")["genre"].to_numpy())
        names = merged.with_format("arrow")["audio_file"].to_pylist()
        for name in genres:
            rows = labels == genres.index(name)
            summary.genres[name] = {"files": len({names[i] for i in np.flatnonzero(rows)}), "slices": int(rows.sum())}
    summary.seconds_in_dataset = summary.slices_written * first.mel_config.slice_seconds
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_dataset(merged, out_dir, max_shard_size, num_shards)
    first.mel_config.save(out_dir)
    base = read_metadata(first.source)
    metadata = {
        **base,
        "genres": genres,
        "sources": [source for part in loaded for source in read_metadata(part.source).get("sources", [])],
        "merged_from": [str(source) for source in sources],
        "summary": summary.to_dict(),
    }
    _write_metadata(out_dir, metadata)
    shutil.rmtree(out_dir / WORK_DIR_NAME, ignore_errors=True)
    return summary
