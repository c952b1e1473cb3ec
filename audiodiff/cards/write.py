"""The card of any folder audiodiff writes (`write_card`): a dataset's, or a pipeline's or vocoder's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from audiodiff.cards.dataset_card import write_dataset_card
from audiodiff.cards.model_card import write_model_card
from audiodiff.cards.records import folder_kind


def write_card(folder: str | os.PathLike, overwrite: bool = False, **options: Any) -> Path:
    """The card of any folder audiodiff writes: `write_dataset_card` for a dataset, else `write_model_card`."""
    if folder_kind(folder) == "dataset":
        options.pop("report", None)
        return write_dataset_card(folder, overwrite, **options)
    return write_model_card(folder, overwrite, **options)
