import torch

from audiodiff.evaluation.metrics import log_spectral_distance, spectral_convergence


def test_identical_and_rescaled_signals_score_zero():
    audio = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    assert spectral_convergence(audio, audio).max() < 1e-5
    assert spectral_convergence(audio, 0.3 * audio).max() < 1e-5  # the image does not store the level
    assert log_spectral_distance(audio, 0.3 * audio).max() < 1e-3


def test_unrelated_signals_score_high_and_lengths_are_aligned():
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(16000) / 16000
    tone = torch.sin(2 * torch.pi * 440 * t)
    noise = torch.randn(16500, generator=generator)
    assert spectral_convergence(tone, noise) > 0.9
    assert log_spectral_distance(tone, noise) > 10.0
    slightly_off = tone + 0.01 * torch.randn(16000, generator=generator)
    assert spectral_convergence(tone, slightly_off) < 0.05
