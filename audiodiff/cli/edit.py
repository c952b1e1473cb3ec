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
def command(pipeline, audio, out_dir, device, source_genre, source_pipeline, strength, refine, offset, **options):
    """Edit one slice of AUDIO: invert it with DDIM (Song et al. 2020) under --source-genre (and
    --source-pipeline), then regenerate from there with PIPELINE and --genre.

    DDIM is deterministic: the same options give the same result; --seed only seeds the vocoder's phase.
    Writes OUT/<stem>_edit.wav and .png (and <stem>_source.png, the input's spectrogram) and <stem>_edit.json (how
    to make it again; see `generate`), or, when those exist, OUT/<stem>_edit_<k>.wav, .png, _source.png and .json
    numbered after them. Prints the seed.
    """
    from audiodiff import sampling
    from audiodiff.codec import save_png

    output = common.output_settings(options)
    settings, _ = _sampling.draw_settings(options)
    target = _sampling.load_pipeline(pipeline, settings, device, inverts=True)
    inverter = settings.replace(n_iter=None, phase_init=None, vocoder=None)  # it only inverts: no decoder to set
    source = (
        target if source_pipeline is None else _sampling.load_pipeline(source_pipeline, inverter, device, inverts=True)
    )
    if source.mel_config != target.mel_config or source.latent_shape != target.latent_shape:
        raise click.UsageError("--source-pipeline must have the same mel settings and sample shape as PIPELINE")
    original = _sampling.load_clip(audio, target.sample_rate)
    _sampling.one_slice(original, target, offset)
    source_words = source_pipeline if source_pipeline is None else _sampling.model_word(source_pipeline)
    job_options = {"source_genre": source_genre, "source_pipeline": source_words, "strength": strength,
                   "refine": refine, "offset": offset}  # fmt: skip
    first_names = [f"{audio.stem}_edit{suffix}" for suffix in (output.suffix, ".png", ".json")]
    first_names.append(f"{audio.stem}_source.png")
    clip_set = _sampling.clip_set(out_dir, f"{audio.stem}_edit", "edit", target, pipeline, settings, device, [audio],
                                  job_options, unnumbered=first_names, output=output)  # fmt: skip
    edited, source_pixels = clip_set.run(
        sampling.edit, target, original, source_genre=_sampling.genre_value(source_genre), strength=strength,
        refinements=refine, offset_seconds=offset, source_pipeline=source, **settings.job_arguments(sampling.edit),
    )  # fmt: skip
    _sampling.write_clips(out_dir, clip_set, edited, target)
    source_image = clip_set.companion("source", ".png")
    save_png(source_image, source_pixels, target.bits, mel_config=target.mel_config)
    clip_set.record["source_image"] = source_image.name
    clip_set.finish(edited)
    _sampling.report(out_dir, 1, settings.seed, clip_set=clip_set)
