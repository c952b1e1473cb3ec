"""The files of a sampling command's run: its clips as a numbered set in --out (`ClipSet`) and the JSON beside it.

Nothing is overwritten: each run's clips are a set numbered after the files already in --out (`generated_000..002`
there: the next set is `generated_003..`), with a JSON beside it (`generated_003-005.json`, `describe_run`) that
records the command line remaking the set, the model, the mel settings, the sampler, the decoder and each clip's seed.
Each clip is written (`ClipWriter`: WAV or the --format file, plus the spectrogram PNG) as soon as it is final.
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
from audiodiff.settings import DrawSettings
from audiodiff.utils import first_line

if TYPE_CHECKING:
    from audiodiff.export import OutputSettings


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

    def __init__(
        self,
        out_dir: Path,
        names: list[str] | None,
        pipeline,
        clip_set: ClipSet | None = None,
        loop_points: bool = False,
    ) -> None:
        self.out_dir, self.pipeline, self.clip_set = out_dir, pipeline, clip_set
        self.names = clip_set.names if clip_set is not None else list(names or [])
        self.output = clip_set.output if clip_set is not None else None
        self.written = 0
        self.loop_points = loop_points  # each WAV loops as a whole (a bar loop's smpl chunk)

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
        "guide": pipeline.guide,
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


def write_clips(out_dir: Path, names: list[str] | ClipSet, clips, pipeline, loop_points: bool = False) -> int:
    """`<name>.wav` and `<name>.png` for each clip of a job's `Clips` (`names`, or a `ClipSet`'s, whose JSON is then
    brought up to date after each clip); returns how many. `loop_points`: each WAV loops as a whole (a RIFF smpl
    chunk from its first sample to its last)."""
    if isinstance(names, ClipSet):
        writer = ClipWriter(out_dir, None, pipeline, names, loop_points)
    else:
        writer = ClipWriter(out_dir, names, pipeline, loop_points=loop_points)
    for index, (audio, pixels) in enumerate(zip(clips.audios, clips.images, strict=True)):
        writer(index, audio, pixels)
    return writer.written


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
