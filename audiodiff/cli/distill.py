"""`audiodiff distill`: turn a pipeline into a student that samples in 1-8 UNet calls."""

from __future__ import annotations

import click

from audiodiff.cli.common import COUNT, FIRST_ARGUMENT, FiniteFloat, RenamedOptions
from audiodiff.cli.train import run, run_options, training_options


@click.command("distill", cls=RenamedOptions, renamed={"--from": FIRST_ARGUMENT})
@click.argument("teacher", metavar="MODEL", required=False, default=None)
@run_options
@click.option(
    "--method",
    type=click.Choice(["consistency", "progressive"]),
    default=None,
    help="consistency (one student for 1, 2, 4, ... steps; the preset's default) or progressive (halving rounds).",
)
@click.option("--steps", type=COUNT, default=None, help="The student's sampling steps (default: the preset's, 4).")
@click.option("--genre", default=None, help="Distil on this genre of the dataset only.")
@click.option(
    "--guidance",
    type=FiniteFloat(min=0),
    default=None,
    help="Classifier-free guidance scale to distil into a genre-conditioned teacher's student (one UNet call per "
    "step instead of two). Default: none.",
)
@click.option("--config", "config_name", default="cpu", help="Distill preset (configs/distill/NAME.yaml) or YAML.")
@training_options
def command(teacher, data_path, method, steps, genre, guidance, config_name, out_dir, resume, push_to_hub, private,
            **overrides) -> None:  # fmt: skip
    """Distil the pipeline MODEL (the teacher: a folder or hub id, audiodiff's or the reference's) on --data into a
    few-step student, the pipeline folder OUT.

    The student samples with its own scheduler and steps in `generate`, `vary`, `inpaint`, `interpolate`, `evaluate`
    and the studio, with no extra flags. The mel settings come from the teacher; a dataset prepared with other
    settings is refused. Presets: tiny (tests), cpu (small models, minutes on a CPU), gpu (ref-256).
    """
    from audiodiff.distillation import Distiller

    if teacher is None and not resume:
        raise click.UsageError("MODEL is required: the teacher pipeline folder or hub id (audiodiff distill MODEL ...)")
    overrides.update(method=method, steps=steps, guidance=guidance)
    for name in ("beta_schedule", "rescale_betas_zero_snr", "snr_gamma", "noise_offset"):
        if overrides.pop(name, None) is not None:
            raise click.UsageError(f"--{name.replace('_', '-')} does not apply: the student keeps its teacher's")
    run(config_name, out_dir, data_path, teacher, genre, resume, overrides, trainer_class=Distiller,
        push_to_hub=push_to_hub, private=private)  # fmt: skip
