"""Codec quality metrics; they live in `audiodiff.evaluation.metrics` with the other metrics. Re-exported here."""

from audiodiff.evaluation.metrics import log_spectral_distance, magnitude_stft, spectral_convergence

__all__ = ["log_spectral_distance", "magnitude_stft", "spectral_convergence"]
