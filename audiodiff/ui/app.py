"""The studio's page: a Gradio Blocks layout over `Studio` (actions.py). Layout and wiring only.

Every button runs one job of `audiodiff.sampling` through `Studio`; jobs wait in one queue (one at a time, so two
users never sample on the same pipeline at once) and report their steps to the page's progress bar. A bad input
(an unreadable upload, a range outside the clip, an unknown genre, more steps than the sampler's training
timesteps) shows the library's one-line message. A job whose page has left (closed, reloaded, cancelled) stops at
its next sampling step instead of holding the queue (`_cancellable`, `_reporter`).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import anyio
import gradio as gr
from gradio.context import LocalContext

from audiodiff import sampling
from audiodiff.audio import AUDIO_EXTENSIONS, AudioError
from audiodiff.config import ConfigError
from audiodiff.schedulers import AUTO_SCHEDULER, DEFAULT_SCHEDULER, SCHEDULERS
from audiodiff.ui.actions import (
    LOCAL_SESSION,
    MAX_UPLOAD_BYTES,
    NO_GENRE,
    JobCancelled,
    Record,
    Result,
    Studio,
    page_settings,
)
from audiodiff.utils import first_line

logger = logging.getLogger(__name__)

QUEUE = "studio"  # every job shares this queue: one runs at a time
MAX_QUEUED = 32
MAX_CLIPS = 8
MAX_STEPS = 1000  # the steps control's maximum until a model says its own (`sampling.max_steps`: 1000 here)
# Set by `_cancellable` for the job it runs: set when Gradio cancels the event (`/cancel`).
_CANCELLED: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("studio_cancelled", default=None)
CSS = """
#studio-title h1 { margin-bottom: 0; }
.studio-command textarea, .studio-command .cm-content { font-size: 13px; }
"""


def _shown(function: Callable) -> Callable:
    """Errors become a message on the page (never a traceback): the library's one line for bad input; a short
    note for anything unexpected (its traceback goes to the server's log)."""

    @functools.wraps(function)
    def wrapper(*arguments, **keywords):
        try:
            return function(*arguments, **keywords)
        except gr.Error:
            raise
        except JobCancelled as error:
            logger.info("studio job stopped: %s", error)
            raise gr.Error(f"stopped: {error}", print_exception=False) from None
        except (ValueError, AudioError, ConfigError) as error:
            raise gr.Error(first_line(error), print_exception=False) from None
        except Exception as error:  # noqa: BLE001 - the page shows one line; the log keeps the traceback
            logger.exception("studio job failed")
            raise gr.Error(f"{type(error).__name__}: {first_line(error)}", print_exception=False) from None

    return wrapper


def _cancellable(function: Callable) -> Callable:
    """Run a job handler in a worker thread so that cancelling its event (Gradio's `/cancel`, as the Python client's
    `Job.cancel` sends) reaches it: the job stops at its next sampling step (`_reporter`) and the queue waits for
    that, so the next job never shares the pipeline with a stopping one. A synchronous handler cannot be told: Gradio
    defers the cancellation of a thread until it returns."""

    @functools.wraps(function)  # Gradio reads the signature (gr.Request, gr.Progress) through __wrapped__
    async def run(*arguments, **keywords):
        cancelled = threading.Event()
        _CANCELLED.set(cancelled)  # this task's context, copied into the worker thread
        work = asyncio.ensure_future(anyio.to_thread.run_sync(functools.partial(function, *arguments, **keywords)))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            cancelled.set()
            await asyncio.wait([work])  # stops at the next step; a second cancellation leaves it to `Studio.stop`
            raise

    return run


def _client_left() -> Callable[[], bool]:
    """Whether the page that asked for the running job is gone: Gradio marks its events dead when the page's event
    stream closes (tab closed or reloaded) but keeps a synchronous job running, so the job asks at each step. Reads
    Gradio's queue (`Blocks._queue`; no public API says it), and `_cancellable`'s flag for `/cancel`."""
    blocks, event_id, cancelled = LocalContext.blocks.get(None), LocalContext.event_id.get(None), _CANCELLED.get()
    queue = getattr(blocks, "_queue", None)

    def left() -> bool:
        if cancelled is not None and cancelled.is_set():
            return True
        event = getattr(queue, "event_ids_to_events", {}).get(event_id) if event_id else None
        return event is not None and not getattr(event, "alive", True)

    return left


def _reporter(progress: gr.Progress) -> sampling.Progress:
    """The jobs' progress -> the page's bar; raises `JobCancelled` (the job stops) once the page has left."""
    left = _client_left()

    def report(run: int, step: int, steps: int) -> None:
        if left():
            raise JobCancelled("the page that asked for this job has left")
        # Runs are sampling passes (a batch, an inversion); decoding to audio follows the last step of a batch.
        progress((step, steps), desc=f"pass {run}" if step < steps else f"pass {run} done")

    return report


def _source(upload: str | None, pick: str | None, history: list[Record], what: str = "a clip") -> str:
    """The file of the chosen clip: an upload, or a clip of this session picked by its title."""
    if upload:
        return upload
    for record in history or []:
        if record.title == pick:
            return record.wav
    raise ValueError(f"upload {what} or pick one made in this session")


def _session(request: gr.Request | None) -> str:
    """The browser session a job belongs to (its clips are numbered and kept per session)."""
    return getattr(request, "session_hash", None) or LOCAL_SESSION


def _gallery(records: list[Record]) -> list[tuple[str, str]]:
    return [(record.picture, record.title) for record in records]


def _shown_result(result: Result, records: list[Record]) -> list:
    """A job's result -> its tab's outputs (`_Results.outputs`) and the session's history with its clips added."""
    made = result.records + ([result.morph] if result.morph else [])
    return [
        _gallery(result.records),
        result.records[0].picture,
        result.records[0].wav,
        [record.wav for record in made],
        result.command,
        result.records,
        [*records, *made],
    ]


def _job_context(request: gr.Request | None, progress: gr.Progress) -> dict[str, Any]:
    """The keywords every `Studio` job takes from the page: the browser session and its progress bar."""
    return {"session": _session(request), "progress": _reporter(progress)}


def _on_click(button: gr.Button, handler: Callable, inputs: list, outputs: list) -> None:
    """Run `handler` in the studio's one queue (one job at a time: two users never sample on one pipeline)."""
    button.click(handler, inputs, outputs, concurrency_id=QUEUE, concurrency_limit=1)


@dataclasses.dataclass(frozen=True)
class _Shared:
    """The controls above the tabs, whose values every job's `DrawSettings` is made of (`page_settings`)."""

    model: gr.Dropdown
    info: gr.Markdown
    genre: gr.Dropdown
    guidance: gr.Slider
    scheduler: gr.Dropdown
    steps: gr.Number
    seed: gr.Number
    n_iter: gr.Slider

    @property
    def inputs(self) -> list:
        """What the job handlers take first, in this order (the order of the HTTP API's data too): model, genre,
        guidance, steps, sampler, seed, decoder iterations."""
        return [self.model, self.genre, self.guidance, self.steps, self.scheduler, self.seed, self.n_iter]


@dataclasses.dataclass(frozen=True)
class _Tab:
    """What a tab's builder hands back for the wiring between tabs: its session-clip pickers (refilled when the
    history changes) and its own genre controls (refilled when the model changes): `genres` start at no genre,
    `target_genres` at the model's first genre, as the shared control does."""

    picks: list = dataclasses.field(default_factory=list)
    genres: list = dataclasses.field(default_factory=list)
    target_genres: list = dataclasses.field(default_factory=list)


def build_app(studio: Studio) -> gr.Blocks:
    """The studio page for `studio`'s catalogue: the shared controls, then one tab per job, then the history."""
    audio_types = list(AUDIO_EXTENSIONS)
    with gr.Blocks(title="audiodiff studio", analytics_enabled=False) as app:
        history = gr.State([])
        gr.Markdown("# audiodiff studio", elem_id="studio-title")
        shared = _shared_controls(studio)
        preview = _previewer(studio)
        with gr.Tabs():
            tabs = [
                _generate_tab(studio, shared, history),
                _vary_tab(studio, shared, history, audio_types, preview),
                _inpaint_tab(studio, shared, history, audio_types, preview),
                _edit_tab(studio, shared, history, audio_types, preview),
                _interpolate_tab(studio, shared, history, audio_types),
            ]
            _history_tab(history, [pick for tab in tabs for pick in tab.picks])
        _wire_model(app, studio, shared, tabs)
    return app


def _shared_controls(studio: Studio) -> _Shared:
    """The model and the controls every job uses: genre, guidance, sampler, steps, seed (with a dice), decoder."""
    models = studio.catalogue.names()
    with gr.Row():
        model = gr.Dropdown(models, value=models[0] if models else None, label="Model", elem_id="model", scale=2)
        info = gr.Markdown(elem_id="model-info")
    with gr.Row(equal_height=True):
        genre = gr.Dropdown([NO_GENRE], value=NO_GENRE, label="Genre", elem_id="genre", scale=2)
        guidance = gr.Slider(1, 10, value=1, step=0.5, label="Guidance", info="1 = no extra cost", scale=2)
        scheduler = gr.Dropdown(
            [AUTO_SCHEDULER, *SCHEDULERS, "saved"], value=AUTO_SCHEDULER, label="Sampler", elem_id="scheduler", scale=2
        )
        steps = _steps_control(SCHEDULERS[DEFAULT_SCHEDULER].steps)
        seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="seed", scale=1)
        dice = gr.Button("Random seed", elem_id="dice", scale=0, min_width=90)
        n_iter = gr.Slider(1, 256, value=32, step=1, label="Decode: Griffin-Lim iterations", scale=2)
    with gr.Accordion("Samplers", open=False):
        lines = [f"- `{name}`: {sampler.description}" for name, sampler in SCHEDULERS.items()]
        gr.Markdown("\n".join([*lines, "- `saved`: the pipeline folder's own scheduler"]))
    dice.click(lambda: sampling.random_seed(), None, seed, queue=False)
    return _Shared(model, info, genre, guidance, scheduler, steps, seed, n_iter)


def _wire_model(app: gr.Blocks, studio: Studio, shared: _Shared, tabs: list[_Tab]) -> None:
    """A model chosen (or the page loaded): its description, genres (the shared control's and the tabs'), decoder
    iterations and its sampler's default steps; a sampler chosen: its default steps."""

    @_shown
    def model_changed(name, sampler):
        if not name:
            missing = "No pipeline found: run `make demo`, or name pipeline folders on the command line"
            return [missing] + [gr.update()] * (len(outputs) - 1)
        described = studio.model_info(name)
        genres, interactive = [NO_GENRE, *described.genres], bool(described.genres)
        first = described.genres[0] if described.genres else NO_GENRE
        return [
            described.description,
            *[gr.update(choices=genres, value=first, interactive=interactive) for _ in first_genre],
            *[gr.update(choices=genres, value=NO_GENRE, interactive=interactive) for _ in no_genre],
            gr.update(value=described.n_iter),
            gr.update(value=studio.steps_for(name, sampler), maximum=described.max_steps),
        ]

    first_genre = [shared.genre, *[genre for tab in tabs for genre in tab.target_genres]]
    no_genre = [genre for tab in tabs for genre in tab.genres]
    outputs = [shared.info, *first_genre, *no_genre, shared.n_iter, shared.steps]
    for event in (shared.model.change, app.load):
        event(model_changed, [shared.model, shared.scheduler], outputs, concurrency_id=QUEUE)
    shared.scheduler.change(
        _shown(lambda name, sampler: studio.steps_for(name, sampler)),
        [shared.model, shared.scheduler],
        shared.steps,
        concurrency_id=QUEUE,
    )


def _previewer(studio: Studio) -> Callable:
    """The handler that shows a chosen clip's picture; for inpainting also the range sliders fitted to the clip,
    the range marked on the picture."""

    @_shown
    def preview(name, upload, pick, records, range_start=None, range_end=None):
        if not upload and not pick:
            return None, gr.update(), gr.update()
        path = _source(upload, pick, records)
        highlight = None if range_start is None else (range_start, range_end)
        shown = studio.preview(name, path, highlight)
        if shown.highlight is None:
            return shown.picture, gr.update(), gr.update()
        longest = shown.seconds_floor
        start_update = gr.update(maximum=longest, value=shown.highlight[0])
        return shown.picture, start_update, gr.update(maximum=longest, value=shown.highlight[1])

    return preview


def _preview_on_choice(preview: Callable, model, upload, pick, shown, history) -> None:
    """Show the clip chosen by `upload` or `pick` in `shown`. On `upload` and `input`, not `change`: choosing one
    source clears the other, which must not preview again."""
    for trigger in (upload.upload, pick.input):
        trigger(lambda *values: preview(*values)[0], [model, upload, pick, history], shown, concurrency_id=QUEUE)


def _generate_tab(studio: Studio, shared: _Shared, history: gr.State) -> _Tab:
    with gr.Tab("Generate", id="generate"):
        with gr.Row():
            seconds = gr.Slider(0, 60, value=0, step=0.5, label="Seconds (0 = one slice)", elem_id="seconds")
            count = gr.Slider(1, MAX_CLIPS, value=1, step=1, label="Clips", elem_id="count")
            button = gr.Button("Generate", variant="primary", elem_id="generate-button")
        out = _Results("generate")

    @_cancellable
    @_shown
    def run_generate(
        name, genre, guidance, steps, sampler, seed, n_iter, length, clips, records, request: gr.Request,
        progress=gr.Progress(),
    ):  # fmt: skip
        settings = page_settings(genre, guidance, steps, sampler, seed, n_iter, count=clips, seconds=length)
        return _shown_result(studio.generate(name, settings, **_job_context(request, progress)), records)

    _on_click(button, run_generate, [*shared.inputs, seconds, count, history], [*out.outputs, history])
    return _Tab()


def _vary_tab(studio: Studio, shared: _Shared, history: gr.State, audio_types: list[str], preview: Callable) -> _Tab:
    with gr.Tab("Vary", id="vary"):
        upload, pick, shown = _clip_picker("vary", audio_types)
        with gr.Row():
            strength = gr.Slider(0, 1, value=0.5, step=0.05, label="Strength (0 keeps the clip, 1 ignores it)")
            offset = gr.Number(0, label="Offset (s)", minimum=0)
            count = gr.Slider(1, MAX_CLIPS, value=2, step=1, label="Variations")
            button = gr.Button("Vary", variant="primary", elem_id="vary-button")
        out = _Results("vary")
    _preview_on_choice(preview, shared.model, upload, pick, shown, history)

    @_cancellable
    @_shown
    def run_vary(
        name, genre, guidance, steps, sampler, seed, n_iter, upload, pick, amount, offset, clips, records,
        request: gr.Request, progress=gr.Progress(),
    ):  # fmt: skip
        clip = _source(upload, pick, records)
        settings = page_settings(genre, guidance, steps, sampler, seed, n_iter, count=clips)
        result = studio.vary(name, clip, amount, offset or 0.0, settings, **_job_context(request, progress))
        return _shown_result(result, records)

    inputs = [*shared.inputs, upload, pick, strength, offset, count, history]
    _on_click(button, run_vary, inputs, [*out.outputs, history])
    return _Tab(picks=[pick])


def _inpaint_tab(studio: Studio, shared: _Shared, history: gr.State, audio_types: list[str], preview: Callable) -> _Tab:
    with gr.Tab("Inpaint / Loop", id="inpaint"):
        upload, pick, shown = _clip_picker("inpaint", audio_types)
        with gr.Row():
            make_loop = gr.Checkbox(False, label="Make it loop instead")
            start = gr.Slider(0, 10, value=1, step=0.01, label="Regenerate from (s)", elem_id="inpaint-start")
            end = gr.Slider(0, 10, value=2, step=0.01, label="to (s)", elem_id="inpaint-end")
            loop_seconds = gr.Slider(0.05, 4, value=0.5, step=0.05, label="Loop: seconds around the seam")
            count = gr.Slider(1, MAX_CLIPS, value=1, step=1, label="Alternatives")
            button = gr.Button("Regenerate", variant="primary", elem_id="inpaint-button")
        out = _Results("inpaint")
    for trigger in (upload.upload, pick.input, start.release, end.release):
        inputs = [shared.model, upload, pick, history, start, end]
        trigger(preview, inputs, [shown, start, end], concurrency_id=QUEUE)

    @_cancellable
    @_shown
    def run_inpaint(
        name, genre, guidance, steps, sampler, seed, n_iter, upload, pick, looping, range_start, range_end, around,
        clips, records, request: gr.Request, progress=gr.Progress(),
    ):  # fmt: skip
        clip = _source(upload, pick, records)
        settings = page_settings(genre, guidance, steps, sampler, seed, n_iter, count=clips)
        context = _job_context(request, progress)
        if looping:
            result = studio.loop(name, clip, around, 0.0, settings, **context)
        else:
            result = studio.inpaint(name, clip, range_start, range_end, settings, **context)
        return _shown_result(result, records)

    inputs = [*shared.inputs, upload, pick, make_loop, start, end, loop_seconds, count, history]
    _on_click(button, run_inpaint, inputs, [*out.outputs, history])
    return _Tab(picks=[pick])


def _edit_tab(studio: Studio, shared: _Shared, history: gr.State, audio_types: list[str], preview: Callable) -> _Tab:
    """Genre transfer: the shared genre control is not used; the tab has its own source and target genres. The
    sampler is always `sampling.INVERTIBLE_SCHEDULER` (`Studio.edit`)."""
    with gr.Tab("Edit", id="edit"):
        gr.Markdown(
            "Genre transfer by DDIM inversion: the clip is inverted under the source genre up to the "
            f"strength, then regenerated with the target genre (sampler `{sampling.INVERTIBLE_SCHEDULER}`)."
        )
        upload, pick, shown = _clip_picker("edit", audio_types)
        with gr.Row():
            source_genre = gr.Dropdown([NO_GENRE], value=NO_GENRE, label="Source genre", elem_id="source-genre")
            target_genre = gr.Dropdown([NO_GENRE], value=NO_GENRE, label="Target genre", elem_id="target-genre")
            strength = gr.Slider(0, 1, value=0.7, step=0.05, label="Strength")
            refine = gr.Slider(0, 5, value=2, step=1, label="Inversion refinements")
            offset = gr.Number(0, label="Offset (s)", minimum=0)
            button = gr.Button("Edit", variant="primary", elem_id="edit-button")
        with gr.Row():
            source_picture = gr.Image(label="Source", interactive=False, type="filepath")
        out = _Results("edit")
    _preview_on_choice(preview, shared.model, upload, pick, shown, history)

    @_cancellable
    @_shown
    def run_edit(
        name, guidance, steps, seed, n_iter, upload, pick, source, target, amount, refinements, offset, records,
        request: gr.Request, progress=gr.Progress(),
    ):  # fmt: skip
        clip = _source(upload, pick, records)
        settings = page_settings(target, guidance, steps, None, seed, n_iter)
        context = _job_context(request, progress)
        result = studio.edit(name, clip, source, amount, int(refinements), offset or 0.0, settings, **context)
        return [result.source_picture, *_shown_result(result, records)]

    inputs = [shared.model, shared.guidance, shared.steps, shared.seed, shared.n_iter, upload, pick, source_genre,
              target_genre, strength, refine, offset, history]  # fmt: skip
    _on_click(button, run_edit, inputs, [source_picture, *out.outputs, history])
    return _Tab(picks=[pick], genres=[source_genre], target_genres=[target_genre])


def _interpolate_tab(studio: Studio, shared: _Shared, history: gr.State, audio_types: list[str]) -> _Tab:
    with gr.Tab("Interpolate", id="interpolate"):
        with gr.Row():
            between = gr.Radio(["two seeds", "two clips"], value="two seeds", label="Between")
            to_seed = gr.Number(None, label="Other seed (empty = seed + 1)", precision=0, minimum=0)
            frames = gr.Slider(2, 16, value=5, step=1, label="Frames")
            button = gr.Button("Interpolate", variant="primary", elem_id="interpolate-button")
        with gr.Row():
            with gr.Column():
                from_upload, from_pick, _ = _clip_picker("from", audio_types, preview=False, label="From clip")
            with gr.Column():
                to_upload, to_pick, _ = _clip_picker("to", audio_types, preview=False, label="To clip")
        morph = gr.Audio(
            label="The morph (all frames, one file)", type="filepath", interactive=False, elem_id="morph-player"
        )
        out = _Results("interpolate")

    @_cancellable
    @_shown
    def run_interpolate(
        name, genre, guidance, steps, sampler, seed, n_iter, mode, other_seed, frame_count, first_upload, first_pick,
        second_upload, second_pick, records, request: gr.Request, progress=gr.Progress(),
    ):  # fmt: skip
        clips = None
        if mode == "two clips":
            clips = [
                _source(first_upload, first_pick, records, "the first clip"),
                _source(second_upload, second_pick, records, "the second clip"),
            ]
        settings = page_settings(genre, guidance, steps, sampler, seed, n_iter, count=frame_count)
        result = studio.interpolate(name, clips, other_seed, settings, **_job_context(request, progress))
        return [result.morph.wav, *_shown_result(result, records)]

    inputs = [*shared.inputs, between, to_seed, frames, from_upload, from_pick, to_upload, to_pick, history]
    _on_click(button, run_interpolate, inputs, [morph, *out.outputs, history])
    return _Tab(picks=[from_pick, to_pick])


def _history_tab(history: gr.State, picks: list) -> None:
    """The session's clips; choosing one plays it and shows the command that made it. The tabs' pickers list them."""
    with gr.Tab("History", id="history"):
        gallery = gr.Gallery(
            label="This session's clips (click one to play it)", columns=4, height=360, fit_columns=False,
            object_fit="contain", allow_preview=False, elem_id="history-gallery",
        )  # fmt: skip
        with gr.Row():
            picture = gr.Image(label="Selected clip", type="filepath", interactive=False, height=260, scale=3)
            player = gr.Audio(label="Player", type="filepath", interactive=False, scale=2)
        command = gr.Code(label="The command that made it", language="shell", interactive=False, lines=1)
    gallery.select(_selected, history, [picture, player, command], queue=False)

    def history_changed(records: list[Record]):
        titles = [record.title for record in records]
        return [_gallery(records), *[gr.update(choices=titles) for _ in picks]]

    history.change(history_changed, history, [gallery, *picks], queue=False)


def _selected(records: list[Record], event: gr.SelectData):
    """A clip clicked in a gallery: its picture, its WAV and the command that made it."""
    record = records[event.index]
    return record.picture, record.wav, record.command


class _Results:
    """The output block of a tab: a gallery of spectrograms, a player and downloads, and the command."""

    def __init__(self, name: str):
        self.gallery = gr.Gallery(
            label="Spectrograms (click one to hear it)",
            columns=6,
            height=190,
            fit_columns=False,
            object_fit="contain",
            elem_id=f"{name}-gallery",
            allow_preview=False,
        )
        with gr.Row():
            self.picture = gr.Image(
                label="Selected clip",
                type="filepath",
                interactive=False,
                height=260,
                elem_id=f"{name}-picture",
                scale=3,
            )
            with gr.Column(scale=2):
                self.player = gr.Audio(label="Player", type="filepath", interactive=False, elem_id=f"{name}-player")
                self.files = gr.File(
                    label="WAV downloads", file_count="multiple", interactive=False, height=110, elem_id=f"{name}-files"
                )
        self.command = gr.Code(
            label="The command that makes these clips",
            language="shell",
            interactive=False,
            lines=1,
            elem_id=f"{name}-command",
            elem_classes=["studio-command"],
        )
        self.records = gr.State([])
        self.gallery.select(_selected, self.records, [self.picture, self.player, self.command], queue=False)

    @property
    def outputs(self) -> list:
        return [self.gallery, self.picture, self.player, self.files, self.command, self.records]


def _steps_control(value: int) -> gr.Number:
    """The steps control: a number with a maximum on the page, whose value the server hands to the jobs unchecked
    so that a request past the page gets the library's one-line message (`sampling.check_steps`), not Gradio's.
    (Set on the instance: a subclass of a Gradio component makes Gradio write a stub file next to this one.)"""
    control = gr.Number(
        value, label="Steps", precision=0, minimum=1, maximum=MAX_STEPS, info=f"at most {MAX_STEPS}",
        elem_id="steps", scale=1,
    )  # fmt: skip
    control.preprocess = lambda payload: None if payload is None else control.round_to_precision(payload, 0)
    return control


def _clip_picker(name: str, audio_types: list[str], preview: bool = True, label: str = "Clip"):
    """An upload and a list of this session's clips; the chosen clip's spectrogram when `preview`."""
    with gr.Row():
        upload = gr.File(
            label=f"{label}: upload audio", file_types=audio_types, type="filepath", elem_id=f"{name}-upload"
        )
        pick = gr.Dropdown([], value=None, label="or pick a clip made in this session", elem_id=f"{name}-pick")
        shown = (
            gr.Image(label="Chosen clip", interactive=False, type="filepath", elem_id=f"{name}-preview")
            if preview
            else None
        )
    # One source at a time: choosing one clears the other.
    upload.upload(lambda: None, None, pick, queue=False)
    pick.input(lambda: None, None, upload, queue=False)
    return upload, pick, shown


def launch(
    studio: Studio,
    host: str = "127.0.0.1",
    port: int | None = 7860,
    share: bool = False,
    block: bool = True,
    quiet: bool = False,
):
    """Serve the studio (queue on, uploads limited to `MAX_UPLOAD_BYTES`, no analytics, nothing fetched from
    outside); returns the Gradio app after `launch(prevent_thread_lock=not block)`.

    Gradio's uploads and cache go into `studio.folder` (GRADIO_TEMP_DIR, read when the page is built and on each
    upload): one private folder, capped by `Studio.prune` (also every few seconds, for uploads no job has read) and
    removed by `Studio.close`. The clips already lie there, so Gradio serves them without copying."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ["GRADIO_TEMP_DIR"] = str(studio.folder.resolve())
    app = build_app(studio)
    studio.start_sweeping()
    app.queue(default_concurrency_limit=1, max_size=MAX_QUEUED)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        quiet=quiet,
        max_file_size=MAX_UPLOAD_BYTES,
        allowed_paths=[str(studio.folder)],
        enable_monitoring=False,
        mcp_server=False,
        ssr_mode=False,
        pwa=False,
        run_history=False,
        footer_links=[],
        show_error=True,
        css=CSS,
    )
    return app
