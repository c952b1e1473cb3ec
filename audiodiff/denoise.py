"""The denoising loop, and what a run starts from: the canvas, the first sample, DDIM inversion's loop.

One loop serves every mode of the pipeline: generation, img2img / SDEdit (Meng et al. 2021: a run that starts part
way, from the input noised to its first timestep), inpainting, loops and continuation (a keep-mask: at every step
the kept columns are replaced by the input noised to the next timestep, RePaint-style, Lugmayr et al. 2022), and
long clips (a `denoisers.windowed` denoiser). DPM-Solver++ and the other DDPM-space solvers have their x0 clipped
the DDIM way before each step when the schedule clips (`schedulers.clip_range`, `editing.clip_consistently`).

Samples are `(batch, channels, height, width)` in the scheduler's space; keep-masks `(width,)` or broadcastable,
1 where the input is kept.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import torch
from diffusers import DDIMScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from audiodiff import editing
from audiodiff.denoisers import Denoiser
from audiodiff.schedulers import sample_space_scale


def canvas_columns(frames: int, x_res: int, model_width: int, widths: Sequence[int]) -> tuple[int, int]:
    """`(latent columns, image columns)` to sample for a clip of `frames` image columns.

    A model samples `model_width` latent columns per slice of `x_res` image columns and was trained on `widths`
    (slices, sorted). Up to the widest trained width, the canvas is the smallest trained width that holds the clip
    (cropped afterwards), so that the model runs at a width it learned; beyond it, the clip's own width (windows).
    """
    columns = -(-frames * model_width // x_res)  # latent columns covering `frames` image columns
    if model_width < columns <= model_width * widths[-1]:
        columns = model_width * next(k for k in widths if k * model_width >= columns)
    return columns, columns * x_res // model_width


def pad_canvas(
    columns: int, init_images: torch.Tensor | None, keep: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Images `(batch, 1, height, frames)` and a keep-mask `(frames,)` padded on the right to `columns`: the images
    with silence (-1), the mask with 0, since the padding is generated. A mask of another shape is left as it is."""
    if init_images is None:
        return None, keep
    padding = columns - init_images.shape[-1]
    if padding <= 0:
        return init_images, keep
    if keep is not None and keep.shape[-1] == init_images.shape[-1]:
        keep = torch.nn.functional.pad(keep, (0, padding), value=0.0)
    return torch.nn.functional.pad(init_images, (0, padding), value=-1.0), keep


def start_sample(
    scheduler: SchedulerMixin,
    timesteps: torch.Tensor,
    noise: torch.Tensor,
    latents: torch.Tensor | None = None,
    known: torch.Tensor | None = None,
    partial: bool = False,
) -> torch.Tensor:
    """The first sample of a run over `timesteps`, `noise`'s shape `(batch, channels, height, width)`.

    Given `latents` (DDPM-space samples at the first timestep, e.g. `invert`'s, possibly narrower than the canvas):
    those taken into the scheduler's space, fresh noise beyond them. Else for a run that starts `partial`-way (img2img)
    the `known` input noised to the first timestep; else pure noise at the scheduler's initial scale.
    """
    if latents is not None:
        latents = latents.to(noise.device, noise.dtype) * sample_space_scale(scheduler, timesteps[0], noise.device)
        return torch.cat([latents, noise[..., latents.shape[-1] :] * scheduler.init_noise_sigma], -1)
    if known is not None and partial:
        return scheduler.add_noise(known, noise, timesteps[:1].repeat(len(noise)))
    return noise * scheduler.init_noise_sigma


def denoise(
    denoiser: Denoiser,
    scheduler: SchedulerMixin,
    sample: torch.Tensor,
    timesteps: torch.Tensor,
    *,
    known: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    keep: torch.Tensor | None = None,
    step_kwargs: dict | None = None,
    step_noise: Callable[[tuple[int, ...]], torch.Tensor] | None = None,
    clip_range: float | None = None,
    progress: Callable = iter,
) -> torch.Tensor:
    """Run `scheduler` over `timesteps` from `sample` `(batch, channels, height, width)`; returns the final sample.

    Each step: scale the input (`scheduler.scale_model_input`), predict (`denoiser(sample, timestep, step=index)`),
    clip x0 the DDIM way when `clip_range` is set, step (`step_kwargs`: `schedulers.step_kwargs`). With a keep-mask
    `keep` (latent width, broadcastable), the kept part is then replaced by `known` (the input's samples) noised
    with `noise` to the next timestep, and by `known` itself after the last step. `progress` wraps the timesteps
    (a progress bar). `step_noise` `(shape) -> noise`: the noise of a stochastic step, for a scheduler that takes it
    (`variance_noise`: DPM-Solver's SDE variants, DDIM with eta); the others draw their own.
    """
    takes_noise = step_noise is not None and "variance_noise" in inspect.signature(scheduler.step).parameters
    prediction_type = scheduler.config.get("prediction_type", "epsilon")
    for index, timestep in enumerate(progress(timesteps)):
        model_input = scheduler.scale_model_input(sample, timestep)
        output = denoiser(model_input, timestep, step=index)
        if clip_range is not None:
            alpha_prod = scheduler.alphas_cumprod[int(timestep)]
            output, sample = editing.clip_consistently(output, sample, alpha_prod, prediction_type, clip_range)
        kwargs = dict(step_kwargs or {})
        if takes_noise:  # in place of the generator's draw (DDIM refuses both)
            kwargs.pop("generator", None)
            kwargs["variance_noise"] = step_noise(tuple(sample.shape))
        sample = scheduler.step(output, timestep, sample, **kwargs).prev_sample
        if keep is not None:
            if index + 1 < len(timesteps):
                target = scheduler.add_noise(known, noise, timesteps[index + 1 : index + 2].repeat(len(sample)))
            else:
                target = known
            sample = editing.blend(target, sample, keep)
    return sample


def ddim_inversion(
    denoiser: Denoiser,
    scheduler: SchedulerMixin,
    sample: torch.Tensor,
    num_inference_steps: int,
    strength: float = 1.0,
    refinements: int = 0,
    progress: Callable | None = None,
) -> torch.Tensor:
    """Deterministic DDIM inversion (Song et al. 2020, `editing.ddim_invert`) of clean samples `(batch, channels,
    height, width)` up to the step where a run of `num_inference_steps` at `strength` starts.

    The schedule is `scheduler`'s (prediction type, betas, zero terminal SNR, timestep spacing), as DDIM; a
    `DDIMScheduler` is used itself (its timesteps are set). Models predicting v or x0 are inverted through their
    x0 estimate. Returns DDPM-space samples of the input's shape.
    """
    if not isinstance(scheduler, DDIMScheduler):
        scheduler = DDIMScheduler.from_config(scheduler.config)
    scheduler.set_timesteps(num_inference_steps)
    timesteps = scheduler.timesteps[editing.start_step(num_inference_steps, strength) :]
    prediction_type = scheduler.config.prediction_type

    def predict_epsilon(current: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        alpha_prod = scheduler.alphas_cumprod[int(timestep)]
        return editing.epsilon_from_output(denoiser(current, timestep), current, alpha_prod, prediction_type)

    def predict_original(current: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        alpha_prod = scheduler.alphas_cumprod[int(timestep)]
        return editing.original_from_output(denoiser(current, timestep), current, alpha_prod, prediction_type)

    return editing.ddim_invert(
        predict_epsilon,
        sample,
        timesteps,
        scheduler.alphas_cumprod,
        scheduler.final_alpha_cumprod,
        progress=progress,
        refinements=refinements,
        predict_original=None if prediction_type == "epsilon" else predict_original,
    )
