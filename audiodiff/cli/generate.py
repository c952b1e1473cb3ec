"""`audiodiff generate`: new clips from a pipeline, of any length (denoised jointly in overlapping windows)."""

from __future__ import annotations

import click

from audiodiff.cli import _sampling, common
from audiodiff.sampling import MAX_SECONDS
from audiodiff.tempo_noise import BPM_RANGE, DEFAULT_LOCK, locked_bpm


@click.command("generate", cls=common.RenamedOptions, renamed={"--n": "--clips"})
@_sampling.pipeline_argument
@_sampling.sampling_options()
@click.option("--clips", "count", type=click.IntRange(min=1), default=1, help="Clips to generate.")
@click.option(
    "--seconds",
    type=common.FiniteFloat(min=0, min_open=True, max=MAX_SECONDS),
    default=None,
    help="Clip length. Default: one slice (x_res * hop_length samples, about 5.9 s at the reference settings); "
    "a model trained with --widths makes clips up to its widest crop in one piece; longer clips are denoised as "
    "a whole in overlapping windows of that width, so they have no joins. At most "
    f"{MAX_SECONDS:g} s: memory grows with length (about 11 MB per second of clip on the demo's model).",
)
@click.option(
    "--overlap",
    type=common.POSITIVE,
    default=None,
    help="Seconds that neighbouring windows share when a clip is longer than one window (a slice, or the widest "
    "trained width). Default: half a window.",
)
@click.option(
    "--bpm",
    type=common.FiniteFloat(min=BPM_RANGE[0], max=BPM_RANGE[1]),
    default=None,
    help="Draw the clips at this tempo: their noise repeats every two beats (at the start and at every step of a "
    "stochastic sampler such as the base's dpm-sde), so the model's onsets fall on a beat grid. Default: no tempo.",
)
@click.option(
    "--tempo-lock",
    type=common.FiniteFloat(min=0, max=1, max_open=True),
    default=None,
    help=f"With --bpm: how much of the noise repeats, 0 to below 1 (default {DEFAULT_LOCK:g}; lower: a looser beat).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=4, help="Clips sampled at once.")
@_sampling.redraw_option
def command(pipeline, out_dir, device, **options):
    """Generate clips with the diffusion PIPELINE (a folder or hub id, audiodiff's or the reference's).

    Writes OUT/generated_<k>.wav and .png for each clip, numbered after those already in OUT (nothing is
    replaced), and OUT/generated_<first>-<last>.json: the command that makes them again, the model, the sampler,
    the decoder and each clip's seed. Prints the seed.
    """
    from audiodiff import sampling

    common.make_out_dir(out_dir)  # before any sampling: an --out that cannot be made costs nothing
    output = common.output_settings(options)
    settings, _ = _sampling.draw_settings(options)
    pipe = _sampling.load_pipeline(pipeline, settings, device)
    _sampling.announce(pipe, settings.count, settings.steps, settings.seconds, settings.overlap, settings.batch_size)
    try:
        tempo = pipe.tempo_period(settings.bpm, settings.tempo_lock)  # a sampler that cannot lock: before the line
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if tempo is not None:
        mel, (_, lock) = pipe.mel_config, tempo
        click.echo(f"at {locked_bpm(settings.bpm, mel.sample_rate / mel.hop_length):.1f} BPM: {lock:g} of the noise "
                   "repeats every two beats (whole spectrogram columns)")  # fmt: skip
    clip_set = _sampling.clip_set(out_dir, "generated", "generate", pipe, pipeline, settings, device, output=output)
    writer = _sampling.ClipWriter(out_dir, None, pipe, clip_set)
    clips = clip_set.run(sampling.generate, pipe, **settings.job_arguments(sampling.generate), on_clip=writer)
    clip_set.finish(clips, _sampling.clip_commands("generate", pipeline, settings, clips, out_dir, clip_set=clip_set))
    _sampling.report_checks(clips, clip_set.names)
    _sampling.report(out_dir, writer.written, settings.seed, redrawn=bool(clips.redrawn), clip_set=clip_set)
