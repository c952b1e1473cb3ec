"""The order in which training sees a spectrogram dataset: epochs of row indices, and rows decoded into batches.

The order of an epoch is a pure function of (tracks, epoch, seed), so that a resumed run sees exactly the batches
an uninterrupted run would have seen.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from audiodiff.codec import pil_to_pixels, pixels_to_model
from audiodiff.data.dataset import images_to_tensor

EPOCH_SAMPLING = ("all", "one_per_track")


def epoch_indices(tracks: list[list[int]], epoch: int, seed: int, sampling: str, min_rows: int = 0) -> list[int]:
    """Row order of one epoch, a pure function of (tracks, epoch, seed, sampling, min_rows).

    `tracks` lists the row indices of each track. "all": every row, shuffled. "one_per_track": one random slice
    of each track, shuffled (the diffusion course's augmentation: a different slice of every song each epoch).
    An epoch holds at least `min_rows` rows (one optimizer step's images), so that fine-tuning on two songs works:
    "one_per_track" then draws several different slices of each track, "all" passes over the rows several times,
    each pass shuffled on its own.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    if sampling not in EPOCH_SAMPLING:
        raise ValueError(f"epoch sampling must be one of {EPOCH_SAMPLING}, got {sampling!r}")
    if sampling == "all":
        rows = [row for track in tracks for row in track]
        passes = max(1, math.ceil(min_rows / max(1, len(rows))))
        order = []
        for _ in range(passes):
            order += [rows[i] for i in torch.randperm(len(rows), generator=generator).tolist()]
        return order
    per_track = max(1, math.ceil(min_rows / max(1, len(tracks))))
    if per_track == 1:
        rows = [track[int(torch.randint(len(track), (1,), generator=generator))] for track in tracks]
    else:
        rows = [row for track in tracks for row in _draw(track, per_track, generator)]
    order = torch.randperm(len(rows), generator=generator).tolist()
    return [rows[i] for i in order]


def _draw(track: list[int], count: int, generator: torch.Generator) -> list[int]:
    """`count` slices of a track: all different while the track has enough, then again in a new random order."""
    drawn: list[int] = []
    while len(drawn) < count:
        drawn += [track[i] for i in torch.randperm(len(track), generator=generator).tolist()]
    return drawn[:count]


def slice_windows(tracks: list[list[int]], slice_numbers: list[int], width: int) -> dict[int, list[int]]:
    """For variable-width training: each row that has one -> a window of `width` rows of its track whose slices are
    consecutive in time (`slice_numbers[row]`; silent slices left out by `prepare` break a run), the window starting
    at the row where it can, else the latest window that holds it. Rows in runs shorter than `width` get none."""
    windows: dict[int, list[int]] = {}
    for track in tracks:
        ordered = sorted(track, key=lambda row: slice_numbers[row])
        run: list[int] = []
        for row in [*ordered, None]:
            if row is not None and run and slice_numbers[row] == slice_numbers[run[-1]] + 1:
                run.append(row)
                continue
            if len(run) >= width:
                for position, member in enumerate(run):
                    start = min(position, len(run) - width)
                    windows[member] = run[start : start + width]
            run = [] if row is None else [row]
    return windows


def wide_batch(rows: list[int], order: list[int], windows: dict[int, list[int]], width: int) -> list[list[int]]:
    """The windows of one micro-batch at `width` slices: `max(1, len(rows) // width)` windows (so that a step holds
    about as many pixels at every width), those of `rows` first, then of the epoch's `order` for rows whose track is
    too short, then any. A pure function of its arguments, so that a resumed run sees the same batches."""
    count = max(1, len(rows) // width)
    chosen: list[list[int]] = []
    for row in (*rows, *order, *sorted(windows)):  # the last: an epoch of short tracks only still fills the batch
        if row in windows:
            chosen.append(windows[row])
            if len(chosen) == count:
                break
    return chosen


class TrainingRows(torch.utils.data.Dataset):
    """Rows of a spectrogram dataset as `(image (1, H, W) float in [-1, 1], genre label or -1)`.

    Datasets that fit in `preload_bytes` are decoded once into one integer tensor, so a batch is an index
    operation instead of PNG decoding; larger ones are read row by row (use `num_workers` to decode in parallel).
    """

    def __init__(self, dataset, bits: int, labels: list[int] | None, preload_bytes: int = 2**31):
        self.dataset = dataset
        self.bits = bits
        self.labels = labels
        self.label_tensor = torch.tensor(labels if labels is not None else [-1] * len(dataset))
        self.bank = None
        first = dataset[0]["image"] if len(dataset) else None
        if first is not None and len(dataset) * first.width * first.height * (bits // 8) <= preload_bytes:
            pixels = [pil_to_pixels(image)[0] for image in dataset["image"]]
            self.bank = torch.from_numpy(np.stack(pixels).astype(np.int16 if bits == 8 else np.int32))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image = images_to_tensor([self.dataset[int(index)]["image"]], self.bits)[0]
        return image, self.label_tensor[index]

    def batches(self, index_batches: list[list[int]] | list[list[list[int]]], num_workers: int):
        """Yield `(images (batch, 1, H, W), labels (batch,))` for each list of row indices. A list of windows (lists of
        `k` rows, `wide_batch`) gives images `(batch, 1, H, k * W)`, each the window's slices side by side in time,
        labelled with its first row's label."""
        if self.bank is None:
            if any(batch and isinstance(batch[0], list) for batch in index_batches):  # decoded here, in order
                for batch in index_batches:
                    windows = [item if isinstance(item, list) else [item] for item in batch]
                    images = torch.stack([torch.cat([self[row][0] for row in window], -1) for window in windows])
                    yield images, self.label_tensor[[window[0] for window in windows]]
                return
            yield from torch.utils.data.DataLoader(self, batch_sampler=index_batches, num_workers=num_workers)
            return
        for indices in index_batches:
            rows = torch.tensor(indices)
            pixels = self.bank[rows]
            if rows.dim() == 2:  # windows: (batch, k, H, W) -> (batch, H, k * W)
                pixels = pixels.permute(0, 2, 1, 3).flatten(2)
                rows = rows[:, 0]
            yield pixels_to_model(pixels, self.bits).unsqueeze(1), self.label_tensor[rows]
