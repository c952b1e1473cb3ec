"""`audiodiff train-vocoder`: train a neural vocoder (Vocos) on your music, at your pipeline's mel settings."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli.common import (
    COUNT,
    FIRST_ARGUMENT,
    MIXED_PRECISION_OPTION,
    SEED,
    RenamedOptions,
    out_option,
    share,
    share_options,
)


@click.command("train-vocoder", cls=RenamedOptions, renamed={"--from": FIRST_ARGUMENT})
@click.argument("pipeline", metavar="[MODEL]", required=False, default=None)
@click.option(
    "--data",
    "sources",
    multiple=True,
    required=False,
    help="Music folder, audio file, file list, or a prepared dataset (its audio_file column). Repeatable.",
)
@out_option("Vocoder folder (config.json + model.safetensors; checkpoints/, samples/, logs/ beside them).")
@click.option(
    "--mel-config",
    "mel_config_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Mel settings (mel_config.json, YAML, or a folder holding one). Default: a prepared dataset's, else "
    "the reference settings.",
)
@click.option("--config", "config_name", default="cpu", help="Vocoder preset (configs/vocoder/NAME.yaml) or YAML.")
@click.option("--max-steps", type=COUNT, default=None, help="Training steps (overrides the preset).")
@click.option("--batch-size", type=COUNT, default=None, help="Segments per step (overrides the preset).")
@MIXED_PRECISION_OPTION
@click.option("--seed", type=SEED, default=None, help="Seed of the data draws and the initial weights.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out from its newest intact checkpoint, with its own settings (only --max-steps may "
    "change).",
)
@share_options
def command(sources, out_dir, mel_config_path, pipeline, config_name, max_steps, batch_size, mixed_precision, seed,
            resume, push_to_hub, private) -> None:  # fmt: skip
    """Train a vocoder on the music in --data that decodes spectrogram images to audio better than Griffin-Lim, for
    the pipeline MODEL (a folder or hub id: its mel settings and bit depth).

    A Vocos network (ConvNeXt at the frame rate, an inverse-STFT head) learns from slices of the music encoded
    exactly as the diffusion model's images (quantised dB relative to each slice's peak). The mel settings come from
    MODEL (the pipeline it will serve), --mel-config, or a prepared dataset in --data, so that a vocoder always
    matches its model. Use the result with --vocoder OUT in decode, generate, vary, inpaint, edit, interpolate,
    evaluate and demo. Presets: tiny (tests), cpu (about 13 minutes on a 2-core CPU), gpu (the full recipe, hours
    on a GPU). Multi-GPU: `accelerate launch -m audiodiff.cli.main train-vocoder ...`.
    """
    from audiodiff.config import ConfigError, MelConfig
    from audiodiff.vocoder_training.trainer import RUN_FILE, VocoderTrainConfig, VocoderTrainer, VocoderTrainingError

    overrides = {"max_steps": max_steps, "batch_size": batch_size, "mixed_precision": mixed_precision, "seed": seed}
    try:
        if resume and (out_dir / RUN_FILE).is_file():
            trainer = VocoderTrainer.resume(out_dir, **overrides)
            click.echo(f"resuming {out_dir} at step {trainer.global_step} of {trainer.config.max_steps}")
        else:
            if not sources:
                raise click.UsageError("--data is required: a music folder, audio files, a file list or a dataset")
            if mel_config_path is not None and pipeline is not None:
                raise click.UsageError("give MODEL or --mel-config, not both")
            mel_config, bits = None, None
            if mel_config_path is not None:
                mel_config = MelConfig.load(mel_config_path)
            elif pipeline is not None:
                mel_config, bits = _pipeline_settings(pipeline)
            config = VocoderTrainConfig.load(config_name, **overrides)
            trainer = VocoderTrainer.start(config, list(sources), out_dir, mel_config, bits, preset=str(config_name))
            mel = trainer.mel_config
            click.echo(f"{len(trainer.data)} slices from {len(set(trainer.data.tracks))} tracks; mel settings "
                       f"{mel.y_res} bands, {mel.sample_rate} Hz, n_fft {mel.n_fft}, hop {mel.hop_length}")  # fmt: skip
        result = trainer.run()
    except (VocoderTrainingError, ConfigError, ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from None
    tail = result.losses[-10:]
    click.echo(f"trained {result.steps} steps in {result.seconds / 60:.1f} min; mean loss of the last {len(tail)} "
               f"steps {sum(tail) / max(1, len(tail)):.3f}")  # fmt: skip
    click.echo(f"vocoder written to {out_dir}; use it with --vocoder {out_dir}")
    if trainer.accelerator.is_main_process:  # one card and one upload under `accelerate launch`
        share(out_dir, push_to_hub, private)


def _pipeline_settings(pipeline: str):
    """The mel settings and bit depth of a pipeline folder or hub id (read without loading its UNet)."""
    from audiodiff.config import MelConfig
    from audiodiff.pipeline_folder import read_metadata, resolve_folder

    try:
        folder = resolve_folder(pipeline)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="MODEL") from None
    mel_config = MelConfig.find(folder)
    if mel_config is None:
        raise click.BadParameter(f"{pipeline}: no mel settings (mel/mel_config.json)", param_hint="MODEL")
    try:
        bits = read_metadata(folder).get("bits", 8)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="MODEL") from None
    return mel_config, int(bits)
