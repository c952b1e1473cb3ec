"""`audiodiff interpolate`: clips along a path between two seeds, or between two real clips (via DDIM inversion)."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import _sampling, common


@click.command("interpolate")
@_sampling.pipeline_argument
@_sampling.sampling_options()
@click.option(
    "--clips",
    "--frames",
    "frames",
    type=click.IntRange(min=2),
    default=5,
    help="Clips along the path, both ends included.",
)
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
    pipeline, out_dir, steps, scheduler, genre, guidance, seed, device, n_iter, phase_init, vocoder, frames, to_seed,
    from_audio, to_audio, refine,
):  # fmt: skip
    """Make --frames clips along the spherical interpolation (slerp) between two noises of the diffusion PIPELINE.

    The ends are the noises of --seed and --to-seed, or the DDIM inversions of --from-audio and --to-audio (then
    the sampler is DDIM without clipping, whatever --scheduler says). Writes OUT/interpolation_<k>.wav and .png,
    and OUT/interpolation.wav, the clips one after the other (cross-faded): the morph.
    """
    from audiodiff import sampling
    from audiodiff.audio import save_audio

    if (from_audio is None) != (to_audio is None):
        raise click.UsageError("give both --from-audio and --to-audio, or neither (to interpolate between seeds)")
    if from_audio is not None:
        scheduler = sampling.INVERTIBLE_SCHEDULER
    pipe = _sampling.load_pipeline(pipeline, scheduler, device, n_iter, phase_init, vocoder, from_audio is not None)
    seed = common.resolve_seed(seed)
    if from_audio is None:
        to_seed = seed + 1 if to_seed is None else to_seed
        ends = None
    else:
        ends = [_sampling.load_clip(path, pipe.sample_rate) for path in (from_audio, to_audio)]
    clips = _sampling.job(
        sampling.interpolate, pipe, frames=frames, seed=seed, to_seed=to_seed, clips=ends, steps=steps,
        genre=_sampling.genre_value(genre), guidance=guidance, refinements=refine,
    )  # fmt: skip
    _sampling.write_clips(out_dir, [f"interpolation_{index:03d}" for index in range(frames)], clips, pipe)
    save_audio(out_dir / "interpolation.wav", sampling.join_clips(clips.audios, clips.sample_rate), clips.sample_rate)
    click.echo(f"{frames} clip(s) written to {out_dir} (WAV + PNG), and the morph as interpolation.wav")
    if from_audio is None:
        click.echo(f"seed {seed} -> {to_seed}")
    else:
        click.echo(f"seed {seed}")
