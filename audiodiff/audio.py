"""Audio file I/O: loading any format soundfile reads, mono mix-down, resampling, slicing and saving.

Every failure to read a file becomes an `AudioError` whose message names the file and the reason, so that callers
processing many files can report and skip it instead of showing a traceback from inside libsndfile. What one file
may cost is bounded: only regular files are read, the sample rate and length are checked from the header first,
and decoding streams in blocks.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import numpy as np
import soundfile

from audiodiff.utils import first_line

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64", ".caf")
# What one input may cost: rates outside this range are not music (a header claiming 1 Hz would make a 40 KB file
# hours long), and a file longer than MAX_SECONDS is refused before decoding (a long DJ mix still fits).
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768_000
MAX_SECONDS = 3 * 3600.0
_BLOCK_FRAMES = 1 << 18
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
    # libsndfile says this of any regular file it cannot parse (a text file named .mp3): misleading, since
    # non-regular files never reach it (`check_regular_file`).
    if "not a regular file" in text:
        text = "format not recognised"
    return text


_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_regular_file(path: str | os.PathLike, label: str | None = None) -> int:
    """The size in bytes of `path`, a readable regular file (links followed); else `AudioError` saying what it is.

    Only regular files are audio: reading a FIFO blocks forever and a device (/dev/zero) never ends.
    """
    label = label or str(path)
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise AudioError(label, "file not found") from None
    except OSError as error:
        raise AudioError(label, f"cannot examine it ({error.strerror or first_line(error)})") from None
    for test, kind in _NOT_REGULAR:
        if test(status.st_mode):
            raise AudioError(label, f"not a regular file ({kind})")
    if not stat.S_ISREG(status.st_mode):
        raise AudioError(label, "not a regular file")
    if status.st_size == 0:
        raise AudioError(label, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioError(label, "permission denied")
    return status.st_size


def load_audio(
    source: str | os.PathLike | bytes | io.IOBase,
    sample_rate: int | None,
    name: str | None = None,
    max_seconds: float = MAX_SECONDS,
) -> np.ndarray:
    """Read an audio file as mono float32 in [-1, 1], resampled to `sample_rate` (None keeps the file's rate).

    `source` is a path, the file's bytes, or a file object (`name` then names it in errors).
    Returns shape `(time,)`. Raises `AudioError` for missing, empty, corrupt, non-audio, non-regular or non-finite
    files, a sample rate outside `MIN_SAMPLE_RATE..MAX_SAMPLE_RATE` and files longer than `max_seconds`.

    What one file may cost is bounded: the file is read, mixed to mono and resampled (soxr, the same "soxr_hq"
    filter as `librosa.resample`, streamed) in blocks, so memory is the mono output (float32 at `sample_rate`:
    0.32 GB per hour at 22050 Hz) plus one block's buffers (about 4 MB for stereo), and a header is checked before
    anything is decoded. A WAV whose data is shorter than its header says (a truncated copy) is
    read as far as it goes, with a logged warning.
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<audio bytes>")
    if isinstance(source, (str, os.PathLike)):
        check_regular_file(source, label)
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with soundfile.SoundFile(handle) as file:
            _check_header(file, label, max_seconds)
            audio = _read_mono(file, sample_rate, label)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError, OSError, EOFError) as error:
        raise AudioError(label, f"not readable as audio ({_describe(error)})") from None
    if len(audio) == 0:
        raise AudioError(label, "contains no audio samples")
    return audio


def _check_header(file: soundfile.SoundFile, label: str, max_seconds: float) -> None:
    rate = file.samplerate
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(label, f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    seconds = file.frames / rate
    if seconds > max_seconds:
        raise AudioError(
            label, f"{seconds / 3600:.2f} h long, over the limit of {max_seconds / 3600:g} h per file; cut it first"
        )
    # libsndfile notes "data : <declared> (should be <present>)" for a RIFF data chunk longer than the file.
    if "should be" in (file.extra_info or "") and file.format in ("WAV", "WAVEX", "RF64", "W64"):
        logger.warning("%s: truncated (the header declares more audio than the file holds); using what is there", label)


def _read_mono(file: soundfile.SoundFile, sample_rate: int | None, label: str) -> np.ndarray:
    """Blocks of the open file -> mono -> resampled -> `(time,)` float32 in [-1, 1], one output buffer.

    The output is sized from the header and filled in place, so the peak is the output plus one block (the block
    buffer, its mono mix and its resampled piece: about 4 MB for stereo), never a second copy of the track."""
    import soxr

    rate = file.samplerate
    resampler = None
    if sample_rate is not None and sample_rate != rate:
        resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
    expected = file.frames if resampler is None else int(np.ceil(file.frames * sample_rate / rate)) + 16
    output = np.empty(max(expected, 0), dtype=np.float32)
    filled = 0

    def append(piece: np.ndarray) -> None:
        nonlocal output, filled
        if filled + len(piece) > len(output):
            output = np.resize(output, filled + len(piece))
        output[filled : filled + len(piece)] = piece
        filled += len(piece)

    # Every block is read into this one buffer: without `out`, soundfile hands out a fresh copy of each block.
    buffer = np.empty((max(1, min(_BLOCK_FRAMES, file.frames)), file.channels), dtype=np.float32)
    for block in file.blocks(out=buffer):
        mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
        if not np.all(np.isfinite(mono)):
            raise AudioError(label, "contains NaN or infinite samples")
        append(mono if resampler is None else resampler.resample_chunk(mono, last=False))
    if resampler is not None:
        append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return np.clip(output[:filled], -1.0, 1.0, out=output[:filled])


def audio_info(source: str | os.PathLike) -> soundfile._SoundFileInfo:
    """Header of an audio file (sample rate, channels, frames) without reading samples; raises `AudioError`."""
    check_regular_file(source)
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


# Spectrogram images do not store loudness: decoders return audio at an arbitrary level (Griffin-Lim from a mel image
# with its peak at 0 dB plays about 25 dB below the music it came from). Generated clips are brought to
# GENERATED_RMS_DBFS; clips made from the user's audio are brought to the level of that audio. Never above PEAK_LIMIT.
GENERATED_RMS_DBFS = -20.0
GENERATED_RMS = 10 ** (GENERATED_RMS_DBFS / 20)
PEAK_LIMIT = 10 ** (-1.0 / 20)  # -1 dBFS


def rms(audio) -> np.ndarray:
    """Root mean square over the last axis of `(..., time)` audio."""
    audio = np.asarray(audio, dtype=np.float64)
    return np.sqrt(np.mean(np.square(audio), axis=-1))


def set_level(audio, target_rms, joint: bool = False) -> np.ndarray:
    """`(count, time)` clips scaled to `target_rms` (a number or one per clip), each gain lowered where it would push
    the clip's peak above -1 dBFS; silent clips stay silent. `joint`: one gain for all clips (the quietest fit),
    which keeps their levels relative to each other (the frames of an interpolation). Returns float32."""
    audio = np.asarray(audio, dtype=np.float32)
    level, peak = rms(audio), np.abs(audio).max(axis=-1, initial=0.0)
    target = np.broadcast_to(np.asarray(target_rms, dtype=np.float64), level.shape)
    if joint:  # the same gain for every clip
        level = np.full_like(level, np.sqrt(np.mean(level**2)))
        peak = np.full_like(peak, peak.max(initial=0.0))
        target = np.full_like(level, np.sqrt(np.mean(target**2)))
    gain = np.where(level > 1e-9, target / np.maximum(level, 1e-9), 1.0)
    gain = np.minimum(gain, np.where(peak > 0, PEAK_LIMIT / np.maximum(peak, 1e-12), 1.0))
    return audio * np.asarray(gain, dtype=np.float32)[..., None]


def save_audio(path: str | os.PathLike, audio, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write `(time,)` or `(channels, time)` audio (numpy or torch) to `path`; the extension picks the format.

    Samples are clipped to [-1, 1]. Parent folders are created. The file is encoded in memory and written by Python
    through a temporary name renamed into place (`utils.atomic_file`): a full disk or a read-only folder is an
    `OSError` naming `path` and the reason (libsndfile says only "System error."), and a write cut short never
    leaves a truncated file with a valid header under `path`.
    """
    from audiodiff.utils import atomic_file

    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    if audio.ndim == 2:
        audio = audio.T
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() not in (".wav", ".flac", ".aiff", ".aif"):
        subtype = None
    # soundfile picks the format from a file name's extension; a buffer needs it named.
    format_name = {"AIF": "AIFF", "OGA": "OGG"}.get(path.suffix[1:].upper(), path.suffix[1:].upper())
    encoded = io.BytesIO()
    soundfile.write(encoded, audio, sample_rate, subtype=subtype, format=format_name)
    try:
        with atomic_file(path) as temporary:
            temporary.write_bytes(encoded.getbuffer())
    except OSError as error:
        raise OSError(error.errno, error.strerror or first_line(error), str(path)) from None
    return path
