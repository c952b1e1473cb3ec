"""The README's figure of `generate --bpm`: the base's clips with white noise and at a tempo, the same seeds, beside
held-out real music, drawn from the sets `bench_base.py --also-bpm B` left in its work folder; and the first clip of
each set copied to `docs/base-examples/` for the README's links.

    python scripts/docs_bpm_figure.py [--genres electronic,rock] [--bpm 120] [--clips 0,1] [--out docs]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from bench_base import WORK
from PIL import Image, ImageDraw

from audiodiff.codec import load_png, pixels_to_model
from audiodiff.figures import colourise


def tile(png: Path, width: int, height: int) -> Image.Image:
    pixels, bits = load_png(png)
    image = colourise(pixels_to_model(torch.from_numpy(pixels.astype("int64")), bits))
    return Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", default="electronic,rock")
    parser.add_argument("--bpm", type=float, default=120.0)
    parser.add_argument("--clips", default="0,1")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    clips = [int(value) for value in args.clips.split(",")]
    columns = [("base model", "generate --genre G --seconds 6"),
               (f"base model ({args.bpm:g} BPM)", f"... --bpm {args.bpm:g}"),
               ("real", "real held-out music (not trained on)")]  # fmt: skip
    width, height, label, gap, caption = 300, 80, 80, 10, 14
    genres = args.genres.split(",")
    canvas = Image.new("RGB", (label + 3 * (width + gap), 28 + len(genres) * len(clips) * (height + caption) + 8 *
                               len(genres)), "white")  # fmt: skip
    draw = ImageDraw.Draw(canvas)
    for column, (_, title) in enumerate(columns):
        draw.text((label + column * (width + gap), 8), title, fill=(0, 0, 0))
    y = 28
    examples = args.out / "base-examples"
    examples.mkdir(parents=True, exist_ok=True)
    for genre in genres:
        sets = WORK / genre / "sets"
        real = sorted((WORK / genre / "docs-examples").glob(f"{genre}-real-*.png")) or sorted(
            (sets / "real held-out 6 s, whole").glob("*.png"))  # fmt: skip
        draw.text((6, y + height // 2), genre, fill=(0, 0, 0))
        for row, index in enumerate(clips):
            pictures = [sets / name / f"generated_{index:03d}.png" for name, _ in columns[:2]]
            pictures.append(real[row % len(real)])
            for column, png in enumerate(pictures):
                canvas.paste(tile(png, width, height), (label + column * (width + gap), y))
                name = f"seed {index}" if column < 2 else png.stem[:44]
                draw.text((label + column * (width + gap), y + height + 1), name, fill=(60, 60, 60))
            y += height + caption
        y += 8
        shutil.copyfile(sets / columns[1][0] / f"generated_{clips[0]:03d}.wav",
                        examples / f"{genre}-generated-{clips[0]}-{args.bpm:g}bpm.wav")  # fmt: skip
    path = args.out / "base-bpm-vs-real.png"
    canvas.quantize(256).save(path, optimize=True)  # a palette: half the bytes in git
    print(path)


if __name__ == "__main__":
    main()
