"""Seamless loops, the `loop` job (`audiodiff inpaint --loop`, the studio's loop tab): the wrap of one slice
regenerated, or (bar mode) a whole number of bars of the input, read with `beats.bar_grid`, joined where the last
bar runs into the first (`BarLoop`)."""

from __future__ import annotations

import dataclasses
import numbers
from typing import TYPE_CHECKING

import numpy as np

from audiodiff import clip_drawing  # its `sample` through the module, as in `sampling`
from audiodiff.audio import rms, set_level
from audiodiff.clip_drawing import (
    Clips,
    Progress,
    check_steps,
    clip_generators,
    clip_seeds,
    one_slice,
    reporting_progress,
)
from audiodiff.inpainting import InpaintRange

if TYPE_CHECKING:
    from audiodiff.pipeline import AudioDiffusionPipeline

# Bar mode reads the tempo from at most this much audio after the offset: enough beats for a precise period, a bounded
# cost on a long song (librosa's beat tracker takes about 0.5 s per minute here).
BAR_ANALYSIS_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class BarLoop:
    """A loop made of whole bars: `bars` bars of `beats_per_bar` beats at `tempo_bpm`, taken from the input starting
    on its downbeat at `offset_seconds`; each clip is `samples` long (`bars * beats_per_bar * 60 / tempo_bpm` seconds,
    to the sample) and starts on the downbeat."""

    bars: int
    tempo_bpm: float
    beats_per_bar: int
    offset_seconds: float
    samples: int


def loop(
    pipeline: AudioDiffusionPipeline,
    audio: np.ndarray,
    loop_seconds: float | None,
    offset_seconds: float = 0.0,
    count: int = 1,
    seed: int = 0,
    steps: int | None = None,
    genre: str | int | None = None,
    guidance: float = 1.0,
    progress: Progress | None = None,
    bars: int | str | None = None,
    beats_per_bar: int = 4,
) -> Clips:
    """`count` seamless loops of the slice starting `offset_seconds` into `(time,)` audio: `loop_seconds` around the
    point where its end wraps to its start are regenerated. Each is `x_res * hop_length` samples.

    bars: a whole number of bars (an int, or "auto": the most that fit in a slice, at least one) of the input
    instead of the slice: see `_bar_loops`. Then `loop_seconds` is the width regenerated around the join of the last
    bar into the first (None: one beat), the loop starts on the first downbeat at or after `offset_seconds`, is the
    input sample for sample outside the regenerated span, and `Clips.bars` tells the tempo and bars.
    """
    steps = check_steps(pipeline, steps)
    if bars is not None:
        return _bar_loops(pipeline, audio, loop_seconds, offset_seconds, count, seed, steps, genre, guidance, progress,
                          bars, beats_per_bar)  # fmt: skip
    if loop_seconds is None or not loop_seconds > 0:
        raise ValueError(f"loop seconds must be positive, got {loop_seconds}")
    clip = one_slice(audio, pipeline, offset_seconds)
    audios, images = [], []
    with reporting_progress(progress, pipeline):
        for index in range(count):
            output = clip_drawing.sample(
                pipeline, audio=clip, loop_seconds=loop_seconds, num_inference_steps=steps, genre=genre,
                guidance_scale=guidance, generator=clip_generators(seed, 1, index),
            )  # fmt: skip
            audios.append(output.audios[0])
            images.append(output.images[0])
    audios = set_level(np.stack(audios), rms(clip))  # at the level of the slice it loops
    return Clips(audios, np.stack(images), pipeline.sample_rate, pipeline.bits, clip_seeds(seed, count))


def _bar_loops(
    pipeline: AudioDiffusionPipeline,
    audio: np.ndarray,
    seam_seconds: float | None,
    offset_seconds: float,
    count: int,
    seed: int,
    steps: int | None,
    genre: str | int | None,
    guidance: float,
    progress: Progress | None,
    bars: int | str,
    beats_per_bar: int,
) -> Clips:
    """Loops of a whole number of bars of `(time,)` audio: `(count, samples)` clips that start on a downbeat and
    loop at exactly `samples = bars * bar length` (at the tempo `beats.bar_grid` reads from the audio).

    The model's own loop wraps at its canvas's width, which is no number of bars, and a canvas is one slice wide,
    often shorter than a bar (1.5 s for the shipped base). So the bars are laid out circularly instead: the B-sample
    bars from the downbeat are tiled across one slice with the join of the last bar into the first downbeat in its
    middle (`canvas[t] = bars[(t - middle) mod B]`, whether B is shorter or longer than the slice), `seam_seconds`
    around that join are regenerated in that context (the pipeline's inpainting) and spliced back into the bars with
    `inpainting.InpaintRange`'s cross-fades, at the level of the slice around them. Outside the regenerated span
    (the seam plus 0.1 s of cross-fade on each side) each loop is the input sample for sample; the wrap from its last
    sample to its first lies inside the span, in audio decoded in one piece, so it does not click.

    `bars="auto"`: the most bars that fit in one slice, at least one. `seam_seconds` (None: one beat) is at most the
    loop and the slice less their cross-fades. `Clips.images` hold the regenerated slices, as for `inpaint`.
    """
    from audiodiff.beats import bar_grid, bar_loop
    from audiodiff.inpainting import CROSSFADE_SECONDS

    if bars != "auto" and (isinstance(bars, bool) or not isinstance(bars, numbers.Integral) or bars < 1):
        raise ValueError(f"bars must be a whole number of at least 1 or 'auto', got {bars!r}")
    if seam_seconds is not None and not seam_seconds > 0:
        raise ValueError(f"loop seconds must be positive, got {seam_seconds:g}")
    rate, size = pipeline.sample_rate, pipeline.mel_config.slice_size
    one_slice(audio, pipeline, offset_seconds)  # checks the offset
    start = int(round(offset_seconds * rate))
    grid = bar_grid(np.asarray(audio[start : start + int(BAR_ANALYSIS_SECONDS * rate)]), rate, beats_per_bar)
    if bars == "auto":
        offset, seconds = bar_loop(grid, max(size / rate, grid.bar_seconds))
    else:
        offset, seconds = bar_loop(grid, grid.seconds, int(bars))
    samples = int(round(seconds * rate))
    first = start + int(round(offset * rate))
    piece = np.asarray(audio[first : first + samples], dtype=np.float32)
    piece = np.pad(piece, (0, samples - len(piece)))  # bar_loop allows the last bar to end a frame past the clip
    middle = size // 2
    canvas = piece[(np.arange(size) - middle) % samples]
    seam = seam_seconds if seam_seconds is not None else grid.bar_seconds / grid.beats_per_bar
    # the span replaced (the seam and its cross-fades) must fit in the slice and leave some of the bars untouched
    room = min(samples, size - 2 * pipeline.mel_config.hop_length) / rate - 2 * CROSSFADE_SECONDS
    seam = min(seam, max(room, 2 / rate))
    span = InpaintRange.from_seconds(size, middle / rate - seam / 2, middle / rate + seam / 2, rate, size)
    replaced = np.arange(span.begin, span.end)
    draws = clip_drawing.regenerated(pipeline, canvas, span.seconds_in_slice(), count, seed, progress,
                                     num_inference_steps=steps, genre=genre, guidance_scale=guidance)  # fmt: skip
    audios, images = [], []
    for regenerated, pixels in draws:
        spliced = span.splice(canvas, regenerated)
        looped = piece.copy()
        looped[(replaced - middle) % samples] = spliced[replaced]
        audios.append(looped)
        images.append(pixels)
    found = BarLoop(int(round(seconds / grid.bar_seconds)), grid.tempo_bpm, grid.beats_per_bar,
                    (first / rate), samples)  # fmt: skip
    return Clips(np.stack(audios), np.stack(images), rate, pipeline.bits, clip_seeds(seed, count), bars=found)
