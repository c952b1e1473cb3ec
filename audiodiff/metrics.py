"""Signal-level quality metrics between a reference waveform and its reconstruction (pure tensor functions).

The spectrogram image stores levels relative to each slice's maximum, so a decoded clip has the right shape but an
arbitrary overall level. Both metrics therefore first scale the estimate's magnitude spectrogram by the
least-squares gain `g = <S, S_hat> / <S_hat, S_hat>` before comparing.
"""

from __future__ import annotations

import torch


def magnitude_stft(audio: torch.Tensor, n_fft: int = 2048, hop_length: int = 512) -> torch.Tensor:
    """`(..., time)` audio -> `(..., n_fft // 2 + 1, frames)` magnitude of the centred Hann STFT."""
    audio = torch.as_tensor(audio, dtype=torch.float32)
    shape = audio.shape[:-1]
    window = torch.hann_window(n_fft, device=audio.device)
    spectrum = torch.stft(
        audio.reshape(-1, audio.shape[-1]), n_fft, hop_length, window=window, center=True, return_complex=True
    )
    return spectrum.abs().reshape(*shape, *spectrum.shape[-2:])


def _aligned_magnitudes(reference, estimate, n_fft, hop_length):
    reference = torch.as_tensor(reference, dtype=torch.float32)
    estimate = torch.as_tensor(estimate, dtype=torch.float32).to(reference.device)
    length = min(reference.shape[-1], estimate.shape[-1])
    target = magnitude_stft(reference[..., :length], n_fft, hop_length)
    approx = magnitude_stft(estimate[..., :length], n_fft, hop_length)
    gain = (target * approx).sum(dim=(-2, -1), keepdim=True) / approx.square().sum(dim=(-2, -1), keepdim=True).clamp(
        min=1e-20
    )
    return target, approx * gain


def spectral_convergence(
    reference: torch.Tensor, estimate: torch.Tensor, n_fft: int = 2048, hop_length: int = 512
) -> torch.Tensor:
    """Spectral convergence ||S - g S_hat||_F / ||S||_F of magnitude STFTs (0 = identical; lower is better).

    reference, estimate: `(..., time)` (the longer is cut to the shorter). Returns `(...)`.
    """
    target, approx = _aligned_magnitudes(reference, estimate, n_fft, hop_length)
    error = torch.linalg.vector_norm(target - approx, dim=(-2, -1))
    return error / torch.linalg.vector_norm(target, dim=(-2, -1)).clamp(min=1e-20)


def log_spectral_distance(
    reference: torch.Tensor, estimate: torch.Tensor, n_fft: int = 2048, hop_length: int = 512, floor_db: float = 80.0
) -> torch.Tensor:
    """Log-spectral distance in dB: RMS over frequency of the dB difference of power spectra, mean over frames.

    Power below `floor_db` under each clip's peak is floored so that silence does not dominate.
    reference, estimate: `(..., time)`. Returns `(...)`.
    """
    target, approx = _aligned_magnitudes(reference, estimate, n_fft, hop_length)

    def to_db(magnitude):
        db = 20.0 * torch.log10(magnitude.clamp(min=1e-10))
        peak = db.amax(dim=(-2, -1), keepdim=True)
        return torch.maximum(db, peak - floor_db)

    difference = to_db(target) - to_db(approx)
    return difference.square().mean(dim=-2).sqrt().mean(dim=-1)
