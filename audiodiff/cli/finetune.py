"""`audiodiff finetune`: fine-tune a pretrained pipeline on one genre."""

from __future__ import annotations

import click

from audiodiff.cli.train import run, run_options, training_options


@click.command("finetune")
@click.option("--from", "pretrained", default=None, help="Pretrained pipeline: folder or hub id (e.g. teticio/...).")
@run_options
@click.option("--genre", default=None, help="Train only on this genre of the dataset.")
@click.option("--config", "config_name", default="finetune", help="Train preset (configs/train/NAME.yaml) or YAML.")
@training_options
def command(pretrained, data_path, genre, config_name, out_dir, resume, push_to_hub, private, **overrides) -> None:
    """Fine-tune the pipeline --from on --data (optionally one --genre of it) into the pipeline folder OUT.

    The mel settings come from the pretrained pipeline; a dataset prepared with other settings is refused.
    Reference checkpoints (audio-diffusion, .bin weights) and audiodiff pipelines both work.
    """
    if pretrained is None and not resume:
        raise click.UsageError("--from is required: the pipeline folder or hub id to fine-tune")
    run(config_name, out_dir, data_path, pretrained, genre, resume, overrides, push_to_hub=push_to_hub, private=private)
