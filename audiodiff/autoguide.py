"""Autoguidance: sampling a model guided by a weaker model of the same kind (Karras et al. 2024, arXiv 2406.02507).

At every step the prediction is `weak + w (strong - weak)` (`denoisers.autoguided`): it moves away from what the
weaker model would make, towards what only the stronger one learned. Karras et al. guide with a smaller,
shorter-trained copy of the model. For a fine-tune the natural weaker model is the base it started from: the two
differ in what the fine-tune learned from the user's songs, so guidance above 1 brings more of the songs and less of
the base into the clips (BENCHMARKS.md "Guided by the base").

`AudioDiffusionPipeline.set_guide` loads and checks the guide; this module holds what it checks and how a genre of
the guided model is told to the guide.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from audiodiff.config import COMPATIBLE_KEYS
from audiodiff.utils import first_line

# The guide named by this word is the model a fine-tune started from (its folder records it).
BASE = "base"
# The guide named by this word is the one the model's folder recommends (`recommended`), or none where it has none.
AUTO = "auto"
# This word (or None) samples without a guide.
NONE = "none"
# The scale `set_guide` and `--guide` use when none is given, measured on a ten-song fine-tune (BENCHMARKS.md "Guided
# by the base"): genre share 0.94-0.98 against 0.85-0.89 unguided, no near-copies, COLA recall 0.78 against 0.89;
# 1.5 gave 0.97-0.99 for recall 0.74 and 1.72x real music's spectral detail, 2 recall 0.33.
DEFAULT_SCALE = 1.25


def base_of(training: dict[str, Any]) -> str:
    """The pretrained model a fine-tune started from (its `training` record's `pretrained`). ValueError (one line)
    for a model trained from scratch or a folder that does not say."""
    base = (training or {}).get("pretrained")
    if not base:
        raise ValueError(
            "guide 'base': this model records no base it was fine-tuned from (trained from scratch, or a folder "
            "made elsewhere); give the guiding model's folder or name instead"
        )
    return str(base)


def recommendation(value: Any) -> dict[str, Any] | None:
    """A folder's recommended guide `{"model": name, "scale": w}` checked and normalised (None: no recommendation).
    ValueError (one line) for anything else: a recommendation is what `auto` samples with, so a bad one is refused
    when it is set, not at the first clip."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"model", "scale"}:
        raise ValueError(f"a recommended guide is {{'model': name, 'scale': w}}, not {value!r}")
    model, scale = value["model"], value["scale"]
    if not isinstance(model, str) or not model.strip() or model in (AUTO, NONE):
        raise ValueError(f"a recommended guide's model must name a model ('base', a name or folder), not {model!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
        raise ValueError(f"a recommended guide's scale must be a finite number of at least 0, not {scale!r}")
    return {"model": model, "scale": float(scale)}


def requested(guide: str | None, scale: float | None, recommended: dict[str, Any] | None) -> tuple[str, float | None]:
    """What `--guide GUIDE --guide-scale SCALE` ask of a model whose folder recommends `recommended`, as
    `set_guide`'s `(guide, scale)`: neither given is the recommendation (`AUTO`); a scale alone is the recommended
    guide's model, else the base, at that scale; a guide is itself."""
    if guide is not None:
        return guide, scale
    if scale is None:
        return AUTO, None
    return (recommended or {}).get("model", BASE), scale


def follow(pipeline, guide: str | None, scale: float | None, warn: Callable[[str], None]) -> bool:
    """Set `pipeline`'s guide (`set_guide`) as `--guide GUIDE --guide-scale SCALE` ask (`requested`). Where nothing
    was asked (neither, or GUIDE "auto" alone) and the guide the folder recommends cannot load, `warn` is told in one
    line and the pipeline samples unguided, since nobody asked for that guide; a guide asked for that cannot load
    raises ValueError (one line). Returns whether a guide was asked for. The one rule of the CLI, the studio and
    `evaluate`."""
    asked = guide not in (None, AUTO) or scale is not None
    guide, scale = requested(guide, scale, pipeline.recommended_guide)
    try:
        pipeline.set_guide(guide, scale)
    except ValueError as error:
        if asked:
            raise
        warn(f"not guided as the model's folder recommends: {first_line(error)}")
        pipeline.set_guide(None)
    return asked


def check_guide(pipeline, guide, name: str) -> None:
    """ValueError (one line, naming the guide `name`) unless `guide` can guide `pipeline`: both diffusion models
    (not distilled students) on samples of the same shape and mel settings, with the same noise schedule and
    prediction type, so that their predictions can be mixed."""
    for which, model in (("this pipeline", pipeline), (f"guide {name}", guide)):
        if model.distillation is not None:
            raise ValueError(f"{which} is a distilled student: autoguidance mixes two diffusion models' predictions")
    if (pipeline.vqvae is None) != (guide.vqvae is None):
        raise ValueError(f"guide {name}: one model is latent (has a VAE) and the other is not")
    if guide.latent_shape != pipeline.latent_shape:
        raise ValueError(
            f"guide {name} makes samples of shape {guide.latent_shape}, this pipeline {pipeline.latent_shape}"
        )
    different = pipeline.mel_config.mismatches(guide.mel_config, keys=("x_res", *COMPATIBLE_KEYS))
    if different:
        key = different[0]
        raise ValueError(
            f"guide {name} has {key}={getattr(guide.mel_config, key)} but this pipeline "
            f"{key}={getattr(pipeline.mel_config, key)}: its images mean something else"
        )
    ours, theirs = _training_schedule(pipeline.scheduler), _training_schedule(guide.scheduler)
    if ours[0] != theirs[0]:
        raise ValueError(f"guide {name} predicts {theirs[0]}, this pipeline {ours[0]}: their outputs cannot be mixed")
    if ours[1].shape != theirs[1].shape or not torch.allclose(ours[1], theirs[1]):
        raise ValueError(f"guide {name} was trained on another noise schedule than this pipeline")


def _training_schedule(scheduler) -> tuple[str, torch.Tensor]:
    """(prediction type, alphas_cumprod) of the DDPM process a scheduler's config describes."""
    import diffusers

    ddpm = diffusers.DDPMScheduler.from_config(dict(scheduler.config))
    return str(ddpm.config.prediction_type), ddpm.alphas_cumprod.double()


def guide_labels(labels: torch.Tensor | None, genres, guide_genres, guide_null: int | None) -> torch.Tensor | None:
    """The guide's class labels for the guided model's `labels` `(batch,)` (indices into `genres`, its null label
    after them; None: unconditional): the same genre by name where the guide knows it, else the guide's
    unconditional label (a genre the fine-tune added is asked of the base as "no genre"). None for a guide without
    classes. An unconditional guided model asks a conditional guide unconditionally too."""
    if guide_null is None:
        return None
    if labels is None:
        return torch.tensor([guide_null])
    known = list(guide_genres or [])
    names = list(genres or [])
    mapped = [known.index(names[i]) if i < len(names) and names[i] in known else guide_null for i in labels.tolist()]
    return torch.tensor(mapped, device=labels.device)
