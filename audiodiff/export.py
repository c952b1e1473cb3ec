"""Audio files that drop into a DAW: output sample rate, file format, loudness to a LUFS target with a true-peak
ceiling, and sampler loop points.

- Resampling: soxr at its very-high-quality setting (`soxr.resample(..., quality="VHQ")`), from the model's rate to
  `OutputSettings.sample_rate`.
- Loudness: ITU-R BS.1770-4 integrated loudness (K-weighting, 400 ms blocks with 75 % overlap, absolute gate at
  -70 LUFS, relative gate 10 LU below the ungated level), implemented here (no extra dependency) and checked against
  the standard's and EBU Tech 3341's published values in tests/test_export.py. The K-weighting biquads are computed for
  any sample rate from the analogue prototype (as libebur128 does), so they equal BS.1770's table at 48 kHz.
- True peak: BS.1770-4 Annex 2, the peak of the signal oversampled 4x (8x below 44.1 kHz) with a polyphase
  windowed-sinc interpolator (`scipy.signal.resample_poly`), in dBTP.
- Loop points: a RIFF `smpl` chunk (the sampler chunk of the Microsoft/IBM RIFF spec, read by samplers and DAWs) with
  one forward loop, appended after the `data` chunk.

Audio is mono `(time,)` throughout, as everywhere in audiodiff. Errors are one-line `ValueError`s naming the option
(`--sample-rate`, `--format`, `--loudness`, `--true-peak`) or the file.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import struct
from pathlib import Path

import numpy as np
import soundfile

FORMATS = ("wav16", "wav24", "float", "flac")
# soundfile (libsndfile) container and subtype of each format. FLAC is written 24-bit: the decoders' float output has
# more than 16 bits of resolution and FLAC compresses the unused low bits of quiet passages anyway.
_FORMAT_ENCODING = {
    "wav16": ("WAV", "PCM_16"),
    "wav24": ("WAV", "PCM_24"),
    "float": ("WAV", "FLOAT"),
    "flac": ("FLAC", "PCM_24"),
}
OUTPUT_SAMPLE_RATES = (8000, 384_000)  # the range `OutputSettings.sample_rate` accepts (the CLI offers 44100/48000)
LOUDNESS_RANGE = (-70.0, 0.0)  # LUFS: BS.1770's absolute gate up to full scale
TRUE_PEAK_RANGE = (-30.0, 0.0)  # dBTP

# BS.1770-4: blocks of 400 ms every 100 ms, the absolute gate, the relative gate and the offset that makes a 997 Hz
# sine at 0 dBFS read -3.01 LUFS.
_BLOCK_SECONDS = 0.4
_STEP_SECONDS = 0.1
_ABSOLUTE_GATE = -70.0
_RELATIVE_GATE = -10.0
_LOUDNESS_OFFSET = -0.691

# The peak limiter of `normalize_loudness`: gain changes are spread over this long on each side of a peak (lookahead
# and release), short enough to act on single drum hits, long enough not to modulate bass notes audibly.
_LIMITER_SECONDS = 0.01
_LIMITER_ROUNDS = 8  # rounds of raising the gain by the loudness the limiter took away (converges in 2-4)


@dataclasses.dataclass(frozen=True)
class OutputSettings:
    """How a command writes audio.

    sample_rate: the file's rate in Hz; None keeps the model's rate (today's behaviour).
    format: one of `FORMATS`: "wav16" (16-bit PCM WAV, today's), "wav24" (24-bit PCM WAV), "float" (32-bit float WAV),
        "flac" (24-bit FLAC).
    loudness: integrated loudness target in LUFS (ITU-R BS.1770-4; streaming services and MusicGen use -14); None writes
        the clip at the level the job gave it (today's RMS level, `audio.set_level`).
    true_peak: the ceiling in dBTP that normalised audio never exceeds (only used with `loudness`).
    """

    sample_rate: int | None = None
    format: str = "wav16"
    loudness: float | None = None
    true_peak: float = -1.0

    def __post_init__(self):
        rate = self.sample_rate
        if rate is not None:
            low, high = OUTPUT_SAMPLE_RATES
            if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not low <= rate <= high:
                raise ValueError(f"--sample-rate must be a whole number of Hz from {low} to {high}, got {rate!r}")
        if self.format not in FORMATS:
            raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.loudness is not None:
            low, high = LOUDNESS_RANGE
            if not _is_number(self.loudness) or not low <= self.loudness <= high:
                raise ValueError(f"--loudness must be a LUFS value from {low:g} to {high:g}, got {self.loudness!r}")
        low, high = TRUE_PEAK_RANGE
        if not _is_number(self.true_peak) or not low <= self.true_peak <= high:
            raise ValueError(f"--true-peak must be a dBTP value from {low:g} to {high:g}, got {self.true_peak!r}")

    @property
    def suffix(self) -> str:
        """The file extension of `format`: ".wav" or ".flac"."""
        return ".flac" if self.format == "flac" else ".wav"

    @property
    def subtype(self) -> str:
        """The soundfile subtype written: "PCM_16", "PCM_24" or "FLOAT"."""
        return _FORMAT_ENCODING[self.format][1]


def _is_number(value) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


# ---------------------------------------------------------------------------------------------------------------------
# Resampling


def resample(audio: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """`(time,)` audio from `sample_rate` to `target_rate` with soxr's very-high-quality polyphase resampler
    (passband to 91 % of Nyquist, 175 dB stop band, linear phase). Returns float64 `(round(time * target / rate),)`;
    the same array when the rates are equal."""
    audio = np.asarray(audio, dtype=np.float64)
    if int(sample_rate) == int(target_rate) or len(audio) == 0:
        return audio
    import soxr

    return soxr.resample(audio, int(sample_rate), int(target_rate), quality="VHQ")


# ---------------------------------------------------------------------------------------------------------------------
# Loudness (ITU-R BS.1770-4)


def k_weighting(sample_rate: int) -> np.ndarray:
    """BS.1770's K-weighting filter at `sample_rate` as second-order sections `(2, 6)` for `scipy.signal.sosfilt`:
    the high-shelf "head" filter (+4 dB above about 1.7 kHz) then the RLB high-pass (about 38 Hz). The biquads come
    from the analogue prototype by the bilinear transform with prewarping (libebur128's derivation), which reproduces
    the standard's 48 kHz coefficients to 1e-8 and gives the same response at other rates."""
    rate = float(sample_rate)
    # the shelf
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
        1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0,
    ]  # fmt: skip
    # the high-pass
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def _block_powers(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean square of the K-weighted `(time,)` audio in BS.1770's gating blocks (400 ms, hop 100 ms): `(blocks,)`.
    A clip shorter than one block is measured as one block over its whole length (the standard leaves it undefined);
    an empty clip has no blocks."""
    from scipy.signal import sosfilt

    audio = np.asarray(audio, dtype=np.float64)
    if len(audio) == 0:
        return np.zeros(0)
    weighted = sosfilt(k_weighting(sample_rate), audio)
    block = int(round(_BLOCK_SECONDS * sample_rate))
    if len(weighted) < block:
        return np.array([np.mean(weighted**2)])
    step = int(round(_STEP_SECONDS * sample_rate))
    starts = np.arange(0, len(weighted) - block + 1, step)
    cumulative = np.concatenate([[0.0], np.cumsum(weighted**2)])
    return (cumulative[starts + block] - cumulative[starts]) / block


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of `(time,)` mono audio in LUFS (ITU-R BS.1770-4: K-weighting, gated 400 ms blocks with
    75 % overlap, absolute gate -70 LUFS, relative gate -10 LU). A 997 Hz sine at 0 dBFS reads -3.01 LUFS.

    Silence (every block below the absolute gate) and empty audio read `-inf` (never NaN); a clip shorter than 400 ms
    is measured as one ungated block over its whole length."""
    powers = _block_powers(audio, sample_rate)
    with np.errstate(divide="ignore"):
        levels = _LOUDNESS_OFFSET + 10 * np.log10(powers)
    powers = powers[levels > _ABSOLUTE_GATE]
    if len(powers) == 0:
        return -math.inf
    relative_gate = _LOUDNESS_OFFSET + 10 * math.log10(np.mean(powers)) + _RELATIVE_GATE
    with np.errstate(divide="ignore"):
        gated = powers[_LOUDNESS_OFFSET + 10 * np.log10(powers) > relative_gate]
    return float(_LOUDNESS_OFFSET + 10 * math.log10(np.mean(gated)))


_PEAK_BLOCK = 1 << 16  # samples oversampled at once: memory stays a few times the audio's, not 8x
_PEAK_MARGIN = 32  # input samples of context on each side of a block (the interpolator reaches 10)


def _true_peak_envelope(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """`(time,)`: the largest magnitude of the signal oversampled for true-peak metering (BS.1770-4 Annex 2) between
    each sample and its neighbours, never below the sample itself. Oversampling is 4x from 44.1 kHz up, 8x below (the
    annex's 4x assumes 48 kHz; lower rates need more to see the same inter-sample peaks), with scipy's polyphase
    windowed-sinc interpolator (`resample_poly`), block by block with context so that a long clip needs little
    memory."""
    from scipy.signal import resample_poly

    audio = np.asarray(audio, dtype=np.float64)
    factor = 4 if sample_rate >= 44100 else 8
    envelope = np.abs(audio)
    for start in range(0, len(audio), _PEAK_BLOCK):
        end = min(start + _PEAK_BLOCK, len(audio))
        low, high = max(0, start - _PEAK_MARGIN), min(len(audio), end + _PEAK_MARGIN)
        oversampled = np.abs(resample_poly(audio[low:high], factor, 1))
        between = oversampled[(start - low) * factor : (end - low) * factor].reshape(end - start, factor).max(axis=1)
        envelope[start:end] = np.maximum(envelope[start:end], between)
    # the peak between sample n-1 and n belongs to both neighbours
    envelope[1:] = np.maximum(envelope[1:], envelope[:-1].copy())
    return envelope


def true_peak(audio: np.ndarray, sample_rate: int) -> float:
    """True peak of `(time,)` audio in dBTP (ITU-R BS.1770-4 Annex 2: the largest magnitude of the signal oversampled
    4x, 8x below 44.1 kHz, never below the largest sample). Silence and empty audio read `-inf`."""
    audio = np.asarray(audio, dtype=np.float64)
    if len(audio) == 0:
        return -math.inf
    peak = float(_true_peak_envelope(audio, sample_rate).max())
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def _limit(audio: np.ndarray, sample_rate: int, ceiling_db: float) -> np.ndarray:
    """`(time,)` audio with its true peak brought under `ceiling_db` dBTP by a smooth, look-ahead gain (an offline
    peak limiter): the gain each sample needs is min-filtered over 2W+1 samples, then averaged over W+1, so the smooth
    gain is at most the needed gain at every peak while it ramps over W = 10 ms on either side."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = 10 ** (ceiling_db / 20)
    envelope = _true_peak_envelope(audio, sample_rate)
    needed = np.minimum(1.0, ceiling / np.maximum(envelope, 1e-12))
    if needed.min() >= 1.0:
        return audio
    width = max(1, int(round(_LIMITER_SECONDS * sample_rate)))
    gain = minimum_filter1d(needed, size=2 * width + 1, mode="nearest")
    gain = uniform_filter1d(gain, size=width + 1, mode="nearest")
    return audio * np.minimum(gain, needed)


def normalize_loudness(audio: np.ndarray, sample_rate: int, target: float, ceiling: float = -1.0) -> np.ndarray:
    """`(time,)` audio brought to `target` LUFS (BS.1770-4) with its true peak at most `ceiling` dBTP.

    A gain sets the loudness; where peaks would cross the ceiling, a smooth look-ahead limiter (`_limit`) lowers them,
    and the gain is raised by the loudness the limiter took, a few rounds, so the target is met (within 0.1 LU on music
    and test signals) while the ceiling always holds. A clip too dense to reach the target under the ceiling ends as
    loud as the limiter allows. Silence (`integrated_loudness` = -inf) and empty audio are returned unchanged; a clip
    shorter than 400 ms is measured as one block. Returns float64 `(time,)`."""
    audio = np.asarray(audio, dtype=np.float64)
    loudness = integrated_loudness(audio, sample_rate)
    if not math.isfinite(loudness):
        return audio.copy()
    gain_db, previous = target - loudness, math.inf
    for _ in range(_LIMITER_ROUNDS):
        output = _limit(audio * 10 ** (gain_db / 20), sample_rate, ceiling)
        shortfall = target - integrated_loudness(output, sample_rate)
        # met, or the limiter already holds the whole clip at the ceiling (more gain only adds limiting)
        if abs(shortfall) < 0.05 or previous - shortfall < 0.05:
            break
        gain_db, previous = gain_db + shortfall, shortfall
    # The limiter's gain is smooth, so a few inter-sample peaks of the product can still graze the ceiling.
    excess = true_peak(output, sample_rate) - ceiling
    if excess > 0:
        output = output * 10 ** (-(excess + 0.01) / 20)
    return output


# ---------------------------------------------------------------------------------------------------------------------
# Writing


def _check_suffix(path: Path, output: OutputSettings) -> None:
    if path.suffix.lower() != output.suffix:
        raise ValueError(
            f"{path}: --format {output.format} writes {output.suffix} files; name the file with {output.suffix} "
            f"or choose another --format"
        )


def write_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    output: OutputSettings | None = None,
    loop: tuple[int, int] | None = None,
) -> Path:
    """Write `(time,)` audio at `sample_rate` to `path` as `output` says: resampled (soxr VHQ) to
    `output.sample_rate`, normalised to `output.loudness` LUFS under `output.true_peak` dBTP (when loudness is None
    the samples are written as given, today's behaviour), in `output.format`. Integer formats clip to [-1, 1]; "float"
    keeps samples as they are.

    loop: `(start, end)` in samples of the INPUT rate, end exclusive: a RIFF `smpl` chunk with one forward loop over
    `[start, end)` at the output rate is written (WAV only; FLAC has no sampler chunk, so a loop with "flac" is a
    ValueError: use a WAV format for loops). `read_loop_points` reads it back.

    The path's suffix is the caller's and must match the format (".wav" or ".flac"), or a one-line ValueError. The file
    appears complete or not at all (`utils.atomic_file`); parent folders are created.
    """
    from audiodiff.utils import atomic_file, first_line

    output = output or OutputSettings()
    path = Path(path)
    _check_suffix(path, output)
    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise ValueError(f"{path}: write_audio takes mono (time,) audio, got shape {tuple(audio.shape)}")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"{path}: the audio has NaN or infinite samples")
    target_rate = int(output.sample_rate or sample_rate)
    if loop is not None:
        if output.format == "flac":
            raise ValueError(
                f"{path}: loop points need a WAV file (FLAC has no sampler chunk); use --format wav16, wav24 or float"
            )
        loop = _loop_at_rate(loop, len(audio), sample_rate, target_rate, path)
    audio = resample(audio, sample_rate, target_rate)
    if output.loudness is not None:
        audio = normalize_loudness(audio, target_rate, output.loudness, output.true_peak)
    if output.format != "float":
        audio = np.clip(audio, -1.0, 1.0)
    container, subtype = _FORMAT_ENCODING[output.format]
    encoded = io.BytesIO()
    soundfile.write(encoded, audio.astype(np.float32), target_rate, subtype=subtype, format=container)
    data = encoded.getvalue()
    if loop is not None:
        data = add_smpl_chunk(data, loop, target_rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_file(path) as temporary:
            temporary.write_bytes(data)
    except OSError as error:
        raise OSError(error.errno, error.strerror or first_line(error), str(path)) from None
    return path


def _loop_at_rate(loop, length: int, sample_rate: int, target_rate: int, path: Path) -> tuple[int, int]:
    """`(start, end)` samples of the input checked against its `length` and converted to `target_rate` (rounded)."""
    try:
        start, end = (int(value) for value in loop)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: loop must be (start, end) in samples, got {loop!r}") from None
    if not 0 <= start < end <= length:
        raise ValueError(
            f"{path}: loop ({start}, {end}) must satisfy 0 <= start < end <= {length} (the clip's samples)"
        )
    scale = target_rate / sample_rate
    out_length = int(round(length * scale))
    start, end = int(round(start * scale)), min(int(round(end * scale)), out_length)
    return start, max(end, start + 1)


# ---------------------------------------------------------------------------------------------------------------------
# The RIFF smpl chunk

_SMPL_HEADER = struct.Struct("<9I")  # manufacturer .. sampler data: 36 bytes
_SMPL_LOOP = struct.Struct("<6I")  # cue id, type, start, end, fraction, play count: 24 bytes
MIDI_UNITY_NOTE = 60  # middle C: the note at which a sampler plays the file at its own pitch


def _riff_chunks(data: bytes, label: str = "the file") -> list[tuple[bytes, int, int]]:
    """`(id, offset of the body, size)` of each chunk of a RIFF/WAVE byte string, walked by hand (chunks are
    word-aligned: an odd-sized body is followed by a pad byte)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{label}: not a RIFF WAVE file")
    chunks, offset = [], 12
    while offset + 8 <= len(data):
        chunk_id, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        chunks.append((chunk_id, offset + 8, size))
        offset += 8 + size + (size & 1)
    return chunks


def add_smpl_chunk(wav: bytes, loop: tuple[int, int], sample_rate: int) -> bytes:
    """A WAV byte string with a `smpl` chunk appended holding one forward, endlessly repeated loop over the samples
    `[start, end)` (the chunk stores the last sample played, `end - 1`), unity note `MIDI_UNITY_NOTE`, and the RIFF size
    updated. An existing `smpl` chunk is left in place (the new one comes last; readers take the last)."""
    start, end = loop
    body = _SMPL_HEADER.pack(0, 0, int(round(1e9 / sample_rate)), MIDI_UNITY_NOTE, 0, 0, 0, 1, 0)
    body += _SMPL_LOOP.pack(0, 0, start, end - 1, 0, 0)
    _riff_chunks(wav)  # checks the header
    if len(wav) & 1:  # the last chunk's pad byte
        wav += b"\0"
    wav += b"smpl" + struct.pack("<I", len(body)) + body
    return wav[:4] + struct.pack("<I", len(wav) - 8) + wav[8:]


def read_loop_points(path: str | os.PathLike) -> list[tuple[int, int]]:
    """The loops of a WAV file's `smpl` chunk as `[(start, end), ...]` in samples, end exclusive (the chunk's "last
    sample played" + 1), as `write_audio(loop=...)` wrote them; `[]` when the file has no `smpl` chunk. A file that is
    not a RIFF WAVE, or a truncated chunk, is a one-line ValueError naming the file."""
    path = Path(path)
    data = path.read_bytes()
    loops = []
    for chunk_id, offset, size in _riff_chunks(data, str(path)):
        if chunk_id != b"smpl":
            continue
        if size < _SMPL_HEADER.size or offset + size > len(data):
            raise ValueError(f"{path}: truncated smpl chunk")
        count = _SMPL_HEADER.unpack_from(data, offset)[7]
        if _SMPL_HEADER.size + count * _SMPL_LOOP.size > size:
            raise ValueError(f"{path}: smpl chunk says {count} loops but holds fewer")
        loops = []  # the last smpl chunk wins
        for index in range(count):
            _, _, start, last, _, _ = _SMPL_LOOP.unpack_from(data, offset + _SMPL_HEADER.size + index * _SMPL_LOOP.size)
            loops.append((start, last + 1))
    return loops
