"""Denoisers: what the sampling loop calls at every step, built from small wrappers (k-diffusion's habit).

A *model* is a callable `model(sample, timestep)` or `model(sample, timestep, class_labels=labels)` returning the
network's prediction (noise, v or x0: whatever it was trained for) with the sample's shape; the pipeline's is its
UNet (or DiT), counted. A *denoiser* is a callable `denoiser(sample, timestep, step=0) -> output` on samples
`(batch, channels, height, width)`, output of the same shape; `step` is the index of the call within a sampling run,
which only `windowed` uses (its window grid moves with it). They compose:

    denoiser = windowed(guided(model, labels, scale, null_label), width, stride)

- `guided`: class conditioning and classifier-free guidance (Ho and Salimans 2022) in one batched model call;
- `autoguided`: a denoiser guided by a weaker model's (autoguidance, Karras et al. 2024): the step moves away from
  what the weaker model would do, towards what only the stronger one learned;
- `windowed`: samples wider than the model's window denoised jointly in overlapping windows, overlap-added with
  tapered weights on a grid that moves from step to step (MultiDiffusion, Bar-Tal et al. 2023);
- `class_labels`: genre names or indices -> the labels `guided` conditions on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from audiodiff import editing

Model = Callable[..., torch.Tensor]
Denoiser = Callable[..., torch.Tensor]


def guided(model: Model, labels: torch.Tensor | None, scale: float = 1.0, null_label: int | None = None) -> Denoiser:
    """The denoiser of `model` conditioned on class `labels` `(batch,)`, with classifier-free guidance at `scale`.

    labels None: the unconditional model (no class labels passed). scale 1, or every label the null label: the
    conditional output, one model call. Otherwise `uncond + scale * (cond - uncond)` (`editing.
    classifier_free_guidance`), the unconditional (null-label) and conditional predictions made in one call on a
    doubled batch. A sample batch that is a whole multiple of the labels (windows of a batch, window-major, from
    `windowed`) repeats them. The denoiser ignores `step`.
    """

    def denoise(sample: torch.Tensor, timestep: torch.Tensor, step: int = 0) -> torch.Tensor:
        if labels is None:
            return model(sample, timestep)
        batch_labels = labels if len(labels) == len(sample) else labels.repeat(len(sample) // len(labels))
        if scale == 1.0 or bool((batch_labels == null_label).all()):
            return model(sample, timestep, class_labels=batch_labels)
        null = torch.full_like(batch_labels, null_label)
        output = model(torch.cat([sample, sample]), timestep, class_labels=torch.cat([null, batch_labels]))
        unconditional, conditional = output.chunk(2)
        return editing.classifier_free_guidance(unconditional, conditional, scale)

    return denoise


def autoguided(denoise: Denoiser, guide: Denoiser, scale: float) -> Denoiser:
    """`guide + scale * (denoise - guide)`: `denoise` guided by the denoiser of a weaker model of the same inputs and
    the same noise schedule and prediction type (autoguidance, Karras et al. 2024, arXiv 2406.02507; there a smaller,
    shorter-trained copy, here also the base a fine-tune started from). scale 1 is `denoise` alone; above 1 the
    prediction is pushed away from the weaker model's, by as much as the two differ. Both are called every step."""

    def denoise_guided(sample: torch.Tensor, timestep: torch.Tensor, step: int = 0) -> torch.Tensor:
        weak = guide(sample, timestep, step)
        return weak + scale * (denoise(sample, timestep, step) - weak)

    return denoise_guided


def windowed(denoise: Denoiser, width: int, stride: int | None = None) -> Denoiser:
    """`denoise` applied to samples `(batch, channels, height, frames)` of any width, `width` columns at a time.

    Up to `width` columns this is one call of `denoise`. Wider samples are denoised jointly (MultiDiffusion,
    Bar-Tal et al. 2023): overlapping windows `stride` columns apart (default half a window) are predicted in one
    call, on a batch `(windows * batch, channels, height, width)`, and overlap-added with tapered weights
    (`editing.window_weights`); the grid moves with `step` (`editing.window_starts`) so that no column stays at a
    window edge. Returns `(batch, channels, height, frames)`.
    """

    def denoise_windows(sample: torch.Tensor, timestep: torch.Tensor, step: int = 0) -> torch.Tensor:
        frames = sample.shape[-1]
        if frames <= width:
            return denoise(sample, timestep)
        starts = editing.window_starts(frames, width, stride or width // 2, step)
        output = denoise(editing.split_windows(sample, starts, width), timestep)
        return editing.merge_windows(output, starts, frames, editing.window_weights(width))

    return denoise_windows


def class_labels(
    genre: str | int | Sequence[str | int] | None,
    batch_size: int,
    genres: Sequence[str] | None,
    null_label: int | None,
    device: torch.device | str | None = None,
) -> torch.Tensor | None:
    """Class labels `(batch,)` for `genre`: a name of `genres`, an index up to `null_label`, None (the null label:
    unconditional), or one of those per item. None for a model without classes (`null_label` None), which takes no
    genre. ValueError (one line) for an unknown name, an index out of range or a wrong count."""
    if null_label is None:
        if genre is not None:
            raise ValueError("this model is not genre-conditioned (its UNet has no class embedding)")
        return None
    items = list(genre) if isinstance(genre, (list, tuple)) else [genre] * batch_size
    if len(items) != batch_size:
        raise ValueError(f"got {len(items)} genres for a batch of {batch_size}")
    labels = []
    for item in items:
        if item is None:
            labels.append(null_label)
        elif isinstance(item, str):
            if not genres or item not in genres:
                known = ", ".join(genres or []) or "none named; use an index"
                raise ValueError(f"unknown genre {item!r} (known: {known})")
            labels.append(list(genres).index(item))
        elif 0 <= int(item) <= null_label:
            labels.append(int(item))
        else:
            raise ValueError(f"genre index {item} out of range 0..{null_label}")
    return torch.tensor(labels, device=device)
