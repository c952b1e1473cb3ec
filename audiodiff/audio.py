"""Audio file I/O: loading any format soundfile reads, mono mix-down, resampling, slicing and saving.

Every failure to read a file becomes an `AudioError` whose message names the file and the reason, so that callers
processing many files can report and skip it instead of showing a traceback from inside libsndfile.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import librosa
import numpy as np
import soundfile

from audiodiff.utils import first_line

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64", ".caf")
# Formats people keep music in that libsndfile cannot read: reported as skipped instead of silently ignored.
UNSUPPORTED_AUDIO_EXTENSIONS = (".m4a", ".aac", ".wma", ".mp4", ".alac", ".ape")


class AudioError(Exception):
    """An audio file could not be used. `str(error)` is one line: "<file>: <reason>"."""

    def __init__(self, source: str | os.PathLike, reason: str):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


def is_audio_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def audio_file_kind(path: str | os.PathLike) -> str | None:
    """By the name alone: "audio" (a format soundfile reads), "unsupported" (music libsndfile cannot read), or None."""
    suffix = Path(path).suffix.lower()
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    if suffix in UNSUPPORTED_AUDIO_EXTENSIONS:
        return "unsupported"
    return None


def unsupported_reason(path: str | os.PathLike) -> str:
    """The skip reason of a file in a format libsndfile cannot read."""
    return f"unsupported format {Path(path).suffix.lower()} (libsndfile cannot read it; convert it to FLAC or WAV)"


def _describe(error: Exception) -> str:
    text = first_line(error)
    # libsndfile prefixes its messages with the file name again; keep the reason only.
    if "Error opening" in text and ": " in text:
        text = text.rsplit(": ", 1)[-1]
    return text


def load_audio(
    source: str | os.PathLike | bytes | io.IOBase,
    sample_rate: int | None,
    name: str | None = None,
) -> np.ndarray:
    """Read an audio file as mono float32 in [-1, 1], resampled to `sample_rate` (None keeps the file's rate).

    `source` is a path, the file's bytes, or a file object (`name` then names it in errors).
    Returns shape `(time,)`. Raises `AudioError` for missing, empty, corrupt, non-audio or non-finite files.
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<audio bytes>")
    if isinstance(source, (str, os.PathLike)) and not Path(source).exists():
        raise AudioError(label, "file not found")
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        data, file_rate = soundfile.read(handle, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError, OSError, EOFError) as error:
        if isinstance(source, (str, os.PathLike)) and Path(source).stat().st_size == 0:
            raise AudioError(label, "empty file (0 bytes)") from None
        raise AudioError(label, f"not readable as audio ({_describe(error)})") from None
    if data.shape[0] == 0:
        raise AudioError(label, "contains no audio samples")
    audio = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(audio)):
        raise AudioError(label, "contains NaN or infinite samples")
    if sample_rate is not None and file_rate != sample_rate:
        audio = librosa.resample(audio, orig_sr=file_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(np.clip(audio, -1.0, 1.0), dtype=np.float32)


def audio_info(source: str | os.PathLike) -> soundfile._SoundFileInfo:
    """Header of an audio file (sample rate, channels, frames) without reading samples; raises `AudioError`."""
    try:
        return soundfile.info(str(source))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioError(source, f"not readable as audio ({_describe(error)})") from None


def slice_audio(audio: np.ndarray, slice_size: int, pad_short: bool = True) -> np.ndarray:
    """Cut `(time,)` audio into consecutive non-overlapping slices, shape `(num_slices, slice_size)`.

    As in the reference `Mel`: slice i covers samples `[i * slice_size, (i + 1) * slice_size)` and the trailing
    partial slice is dropped. Audio shorter than one slice is zero-padded to one slice when `pad_short`, otherwise
    the result has no slices.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if len(audio) < slice_size:
        if not pad_short:
            return np.zeros((0, slice_size), dtype=np.float32)
        audio = np.pad(audio, (0, slice_size - len(audio)))
    count = len(audio) // slice_size
    return audio[: count * slice_size].reshape(count, slice_size)


def save_audio(path: str | os.PathLike, audio, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write `(time,)` or `(channels, time)` audio (numpy or torch) to `path`; the extension picks the format.

    Samples are clipped to [-1, 1]. Parent folders are created.
    """
    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    if audio.ndim == 2:
        audio = audio.T
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() not in (".wav", ".flac", ".aiff", ".aif"):
        subtype = None
    soundfile.write(str(path), audio, sample_rate, subtype=subtype)
    return path
