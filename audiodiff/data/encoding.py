"""Encoding one track: decode, resample, slice, encode each slice as a PNG, measure its loudness, skip silence.

`process_track` is the unit of work of `prepare` (run in worker processes); it writes the track's part into the
work folder (`workdir.py`) and returns the track's record.

Memory of one track: its mono float32 audio at the codec rate (`load_audio`), plus one batch of slices being encoded
(`EncodeSettings.batch_size`), plus the kept PNG bytes; nothing copies the whole track. Measured on a 1-hour 44.1 kHz
stereo WAV at the reference settings: 0.51 GB above the worker's starting size for 0.32 GB of mono audio (it was
0.95 GB: a float64 copy of the track and 64-slice batches); a 3-hour file needs about 1.2 GB.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiodiff.audio import AudioError, audio_info, load_audio, slice_audio
from audiodiff.codec import SpectrogramCodec, encode_png, levels_for
from audiodiff.config import MelConfig
from audiodiff.data.workdir import write_part
from audiodiff.utils import first_line

# Bump when the bytes a part holds change for the same settings, so old parts are not reused. 2: the images carry
# their mel settings (a PNG text chunk).
PART_VERSION = 2
DEFAULT_MIN_LOUDNESS_DB = -60.0
_SILENCE_FLOOR_DB = -200.0


@dataclasses.dataclass(frozen=True)
class EncodeSettings:
    """How a track becomes rows. A slice is kept when its RMS level is at least `min_loudness_db` dBFS and its image
    is not uniform (the reference's "completely silent" test). `pad_short` zero-pads a track shorter than one slice
    to one slice (the reference's behaviour) instead of skipping it as too short."""

    mel_config: MelConfig
    bits: int = 8
    min_loudness_db: float = DEFAULT_MIN_LOUDNESS_DB
    pad_short: bool = False
    # Slices encoded at once: the working memory of one batch is about 5 MB per slice at the reference settings (the
    # complex STFT and its power, for 256 frames of 1025 bins), so 16 keep a worker's memory near its decoded track
    # (64 held 320 MB more, a third of a 3-hour track) at no measurable cost in speed. The rows do not depend on it.
    batch_size: int = 16

    def __post_init__(self) -> None:
        levels_for(self.bits)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")

    def fingerprint(self) -> str:
        """Hash of everything that changes the rows of a track (not the batch size)."""
        settings = {
            "mel": self.mel_config.to_dict(),
            "bits": self.bits,
            "min_loudness_db": float(self.min_loudness_db),
            "pad_short": self.pad_short,
            "part_version": PART_VERSION,
        }
        return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def slice_loudness_db(slices: np.ndarray, rows_at_once: int = 16) -> np.ndarray:
    """RMS level in dBFS of each `(num_slices, slice_size)` slice -> `(num_slices,)`; digital silence is -200.

    The squares are summed in float64 (float32 loses the level of quiet slices), `rows_at_once` slices at a time:
    squaring a whole track at once made a float64 copy of it, twice the size of the track itself."""
    levels = np.empty(len(slices), dtype=np.float32)
    for start in range(0, len(slices), rows_at_once):
        mean_square = np.mean(np.square(slices[start : start + rows_at_once], dtype=np.float64), axis=-1)
        levels[start : start + rows_at_once] = np.maximum(
            10.0 * np.log10(np.maximum(mean_square, 1e-30)), _SILENCE_FLOOR_DB
        )
    return levels


def png_bytes(pixels: np.ndarray, bits: int, mel_config: MelConfig | None = None) -> bytes:
    """`(height, width)` integer pixels -> PNG file bytes (8-bit "L" or 16-bit "I;16"), carrying `mel_config` in
    the `codec.PNG_MEL_KEY` text chunk when given (`codec.encode_png`)."""
    return encode_png(pixels, bits, mel_config)


def encode_track(audio: np.ndarray, codec: SpectrogramCodec, settings: EncodeSettings) -> dict[str, Any]:
    """Slice and encode one `(time,)` track at the codec's sample rate.

    Returns `slice` (int list), `image` (PNG bytes list), `loudness_db` (float list) for the kept slices, and
    `total` / `silent` slice counts. The trailing partial slice is dropped, as in the reference.

    Memory: the slices are views of `audio`, never copies, and are measured and encoded `settings.batch_size` at a
    time, so what this adds to the track is one batch's working set plus the kept PNG bytes (under a tenth of the
    track's float32 size at the reference settings).
    """
    slices = slice_audio(audio, settings.mel_config.slice_size, pad_short=settings.pad_short)
    rows: dict[str, Any] = {"slice": [], "image": [], "loudness_db": [], "total": len(slices), "silent": 0}
    for start in range(0, len(slices), settings.batch_size):
        batch = slices[start : start + settings.batch_size]
        loudness = slice_loudness_db(batch)
        with torch.no_grad():
            pixels = codec.audio_to_pixels(torch.from_numpy(batch), settings.bits).cpu()
        # Digital silence encodes as a uniform image (all pixels at the maximum): the reference's silence test.
        uniform = pixels.amin(dim=(-2, -1)) == pixels.amax(dim=(-2, -1))
        for offset, image in enumerate(pixels.numpy()):
            index = start + offset
            if uniform[offset] or loudness[offset] < settings.min_loudness_db:
                rows["silent"] += 1
                continue
            rows["slice"].append(index)
            # Each row's image carries its mel settings: a PNG taken out of the dataset decodes on its own.
            rows["image"].append(png_bytes(image, settings.bits, settings.mel_config))
            rows["loudness_db"].append(float(loudness[offset]))
    return rows


# --- one track, in a worker process (or inline) ---------------------------------------------------------------------
_CODECS: dict[MelConfig, SpectrogramCodec] = {}


def _encoder_only_vocoder(mel_power: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    raise RuntimeError("the preparation codec only encodes")


def encoder_codec(config: MelConfig) -> SpectrogramCodec:
    """An encode-only codec, one per process: the default Griffin-Lim vocoder's set-up (a pseudo-inverse) costs
    seconds on a busy CPU and preparation never decodes."""
    if config not in _CODECS:
        _CODECS.clear()
        _CODECS[config] = SpectrogramCodec(config, vocoder=_encoder_only_vocoder)
    return _CODECS[config]


def warm_up(config: MelConfig) -> None:
    """Pay one-time costs (lazy imports of the resampler, the codec) in the parent, so forked workers inherit them
    instead of each paying them again."""
    import librosa

    librosa.resample(np.zeros(256, dtype=np.float32), orig_sr=44100, target_sr=config.sample_rate, res_type="soxr_hq")
    encoder_codec(config)


def _source_info(source: str | bytes, name: str) -> tuple[int, int]:
    info = audio_info(source, name=name)
    return info.samplerate, info.channels


def process_track(name: str, source: str | bytes, part_path: Path, settings: EncodeSettings) -> dict[str, Any]:
    """Decode, resample, slice and encode one track and write its part. Returns its record.

    Record: status "ok" (rows written), "silent" (every slice below the threshold), "too_short" (under one slice)
    (these three are cached in the part), or "failed" (unreadable; not cached, retried on the next run); reason,
    seconds (decoded length at the codec rate), source_sample_rate, channels, slices (kept), silent_slices.
    """
    config = settings.mel_config
    try:
        audio = load_audio(source, config.sample_rate, name=name)
        source_rate, channels = _source_info(source, name)
    except AudioError as error:
        return {"status": "failed", "reason": error.reason}
    except Exception as error:  # a decoder bug or memory error on one file must not stop a long run
        return {"status": "failed", "reason": f"error while decoding ({type(error).__name__}: {first_line(error)})"}
    seconds = len(audio) / config.sample_rate
    record: dict[str, Any] = {
        "status": "ok",
        "reason": None,
        "seconds": seconds,
        "source_sample_rate": source_rate,
        "channels": channels,
        "slices": 0,
        "silent_slices": 0,
    }
    if len(audio) < config.slice_size and not settings.pad_short:
        record.update(
            status="too_short",
            reason=f"too short ({seconds:.2f} s; one slice is {config.slice_seconds:.2f} s)",
        )
        write_part(part_path, {}, record)
        return record
    rows = encode_track(audio, encoder_codec(config), settings)
    del audio  # writing the part copies the rows once more: let the track go first
    record.update(slices=len(rows["slice"]), silent_slices=rows["silent"])
    if not rows["slice"]:
        record.update(
            status="silent",
            reason=f"silent (all {rows['total']} slice(s) below {settings.min_loudness_db:g} dBFS RMS)",
        )
    write_part(part_path, rows, record)
    return record
