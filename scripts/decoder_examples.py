"""Example PNG/WAV pairs of the decoders: one held-out real-music clip through each, for README's "Decoders".

A slice of a track that no vocoder training saw is encoded to an 8-bit image at the reference 256x256 settings,
as `audiodiff prepare` encodes, and decoded by fast Griffin-Lim from random phase (the default), from the PGHI
phase, and by a trained vocoder folder. Writes, into --out:

    original.wav, griffinlim-random.wav, griffinlim-pghi.wav, vocoder.wav, vocoder-gl16.wav
                   the first --seconds of each decoding
    SOURCE.txt     the track's package, license and copyright notice (from the collection's licenses folder)
    decoders.png   one row per WAV: a linear-frequency STFT (1024-point, hop 64: finer in time than the image, so
                   smeared transients and phasiness show) up to --max-hz, dB against the original's peak, with the
                   clip's MR-STFT distance to the original in the label

    .venv/bin/python scripts/decoder_examples.py --vocoder VOC256 [--track rock/sectoid--Metal_madness.wav] [--at 40]
        [--seconds 3] [--out docs/decoders]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from audiodiff.audio import load_audio, save_audio
from audiodiff.codec import SpectrogramCodec
from audiodiff.config import MelConfig
from audiodiff.figures import spectrogram_picture
from audiodiff.vocoder_training.losses import match_gain, multi_resolution_stft_distance
from audiodiff.vocoders import GriffinLimVocoder, load_vocoder
from benchlib.collection import manifest

N_FFT, HOP, TOP_DB = 1024, 64, 80.0


def picture_of(audio: torch.Tensor, peak_db: float, sample_rate: int, max_hz: float) -> Image.Image:
    """`(time,)` audio as a linear-frequency spectrogram picture, 0 dB = `peak_db`, `TOP_DB` of range."""
    spectrum = torch.stft(audio, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True).abs()
    bins = int(max_hz / (sample_rate / N_FFT)) + 1
    decibels = 20 * torch.log10(spectrum[:bins].clamp(min=1e-10)) - peak_db
    return spectrogram_picture((decibels / TOP_DB * 2 + 1).clamp(-1, 1), HOP / sample_rate, height=bins)


def write_source(collection: Path, track: str, at: float, seconds: float, path: Path) -> None:
    """The excerpt's provenance: the collection's manifest row and the package's copyright file."""
    row = next(row for row in manifest(collection) if row["file"] == track)
    notice = (collection / "licenses" / f"{row['package']}.copyright").read_text()
    path.write_text(
        f"The WAVs here are {seconds:.0f} s from {at:.0f} s into {row['source']} of the Debian package "
        f"{row['package']} {row['version']} ({row['license']}, {row['copyright']}), decoded as described in "
        f"scripts/decoder_examples.py. The package's copyright file:\n\n{notice}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocoder", required=True, help="a vocoder folder trained for the reference settings")
    parser.add_argument("--collection", type=Path, default=None, help="real-music folder (default: real_music.py's)")
    parser.add_argument("--track", default="rock/sectoid--Metal_madness.wav", help="a held-out track (MIT licence)")
    parser.add_argument("--at", type=float, default=40.0, help="where the slice starts, seconds")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the WAVs and the picture")
    parser.add_argument("--max-hz", type=float, default=6000.0, help="top of the pictures' frequency axis")
    parser.add_argument("--out", type=Path, default=Path("docs/decoders"))
    args = parser.parse_args()
    if args.collection is None:
        from real_music import ensure_collection

        args.collection = ensure_collection(log=lambda line: None)
    config = MelConfig()
    audio = load_audio(args.collection / args.track, config.sample_rate)
    start = int(args.at * config.sample_rate)
    original = torch.from_numpy(np.ascontiguousarray(audio[start : start + config.slice_size])).float()[None]
    if original.shape[-1] < config.slice_size:
        sys.exit(f"{args.track}: shorter than {args.at} s + one slice")
    codec = SpectrogramCodec(config)
    mel_power = codec.images_to_mel_power(codec.encode(original, bits=8))
    decoders = {
        "griffinlim-random": ("fast Griffin-Lim 32, random phase (default)", GriffinLimVocoder(config, 32)),
        "griffinlim-pghi": ("fast Griffin-Lim 32, PGHI phase", GriffinLimVocoder(config, 32, phase_init="pghi")),
        "vocoder": (f"vocoder ({Path(args.vocoder).name})", load_vocoder(args.vocoder, config)),
        "vocoder-gl16": ("the vocoder refined by 16 Griffin-Lim iterations (--n-iter 16)",
                         load_vocoder(args.vocoder, config)),
    }  # fmt: skip
    decoders["vocoder-gl16"][1].refine_iterations = 16
    length = int(args.seconds * config.sample_rate)
    rows = [("original (the image's source)", original[0, :length], None)]
    args.out.mkdir(parents=True, exist_ok=True)
    save_audio(args.out / "original.wav", original[0, :length], config.sample_rate)
    for name, (label, decoder) in decoders.items():
        decoded = decoder(mel_power, generator=torch.Generator().manual_seed(0)).float()
        decoded = match_gain(original[:, : decoded.shape[-1]], decoded)  # an image keeps no level: the original's
        distance = multi_resolution_stft_distance(original[:, : decoded.shape[-1]], decoded, gain=False).item()
        rows.append((label, decoded[0, :length], distance))
        save_audio(args.out / f"{name}.wav", decoded[0, :length], config.sample_rate)
    reference = torch.stft(original[0, :length], N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    peak_db = 20 * torch.log10(reference.abs().max().clamp(min=1e-10)).item()
    pictures = [picture_of(clip, peak_db, config.sample_rate, args.max_hz) for _, clip, _ in rows]
    width, label_height = max(picture.width for picture in pictures), 18
    sheet = Image.new("RGB", (width, sum(picture.height + label_height for picture in pictures)), "white")
    draw, top = ImageDraw.Draw(sheet), 0
    for (label, _, distance), picture in zip(rows, pictures, strict=True):
        text = label if distance is None else f"{label}: MR-STFT {distance:.3f} on the whole {config.x_res}-frame slice"
        draw.text((4, top + 3), text, fill="black")
        sheet.paste(picture, (0, top + label_height))
        top += picture.height + label_height
    sheet.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(args.out / "decoders.png")  # a third the bytes
    write_source(args.collection, args.track, args.at, args.seconds, args.out / "SOURCE.txt")
    where = f"{args.track} at {args.at:.0f} s, 0-{args.max_hz:.0f} Hz"
    print(f"wrote {args.out}/decoders.png and {len(rows)} WAVs ({where})")
    summary = " ".join(f"{name}={row[2]:.4f}" for name, row in zip(decoders, rows[1:], strict=True))
    print(f"RESULT {summary}")


if __name__ == "__main__":
    main()
