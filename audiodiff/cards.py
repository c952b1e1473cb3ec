"""Model and dataset cards: the `README.md` that says what a pipeline, vocoder or dataset folder is, written from
the records audiodiff keeps in it.

A model card follows the Hugging Face convention (YAML front matter, then Markdown) and the fields of the reference's
cards (teticio/audio-diffusion-256: licence, tags, datasets): what the model is, its genres, its mel settings, the
data it was trained on (from the dataset's `audiodiff_dataset.json` summary, or its rows), the recipe and its
length, the measured quality (an `audiodiff evaluate` report in or next to the folder), example spectrograms (the
run's last preview clips drawn into `examples.png`, their audio in `examples/`), the licence and how to use it.

The records it reads: `audiodiff.json` (genres, bits, the `training` record: run.json's data, pretrained, genre,
preset and config, plus steps and final loss; a student's `distillation` record), `mel/mel_config.json`,
`scheduler/scheduler_config.json`, the UNet's safetensors header (parameters), `losses.json`, `samples/step_N/`.
A vocoder folder's `config.json` holds its own `training` record.

A card carries a checksum of its own text (`<!-- audiodiff card sha256:... -->`): a card audiodiff wrote and nobody
edited is rewritten with newer facts (an evaluation, the repository it was pushed to); any other `README.md` (the
user's own, or an edited card) is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audiodiff.utils import first_line, is_hub_id, is_saved_dataset

CARD_NAME = "README.md"
EXAMPLES_NAME = "examples.png"
EXAMPLES_DIR = "examples"
LOSS_PLOT_NAME = "loss.png"
REPORT_NAME = "report.json"
TAGS = ("audio", "diffusion", "audiodiff", "mel-spectrogram")
# Said plainly where no licence was recorded: the user must fill it in before sharing.
LICENCE_PLACEHOLDER = (
    "**State your data's licence here.** audiodiff does not know the licence of the music this {kind} was made "
    "from. A {kind} made from music carries that music's terms: only share it if the licence of every track allows "
    "it (for example CC-BY or CC-BY-SA, whose attribution goes here), then set `license:` at the top of this file "
    "(a hub licence id such as `cc-by-sa-4.0`)."
)
_CHECKSUM = re.compile(r"^<!-- audiodiff card sha256:([0-9a-f]{64}) -->$", flags=re.MULTILINE)


class CardError(ValueError):
    """A folder that is no pipeline, vocoder or dataset folder, or whose records are unreadable (one line)."""


# --- reading a folder's records -------------------------------------------------------------------------------------
def _read_json(path: Path) -> Any:
    """A JSON file's content, None when it is absent; `CardError` naming the file when it is not JSON."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CardError(f"{path}: unreadable ({first_line(error)})") from None


def folder_kind(folder: str | os.PathLike) -> str:
    """ "pipeline", "vocoder" or "dataset": what a folder audiodiff wrote holds; `CardError` for anything else."""
    folder = Path(folder)
    if (folder / "model_index.json").is_file():
        return "pipeline"
    config = _read_json(folder / "config.json")
    if isinstance(config, dict) and config.get("_class_name") == "VocosVocoder":
        return "vocoder"
    if is_saved_dataset(folder):
        return "dataset"
    raise CardError(f"{folder}: not a pipeline, vocoder or dataset folder (no model_index.json, vocoder config.json "
                    "or saved dataset)")  # fmt: skip


def find_report(folder: str | os.PathLike) -> Path | None:
    """The newest `audiodiff evaluate` report of the model in `folder`: a `report.json` in the folder or one level
    down (e.g. `MODEL/evaluation/`), or in a folder beside it (e.g. `runs/evaluation/`) whose generated clips came
    from this folder. None when there is none."""
    folder = Path(folder).resolve()
    inside = [folder / REPORT_NAME, *folder.glob(f"*/{REPORT_NAME}")]
    candidates = [path for path in inside if path.is_file() and path.parent.name not in ("checkpoints", "samples")]
    for path in folder.parent.glob(f"*/{REPORT_NAME}"):
        if path.parent == folder or not path.is_file():
            continue
        try:
            source = json.loads(path.read_text())["generated"]["source"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(source, str) and Path(source).resolve() == folder:
            candidates.append(path)
    return max(candidates, key=lambda path: path.stat().st_mtime) if candidates else None


def _dataset_facts(source: str | None, genre: str | None) -> dict[str, Any]:
    """What the training data was: the prepared dataset's recorded summary (tracks, slices, hours, per genre), or
    its rows counted when it has none; `{"where": ...}` alone when the data is not on this machine."""
    facts: dict[str, Any] = {"where": source}
    if not source:
        return facts
    path = Path(source)
    if not path.is_dir():
        facts["hub"] = is_hub_id(source)
        return facts
    from audiodiff.data.dataset import DATASET_METADATA_NAME

    metadata = _read_json(path / DATASET_METADATA_NAME)
    if isinstance(metadata, dict) and isinstance(metadata.get("summary"), dict):
        summary = metadata["summary"]
        facts.update(
            tracks=summary.get("files_found", 0) - len(summary.get("skipped", [])),
            slices=summary.get("slices_written"),
            hours=(summary.get("seconds_in_dataset") or 0) / 3600,
            genres=summary.get("genres") or {},
            license=metadata.get("license"),
        )
        return facts
    try:  # a reference-format or other saved dataset: count its rows (memory-mapped, cheap)
        from audiodiff.data.dataset import open_dataset

        dataset, _ = open_dataset(source, "train")
        table = dataset.with_format("arrow")
        facts["slices"] = len(dataset)
        if "audio_file" in dataset.column_names:
            facts["tracks"] = len(set(table["audio_file"].to_pylist()))
    except Exception as error:  # the card is a description: an unreadable dataset is said, not fatal
        facts["unreadable"] = first_line(error)
    return facts


def _parameters(folder: Path) -> int | None:
    """The UNet's parameter count, from its safetensors header (no tensor read); None for `.bin` weights."""
    from audiodiff.weights import weight_shapes

    path = folder / "unet" / "diffusion_pytorch_model.safetensors"
    if not path.is_file():
        return None
    count = 0
    for shape in weight_shapes(path).values():
        size = 1
        for length in shape:
            size *= length
        count += size
    return count


def _natural(path: Path) -> tuple:
    """Sort key: sample_2 before sample_10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name))


def _latest_previews(folder: Path) -> tuple[int, list[Path]] | None:
    """(step, files) of the run's newest preview folder `samples/step_N/`, or None."""
    steps = sorted((folder / "samples").glob("step_*"), key=lambda path: path.name)
    for step_folder in reversed(steps):
        files = sorted(step_folder.glob("*.png"), key=_natural) + sorted(step_folder.glob("*.wav"), key=_natural)
        if files:
            return int(step_folder.name.removeprefix("step_")), files
    return None


# --- writing -------------------------------------------------------------------------------------------------------
def _model_name(source: str | None) -> str | None:
    """A pretrained model as the card names it: a hub id or shipped name as is, a local folder by its name only
    (a card is published: the machine's paths stay out of it)."""
    if not source:
        return None
    return Path(source).name if Path(source).exists() else source


def _yaml_scalar(value: Any) -> str:
    """A YAML scalar: plain when it is a simple name (licence ids, tags, repo ids), else JSON-quoted (valid YAML)."""
    text = str(value)
    return text if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", text) else json.dumps(text)


def _front_matter(fields: dict[str, Any]) -> str:
    """YAML front matter (the hub reads it for licence, tags, base model and datasets)."""
    lines = ["---"]
    for key, value in fields.items():
        if value is None or value == []:
            continue
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"- {_yaml_scalar(item)}" for item in value)
        else:
            lines.append(f"{key}: {_yaml_scalar(value)}")
    lines.append("---")
    return "\n".join(lines)


def _with_checksum(front: str, body: str) -> str:
    """The card: front matter, the checksum line of the rest, the rest."""
    digest = hashlib.sha256((front + "\n" + body).encode()).hexdigest()
    return f"{front}\n<!-- audiodiff card sha256:{digest} -->\n{body}"


def written_by_audiodiff(path: str | os.PathLike) -> bool:
    """Whether the file at `path` is a card audiodiff wrote that nobody has edited since (its checksum holds)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return False
    match = _CHECKSUM.search(text)
    if match is None:
        return False
    rest = text[: match.start()] + text[match.end() + 1 :]
    return hashlib.sha256(rest.encode()).hexdigest() == match.group(1)


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    return ["| setting | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]


def _mel_section(mel: dict[str, Any], bits: int, kind: str = "model") -> list[str]:
    slice_seconds = (mel["x_res"] * mel["hop_length"] - 1) / mel["sample_rate"]
    rule = (
        "A model trained on it, and data added to it, use the same settings (`--mel-config` of `prepare`)."
        if kind == "dataset"
        else f"Data prepared for this {kind} must use the same settings "
        "(`audiodiff prepare MUSIC --out DATA --mel-config THIS_FOLDER`)."
    )
    return [
        "## Mel settings",
        "",
        f"Images of {mel['y_res']} mel bands x {mel['x_res']} frames, {bits}-bit; one image is {slice_seconds:.2f} s "
        f"of audio. {rule}",
        "",
        *_table(
            [
                (key, mel[key])
                for key in ("x_res", "y_res", "sample_rate", "n_fft", "hop_length", "top_db", "n_iter")
                if key in mel
            ]
        ),  # fmt: skip
        "",
    ]


def _data_section(facts: dict[str, Any], genre: str | None) -> list[str]:
    lines = ["## Training data", ""]
    where = facts.get("where")
    if where is None:
        return [*lines, "Not recorded.", ""]
    if "slices" in facts:
        size = f"{facts['slices']} slices"
        if facts.get("tracks") is not None:
            size += f" of {facts['tracks']} tracks"
        if facts.get("hours"):
            hours = facts["hours"]
            size += f" ({hours:.2f} h of audio)" if hours >= 1 else f" ({hours * 60:.1f} min of audio)"
        lines.append(f"The dataset `{Path(where).name}` (prepared by audiodiff): {size}.")
        genres = facts.get("genres") or {}
        if genres:
            lines += ["", "| genre | tracks | slices |", "|---|---|---|"]
            lines += [f"| {name} | {counts.get('files')} | {counts.get('slices')} |"
                      for name, counts in sorted(genres.items())]  # fmt: skip
    elif facts.get("hub"):
        lines.append(f"The Hugging Face dataset [`{where}`](https://huggingface.co/datasets/{where}).")
    else:
        reason = facts.get("unreadable") or "not on the machine that wrote this card"
        lines.append(f"The dataset `{Path(where).name}` ({reason}; its size is not recorded here).")
    if genre:
        lines += ["", f"Trained on the genre `{genre}` of it only."]
    return [*lines, ""]


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
        ("learning rate", f"{config.get('learning_rate')} ({config.get('lr_scheduler')}, "
                          f"{config.get('lr_warmup_steps')} warm-up steps)" if config.get("learning_rate") else None),
        ("prediction", scheduler.get("prediction_type")),
        ("noise schedule", f"{scheduler.get('_class_name')}, {scheduler.get('num_train_timesteps')} steps, "
                           f"{scheduler.get('beta_schedule')} betas" if scheduler else None),
        ("EMA", f"decay up to {config.get('ema_max_decay')}" if config.get("use_ema") else None),
        ("Min-SNR gamma", config.get("snr_gamma")),
        ("offset noise", config.get("noise_offset") or None),
        ("genre dropout (guidance)", config.get("guidance_dropout") if config.get("conditional") else None),
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

    report = _read_json(report_path)
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


def _licence_section(licence: str | None, kind: str = "model", derived_from: str | None = None) -> list[str]:
    base = ""
    if derived_from:
        base = f" It is derived from `{derived_from}`, whose licence applies as well (read its card)."
        if derived_from == "audiodiff-base-64":
            base += " The shipped base's weights are CC-BY-SA-3.0: a model derived from them keeps that licence."
    if licence:
        return ["## Licence", "", f"`{licence}`, the licence recorded with the data. The audiodiff code is "
                f"Apache-2.0; this {kind} is a separate work under its own licence.{base}", ""]  # fmt: skip
    return ["## Licence", "", LICENCE_PLACEHOLDER.format(kind=kind) + base, ""]


def _copy_examples(folder: Path) -> tuple[int | None, list[str]]:
    """Copy the newest preview clips' audio into `examples/` and draw their spectrograms into `examples.png` (a
    pipeline's), so that the card can show them and the upload carries them; (step, audio file names)."""
    previews = _latest_previews(folder)
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
        metadata = _read_json(folder / "audiodiff.json") or {}
        genres, tuned = metadata.get("genres"), (metadata.get("training") or {}).get("genre")
        captions = []
        for path in images:
            number = path.stem.rsplit("_", 1)[-1]  # sample_K was drawn with genre K mod the genre count
            genre = (tuned or genres[int(number) % len(genres)]) if genres and number.isdigit() else None
            captions.append(path.stem.replace("_", " ") + (f": {genre}" if genre else ""))
        preview_sheet(images, captions).save(folder / EXAMPLES_NAME)
    return step, [path.name for path in files if path.suffix == ".wav"]


def _loss_plot(folder: Path) -> None:
    losses = _read_json(folder / "losses.json")
    if isinstance(losses, list) and len(losses) > 1:
        from audiodiff.figures import write_loss_plot

        write_loss_plot(losses, folder / LOSS_PLOT_NAME, "training loss")


def _usage(name: str, genres: list[str] | None, kind: str) -> list[str]:
    if kind == "vocoder":
        return ["## How to use it", "", "Decode spectrograms with it in any command that takes `--vocoder` (a local "
                f"folder: download it first, e.g. `hf download {name} --local-dir VOCODER`):", "", "```",
                "audiodiff generate MODEL --vocoder VOCODER --seconds 6 --out clips",
                "audiodiff decode IMAGES --vocoder VOCODER --out audio", "```", ""]  # fmt: skip
    genre = f" --genre {genres[0]}" if genres else ""
    return [
        "## How to use it",
        "",
        "With audiodiff installed:",
        "",
        "```",
        f"audiodiff generate {name}{genre} --seconds 6 --out clips",
        f"audiodiff finetune {name} --data MY_DATASET --genre MY_GENRE --out my_model",
        "```",
        "```python",
        "from audiodiff.pipeline import AudioDiffusionPipeline",
        "",
        f'pipeline = AudioDiffusionPipeline.from_pretrained("{name}")',
        f"output = pipeline(batch_size=1{', genre=' + repr(genres[0]) if genres else ''})",
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
    metadata = _read_json(folder / "audiodiff.json") or {}
    mel = _read_json(folder / "mel" / "mel_config.json")
    if not isinstance(mel, dict):
        raise CardError(f"{folder}: no mel/mel_config.json, so the card cannot state the model's settings")
    scheduler = _read_json(folder / "scheduler" / "scheduler_config.json") or {}
    training = metadata.get("training") or {}
    distillation = metadata.get("distillation")
    genres = metadata.get("genres")
    bits = int(metadata.get("bits", 8))
    pretrained = _model_name(training.get("pretrained"))
    from_hub = pretrained is not None and pretrained == training.get("pretrained") and is_hub_id(pretrained)
    facts = _dataset_facts(training.get("data"), training.get("genre"))
    licence = facts.get("license")
    report_path = Path(report) if report is not None else find_report(folder)
    previews = _latest_previews(folder)
    examples = [path.name for path in previews[1] if path.suffix == ".wav"] if previews else []
    if distillation:
        what = (f"a few-step student ({distillation.get('method')} distillation) of `{pretrained}`, sampling in "
                f"{distillation.get('steps')} steps with its own scheduler")  # fmt: skip
    elif pretrained:
        what = f"a fine-tune of `{pretrained}`"
    else:
        what = "a model trained from scratch"

    front = _front_matter(
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
        *_mel_section(mel, bits),
        *_data_section(facts, training.get("genre")),
        "## Training recipe",
        "",
        f"audiodiff `{'distill' if distillation else 'finetune' if pretrained else 'train'}`"
        + (f" from `{pretrained}`" if pretrained else "")
        + ". The record of the run is `training` in `audiodiff.json`.",
        "",
        *_table(_recipe_rows(training, scheduler, _parameters(folder))),
        "",
    ]
    if distillation:
        body += ["Distillation:", "", *_table([(key, value) for key, value in distillation.items()
                                                if value is not None and key != "teacher"]), ""]  # fmt: skip
    body += [
        *_quality_section(report_path, folder),
        *_examples_section(folder, examples, previews[0] if previews else None),
        *_licence_section(licence, "model", pretrained),
        *_usage(name, genres, kind),
    ]
    return _with_checksum(front, "\n".join(body))


def _vocoder_card(folder: Path, name: str) -> str:
    config = _read_json(folder / "config.json") or {}
    mel = config.get("mel_config") or {}
    training = config.get("training") or {}
    data = training.get("data")
    licence = None
    if isinstance(data, list) and len(data) == 1:
        licence = _dataset_facts(data[0], None).get("license")
    front = _front_matter({"license": licence or "unknown", "tags": [*TAGS, "vocoder"]})
    previews = _latest_previews(folder)
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
        *(_mel_section(mel, int(config.get("bits", 8)), "vocoder") if mel else []),
        "## Training",
        "",
        *_table([(key, value) for key, value in rows if value is not None]),
        "",
    ]
    if examples:
        body += ["Preview at the end of training: " + ", ".join(f"[`{item}`]({EXAMPLES_DIR}/{item})"
                                                               for item in examples) + ".", ""]  # fmt: skip
    body += [*_licence_section(licence, "vocoder"), *_usage(name, None, "vocoder")]
    return _with_checksum(front, "\n".join(body))


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
    if path.exists() and not overwrite and not written_by_audiodiff(path):
        if log is not None:
            log(f"kept your {path} (not written by audiodiff); --overwrite-card replaces it with a generated card")
        return path
    kind = folder_kind(folder)
    _copy_examples(folder)
    if kind == "pipeline":
        _loss_plot(folder)
    text = model_card(folder, repo_id=repo_id, report=report)
    with atomic_file(path) as temporary:
        temporary.write_text(text)
    return path


# --- datasets -------------------------------------------------------------------------------------------------------
def _arrow_files(folder: Path) -> dict[str, str]:
    """Split -> the glob of its Arrow files in a `save_to_disk` folder (a Dataset is one split, `train`)."""
    dict_file = _read_json(folder / "dataset_dict.json")
    if isinstance(dict_file, dict) and isinstance(dict_file.get("splits"), list):
        return {split: f"{split}/data-*.arrow" for split in dict_file["splits"]}
    return {"train": "data-*.arrow"}


def dataset_card(folder: str | os.PathLike, repo_id: str | None = None) -> str:
    """The dataset card of a spectrogram dataset folder (`audiodiff prepare`'s `save_to_disk` folder).

    Its front matter names the Arrow files as the data (`configs`), so that on the hub `datasets.load_dataset(REPO)`
    reads them with their features (Image, ClassLabel) while the folder stays a `save_to_disk` folder:
    `load_from_disk` of a download, and audiodiff's `load_spectrogram_dataset(REPO)` (which also reads
    `mel_config.json` and `audiodiff_dataset.json` from the repository), both work."""
    from audiodiff.data.dataset import DATASET_METADATA_NAME

    folder = Path(folder)
    if folder_kind(folder) != "dataset":
        raise CardError(f"{folder}: not a dataset folder (no state.json or dataset_dict.json)")
    name = repo_id or folder.name
    metadata = _read_json(folder / DATASET_METADATA_NAME) or {}
    mel = _read_json(folder / "mel_config.json")
    facts = _dataset_facts(str(folder), None)
    licence = metadata.get("license")
    lines = ["---", f"license: {licence or 'unknown'}", "tags:", *(f"- {tag}" for tag in TAGS), "configs:",
             "- config_name: default", "  data_files:"]  # fmt: skip
    for split, pattern in _arrow_files(folder).items():
        lines += [f"  - split: {split}", f"    path: {json.dumps(pattern)}"]
    front = "\n".join([*lines, "---"])
    body = [
        f"# {name}",
        "",
        "Mel-spectrogram images of music, one row per slice (columns `image`, `audio_file`, `slice`, and `genre` "
        "when labelled), prepared by audiodiff `prepare` in the "
        "reference format of audio-diffusion, to train or fine-tune a spectrogram diffusion model.",
        "",
        *(_mel_section(mel, int(metadata.get("bits", 8)), "dataset") if isinstance(mel, dict) else []),
        "## Contents",
        *_data_section(facts, None)[1:],
        "## How to use it",
        "",
        "```",
        f"audiodiff train --data {name} --out my_model",
        "```",
        "```python",
        "import datasets",
        "",
        f'rows = datasets.load_dataset("{name}", split="train")',
        "```",
        "",
        *_licence_section(licence, "dataset"),
    ]
    return _with_checksum(front, "\n".join(body) + "\n")


def write_dataset_card(
    folder: str | os.PathLike,
    overwrite: bool = False,
    *,
    repo_id: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write `folder/README.md`, the dataset card (`dataset_card`); a user's README is kept as in
    `write_model_card`."""
    from audiodiff.utils import atomic_file

    folder = Path(folder)
    path = folder / CARD_NAME
    if path.exists() and not overwrite and not written_by_audiodiff(path):
        if log is not None:
            log(f"kept your {path} (not written by audiodiff); it must name the data files for load_dataset")
        return path
    text = dataset_card(folder, repo_id=repo_id)
    with atomic_file(path) as temporary:
        temporary.write_text(text)
    return path


def write_card(folder: str | os.PathLike, overwrite: bool = False, **options: Any) -> Path:
    """The card of any folder audiodiff writes: `write_dataset_card` for a dataset, else `write_model_card`."""
    if folder_kind(folder) == "dataset":
        options.pop("report", None)
        return write_dataset_card(folder, overwrite, **options)
    return write_model_card(folder, overwrite, **options)
