"""The dataset card of a spectrogram dataset folder (`dataset_card`, `write_dataset_card`): its front matter
names the Arrow files, so that `datasets.load_dataset(REPO)` reads a pushed `save_to_disk` folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from audiodiff.cards.records import CardError, dataset_facts, folder_kind, read_json
from audiodiff.cards.sections import (
    CARD_NAME,
    TAGS,
    data_section,
    keeps_user_card,
    licence_section,
    mel_section,
    with_checksum,
)


def _arrow_files(folder: Path) -> dict[str, str]:
    """Split -> the glob of its Arrow files in a `save_to_disk` folder (a Dataset is one split, `train`)."""
    dict_file = read_json(folder / "dataset_dict.json")
    if isinstance(dict_file, dict) and isinstance(dict_file.get("splits"), list):
        return {split: f"{split}/data-*.arrow" for split in dict_file["splits"]}
    return {"train": "data-*.arrow"}


def dataset_card(folder: str | os.PathLike, repo_id: str | None = None) -> str:
    """The dataset card of a spectrogram dataset folder (`audiodiff prepare`'s `save_to_disk` folder).

    Its front matter names the Arrow files as the data (`configs`), so that on the hub `datasets.load_dataset(REPO)`
    reads them with their features (Image, ClassLabel) while the folder stays a `save_to_disk` folder:
    `load_from_disk` of a download, and audiodiff's `load_spectrogram_dataset(REPO)` (which also reads
    `mel_config.json` and `audiodiff_dataset.json` from the repository), both work."""
    from audiodiff.data.dataset import DATASET_METADATA_NAME

    folder = Path(folder)
    if folder_kind(folder) != "dataset":
        raise CardError(f"{folder}: not a dataset folder (no state.json or dataset_dict.json)")
    name = repo_id or folder.name
    metadata = read_json(folder / DATASET_METADATA_NAME) or {}
    mel = read_json(folder / "mel_config.json")
    facts = dataset_facts(str(folder), None)
    licence = metadata.get("license")
    lines = ["---", f"license: {licence or 'unknown'}", "tags:", *(f"- {tag}" for tag in TAGS), "configs:",
             "- config_name: default", "  data_files:"]  # fmt: skip
    for split, pattern in _arrow_files(folder).items():
        lines += [f"  - split: {split}", f"    path: {json.dumps(pattern)}"]
    front = "\n".join([*lines, "---"])
    body = [
        f"# {name}",
        "",
        "Mel-spectrogram images of music, one row per slice (columns `image`, `audio_file`, `slice`, and `genre` "
        "when labelled), prepared by audiodiff `prepare` in the "
        "reference format of audio-diffusion, to train or fine-tune a spectrogram diffusion model.",
        "",
        *(mel_section(mel, int(metadata.get("bits", 8)), "dataset") if isinstance(mel, dict) else []),
        "## Contents",
        *data_section(facts, None)[1:],
        "## How to use it",
        "",
        "```",
        f"audiodiff train --data {name} --out my_model",
        "```",
        "```python",
        "import datasets",
        "",
        f'rows = datasets.load_dataset("{name}", split="train")',
        "```",
        "",
        *licence_section(licence, "dataset"),
    ]
    return with_checksum(front, "\n".join(body) + "\n")


def write_dataset_card(
    folder: str | os.PathLike,
    overwrite: bool = False,
    *,
    repo_id: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write `folder/README.md`, the dataset card (`dataset_card`); a user's README is kept as in
    `write_model_card`."""
    from audiodiff.utils import atomic_file

    folder = Path(folder)
    path = folder / CARD_NAME
    if keeps_user_card(path, overwrite, log, "it must name the data files for load_dataset"):
        return path
    text = dataset_card(folder, repo_id=repo_id)
    with atomic_file(path) as temporary:
        temporary.write_text(text)
    return path
