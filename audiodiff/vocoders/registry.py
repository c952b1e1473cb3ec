"""Choosing a decoder: by name ("griffinlim", "librosa") or a trained vocoder's folder."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from audiodiff.config import MelConfig
from audiodiff.vocoders.griffin_lim import GriffinLimVocoder
from audiodiff.vocoders.reference import LibrosaVocoder

GRIFFIN_LIM_NAMES = ("griffinlim", "griffin-lim", "torch")
NAMES = ("griffinlim", "librosa")


def make_vocoder(
    name: str, config: MelConfig, n_iter: int | None = None, phase_init: str | None = None
) -> nn.Module | LibrosaVocoder:
    """A decoder for images made with `config`: "griffinlim" (torch, the default; `phase_init` "pghi" or "random",
    None: the default), "librosa" (the reference: random initial phase), or the folder of a trained vocoder
    (`audiodiff train-vocoder`), which must have been trained for `config`'s mel settings; `n_iter` is then the
    Griffin-Lim iterations that refine its output (None: 0).

    Raises `ValueError` (one line) for an unknown name, options that do not apply, or a vocoder folder that is
    damaged or made for other mel settings (`vocoders.trained.VocoderError`).
    """
    name = str(name)
    if name in GRIFFIN_LIM_NAMES:
        return GriffinLimVocoder(config, n_iter=n_iter, phase_init=phase_init)
    if name == "librosa":
        if phase_init not in (None, "random"):
            raise ValueError("the librosa reference starts from random phase only; --phase-init pghi needs griffinlim")
        return LibrosaVocoder(config, n_iter=n_iter)
    if Path(name).exists():
        from audiodiff.vocoders.trained import load_vocoder

        vocoder = load_vocoder(name, config, user="these images have")
        vocoder.set_griffin_lim(n_iter, phase_init)
        return vocoder
    raise ValueError(f"unknown vocoder {name!r}: choose griffinlim, librosa, or a trained vocoder folder")
