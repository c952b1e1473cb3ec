"""Decoders: fast Griffin-Lim with PGHI or random initial phase."""

from __future__ import annotations

import math

import pytest
import torch

from audiodiff.evaluation.metrics import spectral_convergence
from audiodiff.vocoders import GriffinLimVocoder, griffin_lim, make_vocoder
from audiodiff.vocoders.griffin_lim import DEFAULT_PHASE_INIT, PHASE_INITS
from audiodiff.vocoders.pghi import pghi_phase

N_FFT, HOP = 512, 128


def _chirp(seconds: float = 1.0, sample_rate: int = 16000) -> torch.Tensor:
    """A linear chirp 200 Hz -> 3 kHz with a 5 Hz tremolo, `(1, time)`: phase that no single frequency explains."""
    time = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    phase = 2 * math.pi * (200 * time + (3000 - 200) / (2 * seconds) * time**2)
    return (0.5 * torch.sin(phase) * (0.6 + 0.4 * torch.cos(2 * math.pi * 5 * time))).float().unsqueeze(0)


def _magnitude(audio: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(N_FFT)
    return torch.stft(audio, N_FFT, HOP, window=window, center=True, return_complex=True).abs()


def test_pghi_recovers_the_phase_of_a_chirp_far_better_than_random():
    """Spectral convergence (at the analysis STFT) of PGHI + 0 iterations against random + 0: measured 0.08 vs 0.53."""
    audio = _chirp()
    magnitude = _magnitude(audio)
    length = (magnitude.shape[-1] - 1) * HOP
    scores = {}
    for init in PHASE_INITS:
        rebuilt = griffin_lim(magnitude, N_FFT, HOP, torch.hann_window(N_FFT), n_iter=0, length=length,
                              generator=torch.Generator().manual_seed(0), phase_init=init)  # fmt: skip
        scores[init] = spectral_convergence(audio[:, :length], rebuilt, N_FFT, HOP).item()
    assert scores["pghi"] < 0.15 < 0.4 < scores["random"]


def test_pghi_is_batched_reproducible_and_keeps_the_given_phase_of_silence():
    audio = torch.cat([_chirp(0.5), 0.3 * _chirp(0.5).flip(-1)])
    magnitude = _magnitude(audio)
    magnitude[:, 200:] = 0  # silent top bins keep the initial phase
    initial = torch.rand(magnitude.shape, generator=torch.Generator().manual_seed(1)) * 2 * math.pi
    batched = pghi_phase(magnitude, N_FFT, HOP, initial)
    assert batched.shape == magnitude.shape and batched.dtype == magnitude.dtype
    one_by_one = torch.cat([pghi_phase(magnitude[i : i + 1], N_FFT, HOP, initial[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(batched, one_by_one)
    assert torch.equal(batched[:, 200:], initial[:, 200:])
    with pytest.raises(ValueError, match="tolerances"):
        pghi_phase(magnitude, N_FFT, HOP, initial, tolerances=(2.0,))


@pytest.mark.parametrize("phase_init", PHASE_INITS)
def test_griffin_lim_vocoder_phase_init_batched_and_seeded(small_mel, phase_init):
    mel_power = torch.rand(3, small_mel.n_mels, 16, generator=torch.Generator().manual_seed(0)) ** 4
    vocoder = GriffinLimVocoder(small_mel, n_iter=2, phase_init=phase_init)
    first = vocoder(mel_power, generator=torch.Generator().manual_seed(5))
    again = vocoder(mel_power, generator=torch.Generator().manual_seed(5))
    assert first.shape == (3, 15 * small_mel.hop_length) and torch.equal(first, again)
    alone = GriffinLimVocoder(small_mel, n_iter=2, phase_init=phase_init, cpu_chunk=1)
    assert torch.allclose(alone(mel_power, generator=torch.Generator().manual_seed(5)), first, atol=1e-5)
    with pytest.raises(ValueError, match="phase_init must be one of"):
        make_vocoder("griffinlim", small_mel, phase_init="zeros")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pghi_on_cuda_matches_cpu(small_mel):
    mel_power = torch.rand(2, small_mel.n_mels, 16, generator=torch.Generator().manual_seed(0)) ** 4
    vocoder = GriffinLimVocoder(small_mel, n_iter=0, phase_init="pghi")
    on_cpu = vocoder(mel_power, generator=torch.Generator().manual_seed(0))
    on_cuda = vocoder.to("cuda")(mel_power.cuda(), generator=torch.Generator("cuda").manual_seed(0))
    assert on_cuda.device.type == "cuda" and on_cuda.shape == on_cpu.shape


def test_the_cli_names_the_library_phase_inits_and_default():
    from audiodiff.cli import common

    assert common.PHASE_INITS == PHASE_INITS and common.DEFAULT_PHASE_INIT == DEFAULT_PHASE_INIT
