"""The run folder, one set of rules for every trainer: the diffusion `Trainer`, the `Distiller` and the vocoder's.

A run folder holds `run.json` (`RUN_FILE`: the run's record, its data, what it started from, its preset and its
whole config, written first), `checkpoints/step_N/` (`checkpoints.py`), `logs/` (TensorBoard), `samples/` (previews)
and, once finished, the trainer's output (a pipeline folder, a vocoder folder). `RunFolderHolder`, the base class of
every trainer, writes the rules once:

- a new run goes into a new or empty folder, checked before the folder is held and again under the hold, so that no
  other run starts in between; a folder holding a run is continued with `--resume`, never overwritten;
- the folder is held (`utils.output_lock`) from the start or resume until the outputs are written: two runs writing
  into one folder would mix one's record with the other's weights; a second run meanwhile gets one line naming the
  holder. Only the main process of a multi-process run holds it; the kernel releases it when the process dies;
- a resumed run rebuilds its config from its record: only the `resumable` settings (how long it runs, how fast) may
  change, and a data set or starting point other than the recorded one is refused (the same value is accepted, so a
  command can be repeated with --resume added);
- a diverged run stops at the step it diverges, before anything non-finite is saved (`checkpoints.check_finite`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from audiodiff.checkpoints import check_finite, checkpoint_dirs
from audiodiff.config import load_dataclass
from audiodiff.runtime import best_device, mixed_precision_for
from audiodiff.utils import LOCK_NAME, FolderInUseError, first_line, output_lock

# A run folder's record of how it was started (data, pretrained, preset, config), written first by every trainer.
RUN_FILE = "run.json"


def make_accelerator(out_dir: Path, mixed_precision: str, error: type[Exception] = ValueError, **options):
    """The `accelerate.Accelerator` of a run in `out_dir` (TensorBoard logs in `out_dir/logs`), in `mixed_precision`
    ("auto" resolved by `runtime.mixed_precision_for`; its `.mixed_precision` says what it came to). fp16 without a
    GPU raises `error` in one line (accelerate would train in fp32 without a word). accelerate keeps one mixed
    precision per process: a second run in the same single process (a notebook, a script training twice) with
    another precision resets it instead of failing; a multi-process launch keeps the launcher's."""
    from accelerate import Accelerator, PartialState
    from accelerate.state import AcceleratorState
    from accelerate.utils import ProjectConfiguration

    device = best_device()
    mixed_precision = mixed_precision_for(mixed_precision, device)
    if mixed_precision == "fp16" and device.type != "cuda":
        raise error(f"--mixed-precision fp16 needs a CUDA GPU; on {device.type} use bf16 or auto")
    earlier = AcceleratorState._shared_state.get("_mixed_precision")
    if earlier not in (None, mixed_precision) and PartialState().num_processes == 1:
        AcceleratorState._reset_state()
    return Accelerator(
        mixed_precision=mixed_precision,
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(out_dir), logging_dir=str(Path(out_dir) / "logs")),
        **options,
    )


class RunFolderHolder:
    """What every trainer does with its run folder (see the module docstring).

    A trainer class sets `command` (named in the line a second run gets), `error` (the exception type its callers
    report), `config_class` (its config dataclass, rebuilt from the record on resume), `finished_file` (the output
    file that tells a finished run), `resumable` (the settings a resume may change) and `source_options` (record
    keys a resume compares -> the option that names them). It builds itself through `_starting` (a new run) or
    `_resuming`, writes its record with `write_run_record`, and puts its loop in `_run`; `run` releases the folder
    however the loop ends, and `close` releases it without running."""

    command: ClassVar[str]
    error: ClassVar[type[Exception]]
    config_class: ClassVar[type]
    finished_file: ClassVar[str]
    longer_options: ClassVar[str] = "--max-steps"  # what the "continue it" hint names
    run_kind: ClassVar[str] = "a training run"
    resumable: ClassVar[tuple[str, ...]] = ("max_steps",)
    source_options: ClassVar[dict[str, str]] = {}
    _folder_lock: contextlib.ExitStack | None = None

    # -- holding the folder ------------------------------------------------------------------------------------------
    @classmethod
    def _holding(cls, out_dir: Path, make: Callable[[], Any]) -> Any:
        """`make()`, the new trainer, with `out_dir` held for it; released again when `make` fails."""
        from accelerate import PartialState

        if out_dir.exists() and not out_dir.is_dir():
            raise cls.error(f"{out_dir}: exists and is not a folder; choose another --out")
        lock = contextlib.ExitStack()
        created = False
        if PartialState().is_main_process:
            created = not out_dir.exists()
            try:
                lock.enter_context(output_lock(out_dir, cls.command))
            except FolderInUseError as in_use:
                raise cls.error(str(in_use)) from None
        try:
            trainer = make()
        except BaseException:
            if created:  # a run that could not start leaves no folder behind, as before the lock existed
                (out_dir / LOCK_NAME).unlink(missing_ok=True)  # while still held: no other run can hold it meanwhile
                with contextlib.suppress(OSError):
                    out_dir.rmdir()  # only when empty
            lock.close()
            raise
        trainer._folder_lock = lock
        return trainer

    @classmethod
    def _starting(cls, out_dir: Path, make: Callable[[], Any]) -> Any:
        """`make()`, a new run's trainer, in the new or empty folder `out_dir`, held for it."""
        from accelerate import PartialState

        cls._check_new_run_folder(out_dir)  # before taking the lock too, so that a refused folder is left untouched

        def checked() -> Any:
            cls._check_new_run_folder(out_dir)  # again under the lock: no other run can start between check and start
            PartialState().wait_for_everyone()  # every process checks before the main one writes run.json
            return make()

        return cls._holding(out_dir, checked)

    @classmethod
    def _resuming(cls, out_dir: Path, make: Callable[[], Any]) -> Any:
        """`make()`, the trainer continuing the run in `out_dir`, with the folder held for it."""
        if not (out_dir / RUN_FILE).is_file():
            raise cls.error(f"{out_dir}: no {RUN_FILE}, so there is no run to resume here")
        return cls._holding(out_dir, make)

    def close(self) -> None:
        """Release the run folder without running (`run` releases it when it ends)."""
        if self._folder_lock is not None:
            self._folder_lock.close()
            self._folder_lock = None

    def run(self) -> Any:
        """Train, then write the outputs (`_run`); the run folder is released when this ends, however."""
        try:
            return self._run()
        finally:
            self.close()

    def _run(self) -> Any:
        raise NotImplementedError

    @classmethod
    def _check_new_run_folder(cls, out_dir: Path) -> None:
        """A new run goes into a new or empty folder: a run there is resumed, anything else is someone else's."""
        if out_dir.exists() and not out_dir.is_dir():
            raise cls.error(f"{out_dir}: exists and is not a folder; choose another --out")
        if not out_dir.is_dir() or not any(path.name != LOCK_NAME for path in out_dir.iterdir()):
            return  # the lock file is the one this run holds
        if (out_dir / RUN_FILE).is_file() or checkpoint_dirs(out_dir):
            finished = "a finished run" if (out_dir / cls.finished_file).is_file() else "a run"
            raise cls.error(
                f"{out_dir} already holds {finished}: add --resume to continue it (with a higher {cls.longer_options} "
                "once finished), or choose a new --out"
            )
        raise cls.error(f"{out_dir}: not empty and not {cls.run_kind}; choose a new or empty --out")

    # -- the run's record --------------------------------------------------------------------------------------------
    def write_run_record(self) -> None:
        """Write `run.json` from `self.run_info` (the main process; the first file of a new run)."""
        if self.accelerator.is_main_process:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / RUN_FILE).write_text(json.dumps(self.run_info, indent=2) + "\n")

    @classmethod
    def read_run_record(cls, out_dir: Path) -> dict[str, Any]:
        """The record `write_run_record` wrote: a JSON object with a `config` object, or `error` in one line."""
        run_file = out_dir / RUN_FILE
        try:
            run_info = json.loads(run_file.read_text())
        except (OSError, ValueError) as error:
            raise cls.error(f"{run_file}: unreadable ({first_line(error)})") from None
        if not isinstance(run_info, dict) or not isinstance(run_info.get("config"), dict):
            raise cls.error(f"{run_file}: not a run record (a JSON object with a 'config')")
        return run_info

    @classmethod
    def resumed_config(cls, out_dir: Path, run_info: dict[str, Any], overrides: dict[str, Any], **sources: Any):
        """The resumed run's config (`config_class`): the recorded one with the non-None `overrides` on top.

        Refuses (`error`, one line) an override of a setting other than the `resumable` ones that differs from the
        recorded value, and a source (`sources`: data, pretrained, ... as given again) other than the recorded one,
        since either would silently not apply to the run being continued."""
        saved = run_info["config"]
        requested = {key: value for key, value in overrides.items() if value is not None}
        for key, value in requested.items():
            if key not in cls.resumable and key in saved and saved[key] != value:
                raise cls.error(cls._resume_conflict(out_dir, key.replace("_", "-"), saved[key], value))
        for key, value in sources.items():
            before = run_info.get(key)
            if value is None or before is None or same_source(str(value), str(before)):
                continue
            raise cls.error(cls._resume_conflict(out_dir, cls.source_options.get(key, key), before, value))
        return load_dataclass(cls.config_class, {**saved, **requested}, str(out_dir / RUN_FILE))

    @classmethod
    def _resume_conflict(cls, out_dir: Path, option: str, before: Any, now: Any) -> str:
        return (
            f"{out_dir}: --resume continues the run with its own settings, and its --{option} is {before!r}, not "
            f"{now!r}; only {', '.join('--' + key.replace('_', '-') for key in cls.resumable)} can change (choose a "
            "new --out for other settings)"
        )

    # -- divergence ----------------------------------------------------------------------------------------------------
    def _diverged_setting(self) -> str:
        """What a diverged run's message tells the user to lower, with its value."""
        raise NotImplementedError

    def _check_finite(self, **values) -> None:
        """Stop a diverged run (`check_finite`) at the step being taken, before it is saved."""
        check_finite(self.out_dir, self.global_step + 1, self.error, self._diverged_setting(), **values)

    def _check_norm(self, norm) -> None:
        """`_check_finite` of the gradient norm `clip_grad_norm_` returned; not under fp16, whose loss scaler makes
        overflowing gradients on purpose and skips those steps itself."""
        if norm is not None and self.accelerator.scaler is None:
            self._check_finite(gradient_norm=norm)


def same_source(one: str, other: str) -> bool:
    """Whether two spellings of a data set or pipeline name the same thing (equal, or paths to the same file)."""
    return one == other or (os.path.exists(one) and os.path.realpath(one) == os.path.realpath(other))
