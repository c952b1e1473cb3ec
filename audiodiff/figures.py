"""Pictures for people: the dataset contact sheet, the evaluation report figure and training loss plots.

Drawn with PIL only (no plotting library needed). Spectrograms are stored with row 0 = the lowest mel band; every
picture here flips them so that low frequencies are at the bottom, as on a spectrogram plot.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from audiodiff.codec import pil_to_pixels

if TYPE_CHECKING:
    from audiodiff.data import SpectrogramDataset
    from audiodiff.evaluation.clips import ClipSet


# --- the colour map ---------------------------------------------------------------------------------------------------
# Anchor colours of a perceptually ordered dark-to-bright map (close to matplotlib's "magma").
_COLOUR_ANCHORS = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
     [252, 253, 191]],
    dtype=np.float32,
)  # fmt: skip


def colourise(image: torch.Tensor) -> np.ndarray:
    """One spectrogram `(n_mels, frames)` in [-1, 1] -> RGB uint8 `(n_mels, frames, 3)`, flipped for display.

    Row 0 of the image is the lowest mel band; the picture puts it at the bottom, as on a spectrogram plot.
    """
    unit = ((torch.as_tensor(image).float().clamp(-1, 1) + 1) / 2).numpy()[::-1]
    position = unit * (len(_COLOUR_ANCHORS) - 1)
    lower = np.floor(position).astype(int).clip(0, len(_COLOUR_ANCHORS) - 2)
    weight = (position - lower)[..., None]
    colours = _COLOUR_ANCHORS[lower] * (1 - weight) + _COLOUR_ANCHORS[lower + 1] * weight
    return colours.round().astype(np.uint8)


# --- the evaluation report figure -------------------------------------------------------------------------------------
def render_figure(
    generated: ClipSet, reference: ClipSet, report: dict[str, Any], path: str | Path, columns: int = 4, tile: int = 160
) -> Path:
    """PNG: a row of generated spectrograms above a row of reference spectrograms, then the metric values.

    Returns the file.
    """
    # Imported here: the report module itself draws its figure with this function.
    from audiodiff.evaluation.report import summary_lines

    try:
        font = ImageFont.load_default(size=13)
        title_font = ImageFont.load_default(size=16)
    except TypeError:  # Pillow without FreeType: the bitmap font
        font = title_font = ImageFont.load_default()
    margin, label_width, line_height = 12, 90, 18
    lines = summary_lines(report)
    width = max(label_width + columns * (tile + margin) + margin, 980)
    height = margin + 26 + 2 * (tile + 22) + margin + line_height * len(lines) + margin
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((margin, margin), "audiodiff evaluation", fill=(0, 0, 0), font=title_font)
    top = margin + 26
    for row, (label, clips) in enumerate((("generated", generated), ("reference", reference))):
        y = top + row * (tile + 22)
        draw.text((margin, y + tile // 2 - 8), label, fill=(0, 0, 0), font=font)
        for column in range(min(columns, len(clips))):
            x = label_width + column * (tile + margin)
            picture = Image.fromarray(colourise(clips.images[column, 0])).resize(
                (tile, tile), Image.Resampling.BILINEAR
            )
            canvas.paste(picture, (x, y))
            name = clips.names[column]
            draw.text((x, y + tile + 3), name if len(name) <= 24 else "..." + name[-21:], fill=(60, 60, 60), font=font)
    y = top + 2 * (tile + 22) + margin
    for line in lines:
        draw.text((margin, y), line, fill=(0, 0, 0), font=font)
        y += line_height
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")
    return path


# --- the dataset contact sheet ----------------------------------------------------------------------------------------
def contact_sheet(spectrograms: SpectrogramDataset, per_genre: int = 8, max_genres: int = 16, cell: int = 128):
    """A PIL image: one row per genre (or one row when unlabelled) of up to `per_genre` slices spread evenly over
    that genre's rows, each captioned with its track and slice. Low frequencies are drawn at the bottom (the stored
    image has row 0 = lowest band at the top); 16-bit images are shown at 8 bits."""
    dataset = spectrograms.dataset
    if spectrograms.genres and "genre" in dataset.column_names:
        labels = np.asarray(dataset.with_format("arrow")["genre"].to_numpy())
        groups = [
            (name, np.flatnonzero(labels == index)) for index, name in enumerate(spectrograms.genres[:max_genres])
        ]
        groups = [(name, rows) for name, rows in groups if len(rows)]
    else:
        groups = [("all", np.arange(len(dataset)))]
    names = (
        dataset.with_format("arrow")["audio_file"].to_pylist()
        if "audio_file" in dataset.column_names
        else [str(row) for row in range(len(dataset))]
    )
    slices = (
        dataset.with_format("arrow")["slice"].to_pylist() if "slice" in dataset.column_names else [0] * len(dataset)
    )
    aspect = spectrograms.mel_config.y_res / spectrograms.mel_config.x_res
    cell_height = max(8, round(cell * aspect))
    font = ImageFont.load_default()
    header, caption, gap = 110, 14, 6
    columns = max(1, min(per_genre, max(len(rows) for _, rows in groups)))
    sheet = Image.new(
        "L", (header + columns * (cell + gap), len(groups) * (cell_height + caption + gap) + gap), color=255
    )
    draw = ImageDraw.Draw(sheet)
    for row_index, (name, rows) in enumerate(groups):
        top = gap + row_index * (cell_height + caption + gap)
        draw.text((4, top + cell_height // 2 - 6), name[:16], fill=0, font=font)
        chosen = rows[np.unique(np.linspace(0, len(rows) - 1, min(per_genre, len(rows))).round().astype(int))]
        for column, row in enumerate(chosen):
            pixels, bits = pil_to_pixels(dataset[int(row)]["image"])
            if bits == 16:
                pixels = (pixels >> 8).astype(np.uint8)
            thumbnail = Image.fromarray(np.ascontiguousarray(pixels[::-1])).resize((cell, cell_height))
            left = header + column * (cell + gap)
            sheet.paste(thumbnail, (left, top))
            label = f"{Path(names[row]).stem[:14]} #{slices[row]}"
            draw.text((left, top + cell_height + 1), label, fill=0, font=font)
    return sheet


def write_contact_sheet(spectrograms: SpectrogramDataset, path: str | os.PathLike, **options) -> Path:
    """Write `contact_sheet(spectrograms, **options)` as PNG to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(spectrograms, **options).save(path, format="PNG")
    return path


# --- training loss ----------------------------------------------------------------------------------------------------
def write_loss_plot(losses: Sequence[float], path: Path, title: str) -> Path:
    """A PNG line plot of a loss curve (raw and smoothed)."""
    width, height, margin = 640, 240, 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, 8), title, fill="black")
    if losses:
        low, high = min(losses), max(losses)
        span = (high - low) or 1.0

        def point(index: int, value: float) -> tuple[float, float]:
            x = margin + (width - 2 * margin) * index / max(1, len(losses) - 1)
            return x, height - margin - (height - 2 * margin) * (value - low) / span

        draw.line([point(i, v) for i, v in enumerate(losses)], fill=(170, 190, 230), width=1)
        window = max(1, len(losses) // 25)
        smooth = [
            sum(losses[max(0, i - window) : i + 1]) / len(losses[max(0, i - window) : i + 1])
            for i in range(len(losses))
        ]
        draw.line([point(i, v) for i, v in enumerate(smooth)], fill=(20, 60, 160), width=2)
        draw.text((4, margin - 6), f"{high:.3f}", fill="black")
        draw.text((4, height - margin - 6), f"{low:.3f}", fill="black")
        draw.text((width - margin - 40, height - margin + 8), f"step {len(losses)}", fill="black")
    draw.rectangle([margin, margin, width - margin, height - margin], outline="gray")
    image.save(path)
    return path
