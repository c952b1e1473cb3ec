"""Tempo, beats and bars of a clip, for loops that are a whole number of bars long.

`bar_grid` runs librosa's dynamic-programming beat tracker (Ellis 2007, "Beat tracking by dynamic programming") on an
onset-strength envelope (spectral flux of a log-mel spectrogram), refines the beat period by a least-squares line
through the beat times, and picks the downbeat: of the `beats_per_bar` phases a bar can start on, the one whose beats
carry the loudest low-frequency hits on average (the kick drum and the bass change on "one"; a snare on two and
four is loud but high). Where one and three are equally accented it may start a loop half a bar late: the loop is
still a whole number of bars. `bar_loop` then picks a whole number of bars that starts on a downbeat and fits in a
given length (one model slice, say). Pure numpy/librosa, no torch.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

# The onset envelope's resolution: 10 ms frames, about 46 ms windows (librosa's default hop of 512 samples is 23 ms
# at 22050 Hz but 64 ms at 8 kHz; a fixed duration keeps the beat times equally precise at every rate).
_HOP_SECONDS = 0.01
_WINDOW_SECONDS = 0.046
# The downbeat's evidence: onsets below this frequency (kick drum, bass), on a 64-band log-mel spectrogram.
_LOW_HZ = 200.0
_MEL_BANDS = 64
_ACCENT_SECONDS = 0.06
# Fewer beats than this and neither a tempo nor a bar can be told: two bars of four.
_MIN_BEATS = 8


@dataclasses.dataclass(frozen=True)
class Grid:
    """The bar grid of a clip.

    tempo_bpm: beats per minute (60 / the fitted beat period). downbeats: `(bars,)` times in seconds of the first beat
    of each bar found, ascending (tracked beats, plus whole bars before the first where a hit confirms them).
    bar_seconds: one bar, `beats_per_bar * 60 / tempo_bpm`. beats: `(beats,)` every tracked beat in seconds.
    beats_per_bar: the metre assumed. seconds: the clip's length.
    """

    tempo_bpm: float
    downbeats: np.ndarray
    bar_seconds: float
    beats: np.ndarray
    beats_per_bar: int
    seconds: float


def bar_grid(audio: np.ndarray, sample_rate: int, beats_per_bar: int = 4) -> Grid:
    """Tempo, beats and downbeats of `(time,)` mono audio at `sample_rate`.

    Beats: `librosa.beat.beat_track` on an onset envelope with 10 ms frames. Tempo: each beat is numbered from the
    median beat interval (so a beat the tracker skipped does not shift the count), and a least-squares line through
    (number, time) gives the period, far finer than the envelope's 10 ms frames. Downbeat: the phase (beat number
    modulo `beats_per_bar`) whose beats have the loudest hits below 200 Hz on average (mean peak dB).

    A ValueError (one line) when fewer than 8 beats are found (silence, a drone, a clip under a few seconds).
    """
    import librosa

    if not (isinstance(beats_per_bar, (int, np.integer)) and 1 <= beats_per_bar <= 16):
        raise ValueError(f"beats per bar must be a whole number from 1 to 16, got {beats_per_bar!r}")
    audio = np.asarray(audio, dtype=np.float32)
    seconds = len(audio) / sample_rate
    hop = max(1, int(round(_HOP_SECONDS * sample_rate)))
    n_fft = 1 << max(6, math.ceil(math.log2(_WINDOW_SECONDS * sample_rate)))
    if len(audio) < n_fft or not np.any(audio):
        raise ValueError(f"no beat found: the audio ({seconds:.2f} s) is silent or too short to track")
    mel = librosa.feature.melspectrogram(y=audio, sr=sample_rate, n_fft=n_fft, hop_length=hop, n_mels=_MEL_BANDS)
    onsets = librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=np.max), sr=sample_rate)
    low_bands = int(np.searchsorted(librosa.mel_frequencies(_MEL_BANDS + 2, fmax=sample_rate / 2)[1:-1], _LOW_HZ))
    low = mel[: max(1, low_bands)].sum(axis=0)
    if not np.any(low > 0):
        low = mel.sum(axis=0)
    _, frames = librosa.beat.beat_track(onset_envelope=onsets, sr=sample_rate, hop_length=hop)
    frames = np.asarray(frames, dtype=int)
    if len(frames) < _MIN_BEATS:
        raise ValueError(
            f"no steady beat found in the audio ({seconds:.2f} s): {len(frames)} beats tracked, {_MIN_BEATS} needed"
        )
    times = librosa.frames_to_time(frames, sr=sample_rate, hop_length=hop)
    rough = float(np.median(np.diff(times)))
    numbers = np.round((times - times[0]) / rough).astype(int)
    period = float(np.polyfit(numbers, times, 1)[0])
    # Each beat's accent: the peak low-band power (dB) of its hit, from a frame before the tracked beat to
    # _ACCENT_SECONDS after. Level, not spectral flux: flux in dB saturates (a soft and a loud kick out of silence
    # rise alike), while the kick on "one" is usually the loudest low hit of the bar.
    reach = max(1, int(round(_ACCENT_SECONDS / _HOP_SECONDS)))
    strength = np.array([10 * np.log10(low[max(0, frame - 1) : frame + reach].max() + 1e-12) for frame in frames])
    phases = numbers % beats_per_bar
    scores = [
        strength[phases == phase].mean() if np.any(phases == phase) else -np.inf for phase in range(beats_per_bar)
    ]
    downbeat_phase = int(np.argmax(scores))
    downbeats = times[phases == downbeat_phase]
    # The tracker drops weak beats at the clip's edges, often the first bar of a clip that starts on "one": whole bars
    # before the first downbeat are added back where a low hit as loud as the downbeats' (within 6 dB) sounds there.
    bar = beats_per_bar * period
    earlier = downbeats[0] - bar
    while earlier >= -_HOP_SECONDS:
        frame = max(0, int(round(earlier / _HOP_SECONDS)))
        if 10 * np.log10(low[max(0, frame - 1) : frame + reach].max() + 1e-12) < scores[downbeat_phase] - 6.0:
            break
        downbeats = np.concatenate([[max(0.0, earlier)], downbeats])
        earlier -= bar
    return Grid(
        tempo_bpm=60.0 / period,
        downbeats=downbeats,
        bar_seconds=bar,
        beats=times,
        beats_per_bar=int(beats_per_bar),
        seconds=seconds,
    )


def bar_loop(grid: Grid, slice_seconds: float, bars: int | None = None, after: float = 0.0) -> tuple[float, float]:
    """`(offset_seconds, loop_seconds)`: `bars` whole bars (the most that fit when None) starting on the first
    downbeat at or after `after` seconds whose bars all lie inside the clip, with `loop_seconds = bars * bar_seconds`
    at most `slice_seconds` (one model slice, or whatever limit the caller sets).

    A ValueError (one line) when even one bar does not fit in the slice, when `bars` bars do not, or when the clip has
    no downbeat followed by that many bars."""
    if bars is not None and (isinstance(bars, bool) or not isinstance(bars, (int, np.integer)) or bars < 1):
        raise ValueError(f"bars must be a whole number of at least 1 (or None: as many as fit), got {bars!r}")
    most = math.floor(slice_seconds / grid.bar_seconds + 1e-9)
    tempo = f"{grid.tempo_bpm:.1f} bpm, {grid.beats_per_bar} beats a bar"
    if most < 1:
        raise ValueError(
            f"one bar ({grid.bar_seconds:.2f} s at {tempo}) is longer than the {slice_seconds:.2f} s allowed"
        )
    if bars is not None and bars > most:
        raise ValueError(
            f"{bars} bars ({bars * grid.bar_seconds:.2f} s at {tempo}) do not fit in the {slice_seconds:.2f} s "
            f"allowed: at most {most}"
        )
    count = most if bars is None else int(bars)
    loop_seconds = count * grid.bar_seconds
    # a downbeat tracked a frame late still starts the loop; the bars after it must be in the clip (a frame's slack)
    slack = 2 * _HOP_SECONDS
    for downbeat in grid.downbeats:
        if downbeat >= after - slack and downbeat + loop_seconds <= grid.seconds + slack:
            return max(0.0, float(downbeat)), loop_seconds
    raise ValueError(
        f"no downbeat at or after {after:g} s is followed by {count} bar(s) ({loop_seconds:.2f} s at {tempo}) inside "
        f"the {grid.seconds:.2f} s clip"
    )
