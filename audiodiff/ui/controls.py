"""The studio page's building blocks shared by its tabs: the controls above the tabs (`Shared`), a clip picker, a
tab's results block, and the values they hand the jobs (the chosen clip's file, a result shown). Gradio only."""

from __future__ import annotations

import dataclasses

import gradio as gr

from audiodiff import sampling
from audiodiff.schedulers import AUTO_SCHEDULER, DEFAULT_SCHEDULER, SCHEDULERS
from audiodiff.ui.actions import NO_GENRE, Record, Result, Studio

MAX_CLIPS = 8
MAX_STEPS = 1000  # the steps control's maximum until a model says its own (`sampling.max_steps`: 1000 here)


@dataclasses.dataclass(frozen=True)
class Shared:
    """The controls above the tabs, whose values every job's `DrawSettings` is made of (`page_settings`)."""

    model: gr.Dropdown
    info: gr.Markdown
    genre: gr.Dropdown
    guidance: gr.Slider
    scheduler: gr.Dropdown
    steps: gr.Number
    seed: gr.Number
    n_iter: gr.Slider
    guide: gr.Slider

    @property
    def inputs(self) -> list:
        """What the job handlers take first, in this order (the order of the HTTP API's data too): model, genre,
        guidance, steps, sampler, seed, decoder iterations, the scale of the guide (autoguidance by the base)."""
        return [self.model, self.genre, self.guidance, self.steps, self.scheduler, self.seed, self.n_iter, self.guide]


def shared_controls(studio: Studio) -> Shared:
    """The model and the controls every job uses: genre, guidance, sampler, steps, seed (with a dice), decoder, and
    the scale of the guide (for a fine-tune: its base; set to what its folder recommends when the model is chosen)."""
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
        guide = gr.Slider(
            0, 3, value=1, step=0.05, label="Guided by the base", info="autoguidance, 1 = off; for a fine-tune",
            interactive=False, elem_id="guide", scale=2,
        )  # fmt: skip
    with gr.Accordion("Samplers", open=False):
        lines = [f"- `{name}`: {sampler.description}" for name, sampler in SCHEDULERS.items()]
        gr.Markdown("\n".join([*lines, "- `saved`: the pipeline folder's own scheduler"]))
    dice.click(lambda: sampling.random_seed(), None, seed, queue=False)
    return Shared(model, info, genre, guidance, scheduler, steps, seed, n_iter, guide)


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


def clip_picker(name: str, audio_types: list[str], preview: bool = True, label: str = "Clip"):
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


def chosen_clip(upload: str | None, pick: str | None, history: list[Record], what: str = "a clip") -> str:
    """The file of the chosen clip: an upload, or a clip of this session picked by its title."""
    if upload:
        return upload
    for record in history or []:
        if record.title == pick:
            return record.wav
    raise ValueError(f"upload {what} or pick one made in this session")


class Results:
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
        play_on_select(self.gallery, self.records, self.picture, self.player, self.command)

    @property
    def outputs(self) -> list:
        return [self.gallery, self.picture, self.player, self.files, self.command, self.records]


def play_on_select(gallery: gr.Gallery, records: gr.State, picture: gr.Image, player: gr.Audio, command) -> None:
    """A clip clicked in `gallery` (one per record of `records`): its picture, its WAV and the command that made it."""
    gallery.select(_selected, records, [picture, player, command], queue=False)


def _selected(records: list[Record], event: gr.SelectData):  # its name is its Gradio API name: kept
    record = records[event.index]
    return record.picture, record.wav, record.command


def gallery_items(records: list[Record]) -> list[tuple[str, str]]:
    """A gallery's value: each record's picture and title."""
    return [(record.picture, record.title) for record in records]


def shown_result(result: Result, records: list[Record]) -> list:
    """A job's result -> its tab's outputs (`Results.outputs`) and the session's history with its clips added."""
    made = result.records + ([result.morph] if result.morph else [])
    return [
        gallery_items(result.records),
        result.records[0].picture,
        result.records[0].wav,
        [record.wav for record in made],
        result.command,
        result.records,
        [*records, *made],
    ]
