"""LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", arXiv 2106.09685) for the
diffusion backbones, through `peft`.

A fine-tune with `--lora-rank R` freezes the base model and trains, beside each targeted layer W, a low-rank update
`B A` (A: `(R, in)`, B: `(out, R)`, B starting at zero so the adapted model starts as the base), scaled by
`alpha / R`; a genre new to the base also trains its class-embedding row (`models.add_genre`), which is why the
class embedding stays trainable. What is targeted: the attention projections and the two 3x3 convolutions of every
ResNet block of the UNet (most of its weights are convolutions: attention alone would leave a 64-band UNet little to
adapt), and the attention and MLP projections of the DiT.

On disk (`save_adapter`): a folder `lora/` holding peft's `adapter_config.json` and `adapter_model.safetensors`
(the low-rank weights and the class embedding), plus `audiodiff_lora.json` naming the base model and a fingerprint
of its configuration, so an adapter is refused in one line on a base it was not trained on (`load_adapter`).
A fine-tuned pipeline folder stores the merged weights in `unet/` (every loader reads it: diffusers, the CLI, the
studio) and the adapter beside them in `lora/`, to share on its own or to apply, unmerged, to the base.

Requires the `lora` extra (`pip install audiodiff[lora]`; the Makefile installs it).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

ADAPTER_FOLDER = "lora"
RECORD_NAME = "audiodiff_lora.json"
# Layer names (suffixes) that receive adapters, by backbone class.
TARGETS: dict[str, list[str]] = {
    "UNet2DModel": ["to_q", "to_k", "to_v", "to_out.0", "conv1", "conv2"],
    "SpectrogramDiT": ["qkv", "proj", "mlp.0", "mlp.2"],
}
# Kept trainable (and saved with the adapter) besides the low-rank weights: a new genre's row lives here.
TRAINED_WHOLE = ("class_embedding",)


class LoraError(ValueError):
    """A LoRA option or adapter that cannot be used (one line, naming the option or folder)."""


def _peft():
    try:
        import peft
    except ImportError:
        raise LoraError("LoRA needs peft: pip install 'audiodiff[lora]' (or make install)") from None
    return peft


def check_rank(rank: int, alpha: float | None = None) -> None:
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise LoraError(f"--lora-rank must be a whole number of at least 1, got {rank!r}")
    if alpha is not None and not (isinstance(alpha, (int, float)) and 0 < alpha < float("inf")):
        raise LoraError(f"--lora-alpha must be a positive number, got {alpha!r}")


def fingerprint(model: nn.Module) -> str:
    """A short hash of the backbone's configuration (class and config), the same for a model and its fine-tunes'
    bases: what an adapter checks before it is applied. The class-embedding size is left out, since adding a genre
    changes it."""
    config = dict(getattr(model, "config", {}) or {})
    config = {key: value for key, value in config.items() if not key.startswith("_") and key != "num_class_embeds"}
    text = json.dumps({"class": type(model).__name__, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def add_adapter(model: nn.Module, rank: int, alpha: float | None = None) -> list[nn.Parameter]:
    """Freeze `model` and add rank-`rank` LoRA layers (scale `alpha / rank`, alpha defaulting to the rank) to its
    targeted layers (`TARGETS`), in place; the class embedding stays trainable. Returns the trainable parameters
    (for the optimizer), in a fixed order."""
    check_rank(rank, alpha)
    peft = _peft()
    targets = TARGETS.get(type(model).__name__)
    if targets is None:
        raise LoraError(f"--lora-rank: no LoRA targets for a {type(model).__name__} (UNet2DModel or SpectrogramDiT)")
    if is_adapted(model):
        raise LoraError("this model already carries a LoRA adapter")
    config = peft.LoraConfig(
        r=rank, lora_alpha=float(alpha if alpha is not None else rank), target_modules=targets, lora_dropout=0.0,
        init_lora_weights=True,
    )  # fmt: skip
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    peft.inject_adapter_in_model(config, model)
    model._audiodiff_lora = {"rank": rank, "alpha": float(alpha if alpha is not None else rank)}
    for name in TRAINED_WHOLE:
        module = getattr(model, name, None)
        if module is not None:
            module.requires_grad_(True)
    return [parameter for parameter in model.parameters() if parameter.requires_grad]


def is_adapted(model: nn.Module) -> bool:
    return any(".lora_" in name for name, _ in model.named_parameters())


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's weights: every LoRA tensor and the wholly trained modules (`TRAINED_WHOLE`), as peft names
    them (the base layers' weights are not included)."""
    peft = _peft()
    state = peft.get_peft_model_state_dict(model)
    for name in TRAINED_WHOLE:
        module = getattr(model, name, None)
        if module is not None:
            state.update({f"{name}.{key}": value for key, value in module.state_dict().items()})
    return {key: value.detach().clone().contiguous() for key, value in state.items()}


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights of the adapted `model` with every adapter merged into its layer (W + alpha/r B A, peft's
    `get_delta_weight`), under the plain model's names: what `unet/` of a fine-tuned folder holds, loadable by a
    model without peft. `model` itself is not touched (merging in place and back would move W by rounding)."""
    peft = _peft()
    state = {}
    for key, value in model.state_dict().items():
        if ".lora_" not in key:
            state[key.replace(".base_layer.", ".")] = value.detach().clone()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, peft.tuners.lora.LoraLayer):
                for adapter in module.active_adapters:
                    weight = state[f"{name}.weight"]
                    state[f"{name}.weight"] = weight + module.get_delta_weight(adapter).to(weight.dtype)
    return state


def save_adapter(
    model: nn.Module, folder: str | os.PathLike, base: str | None = None, genres: list[str] | None = None
) -> Path:
    """Write the adapter of `model` to `folder/lora/` (peft's `adapter_config.json` and
    `adapter_model.safetensors`, and `audiodiff_lora.json` with the base's name and fingerprint and the adapted
    model's genres). Returns that folder."""
    from safetensors.torch import save_file

    if not is_adapted(model):
        raise LoraError("this model carries no LoRA adapter to save")
    peft = _peft()
    target = Path(folder) / ADAPTER_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    settings = model._audiodiff_lora
    config = peft.LoraConfig(
        r=settings["rank"], lora_alpha=settings["alpha"], target_modules=TARGETS[type(model).__name__],
        lora_dropout=0.0,
    )  # fmt: skip
    config.save_pretrained(str(target))
    save_file(adapter_state(model), str(target / "adapter_model.safetensors"))
    record = {
        "base": base, "base_fingerprint": fingerprint(model), "rank": settings["rank"], "alpha": settings["alpha"],
        "class_embeds": _class_embeds(model), "genres": list(genres) if genres else None,
    }  # fmt: skip
    (target / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    return target


def read_record(folder: str | os.PathLike) -> dict[str, Any]:
    """`audiodiff_lora.json` of an adapter folder (`folder` itself or its `lora/`), or a LoraError naming it."""
    folder = Path(folder)
    if (folder / ADAPTER_FOLDER / RECORD_NAME).is_file():
        folder = folder / ADAPTER_FOLDER
    path = folder / RECORD_NAME
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise LoraError(f"{folder}: not a LoRA adapter folder (no {RECORD_NAME})") from None
    except (OSError, ValueError) as error:
        raise LoraError(f"{path}: unreadable ({error})") from None
    if not isinstance(record, dict) or "base_fingerprint" not in record:
        raise LoraError(f"{path}: not an audiodiff LoRA record")
    record["folder"] = str(folder)
    return record


def load_adapter(model: nn.Module, folder: str | os.PathLike, merge: bool = False) -> nn.Module:
    """Apply the adapter in `folder` (a fine-tuned pipeline folder or its `lora/`) to `model`, the base it was
    trained on, in place: unmerged (peft layers, the adapter can be inspected or removed) or, with `merge`, merged
    into the weights (a plain model again). A base with another configuration is refused in one line."""
    from safetensors.torch import load_file

    peft = _peft()
    record = read_record(folder)
    adapter = Path(record["folder"])
    if record["base_fingerprint"] != fingerprint(model):
        raise LoraError(
            f"{adapter}: this adapter was trained on another base ({record.get('base') or 'unnamed'}), not on this "
            f"{type(model).__name__}"
        )
    config = peft.LoraConfig.from_pretrained(str(adapter))
    state = load_file(str(adapter / "adapter_model.safetensors"))
    embeds = record.get("class_embeds")
    if embeds and embeds != _class_embeds(model):  # the adapter added a genre: its table replaces the base's
        old = model.class_embedding
        model.class_embedding = nn.Embedding(
            embeds, old.embedding_dim, device=old.weight.device, dtype=old.weight.dtype
        )
        model.register_to_config(num_class_embeds=embeds)
    add_adapter(model, config.r, config.lora_alpha)
    whole = {key: value for key, value in state.items() if key.split(".")[0] in TRAINED_WHOLE}
    for name in TRAINED_WHOLE:
        module = getattr(model, name, None)
        own = {key[len(name) + 1 :]: value for key, value in whole.items() if key.startswith(name + ".")}
        if module is not None and own:
            module.load_state_dict(own)
    result = peft.set_peft_model_state_dict(model, {k: v for k, v in state.items() if k not in whole})
    missing = [key for key in result.unexpected_keys if ".lora_" in key]
    if missing:
        raise LoraError(f"{adapter}: adapter weights that fit no layer of this model ({missing[0]}, ...)")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    if merge:
        merge_into(model)
    return model


def apply_to_pipeline(pipeline, folder: str | os.PathLike, merge: bool = True):
    """`load_adapter` on `pipeline.unet`, and the adapter's genres (a genre it added) on the pipeline. Returns the
    pipeline."""
    record = read_record(folder)
    load_adapter(pipeline.unet, folder, merge=merge)
    if record.get("genres"):
        pipeline.genres = list(record["genres"])
    return pipeline


def merge_into(model: nn.Module) -> nn.Module:
    """Merge every adapter into its layer and remove the peft wrappers, in place: the plain model, as diffusers
    builds it."""
    state = merged_state_dict(model)
    peft = _peft()
    for name, module in list(model.named_modules()):
        if isinstance(module, peft.tuners.tuners_utils.BaseTunerLayer):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    model.load_state_dict(state)
    if hasattr(model, "_audiodiff_lora"):
        del model._audiodiff_lora
    return model


def _class_embeds(model: nn.Module) -> int | None:
    embedding = getattr(model, "class_embedding", None)
    return int(embedding.num_embeddings) if isinstance(embedding, nn.Embedding) else None
