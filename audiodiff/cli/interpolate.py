"""`audiodiff interpolate`: clips along a path between two seeds, or between two real clips (via DDIM inversion)."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli import _sampling, common


@click.command("interpolate", cls=common.RenamedOptions, renamed={"--frames": "--clips"})
@_sampling.pipeline_argument
@_sampling.sampling_options()
@click.option(
    "--clips",
    "count",
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
def command(pipeline, out_dir, device, to_seed, from_audio, to_audio, refine, **options):
    """Make --clips clips along the spherical interpolation (slerp) between two noises of the diffusion PIPELINE.

    The ends are the noises of --seed and --to-seed, or the DDIM inversions of --from-audio and --to-audio (then
    the sampler is DDIM without clipping, whatever --scheduler says). Writes OUT/interpolation_<k>.wav and .png,
    numbered after those already in OUT, the set's JSON (how to make it again; see `generate`), and the morph, the
    clips one after the other (cross-faded): OUT/interpolation.wav, or OUT/interpolation_<first>-<last>.wav when
    that exists.
    """
    from audiodiff import sampling
    from audiodiff.export import write_audio

    if (from_audio is None) != (to_audio is None):
        raise click.UsageError("give both --from-audio and --to-audio, or neither (to interpolate between seeds)")
    output = common.output_settings(options)
    settings, _ = _sampling.draw_settings(options)
    inverts = from_audio is not None
    sampler = settings.replace(scheduler=sampling.INVERTIBLE_SCHEDULER) if inverts else settings
    pipe = _sampling.load_pipeline(pipeline, sampler, device, inverts=inverts)
    seed = settings.seed
    if from_audio is None:
        to_seed = seed + 1 if to_seed is None else to_seed
        ends = None
    else:
        ends = [_sampling.load_clip(path, pipe.sample_rate) for path in (from_audio, to_audio)]
    job_options = {"to_seed": to_seed, "from_audio": from_audio, "to_audio": to_audio, "refine": refine}
    clip_set = _sampling.clip_set(out_dir, "interpolation", "interpolate", pipe, pipeline, settings, device,
                                  options=job_options, output=output)  # fmt: skip
    clips = clip_set.run(
        sampling.interpolate, pipe, to_seed=to_seed, clips=ends, refinements=refine,
        **settings.job_arguments(sampling.interpolate),
    )  # fmt: skip
    _sampling.write_clips(out_dir, clip_set, clips, pipe)
    morph = out_dir / f"interpolation{output.suffix}"
    if morph.exists():  # an earlier set's morph: this one is named after its set
        morph = out_dir / f"{clip_set.name}{output.suffix}"
    write_audio(morph, sampling.join_clips(clips.audios, clips.sample_rate), clips.sample_rate, output)
    clip_set.record["morph"] = morph.name
    clip_set.finish(clips)
    kind = clip_set.suffix[1:].upper()
    click.echo(f"{settings.count} clip(s) written to {out_dir} ({kind} + PNG), and the morph as {morph.name}; how to "
               f"make them again: {clip_set.json_path.name}")  # fmt: skip
    if from_audio is None:
        click.echo(f"seed {seed} -> {to_seed}")
    else:
        click.echo(f"seed {seed}")
