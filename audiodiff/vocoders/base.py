"""The vocoder protocol every decoder follows (the mel filterbank they share lives in `spectral.py`).

A vocoder is any callable `vocoder(mel_power, generator=None) -> audio` taking `(batch, n_mels, frames)` mel power
(as produced by `SpectrogramCodec`, peak 1.0 per slice) and returning `(batch, time)` float audio; `generator` seeds
whatever randomness it has (Griffin-Lim's initial phase), and the codec always passes one.
"""

from __future__ import annotations

from typing import Protocol

import torch

from audiodiff.spectral import mel_filterbank  # noqa: F401 - its old home


class Vocoder(Protocol):
    def __call__(self, mel_power: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """`(batch, n_mels, frames)` mel power -> `(batch, time)` audio; `generator` seeds its randomness."""
        ...
