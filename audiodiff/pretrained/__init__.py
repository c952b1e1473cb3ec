"""The pipelines that ship inside the package, loadable offline by a short name wherever a pipeline is accepted.

`audiodiff-base-64`: the genre-conditioned base model trained on the real-music collection (rock, electronic,
cinematic) at the demo's 64x64 settings; its model card is `base-64/MODEL_CARD.md`, its recipe
`scripts/train_base.py`. A local folder of the same name wins over a shipped name (what a command line names
exists is what it means).
"""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED = {"audiodiff-base-64": "base-64"}
DEFAULT_BASE = "audiodiff-base-64"


def shipped_folder(name: str | os.PathLike) -> Path | None:
    """The folder of the shipped pipeline `name`, or None when `name` is not one (or a local path of that name
    exists, which then wins)."""
    text = os.fspath(name)
    if text not in SHIPPED or Path(text).exists():
        return None
    folder = Path(__file__).parent / SHIPPED[text]
    if not (folder / "model_index.json").is_file():
        raise FileNotFoundError(f"{text}: the shipped pipeline is missing from this installation ({folder})")
    return folder


def resolve(name_or_path: str | os.PathLike) -> str | os.PathLike:
    """`name_or_path` with a shipped name replaced by its folder; anything else unchanged."""
    folder = shipped_folder(name_or_path)
    return name_or_path if folder is None else folder
