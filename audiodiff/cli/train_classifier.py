"""`audiodiff train-classifier`: a small spectrogram genre classifier for `audiodiff evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from audiodiff.cli.common import (
    COUNT,
    POSITIVE,
    RenamedOptions,
    device_option,
    mel_config_option,
    out_option,
    resolve_device_or_fail,
    resolve_seed,
    seed_option,
)


@click.command("train-classifier", cls=RenamedOptions, renamed={"--steps": "--max-steps"})
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Prepared spectrogram dataset, or a folder with one sub-folder of audio/PNG files per genre.",
)
@out_option()
@mel_config_option
@click.option("--max-steps", type=COUNT, default=600, help="Optimisation steps.")
@click.option("--batch-size", type=COUNT, default=32, help="Clips per step.")
@click.option("--learning-rate", type=POSITIVE, default=2e-3, help="Peak AdamW learning rate (one-cycle schedule).")
@click.option("--held-out", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              help="Fraction of each genre's tracks held out to measure accuracy.")  # fmt: skip
@click.option(
    "--input-size", type=click.IntRange(min=8), default=64, help="Images are area-resized to this square size first."
)
@click.option("--max-clips", type=click.IntRange(min=2), default=None, help="Use at most this many clips (random).")
@seed_option
@device_option
def command(
    data_path,
    out_dir,
    mel_config_path,
    max_steps,
    batch_size,
    learning_rate,
    held_out,
    input_size,
    max_clips,
    seed,
    device,
) -> None:
    """Train a genre classifier on DATA and write OUT/config.json, OUT/model.safetensors, OUT/training_report.json.

    Whole tracks are held out, so the printed accuracy is on music the classifier never saw. Genres come from the
    dataset's genre column, or from the sub-folder names of a folder.
    """
    import contextlib

    import torch
    from tqdm import tqdm

    from audiodiff.classifier import REPORT_NAME, train_genre_classifier
    from audiodiff.config import ConfigError, MelConfig
    from audiodiff.evaluation import EvaluationError, open_source, select_refs
    from audiodiff.utils import FolderInUseError, output_lock

    torch_device = resolve_device_or_fail(device)
    seed = resolve_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    try:
        mel_config = MelConfig.load(mel_config_path) if mel_config_path is not None else None
        source = open_source(data_path, mel_config)
        refs = [ref for ref in source.refs if ref.genre is not None]
        if not refs:
            raise EvaluationError(f"{data_path}: no genre labels (use a dataset with genres, or DIR/<genre>/ files)")
        refs = select_refs(refs, max_clips, None, generator if max_clips else None)
        clips = source.load(refs, torch_device)
    except (EvaluationError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    genres = sorted({genre for genre in clips.genres if genre is not None})
    if source.genres:
        genres = [genre for genre in source.genres if genre in set(genres)]
    if len(genres) < 2:
        raise click.ClickException(f"{data_path}: found clips of {len(genres)} genre(s); a classifier needs 2 or more")
    labels = [genres.index(genre) for genre in clips.genres]
    click.echo(f"{len(clips)} clips, genres: {', '.join(genres)}")
    held = contextlib.ExitStack()  # OUT, held from training until its files are written: one run writes there at once
    try:
        held.enter_context(output_lock(out_dir, "audiodiff train-classifier"))
    except FolderInUseError as error:
        raise click.ClickException(str(error)) from None
    with held, tqdm(total=max_steps, desc="train-classifier", unit="step") as bar:

        def progress(step: int, loss: float) -> None:
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss:.3f}")

        try:
            model, report = train_genre_classifier(
                clips.images,
                labels,
                clips.groups,
                genres,
                clips.mel_config,
                steps=max_steps,
                batch_size=batch_size,
                learning_rate=learning_rate,
                held_out_fraction=held_out,
                input_size=input_size,
                generator=generator,
                device=torch_device,
                progress=progress,
            )
        except (ValueError, ConfigError) as error:
            raise click.ClickException(str(error)) from None
        report["seed"] = seed
        report["data"] = str(data_path)
        model.save_pretrained(out_dir)
        (out_dir / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n")
    accuracy = report["held_out_accuracy"]
    click.echo(
        f"held-out accuracy {accuracy:.3f} on {report['held_out_clips']} clips "
        f"(split by {report['held_out_split']}); training accuracy {report['train_accuracy']:.3f}"
    )
    for genre, value in report["held_out_accuracy_per_genre"].items():
        click.echo(f"  {genre}: {'n/a' if value is None else f'{value:.3f}'}")
    click.echo(f"seed {seed}")
    click.echo(f"wrote {out_dir}")
