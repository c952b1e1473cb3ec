"""Per-clip artefact and seam checks: what a listener hears and a Frechet distance averages away.

A Frechet distance compares two sets as Gaussians; a set with a few clips of pure speckle noise among good ones moves
the fitted Gaussian little, so it can still score close to real music. These checks look at every clip:

- **Artefacts.** Every `width`-frame window of a clip (the model's slice width) gets texture statistics: image total
  variation (speckle), spectral flatness (noise), the dark fraction (silence), the saturated fraction and the spread of
  levels (a flat grey image), and the flicker (a typical frame jumps from the one before: frames without continuity). A
  window is flagged when a statistic lies beyond a fence fitted on the same statistic of real windows: `q95 + k (q95 -
  median)` (or `q05 - k (median - q05)` where low is bad; `k` from `FENCE_SPREADS`, calibrated across tracks), a fence
  that follows the tail of the genre's own distribution (distorted rock is flatter than a synthesizer pad, quiet
  passages make the dark fraction heavy-tailed), and never closer to normal than a fixed floor (a window is only called
  silent when 85% of it is at the floor, flat when its levels spread less than 10 dB, flickering only from a median rise
  of 1 dB: a very uniform reference, such as synthesized music, would otherwise call every slightly softer clip an
  artefact). A clip is flagged when any of its windows is.
- **Seams.** For clips longer than one slice, the change of the spectral envelope across each join: the mean
  absolute difference in dB of the band levels (16 bands) of the `context` frames before and after the join. When
  the joins are not known (a clip denoised in one piece, or audio from elsewhere), every point `context` frames
  apart is checked. The same change measured at points inside real slices (continuous music) is the baseline; the
  seam score is the mean change at the checked points over the baseline's mean (1: as smooth as real music).
- **Pulse.** How regular a whole clip's onsets are (`pulse_clarity`): the peak of the normalised autocorrelation of
  its onset envelope at beat periods of 60-200 BPM. A steady beat or pulse repeats (0.5-0.7 for 6 s of real music of
  every genre of the real-music collection); irregular onsets and washes do not (about 0.2). It depends on the clip's
  length (a short envelope finds chance peaks), so it is compared with real music cut to the same length
  (`evaluation.sets.pulse_sample`).

All functions take spectrogram images `(batch, 1, n_mels, frames)` in [-1, 1] (the model's space) and `top_db`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

# Statistic name -> (direction, floor, description). "high": large values are the artefact, and the fence is never
# below `floor`; "low": small values are, and the fence is never above `floor`.
STATISTICS: dict[str, tuple[str, float, str]] = {
    "total_variation": ("high", 0.0, "speckle: mean absolute pixel difference to the right and upper neighbours"),
    "spectral_flatness": ("high", 0.0, "noise: mean over frames of the mel power's geometric / arithmetic mean"),
    "dark_fraction": ("high", 0.85, "silence: share of pixels within 2% of the floor (-top_db)"),
    "saturated_fraction": ("high", 0.05, "saturation: share of pixels within 2% of the peak (0 dB)"),
    "level_spread": ("low", 10.0, "flat image: standard deviation of the dB values (a uniform grey has none)"),
    "onset_strength": (
        "low",
        float("inf"),
        "blurred, no onsets: 90th percentile minus median over frames of the spectral flux (mean rise in dB)",
    ),
    "spectral_detail": (
        "low",
        float("inf"),
        "blurred, no tonal lines: mean distance in dB of each pixel from its frame's spectrum smoothed over mel rows",
    ),
    "flicker": (
        "high",
        1.0,
        "flicker, no continuity: median over frames of the spectral flux (mean rise in dB): every frame jumps",
    ),
}
# Statistics whose fences are fitted on their logarithm: positive, with a long low tail in real music (a quiet bar
# of a beat has a tenth of its onsets), where a wash sits an order of magnitude lower rather than a few dB.
LOG_SCALE = ("onset_strength", "spectral_detail")
# The structure statistics: `check_artifacts` also reports the median window's value against the reference's (a set
# can pass every fence and still hold half the detail of real music: the fences only catch the far tail).
STRUCTURE = ("onset_strength", "spectral_detail")
FENCE_QUANTILE = 0.95
# How many spreads beyond the reference's tail each fence sits, calibrated across tracks by
# `scripts/bench_fence_spreads.py` (BENCHMARKS.md, "The fences' spreads"): fitted on 4 tracks of a genre, each
# statistic may flag at most 1% of whole 6 s excerpts of 3 other tracks on average (the base's training tracks,
# 40 draws per genre), so that all of them together stay well under the 5% of real music the issue allows. Texture
# differs more between recordings than inside one: at 2 spreads a grainier cinematic recording tripped the speckle
# fence (9% of held-out excerpts) and a noisier electronic one the noise fence (3.3% on average).
FENCE_SPREADS = {**dict.fromkeys(STATISTICS, 2.0), "total_variation": 3.0, "spectral_flatness": 5.0}
# Below these a window is a wash whatever the reference: the fitted fence never lies lower. Real windows of every
# genre of the real-music collection stayed above 0.9 dB of spectral detail; real clips blurred by a Gaussian of
# 2 pixels fell to 0.2-0.3 dB (electronic music varies so much that its fitted fence lay at 0.04 dB). A reference
# whose own windows are that smooth (a kick drum at 32 mel bands) lowers the level to half its 5% quantile.
WASH_LEVELS = {"spectral_detail": 0.5}
SEAM_BANDS = 16
# The beat periods the pulse looks for, in beats per minute.
PULSE_BPM = (60.0, 200.0)
# At most this many runs of consecutive real slices are drawn to measure the reference's pulse at the generated
# clips' length.
PULSE_RUNS = 64
# At most this many real windows are drawn to fit the fences on, by training (the training data's) and by evaluation
# (the reference's, whatever the number of clips evaluated). A fence sits near the 5% quantile: fitted on the 64
# windows of a 32-clip evaluation it moved by a quarter of a dB between draws, and the share of a model's clips it
# flagged swung from 6% to 100% (BENCHMARKS.md, "the structure check's fences").
FENCE_SAMPLE = 1024


def windows(images: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut `(batch, 1, n_mels, frames)` images into `width`-frame windows covering every frame.

    Windows start every `width` frames; when `frames` is not a multiple of `width`, the last window is aligned to the
    end (it overlaps the one before). Clips narrower than `width` give one window of their own width.
    Returns `(windows, clip_index, start)`: `(count, 1, n_mels, width)`, `(count,)` and `(count,)`.
    """
    frames = images.shape[-1]
    if frames <= width:
        count = len(images)
        return images, torch.arange(count), torch.zeros(count, dtype=torch.long)
    starts = list(range(0, frames - width + 1, width))
    if starts[-1] + width < frames:
        starts.append(frames - width)
    pieces = torch.stack([images[..., start : start + width] for start in starts], dim=1)  # (batch, k, 1, h, w)
    clip_index = torch.arange(len(images)).repeat_interleave(len(starts))
    start = torch.tensor(starts).repeat(len(images))
    return pieces.flatten(0, 1), clip_index, start


def comparable_windows(images: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`windows`, each re-referenced to its own peak (`rereferenced`): how every check and metric cuts clips, so
    that clips of any length compare with slices like with like."""
    pieces, clip_index, start = windows(images, width)
    return rereferenced(pieces), clip_index, start


def rereferenced(images: torch.Tensor) -> torch.Tensor:
    """Each image `(batch, 1, n_mels, frames)` shifted in dB so that its loudest pixel is 0 dB, as every slice of a
    dataset is (the codec refers each slice to its own peak). What lay at the clip's floor rises with the rest: a
    quiet window keeps a plateau where its own slice would show detail (keeping those pixels at the floor instead
    drew edges that the speckle check flagged in real music).

    A window of a long clip is referred to the whole clip's peak: a quiet bar of a 6 s clip would otherwise read as
    darker and flatter than any reference slice, and real music cut into long clips was flagged where its own slices
    were not. Re-referenced, windows of any clip compare with slices like with like (issue 23)."""
    images = images.float()
    peak = images.amax(dim=(-3, -2, -1), keepdim=True)
    silent = peak <= -1 + 1e-6  # nothing above the floor: silence stays silence
    return (images + torch.where(silent, torch.zeros_like(peak), 1 - peak)).clamp(-1, 1)


def image_statistics(images: torch.Tensor, top_db: float) -> dict[str, torch.Tensor]:
    """The texture statistics of `STATISTICS` for each image `(batch, 1, n_mels, frames)`; each value `(batch,)`."""
    pixels = (images.float().clamp(-1, 1) + 1) / 2  # (batch, 1, n_mels, frames) in [0, 1]
    horizontal = (pixels[..., :, 1:] - pixels[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    vertical = (pixels[..., 1:, :] - pixels[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    decibels = pixels[:, 0] * top_db - top_db  # (batch, n_mels, frames), 0 dB = the clip's peak
    power = torch.pow(10.0, decibels / 10)
    geometric = torch.exp(torch.log(power).mean(dim=1))
    flatness = (geometric / power.mean(dim=1)).mean(dim=-1)
    return {
        "total_variation": horizontal + vertical,
        "spectral_flatness": flatness,
        "dark_fraction": (pixels <= 0.02).float().mean(dim=(1, 2, 3)),
        "saturated_fraction": (pixels >= 0.98).float().mean(dim=(1, 2, 3)),
        "level_spread": decibels.flatten(1).std(dim=1),
        **structure_statistics(decibels),
        "flicker": flicker(decibels),
    }


def flicker(decibels: torch.Tensor) -> torch.Tensor:
    """How much a typical frame differs from the one before, per image `(batch, n_mels, frames)` of dB levels:
    the median over frames of the `spectral_flux`, in dB `(batch,)`. Music mostly continues from frame to frame and
    rises at its onsets (real windows: about 0.2-1.1 dB); frames shuffled in time, or sampling noise that a model
    did not turn into sound, rise at every frame (1-4 dB). High values are the failure."""
    if decibels.shape[-1] < 3:
        return torch.zeros(len(decibels), dtype=decibels.dtype, device=decibels.device)
    return spectral_flux(decibels).median(dim=-1).values


def spectral_flux(decibels: torch.Tensor) -> torch.Tensor:
    """The onset envelope `(batch, frames - 1)` of dB images `(batch, n_mels, frames)`: frame to frame, the mean over
    mel rows of the rise `max(0, D[m, t] - D[m, t-1])` (Bello et al. 2005, on the mel image)."""
    return (decibels[..., 1:] - decibels[..., :-1]).clamp(min=0).mean(dim=1)


def structure_statistics(decibels: torch.Tensor) -> dict[str, torch.Tensor]:
    """What music has and a wash does not, per image `(batch, n_mels, frames)` of dB levels; each value `(batch,)`.

    onset_strength: the 90th percentile over frames of the `spectral_flux` (the onset detection function) minus its
    median is how far onsets stand above the steady change (a beat, a plucked note: several dB; a smooth wash or a
    stationary noise: near 0). spectral_detail: the mean absolute difference between each pixel and its frame's
    spectrum smoothed over about a sixteenth of the mel rows: harmonics and tonal lines stand out of their
    neighbourhood, a blurred spectrum does not. Both in dB; low values are the failure."""
    if decibels.shape[-1] < 3 or decibels.shape[-2] < 3:
        zero = torch.zeros(len(decibels), dtype=decibels.dtype, device=decibels.device)
        return {"onset_strength": zero, "spectral_detail": zero}
    flux = spectral_flux(decibels)
    onset = torch.quantile(flux, 0.9, dim=-1) - flux.median(dim=-1).values
    kernel = max(3, decibels.shape[-2] // 16) | 1
    smooth = F.avg_pool1d(decibels.transpose(1, 2).reshape(-1, 1, decibels.shape[-2]), kernel, stride=1,
                          padding=kernel // 2, count_include_pad=False)  # fmt: skip
    smooth = smooth.reshape(decibels.shape[0], decibels.shape[2], decibels.shape[1]).transpose(1, 2)
    return {"onset_strength": onset, "spectral_detail": (decibels - smooth).abs().mean(dim=(1, 2))}


def onset_autocorrelation(
    images: torch.Tensor, top_db: float, frame_rate: float, ignore: Sequence[int] = (), bpm=PULSE_BPM
) -> tuple[range, torch.Tensor]:
    """The correlation of each whole image's onset envelope with itself shifted by each beat period: `(lags,
    correlations)`, lags in frames (the periods within `bpm` at `frame_rate` frames per second, up to half the
    envelope), correlations `(batch, len(lags))` (Pearson's, over the frames both cover).

    The onset envelope is the `spectral_flux` of the image `(batch, 1, n_mels, frames)` re-referenced to its peak.
    `ignore`: columns whose rise is not the music's (where separately encoded slices of a real run were joined: each
    slice is referred to its own peak and its edge frames see padding), replaced by the envelope's median. Under 4
    frames of lag to search: no lags, correlations `(batch, 0)`."""
    decibels = (rereferenced(images)[:, 0].float().clamp(-1, 1) + 1) / 2 * top_db
    flux = spectral_flux(decibels)
    columns = sorted({column - 1 for column in ignore if 0 < column < decibels.shape[-1]})
    if columns:
        flux[:, columns] = flux.median(dim=-1, keepdim=True).values
    lowest = max(1, math.floor(frame_rate * 60 / bpm[1]))
    highest = min(math.ceil(frame_rate * 60 / bpm[0]), flux.shape[-1] // 2)
    if highest < max(lowest, 4):
        return range(0), flux.new_zeros((len(images), 0))
    lags = range(lowest, highest + 1)
    correlations = []
    for lag in lags:
        early, late = flux[:, :-lag], flux[:, lag:]
        early, late = early - early.mean(dim=-1, keepdim=True), late - late.mean(dim=-1, keepdim=True)
        spread = (early.pow(2).sum(dim=-1) * late.pow(2).sum(dim=-1)).sqrt().clamp(min=1e-9)
        correlations.append((early * late).sum(dim=-1) / spread)
    return lags, torch.stack(correlations, dim=-1)


def pulse_clarity(
    images: torch.Tensor, top_db: float, frame_rate: float, ignore: Sequence[int] = (), bpm=PULSE_BPM
) -> torch.Tensor:
    """How regular the onsets of each whole image `(batch, 1, n_mels, frames)` are; `(batch,)` from 0 (no repeating
    beat) to 1 (onsets exactly periodic): the largest `onset_autocorrelation` among the beat periods within `bpm`
    (`ignore`: see there). Under 4 frames of lag to search, 0."""
    lags, correlations = onset_autocorrelation(images, top_db, frame_rate, ignore, bpm)
    if not lags:
        return torch.zeros(len(images))
    return correlations.amax(dim=-1).clamp(min=0.0)


@dataclasses.dataclass
class Fences:
    """Per-statistic thresholds fitted on reference windows; beyond a fence a window is flagged."""

    limits: dict[str, float]
    reference_quantiles: dict[str, tuple[float, float, float]]

    @classmethod
    def fit(cls, statistics: dict[str, torch.Tensor], spreads: dict[str, float] | None = None) -> Fences:
        """Fences `q95 + k (q95 - median)` (`q05 - k (median - q05)` for "low" statistics), `k` the statistic's
        `FENCE_SPREADS` (or `spreads`, for calibrating them), within the floors; on the logarithm for the `LOG_SCALE`
        statistics; never below the `WASH_LEVELS`."""
        spreads = {**FENCE_SPREADS, **(spreads or {})}
        limits, quantiles = {}, {}
        for name, (direction, floor, _) in STATISTICS.items():
            values = statistics[name].double()
            logarithmic = name in LOG_SCALE
            if logarithmic:
                values = values.clamp(min=1e-3).log()
            low, median, high = (float(torch.quantile(values, q)) for q in (1 - FENCE_QUANTILE, 0.5, FENCE_QUANTILE))
            k = spreads[name]
            fitted = high + k * (high - median) if direction == "high" else low - k * (median - low)
            if logarithmic:
                fitted, low, median, high = (math.exp(value) for value in (fitted, low, median, high))
            limits[name] = max(fitted, floor) if direction == "high" else min(fitted, floor)
            if name in WASH_LEVELS:  # never below half the reference's own 5% quantile: smooth music stays music
                limits[name] = max(limits[name], min(WASH_LEVELS[name], low / 2))
            quantiles[name] = (low, median, high)
        return cls(limits, quantiles)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the limits and the reference's 5/50/95% quantiles (stored with pipelines by training)."""
        return {
            "limits": {name: round(value, 6) for name, value in self.limits.items()},
            "quantiles_5_50_95": {
                name: [round(v, 6) for v in values] for name, values in self.reference_quantiles.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fences:
        """The inverse of `to_dict`; a missing statistic keeps no fence (never flags)."""
        limits = {name: float(value) for name, value in data["limits"].items() if name in STATISTICS}
        for name, (direction, _, _) in STATISTICS.items():
            limits.setdefault(name, float("inf") if direction == "high" else float("-inf"))
        quantiles = {name: tuple(values) for name, values in data.get("quantiles_5_50_95", {}).items()}
        return cls(limits, quantiles)

    @classmethod
    def from_images(cls, images: torch.Tensor, width: int, top_db: float) -> Fences:
        """Fences fitted on the `width`-frame windows of real images `(count, 1, n_mels, frames)`."""
        return cls.fit(image_statistics(comparable_windows(images, width)[0], top_db))

    def flags(self, statistics: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Boolean `(count,)` per statistic: True where the value lies beyond its fence."""
        result = {}
        for name, (direction, _, _) in STATISTICS.items():
            values = statistics[name]
            result[name] = values > self.limits[name] if direction == "high" else values < self.limits[name]
        return result


def clip_reasons(images: torch.Tensor, fences: Fences, width: int, top_db: float) -> list[list[str]]:
    """Per clip `(N, 1, n_mels, frames)`, the statistics whose fence any of its `width`-frame windows crosses
    (empty: the clip passes)."""
    pieces, clip_index, _ = comparable_windows(images, width)
    flags = fences.flags(image_statistics(pieces, top_db))
    return [
        sorted(name for name, flagged in flags.items() if bool(flagged[clip_index == index].any()))
        for index in range(len(images))
    ]


def check_artifacts(
    generated: torch.Tensor,
    reference: torch.Tensor | None,
    width: int,
    top_db: float,
    names: Sequence[str] | None = None,
    *,
    reference_statistics: dict[str, torch.Tensor] | None = None,
    pulse_reference: torch.Tensor | None = None,
    frame_rate: float | None = None,
) -> dict[str, Any]:
    """Flag the generated clips whose windows leave the reference's texture range (see the module docstring).

    generated: `(N, 1, n_mels, frames)`; reference: `(M, 1, n_mels, frames')` real clips (cut into windows too);
    or, instead, `reference_statistics`: the `image_statistics` of real windows gathered beforehand (a larger sample
    than fits in memory as images: `evaluation.sets.window_statistics`). width: the window (the model's slice
    width). Returns a JSON-ready dict: shares of flagged clips and windows, the fences, the reference's own
    false-alarm rate (each reference window against fences fitted on the others would cost M fits; instead the
    share of reference windows beyond the fences, 0 by construction for most statistics), the median window's
    onset strength and spectral detail against the reference's median window (`structure`, with their ratio: 1 for
    as much structure as real music), and per clip its flag, reasons and worst statistics, flagged clips first.
    With `frame_rate` (frames per second) each clip also gets its `pulse_clarity`, and with `pulse_reference` (the
    pulse of real music cut to the generated clips' length, `evaluation.sets.pulse_sample`) `structure` holds the
    median clip's pulse against the reference's median.
    """
    names = list(names) if names is not None else [f"clip {index}" for index in range(len(generated))]
    if reference_statistics is None:
        if reference is None:
            raise ValueError("check_artifacts needs reference images or reference_statistics")
        reference_statistics = image_statistics(comparable_windows(reference, width)[0], top_db)
    fences = Fences.fit(reference_statistics)
    generated_windows, clip_index, starts = comparable_windows(generated, width)
    statistics = image_statistics(generated_windows, top_db)
    flags = fences.flags(statistics)
    window_flagged = torch.stack(list(flags.values())).any(dim=0)
    pulse = None if frame_rate is None else pulse_clarity(generated, top_db, frame_rate)
    clips = []
    for index in range(len(generated)):
        mine = clip_index == index
        reasons = sorted({name for name, flagged in flags.items() if bool(flagged[mine].any())})
        bad_windows = [int(start) for start, bad in zip(starts[mine], window_flagged[mine]) if bool(bad)]
        clips.append(
            {
                "name": names[index],
                "flagged": bool(reasons),
                "reasons": reasons,
                "flagged_window_starts": bad_windows,
                "windows": int(mine.sum()),
                **{  # each statistic's worst window: the largest, or the smallest where low is bad
                    name: round(float(values[mine].max() if STATISTICS[name][0] == "high" else values[mine].min()), 4)
                    for name, values in statistics.items()
                },
                **({} if pulse is None else {"pulse_clarity": round(float(pulse[index]), 4)}),
            }
        )
    reference_flags = fences.flags(reference_statistics)
    reference_flagged = torch.stack(list(reference_flags.values())).any(dim=0)
    structure = {}
    for name in STRUCTURE:  # how much structure a typical window has, against a typical real window
        median, real = float(statistics[name].median()), float(reference_statistics[name].median())
        structure[name] = {"median": round(median, 4), "reference_median": round(real, 4),
                           "ratio": round(median / real, 3) if real > 0 else None}  # fmt: skip
    if pulse is not None and pulse_reference is not None and len(pulse_reference):
        median, real = float(pulse.median()), float(pulse_reference.median())
        structure["pulse_clarity"] = {"median": round(median, 4), "reference_median": round(real, 4),
                                      "ratio": round(median / real, 3) if real > 0 else None,
                                      "reference_runs": len(pulse_reference)}  # fmt: skip
    clips.sort(key=lambda clip: (not clip["flagged"], -clip["total_variation"]))
    flagged = sum(clip["flagged"] for clip in clips)
    return {
        "clips": len(generated),
        "flagged_clips": flagged,
        "flagged_share": round(flagged / max(1, len(generated)), 4),
        "windows": len(generated_windows),
        "flagged_windows": int(window_flagged.sum()),
        "flagged_window_share": round(float(window_flagged.float().mean()), 4),
        "by_reason": {name: int(values.sum()) for name, values in flags.items()},
        "reason_meanings": {name: description for name, (_, _, description) in STATISTICS.items()},
        "reference_windows": len(reference_flagged),
        "reference_flagged_window_share": round(float(reference_flagged.float().mean()), 4),
        "structure": structure,
        "fences": {name: round(value, 4) for name, value in fences.limits.items()},
        "reference_quantiles_5_50_95": {
            name: [round(value, 4) for value in values] for name, values in fences.reference_quantiles.items()
        },
        "per_clip": clips,
    }


def band_levels(images: torch.Tensor, top_db: float, bands: int = SEAM_BANDS) -> torch.Tensor:
    """Mel dB levels averaged into `bands` bands: `(batch, 1, n_mels, frames)` -> `(batch, bands, frames)`."""
    decibels = (images.float().clamp(-1, 1)[:, 0] + 1) / 2 * top_db - top_db
    return F.adaptive_avg_pool1d(decibels.transpose(1, 2), min(bands, decibels.shape[1])).transpose(1, 2)


def envelope_change(levels: torch.Tensor, position: int, context: int) -> torch.Tensor:
    """Mean absolute dB difference of the band levels averaged over `context` frames before and after `position`.

    levels: `(batch, bands, frames)` from `band_levels`. Returns `(batch,)`.
    """
    before = levels[..., position - context : position].mean(dim=-1)
    after = levels[..., position : position + context].mean(dim=-1)
    return (after - before).abs().mean(dim=-1)


def scan_positions(frames: int, context: int) -> list[int]:
    """Every point with `context` frames on both sides, `context` apart: `[context, 2 context, ...]`."""
    return list(range(context, frames - context + 1, context))


def reference_changes(reference: torch.Tensor, top_db: float, context: int) -> torch.Tensor:
    """The envelope change at every scan point of real slices (continuous music: the baseline).

    reference: `(M, 1, n_mels, frames)`. Returns a flat tensor of changes in dB.
    """
    levels = band_levels(reference, top_db)
    frames = levels.shape[-1]
    if frames < 2 * context:
        raise ValueError(f"reference clips of {frames} frames are too short for a seam context of {context} frames")
    return torch.cat([envelope_change(levels, position, context) for position in scan_positions(frames, context)])


def check_seams(
    generated: torch.Tensor,
    joins: Sequence[Sequence[int]] | None,
    reference: torch.Tensor,
    top_db: float,
    context: int,
    names: Sequence[str] | None = None,
    sample_rate: int = 22050,
    hop_length: int = 512,
    worst: int = 5,
) -> dict[str, Any]:
    """Envelope change across each join of the generated clips against the same change inside real music.

    generated: `(N, 1, n_mels, frames)`; joins: per clip, the columns where separately generated pieces meet, or
    None to check every scan point (`scan_positions`); reference: real clips `(M, 1, n_mels, frames')`; context:
    frames on each side (a quarter slice is a good choice).
    Returns a JSON-ready dict: mean and 90th percentile join change in dB, the reference's, their ratio (the seam
    score: 1 = joins are as smooth as continuous real music), and the `worst` joins with clip name and time.
    """
    names = list(names) if names is not None else [f"clip {index}" for index in range(len(generated))]
    baseline = reference_changes(reference, top_db, context)
    levels = band_levels(generated, top_db)
    frames = levels.shape[-1]
    found = []
    for index in range(len(generated)):
        positions = scan_positions(frames, context) if joins is None else joins[index]
        for position in positions:
            if context <= position <= frames - context:
                change = float(envelope_change(levels[index : index + 1], position, context)[0])
                found.append((change, names[index], position))
    result: dict[str, Any] = {
        "context_frames": context,
        "reference_points": len(baseline),
        "reference_mean_change_db": round(float(baseline.mean()), 3),
        "reference_p90_change_db": round(float(torch.quantile(baseline.double(), 0.9)), 3),
        "checked": "joins" if joins is not None else "every point",
        "points": len(found),
    }
    if not found:
        result.update(mean_change_db=None, p90_change_db=None, seam_score=None, worst=[])
        return result
    changes = torch.tensor([change for change, _, _ in found], dtype=torch.float64)
    found.sort(key=lambda item: -item[0])
    result.update(
        mean_change_db=round(float(changes.mean()), 3),
        p90_change_db=round(float(torch.quantile(changes, 0.9)), 3),
        seam_score=round(float(changes.mean()) / max(float(baseline.mean()), 1e-9), 3),
        share_above_reference_p90=round(float((changes > torch.quantile(baseline.double(), 0.9)).double().mean()), 3),
        worst=[
            {"clip": name, "seconds": round(position * hop_length / sample_rate, 2), "change_db": round(change, 3)}
            for change, name, position in found[:worst]
        ],
    )
    return result
