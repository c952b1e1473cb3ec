"""`audiodiff train`: train a spectrogram diffusion model from scratch (shared options for `finetune` too)."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli.common import (
    COUNT,
    MIXED_PRECISION_OPTION,
    POSITIVE,
    SEED,
    FiniteFloat,
    out_option,
    share,
    share_options,
)
from audiodiff.schedulers import BETA_SCHEDULES, PREDICTION_TYPES

_NON_NEGATIVE = click.IntRange(min=0)


class _Widths(click.ParamType):
    """A comma-separated list of whole numbers of slices, e.g. 1,2,4."""

    name = "K[,K...]"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            return [int(part) for part in str(value).split(",")]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of whole numbers of slices, e.g. 1,2,4", param, ctx)


OVERRIDES = (
    click.option("--max-steps", type=COUNT, default=None, help="Optimizer steps (overrides --epochs)."),
    click.option("--epochs", type=COUNT, default=None, help="Epochs over the data."),
    click.option("--batch-size", type=COUNT, default=None, help="Images per device per micro-batch."),
    click.option("--gradient-accumulation-steps", type=COUNT, default=None, help="Micro-batches per optimizer step."),
    click.option("--learning-rate", type=POSITIVE, default=None, help="Peak AdamW learning rate."),
    MIXED_PRECISION_OPTION,
    click.option(
        "--checkpoint-every", type=_NON_NEGATIVE, default=None, help="Steps between checkpoints (0: only at the end)."
    ),
    click.option(
        "--sample-every", type=_NON_NEGATIVE, default=None, help="Steps between preview samples (0: only at the end)."
    ),
    click.option("--num-workers", type=_NON_NEGATIVE, default=None, help="Data loader worker processes."),
    click.option(
        "--widths",
        type=_Widths(),
        default=None,
        help="Variable-width training: crops of these many consecutive slices in turn, e.g. 1,2,4 (the model then "
        "generates clips up to 4 slices long in one piece).",
    ),
    click.option(
        "--channels-last/--no-channels-last", default=None, help="NHWC memory layout (GPU convolutions; slower on CPU)."
    ),
    click.option(
        "--random-offsets/--no-random-offsets",
        default=None,
        help="Cut each training slice from its track's audio at a random shift of up to half a slice, every step "
        "(more distinct images from few songs; needs the audio where prepare read it).",
    ),
    click.option(
        "--compile/--no-compile", default=None, help="torch.compile the training step (pays on long runs only)."
    ),
    click.option(
        "--prediction-type",
        type=click.Choice(PREDICTION_TYPES),
        default=None,
        help="What the model predicts (default: the config's; a fine-tune keeps the pretrained model's).",
    ),
    click.option(
        "--beta-schedule",
        type=click.Choice(BETA_SCHEDULES),
        default=None,
        help="Noise schedule (default: the config's; a fine-tune keeps the pretrained model's).",
    ),
    click.option(
        "--rescale-betas-zero-snr/--no-rescale-betas-zero-snr",
        default=None,
        help="Zero terminal SNR (Lin et al. 2023), sampled with trailing timesteps; needs v_prediction or sample.",
    ),
    click.option(
        "--snr-gamma", type=POSITIVE, default=None, help="Min-SNR-gamma loss weighting (Hang et al. 2023), e.g. 5."
    ),
    click.option(
        "--noise-offset",
        type=FiniteFloat(min=0, max=1),
        default=None,
        help="Offset noise: a per-image constant of this size added to the noise (0: off).",
    ),
    click.option(
        "--resolution-shift",
        type=POSITIVE,
        default=None,
        help="Shift the log-SNR schedule by -2 ln(S) for images S times larger than it was made for (simple "
        "diffusion; new models only; 1: off).",
    ),
    click.option("--seed", type=SEED, default=None, help="Seed of the data order, noise and initial weights."),
)


def run_options(function):
    """--data, --out, --resume, --push-to-hub and --private, shared by `train`, `finetune` and `distill`."""
    function = share_options(function)
    function = click.option(
        "--resume",
        is_flag=True,
        help="Continue the run in --out from its newest intact checkpoint, with its own settings (only "
        "--max-steps, --epochs, --num-workers, --channels-last and --compile may change).",
    )(function)
    function = out_option("Run folder.")(function)
    return click.option("--data", "data_path", default=None, help="Prepared spectrogram dataset (folder or hub id).")(
        function
    )


LORA_OPTIONS = (
    click.option(
        "--lora-rank",
        type=click.IntRange(1, 4096),
        default=None,
        help="Fine-tune LoRA adapters of this rank (e.g. 8) instead of every weight: the base stays frozen; the "
        "folder holds the merged model and the adapter alone in lora/. Needs a pretrained model.",
    ),
    click.option(
        "--lora-alpha",
        type=POSITIVE,
        default=None,
        help="LoRA scale numerator: updates scaled alpha/rank (default: the rank).",
    ),
)


def lora_options(function):
    """`finetune`'s LoRA options (a run from scratch or a distillation trains every weight)."""
    for option in reversed(LORA_OPTIONS):
        function = option(function)
    return function


def training_options(function):
    """The hyper-parameter overrides shared by `train` and `finetune` (default: the config file's value)."""
    for option in reversed(OVERRIDES):
        function = option(function)
    return function


def run(config_name, out_dir: Path, data_path, pretrained, genre, resume, overrides: dict, trainer_class=None,
        push_to_hub: str | None = None, private: bool = False) -> None:  # fmt: skip
    """Start or resume a run of `trainer_class` (default `Trainer`; `distill` passes its `Distiller`) and print a
    summary; errors become one-line CLI errors. Then the folder's model card, and its push to `push_to_hub`."""
    from click.core import ParameterSource

    from audiodiff.config import ConfigError
    from audiodiff.training import RUN_FILE, Trainer, TrainingError

    Trainer = trainer_class or Trainer  # noqa: N806 - the class used below

    context = click.get_current_context()
    explicit_config = context.get_parameter_source("config_name") != ParameterSource.DEFAULT
    try:
        if resume and (out_dir / RUN_FILE).is_file():
            trainer = Trainer.resume(
                out_dir,
                data=data_path,
                pretrained=pretrained,
                genre=genre,
                preset=config_name if explicit_config else None,
                **overrides,
            )
            click.echo(f"resuming {out_dir} at step {trainer.global_step} of {trainer.total_steps}")
        else:
            if data_path is None:
                raise click.UsageError("--data is required (a prepared spectrogram dataset folder or hub id)")
            from audiodiff.data import load_spectrogram_dataset

            config = Trainer.config_class.load(config_name, **overrides)
            data = load_spectrogram_dataset(data_path)
            trainer = Trainer.start(config, data, out_dir, pretrained, genre, preset=str(config_name))
        if overrides.get("seed") is None and not resume:
            click.echo(f"seed {trainer.config.seed}")
        for line in trainer.plan():
            click.secho(line, fg="yellow" if line.startswith("warning") else None, err=line.startswith("warning"))
        result = trainer.run()
    except (TrainingError, ConfigError, ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from None
    tail = result.losses[-10:]
    click.echo(
        f"trained {result.steps} steps; mean loss of the last {len(tail)} steps {sum(tail) / max(1, len(tail)):.4f}; "
        f"{result.samples_per_second:.1f} samples/s"
    )
    click.echo(f"pipeline written to {out_dir} (samples in {out_dir / 'samples'}); next: audiodiff generate {out_dir}")
    from audiodiff.pipeline_folder import read_metadata

    recommended = read_metadata(out_dir).get("guide") if pretrained is not None else None
    if recommended:
        click.echo(f"its clips are guided by its base at {recommended['scale']:g} by default (more of your songs, less "
                   "of the base, twice the sampling time); --guide none samples without (README: Fine-tune on your "
                   "own songs)")  # fmt: skip
    elif pretrained is not None and genre is not None:
        click.echo(f"clips with more of your songs and less of the base: audiodiff generate {out_dir} --genre {genre} "
                   "--guide base (README: Fine-tune on your own songs)")  # fmt: skip
    if pretrained is not None:  # a fine-tune: did it learn to replay its songs? (a first look; evaluate --training)
        from audiodiff.evaluation.copies import copy_summary

        section = trainer.copy_check()
        if section is not None:
            copied = section.get("near_copies", 0) > 0
            click.secho(copy_summary(section).replace("copy check:", "copy check of the preview clips:"),
                        fg="yellow" if copied else None)  # fmt: skip
            if copied:
                click.echo("the model replays training slices: fewer --max-steps or more songs (see README)")
    if trainer.accelerator.is_main_process:  # one card and one upload under `accelerate launch`
        share(out_dir, push_to_hub, private)


@click.command("train")
@run_options
@click.option("--config", "config_name", default="default", help="Train preset (configs/train/NAME.yaml) or YAML.")
@click.option("--model", default=None, help="Model preset (configs/models/NAME.yaml) or YAML; overrides the config.")
@click.option("--conditional/--unconditional", default=None, help="Condition on genre labels (classifier-free).")
@training_options
def command(data_path, config_name, model, conditional, out_dir, resume, push_to_hub, private, **overrides) -> None:
    """Train a diffusion model from scratch on a spectrogram dataset.

    OUT becomes a pipeline folder (reference layout: model_index.json, unet/, scheduler/, mel/) with checkpoints/,
    samples/ and TensorBoard logs/ beside it. Multi-GPU: `accelerate launch -m audiodiff.cli.main train ...`.
    """
    overrides.update(model=model, conditional=conditional)
    run(config_name, out_dir, data_path, None, None, resume, overrides, push_to_hub=push_to_hub, private=private)
