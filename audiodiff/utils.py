"""Small helpers every layer uses: one-line error messages, atomic writes, and telling hub ids and saved datasets
from other paths."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

# A Hugging Face hub repository id: `owner/name`, or a bare `name` (canonical datasets such as "mnist").
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
# Files that `datasets.Dataset.save_to_disk` / `DatasetDict.save_to_disk` always write.
SAVED_DATASET_MARKERS = ("state.json", "dataset_dict.json")


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or the error's type name when the message is empty."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def is_hub_id(name: str | os.PathLike, owner_required: bool = True) -> bool:
    """Whether `name` can be a hub repository id, `owner/name` (or a bare `name` unless `owner_required`).

    The form is checked, and that `owner` is not a local folder: `runs/x` beside an existing `runs/` is a missing
    local folder, and asking the hub for it would only wait on the network. Callers look for a local path first.
    """
    text = str(name)
    if not _HUB_ID.fullmatch(text) or ("/" not in text and owner_required):
        return False
    return "/" not in text or not Path(text.split("/")[0]).is_dir()


def is_saved_dataset(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder written by `datasets`' `save_to_disk` (a Dataset or a DatasetDict)."""
    return any((Path(path) / name).is_file() for name in SAVED_DATASET_MARKERS)


def _temporary_name(final: Path) -> Path:
    # Hidden, and one per process: two writers never share a temporary, and listings of the folder skip it.
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to `final` in one step, so a reader (or a run
    resumed after a kill) sees the old file or the complete new one, never part of one. On failure it is removed."""
    final = Path(final)
    temporary = _temporary_name(final)
    try:
        yield temporary
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, final)


@contextlib.contextmanager
def atomic_folder(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder to fill; on success its files are flushed to disk and it replaces `final`
    (a folder) by one rename, so a process killed at any point never leaves a half-written `final` behind."""
    final = Path(final)
    temporary = _temporary_name(final)
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    for file in temporary.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(temporary, final)


# The lock file an output folder holds while a command writes into it (see `output_lock`).
LOCK_NAME = ".audiodiff-lock"


class FolderInUseError(RuntimeError):
    """Another process is writing into the same output folder; `str(error)` is one line naming it."""


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike, command: str) -> Iterator[Path]:
    """Hold the output folder `folder` (created if missing) for this process while the block runs, or raise
    `FolderInUseError` naming the process that holds it.

    Two commands writing into one folder at once would mix their results silently (one run's weights with the
    other's record). The lock is `fcntl.flock` on `folder/.audiodiff-lock`, so the kernel releases it when its holder
    ends, even by SIGKILL: a lock never outlives its process and never needs removing by hand. The file holds the
    holder's pid and command for the message; it stays in the folder (hidden; folder checks ignore `LOCK_NAME`)."""
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FolderInUseError(
                f"{folder} is in use by {holder}: wait for it to finish or choose another output folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} ({command})")
        handle.flush()
        yield folder
    finally:
        handle.close()  # closing the file releases the lock
