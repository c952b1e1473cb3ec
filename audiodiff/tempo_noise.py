"""Tempo-locked noise: clips drawn at a tempo (`generate --bpm`, `AudioDiffusionPipeline(bpm=...)`).

A diffusion model's noise decides a clip's layout: the same seed gives the same layout under every label and
sampler. Real music repeats itself every beat and bar; the base's clips do not, and a long clip's overlapping
windows disagree on where the beat falls (BENCHMARKS.md "Where the beat is lost"). Tempo-locked noise repeats
along time every `LOCK_BEATS` beats at the asked tempo, mixed with fresh noise:

    noise = lock * tiled + sqrt(1 - lock^2) * fresh

`tiled` is a block of `period` columns of Gaussian noise repeated along the clip, `fresh` white noise; each column
is still standard Gaussian, and two columns one period apart correlate `lock^2`. Both the start noise and the noise
a stochastic sampler adds at every step (dpm-sde, the base's; DDIM with eta) are drawn so, which is what makes the
beat: locking the start noise alone left dpm-sde's clips without one (BENCHMARKS.md "Tempo-locked noise"). Every
window then sees the same noise at the same phase of the bar, and the model draws its onsets at the same places.

A block holds `LOCK_BEATS` beats, not one, so that what happens inside a bar may vary (a kick and a snare), and the
period is whole spectrogram columns: the tempo is `frame_rate * 60 * LOCK_BEATS / period` (`locked_bpm`), within
about 1% of the asked one at the base's settings.
"""

from __future__ import annotations

import math

import torch
from diffusers.utils.torch_utils import randn_tensor

# Beats per repeated block of noise (two beats: one beat made every beat alike; BENCHMARKS.md).
LOCK_BEATS = 2
# How much of the noise repeats, the default (0.8: measured; 0.5 gave little beat).
DEFAULT_LOCK = 0.8
# The tempi `--bpm` takes.
BPM_RANGE = (40.0, 240.0)


def check(bpm: float | None, lock: float | None) -> None:
    """ValueError (one line) unless `bpm` is None or within `BPM_RANGE` and `lock` None or in [0, 1)."""
    if bpm is not None:
        if isinstance(bpm, bool) or not isinstance(bpm, (int, float)) or not math.isfinite(bpm):
            raise ValueError(f"bpm must be a number, got {bpm!r}")
        if not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
            raise ValueError(f"bpm must be between {BPM_RANGE[0]:g} and {BPM_RANGE[1]:g}, got {bpm:g}")
    if lock is not None:
        if isinstance(lock, bool) or not isinstance(lock, (int, float)) or not 0.0 <= lock < 1.0:
            raise ValueError(f"tempo_lock must be at least 0 and below 1, got {lock!r}")
        if bpm is None and lock > 0.0:
            raise ValueError("tempo_lock needs a tempo: give bpm too")


def period_columns(bpm: float, frame_rate: float) -> int:
    """Spectrogram columns of one block of `LOCK_BEATS` beats at `bpm`, `frame_rate` columns a second."""
    return max(1, round(frame_rate * 60.0 * LOCK_BEATS / bpm))


def locked_bpm(bpm: float, frame_rate: float) -> float:
    """The tempo the noise really repeats at: `bpm` rounded to whole columns per block."""
    return frame_rate * 60.0 * LOCK_BEATS / period_columns(bpm, frame_rate)


def locked_noise(shape: tuple[int, ...], generator, device, dtype, period: int | None, lock: float) -> torch.Tensor:
    """Gaussian noise of `shape` `(batch, ..., width)`: white where `period` is None or `lock` 0 (exactly
    `randn_tensor`'s draw), else `lock * tiled + sqrt(1 - lock^2) * fresh` (module docstring), the fresh part drawn
    first, then the block, from the same `generator` (one per batch item, or one)."""
    fresh = randn_tensor(tuple(shape), generator=generator, device=device, dtype=dtype)
    if period is None or lock <= 0.0:
        return fresh
    block = randn_tensor((*shape[:-1], period), generator=generator, device=device, dtype=torch.float32)
    tiled = block.repeat(*([1] * (len(shape) - 1)), -(-shape[-1] // period))[..., : shape[-1]]
    return (lock * tiled + math.sqrt(1.0 - lock * lock) * fresh.float()).to(dtype)
