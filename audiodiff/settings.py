"""`DrawSettings`: the settings of one drawing job, from whichever door it came in.

A drawing job (generate, vary, inpaint, loop, edit, interpolate) is set by the same dozen values wherever it starts:
the CLI's options, the studio's controls, a notebook's call. They are gathered here once, so that

- the jobs of `audiodiff.sampling` get them as keywords (`job_arguments`, filtered to what each job takes),
- the studio prints, and the JSON beside every set of clips records, the command line that makes the same clips
  again (`command_line`, `to_dict`), and
- the CLI reads that command line back into the same settings (tests/test_settings.py checks the round trip).

The option names are the CLI's: `--clips` for the number of clips of every job (the old `--n` and `--frames` still
work for a release), `--steps` for sampler steps only (training commands say `--max-steps`).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import shlex
from collections.abc import Callable, Mapping
from typing import Any

# Settings field -> CLI option, in the order a command line lists them.
OPTIONS: dict[str, str] = {
    "count": "--clips",
    "seconds": "--seconds",
    "overlap": "--overlap",
    "bpm": "--bpm",
    "tempo_lock": "--tempo-lock",
    "genre": "--genre",
    "guidance": "--guidance",
    "guide": "--guide",
    "guide_scale": "--guide-scale",
    "scheduler": "--scheduler",
    "steps": "--steps",
    "seed": "--seed",
    "batch_size": "--batch-size",
    "redraw": "--redraw",
    "n_iter": "--n-iter",
    "phase_init": "--phase-init",
    "vocoder": "--vocoder",
}
# The settings each sampling command has an option for; the others are fixed by the command (an edit makes one clip,
# an inpainting one slice), so its command line leaves them out. A command not named here gets every option.
_TEMPO = frozenset({"bpm", "tempo_lock"})  # generate's alone: the noise of a new clip
_SLICE_JOB = frozenset(OPTIONS) - {"seconds", "overlap", "batch_size", "redraw"} - _TEMPO
COMMAND_FIELDS: dict[str, frozenset[str]] = {
    "generate": frozenset(OPTIONS),
    "vary": frozenset(OPTIONS) - {"seconds", "overlap"} - _TEMPO,
    "inpaint": _SLICE_JOB,
    "interpolate": _SLICE_JOB,
    "edit": _SLICE_JOB - {"count"},
}
# Settings field -> keyword of the jobs in `audiodiff.sampling`, where the two differ.
JOB_KEYWORDS: dict[str, str] = {"overlap": "overlap_seconds"}
# Fields that set the pipeline (its sampler and decoder), not the job: every drawing command takes their options.
PIPELINE_FIELDS = ("scheduler", "guide", "guide_scale", "n_iter", "phase_init", "vocoder")


@dataclasses.dataclass(frozen=True)
class DrawSettings:
    """What a drawing job needs besides its model and its input clips.

    count: clips to make (for `interpolate`, clips along the path, both ends included). seed: clip k is drawn with
    seed `seed + k` (`audiodiff.sampling.clip_generators`). steps: sampler steps (None: the sampler's default).
    scheduler: a short name of `audiodiff.schedulers` (None: the command's default). genre, guidance: the class and
    the classifier-free guidance scale of a genre-conditioned model. guide, guide_scale: the weaker model that guides
    the sampling and its scale (autoguidance, `AudioDiffusionPipeline.set_guide`; None and None: no guide; either
    alone: the model's base, or the default scale). seconds, overlap: clip length and the overlap of
    its windows (None: one slice, half a window). bpm, tempo_lock: a new clip's tempo and how much of its noise
    repeats with it (`audiodiff.tempo_noise`; None: white noise, the default lock). n_iter, phase_init, vocoder:
    how spectrograms become audio (None: the pipeline's own). batch_size: clips sampled at once. redraw: rounds of
    drawing again the clips that fail the artefact check.
    """

    count: int = 1
    seed: int = 0
    steps: int | None = None
    scheduler: str | None = None
    genre: str | int | None = None
    guidance: float = 1.0
    guide: str | None = None
    guide_scale: float | None = None
    seconds: float | None = None
    overlap: float | None = None
    bpm: float | None = None
    tempo_lock: float | None = None
    n_iter: int | None = None
    phase_init: str | None = None
    vocoder: str | None = None
    batch_size: int = 4
    redraw: int = 0

    def __post_init__(self) -> None:
        for name in ("count", "seed", "batch_size", "redraw", "steps", "n_iter"):
            value = getattr(self, name)
            if value is None and name in ("steps", "n_iter"):
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if self.count < 1 or self.batch_size < 1:
            raise ValueError(f"count and batch_size must be at least 1, got {self.count} and {self.batch_size}")
        if self.seed < 0 or self.redraw < 0:
            raise ValueError(f"seed and redraw must not be negative, got {self.seed} and {self.redraw}")
        for name in ("guidance", "guide_scale", "seconds", "overlap", "bpm", "tempo_lock"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not math.isfinite(float(value))):
                raise ValueError(f"{name} must be a finite number, got {value!r}")

    def replace(self, **changes: Any) -> DrawSettings:
        return dataclasses.replace(self, **changes)

    def job_arguments(self, job: Callable) -> dict[str, Any]:
        """The keywords of `job` (a function of `audiodiff.sampling`) these settings give: the fields `job` takes,
        renamed where the job's keyword differs (`JOB_KEYWORDS`). Decoding (n_iter, phase_init, vocoder) and the
        sampler (scheduler) are set on the pipeline, not passed to the job."""
        parameters = inspect.signature(job).parameters
        arguments = {}
        for field in dataclasses.fields(self):
            keyword = JOB_KEYWORDS.get(field.name, field.name)
            if keyword in parameters:
                arguments[keyword] = getattr(self, field.name)
        if "frames" in parameters and "count" not in parameters:  # interpolate: clips along the path
            arguments["frames"] = self.count
        return arguments

    def options(self, job: Callable | str | None = None) -> list[str]:
        """The CLI options that set these values (fields at None are left out: the command's default applies). With
        `job`, only those of the fields it takes: a job of `audiodiff.sampling` (the fields of its keywords,
        `job_arguments`, and the pipeline's, `PIPELINE_FIELDS`), or a command's name (its options,
        `COMMAND_FIELDS`): the command of a job without batches (inpaint, edit, interpolate) has no --batch-size."""
        if job is None:
            taken = None
        elif isinstance(job, str):
            taken = COMMAND_FIELDS.get(job)
        else:
            taken = self._fields_of(job)
        words: list[str] = []
        for name, option in OPTIONS.items():
            value = getattr(self, name)
            if value is None or (taken is not None and name not in taken):
                continue
            words += [option, _text(value)]
        return words

    def command_line(
        self, command: str, model: str, *inputs: str, out: str = "clips", job: Callable | None = None, **extra: Any
    ) -> str:
        """`audiodiff COMMAND MODEL INPUTS... --out OUT <these settings> <extra>`, quoted for a POSIX shell. `extra`:
        the job's own options (`strength=0.5` -> `--strength 0.5`; None and False left out, True a flag). `job`: list
        only the settings that job takes (`options`); by default those COMMAND has options for (`COMMAND_FIELDS`)."""
        taken = self.options(job if job is not None else command)
        words = ["audiodiff", command, str(model), *map(str, inputs), "--out", str(out), *taken]
        for name, value in extra.items():
            if value is None or value is False:
                continue
            words.append("--" + name.replace("_", "-"))
            if value is not True:
                words.append(_text(value))
        return shlex.join(words)

    @classmethod
    def split(cls, values: Mapping[str, Any]) -> tuple[DrawSettings, dict[str, Any]]:
        """Settings from the entries of `values` named like a field (a command's parsed options), and the rest (the
        job's own options: strength, offset, ...)."""
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known}), {
            key: value for key, value in values.items() if key not in known
        }

    def _fields_of(self, job: Callable) -> set[str]:
        """The fields `job` takes (by its keywords, `job_arguments`), with the pipeline's."""
        keywords = self.job_arguments(job)
        fields = {
            field.name for field in dataclasses.fields(self) if JOB_KEYWORDS.get(field.name, field.name) in keywords
        }
        if "frames" in keywords:  # interpolate: count is its frames
            fields.add("count")
        return fields | set(PIPELINE_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (for the JSON written beside a set of clips)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DrawSettings:
        """The inverse of `to_dict`; an unknown key is a ValueError naming it."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown draw setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**dict(values))


def _text(value: Any) -> str:
    """The shortest text that reads back as exactly `value` (`2` for 2.0): a command remakes a clip only with the
    very numbers that made it."""
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)
