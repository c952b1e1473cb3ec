"""The resumable work folder of `prepare`: one small Arrow "part" per finished track.

    DIR/.prepare-work/parts/<ab>/<key>.arrow    the kept rows of one track (slice, PNG bytes, loudness) and, in the
                                                schema metadata, its record (status, reason, seconds, rate, counts)

Parts are written atomically (temporary file, rename), so a run that is killed keeps every finished track and the
next run reuses them; a part's name hashes the track's identity and the encoding settings (`part_path`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from audiodiff.utils import atomic_file

WORK_DIR_NAME = ".prepare-work"


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


def part_path(work: Path, identity: list[Any], settings_fingerprint: str) -> Path:
    """Where the part of one track lives: named by a hash of the track's identity (`SourceListing.identity`) and of
    the settings, so an edited file or other settings give another name and stale parts are never reused."""
    key = hashlib.sha1(json.dumps([identity, settings_fingerprint]).encode()).hexdigest()
    return work / "parts" / key[:2] / f"{key}.arrow"


def prune_parts(work: Path, keep: set[Path]) -> None:
    """Delete parts of files no longer in the sources (and temp files of killed runs): the cache = this dataset."""
    for path in (work / "parts").glob("*/*"):
        if path not in keep:
            path.unlink(missing_ok=True)
