"""The model card of a pipeline folder (`model_card`) or of a vocoder folder, and `write_model_card`, which also
draws what the card links to: the run's last previews in `examples.png` (their audio in `examples/`) and the loss
plot `loss.png`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audiodiff.cards.records import (
    CardError,
    dataset_facts,
    find_report,
    folder_kind,
    latest_previews,
    parameter_count,
    read_json,
)
from audiodiff.cards.sections import (
    CARD_NAME,
    TAGS,
    data_section,
    front_matter,
    keeps_user_card,
    licence_section,
    mel_section,
    table,
    with_checksum,
)
from audiodiff.utils import first_line, is_hub_id

EXAMPLES_NAME = "examples.png"
EXAMPLES_DIR = "examples"
LOSS_PLOT_NAME = "loss.png"


def _model_name(source: str | None) -> str | None:
    """A pretrained model as the card names it: a hub id or shipped name as is, a local folder by its name only
    (a card is published: the machine's paths stay out of it)."""
    if not source:
        return None
    return Path(source).name if Path(source).exists() else source


def _warmup(config: dict[str, Any]) -> str:
    """The run's learning-rate warm-up as it was set: a share of the run (`warmup_fraction`) or a step count."""
    if config.get("warmup_fraction") is not None:
        return f"warm-up {100 * config['warmup_fraction']:g}% of the steps"
    return f"{config.get('lr_warmup_steps')} warm-up steps"


# The training record's "precision" (what --mixed-precision, or "auto", came to) as the card's recipe says it.
PRECISIONS = {"no": "fp32", "bf16": "bf16 autocast, fp32 weights", "fp16": "fp16 autocast, fp32 weights"}


def _recipe_rows(training: dict[str, Any], scheduler: dict[str, Any], parameters: int | None) -> list[tuple]:
    config = training.get("config") or {}
    # A fine-tune or student keeps its pretrained model's network: the preset's `model` did not apply.
    from_scratch = not training.get("pretrained")
    per_step = (config.get("batch_size") or 0) * (config.get("gradient_accumulation_steps") or 1)
    steps = training.get("steps")
    rows: list[tuple[str, Any]] = [
        ("preset", f"`{training.get('preset')}`" if training.get("preset") else None),
        ("model", f"`{config.get('model')}`" if config.get("model") and from_scratch else None),
        ("parameters", f"{parameters / 1e6:.2f} M" if parameters else None),
        ("optimizer steps", steps),
        ("images per step (per process)", per_step or None),
        ("images seen (per process)", steps * per_step if steps and per_step else None),
        ("learning rate", f"{config.get('learning_rate')} ({config.get('lr_scheduler')}, {_warmup(config)})"
                          if config.get("learning_rate") else None),
        ("LoRA", f"rank {config['lora_rank']}, alpha {config.get('lora_alpha') or config['lora_rank']}: the base "
                 "frozen, the merged weights in `unet/`, the adapter alone in `lora/`"
                 if config.get("lora_rank") else None),
        ("prediction", scheduler.get("prediction_type")),
        ("noise schedule", f"{scheduler.get('_class_name')}, {scheduler.get('num_train_timesteps')} steps, "
                           f"{scheduler.get('beta_schedule')} betas" if scheduler else None),
        ("EMA", f"decay up to {config.get('ema_max_decay')}" if config.get("use_ema") else None),
        ("Min-SNR gamma", config.get("snr_gamma")),
        ("offset noise", config.get("noise_offset") or None),
        ("genre dropout (guidance)", config.get("guidance_dropout") if config.get("conditional") else None),
        ("precision", PRECISIONS.get(training.get("precision"))),
        ("final loss", f"{training['final_loss']:.4f}" if isinstance(training.get("final_loss"), float) else None),
    ]  # fmt: skip
    return [(name, value) for name, value in rows if value is not None]


def _quality_section(report_path: Path | None, folder: Path) -> list[str]:
    lines = ["## Measured quality", ""]
    if report_path is None:
        return [*lines, "Not measured yet. Measure it against real music of the same genre, then refresh this card:",
                "", "```", f"audiodiff evaluate --generated {folder.name} --reference REAL_MUSIC --genre GENRE "
                f"--out {folder.name}/evaluation",
                f"audiodiff share {folder.name}", "```", ""]  # fmt: skip
    from audiodiff.evaluation.report import summary_lines

    report = read_json(report_path)
    try:
        summary = summary_lines(report)
    except (KeyError, TypeError, AttributeError) as error:
        raise CardError(f"{report_path}: not an audiodiff evaluate report (no {first_line(error)})") from None
    try:
        shown = report_path.resolve().relative_to(folder.resolve())
    except ValueError:
        shown = Path("..") / report_path.resolve().relative_to(folder.resolve().parent)
    generated, reference = report.get("generated", {}), report.get("reference", {})
    genre = f", genre `{report['target_genre']}`" if report.get("target_genre") else ""
    # The report's first two lines name local paths (the machine's folders): the card names the reference only.
    return [
        *lines,
        f"`audiodiff evaluate` ({shown}): {generated.get('clips')} generated clips of {generated.get('seconds')} s "
        f"against {reference.get('clips')} clips of `{Path(str(reference.get('source'))).name}`{genre}. Frechet "
        "ratios compare the model's distance to the reference with the reference's distance to itself (about 1 is "
        "as close as real music gets); precision is fidelity, recall is variety.",
        "",
        "```",
        *[line for line in summary if not line.startswith(("generated: ", "reference: "))],
        "```",
        "",
    ]


def _examples_section(folder: Path, examples: list[str], step: int | None) -> list[str]:
    if not examples:
        return []
    lines = ["## Example spectrograms", ""]
    if (folder / EXAMPLES_NAME).is_file():
        lines += [f"![the model's preview clips at step {step}]({EXAMPLES_NAME})", ""]
    lines.append(f"Preview clips drawn at the end of training (step {step}), low frequencies at the bottom; hear them "
                 "in " + ", ".join(f"[`{name}`]({EXAMPLES_DIR}/{name})" for name in examples) + ".")  # fmt: skip
    if (folder / LOSS_PLOT_NAME).is_file():
        lines += ["", f"Training loss: ![training loss]({LOSS_PLOT_NAME})"]
    return [*lines, ""]


def _copy_examples(folder: Path) -> tuple[int | None, list[str]]:
    """Copy the newest preview clips' audio into `examples/` and draw their spectrograms into `examples.png` (a
    pipeline's), so that the card can show them and the upload carries them; (step, audio file names)."""
    previews = latest_previews(folder)
    if previews is None:
        return None, []
    step, files = previews
    target = folder / EXAMPLES_DIR
    target.mkdir(exist_ok=True)
    for path in files:
        shutil.copyfile(path, target / path.name)
    images = [path for path in files if path.suffix == ".png"]
    if images:
        from audiodiff.figures import preview_sheet

        # The previews' genres, as training drew them: a fine-tune's genre, else each genre in turn.
        metadata = read_json(folder / "audiodiff.json") or {}
        genres, tuned = metadata.get("genres"), (metadata.get("training") or {}).get("genre")
        captions = []
        for path in images:
            number = path.stem.rsplit("_", 1)[-1]  # sample_K was drawn with genre K mod the genre count
            genre = (tuned or genres[int(number) % len(genres)]) if genres and number.isdigit() else None
            captions.append(path.stem.replace("_", " ") + (f": {genre}" if genre else ""))
        preview_sheet(images, captions).save(folder / EXAMPLES_NAME)
    return step, [path.name for path in files if path.suffix == ".wav"]


def _loss_plot(folder: Path) -> None:
    losses = read_json(folder / "losses.json")
    if isinstance(losses, list) and len(losses) > 1:
        from audiodiff.figures import write_loss_plot

        write_loss_plot(losses, folder / LOSS_PLOT_NAME, "training loss")


def _usage(
    name: str, genres: list[str] | None, kind: str, tuned: str | None = None, guide: dict | None = None
) -> list[str]:
    """The card's "How to use it": commands and Python for the model, asking for its fine-tuned genre `tuned` (else
    its first genre) and saying how it samples when its folder recommends a `guide`."""
    if kind == "vocoder":
        return ["## How to use it", "", "Decode spectrograms with it in any command that takes `--vocoder` (a local "
                f"folder: download it first, e.g. `hf download {name} --local-dir VOCODER`):", "", "```",
                "audiodiff generate MODEL --vocoder VOCODER --seconds 6 --out clips",
                "audiodiff decode IMAGES --vocoder VOCODER --out audio", "```", ""]  # fmt: skip
    example = tuned if genres and tuned in genres else (genres[0] if genres else None)  # a fine-tune's own genre
    genre = f" --genre {example}" if example else ""
    guided = []
    if guide:
        by = "its base" if guide.get("model") == "base" else f"`{guide.get('model')}`"
        guided = [f"It samples guided by {by} at {guide.get('scale'):g} (autoguidance, the folder's recommendation: "
                  "more of the fine-tune, less of the base, at twice the sampling time); `--guide none` samples it "
                  "alone.", ""]  # fmt: skip
    return [
        "## How to use it",
        "",
        *guided,
        "With audiodiff installed:",
        "",
        "```",
        f"audiodiff generate {name}{genre} --seconds 6 --out clips",
        f"audiodiff finetune {name} --data MY_DATASET --genre MY_GENRE --out my_model",
        "```",
        "```python",
        "from audiodiff.pipeline import AudioDiffusionPipeline",
        "",
        "# scheduler='auto': the sampler the folder recommends (the saved one is the 1000-step training scheduler)",
        f'pipeline = AudioDiffusionPipeline.from_pretrained("{name}", scheduler="auto")',
        *(
            ['pipeline.set_guide("auto")  # guided as the folder recommends, as `audiodiff generate` samples']
            if guide
            else []
        ),  # fmt: skip
        f"output = pipeline(batch_size=1{', genre=' + repr(example) if example else ''}, seconds=6)",
        "output.audios[0]  # (samples,) at output.sample_rate",
        "```",
        "",
        "The folder keeps the reference layout (model_index.json, unet/, scheduler/, mel/), so diffusers' own "
        "(deprecated) `AudioDiffusionPipeline` loads it too; audiodiff's extras are in `audiodiff.json`.",
        "",
    ]


def model_card(folder: str | os.PathLike, repo_id: str | None = None, report: str | os.PathLike | None = None) -> str:
    """The model card (`README.md` text) of a pipeline folder or a vocoder folder, from the records in it.

    `repo_id`: the hub repository it is (or will be) pushed to, used in its "how to use" lines (default: the
    folder's name). `report`: an `audiodiff evaluate` report.json (default: `find_report(folder)`). Reads only;
    `write_model_card` also draws the example spectrograms and the loss plot the card links to.
    Raises `CardError` (one line) for a folder that is neither, or unreadable records."""
    folder = Path(folder)
    kind = folder_kind(folder)
    name = repo_id or folder.name
    if kind == "vocoder":
        return _vocoder_card(folder, name)
    if kind != "pipeline":
        raise CardError(f"{folder}: a dataset folder; its card is `dataset_card`")
    metadata = read_json(folder / "audiodiff.json") or {}
    mel = read_json(folder / "mel" / "mel_config.json")
    if not isinstance(mel, dict):
        raise CardError(f"{folder}: no mel/mel_config.json, so the card cannot state the model's settings")
    scheduler = read_json(folder / "scheduler" / "scheduler_config.json") or {}
    training = metadata.get("training") or {}
    distillation = metadata.get("distillation")
    genres = metadata.get("genres")
    bits = int(metadata.get("bits", 8))
    pretrained = _model_name(training.get("pretrained"))
    from_hub = pretrained is not None and pretrained == training.get("pretrained") and is_hub_id(pretrained)
    facts = dataset_facts(training.get("data"), training.get("genre"))
    licence = facts.get("license")
    report_path = Path(report) if report is not None else find_report(folder)
    previews = latest_previews(folder)
    examples = [path.name for path in previews[1] if path.suffix == ".wav"] if previews else []
    if distillation:
        what = (f"a few-step student ({distillation.get('method')} distillation) of `{pretrained}`, sampling in "
                f"{distillation.get('steps')} steps with its own scheduler")  # fmt: skip
    elif pretrained:
        what = f"a fine-tune of `{pretrained}`"
    else:
        what = "a model trained from scratch"

    front = front_matter(
        {
            "license": licence or "unknown",
            "library_name": "diffusers",
            "tags": list(TAGS) + (["genre-conditioned"] if genres else []),
            "base_model": pretrained if from_hub else None,
            "datasets": [facts["where"]] if facts.get("hub") else [],
        }
    )
    body = [
        f"# {name}",
        "",
        f"A mel-spectrogram diffusion model made with audiodiff: {what}. "
        f"It draws {mel['y_res']}x{mel['x_res']} spectrogram images of music ({mel['sample_rate']} Hz) and turns "
        "them into audio (Griffin-Lim, or a trained vocoder); longer clips are drawn as overlapping windows.",
        "",
        "## Genres",
        "",
        (
            "Conditioned on " + ", ".join(f"`{genre}`" for genre in genres) + " (pick one with `--genre`; none gives "
            "the unconditional mix)."
            if genres
            else "Unconditional (no genre labels)."
        )  # fmt: skip
        + (f" Fine-tuned on `{training['genre']}`." if training.get("genre") and pretrained else ""),
        "",
        *mel_section(mel, bits),
        *data_section(facts, training.get("genre")),
        "## Training recipe",
        "",
        f"audiodiff `{'distill' if distillation else 'finetune' if pretrained else 'train'}`"
        + (f" from `{pretrained}`" if pretrained else "")
        + ". The record of the run is `training` in `audiodiff.json`.",
        "",
        *table(_recipe_rows(training, scheduler, parameter_count(folder))),
        "",
    ]
    if distillation:
        body += ["Distillation:", "", *table([(key, value) for key, value in distillation.items()
                                                if value is not None and key != "teacher"]), ""]  # fmt: skip
    body += [
        *_quality_section(report_path, folder),
        *_examples_section(folder, examples, previews[0] if previews else None),
        *licence_section(licence, "model", pretrained),
        *_usage(name, genres, kind, training.get("genre"), metadata.get("guide")),
    ]
    return with_checksum(front, "\n".join(body))


def _vocoder_card(folder: Path, name: str) -> str:
    config = read_json(folder / "config.json") or {}
    mel = config.get("mel_config") or {}
    training = config.get("training") or {}
    data = training.get("data")
    licence = None
    if isinstance(data, list) and len(data) == 1:
        licence = dataset_facts(data[0], None).get("license")
    front = front_matter({"license": licence or "unknown", "tags": [*TAGS, "vocoder"]})
    previews = latest_previews(folder)
    examples = [path.name for path in previews[1] if path.suffix == ".wav"] if previews else []
    rows = [
        ("preset", training.get("preset")),
        ("steps", training.get("steps")),
        ("training slices", training.get("slices")),
        ("tracks", training.get("tracks")),
        ("final loss", f"{training['final_loss']:.4f}" if isinstance(training.get("final_loss"), float) else None),
        ("data", ", ".join(f"`{Path(str(item)).name}`" for item in data) if isinstance(data, list) else None),
    ]
    body = [
        f"# {name}",
        "",
        "A neural vocoder made with audiodiff (`audiodiff train-vocoder`): "
        "a Vocos network (ConvNeXt at the frame rate, inverse-STFT head) that turns spectrogram images into audio, "
        "trained on the music below at the mel settings of the model it serves.",
        "",
        *(mel_section(mel, int(config.get("bits", 8)), "vocoder") if mel else []),
        "## Training",
        "",
        *table([(key, value) for key, value in rows if value is not None]),
        "",
    ]
    if examples:
        body += ["Preview at the end of training: " + ", ".join(f"[`{item}`]({EXAMPLES_DIR}/{item})"
                                                               for item in examples) + ".", ""]  # fmt: skip
    body += [*licence_section(licence, "vocoder"), *_usage(name, None, "vocoder")]
    return with_checksum(front, "\n".join(body))


def write_model_card(
    folder: str | os.PathLike,
    overwrite: bool = False,
    *,
    repo_id: str | None = None,
    report: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write `folder/README.md`, the model card of a pipeline or vocoder folder (`model_card`), with the example
    spectrograms (`examples.png`, `examples/`) and loss plot (`loss.png`) it links to. Returns the card's path.

    A `README.md` that audiodiff did not write (or that was edited since) is kept unless `overwrite`: `log` gets
    one line saying so, and the path is returned unchanged."""
    from audiodiff.utils import atomic_file

    folder = Path(folder)
    path = folder / CARD_NAME
    if keeps_user_card(path, overwrite, log, "--overwrite-card replaces it with a generated card"):
        return path
    kind = folder_kind(folder)
    _copy_examples(folder)
    if kind == "pipeline":
        _loss_plot(folder)
    text = model_card(folder, repo_id=repo_id, report=report)
    with atomic_file(path) as temporary:
        temporary.write_text(text)
    return path
