"""The copy check: does a model replay its training music? (Memorisation in diffusion models: Somepalli et al.
2023, "Diffusion art or digital forgery?", and Carlini et al. 2023, "Extracting training data from diffusion
models", both flag a generated image whose nearest training image is far closer than unrelated images are.)

Every clip is cut into one-slice windows re-referenced to their own peaks (`evaluation.report.as_windows`, the same
cut as the rest of the report), and each window's nearest training window is found by the log-mel RMS distance in
dB. The yardstick is real music the model did not train on: the held-out reference's windows (or, without one,
each training window's nearest window of *another* training track), whose nearest training windows are at the
distances that "different music of the same genre" has. A generated clip is a near-copy when one of its windows is
closer to a training window than `COPY_FRACTION` of the yardstick's 5% quantile: exact and lightly noised training
slices fall below it, held-out tracks of the genre do not (tests/test_copies.py; BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Any

import torch

from audiodiff.evaluation.clips import ClipSet
from audiodiff.evaluation.metrics import pairwise_log_mel_distances

# Half the distance at which the closest 5% of real, unseen music sits from the training windows.
COPY_FRACTION = 0.5
COPY_QUANTILE = 0.05
SHOWN_PAIRS = 4


def nearest_windows(queries: torch.Tensor, training: torch.Tensor, top_db: float, chunk: int = 256):
    """For each query window `(Nq, 1, n_mels, frames)` the distance (dB) to its nearest training window
    `(Nt, 1, n_mels, frames)` and that window's index: two `(Nq,)` tensors. Computed in chunks of queries, so memory
    stays `chunk x Nt`."""
    distances, indices = [], []
    for start in range(0, len(queries), chunk):
        block = pairwise_log_mel_distances(queries[start : start + chunk], training, top_db)
        value, index = block.min(dim=1)
        distances.append(value)
        indices.append(index)
    return torch.cat(distances), torch.cat(indices)


def _per_clip_minimum(distances: torch.Tensor, clip_index: list[int], clips: int) -> tuple[torch.Tensor, list[int]]:
    """The smallest window distance of each clip `(clips,)` and the window that has it."""
    best = torch.full((clips,), float("inf"), dtype=distances.dtype)
    where = [-1] * clips
    for window, clip in enumerate(clip_index):
        if distances[window] < best[clip]:
            best[clip] = distances[window]
            where[clip] = window
    return best, where


def _cross_track_distances(training: ClipSet, top_db: float) -> torch.Tensor:
    """Each training window's distance to its nearest window of another track (the yardstick without a held-out
    reference). Empty when the training windows come from one track."""
    names = {name: index for index, name in enumerate(dict.fromkeys(training.groups))}
    track = torch.tensor([names[name] for name in training.groups])
    distances = pairwise_log_mel_distances(training.images, training.images, top_db)
    same = track[:, None] == track[None, :]
    distances = distances.masked_fill(same, float("inf")).min(dim=1).values
    return distances[torch.isfinite(distances)]


def copy_check(
    generated: ClipSet, training: ClipSet, top_db: float, reference: ClipSet | None = None
) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The copy check of `generated` windows against `training` windows (all `as_windows`-cut, the same width), with
    `reference` windows (held-out real music) as the yardstick, else the training set's own cross-track distances.

    Returns the report section (threshold, share of near-copies, per-clip nearest distances, the closest pairs) and
    the closest pairs as (generated window, training window) indices, for the figure.
    """
    distances, nearest = nearest_windows(generated.images, training.images, top_db)
    clips = len(set(generated.clip_index))
    per_clip, where = _per_clip_minimum(distances, generated.clip_index, max(generated.clip_index) + 1)
    if reference is not None:
        reference_distances, _ = nearest_windows(reference.images, training.images, top_db)
        per_reference, _ = _per_clip_minimum(reference_distances, reference.clip_index, max(reference.clip_index) + 1)
        yardstick, basis = reference_distances, "held-out reference windows"
    else:
        yardstick, per_reference, basis = _cross_track_distances(training, top_db), None, "other training tracks"
    section: dict[str, Any] = {
        "training_windows": len(training),
        "training_source": training.source,
        "basis": basis,
    }
    if len(yardstick) == 0:
        section.update(available=False, reason="no yardstick: one training track and no held-out reference")
        return section, []
    threshold = COPY_FRACTION * float(torch.quantile(yardstick.double(), COPY_QUANTILE))
    copies = [index for index in range(len(per_clip)) if per_clip[index] < threshold]
    order = sorted(range(len(per_clip)), key=lambda index: float(per_clip[index]))[:SHOWN_PAIRS]
    pairs = [(where[index], int(nearest[where[index]])) for index in order]
    section.update(
        threshold_db=round(threshold, 3),
        yardstick_q05_db=round(threshold / COPY_FRACTION, 3),
        clips=clips,
        near_copies=len(copies),
        near_copy_share=round(len(copies) / max(1, clips), 4),
        generated_nearest_db=[round(float(value), 3) for value in per_clip],
        generated_median_nearest_db=round(float(per_clip.median()), 3),
        yardstick_median_db=round(float(yardstick.median()), 3),
        reference_near_copy_share=None
        if per_reference is None
        else round(float((per_reference < threshold).double().mean()), 4),
        closest=[
            {
                "clip": generated.names[generated.clip_index[window]],
                "training": f"{training.groups[train]} ({training.names[train]})",
                "distance_db": round(float(distances[window]), 3),
            }
            for window, train in pairs
        ],
    )
    return section, pairs


def copy_summary(section: dict[str, Any]) -> str:
    """One line for the report's summary."""
    if section.get("available") is False:
        return f"copy check: unavailable ({section['reason']})"
    real = section.get("reference_near_copy_share")
    median = section["generated_median_nearest_db"]
    return (
        f"copy check: {section['near_copies']} of {section['clips']} clips replay a training slice (nearest "
        f"training window closer than {section['threshold_db']:.2f} dB; median {median:.2f} dB, "
        f"{section['basis']} {section['yardstick_median_db']:.2f} dB)"
        + (f"   held-out clips flagged: {100 * real:.0f}%" if real is not None else "")
    )
