"""The ends of `AudioDiffusionPipeline`: what goes into a call and what comes out.

In: the call's arguments checked together (`check_inputs`), audio or images made into images `(batch, 1, y_res,
x_res)` at the pipeline's bit depth, genres into class labels, seconds into spectrogram columns, the guidance a
distilled student applies. Between: images and the UNet's samples (a latent model's VAE, `vqvae`). Out: images
quantised to the bit depth, vocoded (a loop cross-faded into its start), checked against the training data's
artefact fences, and returned as the output type asks (`AudioDiffusionOutput`). The conversion of audio to images
and back is `codec.SpectrogramCodec`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from diffusers.utils import BaseOutput
from PIL import Image

from audiodiff import editing
from audiodiff.codec import SpectrogramCodec, model_to_pixels, pixels_to_model, pixels_to_pil
from audiodiff.denoisers import class_labels

if TYPE_CHECKING:
    from audiodiff.pipeline import AudioDiffusionPipeline


@dataclass
class AudioDiffusionOutput(BaseOutput):
    """Output of `AudioDiffusionPipeline.__call__`.

    images: list of PIL grayscale images ("pil"), integer pixels `(batch, n_mels, frames)` ("np"), or float images
        `(batch, 1, n_mels, frames)` in [-1, 1] ("pt"), at the pipeline's bit depth.
    audios: `(batch, time)` float audio (numpy, or a CPU tensor for "pt").
    sample_rate: of `audios`.
    """

    images: list[Image.Image] | np.ndarray | torch.Tensor
    audios: np.ndarray | torch.Tensor
    sample_rate: int


class PipelineIOMixin:
    """Inputs and outputs of `AudioDiffusionPipeline` (which it is mixed into): uses its `mel_config`, `bits`,
    `vocoder`, `vqvae`, `unet`, `latent_shape`, `native_widths`, `null_label`, `genres`, `quality`, `distillation`,
    `_execution_device` and `_codecs` (codecs by device)."""

    # --- inputs -------------------------------------------------------------------------------------------------------
    def _input_images(self, audio, images) -> torch.Tensor | None:
        """The input clips as images `(batch, 1, y_res, x_res)` (from `(time,)`/`(batch, time)` audio, or images
        checked for that shape), None without input."""
        if audio is not None and images is not None:
            raise ValueError("pass either audio or images, not both")
        if audio is not None:
            return self.audio_to_images(audio)
        if images is None:
            return None
        images = torch.as_tensor(images).to(self._execution_device, torch.float32)
        expected = (1, self.mel_config.y_res, self.mel_config.x_res)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"expected images of shape (batch, {', '.join(map(str, expected))}), got {tuple(images.shape)}"
            )
        return images

    def check_inputs(
        self,
        batch_size: int,
        init_images: torch.Tensor | None,
        latents: torch.Tensor | None,
        generator: torch.Generator | list[torch.Generator] | None,
        strength: float,
        mask: torch.Tensor | None,
        inpaint_seconds: tuple[float, float] | None,
        loop_seconds: float | None,
        seconds: float | None,
        output_type: str,
    ) -> int:
        """Raise ValueError for arguments of `__call__` that do not go together; returns the batch size.

        The batch size is `batch_size`, or, when that is 1, the number of input clips `init_images`
        `(batch, 1, y_res, x_res)` or start samples `latents` `(batch, channels, height, width)`; a single input
        serves any batch.
        """
        if output_type not in ("pil", "np", "pt"):
            raise ValueError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")
        for given in (init_images, latents):
            if given is not None and len(given) != batch_size:
                if batch_size == 1:
                    batch_size = len(given)
                elif len(given) != 1:
                    raise ValueError(f"got {len(given)} inputs for a batch of {batch_size}")
        check_generators(generator, batch_size)
        if strength < 1.0 and init_images is None and latents is None:
            raise ValueError("strength below 1 needs input audio, images or latents to start from")
        masks_given = [name for name, value in (("mask", mask), ("inpaint_seconds", inpaint_seconds),
                                                 ("loop_seconds", loop_seconds)) if value is not None]  # fmt: skip
        if len(masks_given) > 1:
            raise ValueError(f"{' and '.join(masks_given)} cannot be combined")
        if masks_given and init_images is None:
            raise ValueError(f"{masks_given[0]} needs input audio or images")
        if loop_seconds is not None and seconds is not None:
            raise ValueError("loop_seconds and seconds cannot be combined")
        return batch_size

    def _student_guidance(self, guidance_scale: float) -> float:
        """The guidance scale to apply: a student distilled with guidance w has it built in, so it is asked for with
        1 or w and applied as 1 (one UNet call per step); any other scale is a ValueError."""
        baked = (self.distillation or {}).get("guidance")
        if baked is None or float(baked) == 1.0:
            return guidance_scale
        if guidance_scale not in (1.0, float(baked)):
            raise ValueError(
                f"this student was distilled at guidance {baked:g}, which it applies in one UNet call per step; "
                f"guidance_scale {guidance_scale:g} needs its teacher {self.distillation.get('teacher')}"
            )
        return 1.0

    # --- quality ------------------------------------------------------------------------------------------------------
    def check_clips(self, images: torch.Tensor) -> list[list[str]] | None:
        """The artefact check (`audiodiff.evaluation.artifacts`) of images `(batch, 1, y_res, frames)` in [-1, 1]
        against the fences stored with the pipeline (fitted on its training data): per clip, the statistics it fails
        (speckle, noise-like flat spectrum, silence, saturation, flat image, flicker); an empty list passes. None when
        the pipeline stores no fences (reference checkpoints; audiodiff's training writes them)."""
        if not self.quality or "fences" not in self.quality:
            return None
        from audiodiff.artifacts import Fences, clip_reasons

        fences = Fences.from_dict(self.quality["fences"])
        return clip_reasons(images.float().cpu(), fences, self.mel_config.x_res, float(self.mel_config.top_db))

    # --- the decoder and conversions ----------------------------------------------------------------------------------
    def set_vocoder(self, vocoder) -> AudioDiffusionPipeline:
        """Decode with `vocoder`: a `TrainedVocoder` (its mel settings must be the pipeline's, else ValueError), a
        folder holding one, any decoder callable (`vocoders.Vocoder`), or None for fast Griffin-Lim. Returns self."""
        if isinstance(vocoder, (str, os.PathLike)):
            from audiodiff.vocoders.trained import load_vocoder

            vocoder = load_vocoder(vocoder)
        if hasattr(vocoder, "check_mel"):
            vocoder.check_mel(self.mel_config)
        self.vocoder = vocoder
        self._codecs = {}
        return self

    def codec(self, device: torch.device | str | None = None) -> SpectrogramCodec:
        """The `SpectrogramCodec` of these mel settings on `device` (default: the pipeline's), cached."""
        device = torch.device(device or self._execution_device)
        if str(device) not in self._codecs:
            vocoder = self.vocoder.to(device) if isinstance(self.vocoder, torch.nn.Module) else self.vocoder
            self._codecs[str(device)] = SpectrogramCodec(self.mel_config, vocoder=vocoder).to(device)
        return self._codecs[str(device)]

    def audio_to_images(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        """`(time,)` or `(batch, time)` audio -> images `(batch, 1, y_res, x_res)` at the pipeline's bit depth.

        Each item is cut (or zero-padded) to one slice, `x_res * hop_length - 1` samples, as the reference does.
        """
        audio = torch.as_tensor(np.asarray(audio) if not isinstance(audio, torch.Tensor) else audio).float()
        if audio.ndim == 1:
            audio = audio.unsqueeze(0)
        if audio.ndim != 2:
            raise ValueError(f"expected audio of shape (time,) or (batch, time), got {tuple(audio.shape)}")
        size = self.mel_config.slice_size
        audio = torch.nn.functional.pad(audio[:, :size], (0, max(0, size - audio.shape[-1])))
        return self.codec().encode(audio, bits=self.bits)

    def quantize(self, images: torch.Tensor) -> torch.Tensor:
        """Images `(batch, 1, height, width)` in [-1, 1] -> integer pixels `(batch, height, width)` at the pipeline's
        bit depth (`codec.model_to_pixels`)."""
        return model_to_pixels(images[:, 0], self.bits)

    def images_to_latents(self, images: torch.Tensor) -> torch.Tensor:
        """Images `(batch, 1, y_res, x_res)` -> UNet samples (VAE mean times its scaling factor for latent models)."""
        images = images.to(self._execution_device, self.unet.dtype)
        if self.vqvae is None:
            return images
        latents = self.vqvae.encode(images.to(self.vqvae.dtype)).latent_dist.mode()
        return (latents * self.vqvae.config.scaling_factor).to(self.unet.dtype)

    def latents_to_images(self, latents: torch.Tensor) -> torch.Tensor:
        """UNet samples -> images `(batch, 1, y_res, x_res)` in [-1, 1]."""
        if self.vqvae is not None:
            latents = latents.to(self.vqvae.dtype) / self.vqvae.config.scaling_factor
            latents = self.vqvae.decode(latents).sample
        return latents.float().clamp(-1, 1)

    def images_to_audio(
        self, images: torch.Tensor, generator: torch.Generator | None = None, loop: bool = False
    ) -> torch.Tensor:
        """Images `(batch, 1, y_res, frames)` -> audio `(batch, (frames - 1) * hop_length)` via the codec's vocoder.

        With `loop`, the result is `(batch, frames * hop_length)` and loops seamlessly: the image is vocoded with its
        first columns appended and that continuation is cross-faded into the start.
        """
        codec = self.codec()
        if not loop:
            return codec.decode(images, generator=generator)
        frames, hop = images.shape[-1], self.mel_config.hop_length
        extra = max(2, frames // 8)
        audio = codec.decode(torch.cat([images, images[..., :extra]], dim=-1), generator=generator)
        return editing.loop_crossfade(audio, frames * hop, (extra - 1) * hop)

    def genre_labels(self, genre: str | int | Sequence[str | int] | None, batch_size: int) -> torch.Tensor | None:
        """Class labels `(batch,)` for `genre` (a name, an index, or one per item; None = unconditional)."""
        return class_labels(genre, batch_size, self.genres, self.null_label, self._execution_device)

    def _clip_columns(self, seconds: float | None, overlap_seconds: float | None) -> tuple[int, int, int]:
        """`(frames, overlap, stride)`: the output's spectrogram columns (one slice without `seconds`), the columns
        that neighbouring windows of a long clip share (default half of the widest trained width), and the latent
        columns between window starts. ValueError (one line) for an overlap that leaves no window or no stride."""
        width = self.mel_config.x_res
        window = width * self.native_widths[-1]
        frames = max(1, self._frames(seconds)) if seconds is not None else width
        overlap = self._frames(overlap_seconds) if overlap_seconds is not None else window // 2
        if frames > window and not 0 < overlap < window:
            raise ValueError(f"overlap_seconds must cover between 1 and {window - 1} frames, got {overlap}")
        return frames, overlap, max(1, (window - overlap) * self.latent_shape[2] // width)

    def _frames(self, seconds: float) -> int:
        """Spectrogram columns in `seconds` of audio."""
        return editing.seconds_to_frames(seconds, self.mel_config.sample_rate, self.mel_config.hop_length)

    # --- output -------------------------------------------------------------------------------------------------------
    def _to_output(self, images: torch.Tensor, generator, loop: bool, output_type: str) -> AudioDiffusionOutput:
        """Images `(batch, 1, y_res, frames)` in [-1, 1] -> the call's output: quantised to the pipeline's bit depth,
        what the saved image holds is vocoded (a loop cross-faded into its start, Griffin-Lim's initial phase drawn
        from `generator`), images as `output_type` asks (PIL, integer pixels `(batch, y_res, frames)`, float
        `(batch, 1, y_res, frames)`), audio `(batch, time)` as float numpy or, for "pt", a CPU tensor."""
        pixels = self.quantize(images)
        float_images = pixels_to_model(pixels, self.bits).unsqueeze(1)
        audios = (
            self.images_to_audio(float_images, _vocoder_generator(generator, self.codec().device), loop).float().cpu()
        )
        if output_type == "pil":
            images_out = [pixels_to_pil(item, self.bits) for item in pixels.cpu()]
        elif output_type == "np":
            images_out = pixels.cpu().numpy().astype(np.uint8 if self.bits == 8 else np.uint16)
        else:
            images_out = float_images.cpu()
        audios = audios if output_type == "pt" else audios.numpy()
        return AudioDiffusionOutput(images=images_out, audios=audios, sample_rate=self.mel_config.sample_rate)


def check_generators(generator, batch_size: int) -> None:
    """ValueError unless `generator` is one generator (or None) or a list of one per batch item."""
    if isinstance(generator, list) and len(generator) != batch_size:
        raise ValueError(f"got {len(generator)} generators for a batch of {batch_size}: pass one, or one per item")


def _vocoder_generator(generator, device: torch.device) -> torch.Generator | None:
    """A generator on the vocoder's device for Griffin-Lim's initial phase, drawn from the caller's (first) one."""
    source = generator[0] if isinstance(generator, list) else generator
    if source is None:
        return None
    seed = int(torch.randint(0, 2**62, (1,), generator=source, device=source.device).item())
    return torch.Generator(device).manual_seed(seed)


def expand_batch(given: torch.Tensor | None, batch_size: int) -> torch.Tensor | None:
    """One input `(1, ...)` expanded (a view) to serve a batch `(batch_size, ...)`; a full batch or None as given."""
    return given if given is None or len(given) == batch_size else given.expand(batch_size, *given.shape[1:])
