"""The per-step work around a training step's forward and backward passes, done in as few kernels as possible.

On a small model the optimizer and the weight average cost as much as a tenth of a step when they loop over the
tensors in Python (BENCHMARKS.md, "Training loop"): AdamW takes its fused kernel (one kernel for all tensors, on CPU
and CUDA) and the EMA is one in-place foreach lerp. Shared by the diffusion trainer, the distiller and the vocoder's
trainer.
"""

from __future__ import annotations

import torch
from diffusers.training_utils import EMAModel

FUSED_ADAMW_DEVICES = ("cpu", "cuda")


def adamw(parameters, device: torch.device | str, **options) -> torch.optim.AdamW:
    """`torch.optim.AdamW(parameters, **options)` with the fused implementation where `device` has one, else the
    foreach one (the default on CPU would be a Python loop per tensor). Same update rule either way."""
    if torch.device(device).type in FUSED_ADAMW_DEVICES:
        return torch.optim.AdamW(parameters, fused=True, **options)
    return torch.optim.AdamW(parameters, foreach=True, **options)


class FusedEMA(EMAModel):
    """diffusers' `EMAModel` (the same decay warm-up, `state_dict`, `copy_to`, checkpoints) whose update is one
    in-place `torch._foreach_lerp_` over the trained tensors: `shadow += (1 - decay) * (param - shadow)`, the same
    average without the temporaries of `EMAModel`'s foreach path."""

    @torch.no_grad()
    def step(self, parameters) -> None:
        parameters = list(parameters)
        self.optimization_step += 1
        decay = self.get_decay(self.optimization_step)
        self.cur_decay_value = decay
        trained, trained_shadows, frozen, frozen_shadows = [], [], [], []
        for shadow, parameter in zip(self.shadow_params, parameters, strict=True):
            if parameter.requires_grad:
                trained.append(parameter)
                trained_shadows.append(shadow)
            else:
                frozen.append(parameter)
                frozen_shadows.append(shadow)
        if trained:
            torch._foreach_lerp_(trained_shadows, trained, 1.0 - decay)
        if frozen:
            torch._foreach_copy_(frozen_shadows, frozen)


def parameter_groups(model, parameters: list, config) -> list:
    """The optimizer's parameter groups for training `parameters` of `model` with `config` (a `TrainConfig`): the
    parameters as they are, or, when `config.class_embedding_lr_scale` is not 1 and the model's genre embedding
    (`class_embedding`) is among them, two groups, the embedding's at `learning_rate * class_embedding_lr_scale`."""
    weight = getattr(getattr(model, "class_embedding", None), "weight", None)
    scale = config.class_embedding_lr_scale
    if scale == 1.0 or weight is None or not any(parameter is weight for parameter in parameters):
        return parameters
    rest = [parameter for parameter in parameters if parameter is not weight]
    return [{"params": rest}, {"params": [weight], "lr": config.learning_rate * scale}]
