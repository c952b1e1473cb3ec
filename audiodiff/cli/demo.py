"""`audiodiff demo`: the main job end to end on the built-in data (or yours)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo_output"),
    help="Output folder (index.html, WAVs, PNGs, report).",
)
@click.option("--data", default=None, help="Your music folder (one sub-folder per genre). Default: synthesized music.")
@click.option(
    "--from",
    "pretrained",
    default=None,
    help="Pipeline folder or hub id to fine-tune. Default: train a small base model first.",
)
@click.option("--genre", default=None, help="Genre to fine-tune on. Default: arpeggios (built-in data).")
@click.option("--mel-config", default=None, help="Mel settings for your data (default: configs/mel/demo-64.yaml).")
@click.option("--base-steps", type=int, default=None, help="Override the base model's training steps.")
@click.option("--finetune-steps", type=int, default=None, help="Override the fine-tuning steps.")
@click.option("--clips", "num_clips", type=int, default=4, help="Clips to generate.")
@click.option("--seconds", type=float, default=6.0, help="Length of each generated clip.")
@click.option("--device", default="auto", help="cuda, mps, cpu or auto.")
@click.option("--seed", type=int, default=0, help="Seed of every step.")
def command(out_dir, data, pretrained, genre, mel_config, base_steps, finetune_steps, num_clips, seconds, device,
            seed) -> None:  # fmt: skip
    """Synthesize a 3-genre collection, prepare it, train a base model, fine-tune it on one genre, generate,
    evaluate, and write OUT/index.html. About 10 minutes on 2 CPU cores; re-running resumes."""
    from audiodiff.demo import run_demo

    run_demo(out_dir, data=data, pretrained=pretrained, genre=genre, mel_config=mel_config, base_steps=base_steps,
             finetune_steps=finetune_steps, num_clips=num_clips, seconds=seconds, device=device, seed=seed)  # fmt: skip
