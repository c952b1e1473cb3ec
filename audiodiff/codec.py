"""Waveform <-> mel-spectrogram image conversion, batched on torch, pixel-compatible with the reference `Mel`.

Representations used throughout audiodiff:

- audio: float `(batch, time)` in [-1, 1] at `config.sample_rate`.
- mel power: `(batch, n_mels, frames)`; mel dB: the same in decibels relative to each item's maximum, in
  [-top_db, 0] (librosa's `power_to_db(S, ref=np.max, top_db)`).
- pixels: integer `(batch, n_mels, frames)`, 0..255 (8-bit, the reference image format) or 0..65535 (16-bit),
  `pixel = floor(clip((dB + top_db) * levels / top_db, 0, levels) + 0.5)`; row 0 is the lowest mel band.
- images: float `(batch, 1, n_mels, frames)` in [-1, 1] = `pixel / levels * 2 - 1`, the diffusion model's space.

PNG I/O keeps the bit depth in the file: mode "L" is 8-bit, mode "I;16" is 16-bit. A PNG may also carry the mel
settings it was made with, in a text chunk (`PNG_MEL_KEY`), so that decoding it needs no `--mel-config`.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from audiodiff.config import MelConfig
from audiodiff.spectral import (  # noqa: F401 - the mappings' public home is here too
    BIT_DEPTHS,
    levels_for,
    mel_filterbank,
    model_to_db,
    model_to_pixels,
    pixels_to_model,
    round_to_pixels,
)
from audiodiff.vocoders import GriffinLimVocoder, Vocoder

# The widest spectrogram image `load_png` reads: about 6 minutes at the reference settings. Decoding costs memory in
# proportion to the width (a 2.5 KB PNG can declare 400,000 columns), so wider files are refused from the header.
MAX_PNG_WIDTH = 16384
# The PNG text chunk (tEXt, before the pixels) holding the image's mel settings and bit depth as JSON:
# {"bits": 8, "mel": {"hop_length": 512, "n_fft": 2048, ...}}. The reference tools (diffusers' `Mel.image_to_audio`,
# audio-diffusion's datasets) read images with PIL and use the pixels only, so they ignore it: pixels, and so their
# decoding, are the same with and without it.
PNG_MEL_KEY = "audiodiff:mel"


class SpectrogramCodec(nn.Module):
    """Converts batches of audio slices to spectrogram images and back, on any device.

    Encoding is the reference `Mel.audio_slice_to_image` on torch: centred STFT (Hann window, zero padding),
    power spectrogram, Slaney mel filterbank, dB relative to the slice maximum clipped at `top_db`, quantised.
    Decoding inverts the quantisation and the dB mapping and hands the mel power to a vocoder
    (fast Griffin-Lim on torch by default).

    Example:
        >>> codec = SpectrogramCodec(MelConfig())
        >>> images = codec.encode(torch.zeros(2, codec.config.slice_size))   # (2, 1, 256, 256)
        >>> audio = codec.decode(images)                                     # (2, 130560)
    """

    def __init__(self, config: MelConfig | None = None, vocoder: Vocoder | None = None):
        super().__init__()
        self.config = config or MelConfig()
        self.register_buffer("window", torch.hann_window(self.config.n_fft), persistent=False)
        self.register_buffer("filterbank", mel_filterbank(self.config), persistent=False)
        # The default vocoder is built on first decode: encode-only users (dataset preparation) skip its set-up.
        self._default_vocoder = vocoder

    @property
    def vocoder(self) -> Vocoder:
        if self._default_vocoder is None:
            self._default_vocoder = GriffinLimVocoder(self.config).to(self.device)
        return self._default_vocoder

    @property
    def device(self) -> torch.device:
        return self.window.device

    # --- analysis -------------------------------------------------------------------------------------------------
    def mel_power(self, audio: torch.Tensor) -> torch.Tensor:
        """Mel power spectrogram of `(batch, time)` audio: `(batch, n_mels, 1 + time // hop_length)`."""
        audio = torch.as_tensor(audio, dtype=torch.float32).to(self.device)
        if audio.ndim == 1:
            audio = audio.unsqueeze(0)
        spectrum = torch.stft(
            audio,
            n_fft=self.config.n_fft,
            hop_length=self.config.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spectrum.real.square() + spectrum.imag.square()
        return self.filterbank.T @ power

    def power_to_db(self, mel_power: torch.Tensor) -> torch.Tensor:
        """dB relative to each item's maximum, floored at -top_db: `(batch, n_mels, frames)` in [-top_db, 0]."""
        amin = 1e-10
        log_power = 10.0 * torch.log10(torch.clamp(mel_power, min=amin))
        reference = 10.0 * torch.log10(torch.clamp(mel_power.amax(dim=(-2, -1), keepdim=True), min=amin))
        return torch.clamp(log_power - reference, min=-float(self.config.top_db))

    def db_to_pixels(self, mel_db: torch.Tensor, bits: int = 8) -> torch.Tensor:
        """Quantise dB `(batch, n_mels, frames)` to integer pixels (int64) in [0, 2**bits - 1], rounding half up."""
        levels = levels_for(bits)
        top_db = float(self.config.top_db)
        return round_to_pixels((mel_db + top_db) * levels / top_db, levels)

    def audio_to_pixels(self, audio: torch.Tensor, bits: int = 8) -> torch.Tensor:
        """`(batch, time)` audio -> integer pixels `(batch, n_mels, frames)`."""
        return self.db_to_pixels(self.power_to_db(self.mel_power(audio)), bits)

    def encode(self, audio: torch.Tensor, bits: int | None = 8) -> torch.Tensor:
        """`(batch, time)` audio -> images `(batch, 1, n_mels, frames)` in [-1, 1].

        With `bits` set, the values are exactly those of a PNG of that depth (what training sees after a dataset
        round trip); `bits=None` skips quantisation.
        """
        mel_db = self.power_to_db(self.mel_power(audio))
        if bits is None:
            return ((mel_db + self.config.top_db) / self.config.top_db * 2 - 1).unsqueeze(1)
        return pixels_to_model(self.db_to_pixels(mel_db, bits), bits).unsqueeze(1)

    # --- synthesis ------------------------------------------------------------------------------------------------
    def images_to_mel_power(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1], `(batch, 1, n_mels, frames)` or `(batch, n_mels, frames)` -> mel power (peak 1)."""
        images = torch.as_tensor(images).to(self.device, torch.float32)
        if images.ndim == 4:
            if images.shape[1] != 1:
                raise ValueError(f"expected 1-channel images (batch, 1, n_mels, frames), got {tuple(images.shape)}")
            images = images[:, 0]
        if images.ndim == 2:
            images = images.unsqueeze(0)
        if images.shape[-2] != self.config.n_mels:
            raise ValueError(
                f"images have {images.shape[-2]} rows but this codec has {self.config.n_mels} mel bands (y_res)"
            )
        return torch.pow(10.0, model_to_db(images, self.config.top_db) / 10.0)

    def pixels_to_images(self, pixels: torch.Tensor | np.ndarray, bits: int = 8) -> torch.Tensor:
        """Integer pixels `(batch, n_mels, frames)` -> images `(batch, 1, n_mels, frames)` in [-1, 1]."""
        pixels = torch.as_tensor(np.asarray(pixels, dtype=np.int64) if isinstance(pixels, np.ndarray) else pixels)
        if pixels.ndim == 2:
            pixels = pixels.unsqueeze(0)
        return pixels_to_model(pixels.to(self.device), bits).unsqueeze(1)

    def decode(
        self, images: torch.Tensor, vocoder: Vocoder | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Images in [-1, 1] `(batch, 1, n_mels, frames)` -> audio `(batch, (frames - 1) * hop_length)`.

        `generator` seeds Griffin-Lim's initial phase (on the codec's device) for reproducible audio.
        """
        vocoder = vocoder if vocoder is not None else self.vocoder
        return vocoder(self.images_to_mel_power(images), generator=generator)


# --- PNG I/O ----------------------------------------------------------------------------------------------------------
def pixels_to_pil(pixels: np.ndarray | torch.Tensor, bits: int = 8) -> Image.Image:
    """`(n_mels, frames)` integer pixels -> grayscale PIL image: mode "L" (8-bit) or "I;16" (16-bit)."""
    if isinstance(pixels, torch.Tensor):
        pixels = pixels.detach().cpu().numpy()
    pixels = np.asarray(pixels)
    if pixels.ndim != 2:
        raise ValueError(f"expected one (n_mels, frames) image, got shape {pixels.shape}")
    levels = levels_for(bits)
    if pixels.min() < 0 or pixels.max() > levels:
        raise ValueError(f"pixel values outside 0..{levels} for a {bits}-bit image")
    dtype = np.uint8 if bits == 8 else np.uint16
    return Image.fromarray(np.ascontiguousarray(pixels.astype(dtype)))


def pil_to_pixels(image: Image.Image) -> tuple[np.ndarray, int]:
    """Grayscale PIL image -> (`(height, width)` integer pixels, bit depth). RGB images are converted to gray."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.int64)
        if pixels.min() < 0 or pixels.max() > 65535:
            raise ValueError(f"32-bit image values outside the 16-bit range ({pixels.min()}..{pixels.max()})")
        return pixels.astype(np.uint16), 16
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8), 8


def png_mel_text(mel_config: MelConfig, bits: int) -> str:
    """The `PNG_MEL_KEY` chunk's text: the mel settings (`MelConfig` fields) and bit depth, compact sorted JSON."""
    levels_for(bits)  # 8 or 16
    return json.dumps({"bits": int(bits), "mel": mel_config.to_dict()}, sort_keys=True, separators=(",", ":"))


def encode_png(pixels: np.ndarray | torch.Tensor, bits: int = 8, mel_config: MelConfig | None = None) -> bytes:
    """One `(n_mels, frames)` spectrogram -> PNG file bytes (8-bit "L" or 16-bit "I;16"), with the `PNG_MEL_KEY`
    text chunk when `mel_config` is given (without it, the bytes are those PIL always wrote)."""
    image = pixels_to_pil(pixels, bits)
    options = {}
    if mel_config is not None:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text(PNG_MEL_KEY, png_mel_text(mel_config, bits))
        options["pnginfo"] = info
    with io.BytesIO() as buffer:
        image.save(buffer, format="PNG", **options)
        return buffer.getvalue()


def save_png(
    path: str | os.PathLike,
    pixels: np.ndarray | torch.Tensor,
    bits: int = 8,
    *,
    mel_config: MelConfig | None = None,
) -> Path:
    """Write one `(n_mels, frames)` spectrogram as an 8- or 16-bit grayscale PNG; parent folders are created.

    `mel_config`: the settings the image was made with, written in the `PNG_MEL_KEY` text chunk (with the bit
    depth) so that `audiodiff decode` finds them; the pixels are the same either way. Written through a temporary
    name renamed into place (`utils.atomic_file`), so a full disk never leaves a cut PNG under `path`; a failed
    write is an `OSError` naming `path`."""
    from audiodiff.utils import atomic_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = encode_png(pixels, bits, mel_config)
    try:
        with atomic_file(path) as temporary:
            temporary.write_bytes(data)
    except OSError as error:
        raise OSError(error.errno, error.strerror or str(error), str(path)) from None
    return path


def png_mel_config(image: Image.Image, source: str | os.PathLike = "image") -> MelConfig | None:
    """The mel settings an open PNG carries in its `PNG_MEL_KEY` chunk, or None when it has none.

    A chunk that is not valid settings is a ValueError naming `source`. Its bit depth is not needed: the pixels'
    own depth counts (a tool that converted the image kept the chunk but not the depth)."""
    text = image.info.get(PNG_MEL_KEY)
    if text is None:
        return None
    from audiodiff.config import ConfigError

    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("mel"), dict):
            raise ValueError("no 'mel' object")
        return MelConfig.from_dict(data["mel"], PNG_MEL_KEY)
    except ConfigError as error:
        reason = str(error).removeprefix(f"{PNG_MEL_KEY}: ")
        raise ValueError(f"{source}: its {PNG_MEL_KEY} text chunk holds invalid mel settings ({reason})") from None
    except (ValueError, TypeError) as error:
        raise ValueError(f"{source}: its {PNG_MEL_KEY} text chunk is not valid JSON settings ({error})") from None


def load_png_with_mel(
    path: str | os.PathLike, max_width: int = MAX_PNG_WIDTH
) -> tuple[np.ndarray, int, MelConfig | None]:
    """Read a spectrogram image -> (`(n_mels, frames)` pixels, bit depth, the mel settings its `PNG_MEL_KEY` chunk
    carries or None). Errors (ValueError) name the file, a malformed chunk included.

    Images wider than `max_width` frames are refused from the header, before their pixels are decoded.
    """
    return _read_png(path, max_width, with_mel=True)


def load_png(path: str | os.PathLike, max_width: int = MAX_PNG_WIDTH) -> tuple[np.ndarray, int]:
    """Read a spectrogram image -> (`(n_mels, frames)` pixels, bit depth). Errors (ValueError) name the file.

    Images wider than `max_width` frames are refused from the header, before their pixels are decoded. The mel
    settings chunk is not read (`load_png_with_mel` reads it).
    """
    return _read_png(path, max_width, with_mel=False)


def _read_png(path: str | os.PathLike, max_width: int, with_mel: bool) -> tuple:
    try:
        with Image.open(path) as image:
            if image.width > max_width:
                raise ValueError(
                    f"{path}: image is {image.width} frames wide, more than the {max_width} one image may have"
                )
            image.load()
            pixels, bits = pil_to_pixels(image)
            return (pixels, bits, png_mel_config(image, path)) if with_mel else (pixels, bits)
    except FileNotFoundError:
        raise ValueError(f"{path}: file not found") from None
    except (OSError, SyntaxError) as error:
        raise ValueError(f"{path}: not a readable image ({error})") from None
