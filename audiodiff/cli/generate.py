"""`audiodiff generate`: new clips from a pipeline, of any length (continued by outpainting past one slice)."""

from __future__ import annotations

import click

from audiodiff.cli import _sampling, common


@click.command("generate")
@_sampling.pipeline_argument
@_sampling.sampling_options()
@click.option("--n", "count", type=click.IntRange(min=1), default=1, help="Clips to generate.")
@click.option(
    "--seconds",
    type=common.POSITIVE,
    default=None,
    help="Clip length. Default: one slice (x_res * hop_length samples, about 5.9 s at the reference settings); "
    "longer clips are continued slice by slice, each overlapping the last (outpainting), without gaps or clicks.",
)
@click.option(
    "--overlap",
    type=common.POSITIVE,
    default=None,
    help="Seconds each new slice shares with the previous one when continuing. Default: a third of a slice.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=4, help="Clips sampled at once.")
def command(
    pipeline, out_dir, steps, scheduler, genre, guidance, seed, device, n_iter, count, seconds, overlap, batch_size
):
    """Generate clips with the diffusion PIPELINE (a folder or hub id, audiodiff's or the reference's).

    Writes OUT/generated_<k>.wav and .png for each clip and prints the seed.
    """
    from audiodiff import sampling

    pipe = _sampling.load_pipeline(pipeline, scheduler, device, n_iter)
    seed = common.resolve_seed(seed)
    clips = _sampling.job(
        sampling.generate, pipe, count=count, seed=seed, steps=steps, genre=_sampling.genre_value(genre),
        guidance=guidance, seconds=seconds, overlap_seconds=overlap, batch_size=batch_size,
    )  # fmt: skip
    written = _sampling.write_clips(out_dir, [f"generated_{index:03d}" for index in range(count)], clips, pipe)
    _sampling.report(out_dir, written, seed)
