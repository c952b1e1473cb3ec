"""`audiodiff decode`: spectrogram PNGs -> WAV files."""

from __future__ import annotations

from pathlib import Path

import click

from audiodiff.cli.common import (
    COUNT,
    Failures,
    OutputNames,
    device_option,
    load_mel_config,
    make_out_dir,
    mel_config_option,
    out_option,
    output_options,
    output_settings,
    resolve_device_or_fail,
    resolve_seed,
    seed_option,
    vocoder_options,
)


@click.command("decode")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@out_option()
@mel_config_option
@vocoder_options
@click.option("--batch-size", type=COUNT, default=8, help="Images decoded at once.")
@seed_option
@device_option
@output_options
def command(images, out_dir, mel_config_path, vocoder, n_iter, phase_init, batch_size, seed, device, **options) -> None:
    """Write <stem>.wav (or .flac with --format flac) for each spectrogram IMAGE (8- or 16-bit grayscale PNG).

    The mel settings of each image come from --mel-config, else from the image itself (the audiodiff:mel text chunk
    that `encode` and `prepare` write), else from a mel_config.json beside the first image,
    else the reference defaults. An explicit --mel-config that disagrees with an image's own settings wins, with a
    one-line warning. Two images with the same stem get distinct names (<stem>-2.wav). Unreadable or mis-sized
    images, and files that cannot be written, are reported and skipped.
    """
    import torch
    from tqdm import tqdm

    from audiodiff.audio import GENERATED_RMS, set_level
    from audiodiff.codec import SpectrogramCodec, load_png_with_mel
    from audiodiff.export import write_audio
    from audiodiff.vocoders import make_vocoder

    output = output_settings(options)

    explicit = load_mel_config(mel_config_path) if mel_config_path is not None else None
    fallback = explicit or load_mel_config(None, fallback=images[0].parent)  # for images that carry no settings
    torch_device = resolve_device_or_fail(device)
    seed = resolve_seed(seed)
    generator = torch.Generator(torch_device).manual_seed(seed)
    failures = Failures()
    names = OutputNames(out_dir)
    overridden: list[tuple[Path, str, int]] = []  # (image, first differing setting, the image's value)
    # Group by (mel settings, bit depth, width) so each batch is one tensor decoded by one codec.
    groups: dict[tuple, list[tuple[str, object]]] = {}
    for path in images:
        try:
            pixels, bits, carried = load_png_with_mel(path)
        except ValueError as error:
            failures.add(path, str(error).split(": ", 1)[-1])
            continue
        config = carried or fallback
        if explicit is not None:
            different = explicit.mismatches(carried) if carried is not None else []
            if different:
                overridden.append((path, different[0], getattr(carried, different[0])))
            config = explicit
        if pixels.shape[0] != config.n_mels:
            failures.add(path, f"image is {pixels.shape[0]} pixels high but the mel config has y_res={config.n_mels}")
            continue
        groups.setdefault((config, bits, pixels.shape[1]), []).append((names.stem_for(path), pixels))
    if overridden:
        path, key, value = overridden[0]
        click.echo(
            f"warning: {len(overridden)} image(s) carry other mel settings than --mel-config ({path}: {key}={value}, "
            f"--mel-config: {key}={getattr(explicit, key)}); --mel-config wins",
            err=True,
        )
    # One codec (and decoder) per set of mel settings, built before anything is written: a --vocoder that cannot
    # decode them stops the command with one line.
    codecs = {}
    for config in dict.fromkeys([key[0] for key in groups] or [fallback]):
        try:
            decoder = make_vocoder(vocoder, config, n_iter, phase_init)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--vocoder") from None
        codecs[config] = SpectrogramCodec(config, vocoder=decoder).to(torch_device)
    make_out_dir(out_dir)
    written = 0
    with tqdm(total=sum(len(group) for group in groups.values()), desc="decode", unit="image") as progress:
        for (config, bits, _), group in groups.items():
            codec = codecs[config]
            for start in range(0, len(group), batch_size):
                batch = group[start : start + batch_size]
                pixels = torch.stack([torch.from_numpy(item.astype("int64")) for _, item in batch])
                audio = codec.decode(codec.pixels_to_images(pixels, bits), generator=generator).cpu().numpy()
                audio = set_level(audio, GENERATED_RMS)  # an image keeps no loudness: play at the generated level
                for (stem, _), clip in zip(batch, audio):
                    target = names.path(f"{stem}{output.suffix}")
                    try:
                        write_audio(target, clip, config.sample_rate, output)
                    except (OSError, RuntimeError) as error:  # soundfile reports some write errors as RuntimeError
                        failures.write_failed(target, error)
                        continue
                    written += 1
                progress.update(len(batch))
    click.echo(f"seed {seed}")
    names.note()
    failures.finish(written, "audio file(s)")
