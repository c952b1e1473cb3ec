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
@click.option("--clips", "--n", "count", type=click.IntRange(min=1), default=1, help="Alternatives to make.")
def command(
    pipeline, audio, out_dir, steps, scheduler, genre, guidance, seed, device, n_iter, phase_init, vocoder, start, end,
    loop_seconds, bars, offset, count,
):  # fmt: skip
    """Regenerate --start..--end seconds of AUDIO with the diffusion PIPELINE, keeping the rest; or --loop it.

    The range (at most one slice long) is regenerated inside the slice around it and spliced back with short
    cross-fades: outside it, the output is AUDIO sample for sample. Writes OUT/<stem>_inpaint_<k>.wav (the whole
    clip) and .png (the regenerated slice), or OUT/<stem>_loop_<k>.wav and .png, and prints the seed. With --bars
    the loop is a whole number of bars long and starts on a downbeat, its WAV holds its loop points (a RIFF smpl
    chunk: first sample to last) so samplers and DAWs loop it without clicks, and the .png is the regenerated slice
    around the join.
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
    pipe = _sampling.load_pipeline(pipeline, scheduler, device, n_iter, phase_init, vocoder)
    original = _sampling.load_clip(audio, pipe.sample_rate)
    seed = common.resolve_seed(seed)
    shared = dict(count=count, seed=seed, steps=steps, genre=_sampling.genre_value(genre), guidance=guidance)
    if not looping:
        try:  # checked first, so that a bad range is an error about --start/--end
            InpaintRange.from_seconds(len(original), start, end, pipe.sample_rate, pipe.mel_config.slice_size)
        except ValueError as error:
            raise click.UsageError(f"--start/--end: {error}") from None
        clips = _sampling.job(sampling.inpaint, pipe, original, start, end, **shared)
        names = [f"{audio.stem}_inpaint_{index:03d}" for index in range(count)]
        _sampling.report(out_dir, _sampling.write_clips(out_dir, names, clips, pipe), seed)
        return
    _sampling.one_slice(original, pipe, offset)
    clips = _sampling.job(sampling.loop, pipe, original, loop_seconds, offset_seconds=offset, bars=bars, **shared)
    if clips.bars is not None:
        found = clips.bars
        click.echo(
            f"{found.bars} bar(s) of {found.beats_per_bar} beats at {found.tempo_bpm:.2f} bpm from the downbeat at "
            f"{found.offset_seconds:.2f} s: loops of {found.samples / clips.sample_rate:.3f} s "
            f"({found.samples} samples)"
        )
    names = [f"{audio.stem}_loop_{index:03d}" for index in range(count)]
    _sampling.report(out_dir, _write_loops(out_dir, names, clips, pipe), seed)


def _write_loops(out_dir: Path, names: list[str], clips, pipe) -> int:
    """`<name>.wav` and `<name>.png` for each loop; a bar loop's WAV also holds its loop points (the whole clip, a
    RIFF smpl chunk). A slice loop's WAV stays as the studio writes it (the studio's page shows the command that
    remakes a result byte for byte)."""
    from audiodiff.codec import save_png
    from audiodiff.export import write_audio

    if clips.bars is None:
        return _sampling.write_clips(out_dir, names, clips, pipe)
    for name, audio, pixels in zip(names, clips.audios, clips.images, strict=True):
        write_audio(out_dir / f"{name}.wav", audio, clips.sample_rate, loop=(0, len(audio)))
        save_png(out_dir / f"{name}.png", pixels, clips.bits)
    return len(names)
