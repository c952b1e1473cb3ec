"""The sampling jobs behind `audiodiff generate / vary / inpaint / edit / interpolate` and the studio's tabs.

Each job takes plain values (a seed, seconds, a genre name, a clip as `(time,)` audio) and a loaded
`AudioDiffusionPipeline`, and returns `Clips`. The CLI writes them to files and the studio (`audiodiff.ui`) shows
them; because both call these functions, a clip made in the studio is remade sample for sample by the command the
studio prints.

Seeds: clip k of a job with seed S is drawn from its own generator seeded `S + k` (`clip_generators`), so any single
clip can be remade alone with seed `S + k` and a count of 1 (the same spectrogram up to float rounding; clips are
sampled in batches of `batch_size` and the vocoder's phase is drawn from the first generator of each batch).

Errors are `ValueError`s with a one-line message (an unknown genre, a range outside the clip, steps outside
`1..max_steps(pipeline)` (`check_steps`), ...), the pipeline's own; reading audio is the caller's
(`audiodiff.audio.load_audio`, which raises `AudioError`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audiodiff import editing
from audiodiff.audio import GENERATED_RMS, rms, set_level
from audiodiff.inpainting import InpaintRange

if TYPE_CHECKING:
    from audiodiff.pipeline import AudioDiffusionPipeline

# The sampler of edits and of interpolations between real clips: DDIM without clipping, which DDIM inversion
# inverts exactly (`AudioDiffusionPipeline.invert`).
INVERTIBLE_SCHEDULER = "ddim-exact"
# Seeds drawn for the user stay below 2**31 so that they are short to type; any seed below 2**63 works.
RANDOM_SEED_LIMIT = 2**31 - 1
MORPH_CROSSFADE_SECONDS = 0.05
# Rounds of drawing again the clips that fail the artefact check, for `generate` and `vary` in the CLI and the studio.
DEFAULT_REDRAW = 3
# The longest clip `generate` makes. A long clip is denoised as one batch of overlapping windows, so memory and the
# time of a step grow with its length: on the demo's model (3.7 M parameters, 64 bands, CPU, one clip at once) the
# peak was 0.98 GB at 1 s, 1.66 GB at 60 s, 2.18 GB at 120 s, 3.57 GB at 240 s: about 1 GB + 11 MB per second of
# clip, so 4.2 GB at 300 s (600 s took 7 GB and 65 s per step), and clips sampled at once add up. 300 s (five
# minutes, 200 demo slices) still fits a laptop's memory.
MAX_SECONDS = 300.0

# progress(run, step, steps): sampling (or inversion) run `run` (1, 2, ...) has done `step` of its `steps` steps.
Progress = Callable[[int, int, int], None]
# on_clip(k, audio, pixels): clip k of the job is final (after any redraw, at its playing level): `(time,)` audio and
# `(n_mels, frames)` integer pixels. The CLI writes it at once, so a long job keeps what it has made if it stops.
ClipDone = Callable[[int, np.ndarray, np.ndarray], None]


@dataclasses.dataclass
class Clips:
    """What a job made.

    audios: `(count, time)` float32 in [-1, 1] at `sample_rate` (for inpainting, the whole input clip with the range
        regenerated). images: integer pixels `(count, n_mels, frames)` at `bits` (for inpainting and loops, the
        regenerated slice). seeds: the seed of each clip's generator (after any redraw). redrawn: the clips drawn again
    because they failed the artefact check; failing: clip -> reasons for clips that still fail it; checked: whether
    the pipeline had fences to check against (`AudioDiffusionPipeline.check_clips`). bars: for loops made in bar
    mode, their tempo and bars (`BarLoop`); each audio then loops from its first sample to its last.
    """

    audios: np.ndarray
    images: np.ndarray
    sample_rate: int
    bits: int
    seeds: list[int]
    redrawn: list[Redraw] = dataclasses.field(default_factory=list)
    failing: dict[int, list[str]] = dataclasses.field(default_factory=dict)
    checked: bool = False
    bars: BarLoop | None = None

    def __len__(self) -> int:
        return len(self.audios)


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


@dataclasses.dataclass(frozen=True)
class Redraw:
    """Clip `clip` failed the artefact check for `reasons` and was drawn again with seed `seed`."""

    clip: int
    reasons: list[str]
    seed: int


def max_steps(pipeline: AudioDiffusionPipeline) -> int:
    """The most inference steps `pipeline`'s sampler can take: its scheduler's `num_train_timesteps` (1000 for every
    model here). More steps than training timesteps only repeat timesteps (DDPM refuses them), while each costs a UNet
    call, and the schedule is built before the first step."""
    return int(pipeline.scheduler.config.get("num_train_timesteps", 1000))


def check_steps(pipeline: AudioDiffusionPipeline, steps: float | None) -> int | None:
    """`steps` as an int (None stays None: the sampler's default), or a ValueError with a one-line message when it is
    not a whole number from 1 to `max_steps(pipeline)`. Every job here calls it before sampling; the CLI and the
    studio rely on it."""
    if steps is None:
        return None
    maximum = max_steps(pipeline)
    whole = (
        isinstance(steps, numbers.Real)
        and not isinstance(steps, bool)
        and math.isfinite(steps)
        and float(steps) == int(steps)
    )
    if not whole or not 1 <= int(steps) <= maximum:
        raise ValueError(
            f"steps must be a whole number from 1 to {maximum} (the sampler's training timesteps), got {steps!r}"
        )
    return int(steps)


def check_seconds(seconds: float | None) -> None:
    """A ValueError (one line) unless `seconds` is None (one slice) or in `(0, MAX_SECONDS]`."""
    if seconds is not None and not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise ValueError(
            f"seconds must be above 0 and at most {MAX_SECONDS:g} (memory grows with length), got {seconds!r}"
        )


def windows_per_step(
    pipeline: AudioDiffusionPipeline, seconds: float | None, overlap_seconds: float | None = None
) -> int:
    """How many model windows one sampling step of a `seconds` clip evaluates (1 up to the widest trained width): the
    cost of a step, and its memory, relative to a one-slice clip."""
    if seconds is None:
        return 1
    config = pipeline.mel_config
    window = config.x_res * pipeline.native_widths[-1]
    frames = max(1, editing.seconds_to_frames(seconds, config.sample_rate, config.hop_length))
    overlap = window // 2
    if overlap_seconds is not None:
        overlap = editing.seconds_to_frames(overlap_seconds, config.sample_rate, config.hop_length)
    return len(editing.window_starts(frames, window, min(max(1, window - overlap), window)))


def random_seed() -> int:
    """A fresh seed (from torch's global generator: the one place a seed is not given)."""
    return int(torch.randint(0, RANDOM_SEED_LIMIT, ()).item())


def clip_generators(seed: int, count: int, first: int = 0) -> list[torch.Generator]:
    """One CPU generator per clip, seeded `seed + first + k` (CPU, so a seed gives the same noise on any device)."""
    return [torch.Generator().manual_seed(seed + first + index) for index in range(count)]


def batches(count: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(first clip, clips) of each batch."""
    for first in range(0, count, max(1, batch_size)):
        yield first, min(batch_size, count - first)


def set_griffin_lim_iterations(
    pipeline: AudioDiffusionPipeline, n_iter: int | None, phase_init: str | None = None
) -> None:
    """Decode the pipeline's spectrograms with `n_iter` Griffin-Lim iterations (None: its mel config's `n_iter`),
    starting from `phase_init` ("pghi" or "random"; None: the default)."""
    from audiodiff.vocoders.griffin_lim import DEFAULT_PHASE_INIT, PHASE_INITS

    if n_iter is not None and int(n_iter) < 1:
        raise ValueError(f"Griffin-Lim iterations must be at least 1, got {n_iter}")
    if phase_init is not None and phase_init not in PHASE_INITS:
        raise ValueError(f"phase_init must be one of {', '.join(PHASE_INITS)}, got {phase_init!r}")
    vocoder = pipeline.codec().vocoder
    if hasattr(vocoder, "set_griffin_lim"):  # a trained vocoder: --n-iter refines its output
        vocoder.set_griffin_lim(n_iter, phase_init)
        return
    if not hasattr(vocoder, "n_iter"):
        if n_iter is None and phase_init is None:
            return  # a decoder without Griffin-Lim (a caller's own network): nothing to set
        raise ValueError(
            f"the pipeline decodes with {type(vocoder).__name__}, which has no Griffin-Lim iterations or initial "
            "phase to set; decode with Griffin-Lim (--vocoder griffinlim) to set them"
        )
    vocoder.n_iter = pipeline.mel_config.n_iter if n_iter is None else int(n_iter)
    if hasattr(vocoder, "phase_init"):
        vocoder.phase_init = DEFAULT_PHASE_INIT if phase_init is None else phase_init


@contextlib.contextmanager
def reporting_progress(progress: Progress | None, *pipelines: AudioDiffusionPipeline) -> Iterator[None]:
    """Within the block, every sampling or inversion run of the `pipelines` reports its steps to `progress` instead
    of drawing a console bar, runs numbered 1, 2, ... in order: diffusers' `progress_bar` (through which `__call__`
    and `invert` iterate their steps) is replaced on these instances and restored afterwards."""
    if progress is None:
        yield
        return
    runs = itertools.count(1)

    def progress_bar(iterable: Any = None, total: int | None = None) -> Iterator[Any]:
        # Iterated as given, never copied into a list: the schedule is a tensor the sampler already holds (only an
        # iterable without a length or a total is counted by listing it).
        items = iterable if iterable is not None else range(total or 0)
        if not hasattr(items, "__len__") and total is None:
            items = list(items)
        count = len(items) if hasattr(items, "__len__") else total
        run = next(runs)

        def steps() -> Iterator[Any]:
            done = 0
            for item in items:
                progress(run, done, count)
                yield item
                done += 1
            progress(run, done, count)

        return steps()

    unique = list({id(pipeline): pipeline for pipeline in pipelines}.values())
    for pipeline in unique:
        pipeline.progress_bar = progress_bar
    try:
        yield
    finally:
        for pipeline in unique:
            del pipeline.progress_bar


def one_slice(audio: np.ndarray, pipeline: AudioDiffusionPipeline, offset_seconds: float = 0.0) -> np.ndarray:
    """The slice of `(time,)` audio starting `offset_seconds` in, zero-padded to a whole slice `(slice_size,)`."""
    start = int(round(offset_seconds * pipeline.sample_rate))
    if offset_seconds < 0 or (start >= len(audio) and start > 0):
        clip = len(audio) / pipeline.sample_rate
        raise ValueError(f"offset {offset_seconds:g} s is outside the clip (0..{clip:.2f} s)")
    size = pipeline.mel_config.slice_size
    piece = np.asarray(audio, dtype=np.float32)[start : start + size]
    return np.pad(piece, (0, size - len(piece)))


def _sample(pipeline: AudioDiffusionPipeline, **arguments: Any):
    """`pipeline(**arguments)` with integer-pixel images."""
    return pipeline(output_type="np", **arguments)


def _sample_batches(
    pipeline: AudioDiffusionPipeline,
    count: int,
    seed: int,
    batch_size: int,
    progress: Progress | None,
    redraw: int = 0,
    level: Callable[[np.ndarray], np.ndarray] | None = None,
    on_clip: ClipDone | None = None,
    **arguments: Any,
) -> Clips:
    """Clip k from a generator seeded `seed + k`. With `redraw` > 0, clips that fail the pipeline's artefact check
    (noise, silence, saturation or a flat image beyond the training data's range) are drawn again, up to `redraw`
    rounds, from the seeds `seed + count * round + k`, which no other clip of the job uses.

    Each batch is finished (checked, drawn again, brought to its level by `level`, `(size, time)` -> same) before the
    next is sampled, and `on_clip` is told of each of its clips: a job of many or long clips hands over its first
    clips while the rest are still being made."""
    audios, images, seeds = [], [], _seeds(seed, count)
    redrawn: list[Redraw] = []
    failing: dict[int, list[str]] = {}
    checked = False
    with reporting_progress(progress, pipeline):
        for first, size in batches(count, batch_size):
            output = _sample(pipeline, batch_size=size, generator=clip_generators(seed, size, first), **arguments)
            batch = Clips(
                np.asarray(output.audios), np.asarray(output.images), pipeline.sample_rate, pipeline.bits,
                seeds[first : first + size],
            )  # fmt: skip
            if redraw > 0:
                _redraw_failing(pipeline, batch, seed, count, redraw, arguments, first)
                checked = batch.checked
                redrawn += [dataclasses.replace(item, clip=item.clip + first) for item in batch.redrawn]
                failing.update({index + first: reasons for index, reasons in batch.failing.items()})
            if level is not None:
                batch.audios = level(batch.audios)
            seeds[first : first + size] = batch.seeds
            for index in range(size):
                if on_clip is not None:
                    on_clip(first + index, batch.audios[index], batch.images[index])
            audios.append(batch.audios)
            images.append(batch.images)
    return Clips(
        np.concatenate(audios), np.concatenate(images), pipeline.sample_rate, pipeline.bits, seeds, redrawn, failing,
        checked,
    )  # fmt: skip


def _check(pipeline: AudioDiffusionPipeline, images: np.ndarray) -> list[list[str]] | None:
    from audiodiff.codec import pixels_to_model

    return pipeline.check_clips(pixels_to_model(np.asarray(images), pipeline.bits).unsqueeze(1))


def _redraw_failing(
    pipeline: AudioDiffusionPipeline,
    clips: Clips,
    seed: int,
    count: int,
    rounds: int,
    arguments: dict[str, Any],
    first: int = 0,
) -> None:
    """Replace, in place, the clips of a batch (clip `first + k` of the job is `clips`' k) that fail the artefact
    check by fresh draws (see `_sample_batches`)."""
    reasons = _check(pipeline, clips.images)
    if reasons is None:
        return
    clips.checked = True
    for round_ in range(1, rounds + 1):
        failing = [index for index, found in enumerate(reasons) if found]
        if not failing:
            break
        new_seeds = [seed + count * round_ + first + index for index in failing]
        generators = [clip_generators(value, 1)[0] for value in new_seeds]
        output = _sample(pipeline, batch_size=len(failing), generator=generators, **arguments)
        new_reasons = _check(pipeline, output.images)
        for position, index in enumerate(failing):
            clips.redrawn.append(Redraw(index, reasons[index], new_seeds[position]))
            clips.audios[index] = np.asarray(output.audios[position])
            clips.images[index] = np.asarray(output.images[position])
            clips.seeds[index], reasons[index] = new_seeds[position], new_reasons[position]
    clips.failing = {index: found for index, found in enumerate(reasons) if found}


def _seeds(seed: int, count: int) -> list[int]:
    return [seed + index for index in range(count)]


def generate(
    pipeline: AudioDiffusionPipeline,
    count: int = 1,
    seed: int = 0,
    steps: int | None = None,
    genre: str | int | None = None,
    guidance: float = 1.0,
    seconds: float | None = None,
    overlap_seconds: float | None = None,
    batch_size: int = 4,
    progress: Progress | None = None,
    redraw: int = 0,
    on_clip: ClipDone | None = None,
) -> Clips:
    """`count` new clips of `seconds` (default one slice; longer clips are denoised jointly in overlapping windows).
    `redraw`: rounds of drawing again the clips that fail the artefact check (`_sample_batches`); `on_clip`: told of
    each clip as soon as it is final (`ClipDone`). `seconds` is at most `MAX_SECONDS`."""
    steps = check_steps(pipeline, steps)
    check_seconds(seconds)
    return _sample_batches(
        pipeline, count, seed, batch_size, progress, redraw, lambda audios: set_level(audios, GENERATED_RMS), on_clip,
        num_inference_steps=steps, genre=genre, guidance_scale=guidance, seconds=seconds,
        overlap_seconds=overlap_seconds,
    )  # fmt: skip


def vary(
    pipeline: AudioDiffusionPipeline,
    audio: np.ndarray,
    count: int = 4,
    seed: int = 0,
    strength: float = 0.5,
    offset_seconds: float = 0.0,
    steps: int | None = None,
    genre: str | int | None = None,
    guidance: float = 1.0,
    batch_size: int = 4,
    progress: Progress | None = None,
    redraw: int = 0,
    on_clip: ClipDone | None = None,
) -> Clips:
    """`count` variations (img2img / SDEdit) of the slice of `(time,)` audio starting `offset_seconds` in;
    `strength` 0 keeps it, 1 ignores it. `redraw` and `on_clip`: as for `generate`."""
    steps = check_steps(pipeline, steps)
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength:g}")
    clip = one_slice(audio, pipeline, offset_seconds)
    level = rms(clip)  # at the level of the clip it varies
    return _sample_batches(
        pipeline, count, seed, batch_size, progress, redraw, lambda audios: set_level(audios, level), on_clip,
        audio=clip, strength=strength, num_inference_steps=steps, genre=genre, guidance_scale=guidance,
    )  # fmt: skip


def inpaint(
    pipeline: AudioDiffusionPipeline,
    audio: np.ndarray,
    start: float,
    end: float,
    count: int = 1,
    seed: int = 0,
    steps: int | None = None,
    genre: str | int | None = None,
    guidance: float = 1.0,
    progress: Progress | None = None,
) -> Clips:
    """`count` versions of `(time,)` audio with `start..end` seconds (at most one slice) regenerated inside the slice
    around them and spliced back with short cross-fades: outside that span each is the input sample for sample."""
    steps = check_steps(pipeline, steps)
    span = InpaintRange.from_seconds(len(audio), start, end, pipeline.sample_rate, pipeline.mel_config.slice_size)
    clip = span.slice_of(audio)
    audios, images = [], []
    with reporting_progress(progress, pipeline):
        for index in range(count):
            output = _sample(
                pipeline, audio=clip, inpaint_seconds=span.seconds_in_slice(), num_inference_steps=steps,
                genre=genre, guidance_scale=guidance, generator=clip_generators(seed, 1, index),
            )  # fmt: skip
            # The decoder's level is arbitrary: the regenerated slice is brought to the input slice's level first.
            audios.append(span.splice(audio, set_level(output.audios[:1], rms(clip))[0]))
            images.append(output.images[0])
    return Clips(np.stack(audios), np.stack(images), pipeline.sample_rate, pipeline.bits, _seeds(seed, count))


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
            output = _sample(
                pipeline, audio=clip, loop_seconds=loop_seconds, num_inference_steps=steps, genre=genre,
                guidance_scale=guidance, generator=clip_generators(seed, 1, index),
            )  # fmt: skip
            audios.append(output.audios[0])
            images.append(output.images[0])
    audios = set_level(np.stack(audios), rms(clip))  # at the level of the slice it loops
    return Clips(audios, np.stack(images), pipeline.sample_rate, pipeline.bits, _seeds(seed, count))


# Bar mode reads the tempo from at most this much audio after the offset: enough beats for a precise period, a bounded
# cost on a long song (librosa's beat tracker takes about 0.5 s per minute here).
BAR_ANALYSIS_SECONDS = 60.0


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
    audios, images = [], []
    with reporting_progress(progress, pipeline):
        for index in range(count):
            output = _sample(
                pipeline, audio=canvas, inpaint_seconds=span.seconds_in_slice(), num_inference_steps=steps,
                genre=genre, guidance_scale=guidance, generator=clip_generators(seed, 1, index),
            )  # fmt: skip
            spliced = span.splice(canvas, set_level(output.audios[:1], rms(canvas))[0])
            looped = piece.copy()
            looped[(replaced - middle) % samples] = spliced[replaced]
            audios.append(looped)
            images.append(output.images[0])
    found = BarLoop(int(round(seconds / grid.bar_seconds)), grid.tempo_bpm, grid.beats_per_bar,
                    (first / rate), samples)  # fmt: skip
    return Clips(np.stack(audios), np.stack(images), rate, pipeline.bits, _seeds(seed, count), bars=found)


def edit(
    pipeline: AudioDiffusionPipeline,
    audio: np.ndarray,
    genre: str | int | None = None,
    source_genre: str | int | None = None,
    strength: float = 0.7,
    steps: int | None = None,
    guidance: float = 1.0,
    refinements: int = 2,
    seed: int = 0,
    offset_seconds: float = 0.0,
    source_pipeline: AudioDiffusionPipeline | None = None,
    progress: Progress | None = None,
) -> tuple[Clips, np.ndarray]:
    """Edit the slice of `(time,)` audio starting `offset_seconds` in: DDIM inversion (Song et al. 2020) under
    `source_genre` with `source_pipeline` (default `pipeline`) up to `strength`, then regeneration from there with
    `pipeline` and `genre`. Sample with `INVERTIBLE_SCHEDULER` for the closest result.

    Deterministic: `seed` only seeds the vocoder's phase. Returns the edited clip and the input slice's pixels
    `(n_mels, x_res)`.
    """
    source = source_pipeline or pipeline
    steps = check_steps(source, check_steps(pipeline, steps))
    if source.mel_config != pipeline.mel_config or source.latent_shape != pipeline.latent_shape:
        raise ValueError("the source pipeline must have the same mel settings and sample shape as the pipeline")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength:g}")
    clip = one_slice(audio, pipeline, offset_seconds)
    steps = steps or pipeline.default_steps
    with reporting_progress(progress, source, pipeline):
        noise = source.invert(
            clip, num_inference_steps=steps, strength=strength, genre=source_genre, refinements=refinements
        )
        output = _sample(
            pipeline, latents=noise, strength=strength, num_inference_steps=steps, genre=genre,
            guidance_scale=guidance, generator=clip_generators(seed, 1),
        )  # fmt: skip
    source_pixels = pipeline.quantize(pipeline.audio_to_images(clip))[0].cpu().numpy()
    audios = set_level(output.audios, rms(clip))  # at the level of the edited slice
    edited = Clips(audios, np.asarray(output.images), pipeline.sample_rate, pipeline.bits, [seed])
    return edited, source_pixels


def interpolate(
    pipeline: AudioDiffusionPipeline,
    frames: int = 5,
    seed: int = 0,
    to_seed: int | None = None,
    clips: Sequence[np.ndarray] | None = None,
    steps: int | None = None,
    genre: str | int | None = None,
    guidance: float = 1.0,
    refinements: int = 2,
    progress: Progress | None = None,
) -> Clips:
    """`frames` clips along the spherical interpolation (slerp) between two noises: those of `seed` and `to_seed`
    (default `seed + 1`), or the DDIM inversions of two `(time,)` `clips` (their first slices; sample those with
    `INVERTIBLE_SCHEDULER`). Clip k's sampler is seeded `seed + k`."""
    steps = check_steps(pipeline, steps)
    if frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {frames}")
    steps = steps or pipeline.default_steps
    with reporting_progress(progress, pipeline):
        if clips is None:
            to_seed = seed + 1 if to_seed is None else to_seed
            ends = pipeline.prepare_latents(2, [torch.Generator().manual_seed(s) for s in (seed, to_seed)])
        else:
            if len(clips) != 2:
                raise ValueError(f"an interpolation between clips needs two clips, got {len(clips)}")
            slices = np.stack([one_slice(clip, pipeline) for clip in clips])
            ends = pipeline.invert(slices, num_inference_steps=steps, genre=genre, refinements=refinements)
        path = editing.interpolation_path(ends[0], ends[1], frames)
        output = _sample(
            pipeline, latents=path, num_inference_steps=steps, genre=genre, guidance_scale=guidance,
            generator=clip_generators(seed, frames),
        )  # fmt: skip
    # One gain for all frames, so that the morph keeps its loudness contour: between the two clips' levels, or at
    # the level of generated clips.
    level = GENERATED_RMS if clips is None else float(np.sqrt(np.mean(rms(slices) ** 2)))
    audios = set_level(output.audios, level, joint=True)
    return Clips(audios, np.asarray(output.images), pipeline.sample_rate, pipeline.bits, _seeds(seed, frames))


def join_clips(audios: np.ndarray, sample_rate: int, crossfade_seconds: float = MORPH_CROSSFADE_SECONDS) -> np.ndarray:
    """`(count, time)` clips -> one `(time',)` clip, each joined to the next with an equal-power cross-fade of
    `crossfade_seconds` (no clicks at the joins): how an interpolation plays as one morph."""
    audios = np.asarray(audios, dtype=np.float32)
    fade = min(int(crossfade_seconds * sample_rate), audios.shape[-1] // 2)
    if len(audios) == 0:
        return np.zeros(0, dtype=np.float32)
    if fade <= 0:
        return audios.reshape(-1)
    ramp = np.sin(np.linspace(0.0, np.pi / 2, fade, dtype=np.float32))
    joined = audios[0]
    for clip in audios[1:]:
        overlap = joined[-fade:] * ramp[::-1] + clip[:fade] * ramp
        joined = np.concatenate([joined[:-fade], overlap, clip[fade:]])
    return joined.astype(np.float32)
