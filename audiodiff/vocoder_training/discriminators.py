"""Discriminators of the vocoder's adversarial training (used only while training; never saved with the vocoder).

- Multi-period discriminator (Kong, Kim and Bae 2020, "HiFi-GAN"): the waveform folded into `(time / p, p)` for
  periods 2, 3, 5, 7, 11, each read by 2-D convolutions along time: periodic structure (pitch, harmonics).
- Multi-resolution discriminator (Jang et al. 2021, "UnivNet"; as in Vocos): 2-D convolutions over magnitude
  spectrograms at three resolutions: the spectral detail a mel loss averages away.

Each returns, per sub-discriminator, its score map and the feature maps of its layers (for feature matching).
`channels` scales the widths: 32 is HiFi-GAN's/UnivNet's size, the `cpu` preset uses fewer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

Outputs = tuple[list[torch.Tensor], list[list[torch.Tensor]]]


class PeriodDiscriminator(nn.Module):
    """One period of the multi-period discriminator: `(batch, time)` -> score `(batch, ...)` and features."""

    def __init__(self, period: int, channels: int):
        super().__init__()
        self.period = period
        widths = [1, channels, 4 * channels, 16 * channels, 32 * channels, 32 * channels]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(widths[i], widths[i + 1], (5, 1), (3 if i < 4 else 1, 1), padding=(2, 0)))
            for i in range(5)
        )
        self.post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        batch, time = audio.shape
        if time % self.period:
            audio = nn.functional.pad(audio, (0, self.period - time % self.period), mode="reflect")
        hidden = audio.view(batch, 1, -1, self.period)
        return _read(self.convs, self.post, hidden)


def _read(convs: nn.ModuleList, post: nn.Module, hidden: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A sub-discriminator's conv stack (leaky ReLU 0.1 after each) and output conv: (flattened scores, the feature
    maps of every layer, for feature matching)."""
    features = []
    for conv in convs:
        hidden = nn.functional.leaky_relu(conv(hidden), 0.1)
        features.append(hidden)
    hidden = post(hidden)
    features.append(hidden)
    return hidden.flatten(1), features


class ResolutionDiscriminator(nn.Module):
    """One resolution of the multi-resolution discriminator: magnitude STFT `(n_fft, hop)` read by 2-D convs."""

    def __init__(self, n_fft: int, hop_length: int, channels: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(1, channels, (3, 9), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))),
            ]
        )
        self.post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spectrum = torch.stft(audio.float(), self.n_fft, self.hop_length, window=self.window, center=True,
                              pad_mode="constant", return_complex=True)  # fmt: skip
        # (batch, 1, frames, freqs): convolutions stride along frequency
        hidden = spectrum.abs().transpose(1, 2).unsqueeze(1).to(audio.dtype)
        return _read(self.convs, self.post, hidden)


class Discriminators(nn.Module):
    """All sub-discriminators: `(batch, time)` audio -> (scores, features), one entry per sub-discriminator."""

    def __init__(
        self,
        channels: int = 32,
        periods: tuple[int, ...] = (2, 3, 5, 7, 11),
        resolutions: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (2048, 512)),
    ):
        super().__init__()
        self.members = nn.ModuleList(
            [PeriodDiscriminator(period, channels) for period in periods]
            + [ResolutionDiscriminator(n_fft, hop, channels) for n_fft, hop in resolutions]
        )

    def forward(self, audio: torch.Tensor) -> Outputs:
        scores, features = [], []
        for member in self.members:
            score, feature = member(audio)
            scores.append(score)
            features.append(feature)
        return scores, features


def discriminator_loss(real_scores: list[torch.Tensor], fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """Hinge loss of the discriminators (Vocos): mean(relu(1 - D(real))) + mean(relu(1 + D(fake))), summed."""
    return sum(
        torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()
        for real, fake in zip(real_scores, fake_scores, strict=True)
    )


def generator_adversarial_loss(fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """Hinge loss of the generator: mean(relu(1 - D(fake))), summed over sub-discriminators."""
    return sum(torch.relu(1 - fake).mean() for fake in fake_scores)


def feature_matching_loss(real_features: list[list[torch.Tensor]], fake_features: list[list[torch.Tensor]]):
    """L1 between the discriminators' feature maps of real and generated audio (Larsen et al. 2016; HiFi-GAN),
    averaged per layer and summed."""
    total = 0.0
    for real_layers, fake_layers in zip(real_features, fake_features, strict=True):
        for real, fake in zip(real_layers, fake_layers, strict=True):
            total = total + (real.detach() - fake).abs().mean()
    return total
