"""Benchmark: dataset preparation with `audiodiff prepare` against the reference `audio_to_images.py` loop.

Both turn the same folder of real-length music (synthesized, 44.1 kHz stereo, so resampling and mono mix-down are
real work) into the same rows (image, audio_file, slice) at the reference settings (256x256, 22050 Hz) and save
them with `save_to_disk`. The reference loop is audio-diffusion's `scripts/audio_to_images.py`: `librosa.load` per
file, diffusers' deprecated `Mel.audio_slice_to_image` per slice, PNG per slice, one process. audiodiff runs with
`--num-proc` workers (default: the usable cores).

Prints audio-hours prepared per minute of wall time for both, the ratio, and how many rows agree pixel for pixel.
The last line is `RESULT prepare_ratio=<audiodiff / reference>`.

    python scripts/bench_prepare.py [--tracks 6] [--seconds 60] [--num-proc N]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from audiodiff.config import MelConfig
from audiodiff.data import default_num_proc, prepare_dataset
from audiodiff.synth import GENRES, synthesize
from benchlib.machine import machine_line


def write_music(folder: Path, tracks: int, seconds: float, sample_rate: int = 44100) -> float:
    """`tracks` per genre of `seconds` each, stereo (the right channel a different take); returns total seconds."""
    total = 0.0
    for genre in GENRES:
        for track in range(tracks):
            left = synthesize(genre, seconds, sample_rate, seed=track)
            right = synthesize(genre, seconds, sample_rate, seed=1000 + track)
            path = folder / genre / f"{genre}_{track}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, np.stack([left, right], axis=1), sample_rate, subtype="PCM_16")
            total += seconds
    return total


def reference_prepare(input_dir: Path, output_dir: Path, config: MelConfig) -> int:
    """audio_to_images.py, with diffusers' copy of `Mel`: one file, one slice at a time. Returns rows written."""
    import pandas as pd
    from datasets import Dataset, DatasetDict, Features, Image, Value
    from diffusers.pipelines.deprecated.audio_diffusion import Mel

    mel = Mel(
        x_res=config.x_res,
        y_res=config.y_res,
        sample_rate=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        top_db=config.top_db,
    )
    audio_files = [
        os.path.join(root, file)
        for root, _, files in os.walk(input_dir)
        for file in files
        if re.search(r"\.(mp3|wav|m4a)$", file, re.IGNORECASE)
    ]
    examples = []
    for audio_file in audio_files:
        try:
            mel.load_audio(audio_file)
        except Exception:
            continue
        for slice_index in range(mel.get_number_of_slices()):
            image = mel.audio_slice_to_image(slice_index)
            if all(np.frombuffer(image.tobytes(), dtype=np.uint8) == 255):
                continue
            with io.BytesIO() as output:
                image.save(output, format="PNG")
                data = output.getvalue()
            examples.append({"image": {"bytes": data}, "audio_file": audio_file, "slice": slice_index})
    features = Features({"image": Image(), "audio_file": Value(dtype="string"), "slice": Value(dtype="int16")})
    dataset = Dataset.from_pandas(pd.DataFrame(examples), features=features)
    DatasetDict({"train": dataset}).save_to_disk(str(output_dir))
    return len(examples)


def compare(reference_dir: Path, ours_dir: Path) -> tuple[int, float, int]:
    """(rows matched by (audio_file, slice), fraction of equal pixels, largest pixel difference)."""
    from datasets import load_from_disk

    from audiodiff.codec import pil_to_pixels

    reference = {(row["audio_file"], row["slice"]): row["image"] for row in load_from_disk(str(reference_dir))["train"]}
    matched = equal = total = largest = 0
    for row in load_from_disk(str(ours_dir)):
        other = reference.get((row["audio_file"], row["slice"]))
        if other is None:
            continue
        matched += 1
        difference = np.abs(pil_to_pixels(row["image"])[0].astype(int) - pil_to_pixels(other)[0].astype(int))
        equal += int((difference == 0).sum())
        total += difference.size
        largest = max(largest, int(difference.max()))
    return matched, equal / max(total, 1), largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=6, help="tracks per genre (3 genres)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each track")
    parser.add_argument("--num-proc", type=int, default=None, help="audiodiff workers (default: usable cores)")
    args = parser.parse_args()
    num_proc = args.num_proc or default_num_proc()
    print(machine_line(keys=None))
    print("command:", shlex.join([sys.executable, *sys.argv]))
    config = MelConfig()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        seconds = write_music(folder / "music", args.tracks, args.seconds)
        for path in (folder / "music").rglob("*.wav"):
            path.read_bytes()  # both runs start with the files in the page cache
        # One-time costs (lazy imports, the resampler's and FFT's set-up) are paid before timing, for both.
        write_music(folder / "warm-up", 1, 6.0)
        reference_prepare(folder / "warm-up", folder / "warm-up-reference", config)
        prepare_dataset([folder / "warm-up"], folder / "warm-up-ours", config, num_proc=num_proc, progress=False)
        hours = seconds / 3600
        print(
            f"workload: {len(GENRES) * args.tracks} files x {args.seconds:g} s, 44.1 kHz stereo WAV = {hours:.3f} h; "
            f"{config.x_res}x{config.y_res} px at {config.sample_rate} Hz"
        )

        start = time.perf_counter()
        reference_rows = reference_prepare(folder / "music", folder / "reference", config)
        reference_seconds = time.perf_counter() - start
        reference_rate = hours / (reference_seconds / 60)
        print(
            f"reference  (audio_to_images.py loop, 1 process): {reference_seconds:7.2f} s, {reference_rows} rows, "
            f"{reference_rate:.3f} audio-h/min"
        )

        start = time.perf_counter()
        summary = prepare_dataset(
            [folder / "music"], folder / "ours", config, genre_from="folder", num_proc=num_proc, progress=False
        )
        ours_seconds = time.perf_counter() - start
        ours_rate = hours / (ours_seconds / 60)
        print(
            f"audiodiff  (prepare, {num_proc} processes):          {ours_seconds:7.2f} s, "
            f"{summary.slices_written} rows, {ours_rate:.3f} audio-h/min"
        )

        matched, equal, largest = compare(folder / "reference", folder / "ours")
        print(
            f"agreement: {matched}/{reference_rows} rows matched by (audio_file, slice); {100 * equal:.2f}% of pixels "
            f"equal, largest difference {largest} (float rounding: torch vs numpy STFT)"
        )
    ratio = ours_rate / reference_rate
    print(f"speed-up: {ratio:.2f}x (target >= 2x on 2 cores)")
    print(f"RESULT prepare_ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
