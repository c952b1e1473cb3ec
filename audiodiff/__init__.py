"""audiodiff: audio spectrogram diffusion toolkit.

Turn music into mel-spectrogram images, fine-tune diffusion models on them, and generate, vary, continue,
interpolate and edit audio. Compatible with the audio-diffusion reference format (256x256 8-bit spectrograms).

The public names below load on first use (module `__getattr__`, PEP 562, as diffusers does): `import audiodiff`
alone loads no submodule, so a submodule's import (the CLI's, a worker process's) pays only for what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "AudioError": "audiodiff.audio",
    "load_audio": "audiodiff.audio",
    "save_audio": "audiodiff.audio",
    "slice_audio": "audiodiff.audio",
    "SpectrogramCodec": "audiodiff.codec",
    "load_png": "audiodiff.codec",
    "load_png_with_mel": "audiodiff.codec",
    "save_png": "audiodiff.codec",
    "ConfigError": "audiodiff.config",
    "MelConfig": "audiodiff.config",
    "log_spectral_distance": "audiodiff.evaluation.metrics",
    "spectral_convergence": "audiodiff.evaluation.metrics",
    "GriffinLimVocoder": "audiodiff.vocoders",
    "LibrosaVocoder": "audiodiff.vocoders",
}

__all__ = [
    "AudioError",
    "ConfigError",
    "GriffinLimVocoder",
    "LibrosaVocoder",
    "MelConfig",
    "SpectrogramCodec",
    "load_audio",
    "load_png",
    "load_png_with_mel",
    "log_spectral_distance",
    "save_audio",
    "save_png",
    "slice_audio",
    "spectral_convergence",
]

if TYPE_CHECKING:
    from audiodiff.audio import AudioError, load_audio, save_audio, slice_audio
    from audiodiff.codec import SpectrogramCodec, load_png, load_png_with_mel, save_png
    from audiodiff.config import ConfigError, MelConfig
    from audiodiff.evaluation.metrics import log_spectral_distance, spectral_convergence
    from audiodiff.vocoders import GriffinLimVocoder, LibrosaVocoder


def __getattr__(name: str):
    """A public name, imported from its module on first use and kept in this module's namespace."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
