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

What every job shares (`Clips`, seeds, batches, progress, redrawing, the input checks) is `clip_drawing.py`'s, and
the `loop` job is `loops.py`'s; their names import from here as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

# `clip_drawing.sample` is called through its module: the one call into the pipeline, where a test can stop a job.
from audiodiff import clip_drawing, editing
from audiodiff.audio import GENERATED_RMS, rms, set_level
from audiodiff.clip_drawing import (  # noqa: F401 - re-exported: the names every job shares lived here
    MAX_SECONDS,
    RANDOM_SEED_LIMIT,
    ClipDone,
    Clips,
    Progress,
    Redraw,
    batches,
    check_seconds,
    check_steps,
    clip_generators,
    clip_seeds,
    max_steps,
    one_slice,
    random_seed,
    reporting_progress,
    sample_batches,
    set_griffin_lim_iterations,
    windows_per_step,
)
from audiodiff.inpainting import InpaintRange
from audiodiff.loops import BAR_ANALYSIS_SECONDS, BarLoop, loop  # noqa: F401 - re-exported: loop is a job of this module

if TYPE_CHECKING:
    from audiodiff.pipeline import AudioDiffusionPipeline

# The sampler of edits and of interpolations between real clips: DDIM without clipping, which DDIM inversion
# inverts exactly (`AudioDiffusionPipeline.invert`).
INVERTIBLE_SCHEDULER = "ddim-exact"
MORPH_CROSSFADE_SECONDS = 0.05
# Rounds of drawing again the clips that fail the artefact check, for `generate` and `vary` in the CLI and the studio.
DEFAULT_REDRAW = 3


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
    bpm: float | None = None,
    tempo_lock: float | None = None,
) -> Clips:
    """`count` new clips of `seconds` (default one slice; longer clips are denoised jointly in overlapping windows).
    `redraw`: rounds of drawing again the clips that fail the artefact check (`sample_batches`); `on_clip`: told of
    each clip as soon as it is final (`ClipDone`). `seconds` is at most `MAX_SECONDS`. `bpm`: drawn at that tempo
    from tempo-locked noise (`audiodiff.tempo_noise`), `tempo_lock` of it repeating (None: the default)."""
    steps = check_steps(pipeline, steps)
    check_seconds(seconds)
    pipeline.tempo_period(bpm, tempo_lock)  # a bad tempo or a sampler that cannot lock: before any sampling
    return sample_batches(
        pipeline, count, seed, batch_size, progress, redraw, lambda audios: set_level(audios, GENERATED_RMS), on_clip,
        num_inference_steps=steps, genre=genre, guidance_scale=guidance, seconds=seconds,
        overlap_seconds=overlap_seconds, bpm=bpm, tempo_lock=tempo_lock,
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
    return sample_batches(
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
    draws = clip_drawing.regenerated(pipeline, span.slice_of(audio), span.seconds_in_slice(), count, seed, progress,
                                     num_inference_steps=steps, genre=genre, guidance_scale=guidance)  # fmt: skip
    audios, images = [], []
    for regenerated, pixels in draws:
        audios.append(span.splice(audio, regenerated))
        images.append(pixels)
    return Clips(np.stack(audios), np.stack(images), pipeline.sample_rate, pipeline.bits, clip_seeds(seed, count))


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
        output = clip_drawing.sample(
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
        output = clip_drawing.sample(
            pipeline, latents=path, num_inference_steps=steps, genre=genre, guidance_scale=guidance,
            generator=clip_generators(seed, frames),
        )  # fmt: skip
    # One gain for all frames, so that the morph keeps its loudness contour: between the two clips' levels, or at
    # the level of generated clips.
    level = GENERATED_RMS if clips is None else float(np.sqrt(np.mean(rms(slices) ** 2)))
    audios = set_level(output.audios, level, joint=True)
    return Clips(audios, np.asarray(output.images), pipeline.sample_rate, pipeline.bits, clip_seeds(seed, frames))


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
