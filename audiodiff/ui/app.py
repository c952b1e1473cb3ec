"""The studio's page: a Gradio Blocks layout over `Studio` (actions.py). Layout and wiring only: the shared
controls and blocks are in `controls.py`, the tabs in `tabs.py`, how a handler runs (queue, errors, cancellation,
progress) in `handlers.py`; here the page is put together and served.

Every button runs one job of `audiodiff.sampling` through `Studio`; jobs wait in one queue (one at a time, so two
users never sample on the same pipeline at once) and report their steps to the page's progress bar. A bad input
(an unreadable upload, a range outside the clip, an unknown genre, more steps than the sampler's training
timesteps) shows the library's one-line message. A job whose page has left (closed, reloaded, cancelled) stops at
its next sampling step instead of holding the queue (`handlers.cancellable`, `handlers.reporter`).
"""

from __future__ import annotations

import os

import gradio as gr

from audiodiff.audio import AUDIO_EXTENSIONS
from audiodiff.ui.actions import MAX_UPLOAD_BYTES, NO_GENRE, Studio
from audiodiff.ui.controls import MAX_CLIPS, MAX_STEPS, Shared, shared_controls
from audiodiff.ui.handlers import QUEUE, errors_as_messages
from audiodiff.ui.tabs import (
    Tab,
    edit_tab,
    generate_tab,
    history_tab,
    inpaint_tab,
    interpolate_tab,
    previewer,
    vary_tab,
)

__all__ = ["CSS", "MAX_CLIPS", "MAX_QUEUED", "MAX_STEPS", "QUEUE", "build_app", "launch"]

MAX_QUEUED = 32
CSS = """
#studio-title h1 { margin-bottom: 0; }
.studio-command textarea, .studio-command .cm-content { font-size: 13px; }
"""


def build_app(studio: Studio) -> gr.Blocks:
    """The studio page for `studio`'s catalogue: the shared controls, then one tab per job, then the history."""
    audio_types = list(AUDIO_EXTENSIONS)
    with gr.Blocks(title="audiodiff studio", analytics_enabled=False) as app:
        history = gr.State([])
        gr.Markdown("# audiodiff studio", elem_id="studio-title")
        shared = shared_controls(studio)
        preview = previewer(studio)
        with gr.Tabs():
            tabs = [
                generate_tab(studio, shared, history),
                vary_tab(studio, shared, history, audio_types, preview),
                inpaint_tab(studio, shared, history, audio_types, preview),
                edit_tab(studio, shared, history, audio_types, preview),
                interpolate_tab(studio, shared, history, audio_types),
            ]
            history_tab(history, [pick for tab in tabs for pick in tab.picks])
        _wire_model(app, studio, shared, tabs)
    return app


def _wire_model(app: gr.Blocks, studio: Studio, shared: Shared, tabs: list[Tab]) -> None:
    """A model chosen (or the page loaded): its description, genres (the shared control's and the tabs'), decoder
    iterations, its sampler's default steps and the guide's scale its folder recommends (the control usable only for
    a model that has a base); a sampler chosen: its default steps."""

    @errors_as_messages
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
            gr.update(value=described.guide_scale or 1, interactive=described.guidable),
        ]

    first_genre = [shared.genre, *[genre for tab in tabs for genre in tab.target_genres]]
    no_genre = [genre for tab in tabs for genre in tab.genres]
    outputs = [shared.info, *first_genre, *no_genre, shared.n_iter, shared.steps, shared.guide]
    for event in (shared.model.change, app.load):
        event(model_changed, [shared.model, shared.scheduler], outputs, concurrency_id=QUEUE)
    shared.scheduler.change(
        errors_as_messages(lambda name, sampler: studio.steps_for(name, sampler)),
        [shared.model, shared.scheduler],
        shared.steps,
        concurrency_id=QUEUE,
    )


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
