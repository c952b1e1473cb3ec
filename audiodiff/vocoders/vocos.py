"""The trained vocoder's network: Vocos (Siddiqui, Lajszczak et al. 2023, arXiv 2306.00814).

A ConvNeXt backbone (Liu et al. 2022) runs at the spectrogram's frame rate and a linear head predicts, per frame,
the log-magnitude and the phase of an STFT, which an inverse STFT turns into audio. Nothing upsamples in the time
domain, so it is several times cheaper than HiFi-GAN-style vocoders on a CPU, and being convolutional in time it
decodes a clip of any length in one pass (the inverse STFT's overlap-add joins the frames: no seams).

Written here rather than taken from the `vocos` package: the modules are about 80 lines, and the package pins
its own feature extractors (EnCodec, torchaudio's mel) and an STFT padding ("same") that do not match audiodiff's
images; here the head's STFT is the codec's own (centred, Hann, `n_fft` and `hop_length` of the mel settings), so
`frames` images give exactly `(frames - 1) * hop_length` samples, the length Griffin-Lim gives.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn


@dataclasses.dataclass
class VocosConfig:
    """Shape of the network. `n_mels`, `n_fft` and `hop_length` come from the mel settings it decodes."""

    n_mels: int
    n_fft: int
    hop_length: int
    dim: int = 256
    intermediate_dim: int = 768
    layers: int = 8
    kernel_size: int = 7


class ConvNeXtBlock(nn.Module):
    """Depthwise conv -> LayerNorm -> pointwise MLP (GELU) -> layer scale, with a residual. `(batch, dim, frames)`."""

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale: float):
        super().__init__()
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.expand = nn.Linear(dim, intermediate_dim)
        self.activation = nn.GELU()
        self.project = nn.Linear(intermediate_dim, dim)
        self.scale = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = self.depthwise(features).transpose(1, 2)  # (batch, frames, dim)
        hidden = self.project(self.activation(self.expand(self.norm(hidden))))
        return features + (self.scale * hidden).transpose(1, 2)


class VocosModel(nn.Module):
    """Image features `(batch, n_mels, frames)` (the model-space values in [-1, 1]) -> audio `(batch, (frames - 1) *
    hop_length)`."""

    def __init__(self, config: VocosConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Conv1d(config.n_mels, config.dim, config.kernel_size, padding=config.kernel_size // 2)
        self.norm = nn.LayerNorm(config.dim, eps=1e-6)
        # Vocos's layer-scale start, 1 / layers: each block begins close to the identity.
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(config.dim, config.intermediate_dim, config.kernel_size, 1.0 / config.layers)
            for _ in range(config.layers)
        )
        self.final_norm = nn.LayerNorm(config.dim, eps=1e-6)
        self.head = nn.Linear(config.dim, config.n_fft + 2)  # log-magnitude and phase of n_fft // 2 + 1 bins
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    def spectrum(self, features: torch.Tensor) -> torch.Tensor:
        """Complex STFT `(batch, n_fft // 2 + 1, frames)` predicted from `(batch, n_mels, frames)` features."""
        hidden = self.embed(features)
        hidden = self.norm(hidden.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            hidden = block(hidden)
        output = self.head(self.final_norm(hidden.transpose(1, 2))).transpose(1, 2).float()
        log_magnitude, phase = output.chunk(2, dim=1)
        # Vocos clips the magnitude at 100 (exp of 4.6): a bound that keeps early training from overflowing.
        magnitude = torch.exp(log_magnitude).clamp(max=1e2)
        # cos/sin of an unbounded angle: the phase wraps with no discontinuity to learn.
        return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        frames = features.shape[-1]
        spectrum = self.spectrum(features)
        length = (frames - 1) * self.config.hop_length
        return torch.istft(spectrum, self.config.n_fft, self.config.hop_length, window=self.window.float(),
                           center=True, length=length)  # fmt: skip
