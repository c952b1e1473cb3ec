"""The studio's private folder and the jobs running in it, apart from what the jobs do (`actions.Studio`).

What a studio keeps is bounded and private: its folder (Gradio's cache too, see `app.launch`) is 0700 and its files
0600, the files it holds (uploads, clips, pictures) stay under `max_kept_bytes` (the least recently written go
first, `prune`; a background sweep counts uploads no job has read), each session numbers its clips in its own
sub-folder, and `close` removes the folder. Jobs run inside `_running` (counted, so that `stop` waits for them) with
their progress `_watched` (they stop at their next sampling step once the studio stops).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from audiodiff import sampling

# What a studio keeps on disk in all (uploads, clips, pictures): five uploads of the largest size. Past it, the files
# written longest ago are removed, whoever made them: a studio shared by several people cannot fill the disk.
MAX_KEPT_BYTES = 500 * 1024 * 1024
SWEEP_SECONDS = 5.0  # how often uploads that no job has seen yet are counted against the cap
PRIVATE_FILE, PRIVATE_FOLDER = 0o600, 0o700

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """A job stopped at a sampling step because nobody waits for it any more (its page left, or the studio is
    stopping). Not a ValueError: it is not the user's input that is wrong."""


class Workspace:
    """A private folder (`folder`, mode 0700; clips under `clips/SESSION/`) holding at most `max_kept_bytes`, and
    the count of the jobs running in it."""

    def __init__(self, folder: str | os.PathLike, max_kept_bytes: int = MAX_KEPT_BYTES):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(PRIVATE_FOLDER)
        self.clips = self.folder / "clips"
        self.clips.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
        self.max_kept_bytes = int(max_kept_bytes)
        self._numbers: dict[str, itertools.count] = {}
        self._lock = threading.Lock()
        self._prune_lock = threading.Lock()
        self._idle = threading.Condition()
        self._active = 0
        self._stopping = threading.Event()
        self._sweeper: threading.Thread | None = None

    # --- what it keeps ------------------------------------------------------------------------------------------------
    def prune(self) -> int:
        """Keep the folder under `max_kept_bytes`: remove the files written longest ago (a clip read again counts as
        new, see `Studio.read_clip`) until the rest fit, and make every file 0600 and every folder 0700 (Gradio's own
        too). Returns the bytes removed."""
        with self._prune_lock:
            files = []
            for folder, subfolders, names in os.walk(self.folder):
                for name in subfolders:
                    make_private(Path(folder) / name, PRIVATE_FOLDER)
                for name in names:
                    path = Path(folder) / name
                    with contextlib.suppress(OSError):  # gone meanwhile (Gradio renames its staging copies)
                        status = path.lstat()
                        if stat.S_ISREG(status.st_mode):
                            make_private(path, PRIVATE_FILE, status)
                            files.append((status.st_mtime, status.st_size, path))
            total = sum(size for _, size, _ in files)
            removed = 0
            for _, size, path in sorted(files, key=lambda entry: entry[0]):
                if total - removed <= self.max_kept_bytes:
                    break
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                removed += size
            if removed:
                logger.info("studio: removed %d MB of the oldest files (cap %d MB)", removed >> 20,
                            self.max_kept_bytes >> 20)  # fmt: skip
            return removed

    def start_sweeping(self, every: float = SWEEP_SECONDS) -> None:
        """`prune` every `every` seconds in a background thread until `close`: uploads count against the cap even
        when no job reads them."""

        def sweep() -> None:
            while not self._stopping.wait(every):
                try:
                    self.prune()
                except OSError:  # noqa: PERF203 - a file vanished or the folder is being removed: try again later
                    logger.debug("studio: sweep failed", exc_info=True)

        if self._sweeper is None:
            self._sweeper = threading.Thread(target=sweep, name="audiodiff-studio-sweeper", daemon=True)
            self._sweeper.start()

    # --- the jobs running in it, and stopping -------------------------------------------------------------------------
    def stop(self, timeout: float | None = 60.0) -> bool:
        """Refuse new jobs and stop the running ones at their next sampling step; wait up to `timeout` seconds for
        them to end (so no thread is in the middle of torch when the process exits). True when none runs any more."""
        self._stopping.set()
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        """`stop`, then remove the folder with every upload, clip and picture in it."""
        self.stop(timeout)
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        with self._idle:
            if self._stopping.is_set():
                raise JobCancelled("the studio is stopping")
            self._active += 1
        try:
            self.prune()  # before: room for what the job writes; after: the cap holds again, its own clips newest
            yield
            self.prune()
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _watched(self, progress: sampling.Progress | None) -> sampling.Progress:
        """`progress`, first stopping the job (`JobCancelled`) when the studio stops; never None, so that every
        sampling step passes through it."""

        def report(run: int, step: int, steps: int) -> None:
            if self._stopping.is_set():
                raise JobCancelled("the studio is stopping")
            if progress is not None:
                progress(run, step, steps)

        return report

    # --- new files ----------------------------------------------------------------------------------------------------
    def _new_number_and_path(self, session: str, kind: str, suffix: str) -> tuple[int, Path]:
        """The next number of `session` (1, 2, ...) and a new file `SESSION/NNNN_KIND.SUFFIX` in the studio's
        folder."""
        folder = self.clips / safe_name(session)
        with self._lock:
            number = next(self._numbers.setdefault(session, itertools.count(1)))
            folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        return number, folder / f"{number:04d}_{kind}{suffix}"

    def _new_path(self, session: str, kind: str, suffix: str) -> Path:
        """A new file for something that is not a clip (a preview): not numbered."""
        folder = self.clips / safe_name(session)
        folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        return folder / f"{kind}_{uuid.uuid4().hex[:12]}{suffix}"


def make_private(path: Path, mode: int, status: os.stat_result | None = None) -> None:
    """Give `path` exactly `mode` (0600 files, 0700 folders): clips and uploads are the user's alone, whatever the
    umask (Gradio copies a file's mode into its cache)."""
    with contextlib.suppress(OSError):
        if stat.S_IMODE((status or path.lstat()).st_mode) != mode:
            path.chmod(mode)


def safe_name(session: str) -> str:
    """A session id as a folder name (Gradio's are hex already; anything else is reduced to safe characters)."""
    return "".join(character if character.isalnum() or character in "-_" else "_" for character in session)[:64] or "_"
