"""What the studio's buttons do, without Gradio: read the chosen clip, run a job of `audiodiff.sampling`, write the
clips, and describe them (pictures with a time axis, the command that remakes them, a history entry).

Nothing here samples or edits audio itself: that is `audiodiff.sampling`'s, the same functions the CLI calls, with
the same settings object (`DrawSettings`, made from the page's controls by `page_settings`), whose `command_line`
is the command shown with each result: it remakes it. `app.py` lays these out on the page; the tests call them
directly.

What a studio keeps is bounded and private, and how its jobs are stopped: its folder, `workspace.Workspace`, which
`Studio` is. Every job refuses steps beyond the sampler's training timesteps before any work
(`sampling.check_steps`), and stops at its next sampling step once `stop` is called or its progress callback raises
`JobCancelled` (the page does when its client has left).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiodiff import sampling
from audiodiff.audio import load_audio, save_audio
from audiodiff.autoguide import BASE as BASE_GUIDE
from audiodiff.autoguide import NONE as AUTO_NONE
from audiodiff.codec import pixels_to_model, save_png
from audiodiff.figures import spectrogram_picture
from audiodiff.schedulers import AUTO_SCHEDULER, SCHEDULERS
from audiodiff.settings import DrawSettings
from audiodiff.ui.catalogue import Catalogue
from audiodiff.ui.workspace import (  # noqa: F401 - the folder's constants stay importable from here
    MAX_KEPT_BYTES,
    PRIVATE_FILE,
    PRIVATE_FOLDER,
    SWEEP_SECONDS,
    JobCancelled,
    Workspace,
    make_private,
)

# What one upload may cost: a size the server accepts (Gradio refuses larger uploads) and a length `load_audio`
# accepts (longer files are refused from their header, before decoding).
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
MAX_UPLOAD_SECONDS = 600.0
NO_GENRE = "(no genre)"
LOCAL_SESSION = "local"  # the session of callers that have none (tests, scripts)
CLIPS_FOLDER = "clips"  # the --out of the commands shown
PREVIEW_SECONDS = 60.0
JobProgress = sampling.Progress | None  # a job's progress callback, if any


@dataclasses.dataclass(frozen=True)
class Record:
    """One clip of this session: its files and how it was made."""

    number: int
    title: str
    wav: str
    picture: str
    command: str
    seconds: float


@dataclasses.dataclass(frozen=True)
class Result:
    """What a button press made: its clips, the command that remakes them, and (for an interpolation) the morph."""

    records: list[Record]
    command: str
    morph: Record | None = None
    source_picture: str | None = None


@dataclasses.dataclass(frozen=True)
class Preview:
    """A chosen clip: its picture, its length, and the range marked on it (None: none)."""

    picture: str
    seconds: float
    highlight: tuple[float, float] | None

    @property
    def seconds_floor(self) -> float:
        """The length rounded down to the sliders' 0.01 s."""
        return math.floor(self.seconds * 100) / 100


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    genres: list[str]
    sample_rate: int
    slice_seconds: float
    n_iter: int
    description: str
    max_steps: int = 1000  # `sampling.max_steps`: the steps control's maximum
    guide_scale: float | None = None  # the scale of the guide the folder recommends (None: none)
    guidable: bool = False  # whether it records a base to be guided by (a fine-tune that is not a student)


def genre_choice(value: str | None) -> str | None:
    """A genre control's value -> the jobs' genre (None for "no genre")."""
    return None if value in (None, "", NO_GENRE) else value


def fit_range(start: float, end: float, seconds: float) -> tuple[float, float]:
    """`(start, end)` when it lies inside a clip of `seconds`, else the middle fifth of the clip (in 0.01 s)."""
    if 0 <= start < end <= seconds:
        return start, end
    return math.floor(seconds * 40) / 100, math.floor(seconds * 60) / 100


def page_settings(
    genre: str | None,
    guidance: float,
    steps: float | None,
    scheduler: str | None,
    seed: Any,
    n_iter: float | None,
    count: float = 1,
    seconds: float | None = None,
    guide_scale: float | None = None,
    recommended_scale: float | None = None,
    bpm: float | None = None,
) -> DrawSettings:
    """The shared controls of the page (and a tab's clips and seconds) -> the settings of its job: "(no genre)" is
    None, 0 seconds is one slice, numbers arrive as floats, and clips that fail the artefact check are drawn again
    (`sampling.DEFAULT_REDRAW` rounds, the CLI's default). The guide's scale (`guide_choice`) against the one the
    model's folder recommends (`recommended_scale`, None: none). A tempo `bpm` of 0 is none (white noise)."""
    if seed is None or seed == "":
        raise ValueError("enter a seed (or roll the dice)")
    guide, scale = guide_choice(guide_scale, recommended_scale)
    return DrawSettings(
        count=int(count), seed=int(seed), steps=None if steps is None else int(steps), scheduler=scheduler,
        genre=genre_choice(genre), guidance=float(guidance), guide=guide, guide_scale=scale, seconds=seconds or None,
        bpm=float(bpm) if bpm else None, n_iter=None if n_iter is None else int(n_iter), redraw=sampling.DEFAULT_REDRAW,
    )  # fmt: skip


def guide_choice(value: float | None, recommended: float | None) -> tuple[str | None, float | None]:
    """The page's guide scale -> the settings' `(guide, guide_scale)`, as the CLI's options say it: the scale the
    folder recommends (or 1 where it recommends none), or no value, is `(None, None)`, the folder's own (no option);
    1 is `("none", None)`, unguided (--guide none); any other is `(None, w)`, the recommended guide (or the base) at
    w (--guide-scale w)."""
    if value is None:
        return None, None
    value = round(float(value), 4)
    if value == (1.0 if recommended is None else round(float(recommended), 4)):
        return None, None
    return (AUTO_NONE, None) if value == 1.0 else (None, value)


def _studio_job(method: Callable) -> Callable:
    """Run a job of `Studio` as a job: its `steps` checked first (`sampling.check_steps`, on the model's own sampler:
    ten million steps are refused before a schedule is built or a clip read), counted while it runs (`Studio.stop`
    waits for it), and its `progress` watched so that it stops at the next sampling step once the studio stops."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def job(self: Studio, *arguments, **keywords):
        bound = signature.bind(self, *arguments, **keywords)
        bound.apply_defaults()
        values = bound.arguments
        sampling.check_steps(self.catalogue.pipeline(values["model"]), values["settings"].steps)
        with self._running():
            values["progress"] = self._watched(values["progress"])
            return method(*bound.args, **bound.kwargs)

    return job


class Studio(Workspace):
    """The studio's state on the server: the catalogue of models and its private folder (`folder`, mode 0700: the
    clips under `clips/`, and Gradio's uploads and cache when `app.launch` serves it; see `Workspace`).

    Each session (a browser tab; `session` of the jobs) numbers its clips 1, 2, ... and keeps them in its own
    sub-folder; the session's history is the caller's (Gradio keeps it per browser session). The folder holds at
    most `max_kept_bytes` (`prune`); `close` removes it.
    """

    def __init__(self, catalogue: Catalogue, folder: str | os.PathLike, max_kept_bytes: int = MAX_KEPT_BYTES):
        super().__init__(folder, max_kept_bytes)
        self.catalogue = catalogue

    # --- the model ------------------------------------------------------------------------------------------------
    def model_info(self, model: str) -> ModelInfo:
        pipeline = self.catalogue.pipeline(model)
        config = pipeline.mel_config
        genres = list(pipeline.genres or [])
        conditioned = pipeline.null_label is not None
        parts = [
            f"{config.y_res}x{config.x_res} spectrograms",
            f"{config.sample_rate} Hz",
            f"one slice = {config.slice_seconds:.2f} s",
            f"genres: {', '.join(genres)}" if genres else ("genre-conditioned" if conditioned else "no genres"),
        ]
        recommended = pipeline.recommended_guide
        if recommended:  # what every job is guided by, as in the CLI
            guide = "its base" if recommended["model"] == BASE_GUIDE else recommended["model"]
            parts.append(f"guided by {guide} at {recommended['scale']:g}")
        guidable = bool(pipeline.training.get("pretrained")) and pipeline.distillation is None
        return ModelInfo(
            genres, config.sample_rate, config.slice_seconds, config.n_iter, " · ".join(parts),
            sampling.max_steps(pipeline), recommended["scale"] if recommended else None, guidable or bool(recommended),
        )  # fmt: skip

    def guide_settings(self, model: str, scale: float | None) -> dict[str, float | None]:
        """`page_settings`' keywords for the page's guide scale on `model`: the scale and the one its folder
        recommends."""
        recommended = self.catalogue.recommended_guide(model)
        return {"guide_scale": scale, "recommended_scale": recommended["scale"] if recommended else None}

    def steps_for(self, model: str, scheduler: str | None) -> int:
        """The default steps of `scheduler` on `model`: for a short name, or "auto" and None (the sampler the folder
        recommends), the registry's or the folder's measured ones (`AudioDiffusionPipeline.steps_for`); for "saved",
        the folder's own scheduler's."""
        if scheduler in ("saved", AUTO_SCHEDULER) and self.catalogue.is_student(model):
            return self.catalogue.saved_default_steps(model)
        if scheduler in (None, AUTO_SCHEDULER) or scheduler in SCHEDULERS:
            return self.catalogue.steps_for(model, scheduler or AUTO_SCHEDULER)
        return self.catalogue.saved_default_steps(model)

    # --- inputs ---------------------------------------------------------------------------------------------------
    def read_clip(self, path: str | os.PathLike, sample_rate: int, name: str | None = None) -> np.ndarray:
        """A clip the page chose (an upload or a clip of this session), read by `load_audio` only: `(time,)`. A
        file of the studio's folder is touched: one in use is the last to go when the folder is over its cap."""
        audio = load_audio(path, sample_rate, name=name or Path(path).name, max_seconds=MAX_UPLOAD_SECONDS)
        if Path(path).resolve().is_relative_to(self.folder.resolve()):
            with contextlib.suppress(OSError):
                os.utime(path)
        return audio

    def preview(
        self, model: str, path: str, highlight: tuple[float, float] | None = None, session: str = LOCAL_SESSION
    ) -> Preview:
        """A picture of a chosen clip (its first `PREVIEW_SECONDS`); with `highlight`, that range (fitted inside the
        clip by `fit_range`) is marked."""
        with self._running():
            return self._preview(model, path, highlight, session)

    def _preview(self, model: str, path: str, highlight: tuple[float, float] | None, session: str) -> Preview:
        pipeline = self.catalogue.pipeline(model)
        audio = self.read_clip(path, pipeline.sample_rate)
        seconds = len(audio) / pipeline.sample_rate
        if highlight is not None:
            highlight = fit_range(highlight[0], highlight[1], seconds)
        picture = self._clip_picture(audio, pipeline, self._new_path(session, "preview", ".png"), highlight)
        return Preview(picture, seconds, highlight)

    # --- the jobs -------------------------------------------------------------------------------------------------
    # Each job takes its model, its own inputs and the `DrawSettings` every job shares; it runs the job of
    # `audiodiff.sampling` the CLI runs with `settings.job_arguments`, and shows `settings.command_line`: the command
    # that makes the same clips. `session` numbers and keeps the clips; `progress` is told of each sampling step.
    @_studio_job
    def generate(
        self, model: str, settings: DrawSettings, *, session: str = LOCAL_SESSION, progress: JobProgress = None
    ) -> Result:
        """`settings.count` clips of `settings.seconds` (None: one slice), clip k drawn with seed `seed + k`."""
        pipeline = self._pipeline(model, settings)
        clips = sampling.generate(pipeline, **settings.job_arguments(sampling.generate), progress=progress)
        command = settings.command_line("generate", model, out=CLIPS_FOLDER, job=sampling.generate)
        titles = [_describe(settings.genre, value) for value in clips.seeds]
        return self._result(session, "generate", clips, command, pipeline, titles)

    @_studio_job
    def vary(
        self,
        model: str,
        clip: str,
        strength: float,
        offset: float,
        settings: DrawSettings,
        *,
        session: str = LOCAL_SESSION,
        progress: JobProgress = None,
    ) -> Result:
        """`settings.count` variations of the slice of `clip` from `offset` seconds, `strength` of the way to noise
        (0 keeps it, 1 ignores it)."""
        pipeline = self._pipeline(model, settings)
        audio = self.read_clip(clip, pipeline.sample_rate)
        clips = sampling.vary(
            pipeline, audio, strength=strength, offset_seconds=offset, **settings.job_arguments(sampling.vary),
            progress=progress,
        )  # fmt: skip
        command = settings.command_line(
            "vary",
            model,
            Path(clip).name,
            out=CLIPS_FOLDER,
            job=sampling.vary,
            strength=strength,
            offset=offset or None,
        )
        titles = [f"variation of {Path(clip).stem} · strength {strength:g} · seed {value}" for value in clips.seeds]
        return self._result(session, "vary", clips, command, pipeline, titles)

    @_studio_job
    def inpaint(
        self,
        model: str,
        clip: str,
        start: float,
        end: float,
        settings: DrawSettings,
        *,
        session: str = LOCAL_SESSION,
        progress: JobProgress = None,
    ) -> Result:
        """`settings.count` alternatives of `clip` with `start`..`end` seconds regenerated, the rest kept."""
        pipeline = self._pipeline(model, settings)
        audio = self.read_clip(clip, pipeline.sample_rate)
        clips = sampling.inpaint(pipeline, audio, start, end, **settings.job_arguments(sampling.inpaint),
                                 progress=progress)  # fmt: skip
        command = settings.command_line(
            "inpaint", model, Path(clip).name, out=CLIPS_FOLDER, job=sampling.inpaint, start=start, end=end
        )
        titles = [f"{Path(clip).stem} with {start:g}-{end:g} s inpainted · seed {value}" for value in clips.seeds]
        return self._result(session, "inpaint", clips, command, pipeline, titles, highlight=(start, end))

    @_studio_job
    def loop(
        self,
        model: str,
        clip: str,
        loop_seconds: float,
        offset: float,
        settings: DrawSettings,
        *,
        session: str = LOCAL_SESSION,
        progress: JobProgress = None,
    ) -> Result:
        """`settings.count` loops of the slice of `clip` from `offset` seconds, `loop_seconds` around the point
        where its end wraps to its start regenerated."""
        pipeline = self._pipeline(model, settings)
        audio = self.read_clip(clip, pipeline.sample_rate)
        clips = sampling.loop(
            pipeline, audio, loop_seconds, offset_seconds=offset, **settings.job_arguments(sampling.loop),
            progress=progress,
        )  # fmt: skip
        command = settings.command_line(
            "inpaint", model, Path(clip).name, out=CLIPS_FOLDER, job=sampling.loop, loop=loop_seconds,
            offset=offset or None,
        )  # fmt: skip
        titles = [f"{Path(clip).stem} as a loop · seed {value}" for value in clips.seeds]
        return self._result(session, "loop", clips, command, pipeline, titles)

    @_studio_job
    def edit(
        self,
        model: str,
        clip: str,
        source_genre: str | None,
        strength: float,
        refine: int,
        offset: float,
        settings: DrawSettings,
        *,
        session: str = LOCAL_SESSION,
        progress: JobProgress = None,
    ) -> Result:
        """The slice of `clip` from `offset` seconds inverted under `source_genre` up to `strength` (DDIM inversion,
        `refine` fixed-point refinements a step), then regenerated with `settings.genre`. The sampler is always
        `sampling.INVERTIBLE_SCHEDULER`, as in the CLI; `settings.count` is not used (one clip)."""
        settings = settings.replace(scheduler=sampling.INVERTIBLE_SCHEDULER)
        pipeline = self._pipeline(model, settings)
        audio = self.read_clip(clip, pipeline.sample_rate)
        source_genre = genre_choice(source_genre)
        edited, source_pixels = sampling.edit(
            pipeline, audio, source_genre=source_genre, strength=strength, refinements=refine, offset_seconds=offset,
            **settings.job_arguments(sampling.edit), progress=progress,
        )  # fmt: skip
        command = settings.command_line(
            "edit", model, Path(clip).name, out=CLIPS_FOLDER, job=sampling.edit, source_genre=source_genre,
            strength=strength, refine=refine, offset=offset or None,
        )  # fmt: skip
        title = f"{Path(clip).stem}: {source_genre or 'any'} -> {settings.genre or 'any'} · strength {strength:g}"
        result = self._result(session, "edit", edited, command, pipeline, [title])
        source = self._picture(source_pixels, pipeline, self._new_path(session, "edit_source", ".png"))
        return dataclasses.replace(result, source_picture=source)

    @_studio_job
    def interpolate(
        self,
        model: str,
        clips: Sequence[str] | None,
        to_seed: int | None,
        settings: DrawSettings,
        *,
        session: str = LOCAL_SESSION,
        progress: JobProgress = None,
    ) -> Result:
        """`settings.count` frames (both ends included) along the slerp between the noises of `settings.seed` and
        `to_seed` (None: seed + 1), or between the DDIM inversions of two `clips` (then the sampler is
        `sampling.INVERTIBLE_SCHEDULER`, as in the CLI); with the morph, all frames in one file."""
        if clips is not None:
            settings = settings.replace(scheduler=sampling.INVERTIBLE_SCHEDULER)
        pipeline = self._pipeline(model, settings)
        audios = None if clips is None else [self.read_clip(clip, pipeline.sample_rate) for clip in clips]
        seed, frames = settings.seed, settings.count
        to_seed = None if clips is not None else (seed + 1 if to_seed is None else int(to_seed))
        made = sampling.interpolate(
            pipeline, to_seed=to_seed, clips=audios, **settings.job_arguments(sampling.interpolate), progress=progress
        )
        ends = {} if clips is None else {"from_audio": Path(clips[0]).name, "to_audio": Path(clips[1]).name}
        command = settings.command_line(
            "interpolate", model, out=CLIPS_FOLDER, job=sampling.interpolate, to_seed=to_seed, **ends
        )
        what = f"seed {seed} -> {to_seed}" if clips is None else f"{Path(clips[0]).stem} -> {Path(clips[1]).stem}"
        titles = [f"frame {k + 1}/{frames} of {what}" for k in range(frames)]
        result = self._result(session, "interpolate", made, command, pipeline, titles)
        morph_audio = sampling.join_clips(made.audios, made.sample_rate)
        number, wav = self._new_number_and_path(session, "morph", ".wav")
        save_audio(wav, morph_audio, made.sample_rate)
        make_private(wav, PRIVATE_FILE)
        morph = Record(
            number, f"morph: {what}, {frames} frames", str(wav), result.records[0].picture, command,
            len(morph_audio) / made.sample_rate,
        )  # fmt: skip
        return dataclasses.replace(result, morph=morph)

    def _pipeline(self, model: str, settings: DrawSettings):
        """The pipeline `model` with the sampler, guide and decoder iterations of `settings`: no guide given is the
        guide the folder recommends (a fine-tune's base), as in the CLI. The studio decodes with the pipeline's own
        decoder: it refuses settings that name another (the CLI's --phase-init and --vocoder)."""
        if settings.phase_init is not None or settings.vocoder is not None:
            raise ValueError("the studio decodes with the pipeline's own decoder: leave phase_init and vocoder unset")
        return self.catalogue.pipeline(model, settings.scheduler, settings.n_iter, settings.guide, settings.guide_scale)

    # --- files ----------------------------------------------------------------------------------------------------
    def _picture(self, pixels: np.ndarray, pipeline, path: Path) -> str:
        """The picture of integer pixels `(n_mels, frames)` at the pipeline's bit depth."""
        config = pipeline.mel_config
        image = pixels_to_model(np.asarray(pixels), pipeline.bits)
        spectrogram_picture(image, config.hop_length / config.sample_rate).save(path)
        make_private(path, PRIVATE_FILE)
        return str(path)

    def _clip_picture(self, audio: np.ndarray, pipeline, path: Path, highlight=None) -> str:
        """The picture of `(time,)` audio (its first `PREVIEW_SECONDS`), `highlight` = (start, end) seconds marked."""
        config = pipeline.mel_config
        shown = torch_audio(audio[: int(PREVIEW_SECONDS * config.sample_rate)])
        image = pipeline.codec().encode(shown.to(pipeline.codec().device), bits=pipeline.bits)[0, 0].cpu()
        spectrogram_picture(image, config.hop_length / config.sample_rate, highlight=highlight).save(path)
        make_private(path, PRIVATE_FILE)
        return str(path)

    def _result(
        self, session: str, kind: str, clips: sampling.Clips, command: str, pipeline, titles: list[str], highlight=None
    ) -> Result:
        """Write each clip (WAV, the spectrogram PNG the CLI writes, and a picture with a time axis) as a Record."""
        records = []
        for audio, pixels, title, seed in zip(clips.audios, clips.images, titles, clips.seeds, strict=True):
            number, wav = self._new_number_and_path(session, f"{kind}_seed{seed}", ".wav")
            save_audio(wav, audio, clips.sample_rate)
            save_png(wav.with_suffix(".png"), pixels, clips.bits, mel_config=pipeline.mel_config)
            make_private(wav, PRIVATE_FILE)
            make_private(wav.with_suffix(".png"), PRIVATE_FILE)
            picture_path = wav.with_name(wav.stem + "_picture.png")
            if highlight is not None:  # an inpainted clip is drawn whole, its new part marked
                picture = self._clip_picture(audio, pipeline, picture_path, highlight)
            else:
                picture = self._picture(pixels, pipeline, picture_path)
            records.append(
                Record(number, f"#{number} {title}", str(wav), picture, command, len(audio) / clips.sample_rate)
            )
        return Result(records, command)


def torch_audio(audio: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]


def _describe(genre: str | None, seed: int) -> str:
    return f"{genre or 'no genre'} · seed {seed}"
