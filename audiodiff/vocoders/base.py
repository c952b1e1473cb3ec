"""The vocoder protocol and the mel filterbank every decoder shares.

A vocoder is any callable `vocoder(mel_power, generator=None) -> audio` taking `(batch, n_mels, frames)` mel power
(as produced by `SpectrogramCodec`, peak 1.0 per slice) and returning `(batch, time)` float audio; `generator` seeds
whatever randomness it has (Griffin-Lim's initial phase), and the codec always passes one.
"""

from __future__ import annotations

from typing import Protocol

import torch

from audiodiff.config import MelConfig


class Vocoder(Protocol):
    def __call__(self, mel_power: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """`(batch, n_mels, frames)` mel power -> `(batch, time)` audio; `generator` seeds its randomness."""
        ...


def mel_filterbank(config: MelConfig, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Slaney-scale, Slaney-normalised triangular mel filters as librosa's default; shape `(n_freqs, n_mels)`."""
    import torchaudio

    return torchaudio.functional.melscale_fbanks(
        n_freqs=config.n_fft // 2 + 1,
        f_min=0.0,
        f_max=config.sample_rate / 2.0,
        n_mels=config.n_mels,
        sample_rate=config.sample_rate,
        norm="slaney",
        mel_scale="slaney",
    ).to(dtype)
