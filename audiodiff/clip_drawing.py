"""How the jobs of `sampling.py` draw their clips, and what every job checks first.

`Clips` is what a job made. Clip k of a job with seed S is drawn from its own generator seeded `S + k`
(`clip_generators`), in batches of `batch_size` (`batches`); `sample_batches` finishes each batch before the next
(checked against the training data's artefact fences, the clips that fail drawn again from unused seeds (`Redraw`),
brought to their level, handed to `on_clip`). Every job samples through `sample`, the one call into the pipeline.
`reporting_progress` turns the pipeline's step loop into `Progress` calls; `set_griffin_lim_iterations` sets the
decoder. The checks of a job's inputs: `check_steps` (`1..max_steps(pipeline)`), `check_seconds` (`MAX_SECONDS`),
`one_slice` (the offset), each a `ValueError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import numbers
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audiodiff import editing
from audiodiff.audio import rms, set_level

if TYPE_CHECKING:
    from audiodiff.loops import BarLoop
    from audiodiff.pipeline import AudioDiffusionPipeline

# Seeds drawn for the user stay below 2**31 so that they are short to type; any seed below 2**63 works.
RANDOM_SEED_LIMIT = 2**31 - 1
# The longest clip `generate` makes. A long clip is denoised as one batch of overlapping windows, so memory and the
# time of a step grow with its length: on small-64 (3.7 M parameters, 64 bands, CPU, one clip at once), the
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


def clip_seeds(seed: int, count: int) -> list[int]:
    """The seed of each of a job's `count` clips: `seed + k`."""
    return [seed + index for index in range(count)]


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


def sample(pipeline: AudioDiffusionPipeline, **arguments: Any):
    """`pipeline(**arguments)` with integer-pixel images."""
    return pipeline(output_type="np", **arguments)


def regenerated(
    pipeline: AudioDiffusionPipeline,
    clip: np.ndarray,
    seconds: tuple[float, float],
    count: int,
    seed: int,
    progress: Progress | None = None,
    **arguments: Any,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`count` redraws of the `seconds` span of one slice `clip` `(time,)` (inpainting: the rest kept), clip k drawn
    with seed `seed + k`: yields the regenerated slice's audio `(time,)`, at `clip`'s level (the decoder's level is
    arbitrary), and its integer pixels `(n_mels, frames)`. `arguments`: the pipeline call's (steps, genre, ...). The
    caller splices the audio back (`InpaintRange.splice`)."""
    with reporting_progress(progress, pipeline):
        for index in range(count):
            output = sample(pipeline, audio=clip, inpaint_seconds=seconds, generator=clip_generators(seed, 1, index),
                            **arguments)  # fmt: skip
            yield set_level(output.audios[:1], rms(clip))[0], output.images[0]


def sample_batches(
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
    audios, images, seeds = [], [], clip_seeds(seed, count)
    redrawn: list[Redraw] = []
    failing: dict[int, list[str]] = {}
    checked = False
    with reporting_progress(progress, pipeline):
        for first, size in batches(count, batch_size):
            output = sample(pipeline, batch_size=size, generator=clip_generators(seed, size, first), **arguments)
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
    check by fresh draws (see `sample_batches`)."""
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
        output = sample(pipeline, batch_size=len(failing), generator=generators, **arguments)
        new_reasons = _check(pipeline, output.images)
        for position, index in enumerate(failing):
            clips.redrawn.append(Redraw(index, reasons[index], new_seeds[position]))
            clips.audios[index] = np.asarray(output.audios[position])
            clips.images[index] = np.asarray(output.images[position])
            clips.seeds[index], reasons[index] = new_seeds[position], new_reasons[position]
    clips.failing = {index: found for index, found in enumerate(reasons) if found}
