"""`audiodiff interpolate`: clips along a path between two seeds, or between two real clips (via DDIM inversion)."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import _sampling, common
from audiodiff.utils import first_line


@click.command("interpolate")
@_sampling.pipeline_argument
@_sampling.sampling_options()
@click.option("--frames", type=click.IntRange(min=2), default=5, help="Clips along the path, both ends included.")
@click.option("--to-seed", type=common.SEED, default=None, help="Seed of the other end. Default: --seed + 1.")
@click.option(
    "--from-audio",
    type=click.Path(path_type=Path),
    default=None,
    help="Interpolate between two clips instead of two seeds (with --to-audio): both are inverted with DDIM.",
)
@click.option("--to-audio", type=click.Path(path_type=Path), default=None, help="The other clip, with --from-audio.")
@click.option("--refine", type=click.IntRange(min=0), default=2, help="With clips: inversion refinements per step.")
def command(
    pipeline, out_dir, steps, scheduler, genre, guidance, seed, device, frames, to_seed, from_audio, to_audio, refine
):
    """Make --frames clips along the spherical interpolation (slerp) between two noises of the diffusion PIPELINE.

    The ends are the noises of --seed and --to-seed, or the DDIM inversions of --from-audio and --to-audio (then
    the sampler is DDIM without clipping, whatever --scheduler says). Writes OUT/interpolation_<k>.wav and .png.
    """
    import numpy as np
    import torch

    from audiodiff import editing

    if (from_audio is None) != (to_audio is None):
        raise click.UsageError("give both --from-audio and --to-audio, or neither (to interpolate between seeds)")
    if from_audio is not None:
        scheduler = "ddim-exact"
    pipe = _sampling.load_pipeline(pipeline, scheduler, device)
    seed = common.resolve_seed(seed)
    steps = steps or pipe.default_steps
    genre = _sampling.genre_value(genre)
    if from_audio is None:
        to_seed = seed + 1 if to_seed is None else to_seed
        ends = pipe.prepare_latents(2, [torch.Generator().manual_seed(seed), torch.Generator().manual_seed(to_seed)])
    else:
        clips = np.stack([_sampling.one_slice(_sampling.load_clip(path, pipe.sample_rate), pipe, 0.0)
                          for path in (from_audio, to_audio)])  # fmt: skip
        try:
            ends = pipe.invert(clips, num_inference_steps=steps, genre=genre, refinements=refine)
        except ValueError as error:
            raise click.UsageError(first_line(error)) from None
    path = editing.interpolation_path(ends[0], ends[1], frames)
    output = _sampling.run(
        pipe, latents=path, num_inference_steps=steps, genre=genre, guidance_scale=guidance,
        generator=_sampling.generators(seed, frames),
    )  # fmt: skip
    for index in range(frames):
        _sampling.write_clip(out_dir, f"interpolation_{index:03d}", output.audios[index], output.images[index], pipe)
    click.echo(f"{frames} clip(s) written to {out_dir} (WAV + PNG)")
    if from_audio is None:
        click.echo(f"seed {seed} -> {to_seed}")
    else:
        click.echo(f"seed {seed}")
