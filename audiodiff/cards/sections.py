"""The text every card shares: YAML front matter, the checksum line that marks a card audiodiff wrote
(`with_checksum`, `written_by_audiodiff`), tables, and the sections of mel settings, training data and licence.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

CARD_NAME = "README.md"
TAGS = ("audio", "diffusion", "audiodiff", "mel-spectrogram")
# Said plainly where no licence was recorded: the user must fill it in before sharing.
LICENCE_PLACEHOLDER = (
    "**State your data's licence here.** audiodiff does not know the licence of the music this {kind} was made "
    "from. A {kind} made from music carries that music's terms: only share it if the licence of every track allows "
    "it (for example CC-BY or CC-BY-SA, whose attribution goes here), then set `license:` at the top of this file "
    "(a hub licence id such as `cc-by-sa-4.0`)."
)
_CHECKSUM = re.compile(r"^<!-- audiodiff card sha256:([0-9a-f]{64}) -->$", flags=re.MULTILINE)


def _yaml_scalar(value: Any) -> str:
    """A YAML scalar: plain when it is a simple name (licence ids, tags, repo ids), else JSON-quoted (valid YAML)."""
    text = str(value)
    return text if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", text) else json.dumps(text)


def front_matter(fields: dict[str, Any]) -> str:
    """YAML front matter (the hub reads it for licence, tags, base model and datasets)."""
    lines = ["---"]
    for key, value in fields.items():
        if value is None or value == []:
            continue
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"- {_yaml_scalar(item)}" for item in value)
        else:
            lines.append(f"{key}: {_yaml_scalar(value)}")
    lines.append("---")
    return "\n".join(lines)


def with_checksum(front: str, body: str) -> str:
    """The card: front matter, the checksum line of the rest, the rest."""
    digest = hashlib.sha256((front + "\n" + body).encode()).hexdigest()
    return f"{front}\n<!-- audiodiff card sha256:{digest} -->\n{body}"


def written_by_audiodiff(path: str | os.PathLike) -> bool:
    """Whether the file at `path` is a card audiodiff wrote that nobody has edited since (its checksum holds)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return False
    match = _CHECKSUM.search(text)
    if match is None:
        return False
    rest = text[: match.start()] + text[match.end() + 1 :]
    return hashlib.sha256(rest.encode()).hexdigest() == match.group(1)


def keeps_user_card(path: Path, overwrite: bool, log, instead: str) -> bool:
    """Whether the card at `path` is the user's and stays (a `README.md` audiodiff did not write, or one edited
    since, unless `overwrite`); `log` gets one line saying so, ending with `instead` (what to do about it)."""
    if path.exists() and not overwrite and not written_by_audiodiff(path):
        if log is not None:
            log(f"kept your {path} (not written by audiodiff); {instead}")
        return True
    return False


def table(rows: list[tuple[str, Any]]) -> list[str]:
    return ["| setting | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]


def mel_section(mel: dict[str, Any], bits: int, kind: str = "model") -> list[str]:
    slice_seconds = (mel["x_res"] * mel["hop_length"] - 1) / mel["sample_rate"]
    rule = (
        "A model trained on it, and data added to it, use the same settings (`--mel-config` of `prepare`)."
        if kind == "dataset"
        else f"Data prepared for this {kind} must use the same settings "
        "(`audiodiff prepare MUSIC --out DATA --mel-config THIS_FOLDER`)."
    )
    return [
        "## Mel settings",
        "",
        f"Images of {mel['y_res']} mel bands x {mel['x_res']} frames, {bits}-bit; one image is {slice_seconds:.2f} s "
        f"of audio. {rule}",
        "",
        *table(
            [
                (key, mel[key])
                for key in ("x_res", "y_res", "sample_rate", "n_fft", "hop_length", "top_db", "n_iter")
                if key in mel
            ]
        ),  # fmt: skip
        "",
    ]


def data_section(facts: dict[str, Any], genre: str | None) -> list[str]:
    lines = ["## Training data", ""]
    where = facts.get("where")
    if where is None:
        return [*lines, "Not recorded.", ""]
    if "slices" in facts:
        size = f"{facts['slices']} slices"
        if facts.get("tracks") is not None:
            size += f" of {facts['tracks']} tracks"
        if facts.get("hours"):
            hours = facts["hours"]
            size += f" ({hours:.2f} h of audio)" if hours >= 1 else f" ({hours * 60:.1f} min of audio)"
        lines.append(f"The dataset `{Path(where).name}` (prepared by audiodiff): {size}.")
        genres = facts.get("genres") or {}
        if genres:
            lines += ["", "| genre | tracks | slices |", "|---|---|---|"]
            lines += [f"| {name} | {counts.get('files')} | {counts.get('slices')} |"
                      for name, counts in sorted(genres.items())]  # fmt: skip
    elif facts.get("hub"):
        lines.append(f"The Hugging Face dataset [`{where}`](https://huggingface.co/datasets/{where}).")
    else:
        reason = facts.get("unreadable") or "not on the machine that wrote this card"
        lines.append(f"The dataset `{Path(where).name}` ({reason}; its size is not recorded here).")
    if genre:
        lines += ["", f"Trained on the genre `{genre}` of it only."]
    return [*lines, ""]


def licence_section(licence: str | None, kind: str = "model", derived_from: str | None = None) -> list[str]:
    base = ""
    if derived_from:
        base = f" It is derived from `{derived_from}`, whose licence applies as well (read its card)."
        if derived_from == "audiodiff-base-64":
            base += " The shipped base's weights are CC-BY-SA-3.0: a model derived from them keeps that licence."
    if licence:
        return ["## Licence", "", f"`{licence}`, the licence recorded with the data. The audiodiff code is "
                f"Apache-2.0; this {kind} is a separate work under its own licence.{base}", ""]  # fmt: skip
    return ["## Licence", "", LICENCE_PLACEHOLDER.format(kind=kind) + base, ""]
