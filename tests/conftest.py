"""Shared fixtures: small mel settings and synthesized audio (tests never download anything)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiodiff.config import MelConfig
from audiodiff.synth import synthesize

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def small_mel() -> MelConfig:
    """64x64 images at 16 kHz: slices of 8191 samples, fast enough for many tests."""
    return MelConfig(x_res=64, y_res=64, sample_rate=16000, n_fft=512, hop_length=128, top_db=80, n_iter=16)


@pytest.fixture(scope="session")
def music() -> dict[str, np.ndarray]:
    """12 s of each synthesized genre at 22050 Hz (two reference slices each)."""
    return {genre: synthesize(genre, 12.0, 22050, seed=3) for genre in ("beats", "pads", "arpeggios")}
