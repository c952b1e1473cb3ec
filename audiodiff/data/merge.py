"""`merge_datasets`: datasets prepared on several machines (`prepare --shard i/n`) -> one dataset folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audiodiff.data.dataset import (
    DATASET_METADATA_NAME,
    DatasetError,
    check_out_dir,
    load_spectrogram_dataset,
    parse_size,
    read_metadata,
    save_dataset_files,
    write_metadata,
)
from audiodiff.data.prepare import DEFAULT_MAX_SHARD_SIZE, PrepareSummary
from audiodiff.data.workdir import WORK_DIR_NAME
from audiodiff.utils import output_lock


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
    check_out_dir(out_dir)
    max_shard_size = parse_size(max_shard_size)
    if any(Path(source).resolve() == out_dir.resolve() for source in sources):
        raise DatasetError(f"{out_dir}: the merge output must not be one of its inputs")
    loaded = []
    for source in sources:
        if read_metadata(source) is None:
            raise DatasetError(f"{source}: not a dataset made by audiodiff prepare (no {DATASET_METADATA_NAME})")
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
    # One writer per output folder (a prepare or another merge into it at once would mix their files).
    with output_lock(out_dir, "audiodiff prepare --merge"):
        check_out_dir(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        save_dataset_files(merged, out_dir, max_shard_size, num_shards)
        first.mel_config.save(out_dir)
        base = read_metadata(first.source)
        metadata = {
            **base,
            "genres": genres,
            "sources": [source for part in loaded for source in read_metadata(part.source).get("sources", [])],
            "merged_from": [str(source) for source in sources],
            "summary": summary.to_dict(),
        }
        write_metadata(out_dir, metadata)
        shutil.rmtree(out_dir / WORK_DIR_NAME, ignore_errors=True)
    return summary
