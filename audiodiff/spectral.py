"""The spectral maths every layer above shares: the mel filterbank, the pixel <-> model-space <-> dB mappings and
their quantiser, the magnitude STFT and the least-squares gain. Pure functions of tensors: no file I/O, no codec.

It sits low so that the decoders (`vocoders/`, below `codec.py`), the codec, evaluation's metrics and the vocoder
trainer's losses share one definition of each mapping. `codec.py`, `vocoders/base.py` and `evaluation/metrics.py`
import these names, so their old import paths keep working.

Representations (as in `codec.py`): mel power `(batch, n_mels, frames)`; mel dB relative to each item's maximum, in
[-top_db, 0]; pixels integer in [0, levels] (levels = 2**bits - 1, row 0 the lowest mel band); model space float
in [-1, 1] = `pixel / levels * 2 - 1`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from audiodiff.config import MelConfig

BIT_DEPTHS = (8, 16)


def levels_for(bits: int) -> int:
    """The largest pixel value of a `bits`-bit image: 255 or 65535 (ValueError for other depths)."""
    if bits not in BIT_DEPTHS:
        raise ValueError(f"bit depth must be 8 or 16, got {bits}")
    return (1 << bits) - 1


# --- pixels <-> model space: the one mapping and the one quantiser ----------------------------------------------------
def pixels_to_model(pixels: torch.Tensor | np.ndarray, bits: int = 8) -> torch.Tensor:
    """Integer pixels `(...)` -> the diffusion model's space, float32 `(...)` in [-1, 1]: `pixel / levels * 2 - 1`.

    levels = 2**bits - 1; for 8 bits this is the reference pipeline's `(pixel / 255) * 2 - 1`. Stays on the device
    of a tensor.
    """
    if isinstance(pixels, np.ndarray):
        pixels = torch.from_numpy(np.asarray(pixels, dtype=np.float32))
    return pixels.to(torch.float32) / levels_for(bits) * 2 - 1


def model_to_pixels(images: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """Model-space values `(...)` in [-1, 1] -> integer pixels, int64 `(...)` in [0, 2**bits - 1].

    Values outside [-1, 1] are clipped, and values between two levels round half up as the reference `Mel` rounds
    (`round_to_pixels`); on the outputs of `pixels_to_model` it is the exact inverse.
    """
    levels = levels_for(bits)
    return round_to_pixels((torch.as_tensor(images).float() + 1) / 2 * levels, levels)


def model_to_db(images: torch.Tensor, top_db: float) -> torch.Tensor:
    """Model-space values `(...)` in [-1, 1] -> dB relative to the image's peak, `(...)` in [-top_db, 0].

    Continuous (no quantisation): the inverse of the encoder's dB -> image mapping.
    """
    return torch.clamp((images + 1) / 2, 0, 1) * top_db - top_db


def round_to_pixels(values: torch.Tensor, levels: int) -> torch.Tensor:
    """Values in pixel units -> int64 pixels in [0, levels], rounding half up: `floor(clip(value) + 0.5)`.

    The reference `Mel.audio_slice_to_image` quantises with `(clip(...) + 0.5).astype(np.uint8)`, which is this;
    `torch.round` would round half to even and, on exact halves, disagree with images the reference made.
    """
    return torch.floor(torch.clamp(values, 0, levels) + 0.5).to(torch.int64)


# --- analysis ---------------------------------------------------------------------------------------------------------
def mel_filterbank(config: MelConfig, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Slaney-scale, Slaney-normalised triangular mel filters as librosa's default; shape `(n_freqs, n_mels)`."""
    import torchaudio

    return torchaudio.functional.melscale_fbanks(
        n_freqs=config.n_fft // 2 + 1,
        f_min=0.0,
        f_max=config.sample_rate / 2.0,
        n_mels=config.n_mels,
        sample_rate=config.sample_rate,
        norm="slaney",
        mel_scale="slaney",
    ).to(dtype)


def magnitude_stft(audio: torch.Tensor, n_fft: int = 2048, hop_length: int = 512) -> torch.Tensor:
    """`(..., time)` audio -> `(..., n_fft // 2 + 1, frames)` magnitude of the centred Hann STFT."""
    audio = torch.as_tensor(audio, dtype=torch.float32)
    shape = audio.shape[:-1]
    window = torch.hann_window(n_fft, device=audio.device)
    spectrum = torch.stft(
        audio.reshape(-1, audio.shape[-1]), n_fft, hop_length, window=window, center=True, return_complex=True
    )
    return spectrum.abs().reshape(*shape, *spectrum.shape[-2:])


def least_squares_gain(target: torch.Tensor, approx: torch.Tensor) -> torch.Tensor:
    """The gain g minimising ||target - g approx||_F per item, for magnitude spectrograms `(..., freqs, frames)`:
    `(...)`. Images keep no absolute level, so decoders are compared at their best gain."""
    return (target * approx).sum(dim=(-2, -1)) / approx.square().sum(dim=(-2, -1)).clamp(min=1e-20)
