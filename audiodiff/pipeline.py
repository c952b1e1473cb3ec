"""`AudioDiffusionPipeline`: sampling spectrogram-diffusion models into audio, compatible with the reference format.

One `__call__` covers generation, variation (img2img / SDEdit), inpainting, loops and long clips (denoised as a
whole in overlapping, shifting slice-wide windows: MultiDiffusion); `invert` is deterministic DDIM inversion (Song
et al. 2020) for reconstruction, editing and interpolation between real clips. Any diffusers scheduler samples
(`set_scheduler("dpm")`, `"ddim"`, ...); the default fast sampler is DPM-Solver++(2M) (Lu et al. 2022) with 20
steps (`audiodiff.schedulers`), against the reference's DDPM with 1000.

The pipeline is thin, diffusers-style: its folder (reference layout, loadable by `diffusers.DiffusionPipeline`) is
`pipeline_folder`, its inputs and outputs `pipeline_io`; guidance (classifier-free, Ho and Salimans 2022) and windows
are composable denoisers (`denoisers`); the one denoising loop is `denoise`; masks are `editing`; what the loop asks
of a scheduler is `schedulers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DModel
from diffusers.models.modeling_utils import ModelMixin
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from audiodiff import autoguide, editing, pipeline_folder, schedulers, tempo_noise
from audiodiff.codec import SpectrogramCodec, levels_for
from audiodiff.config import MelConfig
from audiodiff.denoise import canvas_columns, ddim_inversion, denoise, pad_canvas, start_sample
from audiodiff.denoisers import Denoiser, autoguided, guided, windowed
from audiodiff.pipeline_folder import (  # noqa: F401 - re-exported: the folder's names lived here before
    METADATA_NAME,
    PIPELINE_METADATA_NAME,
    VOCODER_FOLDER,
    Mel,
    PipelineFolderMixin,
    read_metadata,
)
from audiodiff.pipeline_io import AudioDiffusionOutput, PipelineIOMixin, check_generators, expand_batch
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
from audiodiff.utils import first_line

# Samplers that draw fresh white noise of their own at every step, which `bpm` cannot lock.
OWN_STEP_NOISE = frozenset({"DDPMScheduler", "EulerAncestralDiscreteScheduler"})


class AudioDiffusionPipeline(PipelineFolderMixin, PipelineIOMixin, DiffusionPipeline):
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
    only with its own scheduler and at its own guidance, with one UNet call per step. sampler: the short name
    (`SCHEDULERS`) measured best for these weights, which "auto" samples with (None: `DEFAULT_SCHEDULER`); saved in
    `audiodiff.json`, and not passed on to a fine-tune (its weights are not the ones it was measured on).
    recommended_guide: `{"model": "base" or a name, "scale": w}`, the guide `set_guide("auto")` and the sampling
    commands use by default (a fine-tune with the `finetune` preset records its base at 1.25; None: none).

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
        sampler: str | None = None,
        sampler_steps: int | None = None,
        recommended_guide: dict[str, Any] | None = None,
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
        self.sampler = sampler
        self.sampler_steps = sampler_steps
        self.recommended_guide = recommended_guide
        if self.distillation is not None:
            setattr(scheduler, STEPS_ATTRIBUTE, int(self.distillation["steps"]))
        self.unet_evaluations = 0
        self._guide: AudioDiffusionPipeline | None = None
        self._guide_record: dict[str, Any] | None = None
        self._guide_loaded: tuple[str, AudioDiffusionPipeline] | None = None  # (name, model) of the last one loaded
        self._codecs: dict[str, SpectrogramCodec] = {}
        pipeline_folder.check_components(unet, vqvae, self.mel_config, self.genres)
        self.vocoder = None
        self.set_vocoder(vocoder)

    # --- description and sampler --------------------------------------------------------------------------------------
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
        return pipeline_folder.native_widths(self.training)

    @property
    def window_width(self) -> int:
        """Latent columns of one model call on a long clip: the widest trained width."""
        return self.latent_shape[2] * self.native_widths[-1]

    @property
    def null_label(self) -> int | None:
        """Class index of "no genre" for a genre-conditioned UNet, else None."""
        count = self.unet.config.num_class_embeds
        return None if count is None else count - 1

    @property
    def default_steps(self) -> int:
        """The reference defaults: 1000 steps for DDPM, 50 for DDIM; 20 for the fast solvers (DPM-Solver++, ...)."""
        return default_steps_for(self.scheduler)

    @property
    def sampler(self) -> str | None:
        """The short name (`SCHEDULERS`) measured best for these weights, or None; checked whenever it is set, so an
        unknown name is refused (ValueError) before a folder records it. Another name drops `sampler_steps`."""
        return self._sampler

    @sampler.setter
    def sampler(self, name: str | None) -> None:
        if name is not None and name.lower() not in SCHEDULERS:
            raise ValueError(f"recommended sampler {name!r} is not one of {', '.join(SCHEDULERS)}")
        name = name.lower() if name else None
        if name != getattr(self, "_sampler", None):
            self._sampler_steps = None  # steps measured for another sampler (or none) say nothing of this one
        self._sampler = name

    @property
    def sampler_steps(self) -> int | None:
        """The steps measured best for these weights with the recommended `sampler` (None: the sampler's own default,
        `SCHEDULERS`); checked whenever set: a whole number from 1 to the training timesteps, and only beside a
        recommended sampler."""
        return self._sampler_steps

    @sampler_steps.setter
    def sampler_steps(self, steps: int | None) -> None:
        if steps is not None:
            limit = int(self.scheduler.config.num_train_timesteps)
            if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= limit:
                raise ValueError(f"recommended sampler steps must be a whole number from 1 to {limit}, not {steps!r}")
            if self.sampler is None:
                raise ValueError("recommended sampler steps need a recommended sampler (set `sampler` first)")
        self._sampler_steps = steps

    def steps_for(self, name: str) -> int:
        """The default steps of the short-named sampler `name` on these weights: `sampler_steps` for the recommended
        sampler when the folder records them, else the sampler's own (`SCHEDULERS`; "auto": the recommended one)."""
        name = self.auto_sampler if name == AUTO_SCHEDULER else name.lower()
        if self.sampler_steps and name == self.sampler:
            return self.sampler_steps
        return SCHEDULERS[name].steps

    @property
    def recommended_guide(self) -> dict[str, Any] | None:
        """The guide the folder recommends, `{"model": ..., "scale": w}` (`set_guide("auto")` uses it), or None;
        checked whenever it is set (`autoguide.recommendation`), and refused on a distilled student."""
        return dict(self._recommended_guide) if self._recommended_guide else None

    @recommended_guide.setter
    def recommended_guide(self, value: dict[str, Any] | None) -> None:
        value = autoguide.recommendation(value)
        if value is not None and self.distillation is not None:
            raise ValueError("a distilled student samples without a guide: it cannot recommend one")
        self._recommended_guide = value

    @property
    def auto_sampler(self) -> str:
        """The short name "auto" samples a diffusion model with: the folder's recommended `sampler`, else the
        default (`DEFAULT_SCHEDULER`)."""
        return self.sampler or DEFAULT_SCHEDULER

    def set_scheduler(self, scheduler: str | SchedulerMixin) -> AudioDiffusionPipeline:
        """Swap the sampler: a short name (`SCHEDULERS`), a diffusers class name, or an instance. Returns self.

        "saved" keeps the current scheduler; "auto" is the sampler the folder recommends (`sampler`, measured for
        its weights) or else the default (`DEFAULT_SCHEDULER`) for a diffusion model, and the student's own for a
        distilled one. A student takes no other name (ValueError): it was trained
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
            chosen = self.auto_sampler if name == AUTO_SCHEDULER else scheduler
            scheduler = make_scheduler(chosen, self.scheduler.config)
            if chosen.lower() in SCHEDULERS:  # the folder's measured steps for its recommended sampler, if any
                setattr(scheduler, STEPS_ATTRIBUTE, self.steps_for(chosen))
        self.scheduler = scheduler
        return self

    # --- sampling -----------------------------------------------------------------------------------------------------
    def prepare_latents(
        self,
        batch_size: int,
        generator: torch.Generator | list[torch.Generator] | None = None,
        width: int | None = None,
        tempo: tuple[int, float] | None = None,
    ) -> torch.Tensor:
        """Standard Gaussian noise `(batch, channels, height, width)` in the UNet's sample space (`width` defaults
        to the model's); with `tempo` `(period, lock)` (`tempo_period`) tempo-locked (`tempo_noise.locked_noise`)."""
        check_generators(generator, batch_size)
        channels, height, model_width = self.latent_shape
        period, lock = tempo or (None, 0.0)
        return tempo_noise.locked_noise(
            (batch_size, channels, height, width or model_width), generator, self._execution_device, self.unet.dtype,
            period, lock,
        )  # fmt: skip

    def tempo_period(self, bpm: float | None, lock: float | None = None) -> tuple[int, float] | None:
        """`(period in the UNet's sample columns, lock)` of noise locked to `bpm` (`tempo_noise`; `lock` None: its
        `DEFAULT_LOCK`), or None for `bpm` None or `lock` 0. ValueError (one line) for a tempo out of range, or a
        sampler that adds white noise of its own at every step (DDPM, Euler ancestral), which would undo the lock."""
        tempo_noise.check(bpm, lock)
        lock = tempo_noise.DEFAULT_LOCK if lock is None else float(lock)
        if bpm is None or lock == 0.0:
            return None
        name = type(self.scheduler).__name__
        if name in OWN_STEP_NOISE:
            raise ValueError(
                f"a tempo needs a sampler whose step noise audiodiff draws: {name} draws its own white noise at every "
                "step; use dpm-sde (the shipped base's), dpm, ddim or another deterministic sampler"
            )
        mel = self.mel_config
        columns = tempo_noise.period_columns(bpm, mel.sample_rate / mel.hop_length)
        return max(1, round(columns * self.latent_shape[2] / mel.x_res)), lock

    def denoiser(self, labels: torch.Tensor | None, guidance_scale: float = 1.0, stride: int | None = None) -> Denoiser:
        """The UNet as a denoiser `(sample (batch, channels, height, width), timestep, step=0) -> output`: conditioned
        on `labels` `(batch,)` with classifier-free guidance (`denoisers.guided`), guided by the weaker model of
        `set_guide` when there is one (`denoisers.autoguided`), samples wider than `window_width` in windows `stride`
        columns apart (`denoisers.windowed`), each UNet call (the guide's too) counted in `unet_evaluations`."""
        denoise = guided(self._predict, labels, guidance_scale, self.null_label)
        if self._guide is not None:
            guide = self._guide
            weak_labels = autoguide.guide_labels(labels, self.genres, guide.genres, guide.null_label)
            weak = guided(self._guide_predict, weak_labels, 1.0, guide.null_label)
            denoise = autoguided(denoise, weak, self._guide_record["scale"])
        return windowed(denoise, self.window_width, stride)

    def _predict(self, sample: torch.Tensor, timestep: torch.Tensor, **conditions) -> torch.Tensor:
        self.unet_evaluations += len(sample)
        return self.unet(sample, timestep, **conditions).sample

    def _guide_predict(self, sample: torch.Tensor, timestep: torch.Tensor, **conditions) -> torch.Tensor:
        """The guide's UNet on this pipeline's samples: moved to their device and dtype on first use (the guide is
        not a component, so `to()` does not move it)."""
        unet = self._guide.unet
        parameter = next(unet.parameters())
        if parameter.device != sample.device or parameter.dtype != sample.dtype:
            unet.to(device=sample.device, dtype=sample.dtype)
        if conditions.get("class_labels") is not None:
            conditions["class_labels"] = conditions["class_labels"].to(sample.device)
        self.unet_evaluations += len(sample)
        return unet(sample, timestep, **conditions).sample

    def set_guide(
        self, guide: str | AudioDiffusionPipeline | None, scale: float | None = None
    ) -> AudioDiffusionPipeline:
        """Sample guided by a weaker model (autoguidance, Karras et al. 2024; `audiodiff.autoguide`): every step
        predicts `weak + scale (this - weak)`, at the cost of the guide's UNet call. Returns self.

        guide: "base" (the model this one was fine-tuned from, which its folder records), "auto" (the guide the
        folder recommends, `recommended_guide`, at its scale; none where it recommends none), a shipped name, folder
        or hub id, an `AudioDiffusionPipeline`, or None / "none" to sample without one. The guide must be a
        diffusion model of the same sample shape, mel settings, noise schedule and prediction type (ValueError, one
        line). It is asked for the same genre by name, or unconditionally for a genre it does not know (one a
        fine-tune added).
        scale: 1 is this model alone; None: `autoguide.DEFAULT_SCALE` (1.25), or the recommended scale for "auto".
        A fine-tune on ten songs guided by its base at 1.25 made clips that genre classifiers heard as the songs
        94-98% of the time (85-89% unguided), no nearer the songs themselves (BENCHMARKS.md "Guided by the base");
        at 2 the clips left the genre's other music (recall 0.33).
        """
        if isinstance(guide, str) and guide == autoguide.AUTO:
            recommended = self.recommended_guide
            if recommended is None:
                guide = None
            else:
                guide, scale = recommended["model"], recommended["scale"] if scale is None else scale
        if scale is None:
            scale = autoguide.DEFAULT_SCALE
        if guide is None or (isinstance(guide, str) and guide == autoguide.NONE) or scale == 1.0:
            self._guide, self._guide_record = None, None
            return self
        if isinstance(scale, bool) or not np.isfinite(float(scale)) or float(scale) < 0:
            raise ValueError(f"guide scale must be a finite number of at least 0, not {scale!r}")
        if isinstance(guide, AudioDiffusionPipeline):
            name, model = str(guide.config.get("_name_or_path") or "the given pipeline"), guide
        else:
            name = autoguide.base_of(self.training) if str(guide) == autoguide.BASE else str(guide)
            if self._guide_loaded is not None and self._guide_loaded[0] == name:
                model = self._guide_loaded[1]  # the guide loaded last: a studio sets it for every job
            else:
                try:
                    model = AudioDiffusionPipeline.from_pretrained(name, vocoder=False)
                except Exception as error:  # noqa: BLE001 - a missing or damaged folder fails in many ways
                    raise ValueError(f"guide {name}: cannot load it ({first_line(error)})") from None
        autoguide.check_guide(self, model, name)
        model.unet.eval().requires_grad_(False)
        if not isinstance(guide, AudioDiffusionPipeline):
            self._guide_loaded = name, model
        self._guide, self._guide_record = model, {"model": name, "scale": float(scale)}
        return self

    @property
    def guide(self) -> dict[str, Any] | None:
        """The guide of `set_guide` as `{"model": its name or folder, "scale": w}`, or None."""
        return dict(self._guide_record) if self._guide_record else None

    def _clip_range(self, timestep: torch.Tensor) -> float | None:
        """`schedulers.clip_range` of the pipeline's scheduler (a method, so a benchmark can switch it off)."""
        return schedulers.clip_range(self.scheduler, timestep, self._execution_device)

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
        tempo: tuple[int, float] | None = None,
    ) -> torch.Tensor:
        """One sampling run -> images `(batch, 1, y_res, frames)` in [-1, 1] (`frames` defaults to `x_res`).

        Starts from `latents` (DDPM-space samples at the first step; narrower than the canvas, the rest is fresh
        noise), else the noised `init_images` `(batch, 1, y_res, frames)` (strength < 1), else noise. Where the
        keep-mask `keep` (`(frames,)` or broadcastable) is 1, every step replaces the sample by `init_images` noised
        to the next timestep (RePaint-style inpainting), and the result by `init_images`. Canvases wider than the
        model are denoised jointly in overlapping windows `stride` columns apart (`denoisers.windowed`). `tempo`
        (`tempo_period`): the start noise and every step's noise tempo-locked.
        """
        device = self._execution_device
        frames = frames or self.mel_config.x_res
        canvas, columns = canvas_columns(frames, self.mel_config.x_res, self.latent_shape[2], self.native_widths)
        init_images, keep = pad_canvas(columns, init_images, keep)
        first_step = editing.start_step(num_inference_steps, strength)
        timesteps = schedulers.sampling_timesteps(self.scheduler, num_inference_steps, first_step, device)
        noise = self.prepare_latents(batch_size, generator, canvas, tempo)
        known = None if init_images is None else self.images_to_latents(init_images)
        if len(timesteps) == 0:
            if init_images is not None:
                return init_images.float()[..., :frames]
            start = noise if latents is None else torch.cat([latents.to(noise), noise[..., latents.shape[-1] :]], -1)
            return self.latents_to_images(start)[..., :frames]
        sample = denoise(
            self.denoiser(labels, guidance_scale, stride),
            self.scheduler,
            start_sample(self.scheduler, timesteps, noise, latents, known, partial=first_step > 0),
            timesteps,
            known=known,
            noise=noise,
            keep=None if keep is None else editing.resize_mask(keep.to(device), canvas),
            step_kwargs=schedulers.step_kwargs(self.scheduler, eta, generator),
            step_noise=None
            if tempo is None
            else (lambda shape: tempo_noise.locked_noise(shape, generator, noise.device, noise.dtype, *tempo)),
            clip_range=self._clip_range(timesteps[0]),
            progress=self.progress_bar,
        )
        images = self.latents_to_images(sample)[..., :columns]
        if keep is not None:
            images = editing.blend(init_images.float(), images, keep.to(device))
        return images[..., :frames]

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
        sample = self.images_to_latents(self._input_images(audio, images))
        denoiser = self.denoiser(self.genre_labels(genre, len(sample)))
        return ddim_inversion(
            denoiser, self.scheduler, sample, num_inference_steps, strength, refinements, self.progress_bar
        )

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
        bpm: float | None = None,
        tempo_lock: float | None = None,
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
            bpm: draw the clip at this tempo: its noise, at the start and at every stochastic step, repeats every two
                beats (`audiodiff.tempo_noise`), so the model's onsets fall on a grid; None = white noise.
            tempo_lock: how much of the noise repeats, in [0, 1) (default 0.8, `tempo_noise.DEFAULT_LOCK`).
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
        batch_size = self.check_inputs(batch_size, init_images, latents, generator, strength, mask, inpaint_seconds,
                                       loop_seconds, seconds, output_type)  # fmt: skip
        guidance_scale = self._student_guidance(guidance_scale)
        tempo = self.tempo_period(bpm, tempo_lock)

        # 2. Prepare. One input clip or start sample serves the whole batch; genres become class labels; the keep-mask
        #    of inpainting (a loop is sampled rolled by `shift`, so that its seam is in the middle); the windows of a
        #    long clip, `stride` latent columns apart.
        init_images, latents = expand_batch(init_images, batch_size), expand_batch(latents, batch_size)
        labels = self.genre_labels(genre, batch_size)
        width = self.mel_config.x_res
        keep, shift = editing.keep_mask(width, self._frames, mask, inpaint_seconds, loop_seconds)
        if shift:
            init_images = torch.roll(init_images, shift, dims=-1)
        frames, overlap, stride = self._clip_columns(seconds, overlap_seconds)
        steps = int(num_inference_steps or self.default_steps)
        sampling = dict(batch_size=batch_size, num_inference_steps=steps, generator=generator, labels=labels,
                        guidance_scale=guidance_scale, eta=eta, stride=stride, tempo=tempo)  # fmt: skip

        # 3. Denoise. Plain generation of a long clip denoises the whole canvas jointly in overlapping windows; a clip
        #    that starts from an input (variation, inpainting, inversion latents) is sampled as one slice, then
        #    extended to `frames` with the new part denoised jointly, the first slice kept as context.
        joint = frames > width and init_images is None and latents is None and keep is None
        result = self._sample(latents=latents, init_images=init_images, strength=strength, keep=keep,
                              frames=frames if joint else width, **sampling)  # fmt: skip
        if shift:
            result = torch.roll(result, -shift, dims=-1)
        if frames > result.shape[-1]:
            canvas, keep = editing.extension_canvas(result, frames, overlap)
            result = self._sample(init_images=canvas, strength=1.0, keep=keep, latents=None, frames=frames, **sampling)
        result = result[..., :frames]

        # 4. Decode: quantise to the pipeline's bit depth, vocode what the saved image holds, output as asked.
        output = self._to_output(result, generator, bool(shift), output_type)
        return output if return_dict else output.to_tuple()
