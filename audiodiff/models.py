"""Backbone builders from architecture presets (`configs/models/*.yaml`), with optional genre conditioning.

Two backbones: diffusers' `UNet2DModel` (the reference's, `ModelPreset`) and audiodiff's diffusion transformer
`SpectrogramDiT` (`DiTPreset`, a preset file with `backbone: dit`). Both are called the same way
(`model(sample, timestep, class_labels=...).sample`) and carry `sample_size`, `in_channels` and `num_class_embeds`
in their config, so the code past `build_model` / `load_backbone` does not ask which one it has.

A preset defines the architecture only; the sample size follows the dataset's images `(y_res, x_res)`, so any preset
trains on any resolution its down-sampling (or patch size) allows. Genre conditioning uses class embeddings with one
extra class, index `len(genres)`, standing for "no genre" (classifier-free guidance; Ho and Salimans 2022).
"""

from __future__ import annotations

import dataclasses
import math
import os

from audiodiff.config import (  # noqa: F401 - CONFIGS_ENV and configs_dir re-exported: they lived here before
    CONFIGS_ENV,
    ConfigError,
    configs_dir,
    load_dataclass,
    read_yaml,
    resolve_config_file,
)


@dataclasses.dataclass(frozen=True)
class ModelPreset:
    """UNet2DModel architecture. `attention_levels` are 0-based down-block indices that get self-attention;
    the up path mirrors them."""

    block_out_channels: tuple[int, ...]
    layers_per_block: int = 2
    attention_levels: tuple[int, ...] = ()
    norm_num_groups: int = 32
    attention_head_dim: int = 8
    mid_attention: bool = True
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_out_channels", tuple(int(c) for c in self.block_out_channels))
        object.__setattr__(self, "attention_levels", tuple(int(level) for level in self.attention_levels))
        levels = len(self.block_out_channels)
        if levels < 2:
            raise ConfigError("block_out_channels needs at least two levels")
        for level in self.attention_levels:
            if not 0 <= level < levels:
                raise ConfigError(f"attention level {level} outside 0..{levels - 1}")
        for channels in self.block_out_channels:
            if channels % self.norm_num_groups:
                raise ConfigError(f"block channels {channels} not divisible by norm_num_groups {self.norm_num_groups}")

    @property
    def downsampling(self) -> int:
        """Total down-sampling factor: image sides must be multiples of it."""
        return 2 ** (len(self.block_out_channels) - 1)

    @classmethod
    def load(cls, name_or_path: str | os.PathLike) -> ModelPreset:
        """A UNet preset (`load_model_preset` takes either backbone)."""
        preset = load_model_preset(name_or_path)
        if not isinstance(preset, cls):
            raise ConfigError(f"{name_or_path} is a {preset.backbone} preset, not a UNet preset")
        return preset


@dataclasses.dataclass(frozen=True)
class DiTPreset:
    """`SpectrogramDiT` architecture (`audiodiff/dit.py`): square patches of `patch_size` pixels, `depth`
    blocks of width `hidden_size` with `num_heads` attention heads; `output_conv` adds a 3x3 convolution after
    un-patchifying (U-ViT)."""

    patch_size: int
    hidden_size: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    output_conv: bool = False
    backbone: str = "dit"

    def __post_init__(self) -> None:
        for name in ("patch_size", "hidden_size", "depth", "num_heads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads or self.hidden_size % 4:
            raise ConfigError(f"hidden_size {self.hidden_size} must be a multiple of num_heads {self.num_heads} and 4")
        if not 0 < self.mlp_ratio < math.inf:
            raise ConfigError(f"mlp_ratio must be a positive number, got {self.mlp_ratio}")
        if self.backbone != "dit":
            raise ConfigError(f"a DiT preset has backbone: dit, got {self.backbone!r}")

    @property
    def downsampling(self) -> int:
        """Image sides must be multiples of the patch size."""
        return self.patch_size


BACKBONES = ("unet", "dit")


def load_model_preset(name_or_path: str | os.PathLike) -> ModelPreset | DiTPreset:
    """A model preset by name (`configs/models/<name>.yaml`) or path: a `DiTPreset` when the file says
    `backbone: dit`, else a `ModelPreset` (UNet)."""
    path = resolve_config_file(name_or_path, "models")
    values = read_yaml(path)
    backbone = values.get("backbone", "unet")
    if backbone not in BACKBONES:
        raise ConfigError(f"{path}: backbone must be one of {', '.join(BACKBONES)}, got {backbone!r}")
    if backbone == "dit":
        return load_dataclass(DiTPreset, values, str(path))
    values.pop("backbone", None)
    return load_dataclass(ModelPreset, values, str(path))


def build_model(preset: ModelPreset | DiTPreset, sample_size: tuple[int, int], num_genres: int | None = None):
    """A fresh 1-channel backbone for images of `sample_size = (height, width)`: `build_unet` for a `ModelPreset`,
    a `SpectrogramDiT` for a `DiTPreset`. With `num_genres`, `num_genres + 1` labels (the last is the null label)."""
    if isinstance(preset, ModelPreset):
        return build_unet(preset, sample_size, num_genres)
    from audiodiff.dit import SpectrogramDiT

    return SpectrogramDiT(
        sample_size=_config_sample_size(sample_size, preset.patch_size, f"its patch size {preset.patch_size}"),
        patch_size=preset.patch_size,
        hidden_size=preset.hidden_size,
        depth=preset.depth,
        num_heads=preset.num_heads,
        mlp_ratio=preset.mlp_ratio,
        num_class_embeds=None if not num_genres else num_genres + 1,
        output_conv=preset.output_conv,
    )


def backbone_classes() -> dict[str, type]:
    """The model classes a pipeline folder's `unet/` may hold, by their saved `_class_name`."""
    from diffusers import UNet2DModel

    from audiodiff.dit import SpectrogramDiT

    return {"UNet2DModel": UNet2DModel, "SpectrogramDiT": SpectrogramDiT}


def backbone_class(class_name: str | None) -> type:
    """The class saved as `class_name`; ValueError naming the known ones otherwise."""
    classes = backbone_classes()
    if class_name not in classes:
        raise ValueError(f"the denoiser is {class_name}, audiodiff samples {' or '.join(classes)} checkpoints")
    return classes[class_name]


def load_backbone(folder: str | os.PathLike, **kwargs):
    """The denoiser saved in `folder` (a `save_pretrained` folder with config.json), of the class it names; its
    config.json is checked against its weights first (`check_backbone_folder`)."""
    return aligned(check_backbone_folder(folder).from_pretrained(folder, **kwargs))


# The sizes a saved `UNet2DModel` config.json may ask for (`check_backbone_folder`), far beyond every preset (ref-256:
# six levels of at most 512 channels, 2 layers per block, 256x256 images): they keep a hostile config from sizing a
# network that even a shapes-only build could not afford. `block_out_channels` is a list of 1..8 levels, `sample_size`
# one side or [height, width] (in no weight: it sizes every sample drawn), `downsample_padding` is in no weight either
# (a huge padding would size every activation) and `num_train_timesteps` sizes only a learned time embedding.
UNET_LIMITS: dict[str, tuple[float, float]] = {
    "sample_size": (1, 4096),
    "in_channels": (1, 16),
    "out_channels": (1, 16),
    "block_out_channels": (1, 4096),
    "layers_per_block": (1, 16),
    "attention_head_dim": (1, 4096),
    "norm_num_groups": (1, 4096),
    "attn_norm_num_groups": (1, 4096),
    "num_class_embeds": (1, 100_000),
    "time_embedding_dim": (1, 16384),
    "num_train_timesteps": (1, 100_000),
    "downsample_padding": (0, 16),
    "dropout": (0, 1),
}
# How many elements a list-valued key may have.
BACKBONE_LENGTHS = {"block_out_channels": (1, 8), "sample_size": (1, 2)}
# Keys a saved config may leave null (the class then derives them, or has none).
BACKBONE_OPTIONAL = (
    "sample_size",
    "attention_head_dim",
    "attn_norm_num_groups",
    "num_class_embeds",
    "time_embedding_dim",
    "num_train_timesteps",
)
# Keys in no weight's shape: left out of the "weights do not match" message.
UNSHAPED_KEYS = ("sample_size", "downsample_padding", "dropout")


def backbone_limits(backbone: type) -> dict[str, tuple[float, float]]:
    """The ranges `check_backbone_folder` allows for `backbone`'s config keys."""
    if backbone.__name__ == "SpectrogramDiT":
        from audiodiff.dit import LIMITS

        return LIMITS
    return UNET_LIMITS


def check_backbone_config(config: object, source: str | os.PathLike, backbone: type | None = None):
    """`(backbone, module, settings)` for a denoiser's saved `config` (read from `source`, named in errors): its
    class (`backbone`, or the one its `_class_name` names), the network it describes built on the meta device (no
    storage), and the keys that size it, for messages. One-line `ConfigError` naming `source` and the key when a size
    is out of `backbone_limits` (checked before the build, so that even a shapes-only build stays cheap) or the values
    make no network (channels not divisible by the groups, block types of the wrong count, ...)."""
    import torch

    from audiodiff.utils import first_line
    from audiodiff.weights import check_sizes

    if not isinstance(config, dict):
        raise ConfigError(f"{source}: expected a JSON object of settings, got {type(config).__name__}")
    if backbone is None:
        try:
            backbone = backbone_class(config.get("_class_name"))
        except ValueError as error:
            raise ConfigError(f"{source}: {error}") from None
    checked = check_sizes(config, backbone_limits(backbone), source, BACKBONE_LENGTHS, BACKBONE_OPTIONAL)
    settings = {key: value for key, value in checked.items() if key not in UNSHAPED_KEYS and value is not None}
    try:
        with torch.device("meta"):
            module = backbone.from_config(config)
    except Exception as error:  # noqa: BLE001 - values in range may still make no network
        raise ConfigError(
            f"{source}: does not describe a {backbone.__name__} ({type(error).__name__}: {first_line(error)})"
        ) from None
    return backbone, module, settings


def check_backbone_folder(folder: str | os.PathLike, backbone: type | None = None) -> type:
    """Check a denoiser folder (`unet/`: config.json and its weights) before `from_pretrained` builds it, and return
    its class (`backbone`, or the one its config's `_class_name` names). One-line `ConfigError` naming the file.

    Why: `from_pretrained` builds the network config.json describes before it reads a weight, so a hostile or damaged
    config (`block_out_channels` [32, 64, 200000], `layers_per_block` 10**6, a `num_class_embeds` of 10**9) would ask
    for terabytes, end in an allocator traceback or build for hours. So, as `audiodiff.weights` does for vocoders:
    the config is read size-limited, the keys that size the network are range-checked and the network is built on
    the meta device (`check_backbone_config`), and every tensor it makes must be in the weights with the same shape.
    The weights' shapes come from the safetensors header (sharded or not), which must hold exactly these tensors, or
    from a reference checkpoint's `.bin` read onto the meta device (no tensor's bytes are read), which must hold these
    tensors (diffusers ignores any more, and renames old attention weights of a single file in both formats). Then
    the real build allocates what the file holds.
    """
    from pathlib import Path

    from diffusers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFETENSORS_WEIGHTS_NAME, WEIGHTS_NAME

    from audiodiff.weights import check_weights_fit, pickled_weight_shapes, read_config, weight_shapes

    folder = Path(folder)
    config_path = folder / "config.json"
    backbone, module, settings = check_backbone_config(read_config(config_path), config_path, backbone)
    expected = {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}

    def renamed(shapes: dict) -> dict:  # as diffusers renames a single file's old attention weights when loading
        return module._fix_state_dict_keys_on_load(dict(shapes))

    index_path = folder / SAFE_WEIGHTS_INDEX_NAME
    if index_path.is_file():  # sharded safetensors: what diffusers loads first
        index = read_config(index_path)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict):
            raise ConfigError(f"{index_path}: no weight_map of tensor names to shard files")
        shapes = {}
        for shard in sorted(set(map(str, weight_map.values()))):
            if Path(shard).name != shard or shard in ("", ".", ".."):
                raise ConfigError(f"{index_path}: shard {shard!r} is not a file name in {folder}")
            shapes.update(weight_shapes(folder / shard))
        check_weights_fit(expected, shapes, index_path, config_path.name, settings)
    elif (folder / SAFETENSORS_WEIGHTS_NAME).is_file():
        weights_path = folder / SAFETENSORS_WEIGHTS_NAME
        check_weights_fit(expected, renamed(weight_shapes(weights_path)), weights_path, config_path.name, settings)
    elif (folder / WEIGHTS_NAME).is_file():
        weights_path = folder / WEIGHTS_NAME
        held = renamed(pickled_weight_shapes(weights_path))
        held = {name: shape for name, shape in held.items() if name in expected}
        check_weights_fit(expected, held, weights_path, config_path.name, settings)
    else:
        raise ConfigError(f"{folder}: no {SAFETENSORS_WEIGHTS_NAME} or {WEIGHTS_NAME} next to its config.json")
    return backbone


# The allocator's alignment: the widest vector a CPU kernel loads (AVX-512: 64 bytes).
ALIGNMENT = 64


def aligned(module):
    """`module` with every parameter and buffer in memory of its own, aligned to `ALIGNMENT` bytes, as a freshly
    built model's are (returned for chaining; changed in place).

    diffusers' `from_pretrained` hands the tensors of a safetensors file over as they lie in the file's buffer,
    4-byte aligned. MKL's matrix products round differently for aligned and unaligned operands on some CPUs (AVX-512
    EPYC), so a run resumed from a checkpoint drifted from the same run never stopped in the 7th digit; copied into
    aligned memory, the loaded weights compute exactly what the saved ones did (and are not slower to read)."""
    import torch

    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.device.type == "cpu" and tensor.data_ptr() % ALIGNMENT:
                tensor.data = tensor.data.clone(memory_format=torch.preserve_format)
    return module


def build_unet(preset: ModelPreset, sample_size: tuple[int, int], num_genres: int | None = None):
    """A fresh 1-channel `UNet2DModel` for images of `sample_size = (height, width)` = `(y_res, x_res)`.

    With `num_genres`, the model gets `num_genres + 1` class embeddings (the last is the unconditional label).
    """
    from diffusers import UNet2DModel

    levels = range(len(preset.block_out_channels))
    multiple = f"{preset.downsampling} ({len(preset.block_out_channels)} levels)"
    down = tuple("AttnDownBlock2D" if level in preset.attention_levels else "DownBlock2D" for level in levels)
    up = tuple(reversed(["AttnUpBlock2D" if level in preset.attention_levels else "UpBlock2D" for level in levels]))
    return UNet2DModel(
        sample_size=_config_sample_size(sample_size, preset.downsampling, multiple),
        in_channels=1,
        out_channels=1,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=preset.block_out_channels,
        layers_per_block=preset.layers_per_block,
        norm_num_groups=preset.norm_num_groups,
        attention_head_dim=preset.attention_head_dim,
        add_attention=preset.mid_attention,
        dropout=preset.dropout,
        num_class_embeds=None if not num_genres else num_genres + 1,
    )


def _config_sample_size(sample_size: tuple[int, int], multiple: int, described: str) -> int | tuple[int, int]:
    """`sample_size = (height, width)` as a model config stores it (one int for square images), after checking that
    both sides are multiples of `multiple` (`described` says what it is, for the error)."""
    height, width = (int(sample_size[0]), int(sample_size[1]))
    if height % multiple or width % multiple:
        raise ConfigError(
            f"images of {height}x{width} (y_res x x_res) do not fit this model: both sides must be multiples of "
            f"{described}; choose another preset or resolution"
        )
    return (height, width) if height != width else height


def null_label(num_genres: int) -> int:
    """Class index meaning "no genre" in a genre-conditioned model."""
    return num_genres


def add_genre(model, genres: list[str], genre: str, start_from: int | None = None) -> list[str]:
    """Teach a genre-conditioned backbone (UNet or DiT, `class_embedding` with `len(genres) + 1` rows, the last the
    null label) a genre it does not know: a new class row, initialised from the row `start_from` (a known genre's
    index) or, when None, from the null label's embedding, so that before any fine-tuning the new genre is generated
    as that genre, or as the model's unconditional output (the average of what it knows), not from a random vector.
    The null label moves to the new last row; the known genres keep their rows. Changes `model` in place (its
    config's `num_class_embeds` too) and returns the new genre list."""
    import torch

    old = getattr(model, "class_embedding", None)
    if not isinstance(old, torch.nn.Embedding) or old.num_embeddings != len(genres) + 1:
        raise ValueError(f"the model is not conditioned on the {len(genres)} genres {', '.join(genres)}")
    if genre in genres:
        raise ValueError(f"the model already knows genre {genre!r}")
    known = len(genres)
    if start_from is not None and not 0 <= start_from < known:
        raise ValueError(f"start_from {start_from} is not one of the model's {known} genres")
    new = torch.nn.Embedding(known + 2, old.embedding_dim, device=old.weight.device, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight[:known] = old.weight[:known]
        new.weight[known] = old.weight[known if start_from is None else start_from]  # the new genre's start ...
        new.weight[known + 1] = old.weight[known]  # ... and the unconditional label, which stays last
    new.weight.requires_grad_(old.weight.requires_grad)
    model.class_embedding = new
    model.register_to_config(num_class_embeds=known + 2)
    return [*genres, genre]


def count_parameters(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
