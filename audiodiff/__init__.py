"""audiodiff: audio spectrogram diffusion toolkit.

Turn music into mel-spectrogram images, fine-tune diffusion models on them, and generate, vary, continue,
interpolate and edit audio. Compatible with the audio-diffusion reference format (256x256 8-bit spectrograms).
"""

from audiodiff.audio import AudioError, load_audio, save_audio, slice_audio
from audiodiff.codec import SpectrogramCodec, load_png, load_png_with_mel, save_png
from audiodiff.config import ConfigError, MelConfig
from audiodiff.evaluation.metrics import log_spectral_distance, spectral_convergence
from audiodiff.vocoders import GriffinLimVocoder, LibrosaVocoder, NeuralVocoder

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "ConfigError",
    "GriffinLimVocoder",
    "LibrosaVocoder",
    "MelConfig",
    "NeuralVocoder",
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
