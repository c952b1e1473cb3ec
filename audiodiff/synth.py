"""A small deterministic music synthesizer: the built-in default data of audiodiff.

Three clearly different styles, each seeded so that the same seed always gives the same samples:

- "beats": drum-machine patterns (kick, snare, hi-hat) at 90-130 BPM;
- "pads": sustained, slowly changing chords of detuned saw-like partials;
- "arpeggios": plucked notes (Karplus-Strong strings) running up and down a chord.

`write_collection` writes a folder with one sub-folder per genre, the layout `audiodiff prepare --genre-from folder`
reads. Used by the demo, the tests and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

GENRES = ("beats", "pads", "arpeggios")

# Minor and major triads / sevenths over a few roots, as MIDI note numbers.
_CHORDS = [(57, 60, 64, 67), (53, 57, 60, 64), (55, 59, 62, 65), (52, 55, 59, 62), (50, 53, 57, 60), (48, 52, 55, 59)]


def _midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def _beats(seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    total = int(seconds * sample_rate)
    out = np.zeros(total, dtype=np.float64)
    bpm = rng.uniform(90, 130)
    step = 60.0 / bpm / 4  # sixteenth notes
    kick_pattern = rng.random(16) < np.array([1, 0, 0, 0, 0.3, 0, 0.2, 0, 1, 0, 0.3, 0, 0, 0.2, 0, 0])
    kick_pattern[0] = True
    snare_pattern = np.zeros(16, dtype=bool)
    snare_pattern[[4, 12]] = True
    hat_pattern = rng.random(16) < 0.75
    kick_length = int(0.25 * sample_rate)
    t = np.arange(kick_length) / sample_rate
    kick = np.sin(2 * np.pi * (45 * t + 90 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 12)
    snare_length = int(0.18 * sample_rate)
    ts = np.arange(snare_length) / sample_rate
    hat_length = int(0.05 * sample_rate)
    th = np.arange(hat_length) / sample_rate
    index = 0
    while True:
        start = int(index * step * sample_rate)
        if start >= total:
            break
        position = index % 16
        sounds = []
        if kick_pattern[position]:
            sounds.append(kick * 0.9)
        if snare_pattern[position]:
            noise = rng.standard_normal(snare_length)
            sounds.append((0.5 * noise + 0.4 * np.sin(2 * np.pi * 190 * ts)) * np.exp(-ts * 25) * 0.6)
        if hat_pattern[position]:
            noise = np.diff(rng.standard_normal(hat_length + 1))  # first difference: bright, high-passed noise
            sounds.append(noise * np.exp(-th * 80) * 0.15 * rng.uniform(0.6, 1.0))
        for sound in sounds:
            end = min(total, start + len(sound))
            out[start:end] += sound[: end - start]
        index += 1
    return out


def _pads(seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    total = int(seconds * sample_rate)
    out = np.zeros(total, dtype=np.float64)
    chord_seconds = rng.uniform(2.5, 4.0)
    chord_length = int(chord_seconds * sample_rate)
    fade = int(0.5 * sample_rate)
    t = np.arange(chord_length + fade) / sample_rate
    envelope = np.minimum(1.0, np.minimum(t / 0.6, (chord_length + fade) / sample_rate - t) / 0.5).clip(0, 1)
    for start in range(0, total, chord_length):
        chord = _CHORDS[rng.integers(len(_CHORDS))]
        voice = np.zeros_like(t)
        for note in chord:
            for detune in (-0.08, 0.0, 0.08):
                frequency = _midi_to_hz(note + detune)
                phase = rng.uniform(0, 2 * np.pi)
                for harmonic in range(1, 6):
                    voice += np.sin(2 * np.pi * frequency * harmonic * t + phase * harmonic) / harmonic**1.5
        voice *= envelope * (1 + 0.2 * np.sin(2 * np.pi * 0.3 * t))
        end = min(total, start + len(voice))
        out[start:end] += voice[: end - start]
    return out


def _pluck(frequency: float, length: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong plucked string (Karplus and Strong 1983), vectorised per period."""
    period = max(2, int(round(sample_rate / frequency)))
    periods = length // period + 1
    buffer = rng.uniform(-1, 1, period)
    rows = np.empty((periods, period))
    for row in range(periods):
        rows[row] = buffer
        buffer = 0.996 * 0.5 * (buffer + np.roll(buffer, -1))
    return rows.reshape(-1)[:length]


def _arpeggios(seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    total = int(seconds * sample_rate)
    out = np.zeros(total, dtype=np.float64)
    note_seconds = 60.0 / rng.uniform(100, 140) / 2  # eighth notes
    note_length = int(note_seconds * sample_rate)
    ring = note_length * 3
    chord = _CHORDS[rng.integers(len(_CHORDS))]
    pattern = [0, 1, 2, 3, 2, 1]
    for index, start in enumerate(range(0, total, note_length)):
        if index % 12 == 0:
            chord = _CHORDS[rng.integers(len(_CHORDS))]
        note = chord[pattern[index % len(pattern)]] + 12
        sound = _pluck(_midi_to_hz(note), ring, sample_rate, rng)
        end = min(total, start + ring)
        out[start:end] += sound[: end - start] * 0.5
    return out


_SYNTHS: dict[str, Callable[[float, int, np.random.Generator], np.ndarray]] = {
    "beats": _beats,
    "pads": _pads,
    "arpeggios": _arpeggios,
}


def synthesize(genre: str, seconds: float, sample_rate: int = 22050, seed: int = 0) -> np.ndarray:
    """One deterministic clip of `genre`: float32 `(time,)` peak-normalised to 0.8."""
    if genre not in _SYNTHS:
        raise ValueError(f"unknown genre {genre!r}: choose from {', '.join(GENRES)}")
    rng = np.random.default_rng([seed, GENRES.index(genre)])
    audio = _SYNTHS[genre](seconds, sample_rate, rng)
    peak = np.abs(audio).max()
    return (audio / peak * 0.8 if peak > 0 else audio).astype(np.float32)


def write_collection(
    folder: str | Path,
    genres: tuple[str, ...] = GENRES,
    tracks_per_genre: int = 3,
    seconds: float = 40.0,
    sample_rate: int = 22050,
    seed: int = 0,
    file_format: str = "wav",
) -> list[Path]:
    """Write `folder/<genre>/<genre>_<k>.<format>` tracks; returns the files. Existing files are rewritten."""
    from audiodiff.audio import save_audio

    paths = []
    for genre in genres:
        for track in range(tracks_per_genre):
            audio = synthesize(genre, seconds, sample_rate, seed=seed * 1000 + track)
            paths.append(save_audio(Path(folder) / genre / f"{genre}_{track}.{file_format}", audio, sample_rate))
    return paths
