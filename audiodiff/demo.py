"""The main job on the built-in data: synthesize music, prepare it, train, fine-tune on a genre, generate, evaluate.

Every step runs the same `audiodiff` sub-command a user would type (the genre fine-tuning goes through
`audiodiff finetune`, not a shortcut), so the demo is also an end-to-end check of the CLI. The result is a folder with
WAVs, spectrogram PNGs, the evaluation report and an `index.html` that shows and plays everything.
"""

from __future__ import annotations

import html
import json
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

import click

from audiodiff.config import configs_dir
from audiodiff.figures import write_loss_plot
from audiodiff.synth import GENRES, write_collection

DEFAULT_GENRE = "arpeggios"


def run_command(arguments: Sequence[str]) -> None:
    """Run one `audiodiff` sub-command in this process, echoing it; failures raise `click.ClickException`."""
    from audiodiff.cli.main import cli

    click.secho(f"\n$ audiodiff {shlex.join(arguments)}", bold=True)
    try:
        cli.main(list(arguments), prog_name="audiodiff", standalone_mode=False)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise click.ClickException(f"audiodiff {arguments[0]} exited with status {exit_.code}") from None


def run_demo(
    out_dir: str | Path = "demo_output",
    data: str | Path | None = None,
    pretrained: str | None = None,
    genre: str | None = None,
    genre_from: str = "folder",
    mel_config: str | Path | None = None,
    base_config: str = "demo-base",
    finetune_config: str = "demo-finetune",
    base_steps: int | None = None,
    finetune_steps: int | None = None,
    num_clips: int = 4,
    seconds: float = 6.0,
    device: str = "auto",
    seed: int = 0,
) -> Path:
    """Run the whole job and return the path of `index.html`.

    data: a music folder (one sub-folder per genre) or dataset; default: the synthesized collection.
    pretrained: a pipeline folder or hub id to fine-tune; default: train a small base model on all genres first.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def step(name: str, arguments: Sequence[str]) -> None:
        begin = time.perf_counter()
        run_command(arguments)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - begin

    if data is None:
        click.secho("\n== synthesizing the demo collection (3 genres x 4 tracks x 40 s)", bold=True)
        begin = time.perf_counter()
        write_collection(out / "music", tracks_per_genre=4, seconds=40.0, seed=seed)
        timings["synthesize"] = time.perf_counter() - begin
        data = out / "music"
        genre = genre or DEFAULT_GENRE
    mel = str(mel_config or configs_dir() / "mel" / "demo-64.yaml")
    dataset = out / "dataset"
    prepare = ["prepare", str(data), "--out", str(dataset), "--contact-sheet"]
    if genre_from:
        prepare += ["--genre-from", genre_from]
    if pretrained is None:
        prepare += ["--mel-config", mel]
    else:
        prepare += ["--mel-config", _pipeline_mel_config(pretrained, out)]
    step("prepare", prepare)
    genres = json.loads((dataset / "audiodiff_dataset.json").read_text()).get("genres") or []
    genre = genre or (genres[0] if genres else None)
    seed_options = ["--seed", str(seed)]

    base = pretrained
    if pretrained is None:
        base = str(out / "base")
        train = ["train", "--data", str(dataset), "--config", base_config, "--out", base, *seed_options]
        if base_steps:
            train += ["--max-steps", str(base_steps)]
        step("train base model", _resume_if_started(train, Path(base)))
    finetuned = out / "finetuned"
    finetune = ["finetune", "--from", base, "--data", str(dataset), "--config", finetune_config]
    finetune += ["--out", str(finetuned), *seed_options]
    if genre:
        finetune += ["--genre", genre]
    if finetune_steps:
        finetune += ["--max-steps", str(finetune_steps)]
    step("fine-tune on genre", _resume_if_started(finetune, finetuned))

    generated = out / "generated"
    generate = ["generate", str(finetuned), "--out", str(generated), "--n", str(num_clips), "--device", device]
    generate += ["--seconds", str(seconds), *seed_options]
    if genre and _is_conditional(finetuned):
        generate += ["--genre", genre]
    step("generate", generate)

    if genres and len(genres) > 1:
        step(
            "train genre classifier",
            ["train-classifier", "--data", str(dataset), "--out", str(out / "classifier"), "--steps", "300",
             "--device", device, *seed_options],
        )  # fmt: skip
    evaluate = ["evaluate", "--generated", str(finetuned), "--reference", str(dataset), "--out"]
    evaluate += [str(out / "evaluation"), "--n", "16", "--device", device, *seed_options]
    if genre:
        evaluate += ["--genre", genre]
    if (out / "classifier" / "config.json").is_file():
        evaluate += ["--classifier", str(out / "classifier")]
    step("evaluate", evaluate)

    timings["total"] = time.perf_counter() - started
    page = write_index(out, genre=genre, timings=timings, data=str(data), base=base)
    click.secho(f"\nDone in {timings['total'] / 60:.1f} min. Open {page}", bold=True)
    return page


def _resume_if_started(arguments: list[str], run_dir: Path) -> list[str]:
    """Re-running the demo continues an interrupted training run instead of refusing its folder."""
    if any((run_dir / name).exists() for name in ("model_index.json", "checkpoints", "run.json")):
        return [*arguments, "--resume"]
    return arguments


def _pipeline_mel_config(pretrained: str, out: Path) -> str:
    """The mel settings of a pretrained pipeline, written where `prepare --mel-config` can read them."""
    from audiodiff.pipeline import AudioDiffusionPipeline

    path = AudioDiffusionPipeline.from_pretrained(pretrained).mel_config.save(out / "pretrained_mel")
    return str(path)


def _is_conditional(pipeline_dir: Path) -> bool:
    config = json.loads((pipeline_dir / "unet" / "config.json").read_text())
    return config.get("num_class_embeds") is not None


# --- the results page -----------------------------------------------------------------------------------------------
def write_index(out: Path, genre: str | None, timings: dict[str, float], data: str, base: str | None) -> Path:
    """`out/index.html`: spectrograms and players for everything the demo made."""
    sections = []

    def relative(path: Path) -> str:
        return html.escape(str(path.relative_to(out)))

    sections.append(
        f"<p>Data: <code>{html.escape(data)}</code>. Fine-tuned genre: <b>{html.escape(str(genre))}</b>. "
        f"Base model: <code>{html.escape(str(base))}</code>.</p>"
    )
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{seconds:.1f} s</td></tr>" for name, seconds in timings.items()
    )
    sections.append(f"<h2>Time</h2><table>{rows}</table>")
    sheet = out / "dataset" / "contact_sheet.png"
    if sheet.is_file():
        sections.append(f"<h2>Training data</h2><img src='{relative(sheet)}' style='max-width:100%'>")
    plots = []
    for name in ("base", "finetuned"):
        losses_file = out / name / "losses.json"
        if losses_file.is_file():
            plot = write_loss_plot(
                json.loads(losses_file.read_text()), out / f"{name}_loss.png", f"{name} training loss"
            )
            plots.append(f"<img src='{relative(plot)}'>")
    if plots:
        sections.append("<h2>Training loss</h2>" + "".join(plots))
    clips = []
    for wav in sorted((out / "generated").glob("*.wav")):
        png = wav.with_suffix(".png")
        picture = f"<img src='{relative(png)}' height='128'>" if png.is_file() else ""
        clips.append(
            f"<div class='clip'>{picture}<br><audio controls src='{relative(wav)}'></audio><br>{relative(wav)}</div>"
        )
    sections.append(f"<h2>Generated by the fine-tuned model</h2>{''.join(clips) or '<p>none</p>'}")
    for name in ("finetuned", "base"):
        samples = sorted((out / name / "samples").glob("step_*/*.wav"))
        if samples:
            players = "".join(
                f"<div class='clip'><img src='{relative(w.with_suffix('.png'))}' height='96'><br>"
                f"<audio controls src='{relative(w)}'></audio></div>"
                for w in samples[-4:]
            )
            sections.append(f"<h2>Training previews: {name}</h2>{players}")
    report = out / "evaluation" / "report.png"
    if report.is_file():
        sections.append(f"<h2>Evaluation</h2><img src='{relative(report)}' style='max-width:100%'>")
    report_json = out / "evaluation" / "report.json"
    if report_json.is_file():
        from audiodiff.evaluation import summary_lines

        lines = "\n".join(summary_lines(json.loads(report_json.read_text())))
        sections.append(f"<pre>{html.escape(lines)}</pre>")
    page = out / "index.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>audiodiff demo</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1100px}.clip{display:inline-block;margin:8px;"
        "text-align:center;font-size:12px}img{image-rendering:pixelated;border:1px solid #ccc}"
        "td{padding:2px 12px}</style></head><body><h1>audiodiff demo</h1>" + "\n".join(sections) + "</body></html>\n"
    )
    return page


__all__ = ["GENRES", "run_demo", "write_index", "write_loss_plot"]
