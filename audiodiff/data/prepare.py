"""`prepare_dataset`: a music collection -> a spectrogram dataset folder (layout in `dataset.py`).

Preparation works track by track: `sources.py` lists the tracks, `encoding.process_track` decodes, resamples,
slices and encodes each one (in worker processes) into a part of the work folder (`workdir.py`), keyed by (real
path, size, mtime, settings) or (dataset fingerprint, row, settings). A run that is killed keeps every finished
track; the next one reuses them and only assembles. The final dataset is always rebuilt from the parts of the
current sources, in source order, so a re-run never adds a row twice.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import multiprocessing
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from audiodiff.config import MelConfig
from audiodiff.data.dataset import DatasetError, check_out_dir, parse_size, save_dataset_files, write_metadata
from audiodiff.data.encoding import DEFAULT_MIN_LOUDNESS_DB, EncodeSettings, process_track, warm_up
from audiodiff.data.sources import SourceItem, SourceListing, list_sources, parse_shard
from audiodiff.data.workdir import WORK_DIR_NAME, part_path, prune_parts, read_part_record, read_part_table
from audiodiff.utils import output_lock

FORMAT_NAME = "audiodiff-spectrograms"
FORMAT_VERSION = 1
DEFAULT_MAX_SHARD_SIZE = "500MB"


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


def _init_worker(parent: int) -> None:
    # Each worker is one process on one core: torch's own threads would only fight the other workers.
    torch.set_num_threads(1)
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when `parent` (the process running `prepare_dataset`) ends (Linux).

    A parent killed outright (SIGKILL, the out-of-memory killer) runs no clean-up, and its workers would wait on
    their task queue forever: holding their memory, and the output folder's lock, whose file they inherit by fork,
    so the run could never be resumed ("in use by" a process that is gone).
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    set_parent_death_signal = 1  # PR_SET_PDEATHSIG, <linux/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(set_parent_death_signal, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)


def _run_task(task: tuple) -> tuple[int, dict[str, Any]]:
    index, name, source, part, settings = task
    return index, process_track(name, source, Path(part), settings)


def _run_tracks(
    todo: list[tuple[int, SourceItem, Path]],
    listing: SourceListing,
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
            source = listing.audio_of(item)
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
        warm_up(settings.mel_config)
    context = multiprocessing.get_context(method)
    pending: set[concurrent.futures.Future] = set()
    feed = tasks()
    with concurrent.futures.ProcessPoolExecutor(
        num_proc, mp_context=context, initializer=_init_worker, initargs=(os.getpid(),)
    ) as pool:
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
    Raises `DatasetError` when no slice at all could be written, and `audiodiff.utils.FolderInUseError` when another
    process is writing into `out_dir` (one run per output folder at a time; the folder is locked for the whole run).
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    max_shard_size = parse_size(max_shard_size)
    shard = parse_shard(shard) if isinstance(shard, str) else shard
    settings = EncodeSettings(
        mel_config=mel_config or MelConfig(),
        bits=bits,
        min_loudness_db=-math.inf if min_loudness_db is None else float(min_loudness_db),
        pad_short=pad_short,
    )
    listing = list_sources(sources, genre, genre_from, split, audio_column, shard)
    # Everything below reads and writes fixed paths of DIR (the work folder, the assembled file, the dataset files):
    # a second run into the same folder at once would mix its rows with this run's labels, or truncate a file this
    # run has memory-mapped. The lock refuses it (FolderInUseError) for the whole run, the Python API included.
    with output_lock(out_dir, "audiodiff prepare"):
        return _prepare_locked(
            sources, out_dir, settings, listing, shard, num_proc, max_shard_size, num_shards, keep_work, progress,
            on_track,
        )  # fmt: skip


def _prepare_locked(
    sources: Sequence[str | os.PathLike],
    out_dir: Path,
    settings: EncodeSettings,
    listing: SourceListing,
    shard: tuple[int, int] | None,
    num_proc: int | None,
    max_shard_size: int | None,
    num_shards: int | None,
    keep_work: bool,
    progress: bool,
    on_track: Callable[[SourceItem, dict[str, Any], bool], None] | None,
) -> PrepareSummary:
    """The body of `prepare_dataset`, run while this process holds DIR's lock."""
    check_out_dir(out_dir)  # again: what was in DIR before the lock was taken may have changed
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
            part_paths[index] = part_path(work, listing.identity(item), fingerprint)
        except OSError as error:
            records[index] = {"status": "failed", "reason": f"cannot read the file ({error.strerror or error})"}
            continue
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
        _run_tracks(todo, listing, settings, max(1, workers), done)
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
    save_dataset_files(dataset, out_dir, max_shard_size, num_shards)
    del dataset
    assembled.unlink()
    settings.mel_config.save(out_dir)
    write_metadata(out_dir, _metadata(settings, listing.genres, [str(source) for source in sources], summary))
    if keep_work:
        prune_parts(work, {path for path in part_paths if path is not None})
    else:
        shutil.rmtree(work)
    return summary
