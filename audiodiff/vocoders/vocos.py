"""The trained vocoder's network: Vocos (Siddiqui, Lajszczak et al. 2023, arXiv 2306.00814).

A ConvNeXt backbone (Liu et al. 2022) runs at the spectrogram's frame rate and a linear head predicts, per frame,
the log-magnitude and the phase of an STFT, which an inverse STFT turns into audio. Nothing upsamples in the time
domain, so it is several times cheaper than HiFi-GAN-style vocoders on a CPU, and being convolutional in time it
decodes a clip of any length in one pass (the inverse STFT's overlap-add joins the frames: no seams).

Written here rather than taken from the `vocos` package: the modules are about 80 lines, and the package pins
its own feature extractors (EnCodec, torchaudio's mel) and an STFT padding ("same") that do not match audiodiff's
images; here the head's STFT is the codec's own (centred, Hann, `n_fft` and `hop_length` of the mel settings), so
`frames` images give exactly `(frames - 1) * hop_length` samples, the length Griffin-Lim gives.

With `magnitude_prior` (every preset since it was measured; BENCHMARKS.md, "Decoders") the head predicts the
log-magnitude as a correction of the image's own linear magnitude: the mel power through the mel filters'
pseudo-inverse, clamped at the image's floor, as FreeV (Lv et al. 2024, arXiv 2406.08196) feeds its vocoder; with
`prior_iterations` > 0, that many projected-gradient steps of the non-negative least squares Griffin-Lim uses
(`griffin_lim.mel_to_linear`; measured: 10 steps give the same MR-STFT distance and decode 1.9x slower at 256 bands).
The magnitude half of the head starts at zero, so an untrained network already has this magnitude and training
spends its steps on the phase and on the detail the mel bands lost, instead of first learning to invert a
filterbank.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from audiodiff.config import ConfigError

# The values a saved network may have (`VocosConfig.check_limits`), far beyond every preset (dim 512, 8 layers, 256
# bands, n_fft 2048, 10 prior iterations): they keep a hostile config.json from sizing a network, or a mel
# pseudo-inverse, that would exhaust memory, and from asking for a decode that never ends (the prior's iterations are
# recorded in no weight, so only this range bounds them).
LIMITS: dict[str, tuple[int, int]] = {
    "n_mels": (1, 1024),
    "n_fft": (2, 16384),
    "hop_length": (1, 16384),
    "dim": (1, 8192),
    "intermediate_dim": (1, 32768),
    "layers": (1, 64),
    "kernel_size": (1, 255),
    "prior_iterations": (0, 100),
}


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
    # The magnitude prior: off in vocoders saved before it existed (their config.json lacks these keys).
    magnitude_prior: bool = False
    sample_rate: int = 22050
    top_db: float = 80.0
    prior_iterations: int = 0

    def check_limits(self, source: str, prefix: str = "") -> None:
        """Raise `ConfigError` ("SOURCE: PREFIXkey=value is out of range (allowed low..high)") for a value outside
        `LIMITS`, or an even `kernel_size` (its "same" padding would lengthen every block's output by a frame).
        Loading checks this before building anything: a saved config.json may be hostile."""
        from audiodiff.weights import check_range

        for key, (low, high) in LIMITS.items():
            check_range(getattr(self, key), f"{prefix}{key}", low, high, source)
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"{source}: {prefix}kernel_size={self.kernel_size} must be odd")


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
        if config.magnitude_prior:
            from audiodiff.config import MelConfig
            from audiodiff.spectral import mel_filterbank

            mel = MelConfig(y_res=config.n_mels, sample_rate=config.sample_rate, n_fft=config.n_fft,
                            hop_length=config.hop_length)  # fmt: skip
            filterbank = mel_filterbank(mel, torch.float64)
            self.register_buffer("filterbank", filterbank.float(), persistent=False)
            self.register_buffer("pseudo_inverse", torch.linalg.pinv(filterbank.T).float(), persistent=False)
            with torch.no_grad():  # the log-magnitude half starts as "no correction"
                self.head.weight[: config.n_fft // 2 + 1].zero_()
                self.head.bias[: config.n_fft // 2 + 1].zero_()

    @torch.no_grad()
    def log_magnitude_prior(self, features: torch.Tensor) -> torch.Tensor:
        """The image's own log linear magnitude `(batch, n_fft // 2 + 1, frames)`: model-space features -> mel power
        (as the codec decodes) -> pseudo-inverse (+ `prior_iterations` NNLS steps), floored `top_db` below the
        slice's peak."""
        from audiodiff.spectral import model_to_db
        from audiodiff.vocoders.griffin_lim import mel_to_linear

        top_db = self.config.top_db
        with torch.autocast(features.device.type, enabled=False):  # float32 under bf16 training too
            mel_power = torch.pow(10.0, model_to_db(features.float(), top_db) / 10.0)
            linear = mel_to_linear(mel_power, self.filterbank, self.pseudo_inverse, self.config.prior_iterations)
            return 0.5 * torch.log(linear.clamp(min=10.0 ** (-top_db / 10.0)))

    def magnitude_and_phase(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The predicted STFT as magnitude and (unwrapped, unbounded) phase, each `(batch, n_fft // 2 + 1, frames)`."""
        hidden = self.embed(features)
        hidden = self.norm(hidden.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            hidden = block(hidden)
        output = self.head(self.final_norm(hidden.transpose(1, 2))).transpose(1, 2).float()
        log_magnitude, phase = output.chunk(2, dim=1)
        if self.config.magnitude_prior:
            log_magnitude = log_magnitude + self.log_magnitude_prior(features)
        # Vocos clips the magnitude at 100 (exp of 4.6): a bound that keeps early training from overflowing.
        return torch.exp(log_magnitude).clamp(max=1e2), phase

    def spectrum(self, features: torch.Tensor) -> torch.Tensor:
        """Complex STFT `(batch, n_fft // 2 + 1, frames)` predicted from `(batch, n_mels, frames)` features."""
        return _complex(*self.magnitude_and_phase(features))

    def forward(self, features: torch.Tensor, return_spectrum: bool = False):
        """Audio `(batch, (frames - 1) * hop_length)`; with `return_spectrum`, `(audio, magnitude, phase)`: training
        also compares the predicted spectrum with the target's."""
        frames = features.shape[-1]
        magnitude, phase = self.magnitude_and_phase(features)
        length = (frames - 1) * self.config.hop_length
        audio = torch.istft(_complex(magnitude, phase), self.config.n_fft, self.config.hop_length,
                            window=self.window.float(), center=True, length=length)  # fmt: skip
        return (audio, magnitude, phase) if return_spectrum else audio


def _complex(magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    # cos/sin of an unbounded angle: the phase wraps with no discontinuity to learn.
    return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
