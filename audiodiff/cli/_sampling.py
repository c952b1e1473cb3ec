"""Options and plumbing shared by `generate`, `vary`, `inpaint`, `edit` and `interpolate`.

The sampling itself is `AudioDiffusionPipeline`'s; this module turns options into a loaded pipeline (scheduler, device,
decoder) and the jobs' clips into files (WAV + spectrogram PNG per clip).

The jobs themselves (generate, vary, inpaint, loop, edit, interpolate) are `audiodiff.sampling`'s, shared with the
studio (`audiodiff ui`). A command gathers its options into one `audiodiff.settings.DrawSettings` (`draw_settings`),
which loads the pipeline (`load_pipeline`: sampler and decoder) and gives the job its keywords
(`DrawSettings.job_arguments`). Seeds: clip k of a run with `--seed S` is drawn from its own generator seeded `S + k`,
so any single clip can be remade alone with `--seed S+k --clips 1`.

Nothing is overwritten: each run's clips are a set (`ClipSet`) numbered after the files already in --out
(`generated_000..002` there: the next set is `generated_003..`), with a JSON beside it (`generated_003-005.json`) that
records the command line remaking the set, the model, the mel settings, the sampler, the decoder and each clip's seed.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from audiodiff.cli import common
from audiodiff.cli.common import device_option, resolve_device_or_fail, seed_option
from audiodiff.sampling import DEFAULT_REDRAW
from audiodiff.settings import DrawSettings
from audiodiff.utils import first_line

if TYPE_CHECKING:
    from audiodiff.export import OutputSettings


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
    it is final, so that a long job stopped half-way (Ctrl-C, a kill, a full disk) keeps the clips it finished.
    With `clip_set`, the names are the set's and its JSON is brought up to date after each clip."""

    def __init__(self, out_dir: Path, names: list[str] | None, pipeline, clip_set: ClipSet | None = None) -> None:
        self.out_dir, self.pipeline, self.clip_set = out_dir, pipeline, clip_set
        self.names = clip_set.names if clip_set is not None else list(names or [])
        self.output = clip_set.output if clip_set is not None else None
        self.written = 0
        self.loop_points = False

    def __call__(self, index: int, audio, pixels) -> None:
        write_clip(self.out_dir, self.names[index], audio, pixels, self.pipeline, self.output, self.loop_points)
        self.written += 1
        if self.clip_set is not None:
            self.clip_set.written(index)


# How a set's files are numbered: `<prefix>_<k>` (three digits or more) for a clip, `<prefix>_<first>-<last>` for
# the set (its JSON, an interpolation's morph), `<prefix>_<k>_<word>` for a clip's companion (an edit's source image).
SET_FILE = r"_(\d+)(?:-(\d+))?(?:_[A-Za-z]+)?\.[A-Za-z0-9]+"
# How long a command waits for another one choosing names in the same --out (the lock is held for milliseconds).
NAMING_WAIT_SECONDS = 10.0


def next_number(out_dir: Path, prefix: str) -> int:
    """One past the highest number of any `<prefix>_<k>...` file in `out_dir` (0 when there is none), so that a new
    set never replaces a file of an earlier one, even where some were deleted."""
    pattern = re.compile(re.escape(prefix) + SET_FILE)
    highest = -1
    for name in os.listdir(out_dir) if out_dir.is_dir() else []:
        match = pattern.fullmatch(name)
        if match:
            highest = max(highest, *(int(number) for number in match.groups() if number is not None))
    return highest + 1


class ClipSet:
    """One run's clips in --out: their names, numbered after the files already there (`next_number`), and the JSON
    beside them that says how to make them again (`record`).

    The names are chosen, and the JSON is written (reserving them), while holding --out's lock
    (`audiodiff.utils.output_lock`): two commands writing into one folder at once never pick the same numbers.
    `unnumbered`: the file names of a first set that keeps today's unnumbered name (an edit's `<stem>_edit.wav`);
    once any of them exists, sets are numbered from 1.
    """

    def __init__(
        self,
        out_dir: Path,
        prefix: str,
        count: int,
        record: dict[str, Any],
        unnumbered: Sequence[str] = (),
        output: OutputSettings | None = None,
    ) -> None:
        from audiodiff.utils import FolderInUseError, output_lock

        common.make_out_dir(out_dir)
        self.out_dir, self.prefix, self.count = out_dir, prefix, count
        self.record, self.output = record, output
        self.words: dict[str, Any] = {}  # the options of the command line that remakes the set (`clip_set`)
        self.suffix = output.suffix if output is not None else ".wav"
        deadline = time.monotonic() + NAMING_WAIT_SECONDS
        while True:
            try:
                with output_lock(out_dir, f"audiodiff {record.get('job', '')}".strip()):
                    self._choose_names(unnumbered)
                    self.save()
                break
            except FolderInUseError as error:
                if time.monotonic() > deadline:
                    raise click.ClickException(str(error)) from None
                time.sleep(0.05)

    def _choose_names(self, unnumbered: Sequence[str]) -> None:
        first = next_number(self.out_dir, self.prefix)
        if unnumbered and first == 0 and not any((self.out_dir / name).exists() for name in unnumbered):
            self.numbered = False
            self.names = [self.prefix]
            self.name = self.prefix
        else:
            first = max(first, 1) if unnumbered else first
            self.numbered = True
            self.names = [f"{self.prefix}_{index:03d}" for index in range(first, first + self.count)]
            self.name = self.names[0] if self.count == 1 else f"{self.names[0]}-{self.names[-1].rsplit('_', 1)[1]}"
        self.json_path = self.out_dir / f"{self.name}.json"
        self.record["clips"] = [
            {"file": f"{name}{self.suffix}", "image": f"{name}.png", "written": False} for name in self.names
        ]
        self.record["finished"] = False

    def companion(self, word: str, suffix: str) -> Path:
        """Another file of the set: `<set name>_<word><suffix>` (first set of an edit: `<stem>_<word><suffix>`)."""
        if not self.numbered:
            return self.out_dir / f"{self.prefix.rsplit('_', 1)[0]}_{word}{suffix}"
        return self.out_dir / f"{self.name}_{word}{suffix}"

    def run(self, function: Callable, *arguments: Any, **keywords: Any):
        """`job(function, ...)` for this set: when it stops before any clip is on disk (a bad genre, a full disk,
        Ctrl-C), the set's JSON goes too, so a failed command leaves nothing behind; once clips are written, it stays
        and says which (`finished` false)."""
        try:
            return job(function, *arguments, **keywords)
        except BaseException:
            if not any(clip["written"] for clip in self.record["clips"]):
                self.json_path.unlink(missing_ok=True)
            raise

    def written(self, index: int) -> None:
        """Clip `index` is on disk."""
        self.record["clips"][index]["written"] = True
        self.save()

    def finish(self, clips, commands: Sequence[str | None] | None = None) -> None:
        """The job is done: each clip's seed (after any redraw), whether it was drawn again or still fails the
        artefact check, and the command that remakes it alone (`commands`, where a clip can be made alone)."""
        redrawn = {item.clip for item in getattr(clips, "redrawn", [])}
        failing = getattr(clips, "failing", {})
        for index, entry in enumerate(self.record["clips"]):
            entry["written"] = True
            entry["seed"] = int(clips.seeds[index]) if index < len(clips.seeds) else None
            entry["redrawn"] = index in redrawn
            entry["fails"] = list(failing.get(index, []))
            if commands is not None and commands[index] is not None:
                entry["command"] = commands[index]
        self.record["checked"] = bool(getattr(clips, "checked", False))
        self.record["finished"] = True
        self.save()

    def save(self) -> None:
        from audiodiff.utils import atomic_file

        with atomic_file(self.json_path) as temporary:
            temporary.write_text(json.dumps(self.record, indent=2) + "\n")


def describe_run(
    job: str,
    pipeline,
    model: str,
    settings: DrawSettings,
    command: str,
    options: dict[str, Any],
    device: str,
) -> dict[str, Any]:
    """The JSON written beside a set of clips, before its clips (`ClipSet` adds them): what made it, so that any clip
    can be made again: the audiodiff version, the date, the command line remaking the set, the model (as given, its
    folder, its genres), the mel settings, the sampler and its steps, guidance, the decoder, the job's options."""
    import dataclasses

    from audiodiff import __version__
    from audiodiff.sampling import check_steps

    vocoder = pipeline.codec().vocoder
    decoder = {"name": type(vocoder).__name__, "given": settings.vocoder}
    for attribute in ("n_iter", "phase_init"):
        if hasattr(vocoder, attribute):
            decoder[attribute] = getattr(vocoder, attribute)
    try:
        steps = check_steps(pipeline, settings.steps) or pipeline.default_steps
    except ValueError:
        steps = settings.steps
    return {
        "audiodiff": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "job": job,
        "command": command,
        "model": {"given": model, "folder": model_folder(model), "genres": pipeline.genres},
        "mel": dataclasses.asdict(pipeline.mel_config),
        "bits": pipeline.bits,
        "sampler": {"scheduler": settings.scheduler, "class": type(pipeline.scheduler).__name__, "steps": steps},
        "guidance": settings.guidance,
        "genre": settings.genre,
        "decoder": decoder,
        "device": str(device),
        "settings": settings.to_dict(),
        "options": {key: _json_value(value) for key, value in options.items()},
    }


def clip_set(
    out_dir: Path,
    prefix: str,
    job: str,
    pipeline,
    model: str,
    settings: DrawSettings,
    device: str,
    inputs: Sequence[Path] = (),
    options: dict[str, Any] | None = None,
    unnumbered: Sequence[str] = (),
    output: OutputSettings | None = None,
) -> ClipSet:
    """The `ClipSet` of a sampling command's run: its names chosen in `out_dir` and its JSON written (`describe_run`)
    with the command line that remakes the set: `audiodiff JOB MODEL INPUTS --out OUT <settings> <options> <output>`
    (paths absolute, so that it runs from any folder; `options`: the job's own, by option name without the dashes;
    `output`: how the audio is written, `audiodiff.export.OutputSettings`)."""
    import dataclasses

    options = dict(options or {})
    words = {**options, **(common.output_words(output) if output is not None else {})}
    line = set_command(job, model, settings, out_dir, inputs, words)
    record = describe_run(job, pipeline, model, settings, line, options, device)
    record["inputs"] = [path_word(path) for path in inputs]
    if output is not None:
        record["output"] = {**dataclasses.asdict(output), "sample_rate": output.sample_rate or pipeline.sample_rate}
    clips = ClipSet(out_dir, prefix, settings.count, record, unnumbered, output)
    clips.words = words
    return clips


def set_command(
    job: str, model: str, settings: DrawSettings, out_dir: Path, inputs: Sequence[Path], options: dict[str, Any]
) -> str:
    """The command line that makes the same clips (`DrawSettings.command_line`, paths made absolute)."""
    words = {key: path_word(value) if isinstance(value, Path) else value for key, value in options.items()}
    return settings.command_line(job, model_word(model), *map(path_word, inputs), out=path_word(out_dir), **words)


def clip_commands(
    job: str,
    model: str,
    settings: DrawSettings,
    clips,
    out_dir: Path,
    inputs: Sequence[Path] = (),
    clip_set: ClipSet | None = None,
) -> list[str]:
    """For each clip, the command that makes it alone: its own seed (after any redraw), one clip, no redraw (the
    same image up to float rounding when the set was sampled in batches; `audiodiff.sampling`), with the set's own
    options (`clip_set.words`)."""
    words = getattr(clip_set, "words", {})
    return [
        set_command(job, model, settings.replace(seed=int(seed), count=1, redraw=0), out_dir, inputs, words)
        for seed in clips.seeds
    ]


def model_folder(model: str) -> str | None:
    """The folder a model argument names (a path, a shipped name, a hub id in the local cache: the command has just
    loaded it, and the record asks the network nothing), or None."""
    from audiodiff.pipeline_folder import resolve_folder

    try:
        return str(Path(resolve_folder(model, local_files_only=True)).resolve())
    except Exception:  # a hub id not in the cache, ...: the record keeps the name as given
        return None


def model_word(model: str) -> str:
    """The model as a command line should name it: a local path made absolute (the command runs from anywhere), a
    shipped name or hub id as given."""
    return str(Path(model).resolve()) if Path(model).exists() else model


def path_word(path: Path | str | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


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


def write_clips(out_dir: Path, names: list[str] | ClipSet, clips, pipeline, loop_points: bool = False) -> int:
    """`<name>.wav` and `<name>.png` for each clip of a job's `Clips` (`names`, or a `ClipSet`'s, whose JSON is then
    brought up to date after each clip); returns how many. `loop_points`: each WAV loops as a whole (a RIFF smpl
    chunk from its first sample to its last)."""
    if isinstance(names, ClipSet):
        writer = ClipWriter(out_dir, None, pipeline, names)
    else:
        writer = ClipWriter(out_dir, names, pipeline)
    writer.loop_points = loop_points
    for index, (audio, pixels) in enumerate(zip(clips.audios, clips.images, strict=True)):
        writer(index, audio, pixels)
    return writer.written


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


def write_clip(
    out_dir: Path, name: str, audio, pixels, pipeline, output: OutputSettings | None = None, loop_points: bool = False
) -> None:
    """`name.wav` (the audio; `name.flac` with `--format flac`) and `name.png` (the spectrogram at the pipeline's bit
    depth) in `out_dir`. `output`: the rate, format and loudness of the audio file (`audiodiff.export.write_audio`;
    None: 16-bit WAV at the model's rate, as written). `loop_points`: the WAV loops as a whole (smpl chunk)."""
    from audiodiff.codec import save_png

    if loop_points:
        from audiodiff.export import OutputSettings, write_audio

        output = output or OutputSettings()
        write_audio(out_dir / f"{name}{output.suffix}", audio, pipeline.sample_rate, output, loop=(0, len(audio)))
    elif output is None:
        from audiodiff.audio import save_audio

        save_audio(out_dir / f"{name}.wav", audio, pipeline.sample_rate)
    else:
        from audiodiff.export import write_audio

        write_audio(out_dir / f"{name}{output.suffix}", audio, pipeline.sample_rate, output)
    save_png(out_dir / f"{name}.png", pixels, pipeline.bits, mel_config=pipeline.mel_config)


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
    clip_set: ClipSet | None = None,
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
