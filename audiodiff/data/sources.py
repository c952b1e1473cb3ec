"""What to prepare: SOURCE arguments (folders, audio files, file lists, audio datasets, hub ids) resolved into an
ordered list of tracks, with genres (`--genre`, `--genre-from folder|column:NAME`) and hash shards (`--shard i/n`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiodiff.audio import AUDIO_EXTENSIONS, audio_file_kind, unsupported_reason
from audiodiff.data.dataset import DatasetError, open_dataset
from audiodiff.utils import first_line, is_saved_dataset

FILE_LIST_EXTENSIONS = (".txt", ".lst", ".m3u", ".m3u8")
_DATA_FILE_EXTENSIONS = (".parquet", ".arrow", ".jsonl", ".json", ".csv")


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
class AudioDatasetSource:
    """A dataset of audio to prepare (a hub id, a `save_to_disk` folder, a folder of parquet files), opened.

    Not a spectrogram dataset: that is `SpectrogramDataset`; and not `audiodiff.evaluation`'s clip sources.
    """

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
    datasets: list[AudioDatasetSource]

    def identity(self, item: SourceItem) -> list[Any]:
        """What makes a track's rows what they are: real path, size and mtime of a file (so an edited file is redone),
        or dataset fingerprint, split and row. Raises OSError when the file cannot be examined."""
        if item.path is not None:
            status = os.stat(item.path)
            return ["file", os.path.realpath(item.path), status.st_size, status.st_mtime_ns]
        handle = self.datasets[item.dataset]
        return ["row", handle.fingerprint, handle.split, item.row]

    def audio_of(self, item: SourceItem) -> str | bytes | None:
        """What to decode: the file path, or a dataset row's bytes (or its path when the row holds only a path)."""
        if item.path is not None:
            return item.path
        handle = self.datasets[item.dataset]
        value = handle.dataset[item.row][handle.audio_column]
        if isinstance(value, str):
            return value
        if value is None:
            return None
        return value.get("bytes") or value.get("path")


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


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of what `path` leads to (links followed), or None when it cannot be examined."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def walk_audio_files(root: str | os.PathLike) -> list[Path]:
    """Audio (and unsupported audio) files under `root`, in sorted order, skipping hidden folders (such as our work
    folder). Links are followed, since collections are often assembled from links, but each real folder is entered
    once and each real file listed once (by device and inode): a link to an ancestor (`up -> ..`) or to a sibling
    would otherwise make the walk endless, its list growing until memory runs out. A file reached by two paths keeps
    the first in walk order. Files that cannot be examined (dangling links) are listed, so they are reported.
    """
    found = []
    visited_folders: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        identity = _identity(folder)
        if identity is None or identity in visited_folders:
            subfolders[:] = []
            continue
        visited_folders.add(identity)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            if audio_file_kind(name) is None:
                continue
            path = Path(folder) / name
            file_identity = _identity(path)
            if file_identity is not None:
                if file_identity in seen_files:
                    continue
                seen_files.add(file_identity)
            found.append(path)
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
    skip = unsupported_reason(path) if audio_file_kind(path) == "unsupported" else None
    if skip is None and genre_mode is not None and genre_mode[0] == "folder" and genre is None:
        skip = missing
    return SourceItem(audio_file=path, genre=genre, path=path, shard_key=shard_key, skip_reason=skip)


def _open_audio_dataset(source: str, split: str, audio_column: str | None) -> tuple[AudioDatasetSource, Any]:
    """Open a dataset source; returns our handle (audio column only, undecoded) and the full dataset."""
    from datasets import Audio, Value

    dataset, _ = open_dataset(source, split)
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
    handle = AudioDatasetSource(source, audio_only, audio_column, dataset._fingerprint, split)
    return handle, dataset


def _dataset_items(handle: AudioDatasetSource, index: int, full, genre_mode, genre: str | None) -> list[SourceItem]:
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
    handles: list[AudioDatasetSource] = []
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
            files = walk_audio_files(path)
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
            if audio_file_kind(path) is None:
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
