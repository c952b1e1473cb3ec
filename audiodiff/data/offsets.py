"""Training windows at random offsets inside each track: more distinct images from little data.

`prepare` cuts every track on a fixed grid of slices (the reference format), so ten songs of three minutes give the
same few hundred images every epoch. With `random_offsets`, each training row (slice `i` of a track) is instead cut
from the track's audio at `i * L + shift`, the shift drawn uniformly in `[-max_shift, max_shift]` slices for every
row of every step, and encoded with the fast codec at the dataset's bit depth: what `prepare` would have written for a
slice starting there. The shifts come from a generator seeded by (seed, step), so a resumed run draws what the
uninterrupted one drew. A shifted window that is silent (below the dataset's loudness floor) falls back to the
row's own slice, as `prepare` skips silent slices.
"""

from __future__ import annotations

import numpy as np
import torch

from audiodiff.audio import AudioError, load_audio
from audiodiff.codec import SpectrogramCodec
from audiodiff.config import MelConfig

# Audio held for random offsets: at most this many samples in all (about 1.5 hours at 22050 Hz, 0.5 GB of float32).
MAX_SAMPLES = 128 * 2**20
SILENCE_RMS = 10 ** (-60 / 20)


class OffsetError(ValueError):
    """Random offsets cannot be drawn for this dataset (its audio is missing or too long); one line."""


class OffsetWindows:
    """Images `(batch, 1, n_mels, x_res)` of rows cut at random offsets from their tracks' audio.

    dataset: a prepared dataset with `audio_file` and `slice` columns (the reference format). mel_config, bits: its
    settings. max_shift: the largest shift, in slices (0.5: anywhere between the previous and the next slice).
    """

    def __init__(self, dataset, mel_config: MelConfig, bits: int, seed: int, max_shift: float = 0.5):
        columns = dataset.column_names
        if "audio_file" not in columns or "slice" not in columns:
            raise OffsetError(
                "random offsets need the dataset's audio_file and slice columns (prepare it with audiodiff prepare)"
            )
        table = dataset.with_format("arrow")
        self.files = table["audio_file"].to_pylist()
        self.slices = table["slice"].to_pylist()
        self.config, self.bits, self.seed, self.max_shift = mel_config, bits, seed, max_shift
        self.codec = SpectrogramCodec(mel_config)
        self.audio: dict[str, np.ndarray] = {}
        total = 0
        for file in dict.fromkeys(self.files):
            try:
                audio = load_audio(file, mel_config.sample_rate)
            except (AudioError, OSError) as error:
                raise OffsetError(f"random offsets need the tracks' audio: {file}: {error}") from None
            total += len(audio)
            if total > MAX_SAMPLES:
                raise OffsetError(
                    f"random offsets hold the tracks' audio in memory, and these are longer than "
                    f"{MAX_SAMPLES / mel_config.sample_rate / 3600:.1f} hours: train on the prepared slices instead"
                )
            self.audio[file] = audio.astype(np.float32)

    def images(self, rows: list[int], step: int) -> torch.Tensor:
        """The images of `rows` (one micro-batch) for optimizer step `step` (0-based), `(len(rows), 1, n_mels,
        x_res)` in [-1, 1]: a pure function of (seed, step, rows), so that a resumed run sees the same images."""
        size = self.config.slice_size
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + step) * 1_000_033 + rows[0])
        shifts = ((torch.rand(len(rows), generator=generator) * 2 - 1) * self.max_shift * size).round().long()
        windows = []
        for row, shift in zip(rows, shifts.tolist()):
            audio = self.audio[self.files[row]]
            home = self.slices[row] * size
            start = min(max(0, home + shift), max(0, len(audio) - size))
            window = audio[start : start + size]
            if len(window) < size or np.sqrt(np.mean(window.astype(np.float64) ** 2)) < SILENCE_RMS:
                window = audio[home : home + size]
            windows.append(np.pad(window, (0, size - len(window))))
        return self.codec.encode(torch.from_numpy(np.stack(windows)), bits=self.bits)
