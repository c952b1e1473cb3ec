"""The studio page's tabs: one builder per job (generate, vary, inpaint / loop, edit, interpolate), each laying out
its own controls over the shared ones and wiring its button to a `Studio` job with the tab's `DrawSettings`
(`page_settings`), and the session's history. Gradio only."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import gradio as gr

from audiodiff import sampling
from audiodiff.tempo_noise import BPM_RANGE
from audiodiff.ui.actions import NO_GENRE, Record, Studio, page_settings
from audiodiff.ui.controls import (
    MAX_CLIPS,
    Results,
    Shared,
    chosen_clip,
    clip_picker,
    gallery_items,
    play_on_select,
    shown_result,
)
from audiodiff.ui.handlers import QUEUE, cancellable, errors_as_messages, job_context, on_click


@dataclasses.dataclass(frozen=True)
class Tab:
    """What a tab's builder hands back for the wiring between tabs: its session-clip pickers (refilled when the
    history changes) and its own genre controls (refilled when the model changes): `genres` start at no genre,
    `target_genres` at the model's first genre, as the shared control does."""

    picks: list = dataclasses.field(default_factory=list)
    genres: list = dataclasses.field(default_factory=list)
    target_genres: list = dataclasses.field(default_factory=list)


def previewer(studio: Studio) -> Callable:
    """The handler that shows a chosen clip's picture; for inpainting also the range sliders fitted to the clip,
    the range marked on the picture."""

    @errors_as_messages
    def preview(name, upload, pick, records, range_start=None, range_end=None):
        if not upload and not pick:
            return None, gr.update(), gr.update()
        path = chosen_clip(upload, pick, records)
        highlight = None if range_start is None else (range_start, range_end)
        shown = studio.preview(name, path, highlight)
        if shown.highlight is None:
            return shown.picture, gr.update(), gr.update()
        longest = shown.seconds_floor
        start_update = gr.update(maximum=longest, value=shown.highlight[0])
        return shown.picture, start_update, gr.update(maximum=longest, value=shown.highlight[1])

    return preview


def preview_on_choice(preview: Callable, model, upload, pick, shown, history) -> None:
    """Show the clip chosen by `upload` or `pick` in `shown`. On `upload` and `input`, not `change`: choosing one
    source clears the other, which must not preview again."""
    for trigger in (upload.upload, pick.input):
        trigger(lambda *values: preview(*values)[0], [model, upload, pick, history], shown, concurrency_id=QUEUE)


def generate_tab(studio: Studio, shared: Shared, history: gr.State) -> Tab:
    with gr.Tab("Generate", id="generate"):
        with gr.Row():
            seconds = gr.Slider(0, 60, value=0, step=0.5, label="Seconds (0 = one slice)", elem_id="seconds")
            bpm = gr.Number(0, label="Tempo, BPM (0 = none): onsets on a beat grid", minimum=0, maximum=BPM_RANGE[1],
                            elem_id="bpm")  # fmt: skip
            count = gr.Slider(1, MAX_CLIPS, value=1, step=1, label="Clips", elem_id="count")
            button = gr.Button("Generate", variant="primary", elem_id="generate-button")
        out = Results("generate")

    @cancellable
    @errors_as_messages
    def run_generate(
        name, genre, guidance, steps, sampler, seed, n_iter, guide, length, tempo, clips, records,
        request: gr.Request, progress=gr.Progress(),
    ):  # fmt: skip
        settings = page_settings(genre, guidance, steps, sampler, seed, n_iter, count=clips, seconds=length,
                                 bpm=tempo, **studio.guide_settings(name, guide))  # fmt: skip
        return shown_result(studio.generate(name, settings, **job_context(request, progress)), records)

    on_click(button, run_generate, [*shared.inputs, seconds, bpm, count, history], [*out.outputs, history])
    return Tab()


def vary_tab(studio: Studio, shared: Shared, history: gr.State, audio_types: list[str], preview: Callable) -> Tab:
    with gr.Tab("Vary", id="vary"):
        upload, pick, shown = clip_picker("vary", audio_types)
        with gr.Row():
            strength = gr.Slider(0, 1, value=0.5, step=0.05, label="Strength (0 keeps the clip, 1 ignores it)")
            offset = gr.Number(0, label="Offset (s)", minimum=0)
            count = gr.Slider(1, MAX_CLIPS, value=2, step=1, label="Variations")
            button = gr.Button("Vary", variant="primary", elem_id="vary-button")
        out = Results("vary")
    preview_on_choice(preview, shared.model, upload, pick, shown, history)

    @cancellable
    @errors_as_messages
    def run_vary(
        name, genre, guidance, steps, sampler, seed, n_iter, guide, upload, pick, amount, offset, clips, records,
        request: gr.Request, progress=gr.Progress(),
    ):  # fmt: skip
        clip = chosen_clip(upload, pick, records)
        settings = page_settings(genre, guidance, steps, sampler, seed, n_iter, count=clips,
                                 **studio.guide_settings(name, guide))  # fmt: skip
        result = studio.vary(name, clip, amount, offset or 0.0, settings, **job_context(request, progress))
        return shown_result(result, records)

    inputs = [*shared.inputs, upload, pick, strength, offset, count, history]
    on_click(button, run_vary, inputs, [*out.outputs, history])
    return Tab(picks=[pick])


def inpaint_tab(studio: Studio, shared: Shared, history: gr.State, audio_types: list[str], preview: Callable) -> Tab:
    with gr.Tab("Inpaint / Loop", id="inpaint"):
        upload, pick, shown = clip_picker("inpaint", audio_types)
        with gr.Row():
            make_loop = gr.Checkbox(False, label="Make it loop instead")
            start = gr.Slider(0, 10, value=1, step=0.01, label="Regenerate from (s)", elem_id="inpaint-start")
            end = gr.Slider(0, 10, value=2, step=0.01, label="to (s)", elem_id="inpaint-end")
            loop_seconds = gr.Slider(0.05, 4, value=0.5, step=0.05, label="Loop: seconds around the seam")
            count = gr.Slider(1, MAX_CLIPS, value=1, step=1, label="Alternatives")
            button = gr.Button("Regenerate", variant="primary", elem_id="inpaint-button")
        out = Results("inpaint")
    for trigger in (upload.upload, pick.input, start.release, end.release):
        inputs = [shared.model, upload, pick, history, start, end]
        trigger(preview, inputs, [shown, start, end], concurrency_id=QUEUE)

    @cancellable
    @errors_as_messages
    def run_inpaint(
        name, genre, guidance, steps, sampler, seed, n_iter, guide, upload, pick, looping, range_start, range_end,
        around, clips, records, request: gr.Request, progress=gr.Progress(),
    ):  # fmt: skip
        clip = chosen_clip(upload, pick, records)
        settings = page_settings(genre, guidance, steps, sampler, seed, n_iter, count=clips,
                                 **studio.guide_settings(name, guide))  # fmt: skip
        context = job_context(request, progress)
        if looping:
            result = studio.loop(name, clip, around, 0.0, settings, **context)
        else:
            result = studio.inpaint(name, clip, range_start, range_end, settings, **context)
        return shown_result(result, records)

    inputs = [*shared.inputs, upload, pick, make_loop, start, end, loop_seconds, count, history]
    on_click(button, run_inpaint, inputs, [*out.outputs, history])
    return Tab(picks=[pick])


def edit_tab(studio: Studio, shared: Shared, history: gr.State, audio_types: list[str], preview: Callable) -> Tab:
    """Genre transfer: the shared genre control is not used; the tab has its own source and target genres. The
    sampler is always `sampling.INVERTIBLE_SCHEDULER` (`Studio.edit`)."""
    with gr.Tab("Edit", id="edit"):
        gr.Markdown(
            "Genre transfer by DDIM inversion: the clip is inverted under the source genre up to the "
            f"strength, then regenerated with the target genre (sampler `{sampling.INVERTIBLE_SCHEDULER}`)."
        )
        upload, pick, shown = clip_picker("edit", audio_types)
        with gr.Row():
            source_genre = gr.Dropdown([NO_GENRE], value=NO_GENRE, label="Source genre", elem_id="source-genre")
            target_genre = gr.Dropdown([NO_GENRE], value=NO_GENRE, label="Target genre", elem_id="target-genre")
            strength = gr.Slider(0, 1, value=0.7, step=0.05, label="Strength")
            refine = gr.Slider(0, 5, value=2, step=1, label="Inversion refinements")
            offset = gr.Number(0, label="Offset (s)", minimum=0)
            button = gr.Button("Edit", variant="primary", elem_id="edit-button")
        with gr.Row():
            source_picture = gr.Image(label="Source", interactive=False, type="filepath")
        out = Results("edit")
    preview_on_choice(preview, shared.model, upload, pick, shown, history)

    @cancellable
    @errors_as_messages
    def run_edit(
        name, guidance, steps, seed, n_iter, guide, upload, pick, source, target, amount, refinements, offset, records,
        request: gr.Request, progress=gr.Progress(),
    ):  # fmt: skip
        clip = chosen_clip(upload, pick, records)
        settings = page_settings(target, guidance, steps, None, seed, n_iter, **studio.guide_settings(name, guide))
        context = job_context(request, progress)
        result = studio.edit(name, clip, source, amount, int(refinements), offset or 0.0, settings, **context)
        return [result.source_picture, *shown_result(result, records)]

    inputs = [shared.model, shared.guidance, shared.steps, shared.seed, shared.n_iter, shared.guide, upload, pick,
              source_genre, target_genre, strength, refine, offset, history]  # fmt: skip
    on_click(button, run_edit, inputs, [source_picture, *out.outputs, history])
    return Tab(picks=[pick], genres=[source_genre], target_genres=[target_genre])


def interpolate_tab(studio: Studio, shared: Shared, history: gr.State, audio_types: list[str]) -> Tab:
    with gr.Tab("Interpolate", id="interpolate"):
        with gr.Row():
            between = gr.Radio(["two seeds", "two clips"], value="two seeds", label="Between")
            to_seed = gr.Number(None, label="Other seed (empty = seed + 1)", precision=0, minimum=0)
            frames = gr.Slider(2, 16, value=5, step=1, label="Frames")
            button = gr.Button("Interpolate", variant="primary", elem_id="interpolate-button")
        with gr.Row():
            with gr.Column():
                from_upload, from_pick, _ = clip_picker("from", audio_types, preview=False, label="From clip")
            with gr.Column():
                to_upload, to_pick, _ = clip_picker("to", audio_types, preview=False, label="To clip")
        morph = gr.Audio(
            label="The morph (all frames, one file)", type="filepath", interactive=False, elem_id="morph-player"
        )
        out = Results("interpolate")

    @cancellable
    @errors_as_messages
    def run_interpolate(
        name, genre, guidance, steps, sampler, seed, n_iter, guide, mode, other_seed, frame_count, first_upload,
        first_pick, second_upload, second_pick, records, request: gr.Request, progress=gr.Progress(),
    ):  # fmt: skip
        clips = None
        if mode == "two clips":
            clips = [
                chosen_clip(first_upload, first_pick, records, "the first clip"),
                chosen_clip(second_upload, second_pick, records, "the second clip"),
            ]
        settings = page_settings(genre, guidance, steps, sampler, seed, n_iter, count=frame_count,
                                 **studio.guide_settings(name, guide))  # fmt: skip
        result = studio.interpolate(name, clips, other_seed, settings, **job_context(request, progress))
        return [result.morph.wav, *shown_result(result, records)]

    inputs = [*shared.inputs, between, to_seed, frames, from_upload, from_pick, to_upload, to_pick, history]
    on_click(button, run_interpolate, inputs, [morph, *out.outputs, history])
    return Tab(picks=[from_pick, to_pick])


def history_tab(history: gr.State, picks: list) -> None:
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
    play_on_select(gallery, history, picture, player, command)

    def history_changed(records: list[Record]):
        titles = [record.title for record in records]
        return [gallery_items(records), *[gr.update(choices=titles) for _ in picks]]

    history.change(history_changed, history, [gallery, *picks], queue=False)
