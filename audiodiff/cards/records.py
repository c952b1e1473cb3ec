"""The records a card is written from: what a folder is (`folder_kind`), its JSON files (`read_json`), the
training data's facts (`dataset_facts`), the UNet's size (`parameter_count`), the run's last previews
(`latest_previews`) and the newest `audiodiff evaluate` report of the model (`find_report`). Reads only.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from audiodiff.utils import first_line, is_hub_id, is_saved_dataset

REPORT_NAME = "report.json"


class CardError(ValueError):
    """A folder that is no pipeline, vocoder or dataset folder, or whose records are unreadable (one line)."""


def read_json(path: Path) -> Any:
    """A JSON file's content, None when it is absent; `CardError` naming the file when it is not JSON."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CardError(f"{path}: unreadable ({first_line(error)})") from None


def folder_kind(folder: str | os.PathLike) -> str:
    """ "pipeline", "vocoder" or "dataset": what a folder audiodiff wrote holds; `CardError` for anything else."""
    folder = Path(folder)
    if (folder / "model_index.json").is_file():
        return "pipeline"
    config = read_json(folder / "config.json")
    if isinstance(config, dict) and config.get("_class_name") == "VocosVocoder":
        return "vocoder"
    if is_saved_dataset(folder):
        return "dataset"
    raise CardError(f"{folder}: not a pipeline, vocoder or dataset folder (no model_index.json, vocoder config.json "
                    "or saved dataset)")  # fmt: skip


def find_report(folder: str | os.PathLike) -> Path | None:
    """The newest `audiodiff evaluate` report of the model in `folder`: a `report.json` in the folder or one level
    down (e.g. `MODEL/evaluation/`), or in a folder beside it (e.g. `runs/evaluation/`) whose generated clips came
    from this folder. None when there is none."""
    folder = Path(folder).resolve()
    inside = [folder / REPORT_NAME, *folder.glob(f"*/{REPORT_NAME}")]
    candidates = [path for path in inside if path.is_file() and path.parent.name not in ("checkpoints", "samples")]
    for path in folder.parent.glob(f"*/{REPORT_NAME}"):
        if path.parent == folder or not path.is_file():
            continue
        try:
            source = json.loads(path.read_text())["generated"]["source"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(source, str) and Path(source).resolve() == folder:
            candidates.append(path)
    return max(candidates, key=lambda path: path.stat().st_mtime) if candidates else None


def dataset_facts(source: str | None, genre: str | None) -> dict[str, Any]:
    """What the training data was: the prepared dataset's recorded summary (tracks, slices, hours, per genre), or
    its rows counted when it has none; `{"where": ...}` alone when the data is not on this machine."""
    facts: dict[str, Any] = {"where": source}
    if not source:
        return facts
    path = Path(source)
    if not path.is_dir():
        facts["hub"] = is_hub_id(source)
        return facts
    from audiodiff.data.dataset import DATASET_METADATA_NAME

    metadata = read_json(path / DATASET_METADATA_NAME)
    if isinstance(metadata, dict) and isinstance(metadata.get("summary"), dict):
        summary = metadata["summary"]
        facts.update(
            tracks=summary.get("files_found", 0) - len(summary.get("skipped", [])),
            slices=summary.get("slices_written"),
            hours=(summary.get("seconds_in_dataset") or 0) / 3600,
            genres=summary.get("genres") or {},
            license=metadata.get("license"),
        )
        return facts
    try:  # a reference-format or other saved dataset: count its rows (memory-mapped, cheap)
        from audiodiff.data.dataset import open_dataset

        dataset, _ = open_dataset(source, "train")
        table = dataset.with_format("arrow")
        facts["slices"] = len(dataset)
        if "audio_file" in dataset.column_names:
            facts["tracks"] = len(set(table["audio_file"].to_pylist()))
    except Exception as error:  # the card is a description: an unreadable dataset is said, not fatal
        facts["unreadable"] = first_line(error)
    return facts


def parameter_count(folder: Path) -> int | None:
    """The UNet's parameter count, from its safetensors header (no tensor read); None for `.bin` weights."""
    from audiodiff.weights import weight_shapes

    path = folder / "unet" / "diffusion_pytorch_model.safetensors"
    if not path.is_file():
        return None
    count = 0
    for shape in weight_shapes(path).values():
        size = 1
        for length in shape:
            size *= length
        count += size
    return count


def _natural(path: Path) -> tuple:
    """Sort key: sample_2 before sample_10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name))


def latest_previews(folder: Path) -> tuple[int, list[Path]] | None:
    """(step, files) of the run's newest preview folder `samples/step_N/`, or None."""
    steps = sorted((folder / "samples").glob("step_*"), key=lambda path: path.name)
    for step_folder in reversed(steps):
        files = sorted(step_folder.glob("*.png"), key=_natural) + sorted(step_folder.glob("*.wav"), key=_natural)
        if files:
            return int(step_folder.name.removeprefix("step_")), files
    return None
