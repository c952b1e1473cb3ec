"""`audiodiff evaluate`: how close are generated clips to the reference genre, and how good is the round trip?"""

from __future__ import annotations

import json
from pathlib import Path

import click

from audiodiff.cli.common import device_option, mel_config_option, resolve_device_or_fail, seed_option


@click.command("evaluate")
@click.option(
    "--generated",
    "generated_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of generated WAV or PNG files, or a pipeline folder (clips are generated with it).",
)
@click.option(
    "--reference",
    "reference_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Prepared spectrogram dataset, or a folder of audio/PNG files (optionally one sub-folder per genre).",
)
@click.option("--genre", default=None, help="Target genre: reference clips of this genre only; generate this genre.")
@click.option(
    "--n",
    "count",
    type=click.IntRange(min=2),
    default=32,
    help="Generated clips; up to 2N reference clips are drawn (N compared, N for the baseline).",
)
@click.option(
    "--classifier",
    "classifier_path",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Genre classifier folder from `audiodiff train-classifier` (genre share and its Frechet distance).",
)
@click.option(
    "--backend",
    "backends",
    multiple=True,
    metavar="NAME[=WEIGHTS]",
    help="Extra Frechet-distance embedding: vggish, pann, clap (pretrained; used only if installed, never "
    "downloaded). Repeatable.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("evaluation"),
    help="Folder for report.json, report.png (and generated clips).",
)
@mel_config_option
@click.option(
    "--vocoder",
    type=click.Choice(["griffinlim", "librosa"]),
    default="griffinlim",
    help="Decoder whose reconstruction quality is measured.",
)
@click.option("--n-iter", type=int, default=None, help="Griffin-Lim iterations. Default: n_iter of the mel config.")
@click.option("--reconstruction-clips", type=click.IntRange(min=1), default=8, help="Reference clips round-tripped.")
@click.option("--steps", type=int, default=None, help="Inference steps when generating from a pipeline.")
@click.option(
    "--scheduler",
    default="dpm",
    show_default=True,
    help="Sampler when generating from a pipeline: dpm (DPM-Solver++, 20 steps), ddim, ddpm (the reference's 1000 "
    "steps), unipc, ..., or saved (the folder's own).",
)
@click.option("--batch-size", type=int, default=8, help="Clips generated at once (pipeline).")
@seed_option
@device_option
def command(
    generated_path,
    reference_path,
    genre,
    count,
    classifier_path,
    backends,
    out_dir,
    mel_config_path,
    vocoder,
    n_iter,
    reconstruction_clips,
    steps,
    scheduler,
    batch_size,
    seed,
    device,
) -> None:
    """Compare generated clips with reference clips; print the report and write OUT/report.json + OUT/report.png.

    Metrics: Frechet distance on log-mel frame statistics (and on the classifier's embedding, and any --backend),
    each next to the same distance between two sets of reference clips; the share of generated clips the
    classifier assigns to --genre; spectral convergence and log-spectral distance of the codec round trip on
    reference audio; mean pairwise distance between generated clips (diversity) and to the nearest reference clip.

    Mel settings of a folder: --mel-config, else its own mel_config.json, else the other side's (a pipeline's, a
    dataset's). Both sides must share them.
    """
    import torch

    from audiodiff.audio import save_audio
    from audiodiff.classifier import REPORT_NAME as CLASSIFIER_REPORT
    from audiodiff.classifier import GenreClassifier
    from audiodiff.codec import save_png
    from audiodiff.config import ConfigError, MelConfig
    from audiodiff.embeddings import (
        ClassifierEmbedder,
        EmbeddingUnavailable,
        LogMelEmbedder,
        load_pretrained_embedder,
        parse_backend,
    )
    from audiodiff.evaluate import (
        EvaluationError,
        evaluate,
        folder_mel_config,
        generate_clips,
        is_pipeline_folder,
        open_source,
        render_figure,
        select_refs,
        summary_lines,
        write_report,
    )
    from audiodiff.vocoders import make_vocoder

    torch_device = resolve_device_or_fail(device)
    seed = int(torch.randint(0, 2**31 - 1, ()).item()) if seed is None else seed
    try:
        pretrained = [parse_backend(spec) for spec in backends]
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    for name, _ in pretrained:
        if name not in ("vggish", "pann", "clap"):
            raise click.UsageError(f"--backend {name}: always computed when available; list only vggish, pann, clap")
    try:
        explicit_mel = MelConfig.load(mel_config_path) if mel_config_path is not None else None
    except ConfigError as error:
        raise click.UsageError(str(error)) from None

    try:
        # A folder without its own mel settings borrows the other side's (a pipeline's, a dataset's, a PNG folder's).
        generated_mel = folder_mel_config(generated_path) if generated_path.is_dir() else None
        reference_source = open_source(reference_path, explicit_mel, fallback=generated_mel)
        _report_skipped(reference_source)
        mel_config = reference_source.mel_config
        select_generator = torch.Generator().manual_seed(seed)
        reference_refs = select_refs(reference_source.refs, 2 * count, genre, select_generator)
        reference = reference_source.load(
            reference_refs, torch_device, **_audio_argument(reference_source, reconstruction_clips)
        )
        target_genre = genre
        if target_genre is None:
            labels = {label for label in reference.genres}
            target_genre = labels.pop() if len(labels) == 1 and None not in labels else None

        if is_pipeline_folder(generated_path):
            click.echo(f"generating {count} clips with {generated_path} ...", err=True)
            generated = generate_clips(
                generated_path,
                count,
                genre=genre,
                num_inference_steps=steps,
                scheduler=scheduler,
                batch_size=batch_size,
                generator=torch.Generator(torch_device).manual_seed(seed),
                device=torch_device,
            )
            clips_dir = out_dir / "generated"
            levels = (1 << generated.bits) - 1
            pixels = torch.floor((generated.images[:, 0].clamp(-1, 1) + 1) / 2 * levels + 0.5).to(torch.int64)
            for index, name in enumerate(generated.names):
                save_png(clips_dir / f"{name}.png", pixels[index].numpy(), generated.bits)
                if generated.audio is not None and index < len(generated.audio):
                    save_audio(clips_dir / f"{name}.wav", generated.audio[index], generated.mel_config.sample_rate)
        else:
            generated_source = open_source(generated_path, explicit_mel, fallback=mel_config)
            _report_skipped(generated_source)
            generated_refs = select_refs(generated_source.refs, count, None, None)
            generated = generated_source.load(generated_refs, torch_device, **_audio_argument(generated_source, 0))

        classifier = classifier_report = None
        embedders = [LogMelEmbedder(float(mel_config.top_db))]
        if classifier_path is not None:
            classifier = GenreClassifier.from_pretrained(classifier_path, torch_device)
            report_file = classifier_path / CLASSIFIER_REPORT
            classifier_report = json.loads(report_file.read_text()) if report_file.is_file() else None
            embedders.append(ClassifierEmbedder(classifier))
        unavailable = {}
        for name, checkpoint in pretrained:
            try:
                embedders.append(load_pretrained_embedder(name, checkpoint, torch_device))
            except EmbeddingUnavailable as error:
                unavailable[name] = str(error).split(": ", 1)[-1]
                click.echo(f"embedding backend unavailable: {error}", err=True)

        report = evaluate(
            generated,
            reference,
            target_genre=target_genre,
            embedders=embedders,
            unavailable=unavailable,
            classifier=classifier,
            classifier_report=classifier_report,
            vocoder=make_vocoder(vocoder, mel_config, n_iter),
            reconstruction_clips=reconstruction_clips,
            generator=torch.Generator(torch_device).manual_seed(seed),
            device=torch_device,
        )
    except (EvaluationError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    report["seed"] = seed
    report_path = write_report(report, out_dir)
    figure_path = render_figure(generated, reference, report, out_dir / "report.png")
    for line in summary_lines(report):
        click.echo(line)
    click.echo(f"seed {seed}")
    click.echo(f"wrote {report_path} and {figure_path}")


def _report_skipped(source) -> None:
    for reason in getattr(source, "skipped", []):
        click.echo(f"skipped {reason}", err=True)


def _audio_argument(source, clips: int) -> dict:
    """Datasets load original audio only for the clips reconstruction needs; folders always carry it."""
    return {"audio_clips": clips} if getattr(source, "kind", "") == "dataset" else {}
