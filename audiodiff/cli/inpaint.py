"""`audiodiff inpaint`: regenerate a time range of a clip, keeping the rest; or make a clip loop seamlessly."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import _sampling, common


class _Bars(click.ParamType):
    """--bars: a whole number of bars (at least 1) or "auto"."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or str(value).lower() == "auto":
            return value if isinstance(value, int) else "auto"
        try:
            bars = int(str(value))
        except ValueError:
            bars = 0
        if bars < 1:
            self.fail(f"{value!r} is neither a whole number of bars (1 or more) nor 'auto'", param, ctx)
        return bars


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
    "--bars",
    type=_Bars(),
    default=None,
    help="Make the loop a whole number of bars of AUDIO (N, or 'auto': the most that fit in one slice, at least one) "
    "at the tempo read from it, starting on its first downbeat from --offset; only the join of the last bar into the "
    "first is regenerated (--loop SECONDS around it, default one beat), the rest is AUDIO sample for sample. The WAV "
    "carries the loop points (smpl chunk).",
)
@click.option(
    "--offset",
    type=common.NON_NEGATIVE,
    default=0.0,
    help="With --loop: seconds into AUDIO where the slice starts (with --bars: from where to look for a downbeat).",
)
@click.option("--clips", "count", type=click.IntRange(min=1), default=1, help="Alternatives to make.")
def command(pipeline, audio, out_dir, device, start, end, loop_seconds, bars, offset, **options):
    """Regenerate --start..--end seconds of AUDIO with the diffusion PIPELINE, keeping the rest; or --loop it.

    The range (at most one slice long) is regenerated inside the slice around it and spliced back with short
    cross-fades: outside it, the output is AUDIO sample for sample. Writes OUT/<stem>_inpaint_<k>.wav (the whole
    clip) and .png (the regenerated slice), or OUT/<stem>_loop_<k>.wav and .png, numbered after those already in
    OUT, and the set's JSON (how to make it again; see `generate`). Prints the seed. With --bars the loop is a whole
    number of bars long and starts on a downbeat, its WAV holds its loop points (a RIFF smpl chunk: first sample to
    last) so samplers and DAWs loop it without clicks, and the .png is the regenerated slice around the join.
    """
    from audiodiff import sampling
    from audiodiff.inpainting import InpaintRange

    looping = loop_seconds is not None or bars is not None
    if not looping and (start is None or end is None):
        raise click.UsageError("give --start and --end (seconds to regenerate), or --loop SECONDS (or --bars N|auto)")
    if looping and (start is not None or end is not None):
        raise click.UsageError(
            f"{'--loop' if loop_seconds is not None else '--bars'} cannot be combined with --start/--end"
        )
    output = common.output_settings(options)
    if bars is not None and output.format == "flac":
        raise click.UsageError(
            "--bars writes loop points (a WAV smpl chunk), which FLAC cannot hold: use a WAV --format"
        )
    settings, _ = _sampling.draw_settings(options)
    pipe = _sampling.load_pipeline(pipeline, settings, device)
    original = _sampling.load_clip(audio, pipe.sample_rate)
    if not looping:
        try:  # checked first, so that a bad range is an error about --start/--end
            InpaintRange.from_seconds(len(original), start, end, pipe.sample_rate, pipe.mel_config.slice_size)
        except ValueError as error:
            raise click.UsageError(f"--start/--end: {error}") from None
        kind, job, job_options = "inpaint", sampling.inpaint, {"start": start, "end": end}
        arguments = (start, end)
    else:
        _sampling.one_slice(original, pipe, offset)
        kind, job, job_options = "loop", sampling.loop, {"loop": loop_seconds, "bars": bars, "offset": offset}
        arguments = (loop_seconds,)
    keywords = settings.job_arguments(job)
    if job is sampling.loop:
        keywords.update(offset_seconds=offset, bars=bars)
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
    found = clips.bars
    if found is not None:
        click.echo(
            f"{found.bars} bar(s) of {found.beats_per_bar} beats at {found.tempo_bpm:.2f} bpm from the downbeat at "
            f"{found.offset_seconds:.2f} s: loops of {found.samples / clips.sample_rate:.3f} s "
            f"({found.samples} samples)"
        )
    # A bar loop's WAV holds its loop points (the whole clip); a slice loop's stays as the studio writes it.
    written = _sampling.write_clips(out_dir, clip_set, clips, pipe, loop_points=found is not None)
    clip_set.finish(clips, _sampling.clip_commands("inpaint", pipeline, settings, clips, out_dir, [audio], clip_set))
    _sampling.report(out_dir, written, settings.seed, clip_set=clip_set)
