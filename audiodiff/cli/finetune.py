"""`audiodiff finetune`: fine-tune a pretrained pipeline on one genre."""

from __future__ import annotations

import click

from audiodiff.cli.common import FIRST_ARGUMENT, RenamedOptions
from audiodiff.cli.train import lora_options, run, run_options, training_options


@click.command("finetune", cls=RenamedOptions, renamed={"--from": FIRST_ARGUMENT})
@click.argument("pretrained", metavar="[MODEL]", required=False, default=None)
@run_options
@click.option("--genre", default=None, help="Train only on this genre of the dataset.")
@click.option(
    "--genre-init",
    default=None,
    metavar="closest|unconditional|GENRE",
    help="Where a --genre new to the model starts: the known genre (or the unconditional label) the model denoises "
    "its songs best with (closest, the default), the unconditional label, or a genre the model knows.",
)
@click.option("--config", "config_name", default="finetune", help="Train preset (configs/train/NAME.yaml) or YAML.")
@training_options
@lora_options
def command(pretrained, data_path, genre, config_name, out_dir, resume, push_to_hub, private, **overrides) -> None:
    """Fine-tune the pipeline MODEL (a folder, hub id or shipped name; default: audiodiff-base-64, the shipped base
    model) on --data (optionally one --genre of it) into the pipeline folder OUT.

    The mel settings come from the pretrained pipeline; a dataset prepared with other settings is refused.
    Reference checkpoints (audio-diffusion, .bin weights) and audiodiff pipelines both work.
    """
    from audiodiff.pretrained import DEFAULT_BASE
    from audiodiff.training import RUN_FILE

    if pretrained is None and not (resume and (out_dir / RUN_FILE).is_file()):
        pretrained = DEFAULT_BASE  # a new run (a resumed one knows its model)
    run(config_name, out_dir, data_path, pretrained, genre, resume, overrides, push_to_hub=push_to_hub, private=private)
