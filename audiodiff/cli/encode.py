"""`audiodiff encode`: audio files -> one spectrogram PNG per slice."""

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
    resolve_device_or_fail,
)


@click.command("encode")
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@out_option()
@mel_config_option
@click.option("--bits", type=click.Choice(["8", "16"]), default="8", help="PNG bit depth (8 = reference format).")
@click.option("--batch-size", type=COUNT, default=16, help="Slices encoded at once.")
@device_option
def command(audio, out_dir, mel_config_path, bits, batch_size, device) -> None:
    """Write <stem>_<slice>.png for each slice of each AUDIO file, and OUT/mel_config.json.

    Each PNG carries its mel settings and bit depth in a text chunk (audiodiff:mel), so `audiodiff decode` needs no
    --mel-config for it; the reference tools read the pixels only, which the chunk leaves unchanged.

    Files shorter than one slice are zero-padded to one slice, as in the reference. Two inputs with the same stem
    get distinct names (<stem>-2_<slice>.png). Unreadable files, and files that cannot be written, are reported and
    skipped; the exit status is 1 if any was.
    """
    import torch
    from tqdm import tqdm

    from audiodiff.audio import AudioError, load_audio, slice_audio
    from audiodiff.codec import SpectrogramCodec, save_png

    config = load_mel_config(mel_config_path)
    codec = SpectrogramCodec(config).to(resolve_device_or_fail(device))
    bit_depth = int(bits)
    make_out_dir(out_dir)
    failures = Failures()
    names = OutputNames(out_dir)
    try:
        config.save(names.path("mel_config.json"))
    except OSError as error:
        failures.write_failed(out_dir / "mel_config.json", error)
    written = 0
    for path in tqdm(audio, desc="encode", unit="file", disable=len(audio) < 2):
        try:
            slices = slice_audio(load_audio(path, config.sample_rate), config.slice_size)
        except AudioError as error:
            failures.add(error.source, error.reason)
            continue
        stem = names.stem_for(path)
        for start in range(0, len(slices), batch_size):
            pixels = codec.audio_to_pixels(torch.from_numpy(slices[start : start + batch_size]), bit_depth).cpu()
            for offset, image in enumerate(pixels):
                target = names.path(f"{stem}_{start + offset:04d}.png")
                try:
                    save_png(target, image.numpy(), bit_depth, mel_config=config)
                except OSError as error:
                    failures.write_failed(target, error)
                    continue
                written += 1
    names.note()
    failures.finish(written, "spectrogram image(s)")
