"""The sampling jobs behind `audiodiff generate / vary / inpaint / edit / interpolate` and the studio's tabs.

Each job takes plain values (a seed, seconds, a genre name, a clip as `(time,)` audio) and a loaded
`AudioDiffusionPipeline`, and returns `Clips`. The CLI writes them to files and the studio (`audiodiff.ui`) shows
them; because both call these functions, a clip made in the studio is remade sample for sample by the command the
studio prints.

Seeds: clip k of a job with seed S is drawn from its own generator seeded `S + k` (`clip_generators`), so any single
clip can be remade alone with seed `S + k` and a count of 1 (the same spectrogram up to float rounding; clips are
sampled in batches of `batch_size` and the vocoder's phase is drawn from the first generator of each batch).

Errors are `ValueError`s with a one-line message (an unknown genre, a range outside the clip, ...), the
pipeline's own; reading audio is the caller's (`audiodiff.audio.load_audio`, which raises `AudioError`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
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

# progress(run, step, steps): sampling (or inversion) run `run` (1, 2, ...) has done `step` of its `steps` steps.
Progress = Callable[[int, int, int], None]


@dataclasses.dataclass
class Clips:
    """What a job made.

    audios: `(count, time)` float32 in [-1, 1] at `sample_rate` (for inpainting, the whole input clip with the range
        regenerated). images: integer pixels `(count, n_mels, frames)` at `bits` (for inpainting and loops, the
        regenerated slice). seeds: the seed of each clip's generator (after any redraw). redrawn: the clips drawn again
    because they failed the artefact check; failing: clip -> reasons for clips that still fail it; checked: whether
    the pipeline had fences to check against (`AudioDiffusionPipeline.check_clips`).
    """

    audios: np.ndarray
    images: np.ndarray
    sample_rate: int
    bits: int
    seeds: list[int]
    redrawn: list[Redraw] = dataclasses.field(default_factory=list)
    failing: dict[int, list[str]] = dataclasses.field(default_factory=dict)
    checked: bool = False

    def __len__(self) -> int:
        return len(self.audios)


@dataclasses.dataclass(frozen=True)
class Redraw:
    """Clip `clip` failed the artefact check for `reasons` and was drawn again with seed `seed`."""

    clip: int
    reasons: list[str]
    seed: int


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
            return  # a decoder without Griffin-Lim (the neural adapter): nothing to set
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
        items = list(iterable if iterable is not None else range(total or 0))
        run = next(runs)

        def steps() -> Iterator[Any]:
            for step, item in enumerate(items):
                progress(run, step, len(items))
                yield item
            progress(run, len(items), len(items))

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
    **arguments: Any,
) -> Clips:
    """Clip k from a generator seeded `seed + k`. With `redraw` > 0, clips that fail the pipeline's artefact check
    (noise, silence, saturation or a flat image beyond the training data's range) are drawn again, up to `redraw`
    rounds, from the seeds `seed + count * round + k`, which no other clip of the job uses."""
    audios, images, seeds = [], [], _seeds(seed, count)
    with reporting_progress(progress, pipeline):
        for first, size in batches(count, batch_size):
            output = _sample(pipeline, batch_size=size, generator=clip_generators(seed, size, first), **arguments)
            audios.append(np.asarray(output.audios))
            images.append(np.asarray(output.images))
        clips = Clips(np.concatenate(audios), np.concatenate(images), pipeline.sample_rate, pipeline.bits, seeds)
        if redraw > 0:
            _redraw_failing(pipeline, clips, seed, count, redraw, arguments)
    return clips


def _check(pipeline: AudioDiffusionPipeline, images: np.ndarray) -> list[list[str]] | None:
    from audiodiff.codec import pixels_to_model

    return pipeline.check_clips(pixels_to_model(np.asarray(images), pipeline.bits).unsqueeze(1))


def _redraw_failing(
    pipeline: AudioDiffusionPipeline, clips: Clips, seed: int, count: int, rounds: int, arguments: dict[str, Any]
) -> None:
    """Replace, in place, the clips that fail the artefact check by fresh draws (see `_sample_batches`)."""
    reasons = _check(pipeline, clips.images)
    if reasons is None:
        return
    clips.checked = True
    for round_ in range(1, rounds + 1):
        failing = [index for index, found in enumerate(reasons) if found]
        if not failing:
            break
        new_seeds = [seed + count * round_ + index for index in failing]
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
) -> Clips:
    """`count` new clips of `seconds` (default one slice; longer clips are denoised jointly in overlapping windows).
    `redraw`: rounds of drawing again the clips that fail the artefact check (`_sample_batches`)."""
    clips = _sample_batches(
        pipeline, count, seed, batch_size, progress, redraw, num_inference_steps=steps, genre=genre,
        guidance_scale=guidance, seconds=seconds, overlap_seconds=overlap_seconds,
    )  # fmt: skip
    clips.audios = set_level(clips.audios, GENERATED_RMS)
    return clips


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
) -> Clips:
    """`count` variations (img2img / SDEdit) of the slice of `(time,)` audio starting `offset_seconds` in;
    `strength` 0 keeps it, 1 ignores it. `redraw`: as for `generate`."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength:g}")
    clip = one_slice(audio, pipeline, offset_seconds)
    clips = _sample_batches(
        pipeline, count, seed, batch_size, progress, redraw, audio=clip, strength=strength, num_inference_steps=steps,
        genre=genre, guidance_scale=guidance,
    )  # fmt: skip
    clips.audios = set_level(clips.audios, rms(clip))  # at the level of the clip it varies
    return clips


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
    loop_seconds: float,
    offset_seconds: float = 0.0,
    count: int = 1,
    seed: int = 0,
    steps: int | None = None,
    genre: str | int | None = None,
    guidance: float = 1.0,
    progress: Progress | None = None,
) -> Clips:
    """`count` seamless loops of the slice starting `offset_seconds` into `(time,)` audio: `loop_seconds` around the
    point where its end wraps to its start are regenerated. Each is `x_res * hop_length` samples."""
    if not loop_seconds > 0:
        raise ValueError(f"loop seconds must be positive, got {loop_seconds:g}")
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
