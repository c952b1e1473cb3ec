"""Audio file I/O: loading, mono mix-down, resampling, slicing and saving.

Two decoders: soundfile (libsndfile) for what it reads (WAV, FLAC, OGG/Vorbis and Opus, MP3, AIFF, ...), and
FFmpeg's libraries through PyAV (whose wheels bundle FFmpeg: no system package needed) for the formats only FFmpeg
reads: AAC and ALAC in .m4a/.mp4, .aac, WebM/Matroska, WMA, APE, WavPack. A file libsndfile cannot open is tried
with FFmpeg too (a dataset row's bytes carry no name to choose by).

Every failure to read a file becomes an `AudioError` whose message names the file and the reason, so that callers
processing many files can report and skip it instead of showing a traceback from inside a decoder. What one file
may cost is bounded, with either decoder: only regular files are read, the sample rate and length are checked from
the header (the container's, for FFmpeg) before anything is decoded, and decoding streams in blocks (frames).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import os
import stat
from pathlib import Path

import numpy as np
import soundfile

from audiodiff.utils import first_line

logger = logging.getLogger(__name__)

# Formats libsndfile reads (through soundfile), and formats only FFmpeg reads (through PyAV).
SOUNDFILE_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64", ".caf")
FFMPEG_EXTENSIONS = (".m4a", ".m4b", ".aac", ".mp4", ".alac", ".webm", ".weba", ".mka", ".wma", ".ape", ".wv")
AUDIO_EXTENSIONS = SOUNDFILE_EXTENSIONS + FFMPEG_EXTENSIONS
# What one input may cost: rates outside this range are not music (a header claiming 1 Hz would make a 40 KB file
# hours long), and a file longer than MAX_SECONDS is refused before decoding (a long DJ mix still fits).
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768_000
MAX_SECONDS = 3 * 3600.0
_BLOCK_FRAMES = 1 << 18
# Music files no decoder here can read: reported as skipped instead of silently ignored. iTunes' .m4p files are
# FairPlay-encrypted AAC (FFmpeg has no key). The FFmpeg formats join them when PyAV is not installed.
UNSUPPORTED_AUDIO_EXTENSIONS = (".m4p",)


class AudioError(Exception):
    """An audio file could not be used. `str(error)` is one line: "<file>: <reason>"."""

    def __init__(self, source: str | os.PathLike, reason: str):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


def is_audio_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


@functools.lru_cache(maxsize=1)
def ffmpeg_available() -> bool:
    """Whether the FFmpeg decoder (PyAV, `import av`) is installed; found without importing it, once a process (a
    folder walk asks for every file)."""
    import importlib.util

    return importlib.util.find_spec("av") is not None


def audio_file_kind(path: str | os.PathLike) -> str | None:
    """By the name alone: "audio" (a format one of the decoders reads), "unsupported" (music no installed decoder
    reads: `unsupported_reason` says why), or None (not audio)."""
    suffix = Path(path).suffix.lower()
    if suffix in SOUNDFILE_EXTENSIONS:
        return "audio"
    if suffix in FFMPEG_EXTENSIONS:
        return "audio" if ffmpeg_available() else "unsupported"
    if suffix in UNSUPPORTED_AUDIO_EXTENSIONS:
        return "unsupported"
    return None


def unsupported_reason(path: str | os.PathLike) -> str:
    """The skip reason of a file whose format no installed decoder reads (one line)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".m4p":
        return "unsupported format .m4p (copy-protected iTunes audio cannot be decoded)"
    if suffix in FFMPEG_EXTENSIONS:
        return f"unsupported format {suffix}: {_NO_FFMPEG}"
    return f"unsupported format {suffix} (convert it to FLAC or WAV)"


_NO_FFMPEG = "reading it needs FFmpeg through PyAV, which is not installed (`make install`, or `pip install av`)"


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

    `source` is a path, the file's bytes, or a file object (`name` then names it in errors, and its extension
    chooses the decoder). Returns shape `(time,)`. Raises `AudioError` for missing, empty, corrupt, non-audio,
    non-regular or non-finite files, a sample rate outside `MIN_SAMPLE_RATE..MAX_SAMPLE_RATE` and files longer than
    `max_seconds`.

    The decoder: soundfile for `SOUNDFILE_EXTENSIONS`, FFmpeg (PyAV) for `FFMPEG_EXTENSIONS`; anything else, and
    any file libsndfile cannot open, is tried with soundfile and then FFmpeg (libsndfile's reason is reported when
    both fail). What one file may cost is bounded the same way for both: the header's sample rate and length (the
    container's duration, for FFmpeg) are checked before anything is decoded, then the file is read, mixed to mono
    (the mean of the channels) and resampled (soxr, the same "soxr_hq" filter as `librosa.resample`, streamed) in
    blocks, so memory is the mono output (float32 at `sample_rate`: 0.32 GB per hour at 22050 Hz) plus one block's
    buffers (about 4 MB for stereo). A file FFmpeg decodes longer than `max_seconds`, whatever its header said (a
    raw .aac's length is only estimated), is stopped there. A file whose data is shorter than its header says (a
    truncated copy) is read as far as it goes, with a logged warning.
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<audio bytes>")
    if isinstance(source, (str, os.PathLike)):
        check_regular_file(source, label)
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    suffix = Path(label).suffix.lower()
    if suffix in FFMPEG_EXTENSIONS:
        audio = _load_with_ffmpeg(handle, sample_rate, label, max_seconds)
    else:
        audio = _load_with_soundfile(handle, sample_rate, label, max_seconds)
    if len(audio) == 0:
        raise AudioError(label, "contains no audio samples")
    return audio


class _CannotOpen(Exception):
    """libsndfile could not open the file at all (as opposed to failing part-way): FFmpeg gets a try."""


def _load_with_soundfile(handle, sample_rate: int | None, label: str, max_seconds: float) -> np.ndarray:
    try:
        try:
            file = soundfile.SoundFile(handle)
        except (soundfile.LibsndfileError, RuntimeError) as error:
            raise _CannotOpen(error) from None
        with file:
            _check_header(file, label, max_seconds)
            return _read_mono(file, sample_rate, label)
    except _CannotOpen as cannot_open:
        reason = f"not readable as audio ({_describe(cannot_open.args[0])})"
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError, OSError, EOFError) as error:
        raise AudioError(label, f"not readable as audio ({_describe(error)})") from None
    # libsndfile does not know this file. FFmpeg may (an .m4a's bytes from a dataset row, AAC misnamed .mp3); when
    # it does not either, libsndfile's reason stands, so messages about broken WAV or FLAC files stay the same.
    if ffmpeg_available():
        if hasattr(handle, "seek"):
            handle.seek(0)
        try:
            return _load_with_ffmpeg(handle, sample_rate, label, max_seconds, opening_only=True)
        except _CannotOpen:
            pass
    raise AudioError(label, reason)


def _check_header(file: soundfile.SoundFile, label: str, max_seconds: float) -> None:
    _check_rate_and_length(file.samplerate, file.frames / file.samplerate, label, max_seconds)
    # libsndfile notes "data : <declared> (should be <present>)" for a RIFF data chunk longer than the file.
    if "should be" in (file.extra_info or "") and file.format in ("WAV", "WAVEX", "RF64", "W64"):
        logger.warning("%s: truncated (the header declares more audio than the file holds); using what is there", label)


def _check_rate_and_length(rate: int | None, seconds: float | None, label: str, max_seconds: float) -> None:
    """`AudioError` for a rate outside the allowed range or a length over `max_seconds` (None: not known yet)."""
    if rate is not None and not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(label, f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    if seconds is not None and seconds > max_seconds:
        raise AudioError(
            label, f"{seconds / 3600:.2f} h long, over the limit of {max_seconds / 3600:g} h per file; cut it first"
        )


class _MonoOutput:
    """The one output buffer of a streamed decode: mono blocks in, resampled by soxr when the rates differ, appended
    in place. Sized from the header's length; a longer stream grows it by a quarter at a time (never one copy per
    block, which would be quadratic in the file's length for FFmpeg's small frames)."""

    def __init__(self, rate: int, sample_rate: int | None, expected_frames: int, label: str):
        import soxr

        self.rate, self.label = rate, label
        self.resampler = None
        if sample_rate is not None and sample_rate != rate:
            self.resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
            expected_frames = int(np.ceil(expected_frames * sample_rate / rate)) + 16
        self.output = np.empty(max(expected_frames, 0), dtype=np.float32)
        self.filled = 0
        self.input_frames = 0

    def add(self, mono: np.ndarray) -> None:
        """Append one `(time,)` float32 block at the file's rate."""
        if not np.all(np.isfinite(mono)):
            raise AudioError(self.label, "contains NaN or infinite samples")
        self.input_frames += len(mono)
        self._append(mono if self.resampler is None else self.resampler.resample_chunk(mono, last=False))

    def _append(self, piece: np.ndarray) -> None:
        if self.filled + len(piece) > len(self.output):
            self.output = np.resize(self.output, max(self.filled + len(piece), len(self.output) * 5 // 4 + 4096))
        self.output[self.filled : self.filled + len(piece)] = piece
        self.filled += len(piece)

    def finish(self) -> np.ndarray:
        """The whole track, `(time,)` float32 clipped to [-1, 1] (a view of the buffer: no copy)."""
        if self.resampler is not None:
            self._append(self.resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        return np.clip(self.output[: self.filled], -1.0, 1.0, out=self.output[: self.filled])


def _read_mono(file: soundfile.SoundFile, sample_rate: int | None, label: str) -> np.ndarray:
    """Blocks of the open file -> mono -> resampled -> `(time,)` float32 in [-1, 1], one output buffer.

    The output is sized from the header and filled in place, so the peak is the output plus one block (the block
    buffer, its mono mix and its resampled piece: about 4 MB for stereo), never a second copy of the track."""
    output = _MonoOutput(file.samplerate, sample_rate, file.frames, label)
    # Every block is read into this one buffer: without `out`, soundfile hands out a fresh copy of each block.
    buffer = np.empty((max(1, min(_BLOCK_FRAMES, file.frames)), file.channels), dtype=np.float32)
    for block in file.blocks(out=buffer):
        output.add(block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0])
    return output.finish()


# --- FFmpeg (PyAV) ----------------------------------------------------------------------------------------------------
def _ffmpeg_reason(error: Exception) -> str:
    """FFmpeg's reason without the file name PyAV appends ("Invalid data found when processing input: 'x.m4a'")."""
    reason = getattr(error, "strerror", None) or first_line(error)
    return reason[:1].lower() + reason[1:]


def _open_container(handle, label: str):
    """The container open for reading and its first audio stream; `_CannotOpen` when FFmpeg cannot open it."""
    import av

    try:
        container = av.open(str(handle) if isinstance(handle, (str, os.PathLike)) else handle, mode="r")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as error:
        raise _CannotOpen(_ffmpeg_reason(error)) from None
    if not container.streams.audio:
        kinds = sorted({stream.type for stream in container.streams}) or ["nothing"]
        container.close()
        raise AudioError(label, f"no audio stream in this file (FFmpeg finds {', '.join(kinds)})")
    return container, container.streams.audio[0]


def _header_seconds(container, stream) -> float | None:
    """The audio stream's duration from the container's header (the stream's, else the container's), or None."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _load_with_ffmpeg(
    handle, sample_rate: int | None, label: str, max_seconds: float, opening_only: bool = False
) -> np.ndarray:
    """Decode the first audio stream with FFmpeg (PyAV) -> `(time,)` float32 mono at `sample_rate`.

    Frames are converted to planar float32 by FFmpeg's resampler (format only), mixed to mono as the mean of the
    channels and resampled by soxr exactly as soundfile's blocks are, so both decoders give the same numbers for
    the same samples. `opening_only`: a file FFmpeg cannot open raises `_CannotOpen` (the caller has a better
    reason) instead of `AudioError`."""
    if not ffmpeg_available():
        raise AudioError(label, f"unsupported format {Path(label).suffix.lower()}: {_NO_FFMPEG}")
    import av

    try:
        container, stream = _open_container(handle, label)
    except _CannotOpen as error:
        if opening_only:
            raise
        raise AudioError(label, f"not readable as audio ({error.args[0]})") from None
    with container:
        header_rate = stream.codec_context.sample_rate or stream.sample_rate
        seconds = _header_seconds(container, stream)
        _check_rate_and_length(header_rate or None, seconds, label, max_seconds)
        to_float = av.AudioResampler(format="fltp")
        output: _MonoOutput | None = None
        stopped = None
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    if output is None:  # the rate of decoded frames (HE-AAC doubles the header's core rate)
                        _check_rate_and_length(frame.sample_rate, None, label, max_seconds)
                        expected = int((seconds or 0) * frame.sample_rate)
                        output = _MonoOutput(frame.sample_rate, sample_rate, expected, label)
                    elif frame.sample_rate != output.rate:
                        raise AudioError(
                            label, f"sample rate changes within the file ({output.rate} -> {frame.sample_rate} Hz)"
                        )
                    for converted in to_float.resample(frame):
                        planes = converted.to_ndarray()  # (channels, samples)
                        output.add(planes.mean(axis=0, dtype=np.float32) if len(planes) > 1 else planes[0])
                    if output.input_frames > max_seconds * output.rate:
                        raise AudioError(
                            label, f"decodes to over the limit of {max_seconds / 3600:g} h per file; cut it first"
                        )
        except (av.FFmpegError, ValueError, EOFError) as error:
            if output is None or output.input_frames == 0:
                raise AudioError(label, f"not readable as audio ({_ffmpeg_reason(error)})") from None
            stopped = _ffmpeg_reason(error)
        if output is None:
            raise AudioError(label, "contains no audio samples")
        decoded = output.input_frames / output.rate
        if stopped is not None:
            logger.warning("%s: decoding stopped at %.1f s (%s); using what is there", label, decoded, stopped)
        elif seconds is not None and decoded < seconds * 0.9 - 0.5:
            logger.warning(
                "%s: truncated (the header declares %.1f s, the file holds %.1f s); using what is there",
                label,
                seconds,
                decoded,
            )
        audio = output.finish()
        # AAC decodes whole 1024-sample frames: the encoder's padding after the last one makes the track up to a
        # frame longer than the stream's own duration, which says where the music ends. Cut it there.
        if stream.duration is not None and stream.time_base is not None and seconds is not None:
            overshoot = decoded - seconds
            if 0 < overshoot < 0.1:
                audio = audio[: int(round(seconds * (sample_rate or output.rate)))]
        return audio


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What a file's header says (the fields of `soundfile.info` that audiodiff uses): `frames` at `samplerate`."""

    samplerate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate


def audio_info(source: str | os.PathLike | bytes, name: str | None = None) -> AudioInfo:
    """Header of an audio file or its bytes (sample rate, channels, frames) without decoding; raises `AudioError`.

    Read by the decoder `load_audio` would use; for FFmpeg formats, frames come from the container's duration
    (an estimate for a file without one: 0)."""
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<audio bytes>")
    if isinstance(source, (str, os.PathLike)):
        check_regular_file(source, label)
    if Path(label).suffix.lower() not in FFMPEG_EXTENSIONS:
        try:
            info = soundfile.info(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source))
            return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames))
        except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
            if not ffmpeg_available():
                raise AudioError(label, f"not readable as audio ({_describe(error)})") from None
            reason = f"not readable as audio ({_describe(error)})"
    else:
        reason = None
    if not ffmpeg_available():
        raise AudioError(label, f"unsupported format {Path(label).suffix.lower()}: {_NO_FFMPEG}")
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        container, stream = _open_container(handle, label)
    except _CannotOpen as error:
        raise AudioError(label, reason or f"not readable as audio ({error.args[0]})") from None
    with container:
        rate = stream.codec_context.sample_rate or stream.sample_rate or 0
        channels = stream.codec_context.channels or 0
        seconds = _header_seconds(container, stream) or 0.0
    if not rate:
        raise AudioError(label, "not readable as audio (no sample rate in the header)")
    return AudioInfo(int(rate), int(channels), int(round(seconds * rate)))


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
