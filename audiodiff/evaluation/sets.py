"""The sets an evaluation compares, made comparable: the reference split by track into the clips compared with the
generated ones and a disjoint baseline (`split_reference`), every clip cut into slice-wide windows re-referenced to
their own peaks (`as_windows`), the artefact statistics of a large sample of reference windows (`WindowStatistics`,
which the artefact fences are fitted on), a set thinned evenly over its clips (`spread_windows`), embeddings
standardised by the reference's spread (`standardized`) and reduced to one vector per clip (`clip_vectors`).

Functions of `ClipSet`s and tensors (`window_statistics` also loads clips from a source); `evaluation.report`
assembles the metrics on them (and re-exports these names, which is where they were first defined).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence

import torch

from audiodiff.evaluation.artifacts import comparable_windows, image_statistics
from audiodiff.evaluation.clips import ClipSet, ClipSource


def split_reference(groups: Sequence[str], count: int) -> tuple[list[int], list[int], str]:
    """Split reference clips into the set compared with the generated clips and a disjoint baseline set.

    Tracks (`groups`) are kept on one side when there are at least two: each track, in order of first appearance,
    goes to the side with fewer clips so far. Clips of one track are alike, so a baseline sharing tracks with the
    compared set would be too optimistic; generated clips share no track with the reference either. With a single
    track the clips are split in order. Each side keeps at most `count` clips. Returns (compared indices, baseline
    indices, "track" or "clip").
    """
    order = list(dict.fromkeys(groups))
    if len(order) < 2:
        return list(range(min(count, len(groups)))), list(range(count, min(len(groups), 2 * count))), "clip"
    members: dict[str, list[int]] = {group: [] for group in order}
    for index, group in enumerate(groups):
        members[group].append(index)
    sides: tuple[list[int], list[int]] = ([], [])
    for group in order:
        side = sides[0] if len(sides[0]) <= len(sides[1]) else sides[1]
        side.extend(members[group])
    return sides[0][:count], sides[1][:count], "track"


def standardized(vectors: Sequence[torch.Tensor], reference: torch.Tensor) -> list[torch.Tensor]:
    """Each `(..., dim)` tensor with every dimension shifted and scaled by the reference's mean and spread, so a
    Frechet distance weighs all dimensions alike (a dimension the reference never varies gets a floor of 1e-3)."""
    flat = reference.reshape(-1, reference.shape[-1]).double()
    mean, spread = flat.mean(0), flat.std(0).clamp(min=1e-3)
    return [((vector.double() - mean) / spread).to(vector.dtype) for vector in vectors]


def as_windows(clips: ClipSet, width: int) -> ClipSet:
    """The clips cut into `width`-frame windows re-referenced to their own peaks (`comparable_windows`); each window
    keeps its clip's genre, track and name (with the window's first frame), and no audio or joins."""
    images, clip_index, starts = comparable_windows(clips.images, width)
    if len(images) == len(clips):  # clips of one slice: one window each, audio and names stay theirs
        return dataclasses.replace(clips, images=images)
    index = clip_index.tolist()
    return dataclasses.replace(
        clips,
        window_of=index,
        images=images,
        genres=[clips.genres[i] for i in index],
        groups=[clips.groups[i] for i in index],
        names=[f"{clips.names[i]}@{int(start)}" for i, start in zip(index, starts)],
        audio=None,
        joins=None,
    )


def spread_windows(clip_index: Sequence[int], wanted: int) -> list[int]:
    """`min(len(clip_index), wanted)` window indices taken from as many clips as possible, at rotating positions:
    clip c gives its window `c mod k` first (k: its number of windows), then the next, and so on, so that a thinned
    set neither favours some clips nor always takes their openings. `clip_index[i]`: the clip of window i."""
    position: dict[int, int] = {}
    keys = []
    counts = collections.Counter(clip_index)
    for window, clip in enumerate(clip_index):
        here = position.get(clip, 0)
        position[clip] = here + 1
        keys.append(((here - clip) % counts[clip], clip, window))
    return sorted(window for _, _, window in sorted(keys)[:wanted])


def clip_vectors(vectors: torch.Tensor) -> torch.Tensor:
    """One vector per clip from an embedder's `(batch, vectors_per_clip, dim)`: the vector itself when there is one,
    else the mean and standard deviation over the clip's vectors `(batch, 2 dim)` (how it sounds, how much it moves)."""
    if vectors.shape[1] == 1:
        return vectors[:, 0]
    return torch.cat([vectors.mean(dim=1), vectors.std(dim=1)], dim=-1)


@dataclasses.dataclass(frozen=True)
class WindowStatistics:
    """The artefact statistics (`image_statistics`, each `(windows,)`) of real windows, with each window's track:
    what the artefact fences are fitted on, gathered without keeping the images."""

    values: dict[str, torch.Tensor]
    groups: list[str]

    def __len__(self) -> int:
        return len(self.groups)

    def without(self, groups: Sequence[str]) -> WindowStatistics:
        """The windows of every track but `groups` (fences for a false-alarm rate on those tracks)."""
        left_out = set(groups)
        keep = torch.tensor([group not in left_out for group in self.groups], dtype=torch.bool)
        return WindowStatistics(
            {name: values[keep] for name, values in self.values.items()},
            [group for group, kept in zip(self.groups, keep.tolist()) if kept],
        )


def window_statistics(
    source: ClipSource, refs: Sequence, width: int, top_db: float, device: torch.device | str = "cpu", batch: int = 128
) -> WindowStatistics:
    """`WindowStatistics` of every `width`-frame window (`comparable_windows`) of the clips `refs` of `source`,
    loaded `batch` clips at a time in track order (a file is read once per batch), so that memory stays bounded
    however many clips are drawn."""
    ordered = sorted(refs, key=lambda ref: str(ref.group))
    parts: list[dict[str, torch.Tensor]] = []
    groups: list[str] = []
    for start in range(0, len(ordered), batch):
        clips = source.load(ordered[start : start + batch], device)
        images, clip_index, _ = comparable_windows(clips.images.cpu(), width)
        parts.append(image_statistics(images, top_db))
        groups += [str(clips.groups[index]) for index in clip_index.tolist()]
    values = {name: torch.cat([part[name] for part in parts]) for name in parts[0]} if parts else {}
    return WindowStatistics(values, groups)
