"""Figures: the colour map and the loss plot (the contact sheet and report figure are tested with their data)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from audiodiff.figures import colourise, write_loss_plot


def test_colourise_puts_the_lowest_band_at_the_bottom_dark_to_bright():
    image = torch.full((4, 3), -1.0)
    image[0] = 1.0  # the lowest mel band at full level
    colours = colourise(image)
    assert colours.shape == (4, 3, 3) and colours.dtype == np.uint8
    assert colours[-1].tolist() == [[252, 253, 191]] * 3  # brightest anchor, drawn at the bottom
    assert colours[0].tolist() == [[0, 0, 4]] * 3


def test_loss_plot_draws_the_raw_and_smoothed_curves(tmp_path):
    losses = [1.0 / (step + 1) for step in range(100)]
    path = write_loss_plot(losses, tmp_path / "loss.png", "loss")
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape == (240, 640, 3)
    colours = {tuple(pixel) for pixel in pixels.reshape(-1, 3)}
    assert (170, 190, 230) in colours and (20, 60, 160) in colours


def test_spectrogram_picture_has_a_time_axis_and_highlights_a_range():
    from audiodiff.figures import spectrogram_picture

    image = torch.zeros(32, 64)
    picture = spectrogram_picture(image, seconds_per_column=0.1, height=96)  # 6.4 s
    assert picture.size == (192, 96 + 20)
    axis = np.asarray(picture)[96:]
    assert (axis < 128).any()  # tick marks and labels under the picture
    shaded = np.asarray(spectrogram_picture(image, 0.1, height=96, highlight=(1.0, 2.0)))
    inside, outside = shaded[48, 45], shaded[48, 150]  # 1.5 s and 5 s into the clip
    assert inside.sum() > outside.sum()


def test_long_text_lines_are_wrapped_to_the_figure_width():
    from PIL import ImageFont

    from audiodiff.figures import wrap_text

    try:
        font = ImageFont.load_default(size=13)
    except TypeError:
        font = ImageFont.load_default()
    text = "copies: 3 of 12 generated windows are within 6.10 dB of a training window " * 4
    lines = wrap_text(text.strip(), font, 400)
    assert len(lines) > 1
    assert all(font.getlength(line) <= 400 for line in lines)
    assert all(line.startswith("    ") for line in lines[1:])
    assert " ".join(line.strip() for line in lines) == text.strip()  # no word lost or split
    assert wrap_text("short", font, 400) == ["short"]
    assert wrap_text("a" * 200, font, 50) == ["a" * 200]  # one word wider than the width stays whole
