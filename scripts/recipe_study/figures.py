"""The recipe table's pictures: every run's loss curve, and a contact sheet of each recipe's clips."""

from __future__ import annotations

import math
from pathlib import Path

from recipe_study.run import clips_file, run_folder
from recipe_study.settings import INSTRUMENT, RECIPES, Settings


def thin(values: list[float], points: int) -> list[list[float]]:
    """[step, mean loss] over `points` equal windows of the curve."""
    size = max(1, math.ceil(len(values) / points))
    return [
        [start + size, round(sum(values[start : start + size]) / len(values[start : start + size]), 6)]
        for start in range(0, len(values), size)
    ]


COLOURS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
]


def draw_loss_curves(results: dict, recipes: list[str], path: Path) -> None:
    """One line per run (colour: recipe; lighter and thinner: later seeds), smoothed, on a log scale."""
    from PIL import Image, ImageDraw

    curves = [
        (recipe, seed, thin(result["losses"], 300))
        for (recipe, seed), result in sorted(results.items())
        if "losses" in result and result["losses"]
    ]
    width, height, left, right, top, bottom = 980, 460, 60, 230, 30, 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 8), "training loss per run (each recipe's own objective; smoothed, log scale)", fill="black")
    draw.rectangle([left, top, width - right, height - bottom], outline="gray")
    if not curves:
        image.save(path)
        return
    values = [math.log10(max(value, 1e-8)) for _, _, curve in curves for _, value in curve]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    last = max(curve[-1][0] for _, _, curve in curves)

    def point(step: float, value: float) -> tuple[float, float]:
        x = left + (width - left - right) * step / last
        return x, top + (height - top - bottom) * (high - math.log10(max(value, 1e-8))) / span

    for recipe, seed, curve in curves:
        colour = COLOURS[recipes.index(recipe) % len(COLOURS)] if recipe in recipes else (0, 0, 0)
        shade = 0.45 * min(seed, 1)
        colour = tuple(round(c + (255 - c) * shade) for c in colour)
        draw.line([point(step, value) for step, value in curve], fill=colour, width=2 if seed == 0 else 1)
    for fraction in (0.0, 0.5, 1.0):
        exponent = high - fraction * span
        y = top + (height - top - bottom) * fraction
        draw.text((4, y - 6), f"{10**exponent:.3g}", fill="black")
    draw.text((left, height - bottom + 8), "0", fill="black")
    draw.text((width - right - 60, height - bottom + 8), f"step {last}", fill="black")
    for index, recipe in enumerate(recipes):
        y = top + 8 + 18 * index
        colour = COLOURS[index % len(COLOURS)]
        draw.line([(width - right + 12, y + 6), (width - right + 40, y + 6)], fill=colour, width=3)
        draw.text((width - right + 46, y), recipe, fill="black")
    draw.text((width - right + 12, top + 8 + 18 * len(recipes) + 6), "lighter, thin: seed 1+", fill="black")
    image.save(path)


def draw_contact_sheet(args, settings: Settings, recipe: str, results: dict, path: Path) -> None:
    """Generated clips of every seed of the recipe, one row per (seed, genre), flagged clips framed in red, above
    held-out reference clips of each genre."""
    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    from audiodiff.figures import colourise

    data_dir = args.work / settings.data_key()
    rows: list[tuple[str, np.ndarray, set]] = []
    for (name, seed), result in sorted(results.items()):
        if name != recipe:
            continue
        sets = result["rows"] if recipe == INSTRUMENT else {"": result}
        for set_name, row in sets.items():
            stored = np.load(clips_file(run_folder(args, name, seed), set_name))
            genres = stored["genres"].tolist()
            for genre in dict.fromkeys(genres):
                indices = [index for index, value in enumerate(genres) if value == genre]
                flagged = {position for position, index in enumerate(indices) if index in set(row["flagged_clips"])}
                label = f"{set_name or f'seed {seed}'}: {genre}"
                rows.append((label, stored["images"][indices], flagged))
    reference = torch.load(data_dir / "reference.pt")
    for genre in dict.fromkeys(reference["genres"]):
        indices = [index for index, value in enumerate(reference["genres"]) if value == genre]
        pixels = ((reference["images"][indices, 0] + 1) * 127.5).round().to(torch.uint8).numpy()
        rows.append((f"reference: {genre}", pixels, set()))
    scale = max(1, 64 // settings.mel["y_res"])
    tile_w, tile_h = settings.mel["x_res"] * scale, settings.mel["y_res"] * scale
    columns = min(12, max(len(images) for _, images, _ in rows))
    label_width, gap, caption = 190, 4, 16
    sheet = Image.new("RGB", (label_width + columns * (tile_w + gap), caption + len(rows) * (tile_h + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 2), f"{recipe}: {RECIPES.get(recipe, ('known sets',))[0]}", fill="black")
    for row_index, (label, images, flagged) in enumerate(rows):
        y = caption + row_index * (tile_h + gap)
        draw.text((4, y + tile_h // 2 - 6), label[:30], fill="black")
        for column, pixels in enumerate(images[:columns]):
            x = label_width + column * (tile_w + gap)
            picture = Image.fromarray(colourise(torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1)))
            sheet.paste(picture.resize((tile_w, tile_h), Image.Resampling.NEAREST), (x, y))
            if column in flagged:
                draw.rectangle((x, y, x + tile_w - 1, y + tile_h - 1), outline=(230, 0, 0), width=2)
    # A 256-colour palette keeps the colour map (itself 8 anchors blended) and a third of the file size.
    sheet.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
