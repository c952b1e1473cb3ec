"""The sampler registry: short names for diffusers schedulers, and the default number of steps of each.

A pipeline samples with any diffusers scheduler; these short names are what the CLI and
`AudioDiffusionPipeline.set_scheduler` accept besides class names. The default fast sampler is DPM-Solver++(2M)
(Lu et al. 2022) with 20 steps, against the reference's DDPM (Ho et al. 2020) with 1000.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # diffusers takes seconds to import; the CLI reads this registry for its help texts
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

# Short names for the CLI and `set_scheduler`; any diffusers scheduler class name works too.
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddpm": ("DDPMScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "ddim-exact": ("DDIMScheduler", {"clip_sample": False}),  # invertible: for inversion, edits, interpolation
    "dpm": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
}
DEFAULT_SCHEDULER = "dpm"
# Default steps per scheduler class: the reference's 1000 for DDPM and 50 for DDIM; 20 for the fast solvers.
_DEFAULT_STEPS = {"DDPMScheduler": 1000, "DDIMScheduler": 50, "PNDMScheduler": 50}
FAST_STEPS = 20


def scheduler_class(class_name: str) -> type[SchedulerMixin] | None:
    """The diffusers scheduler class of that name, or None when diffusers has no scheduler called so."""
    import diffusers
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

    found = getattr(diffusers, class_name, None)
    return found if isinstance(found, type) and issubclass(found, SchedulerMixin) else None


def make_scheduler(name: str, config: Any) -> SchedulerMixin:
    """A scheduler by short name (see `SCHEDULERS`) or diffusers class name, built from another scheduler's config.

    The training schedule (betas, number of train timesteps, prediction type) carries over from `config`, and so
    does DDPM's clipping of the predicted clean sample (`clip_sample`, the reference's setting): solvers without that
    option get it as `thresholding` at `clip_sample_range` (static clipping), which `AudioDiffusionPipeline` applies
    the DDIM way before each solver step (`editing.clip_consistently`): the solvers' own thresholding keeps the
    sample, carries the clipped-away part of x0 forward and turns some clips of briefly trained models into noise.
    """
    class_name, overrides = SCHEDULERS.get(name.lower(), (name, {}))
    found = scheduler_class(class_name)
    if found is None:
        raise ValueError(f"unknown scheduler {name!r}: choose from {', '.join(SCHEDULERS)} or a diffusers class name")
    accepted = inspect.signature(found.__init__).parameters
    if config.get("clip_sample") and "clip_sample" not in accepted and "thresholding" in accepted:
        overrides = {"thresholding": True, "sample_max_value": config.get("clip_sample_range", 1.0), **overrides}
    return found.from_config(config, **overrides)


def default_steps_for(scheduler: SchedulerMixin) -> int:
    """The reference defaults: 1000 steps for DDPM, 50 for DDIM; 20 for the fast solvers (DPM-Solver++, ...)."""
    return _DEFAULT_STEPS.get(type(scheduler).__name__, FAST_STEPS)
