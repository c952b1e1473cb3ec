"""Training checkpoints: written once, atomically, and read back with a clear message when one is damaged.

A run folder keeps its checkpoints in `RUN/checkpoints/step_<N>/`:

    unet/         the raw (not EMA) weights, `save_pretrained` (config.json + safetensors)
    scheduler/    the training noise scheduler
    state.pt      optimizer, learning-rate schedule, the run's random generator, step, losses and the EMA's
                  `EMAModel.state_dict()`; tensors and plain values only (read with `weights_only=True`: no pickle)
    meta.json     mel settings, genre names and the step, readable without torch; written last, with the sha256 of
                  every other file of the checkpoint and of its own content (`write_meta`)

Each checkpoint is written into a temporary folder and renamed into place (`utils.atomic_folder`), so a killed
process never leaves a half-written one; a checkpoint damaged afterwards (a truncated file, a missing meta.json, or
flipped bytes that would still load: a bad disk, a bad copy) is reported by `read_checkpoint`, whose checksums catch
what parsing would not, and skipped by `latest_checkpoint`, which falls back to the newest intact one. Checkpoints
written before the checksums (a meta.json without them) load unchecked.

`check_finite` stops a diverged run before anything non-finite is saved. The rest of the run folder (its record
`run.json`, the lock that keeps a second run out, the resume rules) is `runs.py`'s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from audiodiff.config import MelConfig
from audiodiff.schedulers import scheduler_class
from audiodiff.utils import atomic_folder, first_line

CHECKPOINTS = "checkpoints"
META_NAME = "meta.json"
# meta.json's keys for the checksums: of every other file (relative path -> sha256), and of meta.json's own content.
FILES_KEY, META_KEY = "sha256", "meta_sha256"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read; `str(error)` is one line naming the folder and the problem."""


@dataclasses.dataclass
class Checkpoint:
    """What `read_checkpoint` returns. `state` is the dictionary `write_checkpoint` was given."""

    folder: Path
    unet: Any
    noise_scheduler: Any
    mel_config: MelConfig
    genres: list[str] | None
    state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["global_step"])


def checkpoint_dirs(out_dir: str | Path) -> list[Path]:
    """Checkpoint folders of a run, oldest first (temporary folders of interrupted writes are ignored)."""
    folder = Path(out_dir) / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("step_") and p.name[5:].isdigit())


def checkpoint_folder(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / CHECKPOINTS / f"step_{step:08d}"


def write_checkpoint(
    final: Path, unet, noise_scheduler, mel_config: MelConfig, genres: list[str] | None, state: dict[str, Any]
) -> Path:
    """Write one checkpoint folder atomically. `state` holds tensors and plain values (see the module docstring)."""
    with atomic_folder(final) as folder:
        unet.save_pretrained(folder / "unet")
        noise_scheduler.save_pretrained(folder / "scheduler")
        torch.save(state, folder / "state.pt")
        write_meta(
            folder, {"mel_config": mel_config.to_dict(), "genres": genres, "global_step": int(state["global_step"])}
        )
    return final


def _sha256(path: Path) -> str:
    """The file's sha256, read in 1 MiB blocks (checkpoints of large models do not fit in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _meta_digest(meta: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Write `folder/meta.json` (call it last): `meta` plus the sha256 of every other file in `folder` and of the
    meta itself, so that `read_meta` notices damage that would still parse (flipped bytes in weights load as wrong
    weights, in state.pt as a NaN loss)."""
    files = sorted(path for path in folder.rglob("*") if path.is_file() and path.name != META_NAME)
    meta = {**meta, FILES_KEY: {path.relative_to(folder).as_posix(): _sha256(path) for path in files}}
    meta[META_KEY] = _meta_digest(meta)
    (folder / META_NAME).write_text(json.dumps(meta, indent=2) + "\n")


def read_meta(folder: Path) -> dict[str, Any]:
    """`folder/meta.json`, after checking the checksums `write_meta` stored (none in checkpoints written before
    them); raises ValueError naming the first file that differs (`read_checkpoint` reports it as damage)."""
    meta = json.loads((folder / META_NAME).read_text())
    if not isinstance(meta, dict):
        raise ValueError(f"{META_NAME} is not a JSON object")
    if FILES_KEY not in meta and META_KEY not in meta:
        return meta  # written before checksums
    expected = meta.pop(META_KEY, None)
    files = meta.get(FILES_KEY)
    if expected != _meta_digest(meta) or not isinstance(files, dict):
        raise ValueError(f"{META_NAME} does not match its checksum")
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            raise ValueError(f"{name} is missing")
        if _sha256(path) != digest:
            raise ValueError(f"{name} does not match its checksum (damaged on disk or in a copy)")
    return meta


def read_checkpoint(folder: Path) -> Checkpoint:
    """Read a checkpoint folder completely, or raise `CheckpointError` saying which part is damaged."""
    from audiodiff.models import load_backbone

    try:
        meta = read_meta(folder)
        mel_config = MelConfig.from_dict(meta["mel_config"], str(folder / META_NAME))
        scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        found = scheduler_class(str(scheduler_config.get("_class_name")) if isinstance(scheduler_config, dict) else "")
        if found is None:
            raise ValueError("scheduler_config.json names no diffusers scheduler")
        noise_scheduler = found.from_pretrained(folder / "scheduler")
        unet = load_backbone(folder / "unet")
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "global_step" not in state:
            raise ValueError("state.pt holds no training state")
    except Exception as error:  # noqa: BLE001 - any failure to read a part means this checkpoint is damaged
        raise CheckpointError(f"{folder}: damaged checkpoint ({type(error).__name__}: {first_line(error)})") from None
    return Checkpoint(folder, unet, noise_scheduler, mel_config, meta.get("genres"), state)


def latest_checkpoint(out_dir: str | Path, warn=None, read=None) -> Checkpoint | None:
    """The newest intact checkpoint of a run, or None when it has none. Damaged newer ones are passed over, each
    reported through `warn(message)`; when every checkpoint is damaged, `CheckpointError` names the newest.
    `read` reads one folder (default `read_checkpoint`; the vocoder's trainer passes its own)."""
    folders = checkpoint_dirs(out_dir)
    first_error = None
    for folder in reversed(folders):
        try:
            return (read or read_checkpoint)(folder)
        except CheckpointError as error:
            first_error = first_error or error
            if warn is not None:
                warn(f"{error}; trying an older checkpoint")
    if first_error is not None:
        raise CheckpointError(
            f"{first_error}; no intact checkpoint in {Path(out_dir) / CHECKPOINTS}: delete that folder to start the "
            "run again"
        )
    return None


def prune_checkpoints(out_dir: str | Path, keep: int) -> None:
    """Delete all but the newest `keep` (at least one) checkpoints."""
    for old in checkpoint_dirs(out_dir)[: -max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)


def check_finite(
    out_dir: str | Path,
    step: int,
    error: type[Exception],
    setting: str,
    *,
    loss: float | None = None,
    gradient_norm: float | torch.Tensor | None = None,
    parameters: Iterable[torch.Tensor] | None = None,
) -> None:
    """Raise `error` (one line) when a run has diverged at `step` (counted from 1): a non-finite `loss`, gradient
    norm or weight among `parameters`. Trainers call it before a step is applied and before anything is saved, so a
    diverged run never becomes a checkpoint or a pipeline that would only generate noise, and the newest checkpoint
    stays resumable. `setting` names what to lower, with its value (e.g. "--learning-rate (now 1e+30)")."""
    problem = None
    if loss is not None and not math.isfinite(loss):
        problem = f"the loss is {loss}"
    elif gradient_norm is not None and not math.isfinite(float(gradient_norm)):
        problem = f"the gradient norm is {float(gradient_norm)}"
    elif parameters is not None and not all(bool(torch.isfinite(tensor).all()) for tensor in parameters):
        problem = "some weights are not finite"
    if problem is None:
        return
    folders = checkpoint_dirs(out_dir)
    kept = f"the newest checkpoint, {folders[-1].name}, is intact" if folders else "no checkpoint was written"
    raise error(
        f"step {step}: {problem} (diverged): lower {setting} and start again in a new --out; nothing of this step "
        f"was saved ({kept})"
    )
