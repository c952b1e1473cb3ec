"""`AudioDiffusionPipeline`: sampling spectrogram-diffusion models into audio, compatible with the reference format.

One `__call__` covers generation, variation (img2img / SDEdit), inpainting, loops and long clips (denoised as a
whole in overlapping, shifting slice-wide windows: MultiDiffusion); `invert` is deterministic DDIM inversion (Song
et al. 2020) for reconstruction, editing and interpolation between real clips. Any diffusers scheduler samples
(`set_scheduler("dpm")`, `"ddim"`, ...); the default fast sampler is DPM-Solver++(2M) (Lu et al. 2022) with 20
steps (`audiodiff.schedulers`), against the reference's DDPM with 1000.

A pipeline folder is the reference (audio-diffusion / diffusers) layout, loadable by `diffusers.DiffusionPipeline`:

    model_index.json   {"_class_name": "AudioDiffusionPipeline", "mel": ["diffusers", "Mel"],
                        "scheduler": ["diffusers", "<Scheduler>"], "unet": ["diffusers", "UNet2DModel"]}
                       (+ "vqvae": ["diffusers", "AutoencoderKL"] for latent models)
    unet/ scheduler/ mel/mel_config.json [vqvae/]
    audiodiff.json     audiodiff's additions: genre names, PNG bit depth, a free-form "training" record, and for
                       a distilled student its "distillation" record (method, steps, guidance, teacher)
    vocoder/           optional: the trained vocoder that decodes its images (`audiodiff train-vocoder`), named in
                       audiodiff.json so that diffusers, which does not know it, loads the folder as before

Genre conditioning: `UNet2DModel(num_class_embeds=len(genres) + 1)`; class `len(genres)` is the null label, used for
unconditional sampling and classifier-free guidance (Ho and Salimans 2022).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline, UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from audiodiff import editing
from audiodiff.codec import SpectrogramCodec, levels_for, model_to_pixels, pixels_to_model, pixels_to_pil
from audiodiff.config import MEL_CONFIG_NAME, PIPELINE_MEL_FOLDER, MelConfig
from audiodiff.models import aligned, backbone_class, check_backbone_folder
from audiodiff.schedulers import (  # noqa: F401 - re-exported: the registry lived here before schedulers.py
    AUTO_SCHEDULER,
    DEFAULT_SCHEDULER,
    FAST_STEPS,
    SCHEDULERS,
    STEPS_ATTRIBUTE,
    default_steps_for,
    make_scheduler,
    scheduler_class,
)
from audiodiff.utils import first_line, is_hub_id

PIPELINE_METADATA_NAME = "audiodiff.json"
VOCODER_FOLDER = "vocoder"
METADATA_NAME = PIPELINE_METADATA_NAME  # the former name


class Mel(ConfigMixin, SchedulerMixin):
    """The pipeline's `mel` component: the seven settings of the reference `Mel`, saved as `mel/mel_config.json`.

    Only settings: the conversion itself is `SpectrogramCodec`. It derives from `SchedulerMixin` (as the reference
    `Mel` does) only so that diffusers' save machinery knows how to write it.
    """

    config_name = MEL_CONFIG_NAME

    @register_to_config
    def __init__(
        self,
        x_res: int = 256,
        y_res: int = 256,
        sample_rate: int = 22050,
        n_fft: int = 2048,
        hop_length: int = 512,
        top_db: int = 80,
        n_iter: int = 32,
    ):
        self.settings = MelConfig(x_res, y_res, sample_rate, n_fft, hop_length, top_db, n_iter)

    @classmethod
    def from_mel_config(cls, config: MelConfig) -> Mel:
        return cls(**config.to_dict())

    def get_sample_rate(self) -> int:
        """The reference `Mel`'s accessor."""
        return self.settings.sample_rate


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


class AudioDiffusionPipeline(DiffusionPipeline):
    """Spectrogram diffusion: a UNet (pixel space, or latent space with `vqvae`), a scheduler and mel settings.

    Build from components (what training does):
        `AudioDiffusionPipeline(unet=unet, scheduler=scheduler, mel_config=MelConfig(...), genres=[...], bits=8)`;
    or load a folder or hub id, ours or the reference's:
        `AudioDiffusionPipeline.from_pretrained("teticio/audio-diffusion-256", scheduler="dpm")`.

    unet: the denoiser, `UNet2DModel` or audiodiff's `SpectrogramDiT` (a transformer; the slot keeps the
    reference's name), over `(batch, channels, height, width)` = `(batch, 1, y_res, x_res)` in pixel space.
    scheduler: any diffusers scheduler. mel: `Mel` settings (or pass `mel_config`). vqvae: optional `AutoencoderKL`
    for latent models (reference `latent-audio-diffusion`). genres: class names of a genre-conditioned UNet (class
    `len(genres)` is the null label). bits: 8 or 16, the depth of the spectrogram images the model was trained on.
    training: free-form record saved in `audiodiff.json`. quality: the artefact-check fences fitted on the training
    data (`check_clips`), saved there too. vocoder: the decoder of its images (`set_vocoder`): a `TrainedVocoder`
    (saved in `vocoder/`), any decoder callable, or None for fast Griffin-Lim. distillation: the record of a few-step
    student made by `audiodiff.distillation` (method, default steps, baked-in guidance, teacher); a student samples
    only with its own scheduler and at its own guidance, with one UNet call per step.

    `unet_evaluations` counts UNet evaluations, one per image (a guided step counts 2), summed over the batch and
    accumulated over calls (reset it to 0 to count one call).
    """

    _optional_components = ["mel", "vqvae"]

    def __init__(
        self,
        unet: UNet2DModel | ModelMixin,
        scheduler: SchedulerMixin,
        mel: Mel | None = None,
        vqvae: AutoencoderKL | None = None,
        *,
        mel_config: MelConfig | None = None,
        genres: Sequence[str] | None = None,
        bits: int = 8,
        training: dict[str, Any] | None = None,
        quality: dict[str, Any] | None = None,
        vocoder=None,
        distillation: dict[str, Any] | None = None,
    ):
        super().__init__()
        if mel is None:
            mel = Mel.from_mel_config(mel_config or MelConfig())
        elif mel_config is not None and mel.settings != mel_config:
            raise ValueError("pass either mel or mel_config, not two different mel settings")
        self.register_modules(unet=unet, scheduler=scheduler, mel=mel, vqvae=vqvae)
        # The reference name, so that diffusers resolves the folder's `mel` to its own (deprecated) `Mel`.
        self.register_to_config(mel=("diffusers", "Mel"))
        levels_for(bits)
        self.bits = int(bits)
        self.genres = list(genres) if genres else None
        self.training = dict(training or {})
        self.quality = dict(quality) if quality else None
        self.distillation = dict(distillation) if distillation else None
        if self.distillation is not None:
            setattr(scheduler, STEPS_ATTRIBUTE, int(self.distillation["steps"]))
        self.unet_evaluations = 0
        self._codecs: dict[str, SpectrogramCodec] = {}
        self._check_components()
        self.vocoder = None
        self.set_vocoder(vocoder)

    @classmethod
    def from_components(cls, **components: Any) -> AudioDiffusionPipeline:
        """The constructor under its former name: it takes the same keyword arguments."""
        return cls(**components)

    # --- description ----------------------------------------------------------------------------------------------
    @property
    def mel_config(self) -> MelConfig:
        return self.mel.settings

    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """`(channels, height, width)` of the UNet's samples."""
        size = self.unet.config.sample_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return self.unet.config.in_channels, int(height), int(width)

    @property
    def native_widths(self) -> tuple[int, ...]:
        """The widths, in slices, the model was trained on (`TrainConfig.widths`, recorded in `training`), sorted;
        `(1,)` for a model trained on single slices (every reference checkpoint)."""
        config = self.training.get("config")
        widths = config.get("widths") if isinstance(config, dict) else None
        if isinstance(widths, list) and widths and all(isinstance(k, int) and 1 <= k for k in widths):
            return tuple(sorted(set(widths)))
        return (1,)

    @property
    def window_width(self) -> int:
        """Latent columns of one model call on a long clip: the widest trained width."""
        return self.latent_shape[2] * self.native_widths[-1]

    def _canvas_width(self, columns: int) -> int:
        """Latent columns to sample for a clip of `columns`: up to the widest trained width, the smallest trained
        width that holds it (cropped afterwards), so that the model runs at a width it learned; beyond, `columns`
        (windows)."""
        width = self.latent_shape[2]
        if columns <= width or columns > self.window_width:
            return columns
        return width * next(k for k in self.native_widths if k * width >= columns)

    @property
    def null_label(self) -> int | None:
        """Class index of "no genre" for a genre-conditioned UNet, else None."""
        count = self.unet.config.num_class_embeds
        return None if count is None else count - 1

    @property
    def default_steps(self) -> int:
        """The reference defaults: 1000 steps for DDPM, 50 for DDIM; 20 for the fast solvers (DPM-Solver++, ...)."""
        return default_steps_for(self.scheduler)

    def _check_components(self) -> None:
        config = self.mel_config
        channels, height, width = self.latent_shape
        if self.vqvae is None:
            if channels != 1 or (height, width) != (config.y_res, config.x_res):
                raise ValueError(
                    f"unet samples ({channels}, {height}, {width}) do not match the mel images (1, {config.y_res}, "
                    f"{config.x_res})"
                )
        else:
            factor = 2 ** (len(self.vqvae.config.block_out_channels) - 1)
            if (height * factor, width * factor) != (config.y_res, config.x_res):
                raise ValueError(
                    f"unet latents {height}x{width} times the vqvae's factor {factor} do not match the mel images "
                    f"{config.y_res}x{config.x_res}"
                )
        if self.genres is not None and self.null_label != len(self.genres):
            raise ValueError(
                f"{len(self.genres)} genres need a UNet with num_class_embeds={len(self.genres) + 1} "
                f"(the last is the null label), got {self.unet.config.num_class_embeds}"
            )

    # --- schedulers -----------------------------------------------------------------------------------------------
    def set_scheduler(self, scheduler: str | SchedulerMixin) -> AudioDiffusionPipeline:
        """Swap the sampler: a short name (`SCHEDULERS`), a diffusers class name, or an instance. Returns self.

        "saved" keeps the current scheduler; "auto" is the default sampler (`DEFAULT_SCHEDULER`) for a diffusion
        model and the student's own for a distilled one. A student takes no other name (ValueError): it was trained
        for its own few-step sampler, and any other would sample it as the diffusion model it no longer is.
        """
        if isinstance(scheduler, str):
            name = scheduler.lower()
            if name == "saved" or (name == AUTO_SCHEDULER and self.distillation is not None):
                return self
            if self.distillation is not None:
                record = self.distillation
                raise ValueError(
                    f"this pipeline is a {record.get('method')}-distilled student: it samples with its own "
                    f"{type(self.scheduler).__name__} ({AUTO_SCHEDULER}), not {scheduler!r}; sample its teacher "
                    f"{record.get('teacher')} for other samplers"
                )
            scheduler = make_scheduler(
                DEFAULT_SCHEDULER if name == AUTO_SCHEDULER else scheduler, self.scheduler.config
            )
        self.scheduler = scheduler
        return self

    # --- the decoder ----------------------------------------------------------------------------------------------
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

    # --- save and load --------------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, safe_serialization: bool = True, **kwargs) -> None:
        """Write the reference folder layout (safetensors unless `safe_serialization=False`) and audiodiff.json."""
        super().save_pretrained(save_directory, safe_serialization=safe_serialization, **kwargs)
        folder = Path(save_directory)
        index_path = folder / "model_index.json"
        index = json.loads(index_path.read_text())
        index["mel"] = ["diffusers", "Mel"]
        if not (index.get("vqvae") or [None])[0]:
            index.pop("vqvae", None)
        index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        self.mel_config.save(folder / PIPELINE_MEL_FOLDER)
        metadata = {"genres": self.genres, "bits": self.bits, "training": self.training}
        if self.quality:
            metadata["quality"] = self.quality
        if self.distillation:
            metadata["distillation"] = self.distillation
        if hasattr(self.vocoder, "save_pretrained"):
            self.vocoder.save_pretrained(folder / VOCODER_FOLDER)
            metadata["vocoder"] = VOCODER_FOLDER
        (folder / PIPELINE_METADATA_NAME).write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n")

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        scheduler: str | SchedulerMixin | None = None,
        torch_dtype: torch.dtype | None = None,
        vocoder=None,
        **download_kwargs,
    ) -> AudioDiffusionPipeline:
        """Load a pipeline folder or hub id: audiodiff's (safetensors) or the reference's (`.bin`, read with
        `torch.load(weights_only=True)` by diffusers). `scheduler` swaps the sampler (name or instance, see
        `set_scheduler`); the folder's scheduler is kept by default. `vocoder` (a vocoder folder or decoder, see
        `set_vocoder`) replaces the folder's own `vocoder/`, which is used when there is one; `False` decodes with
        Griffin-Lim. `download_kwargs` go to `huggingface_hub.snapshot_download` for hub ids.
        """
        folder = _resolve_folder(pretrained_model_name_or_path, **download_kwargs)
        index_path = folder / "model_index.json"
        if not index_path.is_file():
            raise ValueError(f"{folder}: no model_index.json, not a pipeline folder")
        index = _read_json_object(index_path)
        try:
            backbone = backbone_class((index.get("unet") or [None, None])[1])
        except ValueError as error:
            raise ValueError(f"{folder}: {error}") from None
        check_backbone_folder(folder / "unet", backbone)  # a hostile unet/config.json is refused before it is built
        unet = aligned(backbone.from_pretrained(folder, subfolder="unet", torch_dtype=torch_dtype))
        scheduler_name = (index.get("scheduler") or [None, "DDPMScheduler"])[1]
        saved_class = scheduler_class(scheduler_name)
        if saved_class is None:
            raise ValueError(f"{folder}: unknown scheduler class {scheduler_name!r}")
        saved_scheduler = saved_class.from_pretrained(folder, subfolder="scheduler")
        vqvae = None
        if (index.get("vqvae") or [None])[0]:
            vqvae = aligned(AutoencoderKL.from_pretrained(folder, subfolder="vqvae", torch_dtype=torch_dtype))
        mel_config = MelConfig.load(folder / PIPELINE_MEL_FOLDER / MEL_CONFIG_NAME)
        metadata = read_metadata(folder)
        pipeline = cls(
            unet=unet,
            scheduler=saved_scheduler,
            vqvae=vqvae,
            mel_config=mel_config,
            genres=metadata.get("genres"),
            bits=metadata.get("bits", 8),
            training=metadata.get("training"),
            quality=metadata.get("quality"),
            distillation=metadata.get("distillation"),
        )
        if scheduler is not None:
            pipeline.set_scheduler(scheduler)
        if vocoder is None and metadata.get("vocoder"):
            vocoder = folder / str(metadata["vocoder"])
        pipeline.set_vocoder(vocoder or None)
        pipeline.register_to_config(_name_or_path=str(pretrained_model_name_or_path))
        return pipeline

    # --- quality ------------------------------------------------------------------------------------------------
    def check_clips(self, images: torch.Tensor) -> list[list[str]] | None:
        """The artefact check (`audiodiff.evaluation.artifacts`) of images `(batch, 1, y_res, frames)` in [-1, 1]
        against the fences stored with the pipeline (fitted on its training data): per clip, the statistics it fails
        (speckle, noise-like flat spectrum, silence, saturation, flat image); an empty list passes. None when the
        pipeline stores no fences (reference checkpoints; audiodiff's training writes them)."""
        if not self.quality or "fences" not in self.quality:
            return None
        from audiodiff.evaluation.artifacts import Fences, clip_reasons

        fences = Fences.from_dict(self.quality["fences"])
        return clip_reasons(images.float().cpu(), fences, self.mel_config.x_res, float(self.mel_config.top_db))

    # --- conversions ----------------------------------------------------------------------------------------------
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
        if self.null_label is None:
            if genre is not None:
                raise ValueError("this model is not genre-conditioned (its UNet has no class embedding)")
            return None
        items = list(genre) if isinstance(genre, (list, tuple)) else [genre] * batch_size
        if len(items) != batch_size:
            raise ValueError(f"got {len(items)} genres for a batch of {batch_size}")
        labels = []
        for item in items:
            if item is None:
                labels.append(self.null_label)
            elif isinstance(item, str):
                if not self.genres or item not in self.genres:
                    known = ", ".join(self.genres or []) or "none named; use an index"
                    raise ValueError(f"unknown genre {item!r} (known: {known})")
                labels.append(self.genres.index(item))
            elif 0 <= int(item) <= self.null_label:
                labels.append(int(item))
            else:
                raise ValueError(f"genre index {item} out of range 0..{self.null_label}")
        return torch.tensor(labels, device=self._execution_device)

    # --- sampling -------------------------------------------------------------------------------------------------
    def prepare_latents(
        self,
        batch_size: int,
        generator: torch.Generator | list[torch.Generator] | None = None,
        width: int | None = None,
    ) -> torch.Tensor:
        """Standard Gaussian noise `(batch, channels, height, width)` in the UNet's sample space (`width` defaults
        to the model's)."""
        _check_generators(generator, batch_size)
        channels, height, model_width = self.latent_shape
        return randn_tensor(
            (batch_size, channels, height, width or model_width),
            generator=generator,
            device=self._execution_device,
            dtype=self.unet.dtype,
        )

    def _window_output(
        self, sample: torch.Tensor, timestep: torch.Tensor, labels: torch.Tensor | None, guidance_scale: float
    ) -> torch.Tensor:
        """UNet prediction for `(batch, channels, h, w)` samples, with classifier-free guidance when scale != 1."""
        if labels is None:
            self.unet_evaluations += len(sample)
            return self.unet(sample, timestep).sample
        if guidance_scale == 1.0 or bool((labels == self.null_label).all()):
            self.unet_evaluations += len(sample)
            return self.unet(sample, timestep, class_labels=labels).sample
        self.unet_evaluations += 2 * len(sample)
        null = torch.full_like(labels, self.null_label)
        output = self.unet(torch.cat([sample, sample]), timestep, class_labels=torch.cat([null, labels])).sample
        unconditional, conditional = output.chunk(2)
        return editing.classifier_free_guidance(unconditional, conditional, guidance_scale)

    def _model_output(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        labels: torch.Tensor | None,
        guidance_scale: float,
        stride: int | None = None,
        step: int = 0,
    ) -> torch.Tensor:
        """The prediction for `(batch, channels, h, frames)` samples of any width.

        Up to the widest trained width (`window_width`) this is one model call. Wider samples are denoised jointly
        (MultiDiffusion, Bar-Tal et al. 2023): overlapping windows of that width `stride` columns apart (default half
        a window), predicted in one batch and overlap-added with tapered weights; the window grid moves with `step`
        (`editing.window_starts`) so that no column stays at a window edge.
        """
        width = self.window_width
        frames = sample.shape[-1]
        if frames <= width:
            return self._window_output(sample, timestep, labels, guidance_scale)
        starts = editing.window_starts(frames, width, stride or width // 2, step)
        windows = editing.split_windows(sample, starts, width)
        window_labels = None if labels is None else labels.repeat(len(starts))
        output = self._window_output(windows, timestep, window_labels, guidance_scale)
        return editing.merge_windows(output, starts, frames, editing.window_weights(width))

    def _sample_space_scale(self, timestep: torch.Tensor) -> torch.Tensor:
        """Factor taking `x_t = sqrt(a) x0 + sqrt(1 - a) e` into the scheduler's sample space at `timestep`.

        1 for DDPM/DDIM/DPM-Solver; `sqrt(1 + sigma^2)` for sigma-space schedulers (Euler, Heun), whose samples are
        `x0 + sigma e`: read off the scheduler's own `add_noise`.
        """
        one = torch.ones(1, device=self._execution_device)
        signal = self.scheduler.add_noise(one, torch.zeros_like(one), timestep.reshape(1))
        noise = self.scheduler.add_noise(torch.zeros_like(one), one, timestep.reshape(1))
        return (signal.square() + noise.square()).sqrt()

    def _clip_range(self, timestep: torch.Tensor) -> float | None:
        """The range to clip x0 to before each solver step, done the DDIM way (`editing.clip_consistently`), or None.

        It applies to DDPM-space solvers that were given static clipping as `thresholding` (`make_scheduler` does
        this when the training schedule clips, as the reference's does): DPM-Solver++, UniPC, DEIS. Their own
        thresholding keeps the sample and so carries the clipped-away part of x0 forward, which makes briefly
        trained models emit speckle-noise clips. DDPM and DDIM clip correctly themselves.
        """
        config = self.scheduler.config
        if not config.get("thresholding") or not hasattr(self.scheduler, "alphas_cumprod"):
            return None
        if abs(float(self._sample_space_scale(timestep)) - 1.0) > 1e-4:
            return None
        return float(config.get("sample_max_value", 1.0))

    def _sample(
        self,
        batch_size: int,
        num_inference_steps: int,
        generator,
        latents: torch.Tensor | None,
        init_images: torch.Tensor | None,
        strength: float,
        keep: torch.Tensor | None,
        labels: torch.Tensor | None,
        guidance_scale: float,
        eta: float,
        frames: int | None = None,
        stride: int | None = None,
    ) -> torch.Tensor:
        """One sampling run -> images `(batch, 1, y_res, frames)` in [-1, 1] (`frames` defaults to `x_res`).

        Starts from `latents` (DDPM-space samples at the first step; narrower than the canvas, the rest is fresh
        noise), else the noised `init_images` `(batch, 1, y_res, frames)` (strength < 1), else noise. Where the
        keep-mask `keep` (`(frames,)` or broadcastable) is 1, every step replaces the sample by `init_images` noised
        to the next timestep (RePaint-style inpainting), and the result by `init_images`. Canvases wider than the
        model are denoised jointly in overlapping windows `stride` columns apart (`_model_output`).
        """
        device = self._execution_device
        config = self.mel_config
        frames = frames or config.x_res
        model_width = self.latent_shape[2]
        canvas = self._canvas_width(-(-frames * model_width // config.x_res))  # covers `frames` image columns
        columns = canvas * config.x_res // model_width  # image columns sampled: a trained width, cropped at the end
        padding = columns - frames
        if padding > 0:
            if init_images is not None:
                init_images = torch.nn.functional.pad(init_images, (0, padding), value=-1.0)
            if keep is not None and keep.shape[-1] == frames:  # the padding is generated, not kept
                keep = torch.nn.functional.pad(keep, (0, padding), value=0.0)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        begin = editing.start_step(num_inference_steps, strength) * self.scheduler.order
        timesteps = self.scheduler.timesteps[begin:]
        if hasattr(self.scheduler, "set_begin_index"):
            self.scheduler.set_begin_index(begin)
        noise = self.prepare_latents(batch_size, generator, canvas)
        known = None if init_images is None else self.images_to_latents(init_images)
        latent_keep = None if keep is None else editing.resize_mask(keep.to(device), canvas)
        if len(timesteps) == 0:
            if init_images is not None:
                return init_images.float()[..., :frames]
            start = noise if latents is None else torch.cat([latents.to(noise), noise[..., latents.shape[-1] :]], -1)
            return self.latents_to_images(start)[..., :frames]
        if latents is not None:
            latents = latents.to(device, self.unet.dtype) * self._sample_space_scale(timesteps[0])
            sample = torch.cat([latents, noise[..., latents.shape[-1] :] * self.scheduler.init_noise_sigma], -1)
        elif known is not None and begin > 0:
            sample = self.scheduler.add_noise(known, noise, timesteps[:1].repeat(batch_size))
        else:
            sample = noise * self.scheduler.init_noise_sigma
        step_arguments = inspect.signature(self.scheduler.step).parameters
        extra = {"eta": eta} if "eta" in step_arguments else {}
        if "generator" in step_arguments:
            extra["generator"] = generator
        clip_range = self._clip_range(timesteps[0])
        prediction_type = self.scheduler.config.get("prediction_type", "epsilon")
        for index, timestep in enumerate(self.progress_bar(timesteps)):
            model_input = self.scheduler.scale_model_input(sample, timestep)
            output = self._model_output(model_input, timestep, labels, guidance_scale, stride, index)
            if clip_range is not None:
                alpha_prod = self.scheduler.alphas_cumprod[int(timestep)]
                output, sample = editing.clip_consistently(output, sample, alpha_prod, prediction_type, clip_range)
            sample = self.scheduler.step(output, timestep, sample, **extra).prev_sample
            if latent_keep is not None:
                if index + 1 < len(timesteps):
                    next_timestep = timesteps[index + 1 : index + 2].repeat(batch_size)
                    target = self.scheduler.add_noise(known, noise, next_timestep)
                else:
                    target = known
                sample = editing.blend(target, sample, latent_keep)
        images = self.latents_to_images(sample)[..., :columns]
        if keep is not None:
            images = editing.blend(init_images.float(), images, keep.to(device))
        return images[..., :frames]

    def _extend(self, images: torch.Tensor, frames: int, overlap: int, **sampling) -> torch.Tensor:
        """Extend `(batch, 1, y_res, x_res)` images to `frames` columns, the new part denoised jointly.

        The input is kept (its last `overlap // 2` columns ramping into the new material) on a canvas of `frames`
        columns whose remainder is generated in overlapping windows that share `overlap` columns, each step seeing
        the input as context (RePaint-style). Returns `(batch, 1, y_res, frames)`.
        """
        width = self.mel_config.x_res
        canvas = torch.full((*images.shape[:-1], frames), -1.0, device=images.device, dtype=images.dtype)
        canvas[..., :width] = images
        # The ramp stays inside the input slice whatever the window width (a wide model's windows overlap more).
        keep = editing.time_mask(frames, width, frames, fade=max(1, min(overlap, width // 2) // 2))
        return self._sample(init_images=canvas, strength=1.0, keep=keep, latents=None, frames=frames, **sampling)

    @torch.no_grad()
    def invert(
        self,
        audio: torch.Tensor | np.ndarray | None = None,
        images: torch.Tensor | None = None,
        num_inference_steps: int = 50,
        strength: float = 1.0,
        genre: str | int | Sequence[str | int] | None = None,
        refinements: int = 0,
    ) -> torch.Tensor:
        """Deterministic DDIM inversion (Song et al. 2020) of clips to the samples DDIM regenerates them from.

        audio: `(time,)` / `(batch, time)` (one slice each) or images `(batch, 1, y_res, x_res)` in [-1, 1].
        Inverts up to the step where a run of `num_inference_steps` with `strength` starts, conditioned on `genre`;
        `refinements` fixed-point iterations per step make the inversion more exact (one UNet evaluation each).
        DDIM's `clip_sample` makes sampling non-invertible where predictions leave [-1, 1]: regenerate with
        `clip_sample=False` (as `set_scheduler("ddim-exact")` does) for the closest reconstructions. The schedule is
        the pipeline's (prediction type, betas, zero terminal SNR and trailing timesteps from its scheduler config).
        Returns DDPM-space latents `(batch, channels, height, width)`; `pipe(latents=..., num_inference_steps=...,
        strength=...)` with a DDIM scheduler (eta 0) reconstructs the clips, and another genre or model edits them.
        """
        if self.distillation is not None:
            raise ValueError(
                "DDIM inversion follows a diffusion model's probability-flow ODE, which a distilled student no longer "
                f"has: invert with its teacher {self.distillation.get('teacher')}"
            )
        init_images = self._input_images(audio, images)
        sample = self.images_to_latents(init_images)
        scheduler = self.scheduler
        if not isinstance(scheduler, DDIMScheduler):
            scheduler = DDIMScheduler.from_config(scheduler.config)
        scheduler.set_timesteps(num_inference_steps)
        timesteps = scheduler.timesteps[editing.start_step(num_inference_steps, strength) :]
        labels = self.genre_labels(genre, len(sample))
        prediction_type = scheduler.config.prediction_type

        def predict_epsilon(current: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
            output = self._model_output(current, timestep, labels, 1.0)
            alpha_prod = scheduler.alphas_cumprod[int(timestep)]
            return editing.epsilon_from_output(output, current, alpha_prod, prediction_type)

        def predict_original(current: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
            output = self._model_output(current, timestep, labels, 1.0)
            alpha_prod = scheduler.alphas_cumprod[int(timestep)]
            return editing.original_from_output(output, current, alpha_prod, prediction_type)

        return editing.ddim_invert(
            predict_epsilon,
            sample,
            timesteps,
            scheduler.alphas_cumprod,
            scheduler.final_alpha_cumprod,
            progress=self.progress_bar,
            refinements=refinements,
            predict_original=None if prediction_type == "epsilon" else predict_original,
        )

    def _input_images(self, audio, images) -> torch.Tensor | None:
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
        _check_generators(generator, batch_size)
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

    def _keep_mask(
        self, mask: torch.Tensor | None, inpaint_seconds: tuple[float, float] | None, loop_seconds: float | None
    ) -> tuple[torch.Tensor | None, int]:
        """The keep-mask over time `(x_res,)` (1 keeps the input, 0 regenerates; None: no mask) and the shift.

        A loop regenerates `loop_seconds` around the point where the slice's end wraps to its start: the input is
        sampled rolled by `shift = x_res // 2` columns, which puts that point in the middle. `mask` may also be
        anything broadcastable to the images.
        """
        width = self.mel_config.x_res
        if mask is not None:
            return torch.as_tensor(mask, dtype=torch.float32), 0
        if inpaint_seconds is not None:
            start, end = (min(max(self._frames(value), 0), width) for value in inpaint_seconds)
            if end <= start:
                raise ValueError(f"inpaint_seconds {tuple(inpaint_seconds)} select no columns of the slice")
            return editing.time_mask(width, start, end, fade=max(1, width // 64)), 0
        if loop_seconds is not None:
            region = min(max(2, self._frames(loop_seconds)), width - 2)
            shift = width // 2
            keep = editing.time_mask(width, shift - region // 2, shift + region - region // 2, max(1, region // 4))
            return keep, shift
        return None, 0

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

    def _frames(self, seconds: float) -> int:
        """Spectrogram columns in `seconds` of audio."""
        return editing.seconds_to_frames(seconds, self.mel_config.sample_rate, self.mel_config.hop_length)

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        num_inference_steps: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        audio: torch.Tensor | np.ndarray | None = None,
        images: torch.Tensor | None = None,
        strength: float = 1.0,
        mask: torch.Tensor | None = None,
        inpaint_seconds: tuple[float, float] | None = None,
        loop_seconds: float | None = None,
        seconds: float | None = None,
        overlap_seconds: float | None = None,
        genre: str | int | Sequence[str | int] | None = None,
        guidance_scale: float = 1.0,
        eta: float = 0.0,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> AudioDiffusionOutput | tuple:
        """Generate, vary, inpaint, loop or continue spectrograms and vocode them.

        Args:
            batch_size: clips to make (taken from `audio`/`images`/`latents` when those hold several).
            num_inference_steps: sampler steps; default `default_steps` (the short name's: 20 for "ddpm-fast" and "dpm",
                50 for "ddim", 1000 for "ddpm"; a saved scheduler's: 1000 DDPM, 50 DDIM, 20 the fast solvers).
            generator: a `torch.Generator`, or one per batch item; seeds noise, stochastic steps and the vocoder.
            latents: start samples `(batch, channels, height, width)`: pure noise at strength 1, or `invert`'s output
                with the same steps and strength (edits, interpolations).
            audio / images: the input clip, `(time,)`/`(batch, time)` audio (first slice used) or images
                `(batch, 1, y_res, x_res)` in [-1, 1].
            strength: how much of the input is regenerated, in [0, 1] (img2img / SDEdit); the reference's
                `start_step` is `num_inference_steps - int(num_inference_steps * strength)`.
            mask: keep-mask over time, `(x_res,)` or broadcastable to the images: 1 keeps the input, 0 regenerates.
            inpaint_seconds: `(start, end)` seconds of the input slice to regenerate (a keep-mask with short ramps).
            loop_seconds: make the input loop: regenerate this many seconds around the point where its end wraps
                to its start; the audio is `x_res * hop_length` samples and loops without a click.
            seconds: output duration. A model trained on wider crops (`native_widths`, variable-width training)
                generates a clip up to its widest crop in one piece, on the smallest trained width that holds it.
                Beyond that the whole clip is denoised jointly: windows of the widest trained width that overlap by
                `overlap_seconds` (default half a window) are predicted together at every step and overlap-added,
                their grid moving from step to step (MultiDiffusion, Bar-Tal et al. 2023), so the clip has no
                joins. A clip made from an input (audio, images or latents) is extended that way after its first
                slice.
            genre: genre name/index (or one per item) for genre-conditioned models; None = unconditional.
            guidance_scale: classifier-free guidance `eps_u + w (eps_c - eps_u)`; 1 = conditional only.
            eta: DDIM's eta (0 = deterministic); ignored by schedulers without it.
            output_type: "pil", "np" (integer pixels) or "pt" (float images in [-1, 1]).
            return_dict: `AudioDiffusionOutput`, else the tuple `(images, audios, sample_rate)`.

        Example:
            >>> import torch
            >>> from diffusers import DDPMScheduler, UNet2DModel
            >>> from audiodiff.config import MelConfig
            >>> from audiodiff.pipeline import AudioDiffusionPipeline
            >>> mel = MelConfig(x_res=32, y_res=32, sample_rate=8000, n_fft=256, hop_length=64)
            >>> unet = UNet2DModel(sample_size=32, in_channels=1, out_channels=1, layers_per_block=1,
            ...     block_out_channels=(8, 16), norm_num_groups=4, down_block_types=("DownBlock2D", "DownBlock2D"),
            ...     up_block_types=("UpBlock2D", "UpBlock2D"))
            >>> pipe = AudioDiffusionPipeline(unet=unet, scheduler=DDPMScheduler(), mel_config=mel).set_scheduler("dpm")
            >>> pipe.set_progress_bar_config(disable=True)
            >>> out = pipe(batch_size=2, num_inference_steps=4, generator=torch.Generator().manual_seed(0))
            >>> out.audios.shape, out.sample_rate, out.images[0].size
            ((2, 1984), 8000, (32, 32))
            >>> longer = pipe(num_inference_steps=4, seconds=1.0, generator=torch.Generator().manual_seed(0))
            >>> longer.audios.shape  # 125 spectrogram columns, denoised jointly in overlapping windows
            (1, 7936)
        """
        # 1. Check inputs; clips given as audio or images count towards the batch.
        init_images = self._input_images(audio, images)
        batch_size = self.check_inputs(
            batch_size,
            init_images,
            latents,
            generator,
            strength,
            mask,
            inpaint_seconds,
            loop_seconds,
            seconds,
            output_type,
        )
        config = self.mel_config
        guidance_scale = self._student_guidance(guidance_scale)

        # 2. One input clip or start sample serves the whole batch; genres become class labels.
        if init_images is not None and len(init_images) != batch_size:
            init_images = init_images.expand(batch_size, -1, -1, -1)
        if latents is not None and len(latents) != batch_size:
            latents = latents.expand(batch_size, -1, -1, -1)
        labels = self.genre_labels(genre, batch_size)

        # 3. The keep-mask of inpainting; a loop is sampled rolled by `shift` so that its seam is in the middle.
        keep, shift = self._keep_mask(mask, inpaint_seconds, loop_seconds)
        if shift:
            init_images = torch.roll(init_images, shift, dims=-1)

        # 4. Sample. Plain generation of a long clip denoises the whole canvas jointly in overlapping windows; a clip
        #    that starts from an input (variation, inpainting, inversion latents) is sampled as one slice first.
        width = config.x_res
        window = width * self.native_widths[-1]
        frames = max(1, self._frames(seconds)) if seconds is not None else width
        overlap = self._frames(overlap_seconds) if overlap_seconds is not None else window // 2
        if frames > window and not 0 < overlap < window:
            raise ValueError(f"overlap_seconds must cover between 1 and {window - 1} frames, got {overlap}")
        stride = max(1, (window - overlap) * self.latent_shape[2] // width)
        sampling = dict(
            batch_size=batch_size,
            num_inference_steps=int(num_inference_steps or self.default_steps),
            generator=generator,
            labels=labels,
            guidance_scale=guidance_scale,
            eta=eta,
            stride=stride,
        )
        joint = frames > width and init_images is None and latents is None and keep is None
        result = self._sample(
            latents=latents,
            init_images=init_images,
            strength=strength,
            keep=keep,
            frames=frames if joint else width,
            **sampling,
        )
        if shift:
            result = torch.roll(result, -shift, dims=-1)

        # 5. A clip that started from an input and must be longer: extend it, the new part denoised jointly.
        if frames > result.shape[-1]:
            result = self._extend(result, frames, overlap, **sampling)
        result = result[..., :frames]

        # 6. Quantise to the pipeline's bit depth and vocode what the saved image holds.
        pixels = self.quantize(result)
        float_images = pixels_to_model(pixels, self.bits).unsqueeze(1)
        audios = self.images_to_audio(float_images, _vocoder_generator(generator, self.codec().device), bool(shift))

        # 7. Output in the requested type.
        if output_type == "pil":
            images_out = [pixels_to_pil(item, self.bits) for item in pixels.cpu()]
        elif output_type == "np":
            images_out = pixels.cpu().numpy().astype(np.uint8 if self.bits == 8 else np.uint16)
        else:
            images_out = float_images.cpu()
        audios = audios.float().cpu()
        if output_type != "pt":
            audios = audios.numpy()
        output = AudioDiffusionOutput(images=images_out, audios=audios, sample_rate=config.sample_rate)
        return output if return_dict else output.to_tuple()


def _check_generators(generator, batch_size: int) -> None:
    if isinstance(generator, list) and len(generator) != batch_size:
        raise ValueError(f"got {len(generator)} generators for a batch of {batch_size}: pass one, or one per item")


def _vocoder_generator(generator, device: torch.device) -> torch.Generator | None:
    """A generator on the vocoder's device for Griffin-Lim's initial phase, drawn from the caller's (first) one."""
    source = generator[0] if isinstance(generator, list) else generator
    if source is None:
        return None
    seed = int(torch.randint(0, 2**62, (1,), generator=source, device=source.device).item())
    return torch.Generator(device).manual_seed(seed)


def read_metadata(folder: str | os.PathLike) -> dict[str, Any]:
    """A pipeline folder's `audiodiff.json` (genres, bits, training record, quality fences, vocoder); {} for folders
    without one (the reference's). ValueError (one line) when it is malformed."""
    path = Path(folder) / PIPELINE_METADATA_NAME
    return _read_json_object(path) if path.is_file() else {}


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; ValueError (one line, naming the file) when it is malformed or not an object."""
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def _resolve_folder(name_or_path: str | os.PathLike, **download_kwargs) -> Path:
    """A local folder as is; a shipped pipeline's name (`audiodiff.pretrained`, e.g. `audiodiff-base-64`) as its
    folder inside the package; an `owner/name` hub id downloaded (or found in the cache) by huggingface_hub."""
    from audiodiff.pretrained import SHIPPED, shipped_folder

    path = Path(name_or_path)
    if path.is_dir():
        return path
    shipped = shipped_folder(name_or_path)
    if shipped is not None:
        return shipped
    text = str(name_or_path)
    if path.exists() or not is_hub_id(text):
        raise ValueError(
            f"{text}: no such pipeline folder (and not a hub id of the form owner/name, nor a shipped pipeline: "
            f"{', '.join(SHIPPED)})"
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(text, **download_kwargs))
    except Exception as error:  # noqa: BLE001 - hub errors come in many types; report one line
        raise ValueError(f"{text}: could not download the pipeline ({first_line(error)})") from None
