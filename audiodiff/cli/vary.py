"""`audiodiff vary`: variations of an input clip (img2img / SDEdit with a strength)."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import _sampling, common


@click.command("vary")
@_sampling.pipeline_argument
@click.argument("audio", type=click.Path(path_type=Path))
@_sampling.sampling_options()
@click.option("--clips", "--n", "count", type=click.IntRange(min=1), default=4, help="Variations to make.")
@click.option(
    "--strength",
    type=click.FloatRange(0, 1),
    default=0.5,
    help="How much to change: 0 keeps the clip, 1 ignores it. The reference's start_step is steps * (1 - strength).",
)
@click.option(
    "--offset", type=common.NON_NEGATIVE, default=0.0, help="Seconds into AUDIO where the slice to vary starts."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=4, help="Variations sampled at once.")
@_sampling.redraw_option
def command(
    pipeline, audio, out_dir, steps, scheduler, genre, guidance, seed, device, n_iter, phase_init, vocoder, count,
    strength, offset, batch_size, redraw,
):  # fmt: skip
    """Make variations of one slice of AUDIO with the diffusion PIPELINE.

    Writes OUT/<stem>_variation_<k>.wav and .png for each variation and prints the seed.
    """
    from audiodiff import sampling

    pipe = _sampling.load_pipeline(pipeline, scheduler, device, n_iter, phase_init, vocoder)
    original = _sampling.load_clip(audio, pipe.sample_rate)
    _sampling.one_slice(original, pipe, offset)  # an offset outside the clip is an error about --offset
    seed = common.resolve_seed(seed)
    names = [f"{audio.stem}_variation_{index:03d}" for index in range(count)]
    writer = _sampling.ClipWriter(out_dir, names, pipe)
    clips = _sampling.job(
        sampling.vary, pipe, original, count=count, seed=seed, strength=strength, offset_seconds=offset, steps=steps,
        genre=_sampling.genre_value(genre), guidance=guidance, batch_size=batch_size, redraw=redraw, on_clip=writer,
    )  # fmt: skip
    _sampling.report_checks(clips, names)
    _sampling.report(out_dir, writer.written, seed, redrawn=bool(clips.redrawn))
