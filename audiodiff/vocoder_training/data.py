"""The vocoder's training data: slices of the user's music, encoded exactly as the diffusion model's images are.

Each slice (`x_res * hop_length - 1` samples, as `prepare` cuts them) is encoded by `SpectrogramCodec` to integer
pixels at the pipeline's bit depth: the dB relative to the slice's own peak, quantised. Its audio is kept beside,
scaled by `1 / sqrt(peak mel power)`, the level at which the image's mel power (peak 1) is the audio's own: the
level Griffin-Lim decodes to, so that the vocoder learns one consistent level. A training example is a random
`segment_frames`-wide window of a slice's image (a light Gaussian dither of a fraction of a quantisation level on
top: what the diffusion model emits is never exactly a training image) and the audio under it.

Sources: music folders, audio files or file lists (`data.sources.list_sources`), or a prepared spectrogram dataset,
whose `audio_file` column names the tracks and whose mel settings the vocoder then takes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from audiodiff.codec import SpectrogramCodec, levels_for, pixels_to_model
from audiodiff.config import MelConfig

logger = logging.getLogger(__name__)

# Slices quieter than this (RMS, dBFS) are fades and pauses: normalised to peak 1, they would teach amplified noise.
SILENCE_DBFS = -50.0


@dataclasses.dataclass
class VocoderData:
    """Encoded slices: `pixels` integer `(slices, n_mels, x_res)`, `audio` int16 `(slices, slice_size)` and `gains`
    float32 `(slices,)` (the target is `audio / 32767 * gain`), `tracks` the file each slice came from."""

    mel_config: MelConfig
    bits: int
    pixels: torch.Tensor
    audio: torch.Tensor
    gains: torch.Tensor
    tracks: list[str]

    def __len__(self) -> int:
        return len(self.pixels)

    def batch(
        self, batch_size: int, segment_frames: int, generator: torch.Generator, dither_levels: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch: features `(batch, n_mels, segment_frames)` in [-1, 1] and target audio
        `(batch, (segment_frames - 1) * hop_length)`, all drawn from `generator`."""
        config = self.mel_config
        frames = min(segment_frames, config.x_res)
        rows = torch.randint(0, len(self), (batch_size,), generator=generator)
        starts = torch.randint(0, config.x_res - frames + 1, (batch_size,), generator=generator)
        noise = torch.randn(batch_size, config.n_mels, frames, generator=generator)
        hop, length = config.hop_length, (frames - 1) * config.hop_length
        features, targets = [], []
        for row, start in zip(rows.tolist(), starts.tolist(), strict=True):
            features.append(self.pixels[row, :, start : start + frames])
            offset = start * hop
            targets.append(self.audio[row, offset : offset + length].float() * (self.gains[row] / 32767.0))
        images = pixels_to_model(torch.stack(features), self.bits)
        if dither_levels > 0:
            images = (images + noise * (2.0 * dither_levels / levels_for(self.bits))).clamp(-1, 1)
        return images, torch.stack(targets)

    def slice_example(self, row: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """One whole slice: features `(1, n_mels, x_res)` and audio `(1, (x_res - 1) * hop_length)` (previews)."""
        config = self.mel_config
        images = pixels_to_model(self.pixels[row : row + 1], self.bits)
        length = (config.x_res - 1) * config.hop_length
        return images, self.audio[row : row + 1, :length].float() * (self.gains[row] / 32767.0)


def source_files(sources: Sequence[str]) -> tuple[list[str], MelConfig | None, int | None]:
    """The audio files of SOURCE arguments, and the mel settings and bit depth of a prepared dataset among them.

    A prepared spectrogram dataset contributes the distinct files of its `audio_file` column; other sources go
    through `list_sources` (folders, files, file lists). Raises `ValueError` (one line) when nothing is found.
    """
    from audiodiff.data.dataset import DatasetError
    from audiodiff.data.sources import list_sources

    files: list[str] = []
    mel_config, bits = None, None
    plain = []
    for source in map(str, sources):
        dataset_mel = MelConfig.find(source) if Path(source).is_dir() else None
        if dataset_mel is not None and (Path(source) / "audiodiff_dataset.json").is_file():
            from audiodiff.data import load_spectrogram_dataset

            data = load_spectrogram_dataset(source)
            if "audio_file" not in data.dataset.column_names:
                raise ValueError(f"{source}: the dataset has no audio_file column naming its tracks")
            names = data.dataset.with_format("arrow")["audio_file"].to_pylist()
            missing = [name for name in dict.fromkeys(names) if not Path(name).is_file()]
            if missing:
                raise ValueError(f"{source}: its track {missing[0]} is not on this machine (the vocoder needs audio)")
            files.extend(dict.fromkeys(names))
            if mel_config is not None and mel_config.mismatches(data.mel_config):
                raise ValueError(f"{source}: other mel settings than the other datasets given")
            mel_config, bits = data.mel_config, data.bits
        else:
            plain.append(source)
    if plain:
        try:
            listing = list_sources(plain)
        except DatasetError as error:
            raise ValueError(str(error)) from None
        files.extend(item.path for item in listing.items if item.path is not None and item.skip_reason is None)
    files = list(dict.fromkeys(files))
    if not files:
        raise ValueError(f"no audio files in {', '.join(map(str, sources))}")
    return files, mel_config, bits


def build_data(
    files: Sequence[str],
    mel_config: MelConfig,
    bits: int = 8,
    slices_per_track: int = 32,
    max_slices: int = 2000,
    progress: bool = True,
) -> VocoderData:
    """Encode up to `slices_per_track` slices of each file (evenly spaced through it), at most `max_slices` in all
    (the per-track count is lowered to fit), skipping near-silent ones. Deterministic: the same files give the same
    data. Unreadable files are skipped with a logged warning; `ValueError` when no slice is left."""
    from audiodiff.audio import AudioError, load_audio

    codec = SpectrogramCodec(mel_config)
    size = mel_config.slice_size
    per_track = max(1, min(slices_per_track, max_slices // max(1, len(files))))
    pixels, audio, gains, tracks = [], [], [], []
    for file in tqdm(files, desc="encode slices", unit="track", disable=not progress):
        try:
            waveform = load_audio(file, mel_config.sample_rate)
        except AudioError as error:
            logger.warning("skipped %s", error)
            continue
        count = max(1, len(waveform) // size)
        chosen = np.unique(np.linspace(0, count - 1, min(per_track, count)).round().astype(int))
        pieces = np.stack([np.pad(waveform[i * size : (i + 1) * size], (0, max(0, (i + 1) * size - len(waveform))))
                           for i in chosen])  # fmt: skip
        loud = np.sqrt(np.mean(pieces**2, axis=1)) >= 10 ** (SILENCE_DBFS / 20)
        if not loud.any():
            continue
        batch = torch.from_numpy(pieces[loud]).float()
        mel_power = codec.mel_power(batch)
        quantised = codec.db_to_pixels(codec.power_to_db(mel_power), bits)
        pixels.append(quantised.to(torch.int32 if bits == 16 else torch.uint8))
        gains.append(mel_power.amax(dim=(-2, -1)).clamp(min=1e-20).rsqrt())
        audio.append((batch.clamp(-1, 1) * 32767).round().to(torch.int16))
        tracks.extend([file] * int(loud.sum()))
    if not pixels:
        raise ValueError("no audible slice in the training audio")
    return VocoderData(mel_config, bits, torch.cat(pixels), torch.cat(audio), torch.cat(gains).float(), tracks)
