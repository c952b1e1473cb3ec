"""Neural vocoders: the adapter for any mel -> audio module."""

from __future__ import annotations

import torch
from torch import nn


class NeuralVocoder(nn.Module):
    """Adapter for a neural vocoder trained on the same mel settings.

    `module` maps log-mel `(batch, n_mels, frames)` (natural log of mel magnitude, the HiFi-GAN/BigVGAN
    convention, when `log_input`) to audio `(batch, time)` or `(batch, 1, time)`. The codec's mel power has its peak
    at 1.0 per slice (the absolute level is not stored in the image), so `gain_db` shifts it to the level the
    vocoder was trained on.
    """

    def __init__(self, module: nn.Module, log_input: bool = True, gain_db: float = 0.0):
        super().__init__()
        self.module = module
        self.log_input = log_input
        self.gain_db = gain_db

    @torch.no_grad()
    def forward(self, mel_power: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        mel_power = mel_power * 10.0 ** (self.gain_db / 10.0)
        features = torch.log(torch.clamp(mel_power, min=1e-10).sqrt()) if self.log_input else mel_power
        audio = self.module(features)
        return audio.reshape(audio.shape[0], -1)
