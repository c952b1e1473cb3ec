"""audiodiff.beats: tempo and downbeats of synthesized drum tracks at known tempos, and the bars a loop can hold."""

from __future__ import annotations

import numpy as np
import pytest

from audiodiff.beats import Grid, bar_grid, bar_loop


def drums(bpm: float, seconds: float, sample_rate: int, start: float = 0.0, seed: int = 0) -> np.ndarray:
    """A 4/4 drum track, `(time,)` float64: kick on one (loud) and three (soft), snare on two and four, closed hats on
    every eighth note; the first downbeat at `start` seconds, then one every `4 * 60 / bpm`."""
    rng = np.random.default_rng(seed)
    total, beat = int(seconds * sample_rate), 60.0 / bpm
    out = np.zeros(total)
    t = np.arange(int(0.25 * sample_rate)) / sample_rate
    kick = np.sin(2 * np.pi * (45 * t + 90 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 12)
    snare_t = np.arange(int(0.15 * sample_rate)) / sample_rate
    hat_t = np.arange(int(0.04 * sample_rate)) / sample_rate
    eighth = 0
    while start + eighth * beat / 2 < seconds:
        at = int(round((start + eighth * beat / 2) * sample_rate))
        sounds = [0.15 * np.diff(rng.standard_normal(len(hat_t) + 1)) * np.exp(-hat_t * 80)]
        if eighth % 8 in (0, 4):
            sounds.append((0.9 if eighth % 8 == 0 else 0.5) * kick)
        if eighth % 8 in (2, 6):
            sounds.append(0.6 * rng.standard_normal(len(snare_t)) * np.exp(-snare_t * 25))
        for sound in sounds:
            end = min(total, at + len(sound))
            out[at:end] += sound[: end - at]
        eighth += 1
    return out


@pytest.mark.parametrize(
    "bpm, sample_rate, start",
    [(120, 22050, 0.3), (120, 8000, 0.0), (100, 22050, 0.77), (150, 8000, 0.1), (96, 16000, 0.5)],
)
def test_tempo_and_downbeats_of_a_drum_track(bpm, sample_rate, start):
    grid = bar_grid(drums(bpm, 16.0, sample_rate, start), sample_rate)
    assert isinstance(grid, Grid) and grid.beats_per_bar == 4 and grid.seconds == pytest.approx(16.0, abs=1e-3)
    # the issue asks for 2 %; the least-squares period is far better (measured: within 0.01 %)
    assert grid.tempo_bpm == pytest.approx(bpm, rel=0.02)
    assert grid.tempo_bpm == pytest.approx(bpm, rel=0.002)
    bar = 4 * 60.0 / bpm
    assert grid.bar_seconds == pytest.approx(4 * 60.0 / grid.tempo_bpm)
    # every downbeat found is a true one (within 30 ms: the onset envelope's frames are 10 ms), from the first bar
    # on (the tracker drops a clip's first and last beats; whole bars before the first downbeat are added back)
    expected = np.arange(start, 16.0, bar)
    assert len(expected) - 1 <= len(grid.downbeats) <= len(expected)
    assert np.max(np.abs(grid.downbeats - expected[: len(grid.downbeats)])) < 0.03
    assert np.all(np.diff(grid.beats) > 0) and len(grid.beats) >= 4 * (len(expected) - 2)


def test_bar_loop_picks_whole_bars_from_a_downbeat():
    grid = bar_grid(drums(120, 16.0, 22050, 0.3), 22050)
    offset, seconds = bar_loop(grid, 5.94)  # a reference slice holds two 2 s bars, not three
    assert offset == pytest.approx(0.3, abs=0.03) and seconds == pytest.approx(4.0, rel=0.002)
    assert seconds == 2 * grid.bar_seconds
    offset, seconds = bar_loop(grid, 5.94, bars=1, after=3.0)
    assert offset == pytest.approx(4.3, abs=0.03) and seconds == grid.bar_seconds
    # the bars must lie inside the clip (16 s): from 12 s, one bar fits after the downbeat at 12.3 s, two do not
    assert bar_loop(grid, 5.94, bars=1, after=12.0)[0] == pytest.approx(12.3, abs=0.03)
    with pytest.raises(ValueError, match="no downbeat at or after 12 s is followed by 2 bar"):
        bar_loop(grid, 5.94, bars=2, after=12.0)


@pytest.mark.parametrize(
    "slice_seconds, bars, after, message",
    [
        (1.5, None, 0.0, r"one bar \(2.00 s at 120.0 bpm, 4 beats a bar\) is longer than the 1.50 s allowed"),
        (
            5.94,
            3,
            0.0,
            r"3 bars \(6.00 s at 120.0 bpm, 4 beats a bar\) do not fit in the 5.94 s allowed: at most 2",
        ),
        (5.94, 2, 13.0, r"no downbeat at or after 13 s is followed by 2 bar\(s\) \(4.00 s at"),
        (5.94, 0, 0.0, "bars must be a whole number of at least 1"),
    ],
)
def test_bar_loop_errors_are_one_line(slice_seconds, bars, after, message):
    grid = bar_grid(drums(120, 16.0, 22050, 0.3), 22050)
    with pytest.raises(ValueError, match=message) as error:
        bar_loop(grid, slice_seconds, bars, after)
    assert "\n" not in str(error.value)


def test_no_beat_in_silence_or_a_short_clip():
    with pytest.raises(ValueError, match=r"no beat found: the audio \(4.00 s\) is silent"):
        bar_grid(np.zeros(4 * 8000), 8000)
    with pytest.raises(ValueError, match="no steady beat found in the audio"):
        bar_grid(drums(120, 1.5, 8000), 8000)
    with pytest.raises(ValueError, match="beats per bar must be a whole number from 1 to 16"):
        bar_grid(drums(120, 4.0, 8000), 8000, beats_per_bar=0)


def test_three_four_time():
    """beats_per_bar=3 on a waltz: kick on one, hats on two and three."""
    sample_rate, bpm, beat = 16000, 150, 0.4
    audio = np.zeros(int(16 * sample_rate))
    t = np.arange(int(0.2 * sample_rate)) / sample_rate
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-t * 15)
    hat = 0.2 * np.diff(np.random.default_rng(1).standard_normal(len(t) + 1)) * np.exp(-t * 80)
    for index in range(int(16 / beat)):
        at = int(index * beat * sample_rate)
        sound = kick if index % 3 == 0 else hat
        end = min(len(audio), at + len(sound))
        audio[at:end] += sound[: end - at]
    grid = bar_grid(audio, sample_rate, beats_per_bar=3)
    assert grid.tempo_bpm == pytest.approx(bpm, rel=0.002) and grid.bar_seconds == pytest.approx(1.2, rel=0.002)
    assert np.max(np.abs(grid.downbeats - 1.2 * np.arange(len(grid.downbeats)))) < 0.03
