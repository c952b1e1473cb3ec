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
def wrap_text(text: str, font, width: float, indent: str = "    ") -> list[str]:
    """`text` broken at spaces into lines that `font` draws at most `width` pixels wide, continuation lines starting
    with `indent` (a word longer than the width stays whole on its own line)."""
    words, lines, line = text.split(" "), [], ""
    for word in words:
        candidate = f"{line} {word}" if line else word
        if line and font.getlength(candidate) > width:
            lines.append(line)
            candidate = indent + word
        line = candidate
    return [*lines, line]


def render_figure(
    generated: ClipSet,
    reference: ClipSet,
    report: dict[str, Any],
    path: str | Path,
    columns: int = 4,
    tile: int = 160,
    lines: Sequence[str] = (),
) -> Path:
    """PNG: generated spectrograms (flagged clips first, framed in red with the reason; long clips drawn wide with
    their worst seam marked) above reference spectrograms, then `lines` of text (the report's metric values:
    `evaluation.summary_lines(report)`; this module draws what it is given and imports nothing of evaluation).
    `generated.images`, `reference.images`: `(clips, 1, n_mels, frames)` in [-1, 1]. Returns the file."""
    try:
        font = ImageFont.load_default(size=13)
        title_font = ImageFont.load_default(size=16)
    except TypeError:  # Pillow without FreeType: the bitmap font
        font = title_font = ImageFont.load_default()
    margin, label_width, line_height, caption = 12, 90, 18, 22
    x_res = reference.images.shape[-1]
    stretch = max(1.0, min(generated.images.shape[-1] / x_res, 4.0))  # long clips are drawn wider
    generated_width = int(tile * stretch)
    per_row = max(1, (columns * (tile + margin)) // (generated_width + margin))
    order = _figure_order(generated, report)[: max(per_row, columns if stretch == 1 else 2 * per_row)]
    generated_rows = -(-len(order) // per_row)
    width = max(label_width + max(columns * (tile + margin), per_row * (generated_width + margin)) + margin, 980)
    lines = [part for line in lines for part in wrap_text(line, font, width - 2 * margin)]
    height = margin + 26 + (generated_rows + 1) * (tile + caption) + margin + line_height * len(lines) + margin
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((margin, margin), "audiodiff evaluation", fill=(0, 0, 0), font=title_font)
    top = margin + 26
    flags = {clip["name"]: clip for clip in (report.get("artifacts") or {}).get("per_clip", [])}
    worst = {item["clip"]: item for item in reversed((report.get("seams") or {}).get("worst", []))}
    for position, index in enumerate(order):
        row, column = divmod(position, per_row)
        x, y = label_width + column * (generated_width + margin), top + row * (tile + caption)
        name = generated.names[index]
        picture = Image.fromarray(colourise(generated.images[index, 0]))
        canvas.paste(picture.resize((generated_width, tile), Image.Resampling.BILINEAR), (x, y))
        label = name if len(name) <= 24 else "..." + name[-21:]
        flagged = flags.get(name, {}).get("flagged")
        if flagged:
            draw.rectangle((x - 2, y - 2, x + generated_width + 1, y + tile + 1), outline=(220, 0, 0), width=3)
            label = f"{label}: {', '.join(flags[name]['reasons'])}"
        if name in worst and stretch > 1:
            seconds_per_column = generated_width / generated.images.shape[-1]
            column_x = x + int(worst[name]["seconds"] * generated.mel_config.sample_rate
                               / generated.mel_config.hop_length * seconds_per_column)  # fmt: skip
            draw.line((column_x, y, column_x, y + tile), fill=(0, 200, 255), width=2)
            label += f"  (worst seam {worst[name]['change_db']:.1f} dB)"
        draw.text((x, y + tile + 3), label, fill=(200, 0, 0) if flagged else (60, 60, 60), font=font)
    for row in range(generated_rows):
        draw.text((margin, top + row * (tile + caption) + tile // 2 - 8), "generated", fill=(0, 0, 0), font=font)
    y = top + generated_rows * (tile + caption)
    draw.text((margin, y + tile // 2 - 8), "reference", fill=(0, 0, 0), font=font)
    for column in range(min(columns, len(reference))):
        x = label_width + column * (tile + margin)
        picture = Image.fromarray(colourise(reference.images[column, 0])).resize(
            (tile, tile), Image.Resampling.BILINEAR
        )
        canvas.paste(picture, (x, y))
        name = reference.names[column]
        draw.text((x, y + tile + 3), name if len(name) <= 24 else "..." + name[-21:], fill=(60, 60, 60), font=font)
    y += tile + caption + margin
    for line in lines:
        draw.text((margin, y), line, fill=(0, 0, 0), font=font)
        y += line_height
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")
    return path


def render_copy_pairs(
    generated: ClipSet,
    training: ClipSet,
    pairs: Sequence[tuple[int, int]],
    section: dict[str, Any],
    path,
    tile=160,
    summary: str = "",
) -> Path:
    """PNG of the copy check (`evaluation.copies`): `summary` (its one-paragraph verdict, `copies.copy_summary`) above
    each closest pair side by side, the generated window on the left and its nearest training window on the right,
    captioned with the distance, red when it is a near-copy. `pairs`: (generated window, training window) indices into
    the windowed sets, whose images are `(windows, 1, n_mels, width)` in [-1, 1]. Returns the file."""
    try:
        font = ImageFont.load_default(size=13)
    except TypeError:  # Pillow without FreeType: the bitmap font
        font = ImageFont.load_default()
    margin, caption, line_height = 12, 22, 18
    width = max(2 * tile + 3 * margin + 260, 780)
    header = wrap_text(summary, font, width - 2 * margin, indent="") if summary else []
    top = margin + line_height * len(header) + 6
    height = top + max(1, len(pairs)) * (tile + caption + margin) + margin
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for number, line in enumerate(header):
        draw.text((margin, margin + number * line_height), line, fill=(0, 0, 0), font=font)
    threshold = section.get("threshold_db", 0.0)
    for row, (window, train) in enumerate(pairs):
        y = top + row * (tile + caption + margin)
        for column, (clips, index) in enumerate(((generated, window), (training, train))):
            picture = Image.fromarray(colourise(clips.images[index, 0])).resize((tile, tile), Image.Resampling.BILINEAR)
            x = margin + column * (tile + margin)
            canvas.paste(picture, (x, y))
            name = clips.names[index] if column == 0 else f"{clips.groups[index]} ({clips.names[index]})"
            draw.text((x, y + tile + 3), name if len(name) <= 24 else "..." + name[-21:], fill=(60, 60, 60), font=font)
        distance = float(section["closest"][row]["distance_db"])
        copied = distance < threshold
        draw.text((2 * tile + 3 * margin, y + tile // 2 - 8), f"{distance:.2f} dB" + ("  near-copy" if copied else ""),
                  fill=(220, 0, 0) if copied else (0, 0, 0), font=font)  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")
    return path


def _figure_order(generated: ClipSet, report: dict[str, Any]) -> list[int]:
    """Generated clip indices to show: flagged clips first (in the report's order), then the rest in order."""
    position = {name: index for index, name in enumerate(generated.names)}
    flagged = [
        position[clip["name"]]
        for clip in (report.get("artifacts") or {}).get("per_clip", [])
        if clip["flagged"] and clip["name"] in position
    ]
    return flagged + [index for index in range(len(generated)) if index not in set(flagged)]


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


def preview_sheet(paths: Sequence[str | os.PathLike], captions: Sequence[str], height: int = 128) -> Image.Image:
    """An RGB PIL image of spectrogram PNGs side by side, each `height` pixels tall (its width kept in proportion),
    coloured (`colourise`: low frequencies at the bottom) and captioned: a model card's example spectrograms."""
    from audiodiff.codec import load_png, pixels_to_model

    pictures = []
    for path in paths:
        pixels, bits = load_png(path)
        coloured = colourise(pixels_to_model(torch.from_numpy(pixels.astype(np.int64)), bits))
        picture = Image.fromarray(coloured)
        pictures.append(picture.resize((max(1, round(height * picture.width / picture.height)), height)))
    caption, gap = 14, 6
    width = gap + sum(picture.width + gap for picture in pictures)
    sheet = Image.new("RGB", (max(width, 2 * gap), height + caption + 2 * gap), color="white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    left = gap
    for picture, text in zip(pictures, captions):
        sheet.paste(picture, (left, gap))
        draw.text((left, gap + height + 1), text, fill="black", font=font)
        left += picture.width + gap
    return sheet


# --- one spectrogram with a time axis ---------------------------------------------------------------------------------
_TICK_STEPS = (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300)


def spectrogram_picture(
    image: torch.Tensor | np.ndarray,
    seconds_per_column: float,
    height: int = 192,
    max_width: int = 1600,
    highlight: tuple[float, float] | None = None,
) -> Image.Image:
    """One spectrogram `(n_mels, frames)` in [-1, 1] as an RGB picture with a time axis in seconds underneath.

    Low frequencies at the bottom, coloured by `colourise`; scaled to `height` pixels (the same factor across,
    at most `max_width`). `highlight` = `(start, end)` seconds dims everything outside that range (the part an
    inpainting regenerates).
    """
    colours = colourise(torch.as_tensor(np.asarray(image, dtype=np.float32)))
    rows, frames = colours.shape[:2]
    scale = height / rows
    width = max(1, min(max_width, round(frames * scale)))
    picture = Image.fromarray(colours).resize((width, height), Image.Resampling.NEAREST if scale >= 2 else
                                              Image.Resampling.BILINEAR)  # fmt: skip
    duration = frames * seconds_per_column
    pixels_per_second = width / duration if duration > 0 else 0.0
    if highlight is not None and pixels_per_second:
        start, end = (min(max(value, 0.0), duration) * pixels_per_second for value in highlight)
        shaded = np.asarray(picture).astype(np.float32)
        outside = np.ones(width, dtype=bool)
        outside[int(start) : max(int(start) + 1, int(round(end)))] = False
        shaded[:, outside] *= 0.35
        picture = Image.fromarray(shaded.round().astype(np.uint8))
        ImageDraw.Draw(picture).rectangle((int(start), 0, max(int(start), int(round(end)) - 1), height - 1),
                                          outline=(0, 220, 255), width=2)  # fmt: skip
    try:
        font = ImageFont.load_default(size=12)
    except TypeError:  # Pillow without FreeType: the bitmap font
        font = ImageFont.load_default()
    axis = 20
    canvas = Image.new("RGB", (width, height + axis), (255, 255, 255))
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    if pixels_per_second:
        # About one labelled tick per 90 pixels, at a round number of seconds.
        step = next((tick for tick in _TICK_STEPS if tick * pixels_per_second >= 90), _TICK_STEPS[-1])
        for index in range(int(duration / step) + 1):
            seconds = index * step
            x = min(width - 1, round(seconds * pixels_per_second))
            draw.line((x, height, x, height + 4), fill=(60, 60, 60))
            label = f"{seconds:g} s" if index == 0 else f"{seconds:g}"
            text_width = draw.textlength(label, font=font)
            if x + text_width <= width:
                draw.text((x + 2 if index == 0 else x - text_width / 2, height + 5), label, fill=(60, 60, 60),
                          font=font)  # fmt: skip
    return canvas
