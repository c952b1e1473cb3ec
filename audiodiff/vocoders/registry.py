"""Choosing a decoder by name."""

from __future__ import annotations

from torch import nn

from audiodiff.config import MelConfig
from audiodiff.vocoders.griffin_lim import GriffinLimVocoder
from audiodiff.vocoders.reference import LibrosaVocoder


def make_vocoder(name: str, config: MelConfig, n_iter: int | None = None) -> nn.Module | LibrosaVocoder:
    """Vocoder by name: "griffinlim" (torch, default) or "librosa" (the reference)."""
    if name in ("griffinlim", "griffin-lim", "torch"):
        return GriffinLimVocoder(config, n_iter=n_iter)
    if name == "librosa":
        return LibrosaVocoder(config, n_iter=n_iter)
    raise ValueError(f"unknown vocoder {name!r}: choose 'griffinlim' or 'librosa'")
