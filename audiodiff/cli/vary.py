"""`audiodiff vary`: variations of an input clip (img2img / SDEdit with a strength)."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import _sampling, common


@click.command("vary", cls=common.RenamedOptions, renamed={"--n": "--clips"})
@_sampling.pipeline_argument
@click.argument("audio", type=click.Path(path_type=Path))
@_sampling.sampling_options()
@click.option("--clips", "count", type=click.IntRange(min=1), default=4, help="Variations to make.")
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
def command(pipeline, audio, out_dir, device, strength, offset, **options):
    """Make variations of one slice of AUDIO with the diffusion PIPELINE.

    Writes OUT/<stem>_variation_<k>.wav and .png for each variation, numbered after those already in OUT, and the
    set's JSON (how to make it again; see `generate`). Prints the seed.
    """
    from audiodiff import sampling

    output = common.output_settings(options)
    settings, _ = _sampling.draw_settings(options)
    pipe = _sampling.load_pipeline(pipeline, settings, device)
    original = _sampling.load_clip(audio, pipe.sample_rate)
    _sampling.one_slice(original, pipe, offset)  # an offset outside the clip is an error about --offset
    job_options = {"strength": strength, "offset": offset}
    clip_set = _sampling.clip_set(
        out_dir,
        f"{audio.stem}_variation",
        "vary",
        pipe,
        pipeline,
        settings,
        device,
        [audio],
        job_options,
        output=output,
    )
    writer = _sampling.ClipWriter(out_dir, None, pipe, clip_set)
    clips = clip_set.run(
        sampling.vary, pipe, original, strength=strength, offset_seconds=offset,
        **settings.job_arguments(sampling.vary), on_clip=writer,
    )  # fmt: skip
    clip_set.finish(clips, _sampling.clip_commands("vary", pipeline, settings, clips, out_dir, [audio], clip_set))
    _sampling.report_checks(clips, clip_set.names)
    _sampling.report(out_dir, writer.written, settings.seed, redrawn=bool(clips.redrawn), clip_set=clip_set)
