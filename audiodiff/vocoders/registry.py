"""Choosing a decoder by name."""

from __future__ import annotations

from torch import nn

from audiodiff.config import MelConfig
from audiodiff.vocoders.griffin_lim import GriffinLimVocoder
from audiodiff.vocoders.reference import LibrosaVocoder


def make_vocoder(
    name: str, config: MelConfig, n_iter: int | None = None, phase_init: str | None = None
) -> nn.Module | LibrosaVocoder:
    """Vocoder by name: "griffinlim" (torch, default; `phase_init` "pghi" or "random", None: the default) or
    "librosa" (the reference, random initial phase)."""
    if name in ("griffinlim", "griffin-lim", "torch"):
        return GriffinLimVocoder(config, n_iter=n_iter, phase_init=phase_init)
    if name == "librosa":
        return LibrosaVocoder(config, n_iter=n_iter)
    raise ValueError(f"unknown vocoder {name!r}: choose 'griffinlim' or 'librosa'")
