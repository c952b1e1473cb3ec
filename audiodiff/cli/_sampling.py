"""Options and plumbing shared by `generate`, `vary`, `inpaint`, `edit` and `interpolate`.

The sampling itself is `AudioDiffusionPipeline`'s; this module turns options into a loaded pipeline (scheduler, device,
decoder) and the jobs' clips into files (WAV + spectrogram PNG per clip).

The jobs themselves (generate, vary, inpaint, loop, edit, interpolate) are `audiodiff.sampling`'s, shared with the
studio (`audiodiff ui`). Seeds: clip k of a run with `--seed S` is drawn from its own generator seeded `S + k`, so
any single clip can be remade alone with `--seed S+k --n 1`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from audiodiff.cli import common
from audiodiff.cli.common import device_option, resolve_device_or_fail, seed_option
from audiodiff.sampling import DEFAULT_REDRAW
from audiodiff.utils import first_line


def pipeline_argument(function: Callable) -> Callable:
    return click.argument("pipeline", metavar="PIPELINE")(function)


def sampler_options(default_scheduler: str | None = None, schedulers: list[str] | None = None) -> Callable:
    """--steps and --scheduler (and the rest of the shared options via `sampling_options`). The upper bound of
    --steps is the pipeline's (`audiodiff.sampling.check_steps`), a one-line usage error from the job."""

    def decorate(function: Callable) -> Callable:
        function = click.option(
            "--steps",
            type=click.IntRange(min=1),
            default=None,
            help="Sampler steps, at most the model's training timesteps (1000). Default: the scheduler's (20 for "
            "ddpm-fast, dpm and the other fast solvers, 50 for ddim, 1000 for ddpm).",
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


def decode_option(function: Callable) -> Callable:
    """--n-iter, --phase-init and --vocoder: how the sampled spectrograms are decoded."""
    function = common.sampling_vocoder_option(function)
    function = common.phase_init_option(function)
    return click.option(
        "--n-iter",
        type=common.COUNT,
        default=None,
        help="Griffin-Lim iterations when decoding the spectrograms to audio. Default: n_iter of the pipeline's mel "
        "config. With a trained vocoder: Griffin-Lim iterations that refine its output (default 0; 16 measured "
        "best at 256 bands, BENCHMARKS.md).",
    )(function)


def sampling_options(default_scheduler: str | None = None, schedulers: list[str] | None = None) -> Callable:
    """The options every sampling command has: --out, --steps, --scheduler, --genre, --guidance, --seed, --device,
    --n-iter, --phase-init, --vocoder."""

    def decorate(function: Callable) -> Callable:
        options = (
            decode_option,
            device_option,
            seed_option,
            genre_options,
            sampler_options(default_scheduler, schedulers),
        )
        for option in options:
            function = option(function)
        return common.out_option()(function)

    return decorate


def genre_value(genre: str | None) -> str | int | None:
    """A genre option: an index when it is a whole number, else a name."""
    return int(genre) if genre is not None and genre.isdigit() else genre


def load_pipeline(
    path: str,
    scheduler: str,
    device: str,
    n_iter: int | None = None,
    phase_init: str | None = None,
    vocoder: str | None = None,
    inverts: bool = False,
):
    """The pipeline folder or hub id on the chosen device, with `scheduler` swapped in ("saved" keeps the folder's),
    decoding with `vocoder` (griffinlim, librosa or a vocoder folder; None: the pipeline's own), Griffin-Lim with
    `n_iter` iterations (None: the mel config's) from `phase_init` (None: the default). `inverts`: the command
    inverts clips with DDIM, which a distilled student cannot (a usage error naming its teacher)."""
    from audiodiff.config import ConfigError
    from audiodiff.pipeline import AudioDiffusionPipeline
    from audiodiff.sampling import set_griffin_lim_iterations

    torch_device = resolve_device_or_fail(device)
    try:
        pipeline = AudioDiffusionPipeline.from_pretrained(path)
        if inverts and pipeline.distillation is not None:
            raise click.UsageError(
                f"{path} is a distilled student, and this command inverts clips with DDIM, which needs a diffusion "
                f"model: use its teacher {pipeline.distillation.get('teacher')}"
            )
        pipeline.set_scheduler(scheduler)
    except (ValueError, OSError, ConfigError) as error:
        raise click.BadParameter(first_line(error), param_hint="PIPELINE") from None
    pipeline = pipeline.to(torch_device)
    try:
        if vocoder is not None:
            from audiodiff.vocoders import make_vocoder

            pipeline.set_vocoder(make_vocoder(vocoder, pipeline.mel_config, n_iter, phase_init))
        else:
            set_griffin_lim_iterations(pipeline, n_iter, phase_init)
    except ValueError as error:
        raise click.BadParameter(first_line(error), param_hint="--vocoder") from None
    return pipeline


def job(function: Callable, *arguments: Any, **keywords: Any):
    """Run a job of `audiodiff.sampling`; its ValueErrors (a bad genre, a range outside the clip, ...) are usage
    errors with the one-line message."""
    try:
        return function(*arguments, **keywords)
    except ValueError as error:
        raise click.UsageError(first_line(error)) from None


class ClipWriter:
    """A job's `on_clip` (`audiodiff.sampling.ClipDone`): writes each clip as `<name>.wav` + `<name>.png` as soon as
    it is final, so that a long job stopped half-way (Ctrl-C, a kill, a full disk) keeps the clips it finished."""

    def __init__(self, out_dir: Path, names: list[str], pipeline) -> None:
        self.out_dir, self.names, self.pipeline = out_dir, names, pipeline
        self.written = 0

    def __call__(self, index: int, audio, pixels) -> None:
        write_clip(self.out_dir, self.names[index], audio, pixels, self.pipeline)
        self.written += 1


# Jobs at least this many model windows long (steps x windows x clips; a one-slice clip at 20 steps is 20) get an
# estimate printed before they start.
LONG_JOB_WINDOWS = 2000


def announce(pipeline, count: int, steps: int | None, seconds: float | None, overlap: float | None, batch: int) -> None:
    """One line before a long job: its size in model windows and what its memory grows with."""
    from audiodiff.sampling import check_steps, windows_per_step

    try:
        steps = check_steps(pipeline, steps) or pipeline.default_steps
    except ValueError as error:
        raise click.UsageError(first_line(error)) from None
    windows = windows_per_step(pipeline, seconds, overlap)
    total = steps * windows * count
    if total < LONG_JOB_WINDOWS:
        return
    at_once = min(batch, count)
    length = f"{seconds:g} s" if seconds is not None else "one slice"
    click.echo(
        f"{count} clip(s) of {length}, {steps} steps: {total} model windows in all ({windows} per step per clip, "
        f"{at_once} clip(s) at once: memory grows with seconds x clips at once, about 11 MB per second of clip on "
        "the demo's 3.7 M-parameter model); each clip is written as soon as it is done",
        err=True,
    )


def write_clips(out_dir: Path, names: list[str], clips, pipeline) -> int:
    """`<name>.wav` and `<name>.png` for each clip of a job's `Clips`; returns how many."""
    for name, audio, pixels in zip(names, clips.audios, clips.images, strict=True):
        write_clip(out_dir, name, audio, pixels, pipeline)
    return len(names)


def load_clip(path: Path, sample_rate: int):
    """Mono float audio `(time,)` of an input file at the pipeline's rate; unreadable files are usage errors."""
    from audiodiff.audio import AudioError, load_audio

    try:
        return load_audio(path, sample_rate)
    except AudioError as error:
        raise click.BadParameter(str(error), param_hint="AUDIO") from None


def one_slice(audio, pipeline, offset_seconds: float):
    """The slice of `(time,)` audio starting `offset_seconds` in (zero-padded to a whole slice)."""
    from audiodiff.sampling import one_slice as slice_at

    try:
        return slice_at(audio, pipeline, offset_seconds)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--offset") from None


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
        default=DEFAULT_REDRAW,
        help="Draw a clip again (up to this many times) when it fails the artefact check against the pipeline's "
        "training data: noise, silence, saturation, a flat image. 0: keep every clip as drawn.",
    )(function)


def report_checks(clips, names: list[str]) -> None:
    """One line per clip drawn again, and per clip that still fails the artefact check."""
    for redraw in clips.redrawn:
        click.echo(f"{names[redraw.clip]}: {', '.join(redraw.reasons)} beyond the training data's range; drawn again "
                   f"with seed {redraw.seed}")  # fmt: skip
    for index, reasons in clips.failing.items():
        click.echo(f"{names[index]}: still fails the artefact check ({', '.join(reasons)}); kept")
    if not clips.checked:
        click.echo("clips not checked for artefacts: this pipeline stores no fences (train or fine-tune it with "
                   "audiodiff to add them)")  # fmt: skip


def report(out_dir: Path, written: int, seed: int, per_clip_seeds: bool = True, redrawn: bool = False) -> None:
    """The closing lines: what was written and the seed that reproduces it."""
    click.echo(f"{written} clip(s) written to {out_dir} (WAV + PNG)")
    if per_clip_seeds and written > 1:
        unless = " unless drawn again above" if redrawn else ""
        click.echo(f"seed {seed} (clip k used seed {seed}+k{unless}; remake one alone with --seed {seed}+k --n 1)")
    else:
        click.echo(f"seed {seed}")
