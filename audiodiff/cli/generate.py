"""`audiodiff generate`: new clips from a pipeline, of any length (denoised jointly in overlapping windows)."""

from __future__ import annotations

import click

from audiodiff.cli import _sampling, common
from audiodiff.sampling import MAX_SECONDS


@click.command("generate")
@_sampling.pipeline_argument
@_sampling.sampling_options()
@click.option("--clips", "--n", "count", type=click.IntRange(min=1), default=1, help="Clips to generate.")
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
@click.option("--batch-size", type=click.IntRange(min=1), default=4, help="Clips sampled at once.")
@_sampling.redraw_option
def command(
    pipeline, out_dir, steps, scheduler, genre, guidance, seed, device, n_iter, phase_init, vocoder, count, seconds,
    overlap, batch_size, redraw,
):  # fmt: skip
    """Generate clips with the diffusion PIPELINE (a folder or hub id, audiodiff's or the reference's).

    Writes OUT/generated_<k>.wav and .png for each clip and prints the seed.
    """
    from audiodiff import sampling

    common.make_out_dir(out_dir)  # before any sampling: an --out that cannot be made costs nothing
    pipe = _sampling.load_pipeline(pipeline, scheduler, device, n_iter, phase_init, vocoder)
    seed = common.resolve_seed(seed)
    _sampling.announce(pipe, count, steps, seconds, overlap, batch_size)
    names = [f"generated_{index:03d}" for index in range(count)]
    writer = _sampling.ClipWriter(out_dir, names, pipe)
    clips = _sampling.job(
        sampling.generate, pipe, count=count, seed=seed, steps=steps, genre=_sampling.genre_value(genre),
        guidance=guidance, seconds=seconds, overlap_seconds=overlap, batch_size=batch_size, redraw=redraw,
        on_clip=writer,
    )  # fmt: skip
    _sampling.report_checks(clips, names)
    _sampling.report(out_dir, writer.written, seed, redrawn=bool(clips.redrawn))
