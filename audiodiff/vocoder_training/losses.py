"""Spectral distances between waveforms: the vocoder's training losses and the decoders' benchmark metrics.

- Multi-resolution STFT distance (Yamamoto, Song and Kim 2020, "Parallel WaveGAN", eq. 1-4): at each resolution,
  spectral convergence `||S - S_hat||_F / ||S||_F` plus the mean absolute difference of log magnitudes, averaged
  over `STFT_RESOLUTIONS`.
- Log-mel L1 in dB at the pipeline's mel settings (what the spectrogram image holds), floored at `top_db` below
  each clip's peak as the codec floors it.

The `*_loss` functions are differentiable batch means for training; the `*_distance` functions give one number per
clip for evaluation, after `match_gain` (a spectrogram image keeps no absolute level: every decoder is compared at
its best gain).
"""

from __future__ import annotations

import torch

from audiodiff.config import MelConfig
from audiodiff.spectral import least_squares_gain, mel_filterbank

# (n_fft, hop_length): frequency detail at the long one, transients at the short one; Hann windows of n_fft samples.
STFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))
_EPSILON = 1e-7


def stft_magnitude(audio: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """Magnitude of the centred STFT (Hann window): `(batch, time)` -> `(batch, n_fft // 2 + 1, frames)`."""
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    # Zero padding (not reflection): training segments may be shorter than the longest window.
    spectrum = torch.stft(audio, n_fft, hop_length, window=window, center=True, pad_mode="constant",
                          return_complex=True)  # fmt: skip
    return (spectrum.real.square() + spectrum.imag.square()).clamp(min=_EPSILON**2).sqrt()


def _resolution_terms(estimate: torch.Tensor, target: torch.Tensor, n_fft: int, hop_length: int):
    """Per item: spectral convergence and log-magnitude L1, each `(batch,)`."""
    estimated, reference = stft_magnitude(estimate, n_fft, hop_length), stft_magnitude(target, n_fft, hop_length)
    convergence = torch.linalg.vector_norm(reference - estimated, dim=(-2, -1)) / torch.linalg.vector_norm(
        reference, dim=(-2, -1)
    ).clamp(min=_EPSILON)
    log_distance = (reference.log() - estimated.log()).abs().mean(dim=(-2, -1))
    return convergence, log_distance


def multi_resolution_stft_loss(
    estimate: torch.Tensor, target: torch.Tensor, resolutions=STFT_RESOLUTIONS
) -> torch.Tensor:
    """Differentiable multi-resolution STFT loss (Parallel WaveGAN), a scalar. estimate, target: `(batch, time)`.

    Spectral convergence is taken over the whole batch (Parallel WaveGAN's implementation does the same): per item,
    a near-silent training segment would divide by almost nothing.
    """
    total = estimate.new_zeros(())
    for n_fft, hop_length in resolutions:
        estimated, reference = stft_magnitude(estimate, n_fft, hop_length), stft_magnitude(target, n_fft, hop_length)
        convergence = torch.linalg.vector_norm(reference - estimated) / torch.linalg.vector_norm(reference).clamp(
            min=_EPSILON
        )
        # Log magnitudes floored at 1e-5 (-100 dB), Vocos's floor: silence in a segment must not dominate.
        total = total + convergence + (reference.clamp(min=1e-5).log() - estimated.clamp(min=1e-5).log()).abs().mean()
    return total / len(resolutions)


def multi_resolution_stft_distance(
    reference: torch.Tensor, estimate: torch.Tensor, resolutions=STFT_RESOLUTIONS, gain: bool = True
) -> torch.Tensor:
    """Multi-resolution STFT distance per clip, `(batch,)` (lower is better). reference, estimate: `(batch, time)`,
    the longer cut to the shorter; with `gain`, `estimate` is first scaled to its best level (`match_gain`)."""
    reference, estimate = _aligned(reference, estimate, gain)
    total = reference.new_zeros(reference.shape[0])
    for n_fft, hop_length in resolutions:
        convergence, log_distance = _resolution_terms(estimate, reference, n_fft, hop_length)
        total = total + convergence + log_distance
    return total / len(resolutions)


class MelSpectrogram(torch.nn.Module):
    """Mel power `(batch, n_mels, frames)` of `(batch, time)` audio at a pipeline's settings (Slaney filters)."""

    def __init__(self, config: MelConfig):
        super().__init__()
        self.config = config
        self.register_buffer("filterbank", mel_filterbank(config), persistent=False)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        # Zero padding, as the codec's encoder pads.
        spectrum = torch.stft(audio, self.config.n_fft, self.config.hop_length, window=self.window, center=True,
                              pad_mode="constant", return_complex=True)  # fmt: skip
        return self.filterbank.T @ (spectrum.real.square() + spectrum.imag.square())


def log_mel_db(mel_power: torch.Tensor, top_db: float) -> torch.Tensor:
    """Mel power `(batch, n_mels, frames)` -> dB floored `top_db` below each item's peak (as the codec floors it)."""
    decibels = 10.0 * torch.log10(mel_power.clamp(min=1e-10))
    peak = decibels.amax(dim=(-2, -1), keepdim=True)
    return torch.maximum(decibels, peak - top_db)


def mel_loss(estimate: torch.Tensor, target: torch.Tensor, mel: MelSpectrogram) -> torch.Tensor:
    """Differentiable L1 between natural-log mel magnitudes (HiFi-GAN's / Vocos's mel loss), a scalar.

    Both are floored `top_db` below a mel power of 1, the slice peak of the vocoder's targets: what the image floors
    the vocoder cannot know, and penalising it would only teach it the level of the floor.
    """
    floor = 10.0 ** (-float(mel.config.top_db) / 10.0)
    estimated = mel(estimate).clamp(min=floor).log() / 2
    reference = mel(target).clamp(min=floor).log() / 2
    return (estimated - reference).abs().mean()


def spectrum_losses(
    magnitude: torch.Tensor, phase: torch.Tensor, target: torch.Tensor, n_fft: int, hop_length: int, floor: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable losses on a predicted STFT before its inverse (APNet, Ai and Ling 2023, arXiv 2305.07952), two
    scalars, against the target audio's STFT at the same resolution:

    - magnitude: L1 between log magnitudes, both floored at `floor`. The losses on the decoded audio alone let a
      network whose phase is not yet coherent inflate its magnitude to make up for what the inverse STFT cancels;
      this keeps the magnitude the target's.
    - phase: the anti-wrapped errors of the instantaneous frequency (phase difference between frames) and group
      delay (between bins), weighted by the target's magnitude. A magnitude determines these (PGHI integrates
      them) while the absolute phase it does not, so they teach the coherent phase advance directly.

    magnitude, phase: `(batch, n_fft // 2 + 1, frames)`; target: `(batch, (frames - 1) * hop_length)` audio.
    """
    window = torch.hann_window(n_fft, device=target.device, dtype=target.dtype)
    spectrum = torch.stft(target, n_fft, hop_length, window=window, center=True, pad_mode="constant",
                          return_complex=True)[..., : phase.shape[-1]]  # fmt: skip
    true_magnitude = spectrum.abs()
    magnitude_loss = (magnitude.clamp(min=floor).log() - true_magnitude.clamp(min=floor).log()).abs().mean()
    true_phase = spectrum.angle()
    weight = true_magnitude / true_magnitude.sum(dim=(-2, -1), keepdim=True).clamp(min=_EPSILON)

    def wrapped(error: torch.Tensor) -> torch.Tensor:
        return (error - 2 * torch.pi * torch.round(error / (2 * torch.pi))).abs()

    frequency = wrapped(phase.diff(dim=-1) - true_phase.diff(dim=-1)) * weight[..., 1:]
    delay = wrapped(phase.diff(dim=-2) - true_phase.diff(dim=-2)) * weight[..., 1:, :]
    return magnitude_loss, (frequency.sum(dim=(-2, -1)) + delay.sum(dim=(-2, -1))).mean()


def log_mel_distance_db(
    reference: torch.Tensor, estimate: torch.Tensor, mel: MelSpectrogram, gain: bool = True
) -> torch.Tensor:
    """Mean absolute log-mel difference in dB per clip, `(batch,)`, both floored `top_db` below the reference's
    peak. reference, estimate: `(batch, time)`; with `gain`, `estimate` is first scaled to its best level."""
    reference, estimate = _aligned(reference, estimate, gain)
    top_db = float(mel.config.top_db)
    target = log_mel_db(mel(reference), top_db)
    floor = target.amax(dim=(-2, -1), keepdim=True) - top_db
    estimated = torch.maximum(10.0 * torch.log10(mel(estimate).clamp(min=1e-10)), floor)
    return (target - estimated).abs().mean(dim=(-2, -1))


def match_gain(reference: torch.Tensor, estimate: torch.Tensor, n_fft: int = 2048, hop_length: int = 512):
    """`estimate` `(batch, time)` scaled per clip by the least-squares gain between STFT magnitudes."""
    target, approx = stft_magnitude(reference, n_fft, hop_length), stft_magnitude(estimate, n_fft, hop_length)
    return estimate * least_squares_gain(target, approx).unsqueeze(-1)


def _aligned(reference: torch.Tensor, estimate: torch.Tensor, gain: bool) -> tuple[torch.Tensor, torch.Tensor]:
    length = min(reference.shape[-1], estimate.shape[-1])
    reference, estimate = reference[..., :length].float(), estimate[..., :length].float().to(reference.device)
    return reference, (match_gain(reference, estimate) if gain else estimate)
