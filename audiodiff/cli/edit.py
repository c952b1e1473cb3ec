"""`audiodiff edit`: change a clip's genre (or model) by DDIM inversion and regeneration."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import _sampling, common


@click.command("edit")
@_sampling.pipeline_argument
@click.argument("audio", type=click.Path(path_type=Path))
@_sampling.sampling_options(default_scheduler="ddim-exact", schedulers=["ddim-exact", "ddim"])
@click.option("--source-genre", default=None, help="Genre the clip is inverted under. Default: unconditional.")
@click.option(
    "--source-pipeline",
    default=None,
    help="Invert with this pipeline (folder or hub id) and regenerate with PIPELINE. Default: PIPELINE for both.",
)
@click.option(
    "--strength",
    type=click.FloatRange(0, 1),
    default=0.7,
    help="How far to invert before regenerating: 0 keeps the clip, 1 inverts to pure noise.",
)
@click.option(
    "--refine",
    type=click.IntRange(min=0),
    default=2,
    help="Fixed-point refinements per inversion step (more exact inversion, one UNet evaluation each).",
)
@click.option(
    "--offset", type=common.NON_NEGATIVE, default=0.0, help="Seconds into AUDIO where the slice to edit starts."
)
def command(
    pipeline, audio, out_dir, steps, scheduler, genre, guidance, seed, device, n_iter, phase_init, vocoder,
    source_genre, source_pipeline, strength, refine, offset,
):  # fmt: skip
    """Edit one slice of AUDIO: invert it with DDIM (Song et al. 2020) under --source-genre (and
    --source-pipeline), then regenerate from there with PIPELINE and --genre.

    DDIM is deterministic: the same options give the same result; --seed only seeds the vocoder's phase.
    Writes OUT/<stem>_edit.wav and .png (and <stem>_source.png, the input's spectrogram) and prints the seed.
    """
    from audiodiff import sampling
    from audiodiff.codec import save_png

    target = _sampling.load_pipeline(pipeline, scheduler, device, n_iter, phase_init, vocoder, inverts=True)
    source = (
        target if source_pipeline is None else _sampling.load_pipeline(source_pipeline, scheduler, device, inverts=True)
    )
    if source.mel_config != target.mel_config or source.latent_shape != target.latent_shape:
        raise click.UsageError("--source-pipeline must have the same mel settings and sample shape as PIPELINE")
    original = _sampling.load_clip(audio, target.sample_rate)
    _sampling.one_slice(original, target, offset)
    seed = common.resolve_seed(seed)
    edited, source_pixels = _sampling.job(
        sampling.edit, target, original, genre=_sampling.genre_value(genre),
        source_genre=_sampling.genre_value(source_genre), strength=strength, steps=steps, guidance=guidance,
        refinements=refine, seed=seed, offset_seconds=offset, source_pipeline=source,
    )  # fmt: skip
    _sampling.write_clips(out_dir, [f"{audio.stem}_edit"], edited, target)
    save_png(out_dir / f"{audio.stem}_source.png", source_pixels, target.bits)
    _sampling.report(out_dir, 1, seed)
