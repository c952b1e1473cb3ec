"""Phase-gradient heap integration (PGHI): a phase for an STFT magnitude, without iterating.

Prusa, Balazs and Sondergaard 2017, "A noniterative method for reconstruction of phase from STFT magnitude"
(IEEE/ACM TASLP 25(5)). For a Gaussian window the STFT is analytic up to a known factor, so the phase gradient
follows from the log-magnitude gradient. With the phase measured from each window's centre ("time-invariant"
convention), time in samples and frequency in cycles per sample:

    d phase / d time      = (1 / lambda) d log|c| / d frequency + 2 pi frequency
    d phase / d frequency = -lambda d log|c| / d time

where lambda is the window's time-frequency spread (`exp(-pi t^2 / lambda)`); a Hann window of length L behaves like
the Gaussian with lambda = 0.25645 L^2 (the paper's Table I). The phase is then integrated (trapezoidal rule) outward
from the largest coefficient, always next from the largest coefficient already reached (a max-heap), so that the
reliable gradients of strong coefficients decide the phase. Coefficients below `tolerance` of the largest keep the
caller's (random) phase. Several tolerances, largest first, integrate each strong region from its own peak before
the weak coefficients between them are filled in (as LTFAT's `pghi` does with a tolerance vector).

The gradients are computed on torch (any device); the heap integration is sequential and runs on the CPU, compiled
with numba (a dependency of librosa), one batch item after another. numba compiles on first use and keeps the
machine code on disk (`cache=True`; a user-wide cache folder when the package folder is read-only), so only the first
process pays a few seconds; this module is imported only when PGHI is asked for.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

HANN_LAMBDA = 0.25645  # lambda / L^2 of the Gaussian matching a Hann window of length L (Prusa et al. 2017, Table I)
# Measured on held-out real music (scripts/bench_vocoder.py): below 1% of the peak, the magnitude that the mel-to-linear
# step gives is too unreliable for its gradient; random phase there decodes better (LTFAT integrates down to 1e-10).
DEFAULT_TOLERANCES = (1e-1, 1e-2)
# Log-magnitudes more than this far below the item's peak are floored: their gradients are noise (LTFAT uses 11).
LOG_FLOOR = 11.0
QUEUE_BUCKETS = 4096


def pghi_phase(
    magnitude: torch.Tensor,
    n_fft: int,
    hop_length: int,
    initial_phase: torch.Tensor,
    tolerances: tuple[float, ...] = DEFAULT_TOLERANCES,
    window_length: int | None = None,
) -> torch.Tensor:
    """The PGHI phase of a linear STFT magnitude, in radians.

    magnitude: `(batch, n_freqs, frames)`, the magnitude of a centred STFT (`torch.stft(center=True)`) with a Hann
    window of `window_length` (default `n_fft`) samples and `hop_length`. initial_phase: `(batch, n_freqs, frames)`
    radians, kept where the magnitude is below the smallest tolerance (relative to each item's peak) and used as the
    phase of the first coefficient of each region. Returns `(batch, n_freqs, frames)` radians in torch.stft's
    convention (phase measured from the start of each frame), on the magnitude's device.
    """
    if magnitude.shape != initial_phase.shape or magnitude.ndim != 3:
        raise ValueError(
            f"magnitude and initial_phase must both be (batch, n_freqs, frames), got {tuple(magnitude.shape)} and "
            f"{tuple(initial_phase.shape)}"
        )
    if not tolerances or any(not 0 < value < 1 for value in tolerances):
        raise ValueError(f"tolerances must be numbers in (0, 1), got {tolerances}")
    time_step, frequency_step = phase_steps(magnitude, n_fft, hop_length, window_length)
    peak = magnitude.flatten(1).amax(dim=1).clamp(min=1e-30).double().cpu().numpy()
    thresholds = np.outer(peak, np.sort(np.asarray(tolerances, dtype=np.float64))[::-1])
    phase = _integrate_items(
        np.ascontiguousarray(magnitude.detach().double().cpu().numpy()),
        np.ascontiguousarray(time_step.double().cpu().numpy()),
        np.ascontiguousarray(frequency_step.double().cpu().numpy()),
        np.ascontiguousarray(initial_phase.detach().double().cpu().numpy()),
        np.ascontiguousarray(thresholds),
    )
    return torch.from_numpy(phase).to(magnitude.device, magnitude.dtype)


def phase_steps(
    magnitude: torch.Tensor, n_fft: int, hop_length: int, window_length: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Phase advance per frame and per frequency bin at each coefficient, from the log-magnitude gradient.

    magnitude: `(batch, n_freqs, frames)`. Returns `(time_step, frequency_step)`, both `(batch, n_freqs, frames)`,
    radians: `hop * d phase/d time` and `(1 / n_fft) * d phase/d frequency` in the time-invariant convention, so that
    the trapezoidal rule between neighbours is the mean of their two steps. Centred finite differences inside,
    one-sided at the edges.
    """
    length = float(window_length or n_fft)
    spread = HANN_LAMBDA * length * length  # lambda, samples^2
    peak = magnitude.flatten(1).amax(dim=1).clamp(min=1e-30)
    log_magnitude = torch.log(magnitude.double().clamp(min=1e-30))
    floor = torch.log(peak.double()).view(-1, 1, 1) - LOG_FLOOR
    log_magnitude = torch.maximum(log_magnitude, floor)
    # d log|c| / d bin and / d frame
    along_frequency = torch.gradient(log_magnitude, dim=1)[0] if magnitude.shape[1] > 1 else log_magnitude * 0
    along_time = torch.gradient(log_magnitude, dim=2)[0] if magnitude.shape[2] > 1 else log_magnitude * 0
    bins = torch.arange(magnitude.shape[1], device=magnitude.device, dtype=torch.float64).view(1, -1, 1)
    # d phase/d time = n_fft / lambda * d log|c|/d bin + 2 pi bin / n_fft (radians per sample), times the hop.
    time_step = hop_length * (n_fft / spread * along_frequency + 2 * math.pi * bins / n_fft)
    # d phase/d frequency = -lambda / hop * d log|c|/d frame (radians per cycle/sample), times one bin (1 / n_fft).
    frequency_step = -spread / (hop_length * n_fft) * along_time
    return time_step, frequency_step


@numba.njit(cache=True)
def _integrate_items(magnitude, time_step, frequency_step, initial_phase, thresholds):
    """Heap integration of every batch item (Prusa et al. 2017, Algorithm 1, with a tolerance per pass).

    magnitude, time_step, frequency_step, initial_phase: float64 `(batch, n_freqs, frames)`; thresholds: float64
    `(batch, passes)` absolute magnitudes, decreasing. Returns the phase, float64 `(batch, n_freqs, frames)`, with
    torch.stft's convention (the time-invariant phase turned by pi per bin: the frame starts n_fft / 2 before its
    centre).

    The max-heap is a bucket queue over the log-magnitude (`QUEUE_BUCKETS` levels between the smallest tolerance and
    the peak, 0.03 dB apart at the default tolerances): constant time per coefficient instead of a binary heap's
    log(n), about five times faster at 1025 x 256 coefficients, and the order it gives up is finer than the 0.3 dB
    steps of an 8-bit image. Region starts are visited in the same bucket order (a counting sort).
    """
    batch, n_freqs, frames = magnitude.shape
    size = n_freqs * frames
    buckets = QUEUE_BUCKETS
    result = np.empty_like(initial_phase)
    bucket = np.empty(size, dtype=np.int64)
    order = np.empty(size, dtype=np.int64)
    following = np.empty(size, dtype=np.int64)  # the next coefficient in the same bucket (a linked stack)
    head = np.empty(buckets, dtype=np.int64)
    counts = np.empty(buckets + 1, dtype=np.int64)
    done = np.zeros(size, dtype=np.uint8)
    for item in range(batch):
        values = magnitude[item].ravel()
        across = time_step[item].ravel()
        up = frequency_step[item].ravel()
        phase = initial_phase[item].ravel().copy()
        lowest = thresholds[item, thresholds.shape[1] - 1]
        peak = max(values.max(), lowest * 1.0001)
        scale = (buckets - 1) / (np.log(peak) - np.log(lowest))
        counts[:] = 0
        for index in range(size):
            level = -1
            if values[index] >= lowest:
                level = min(buckets - 1, int((np.log(values[index]) - np.log(lowest)) * scale))
            bucket[index] = level
            counts[level + 1] += 1
        # Counting sort, largest bucket first: positions of each bucket in `order`.
        position = 0
        for level in range(buckets, -1, -1):
            count = counts[level]
            counts[level] = position
            position += count
        for index in range(size):
            order[counts[bucket[index] + 1]] = index
            counts[bucket[index] + 1] += 1
        done[:] = 0
        head[:] = -1
        top = -1
        for level in range(thresholds.shape[1]):
            threshold = thresholds[item, level]
            if level > 0:
                # Later passes grow the regions already integrated into the newly admitted coefficients.
                for index in range(size):
                    if done[index]:
                        following[index] = head[bucket[index]]
                        head[bucket[index]] = index
                        top = max(top, bucket[index])
            for start in order:
                if values[start] < threshold:
                    break
                if done[start] and top < 0:
                    continue
                if not done[start]:
                    done[start] = 1  # a new region: its largest coefficient keeps the initial phase
                    following[start] = head[bucket[start]]
                    head[bucket[start]] = start
                    top = max(top, bucket[start])
                while top >= 0:
                    index = head[top]
                    if index < 0:
                        top -= 1
                        continue
                    head[top] = following[index]
                    frequency, frame = index // frames, index % frames
                    for side in range(4):
                        if side == 0:
                            if frame + 1 >= frames:
                                continue
                            other = index + 1
                        elif side == 1:
                            if frame == 0:
                                continue
                            other = index - 1
                        elif side == 2:
                            if frequency + 1 >= n_freqs:
                                continue
                            other = index + frames
                        else:
                            if frequency == 0:
                                continue
                            other = index - frames
                        if done[other] or values[other] < threshold:
                            continue
                        if side == 0:
                            phase[other] = phase[index] + 0.5 * (across[index] + across[other])
                        elif side == 1:
                            phase[other] = phase[index] - 0.5 * (across[index] + across[other])
                        elif side == 2:
                            phase[other] = phase[index] + 0.5 * (up[index] + up[other])
                        else:
                            phase[other] = phase[index] - 0.5 * (up[index] + up[other])
                        done[other] = 1
                        following[other] = head[bucket[other]]
                        head[bucket[other]] = other
                        top = max(top, bucket[other])
        for index in range(size):
            if done[index]:
                phase[index] += np.pi * (index // frames)  # time-invariant -> frame-start phase: (-1)^bin
        result[item] = phase.reshape(n_freqs, frames)
    return result
