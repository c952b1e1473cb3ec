"""Options and plumbing shared by `generate`, `vary`, `inpaint`, `edit` and `interpolate`.

The sampling itself is `AudioDiffusionPipeline`'s; this module turns options into its arguments (pipeline, scheduler,
device, per-clip generators) and its outputs into files (WAV + spectrogram PNG per clip).

Seeds: clip k of a run with `--seed S` is drawn from its own generator seeded `S + k`, so any single clip can be
remade alone with `--seed S+k --n 1`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from audiodiff.cli import common
from audiodiff.cli.common import device_option, resolve_device_or_fail, seed_option
from audiodiff.utils import first_line


def pipeline_argument(function: Callable) -> Callable:
    return click.argument("pipeline", metavar="PIPELINE")(function)


def sampler_options(default_scheduler: str | None = None, schedulers: list[str] | None = None) -> Callable:
    """--steps and --scheduler (and the rest of the shared options via `sampling_options`)."""

    def decorate(function: Callable) -> Callable:
        function = click.option(
            "--steps",
            type=click.IntRange(min=1),
            default=None,
            help="Sampler steps. Default: the scheduler's (20 for ddpm-fast, dpm and the other fast solvers, 50 for "
            "ddim, 1000 for ddpm).",
        )(function)
        return common.scheduler_option(default_scheduler, schedulers)(function)

    return decorate


def genre_options(function: Callable) -> Callable:
    function = click.option(
        "--guidance",
        type=common.FiniteFloat(),
        default=1.0,
        help="Classifier-free guidance scale w: eps_u + w (eps_c - eps_u). 1 = conditional only, no extra cost.",
    )(function)
    return click.option("--genre", default=None, help="Genre name (or index) of a genre-conditioned model.")(function)


def sampling_options(default_scheduler: str | None = None, schedulers: list[str] | None = None) -> Callable:
    """The options every sampling command has: --out, --steps, --scheduler, --genre, --guidance, --seed, --device."""

    def decorate(function: Callable) -> Callable:
        for option in (device_option, seed_option, genre_options, sampler_options(default_scheduler, schedulers)):
            function = option(function)
        return common.out_option()(function)

    return decorate


def genre_value(genre: str | None) -> str | int | None:
    """A genre option: an index when it is a whole number, else a name."""
    return int(genre) if genre is not None and genre.isdigit() else genre


def load_pipeline(path: str, scheduler: str, device: str):
    """The pipeline folder or hub id on the chosen device, with `scheduler` swapped in ("saved" keeps the folder's)."""
    from audiodiff.config import ConfigError
    from audiodiff.pipeline import AudioDiffusionPipeline

    torch_device = resolve_device_or_fail(device)
    try:
        pipeline = AudioDiffusionPipeline.from_pretrained(path, scheduler=None if scheduler == "saved" else scheduler)
    except (ValueError, OSError, ConfigError) as error:
        raise click.BadParameter(first_line(error), param_hint="PIPELINE") from None
    return pipeline.to(torch_device)


def generators(seed: int, count: int, first: int = 0) -> list:
    """One CPU generator per clip, seeded `seed + first + k` (CPU, so a seed gives the same noise on any device)."""
    import torch

    return [torch.Generator().manual_seed(seed + first + index) for index in range(count)]


def run(pipeline, **arguments: Any):
    """`pipeline(**arguments)` with integer-pixel images; a ValueError (bad genre, range, ...) is a usage error."""
    try:
        return pipeline(output_type="np", **arguments)
    except ValueError as error:
        raise click.UsageError(first_line(error)) from None


def batches(count: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(first clip, clips) of each batch."""
    for first in range(0, count, max(1, batch_size)):
        yield first, min(batch_size, count - first)


def sample_clips(
    pipeline,
    out_dir: Path,
    prefix: str,
    count: int,
    batch_size: int,
    seed: int,
    genre,
    guidance: float,
    steps,
    redraw: int = 0,
    **call_arguments: Any,
) -> int:
    """Sample `count` clips in batches (clip k seeded with `seed + k`), write `<prefix><k>.wav/.png`; return count.

    With `redraw` > 0, clips that fail the pipeline's artefact check (`AudioDiffusionPipeline.check_clips`: noise,
    silence, saturation, a flat image, against the fences its training data set) are drawn again, up to `redraw`
    times, from the seeds `seed + count * round + k`; every redrawn clip and its final seed is printed.
    """
    import numpy as np

    from audiodiff.codec import pixels_to_model

    def draw(seeds: list[int]):
        return run(
            pipeline,
            batch_size=len(seeds),
            num_inference_steps=steps,
            generator=[generators(value, 1)[0] for value in seeds],
            genre=genre_value(genre),
            guidance_scale=guidance,
            **call_arguments,
        )

    def failures(images) -> list[list[str]] | None:
        return pipeline.check_clips(pixels_to_model(np.asarray(images), pipeline.bits).unsqueeze(1))

    written, unchecked = 0, False
    for first, size in batches(count, batch_size):
        seeds = [seed + first + index for index in range(size)]
        output = draw(seeds)
        audios, images = list(output.audios), list(output.images)
        reasons = failures(images) if redraw > 0 else None
        unchecked = unchecked or (redraw > 0 and reasons is None)
        for round_ in range(1, redraw + 1):
            bad = [index for index, found in enumerate(reasons or []) if found]
            if not bad:
                break
            new_seeds = [seed + count * round_ + first + index for index in bad]
            again = draw(new_seeds)
            new_reasons = failures(again.images)
            for position, index in enumerate(bad):
                click.echo(
                    f"clip {first + index}: {', '.join(reasons[index])} beyond the training data's range; "
                    f"redrawn with seed {new_seeds[position]}"
                    + (f" (still: {', '.join(new_reasons[position])})" if new_reasons[position] else "")
                )
                audios[index], images[index] = again.audios[position], again.images[position]
                seeds[index], reasons[index] = new_seeds[position], new_reasons[position]
        for index in range(size):
            write_clip(out_dir, f"{prefix}{first + index:03d}", audios[index], images[index], pipeline)
            written += 1
        if reasons and any(reasons):
            failed = [str(first + index) for index, found in enumerate(reasons) if found]
            click.echo(f"clip(s) {', '.join(failed)} still fail the artefact check after {redraw} redraw(s)")
    if unchecked:
        click.echo("this pipeline stores no artefact-check fences (trained elsewhere): clips were not checked")
    return written


def load_clip(path: Path, sample_rate: int):
    """Mono float audio `(time,)` of an input file at the pipeline's rate; unreadable files are usage errors."""
    from audiodiff.audio import AudioError, load_audio

    try:
        return load_audio(path, sample_rate)
    except AudioError as error:
        raise click.BadParameter(str(error), param_hint="AUDIO") from None


def one_slice(audio, pipeline, offset_seconds: float):
    """The slice of `(time,)` audio starting `offset_seconds` in (zero-padded to a whole slice)."""
    import numpy as np

    start = int(round(offset_seconds * pipeline.sample_rate))
    if offset_seconds < 0 or (start >= len(audio) and start > 0):
        raise click.BadParameter(f"offset {offset_seconds} s is outside the clip", param_hint="--offset")
    piece = audio[start : start + pipeline.mel_config.slice_size]
    return np.pad(piece, (0, pipeline.mel_config.slice_size - len(piece)))


def write_clip(out_dir: Path, name: str, audio, pixels, pipeline) -> None:
    """`name.wav` (the audio) and `name.png` (the spectrogram at the pipeline's bit depth) in `out_dir`."""
    from audiodiff.audio import save_audio
    from audiodiff.codec import save_png

    save_audio(out_dir / f"{name}.wav", audio, pipeline.sample_rate)
    save_png(out_dir / f"{name}.png", pixels, pipeline.bits)


def redraw_option(function: Callable) -> Callable:
    return click.option(
        "--redraw",
        type=click.IntRange(min=0),
        default=3,
        help="Draw a clip again (up to this many times) when it fails the artefact check against the pipeline's "
        "training data: noise, silence, saturation, a flat image. 0: keep every clip as drawn.",
    )(function)


def report(out_dir: Path, written: int, seed: int, per_clip_seeds: bool = True) -> None:
    """The closing lines: what was written and the seed that reproduces it."""
    click.echo(f"{written} clip(s) written to {out_dir} (WAV + PNG)")
    if per_clip_seeds and written > 1:
        click.echo(
            f"seed {seed} (clip k used seed {seed}+k unless redrawn above; remake one alone with --seed {seed}+k --n 1)"
        )
    else:
        click.echo(f"seed {seed}")
