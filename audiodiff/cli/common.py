"""Options and helpers shared by the sub-commands: every command takes --out, --seed, --device and the vocoder and
scheduler options from here, so each means the same everywhere and is checked in one place.

Bad values are usage errors naming the option (click's own message), never a traceback: counts are whole numbers
in range, numbers are finite, seeds fit torch's 64-bit generators.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from audiodiff.config import ConfigError, MelConfig
from audiodiff.runtime import MIXED_PRECISIONS
from audiodiff.utils import first_line

if TYPE_CHECKING:
    from audiodiff.export import OutputSettings

# Clip k of a run is seeded `seed + k`; torch generators take seeds below 2**64.
MAX_SEED = 2**63 - 1


class FiniteFloat(click.FloatRange):
    """A float option that refuses nan and +-inf (click's FloatRange lets them through), optionally bounded.

    `minus_infinity=True` lets -inf through (a threshold that keeps everything)."""

    name = "number"

    def __init__(self, *args, minus_infinity: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.minus_infinity = minus_infinity

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number) and not (self.minus_infinity and number == -math.inf):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number

    def _describe_range(self) -> str:
        bounds = "" if self.min is None and self.max is None else super()._describe_range()
        return bounds or "finite"


class _Seed(click.IntRange):
    def _describe_range(self) -> str:
        return "0<=x<2**63"


POSITIVE = FiniteFloat(min=0, min_open=True)
NON_NEGATIVE = FiniteFloat(min=0)
COUNT = click.IntRange(min=1)
SEED = _Seed(0, MAX_SEED)


# The words a renamed option's old spelling is rewritten to when it stands for the command's first argument (the
# model: `finetune --from X` is `finetune X`).
FIRST_ARGUMENT = "MODEL"


def rename_options(arguments: list[str], renamed: dict[str, str], command: str) -> list[str]:
    """`arguments` with each old spelling of `renamed` (old -> new) replaced by the new one, and one line on stderr per
    old spelling used: `warning: --n is deprecated, use --clips`. An old spelling renamed to `FIRST_ARGUMENT` is
    dropped and its value kept where it stands, as the command's positional MODEL. `--old=value` is understood too;
    nothing after `--` is touched."""
    result: list[str] = []
    warned: set[str] = set()
    words = iter(arguments)
    for word in words:
        if word == "--":
            result += [word, *words]
            break
        old, equals, value = word.partition("=")
        new = renamed.get(old)
        if new is None or not old.startswith("-"):
            result.append(word)
            continue
        if old not in warned:
            warned.add(old)
            if new == FIRST_ARGUMENT:
                click.echo(f"warning: {old} is deprecated, give the model first: audiodiff {command} MODEL", err=True)
            else:
                click.echo(f"warning: {old} is deprecated, use {new}", err=True)
        if new == FIRST_ARGUMENT:
            if equals:
                result.append(value)
            # else: the next word, the value, stays where it is and is read as the positional MODEL
        else:
            result.append(f"{new}={value}" if equals else new)
    return result


class RenamedOptions(click.Command):
    """A command that still accepts the old spellings of its renamed options for one release (`renamed`: old -> new,
    or old -> `FIRST_ARGUMENT`), each with a one-line deprecation warning (`rename_options`). The old spellings are
    listed at the end of `--help`."""

    def __init__(self, *arguments, renamed: dict[str, str] | None = None, **keywords) -> None:
        super().__init__(*arguments, **keywords)
        self.renamed = dict(renamed or {})
        if self.renamed:
            spellings = ", ".join(
                f"{old} (give the model first)" if new == FIRST_ARGUMENT else f"{old} (use {new})"
                for old, new in self.renamed.items()
            )
            self.epilog = f"Deprecated spellings, still accepted for one release: {spellings}."

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rename_options(list(args), self.renamed, self.name or ""))


def out_option(help_text: str = "Output folder.", required: bool = True, default: Path | None = None) -> Callable:
    """--out DIR (stored as `out_dir`).

    `default` reaches click only when there is one: click (8.3 on) treats an explicit `default=None` as a value, skips
    the required check, and the command would get None (a traceback) instead of "Missing option '--out'"."""
    keywords = {} if default is None else {"default": default}
    return click.option(
        "--out",
        "out_dir",
        required=required and default is None,
        type=click.Path(file_okay=False, path_type=Path),
        help=help_text,
        **keywords,
    )


# --mixed-precision of `train`, `finetune`, `distill` and `train-vocoder` (None: the preset's).
MIXED_PRECISION_OPTION = click.option(
    "--mixed-precision",
    type=click.Choice(MIXED_PRECISIONS),
    default=None,
    help="bf16 autocast (a GPU, or a CPU: fast only with AMX or AVX512-BF16), fp16 (GPU), or auto: bf16 where the "
    "device runs it fast, fp32 elsewhere.",
)


def seed_option(function: Callable) -> Callable:
    return click.option(
        "--seed",
        type=SEED,
        default=None,
        help="Random seed; printed when not given.",
    )(function)


def device_option(function: Callable) -> Callable:
    return click.option("--device", default="auto", help="cuda, cuda:1, mps, cpu, or auto (best available).")(function)


def _existing_or_shipped(context, parameter, value: Path | None) -> Path | None:
    """An existing path as is; a shipped pipeline's name (`audiodiff-base-64`) as its folder."""
    from audiodiff.pretrained import shipped_folder

    if value is None or value.exists():
        return value
    folder = shipped_folder(value)
    if folder is None:
        raise click.BadParameter(f"Path '{value}' does not exist.")
    return folder


def mel_config_option(function: Callable) -> Callable:
    return click.option(
        "--mel-config",
        "mel_config_path",
        type=click.Path(path_type=Path),
        callback=_existing_or_shipped,
        default=None,
        help="mel_config.json (reference format), YAML, or a folder holding one (a pipeline's, or a shipped "
        "pipeline's name: audiodiff-base-64). Default: the reference settings.",
    )(function)


# Griffin-Lim's starting phases (`audiodiff.vocoders.griffin_lim.PHASE_INITS`, named here so that `--help` does not
# import torch; a test checks they agree) and the library's default.
PHASE_INITS = ("pghi", "random")
DEFAULT_PHASE_INIT = "random"


def phase_init_option(function: Callable) -> Callable:
    """--phase-init: Griffin-Lim's starting phase (None: the library's default)."""
    return click.option(
        "--phase-init",
        type=click.Choice(PHASE_INITS),
        default=None,
        help="Griffin-Lim's starting phase: pghi (phase-gradient heap integration, Prusa et al. 2017: a phase "
        f"estimated from the magnitude) or random. Default: {DEFAULT_PHASE_INIT}.",
    )(function)


def vocoder_options(function: Callable) -> Callable:
    """--vocoder, --n-iter and --phase-init: how spectrograms become audio (decode, evaluate)."""
    function = phase_init_option(function)
    function = click.option(
        "--n-iter",
        type=COUNT,
        default=None,
        help="Griffin-Lim iterations. Default: n_iter of the mel config. With a trained vocoder: Griffin-Lim "
        "iterations that refine its output (default 0).",
    )(function)
    return click.option(
        "--vocoder",
        default="griffinlim",
        callback=_check_vocoder,
        metavar="griffinlim|librosa|PATH",
        help="griffinlim: fast, batched torch; librosa: the reference decoder; PATH: a vocoder folder from "
        "`audiodiff train-vocoder` (trained for these mel settings).",
    )(function)


def _check_vocoder(context: click.Context, parameter: click.Parameter, value: str | None) -> str | None:
    """--vocoder: a decoder name or an existing folder (what it holds is checked when it is loaded)."""
    if value is None or value in ("griffinlim", "librosa") or Path(value).is_dir():
        return value
    raise click.BadParameter(f"{value!r} is neither griffinlim, librosa nor a vocoder folder", context, parameter)


def sampling_vocoder_option(function: Callable) -> Callable:
    """--vocoder of the sampling commands: by default the pipeline's own decoder."""
    return click.option(
        "--vocoder",
        default=None,
        callback=_check_vocoder,
        metavar="griffinlim|librosa|PATH",
        help="Decoder: griffinlim, librosa (the reference), or a vocoder folder from `audiodiff train-vocoder`. "
        "Default: the pipeline's own (its vocoder/ if it was saved with one, else griffinlim).",
    )(function)


# The audio formats of `audiodiff.export.FORMATS`, named here so that `--help` does not import numpy and soundfile (a
# test checks they agree); the sample rates the help suggests.
OUTPUT_FORMATS = ("wav16", "wav24", "float", "flac")
OUTPUT_OPTION_NAMES = ("sample_rate", "output_format", "loudness", "true_peak")


def output_options(function: Callable) -> Callable:
    """--sample-rate, --format, --loudness and --true-peak: how a command writes audio (`audiodiff.export`,
    `output_settings` reads them back). The defaults write what the commands always wrote: the model's rate, 16-bit
    WAV, at the level the job gives each clip."""
    function = click.option(
        "--true-peak",
        type=FiniteFloat(min=-30, max=0),
        default=-1.0,
        help="With --loudness: the true-peak ceiling in dBTP (BS.1770-4, 4x oversampled) that a look-ahead limiter "
        "keeps every clip under.",
    )(function)
    function = click.option(
        "--loudness",
        type=FiniteFloat(min=-70, max=0),
        default=None,
        metavar="LUFS",
        help="Bring each clip to this integrated loudness (ITU-R BS.1770-4; -14 is the streaming services' level). "
        "Default: the level the job sets (generated clips at -20 dBFS RMS, edits at their input's level).",
    )(function)
    function = click.option(
        "--format",
        "output_format",
        type=click.Choice(OUTPUT_FORMATS),
        default="wav16",
        help="wav16 (16-bit PCM), wav24 (24-bit PCM), float (32-bit float WAV) or flac (24-bit FLAC).",
    )(function)
    return click.option(
        "--sample-rate",
        type=click.IntRange(8000, 384_000),
        default=None,
        metavar="HZ",
        help="Write audio at this rate (e.g. 44100 or 48000; soxr very-high-quality resampling). Default: the "
        "model's own rate.",
    )(function)


def output_settings(options: dict) -> OutputSettings:
    """The `audiodiff.export.OutputSettings` of the options `output_options` added, taken out of `options` (a
    command's keyword arguments)."""
    from audiodiff.export import OutputSettings

    values = {name: options.pop(name) for name in OUTPUT_OPTION_NAMES if name in options}
    try:
        return OutputSettings(
            sample_rate=values.get("sample_rate"),
            format=values.get("output_format", "wav16"),
            loudness=values.get("loudness"),
            true_peak=values.get("true_peak", -1.0),
        )
    except ValueError as error:
        raise click.UsageError(first_line(error)) from None


def output_words(output: OutputSettings) -> dict:
    """The options that write audio as `output` says, for a command line (`DrawSettings.command_line`'s extra):
    only those that differ from the defaults."""
    return {
        "sample_rate": output.sample_rate,
        "format": None if output.format == "wav16" else output.format,
        "loudness": output.loudness,
        "true_peak": output.true_peak if output.loudness is not None and output.true_peak != -1.0 else None,
    }


def scheduler_names() -> list[str]:
    from audiodiff.schedulers import AUTO_SCHEDULER, SCHEDULERS

    return [AUTO_SCHEDULER, *SCHEDULERS, "saved"]


def scheduler_option(default: str | None = None, choices: list[str] | None = None) -> Callable:
    from audiodiff.schedulers import AUTO_SCHEDULER, DEFAULT_SCHEDULER, describe_schedulers

    return click.option(
        "--scheduler",
        type=click.Choice(choices or scheduler_names()),
        default=default or AUTO_SCHEDULER,
        help=f"Sampler: {AUTO_SCHEDULER} = the sampler the model's folder recommends (audiodiff-base-64: dpm-sde, "
        "60 steps), "
        f"else {DEFAULT_SCHEDULER}, or a distilled student's own few-step sampler (the default); "
        f"{describe_schedulers()}; saved = the folder's own.",
    )


def resolve_seed(seed: int | None) -> int:
    """The --seed given, or a fresh random one (which the command prints so that the run can be repeated)."""
    from audiodiff.sampling import random_seed

    return random_seed() if seed is None else seed


def load_mel_config(path: Path | None, fallback: Path | None = None) -> MelConfig:
    """The mel settings from `path`, else those stored in `fallback` (a folder, `MelConfig.find`), else the defaults."""
    try:
        if path is not None:
            return MelConfig.load(path)
        return (MelConfig.find(fallback) if fallback is not None else None) or MelConfig()
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def resolve_device_or_fail(name: str):
    from audiodiff.runtime import resolve_device

    try:
        return resolve_device(name)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def make_out_dir(out_dir: Path) -> None:
    """Create --out (and its parents), or stop with one line saying why it cannot be."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.ClickException(f"{out_dir}: cannot create the output folder ({error.strerror or error})") from None


def _check_repo_id(context: click.Context, parameter: click.Parameter, value: str | None) -> str | None:
    """--push-to-hub: a valid repository id, checked (and a missing token warned about) before any work is done."""
    if value is None:
        return None
    from audiodiff.hub import check_repo_id, has_token

    try:
        check_repo_id(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    if not has_token():
        click.secho("warning: no Hugging Face token (run `hf auth login` or set HF_TOKEN): the push will fail, "
                    "the folder is kept", fg="yellow", err=True)  # fmt: skip
    return value


def share_options(function: Callable) -> Callable:
    """--push-to-hub REPO and --private: upload the finished folder, card included (`share`)."""
    function = click.option(
        "--private", is_flag=True, help="Make the --push-to-hub repository private when it is created."
    )(function)
    return click.option(
        "--push-to-hub",
        "push_to_hub",
        default=None,
        metavar="REPO",
        callback=_check_repo_id,
        help="When everything is written, upload the folder (with its card, README.md) to this Hugging Face Hub "
        "repository (your-name/name; created if needed). Needs a token: `hf auth login`.",
    )(function)


def share(folder: Path, push_to_hub: str | None = None, private: bool = False, *, report: Path | None = None,
          overwrite_card: bool = False, card_required: bool = False) -> None:  # fmt: skip
    """Write (or refresh) the card of a finished folder, then push it when asked. A push that fails is one error
    line saying the folder is complete (nothing is lost); a card that cannot be written is a warning after
    training (the model is there all the same), an error when the card was the point (`card_required`) or a push
    was asked for."""
    from audiodiff.cards import CardError, folder_kind, write_card
    from audiodiff.hub import HubError, push

    try:
        path = write_card(folder, overwrite_card, repo_id=push_to_hub, report=report,
                          log=lambda line: click.echo(line, err=True))  # fmt: skip
        click.echo(f"card: {path}")
        kind = folder_kind(folder)
    except (CardError, ValueError, OSError) as error:
        if push_to_hub is None and not card_required:
            click.secho(f"warning: no card written ({first_line(error)})", fg="yellow", err=True)
            return
        raise click.ClickException(f"no card written, nothing pushed ({first_line(error)})") from None
    if push_to_hub is None:
        return
    click.echo(f"pushing {folder} to {push_to_hub} ...")
    try:
        url = push(folder, push_to_hub, "dataset" if kind == "dataset" else "model", private)
    except HubError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"pushed: {url}")


class OutputNames:
    """Names of the files a batch command writes into --out, one stem per input, never silently overwriting.

    Two inputs with the same stem (`a/song.wav`, `b/song.flac`) get `song` and `song-2` (and a note); a file that
    already exists in the folder (an earlier run) is replaced, and the replacements are counted for the summary.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.stems: set[str] = set()
        self.replaced = 0

    def stem_for(self, source: Path) -> str:
        """A stem for `source`'s outputs, unique in this run."""
        stem, number = source.stem, 1
        while stem in self.stems:
            number += 1
            stem = f"{source.stem}-{number}"
        self.stems.add(stem)
        if number > 1:
            click.echo(f"{source}: another input has the stem {source.stem!r}; writing {stem}* instead", err=True)
        return stem

    def path(self, name: str) -> Path:
        """`out_dir / name`, counting it when it replaces an existing file."""
        path = self.out_dir / name
        self.replaced += path.is_file()
        return path

    def note(self) -> None:
        if self.replaced:
            click.echo(f"{self.replaced} file(s) from an earlier run in {self.out_dir} replaced", err=True)


class Failures:
    """Collects per-file failures: each is reported at once, the command goes on, and exits 1 at the end."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, source: str, reason: str) -> None:
        from tqdm import tqdm

        self.items.append((str(source), reason))
        tqdm.write(f"skipped {source}: {reason}", file=sys.stderr)

    def write_failed(self, path: Path, error: Exception) -> None:
        """A file that could not be written: reported like an unreadable input."""
        self.add(path, f"cannot write it ({getattr(error, 'strerror', None) or first_line(error)})")

    def finish(self, done: int, what: str) -> None:
        """Print the summary; exit with status 1 if anything failed."""
        click.echo(f"{done} {what} written; {len(self.items)} file(s) skipped")
        if self.items:
            for source, reason in self.items:
                click.echo(f"  skipped {source}: {reason}", err=True)
            sys.exit(1)
