"""The denoising objective (Ho et al. 2020) of training: the noise schedule, the random noise and timesteps, the
target the network learns (epsilon, v, or the clean image) and the Min-SNR loss weighting.

The tensor functions take and return tensors with their shapes in the docstrings and draw randomness only from the
`torch.Generator` they are given, so that a resumed run draws what the uninterrupted one would; the schedule
builders turn a `TrainConfig` into the diffusers noise scheduler a run trains on (and saves with its pipeline).
"""

from __future__ import annotations

import inspect
import logging
import math

import torch
import torch.nn.functional as F

from audiodiff.config import ConfigError
from audiodiff.editing import epsilon_from_output
from audiodiff.schedulers import scheduler_class
from audiodiff.train_config import ZERO_SNR_EPSILON, TrainConfig, TrainingError

logger = logging.getLogger(__name__)

# What a new model gets for schedule settings left unset (None); a fine-tune keeps the pretrained model's.
SCHEDULE_DEFAULTS = {"prediction_type": "epsilon", "beta_schedule": "linear", "rescale_betas_zero_snr": False}


def draw_noise(
    shape: tuple[int, ...], num_train_timesteps: int, noise_offset: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise `(batch, channels, height, width)` (`shape`) and timesteps `(batch,)` of one micro-batch, drawn from
    `generator` in this order: noise, timesteps, then, only when `noise_offset` is on (so that runs without it keep
    their random stream), offset noise: a per-image, per-channel constant of standard deviation `noise_offset`."""
    batch = shape[0]
    noise = torch.randn(shape, generator=generator)
    timesteps = torch.randint(0, num_train_timesteps, (batch,), generator=generator)
    if noise_offset:
        noise = noise + noise_offset * torch.randn((batch, shape[1], 1, 1), generator=generator)
    return noise, timesteps


def training_target(noise_scheduler, images: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor):
    """What the network learns to predict from `noise_scheduler.add_noise(images, noise, timesteps)`, by the
    scheduler's prediction type: the noise (epsilon), the velocity `sqrt(a) noise - sqrt(1 - a) images`
    (v-prediction, Salimans and Ho 2022) or the clean images (sample). images, noise: `(batch, channels, height,
    width)`; timesteps: `(batch,)`; returns `(batch, channels, height, width)`."""
    prediction_type = noise_scheduler.config.prediction_type
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return noise_scheduler.get_velocity(images, noise, timesteps)
    return images


def denoising_loss(
    prediction: torch.Tensor, target: torch.Tensor, noise_scheduler, timesteps: torch.Tensor, snr_gamma: float | None
) -> torch.Tensor:
    """The scalar loss: the mean squared error of `prediction` against `target` (both `(batch, channels, height,
    width)`, compared in float32), each image weighted by `min_snr_weights` when `snr_gamma` is set."""
    if snr_gamma is None:
        return F.mse_loss(prediction.float(), target.float())
    per_image = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    weights = min_snr_weights(noise_scheduler, timesteps, snr_gamma, noise_scheduler.config.prediction_type)
    return (per_image * weights).mean()


def min_snr_weights(noise_scheduler, timesteps: torch.Tensor, gamma: float, prediction_type: str) -> torch.Tensor:
    """Min-SNR-gamma loss weights (Hang et al. 2023, "Efficient diffusion training via Min-SNR weighting strategy").

    timesteps: `(batch,)`; returns `(batch,)` float weights that turn each image's MSE on the `prediction_type`
    target into the MSE on the clean image weighted by `min(SNR, gamma)`: `min(SNR, gamma) / SNR` for epsilon,
    `min(SNR, gamma) / (SNR + 1)` for v-prediction, `min(SNR, gamma)` for sample, with `SNR = a / (1 - a)` at the
    timestep (diffusers' `compute_snr`).
    """
    from diffusers.training_utils import compute_snr

    snr = compute_snr(noise_scheduler, timesteps)
    clipped = snr.clamp(max=gamma)
    if prediction_type == "epsilon":
        return clipped / snr
    if prediction_type == "v_prediction":
        return clipped / (snr + 1)
    if prediction_type == "sample":
        return clipped
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


@torch.no_grad()
def label_losses(unet, noise_scheduler, images: torch.Tensor, labels: list[int], seed: int = 0, draws: int = 4,
                 batch_size: int = 16) -> list[float]:  # fmt: skip
    """How well a genre-conditioned `unet` explains `images` `(count, 1, height, width)` under each class label of
    `labels`: the mean squared error of its noise prediction (whatever it predicts, turned into the noise it implies)
    over uniform timesteps, the diffusion classifier's score (Li et al. 2023, "Your diffusion model is secretly a
    zero-shot classifier"; a bound on -log p(images | label) up to weights), over `draws` noisings of each image at
    stratified timesteps. Every label is scored on the same noise and timesteps (drawn from `seed`), so that the
    losses differ only by what the label tells the model; the lowest is the genre the model hears in the images.
    Returns one loss per label, in order; leaves the model in eval mode."""
    unet.eval()
    device = next(unet.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    images = images.repeat(draws, 1, 1, 1)
    count, total_steps = images.shape[0], noise_scheduler.config.num_train_timesteps
    noise = torch.randn(images.shape, generator=generator)
    strata = (torch.arange(count) + torch.rand(count, generator=generator)) * total_steps / count
    timesteps = strata.long().clamp(max=total_steps - 1)[torch.randperm(count, generator=generator)]
    alphas = noise_scheduler.alphas_cumprod.to(device)
    prediction_type = noise_scheduler.config.prediction_type
    totals = [0.0] * len(labels)
    for start in range(0, images.shape[0], batch_size):
        part = slice(start, start + batch_size)
        clean, eps, steps = (t[part].to(device) for t in (images, noise, timesteps))
        noisy = noise_scheduler.add_noise(clean, eps, steps)
        alpha_prod = alphas[steps].view(-1, 1, 1, 1)
        for index, label in enumerate(labels):
            class_labels = torch.full((clean.shape[0],), label, dtype=torch.long, device=device)
            output = unet(noisy, steps, class_labels=class_labels).sample.float()
            predicted = epsilon_from_output(output, noisy.float(), alpha_prod, prediction_type)
            totals[index] += float(F.mse_loss(predicted, eps.float(), reduction="sum")) / eps[0].numel()
    return [total / images.shape[0] for total in totals]


def make_noise_scheduler(config: TrainConfig):
    """The training noise scheduler of a new run: `config.noise_scheduler` (a diffusers class name) on the config's
    schedule, unset schedule settings taking `SCHEDULE_DEFAULTS`.

    Zero terminal SNR is saved with "trailing" timestep spacing, so that every sampler built from this config starts
    at the last (pure-noise) timestep, as Lin et al. 2023 prescribe; other schedules keep diffusers' default spacing.
    """
    found = scheduler_class(config.noise_scheduler)
    if found is None:
        raise ConfigError(f"unknown noise_scheduler {config.noise_scheduler!r} (a diffusers scheduler class)")
    schedule = {key: SCHEDULE_DEFAULTS[key] if getattr(config, key) is None else getattr(config, key)
                for key in SCHEDULE_DEFAULTS}  # fmt: skip
    check_schedule(
        schedule["prediction_type"],
        schedule["rescale_betas_zero_snr"],
        "set prediction_type (unset, a new model predicts epsilon)",
    )
    if schedule["rescale_betas_zero_snr"]:
        schedule["timestep_spacing"] = "trailing"
        if "rescale_betas_zero_snr" not in inspect.signature(found.__init__).parameters:
            raise ConfigError(f"noise_scheduler {config.noise_scheduler} has no rescale_betas_zero_snr option")
    else:
        schedule.pop("rescale_betas_zero_snr")  # not every diffusers scheduler class has the option
    scheduler = found(num_train_timesteps=config.num_train_timesteps, **schedule)
    if config.resolution_shift == 1:
        return scheduler
    betas = shifted_betas(scheduler.alphas_cumprod, config.resolution_shift)
    return found(num_train_timesteps=config.num_train_timesteps, trained_betas=betas.tolist(), **schedule)


def shifted_betas(alphas_cumprod: torch.Tensor, shift: float) -> torch.Tensor:
    """The betas `(timesteps,)` of the schedule `alphas_cumprod` `(timesteps,)` with its log-SNR moved by
    `-2 ln(shift)` (Hoogeboom et al. 2023, "simple diffusion": a `shift` times larger image at the same noise level
    per pixel average), so that `log(a' / (1 - a')) = log(a / (1 - a)) - 2 ln(shift)` at every timestep."""
    alphas = alphas_cumprod.double()
    shifted = torch.sigmoid(torch.log(alphas) - torch.log1p(-alphas) - 2 * math.log(shift))
    previous = torch.cat([torch.ones(1, dtype=shifted.dtype), shifted[:-1]])
    return (1 - shifted / previous).clamp(0, 1).float()


def check_schedule(prediction_type: str, zero_snr: bool, advice: str) -> None:
    if zero_snr and prediction_type == "epsilon":
        raise ConfigError(f"{ZERO_SNR_EPSILON}: {advice}")


def finetune_noise_scheduler(noise_scheduler, config: TrainConfig, source: str):
    """The pretrained model's noise scheduler, with the schedule settings the fine-tune's config sets explicitly.

    The prediction type cannot change: the UNet's output would mean something else than it learned. The noise
    schedule can (Lin et al. 2023 fine-tune a v-prediction model to zero terminal SNR).
    """
    import diffusers

    saved = noise_scheduler.config
    if config.resolution_shift != 1:
        raise TrainingError(
            f"resolution_shift applies to new models: {source} keeps its own noise schedule (leave it at 1)"
        )
    if config.prediction_type is not None and config.prediction_type != saved.prediction_type:
        raise TrainingError(
            f"{source} predicts {saved.prediction_type}; a fine-tune keeps what the model predicts, so prediction_type "
            f"{config.prediction_type} is refused (leave it unset, or train a new model)"
        )
    changes = {}
    if config.beta_schedule is not None and config.beta_schedule != saved.beta_schedule:
        changes["beta_schedule"] = config.beta_schedule
    was_zero_snr = bool(saved.get("rescale_betas_zero_snr", False))
    if config.rescale_betas_zero_snr is not None and config.rescale_betas_zero_snr != was_zero_snr:
        changes["rescale_betas_zero_snr"] = config.rescale_betas_zero_snr
        changes["timestep_spacing"] = "trailing" if config.rescale_betas_zero_snr else "leading"
    check_schedule(
        saved.prediction_type, changes.get("rescale_betas_zero_snr", was_zero_snr), f"{source} predicts epsilon"
    )
    if not changes:
        return noise_scheduler
    logger.info("fine-tuning %s on a changed noise schedule: %s", source, changes)
    return diffusers.DDPMScheduler.from_config(dict(saved), **changes)
