"""`audiodiff inpaint`: regenerate a time range of a clip, keeping the rest; or make a clip loop seamlessly."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import _sampling, common


@click.command("inpaint", cls=common.RenamedOptions, renamed={"--n": "--clips"})
@_sampling.pipeline_argument
@click.argument("audio", type=click.Path(path_type=Path))
@_sampling.sampling_options()
@click.option(
    "--start", type=common.NON_NEGATIVE, default=None, help="Start of the range to regenerate, in seconds into AUDIO."
)
@click.option(
    "--end", type=common.POSITIVE, default=None, help="End of the range to regenerate, in seconds into AUDIO."
)
@click.option(
    "--loop",
    "loop_seconds",
    type=common.POSITIVE,
    default=None,
    help="Instead of a range: make one slice (from --offset) loop, regenerating this many seconds around the point "
    "where its end wraps to its start.",
)
@click.option(
    "--offset", type=common.NON_NEGATIVE, default=0.0, help="With --loop: seconds into AUDIO where the slice starts."
)
@click.option("--clips", "count", type=click.IntRange(min=1), default=1, help="Alternatives to make.")
def command(pipeline, audio, out_dir, device, start, end, loop_seconds, offset, **options):
    """Regenerate --start..--end seconds of AUDIO with the diffusion PIPELINE, keeping the rest; or --loop it.

    The range (at most one slice long) is regenerated inside the slice around it and spliced back with short
    cross-fades: outside it, the output is AUDIO sample for sample. Writes OUT/<stem>_inpaint_<k>.wav (the whole
    clip) and .png (the regenerated slice), or OUT/<stem>_loop_<k>.wav and .png, numbered after those already in
    OUT, and the set's JSON (how to make it again; see `generate`). Prints the seed.
    """
    from audiodiff import sampling
    from audiodiff.inpainting import InpaintRange

    if loop_seconds is None and (start is None or end is None):
        raise click.UsageError("give --start and --end (seconds to regenerate), or --loop SECONDS")
    if loop_seconds is not None and (start is not None or end is not None):
        raise click.UsageError("--loop cannot be combined with --start/--end")
    output = common.output_settings(options)
    settings, _ = _sampling.draw_settings(options)
    pipe = _sampling.load_pipeline(pipeline, settings, device)
    original = _sampling.load_clip(audio, pipe.sample_rate)
    if loop_seconds is None:
        try:  # checked first, so that a bad range is an error about --start/--end
            InpaintRange.from_seconds(len(original), start, end, pipe.sample_rate, pipe.mel_config.slice_size)
        except ValueError as error:
            raise click.UsageError(f"--start/--end: {error}") from None
        kind, job, job_options = "inpaint", sampling.inpaint, {"start": start, "end": end}
        arguments = (start, end)
    else:
        _sampling.one_slice(original, pipe, offset)
        kind, job, job_options = "loop", sampling.loop, {"loop": loop_seconds, "offset": offset}
        arguments = (loop_seconds,)
    keywords = settings.job_arguments(job)
    if job is sampling.loop:
        keywords["offset_seconds"] = offset
    clip_set = _sampling.clip_set(
        out_dir,
        f"{audio.stem}_{kind}",
        "inpaint",
        pipe,
        pipeline,
        settings,
        device,
        [audio],
        job_options,
        output=output,
    )
    clips = clip_set.run(job, pipe, original, *arguments, **keywords)
    written = _sampling.write_clips(out_dir, clip_set, clips, pipe)
    clip_set.finish(clips, _sampling.clip_commands("inpaint", pipeline, settings, clips, out_dir, [audio], clip_set))
    _sampling.report(out_dir, written, settings.seed, clip_set=clip_set)
