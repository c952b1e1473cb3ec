"""The sampler registry: short names for diffusers schedulers, and the default number of steps of each.

A pipeline samples with any diffusers scheduler; these short names are what the CLI and
`AudioDiffusionPipeline.set_scheduler` accept besides class names, each with its default number of steps.

The default is DPM-Solver++(2M) (Lu et al. 2022) with 20 steps, its x0 clipping done the DDIM way by the pipeline
(`editing.clip_consistently`; the solver's own thresholding turned a third of the clips of briefly trained models
into speckle noise). Measured on real-music fine-tunes (BENCHMARKS.md, "Quality on real music"), it has the best
Frechet distances of the 20-50-step samplers, but on small, briefly trained models every few-step sampler, DDIM
and the stochastic ones included, leaves some clips flat and noise-like that the reference's DDPM with 1000 steps
does not: `audiodiff generate` checks each clip against the training data's range and draws failures again.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # diffusers takes seconds to import; the CLI reads this registry for its help texts
    from diffusers.schedulers.scheduling_utils import SchedulerMixin


@dataclasses.dataclass(frozen=True)
class Sampler:
    """A short name's diffusers scheduler class, the options it sets on the training schedule, its default steps."""

    class_name: str
    overrides: dict[str, Any]
    steps: int
    description: str

    def __iter__(self):  # `class_name, overrides = SCHEDULERS[name]` keeps working
        return iter((self.class_name, self.overrides))


SCHEDULERS: dict[str, Sampler] = {
    "ddpm-fast": Sampler("DDPMScheduler", {}, 20, "DDPM's ancestral sampler on a 20-step grid"),
    "ddpm": Sampler("DDPMScheduler", {}, 1000, "the reference's sampler: DDPM, 1000 steps"),
    "ddim": Sampler("DDIMScheduler", {}, 50, "DDIM (deterministic; eta > 0 adds noise), 50 steps"),
    "ddim-exact": Sampler(
        "DDIMScheduler", {"clip_sample": False}, 50, "DDIM without clipping: invertible, for edits and interpolation"
    ),
    "dpm": Sampler(
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
        20,
        "DPM-Solver++(2M), 20 steps (the default)",
    ),
    "dpm-sde": Sampler(
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
        20,
        "SDE-DPM-Solver++(2M), stochastic, 20 steps",
    ),
    "unipc": Sampler("UniPCMultistepScheduler", {}, 20, "UniPC, deterministic, 20 steps"),
    "euler": Sampler("EulerDiscreteScheduler", {}, 20, "Euler (Karras et al. 2022), 20 steps"),
    "euler-ancestral": Sampler("EulerAncestralDiscreteScheduler", {}, 20, "Euler ancestral, 20 steps"),
    "heun": Sampler("HeunDiscreteScheduler", {}, 20, "Heun (two evaluations per step), 20 steps"),
    "pndm": Sampler("PNDMScheduler", {"skip_prk_steps": True}, 50, "PNDM, 50 steps"),
}
DEFAULT_SCHEDULER = "dpm"
# The CLI's and the studio's default: DEFAULT_SCHEDULER for a diffusion model, a distilled student's own sampler.
AUTO_SCHEDULER = "auto"
# What a model may predict, and the noise schedules every sampler above can rebuild from a training config (DDPM
# alone also knows sigmoid and laplace).
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
DEFAULT_STEPS = SCHEDULERS[DEFAULT_SCHEDULER].steps
# The prediction types of the scheduler classes that do not take all of PREDICTION_TYPES.
_PREDICTION_TYPES_OF = {
    "PNDMScheduler": ("epsilon", "v_prediction"),
    "EulerAncestralDiscreteScheduler": ("epsilon", "v_prediction"),
}
# Default steps of a scheduler not made from a short name (a saved folder's): the reference's 1000 for DDPM and
# 50 for DDIM; 20 for the fast solvers.
_DEFAULT_STEPS = {"DDPMScheduler": 1000, "DDIMScheduler": 50, "PNDMScheduler": 50}
FAST_STEPS = 20
# Set on schedulers made from a short name, so that the pipeline's default steps follow the name.
STEPS_ATTRIBUTE = "audiodiff_default_steps"


def scheduler_class(class_name: str) -> type[SchedulerMixin] | None:
    """The diffusers scheduler class of that name, or None when diffusers has no scheduler called so."""
    import diffusers
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

    found = getattr(diffusers, class_name, None)
    return found if isinstance(found, type) and issubclass(found, SchedulerMixin) else None


def make_scheduler(name: str, config: Any) -> SchedulerMixin:
    """A scheduler by short name (see `SCHEDULERS`) or diffusers class name, built from another scheduler's config.

    The training schedule (betas, number of train timesteps, prediction type, zero terminal SNR with its "trailing"
    timestep spacing) carries over from `config`, and so does DDPM's clipping of the predicted clean sample
    (`clip_sample`, the reference's setting): solvers without that option get it as `thresholding` at
    `clip_sample_range` (static clipping), which `AudioDiffusionPipeline` applies the DDIM way before each solver step
    (`editing.clip_consistently`): the solvers' own thresholding keeps the sample, carries the clipped-away part of x0
    forward and turns some clips of briefly trained models into noise. A scheduler class that cannot rebuild a
    zero-terminal-SNR schedule (Heun, PNDM) or the model's prediction type (PNDM and Euler ancestral have no
    `sample`) is a ValueError naming the reason.
    """
    sampler = SCHEDULERS.get(name.lower())
    class_name, overrides = (sampler.class_name, sampler.overrides) if sampler else (name, {})
    found = scheduler_class(class_name)
    if found is None:
        raise ValueError(f"unknown scheduler {name!r}: choose from {', '.join(SCHEDULERS)} or a diffusers class name")
    accepted = inspect.signature(found.__init__).parameters
    if config.get("rescale_betas_zero_snr") and "rescale_betas_zero_snr" not in accepted:
        able = [short for short in SCHEDULERS if supports_zero_snr(SCHEDULERS[short].class_name)]
        raise ValueError(
            f"scheduler {name!r} cannot sample this model: it was trained with zero terminal SNR "
            f"(rescale_betas_zero_snr), which {class_name} does not support; choose from {', '.join(able)}"
        )
    prediction_type = config.get("prediction_type", "epsilon")
    if prediction_type not in _PREDICTION_TYPES_OF.get(class_name, PREDICTION_TYPES):
        raise ValueError(
            f"scheduler {name!r} cannot sample this model: {class_name} does not support prediction_type "
            f"{prediction_type!r}"
        )
    if config.get("clip_sample") and "clip_sample" not in accepted and "thresholding" in accepted:
        overrides = {"thresholding": True, "sample_max_value": config.get("clip_sample_range", 1.0), **overrides}
    scheduler = found.from_config(config, **overrides)
    if sampler is not None:
        setattr(scheduler, STEPS_ATTRIBUTE, sampler.steps)
    return scheduler


def supports_zero_snr(class_name: str) -> bool:
    """Whether the diffusers scheduler class can rebuild a zero-terminal-SNR schedule (`rescale_betas_zero_snr`)."""
    found = scheduler_class(class_name)
    return found is not None and "rescale_betas_zero_snr" in inspect.signature(found.__init__).parameters


def default_steps_for(scheduler: SchedulerMixin) -> int:
    """The steps of the short name the scheduler was made from (`make_scheduler`); otherwise the reference defaults:
    1000 for DDPM, 50 for DDIM, 20 for the fast solvers (DPM-Solver++, ...)."""
    return getattr(scheduler, STEPS_ATTRIBUTE, None) or _DEFAULT_STEPS.get(type(scheduler).__name__, FAST_STEPS)


def describe_schedulers() -> str:
    """One line per short name, for help texts."""
    return "; ".join(f"{name} = {sampler.description}" for name, sampler in SCHEDULERS.items())


# --- what the sampling loop asks of a scheduler (diffusers' `get_timesteps`, `prepare_extra_step_kwargs`) ----------
def sampling_timesteps(scheduler: SchedulerMixin, num_inference_steps: int, first_step: int, device=None):
    """The timesteps `(steps,)` of a run of `num_inference_steps` that starts at step `first_step` (img2img's
    `editing.start_step`), on `device`. Multistep and second-order solvers (`scheduler.order` > 1) hold `order`
    entries per step, and the ones that keep a step counter are told where the run begins."""
    scheduler.set_timesteps(num_inference_steps, device=device)
    begin = first_step * scheduler.order
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)
    return scheduler.timesteps[begin:]


def step_kwargs(scheduler: SchedulerMixin, eta: float, generator) -> dict[str, Any]:
    """The keyword arguments of `scheduler.step` it accepts of DDIM's `eta` and a `generator` (stochastic steps);
    the others ignore them (diffusers' `prepare_extra_step_kwargs`)."""
    accepted = inspect.signature(scheduler.step).parameters
    extra: dict[str, Any] = {"eta": eta} if "eta" in accepted else {}
    if "generator" in accepted:
        extra["generator"] = generator
    return extra


def sample_space_scale(scheduler: SchedulerMixin, timestep, device=None):
    """Factor `(1,)` taking `x_t = sqrt(a) x0 + sqrt(1 - a) e` into the scheduler's sample space at `timestep`.

    1 for DDPM/DDIM/DPM-Solver; `sqrt(1 + sigma^2)` for sigma-space schedulers (Euler, Heun), whose samples are
    `x0 + sigma e`: read off the scheduler's own `add_noise`.
    """
    import torch

    one = torch.ones(1, device=device)
    signal = scheduler.add_noise(one, torch.zeros_like(one), timestep.reshape(1))
    noise = scheduler.add_noise(torch.zeros_like(one), one, timestep.reshape(1))
    return (signal.square() + noise.square()).sqrt()


def clip_range(scheduler: SchedulerMixin, timestep, device=None) -> float | None:
    """The range to clip x0 to before each solver step, done the DDIM way (`editing.clip_consistently`), or None.

    It applies to DDPM-space solvers that were given static clipping as `thresholding` (`make_scheduler` does this
    when the training schedule clips, as the reference's does): DPM-Solver++, UniPC, DEIS. Their own thresholding
    keeps the sample and so carries the clipped-away part of x0 forward, which makes briefly trained models emit
    speckle-noise clips. DDPM and DDIM clip correctly themselves; sigma-space solvers are left alone.
    """
    config = scheduler.config
    if not config.get("thresholding") or not hasattr(scheduler, "alphas_cumprod"):
        return None
    if abs(float(sample_space_scale(scheduler, timestep, device)) - 1.0) > 1e-4:
        return None
    return float(config.get("sample_max_value", 1.0))
