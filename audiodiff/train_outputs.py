"""What a diffusion training run writes besides its checkpoints and its pipeline's weights: the artefact-check fences
of its training images (saved with the pipeline), its preview clips (`samples/step_N/sample_K.{png,wav}`, and the
same clips in TensorBoard as images and as audio, so that a user sees and hears the progress), and the copy check of
its last previews against its training rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiodiff.codec import pixels_to_model
from audiodiff.config import MelConfig

PREVIEW_AUDIO_SECONDS = 10.0  # the most of each preview clip TensorBoard gets (a slice is about 6 s at the defaults)


def training_images(rows, bits: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to `count` rows of `rows` (`data.order.TrainingRows`), evenly spaced (so all different): their indices
    `(n,)` and images `(n, 1, height, width)` in model space [-1, 1]."""
    indices = torch.linspace(0, len(rows) - 1, min(count, len(rows))).round().long()
    if rows.bank is not None:
        return indices, pixels_to_model(rows.bank[indices], bits).unsqueeze(1)
    return indices, torch.stack([rows[int(row)][0] for row in indices])


def quality_fences(rows, bits: int, mel_config: MelConfig, count: int | None = None) -> dict[str, Any]:
    """Artefact-check fences fitted on up to `count` training images, evenly spaced over the (genre's) rows, so that
    generated clips can be checked against the music the model learned (`pipeline.check_clips`)."""
    from audiodiff.artifacts import FENCE_SAMPLE, Fences

    indices, images = training_images(rows, bits, FENCE_SAMPLE if count is None else count)
    fences = Fences.from_images(images, mel_config.x_res, float(mel_config.top_db))
    return {"fences": fences.to_dict(), "fitted_on": f"{len(indices)} training images"}


def write_previews(output, bits: int, folder: Path, step: int, tracker=None, mel_config=None) -> None:
    """Write a pipeline's `output` (`AudioDiffusionOutput` of `output_type="np"`: `images` `(batch, height, width)`
    pixels, `audios` `(batch, time)`) as `folder/sample_K.png` and `.wav`, and, given a TensorBoard `SummaryWriter`
    `tracker`, log them at `step`: the images under `samples` (brightness in [0, 1]) and the first
    `PREVIEW_AUDIO_SECONDS` of each clip under `samples/audio_K` at the clips' sample rate. `mel_config`: written
    into each PNG (its `audiodiff:mel` chunk), so that `audiodiff decode` reads it alone."""
    from audiodiff.audio import save_audio
    from audiodiff.codec import save_png

    for index, pixels in enumerate(output.images):
        save_png(folder / f"sample_{index}.png", pixels, bits, mel_config=mel_config)
        save_audio(folder / f"sample_{index}.wav", output.audios[index], output.sample_rate)
    if tracker is None:
        return
    brightness = (pixels_to_model(output.images, bits).unsqueeze(1) + 1) / 2
    tracker.add_images("samples", brightness, step)
    length = int(PREVIEW_AUDIO_SECONDS * output.sample_rate)
    for index, audio in enumerate(output.audios):
        # Clipped as the WAV is (TensorBoard would print a warning for each clip out of range, then clip).
        clip = np.clip(np.asarray(audio, dtype=np.float32)[:length], -1.0, 1.0)
        tracker.add_audio(f"samples/audio_{index}", clip, step, sample_rate=output.sample_rate)


def previews_copy_check(folder: Path, rows, bits: int, mel_config: MelConfig, count: int = 4000):
    """The copy check (`evaluation.copies`) of the preview clips `folder/sample_*.png` against up to `count` training
    rows (`TrainingRows`), with the training set's other tracks as the yardstick: its report section, or None when
    the folder holds no previews."""
    previews = sorted(folder.glob("sample_*.png"))
    if not previews:
        return None
    from audiodiff.codec import load_png
    from audiodiff.evaluation.clips import ClipSet
    from audiodiff.evaluation.copies import copy_check
    from audiodiff.evaluation.report import as_windows

    indices, images = training_images(rows, bits, count)
    dataset = rows.dataset
    files = dataset.with_format("arrow")["audio_file"].to_pylist() if "audio_file" in dataset.column_names else None
    groups = [files[int(row)] if files else "track" for row in indices]
    names = [f"row {int(row)}" for row in indices]
    pixels = [load_png(path) for path in previews]
    generated = torch.stack([pixels_to_model(torch.from_numpy(p.astype("int64")), depth) for p, depth in pixels])
    width, top_db = mel_config.x_res, float(mel_config.top_db)
    generated_set = ClipSet(generated.unsqueeze(1), mel_config, [None] * len(previews), ["preview"] * len(previews),
                            [path.name for path in previews], str(folder), "folder")  # fmt: skip
    training_set = ClipSet(images, mel_config, [None] * len(indices), groups, names, "training rows", "dataset")
    section, _ = copy_check(as_windows(generated_set, width), as_windows(training_set, width), top_db)
    return section
