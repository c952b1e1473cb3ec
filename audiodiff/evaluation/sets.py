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

from audiodiff.evaluation.artifacts import PULSE_RUNS, comparable_windows, image_statistics, pulse_clarity
from audiodiff.evaluation.clips import ClipSet, ClipSource
from audiodiff.evaluation.metrics import EvaluationError


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


@dataclasses.dataclass(frozen=True)
class PulseSample:
    """The pulse clarity (`artifacts.pulse_clarity`, `(runs,)`) of runs of consecutive real slices cut to the generated
    clips' length, with each run's track: the reference a generated set's pulse is compared with."""

    values: torch.Tensor
    groups: list[str]
    frames: int

    def __len__(self) -> int:
        return len(self.groups)

    def of(self, groups: Sequence[str], inside: bool = True) -> torch.Tensor:
        """The values of the runs of `groups` (or, with `inside=False`, of every other track)."""
        chosen = set(groups)
        return self.values[[(group in chosen) == inside for group in self.groups]]


def joined_columns(frames: int, width: int, guard: int) -> list[int]:
    """The columns within `guard` of each join of `width`-column slices laid end to end over `frames` columns."""
    return sorted({join + step for join in range(width, frames, width) for step in range(-guard, guard + 1)})


def _position(ref) -> int:
    """Where a clip reference lies in its track, in slices: a file's slice `index` or a dataset row's `slice`."""
    return int(getattr(ref, "index", getattr(ref, "slice", 0)))


def pulse_sample(
    source: ClipSource,
    refs: Sequence,
    frames: int,
    width: int,
    top_db: float,
    frame_rate: float,
    generator: torch.Generator,
    guard: int = 2,
    runs: int = PULSE_RUNS,
    device: torch.device | str = "cpu",
) -> PulseSample:
    """`PulseSample` of up to `runs` runs of `ceil(frames / width)` consecutive slices of one track each (drawn with
    `generator` among every such run in `refs`), joined and cut to `frames` columns: real music of the generated
    clips' length. The rise within `guard` columns of a join is not counted (`joined_columns`: the codec's frames
    whose analysis window reaches past a slice's edge, `n_fft / (2 hop_length)`: 2 at the reference and demo
    settings). Slices the source leaves out (silent ones) end a run, and runs are drawn until `runs` are complete or
    none is left. A source whose clips have no position in a track (loose images, a dataset without slice numbers)
    has runs of one slice only: an empty sample for longer clips."""
    length = max(1, -(-frames // width))
    by_track: dict[str, dict[int, object]] = collections.defaultdict(dict)
    for ref in refs:
        by_track[str(ref.group)][_position(ref)] = ref
    starts = [
        [positions[start + step] for step in range(length)]
        for positions in by_track.values()
        for start in sorted(positions)
        if all(start + step in positions for step in range(1, length))
    ]
    order = torch.randperm(len(starts), generator=generator).tolist()
    images, groups = [], []
    while order and len(images) < runs:  # draw until `runs` complete runs: the source may leave silent slices out
        chosen = [starts[index] for index in order[: runs - len(images)]]
        order = order[len(chosen) :]
        flat = [ref for run in chosen for ref in run]
        try:
            clips = source.load(flat, device)
        except EvaluationError:  # every slice drawn silent
            continue
        for number, run in enumerate(chosen):
            if len(clips) == len(flat):
                pieces = clips.images[number * length : (number + 1) * length]
            else:  # some slices were left out: load run by run, keep the complete ones
                try:
                    pieces = source.load(run, device).images
                except EvaluationError:  # every slice of the run silent
                    continue
                if len(pieces) < length:
                    continue
            images.append(torch.cat(list(pieces.cpu()), dim=-1)[..., :frames])
            groups.append(str(run[0].group))
    if not images:
        return PulseSample(torch.zeros(0), [], frames)
    values = pulse_clarity(torch.stack(images), top_db, frame_rate, joined_columns(frames, width, guard))
    return PulseSample(values, groups, frames)
