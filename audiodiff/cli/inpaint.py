"""`audiodiff inpaint`: regenerate a time range of a clip, keeping the rest; or make a clip loop seamlessly."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import _sampling, common


@click.command("inpaint")
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
@click.option("--clips", "--n", "count", type=click.IntRange(min=1), default=1, help="Alternatives to make.")
def command(
    pipeline, audio, out_dir, steps, scheduler, genre, guidance, seed, device, n_iter, phase_init, vocoder, start, end,
    loop_seconds, offset, count,
):  # fmt: skip
    """Regenerate --start..--end seconds of AUDIO with the diffusion PIPELINE, keeping the rest; or --loop it.

    The range (at most one slice long) is regenerated inside the slice around it and spliced back with short
    cross-fades: outside it, the output is AUDIO sample for sample. Writes OUT/<stem>_inpaint_<k>.wav (the whole
    clip) and .png (the regenerated slice), or OUT/<stem>_loop_<k>.wav and .png, and prints the seed.
    """
    from audiodiff import sampling
    from audiodiff.inpainting import InpaintRange

    if loop_seconds is None and (start is None or end is None):
        raise click.UsageError("give --start and --end (seconds to regenerate), or --loop SECONDS")
    if loop_seconds is not None and (start is not None or end is not None):
        raise click.UsageError("--loop cannot be combined with --start/--end")
    pipe = _sampling.load_pipeline(pipeline, scheduler, device, n_iter, phase_init, vocoder)
    original = _sampling.load_clip(audio, pipe.sample_rate)
    seed = common.resolve_seed(seed)
    shared = dict(count=count, seed=seed, steps=steps, genre=_sampling.genre_value(genre), guidance=guidance)
    if loop_seconds is None:
        try:  # checked first, so that a bad range is an error about --start/--end
            InpaintRange.from_seconds(len(original), start, end, pipe.sample_rate, pipe.mel_config.slice_size)
        except ValueError as error:
            raise click.UsageError(f"--start/--end: {error}") from None
        clips = _sampling.job(sampling.inpaint, pipe, original, start, end, **shared)
        kind = "inpaint"
    else:
        _sampling.one_slice(original, pipe, offset)
        clips = _sampling.job(sampling.loop, pipe, original, loop_seconds, offset_seconds=offset, **shared)
        kind = "loop"
    names = [f"{audio.stem}_{kind}_{index:03d}" for index in range(count)]
    _sampling.report(out_dir, _sampling.write_clips(out_dir, names, clips, pipe), seed)
