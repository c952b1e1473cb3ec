"""Training checkpoints: written once, atomically, and read back with a clear message when one is damaged.

A run folder keeps its checkpoints in `RUN/checkpoints/step_<N>/`:

    unet/         the raw (not EMA) weights, `save_pretrained` (config.json + safetensors)
    scheduler/    the training noise scheduler
    state.pt      optimizer, learning-rate schedule, the run's random generator, step, losses and the EMA's
                  `EMAModel.state_dict()`; tensors and plain values only (read with `weights_only=True`: no pickle)
    meta.json     mel settings, genre names and the step, readable without torch

Each checkpoint is written into a temporary folder and renamed into place (`utils.atomic_folder`), so a killed
process never leaves a half-written one; a checkpoint damaged afterwards (a truncated file, a missing meta.json)
is reported by `read_checkpoint` and skipped by `latest_checkpoint`, which falls back to the newest intact one.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from audiodiff.config import MelConfig
from audiodiff.schedulers import scheduler_class
from audiodiff.utils import atomic_folder, first_line

CHECKPOINTS = "checkpoints"


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
        meta = {"mel_config": mel_config.to_dict(), "genres": genres, "global_step": int(state["global_step"])}
        (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return final


def read_checkpoint(folder: Path) -> Checkpoint:
    """Read a checkpoint folder completely, or raise `CheckpointError` saying which part is damaged."""
    from audiodiff.models import load_backbone

    try:
        meta = json.loads((folder / "meta.json").read_text())
        if not isinstance(meta, dict):
            raise ValueError("meta.json is not a JSON object")
        mel_config = MelConfig.from_dict(meta["mel_config"], str(folder / "meta.json"))
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
