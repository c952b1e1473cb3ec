"""Options and plumbing shared by `generate`, `vary`, `inpaint`, `edit` and `interpolate`.

The sampling itself is `AudioDiffusionPipeline`'s; this module turns options into a loaded pipeline (scheduler, device,
decoder) and the jobs' clips into files (WAV + spectrogram PNG per clip).

The jobs themselves (generate, vary, inpaint, loop, edit, interpolate) are `audiodiff.sampling`'s, shared with the
studio (`audiodiff ui`). A command gathers its options into one `audiodiff.settings.DrawSettings` (`draw_settings`),
which loads the pipeline (`load_pipeline`: sampler and decoder) and gives the job its keywords
(`DrawSettings.job_arguments`). Seeds: clip k of a run with `--seed S` is drawn from its own generator seeded `S + k`,
so any single clip can be remade alone with `--seed S+k --clips 1`.

Each run's clips are a numbered set in --out with a JSON that remakes it: `cli/_clip_sets.py` (`ClipSet`),
whose names import from here as before.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from audiodiff import autoguide
from audiodiff.autoguide import DEFAULT_SCALE as DEFAULT_GUIDE_SCALE
from audiodiff.cli import common
from audiodiff.cli._clip_sets import (  # noqa: F401 - re-exported: the commands and tests use them from here
    NAMING_WAIT_SECONDS,
    SET_FILE,
    ClipSet,
    ClipWriter,
    clip_commands,
    clip_set,
    describe_run,
    job,
    model_folder,
    model_word,
    next_number,
    path_word,
    set_command,
    write_clip,
    write_clips,
)
from audiodiff.cli.common import device_option, resolve_device_or_fail, seed_option
from audiodiff.sampling import DEFAULT_REDRAW
from audiodiff.settings import DrawSettings
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
            help="Sampler steps, at most the model's training timesteps (1000). Default: those the model's folder "
            "recommends for its sampler (audiodiff-base-64: 60 with dpm-sde), else the scheduler's (20 for "
            "ddpm-fast, dpm and the other fast solvers, 50 for ddim, 1000 for ddpm).",
        )(function)
        return common.scheduler_option(default_scheduler, schedulers)(function)

    return decorate


def genre_options(function: Callable) -> Callable:
    function = click.option(
        "--guide-scale",
        type=common.FiniteFloat(min=0),
        default=None,
        help="Autoguidance scale w: weak + w (model - weak), with --guide as the weak model. 1 = off. Default: the "
        f"scale the model's folder recommends, else {DEFAULT_GUIDE_SCALE:g}. Each step costs the guide's call too.",
    )(function)
    function = click.option(
        "--guide",
        default=None,
        help="Guide the sampling with a weaker model of the same settings (autoguidance, Karras et al. 2024): 'base' "
        "(the model a fine-tune started from: more of your songs, less of the base), a shipped name or a folder; "
        "'none' samples without. Default: what the model's folder recommends (a fine-tune made with a finetune "
        "preset: its base at 1.25), else none.",
    )(function)
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
    --n-iter, --phase-init, --vocoder, and how it writes audio (--sample-rate, --format, --loudness, --true-peak)."""

    def decorate(function: Callable) -> Callable:
        options = (
            common.output_options,
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


def genre_value(genre: str | int | None) -> str | int | None:
    """A genre option: an index when it is a whole number, else a name."""
    return int(genre) if isinstance(genre, str) and genre.isdigit() else genre


def draw_settings(options: dict[str, Any]) -> tuple[DrawSettings, dict[str, Any]]:
    """A sampling command's parsed options -> its `DrawSettings` (the seed drawn when none was given, the genre an
    index when it is a number) and the rest (the job's own options and --out/--device)."""
    values = dict(options)
    if "seed" in values:
        values["seed"] = common.resolve_seed(values["seed"])
    if "genre" in values:
        values["genre"] = genre_value(values["genre"])
    try:
        return DrawSettings.split(values)
    except ValueError as error:
        raise click.UsageError(first_line(error)) from None


def load_pipeline(
    path: str,
    settings: DrawSettings | str,
    device: str,
    n_iter: int | None = None,
    phase_init: str | None = None,
    vocoder: str | None = None,
    inverts: bool = False,
):
    """The pipeline folder or hub id on the chosen device, with the sampler of `settings` swapped in (its scheduler:
    "saved" keeps the folder's), decoding with its vocoder (griffinlim, librosa or a vocoder folder; None: the
    pipeline's own), Griffin-Lim with its n_iter iterations (None: the mel config's) from its phase_init (None: the
    default). `settings` may also be a scheduler name, with the decoder given by `n_iter`, `phase_init` and `vocoder`
    (the older call). `inverts`: the command inverts clips with DDIM, which a distilled student cannot (a usage error
    naming its teacher)."""
    from audiodiff.config import ConfigError
    from audiodiff.pipeline import AudioDiffusionPipeline
    from audiodiff.sampling import set_griffin_lim_iterations
    from audiodiff.schedulers import AUTO_SCHEDULER

    if isinstance(settings, DrawSettings):
        scheduler = settings.scheduler or AUTO_SCHEDULER
        n_iter, phase_init, vocoder = settings.n_iter, settings.phase_init, settings.vocoder
    else:
        scheduler = settings
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
    if isinstance(settings, DrawSettings):
        set_guide(pipeline, settings.guide, settings.guide_scale)
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


def set_guide(pipeline, guide: str | None, scale: float | None) -> None:
    """--guide and --guide-scale on a loaded pipeline (`autoguide.follow`), with one line saying what guides it.
    Neither given: the guide its folder recommends (a fine-tune's base), if any, and where that cannot load a warning
    and no guide, since nobody asked for it; --guide-scale alone: the recommended guide's model, else the base, at
    that scale; --guide none: no guide. A guide asked for that cannot load is a usage error. DDIM inversion (edit,
    interpolate between clips) follows the same guided model, and inverts as exactly: 0.03 dB of reconstruction
    error either way on the ten-song fine-tune (BENCHMARKS.md "Ten songs on the AVX512-BF16 kind")."""
    try:
        asked = autoguide.follow(pipeline, guide, scale, lambda line: click.secho(f"warning: {line}", fg="yellow",
                                                                                  err=True))  # fmt: skip
    except ValueError as error:
        raise click.BadParameter(first_line(error), param_hint="--guide") from None
    if pipeline.guide is None:
        return
    why = " (its folder's recommendation; --guide none samples without it)" if not asked else ""
    click.echo(f"guided by {pipeline.guide['model']} at {pipeline.guide['scale']:g}{why}: autoguidance, its model "
               "runs at every step too")  # fmt: skip


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
        "a 64-band small-64 model, 3.7 M parameters); each clip is written as soon as it is done",
        err=True,
    )


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


def report(
    out_dir: Path,
    written: int,
    seed: int,
    per_clip_seeds: bool = True,
    redrawn: bool = False,
    clip_set: ClipSet | None = None,  # noqa: F811 - the keyword callers pass; the function of that name is not used here
) -> None:
    """The closing lines: what was written (and the set's JSON) and the seed that reproduces it."""
    described = "" if clip_set is None else f"; how to make them again: {clip_set.json_path.name}"
    kind = "WAV" if clip_set is None else clip_set.suffix[1:].upper()
    click.echo(f"{written} clip(s) written to {out_dir} ({kind} + PNG){described}")
    if per_clip_seeds and written > 1:
        unless = " unless drawn again above" if redrawn else ""
        click.echo(f"seed {seed} (clip k used seed {seed}+k{unless}; remake one alone with --seed {seed}+k --clips 1)")
    else:
        click.echo(f"seed {seed}")
