"""`audiodiff evaluate`: how close are generated clips to the reference genre, and how good is the round trip?"""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import common
from audiodiff.cli.common import device_option, mel_config_option, resolve_device_or_fail, seed_option
from audiodiff.sampling import MAX_SECONDS
from audiodiff.schedulers import AUTO_SCHEDULER, DEFAULT_SCHEDULER


@click.command("evaluate", cls=common.RenamedOptions, renamed={"--n": "--clips"})
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
    "--clips",
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
    "--training",
    "training_path",
    default=None,
    help="The model's training data (dataset or folder): adds the copy check, each clip's distance to its nearest "
    "training slice against held-out music's, with the closest pairs in OUT/copies.png.",
)
@click.option(
    "--backend",
    "backends",
    multiple=True,
    metavar="NAME[=WEIGHTS]",
    help="Extra Frechet-distance embedding: vggish, pann, clap (pretrained; used only if installed, never "
    "downloaded), or cola=FOLDER (your own COLA encoder in place of the shipped one). Repeatable.",
)
@common.out_option("Folder for report.json, report.png (and generated clips).", default=Path("evaluation"))
@mel_config_option
@common.vocoder_options
@click.option("--reconstruction-clips", type=click.IntRange(min=1), default=8, help="Reference clips round-tripped.")
@click.option(
    "--steps",
    type=common.COUNT,
    default=None,
    help="Inference steps when generating from a pipeline, at most its training timesteps (1000).",
)
@click.option(
    "--scheduler",
    default=AUTO_SCHEDULER,
    show_default=True,
    help=f"Sampler when generating from a pipeline: {AUTO_SCHEDULER} (the default of `audiodiff generate`: the "
    f"folder's recommended sampler, else {DEFAULT_SCHEDULER}, or a distilled student's own), ddim, ddpm (the "
    "reference's 1000 steps), unipc, ..., or saved (the folder's own).",
)
@click.option(
    "--guide",
    default="auto",
    show_default=True,
    help="The weaker model that guides the sampling when generating from a pipeline (autoguidance): auto (the "
    "default of `audiodiff generate`: the guide the folder recommends, a fine-tune's base, else none), none, base, "
    "or a shipped name or folder.",
)
@click.option(
    "--seconds",
    type=common.FiniteFloat(min=0, min_open=True, max=MAX_SECONDS),
    default=None,
    help="Length of the clips generated from a pipeline (default one slice; at most that of `audiodiff generate`); "
    "longer clips get the seam check.",
)
@click.option("--batch-size", type=common.COUNT, default=8, help="Clips generated at once (pipeline).")
@seed_option
@device_option
def command(
    generated_path,
    reference_path,
    genre,
    count,
    classifier_path,
    training_path,
    backends,
    out_dir,
    mel_config_path,
    vocoder,
    n_iter,
    phase_init,
    reconstruction_clips,
    steps,
    scheduler,
    guide,
    seconds,
    batch_size,
    seed,
    device,
) -> None:
    """Compare generated clips with reference clips; print the report and write OUT/report.json + OUT/report.png.

    Metrics: the share of generated clips flagged for artefacts (speckle noise, noise-like spectra, silence, saturation,
    flicker; thresholds from the reference's own range, fitted on up to 1024 of its windows, false-alarm rate measured
    on held-out reference clips) and how much spectral detail and onset strength a typical window has
    against the reference's (the structure ratios, next to real music's); how regular whole clips' onsets are (the
    pulse, against runs of real slices of the same length); for clips longer than one slice, the seam
    score (envelope change at joins against the same inside real music); Frechet distance and precision / recall in
    the shipped COLA embedding (learned from real music), on fine log-mel frames (full resolution plus local
    contrast), on 32-band log-mel frame statistics (and on the classifier's embedding, and any --backend), each next
    to the same distance between two sets of reference clips; the share of generated clips the classifier assigns to
    --genre; spectral convergence and log-spectral distance of the codec round trip on reference audio; mean
    pairwise distance between generated clips (diversity) and to the nearest reference clip; with --training, the
    share of clips that replay a training slice (copy check).

    Mel settings of a folder: --mel-config, else its own mel_config.json, else the other side's (a pipeline's, a
    dataset's). Both sides must share them.
    """

    from audiodiff.config import ConfigError, MelConfig
    from audiodiff.evaluation import EvaluationError, run_evaluation, summary_lines
    from audiodiff.evaluation.embeddings import PRETRAINED_BACKENDS, parse_backend

    torch_device = resolve_device_or_fail(device)
    seed = common.resolve_seed(seed)
    common.make_out_dir(out_dir)  # before the work: an --out that cannot be made costs nothing
    try:
        pretrained = [parse_backend(spec) for spec in backends]
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    for name, checkpoint in pretrained:
        if name == "cola" and checkpoint is None:
            raise click.UsageError("--backend cola: always computed with the shipped weights; cola=FOLDER uses yours")
        if name not in PRETRAINED_BACKENDS and name != "cola":
            raise click.UsageError(
                f"--backend {name}: always computed when available; list only vggish, pann, clap or cola=FOLDER"
            )
    try:
        explicit_mel = MelConfig.load(mel_config_path) if mel_config_path is not None else None
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    try:
        run = run_evaluation(
            generated_path,
            reference_path,
            out_dir,
            genre=genre,
            count=count,
            classifier=classifier_path,
            training=training_path,
            backends=pretrained,
            mel_config=explicit_mel,
            vocoder=vocoder,
            n_iter=n_iter,
            phase_init=phase_init,
            reconstruction_clips=reconstruction_clips,
            num_inference_steps=steps,
            scheduler=scheduler,
            guide=guide,
            seconds=seconds,
            batch_size=batch_size,
            seed=seed,
            device=torch_device,
            log=lambda line: click.echo(line, err=True),
        )
    except (EvaluationError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    for line in summary_lines(run.report):
        click.echo(line)
    click.echo(f"seed {seed}")
    click.echo(f"wrote {run.report_path} and {run.figure_path}")
