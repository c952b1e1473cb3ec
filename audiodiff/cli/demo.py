"""`audiodiff demo`: the main job end to end on the built-in data (or yours)."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import common


@click.command("demo")
@common.out_option("Output folder (index.html, WAVs, PNGs, report).", default=Path("demo_output"))
@click.option("--data", default=None, help="Your music folder (one sub-folder per genre). Default: synthesized music.")
@click.option(
    "--from",
    "pretrained",
    default=None,
    help="Pipeline folder or hub id to fine-tune. Default: train a small base model first.",
)
@click.option("--genre", default=None, help="Genre to fine-tune on. Default: arpeggios (built-in data).")
@click.option("--mel-config", default=None, help="Mel settings for your data (default: configs/mel/demo-64.yaml).")
@click.option("--base-steps", type=common.COUNT, default=None, help="Override the base model's training steps.")
@click.option("--finetune-steps", type=common.COUNT, default=None, help="Override the fine-tuning steps.")
@click.option("--clips", "num_clips", type=common.COUNT, default=4, help="Clips to generate.")
@click.option("--seconds", type=common.POSITIVE, default=6.0, help="Length of each generated clip.")
@common.device_option
@click.option("--seed", type=common.SEED, default=0, help="Seed of every step.")
def command(out_dir, data, pretrained, genre, mel_config, base_steps, finetune_steps, num_clips, seconds, device,
            seed) -> None:  # fmt: skip
    """Synthesize a 3-genre collection, prepare it, train a base model, fine-tune it on one genre, generate,
    evaluate, and write OUT/index.html. About 10 minutes on 2 CPU cores; re-running resumes."""
    from audiodiff.demo import run_demo

    run_demo(out_dir, data=data, pretrained=pretrained, genre=genre, mel_config=mel_config, base_steps=base_steps,
             finetune_steps=finetune_steps, num_clips=num_clips, seconds=seconds, device=device, seed=seed)  # fmt: skip
