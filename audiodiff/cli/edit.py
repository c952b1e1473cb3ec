"""`audiodiff edit`: change a clip's genre (or model) by DDIM inversion and regeneration."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import _sampling, common
from audiodiff.utils import first_line


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
    pipeline, audio, out_dir, steps, scheduler, genre, guidance, seed, device, source_genre, source_pipeline,
    strength, refine, offset,
):  # fmt: skip
    """Edit one slice of AUDIO: invert it with DDIM (Song et al. 2020) under --source-genre (and
    --source-pipeline), then regenerate from there with PIPELINE and --genre.

    DDIM is deterministic: the same options give the same result; --seed only seeds the vocoder's phase.
    Writes OUT/<stem>_edit.wav and .png (and <stem>_source.png, the input's spectrogram) and prints the seed.
    """
    from audiodiff.codec import save_png

    target = _sampling.load_pipeline(pipeline, scheduler, device)
    source = target if source_pipeline is None else _sampling.load_pipeline(source_pipeline, scheduler, device)
    if source.mel_config != target.mel_config or source.latent_shape != target.latent_shape:
        raise click.UsageError("--source-pipeline must have the same mel settings and sample shape as PIPELINE")
    clip = _sampling.one_slice(_sampling.load_clip(audio, target.sample_rate), target, offset)
    seed = common.resolve_seed(seed)
    steps = steps or target.default_steps
    try:
        noise = source.invert(
            clip, num_inference_steps=steps, strength=strength, genre=_sampling.genre_value(source_genre),
            refinements=refine,
        )  # fmt: skip
    except ValueError as error:
        raise click.UsageError(first_line(error)) from None
    output = _sampling.run(
        target, latents=noise, strength=strength, num_inference_steps=steps, genre=_sampling.genre_value(genre),
        guidance_scale=guidance, generator=_sampling.generators(seed, 1),
    )  # fmt: skip
    _sampling.write_clip(out_dir, f"{audio.stem}_edit", output.audios[0], output.images[0], target)
    save_png(out_dir / f"{audio.stem}_source.png", target.quantize(target.audio_to_images(clip))[0].cpu(), target.bits)
    _sampling.report(out_dir, 1, seed)
