"""UNet builders from architecture presets (`configs/models/*.yaml`), with optional genre conditioning.

A preset defines the architecture only; the sample size follows the dataset's images `(y_res, x_res)`, so any preset
trains on any resolution its down-sampling allows. Genre conditioning uses diffusers' class embeddings with one
extra class, index `len(genres)`, standing for "no genre" (classifier-free guidance; Ho and Salimans 2022).
"""

from __future__ import annotations

import dataclasses
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
        path = resolve_config_file(name_or_path, "models")
        return load_dataclass(cls, read_yaml(path), str(path))


def build_unet(preset: ModelPreset, sample_size: tuple[int, int], num_genres: int | None = None):
    """A fresh 1-channel `UNet2DModel` for images of `sample_size = (height, width)` = `(y_res, x_res)`.

    With `num_genres`, the model gets `num_genres + 1` class embeddings (the last is the unconditional label).
    """
    from diffusers import UNet2DModel

    height, width = (int(sample_size[0]), int(sample_size[1]))
    if height % preset.downsampling or width % preset.downsampling:
        raise ConfigError(
            f"images of {height}x{width} (y_res x x_res) do not fit this model: both sides must be multiples of "
            f"{preset.downsampling} ({len(preset.block_out_channels)} levels); choose another preset or resolution"
        )
    levels = range(len(preset.block_out_channels))
    down = tuple("AttnDownBlock2D" if level in preset.attention_levels else "DownBlock2D" for level in levels)
    up = tuple(reversed(["AttnUpBlock2D" if level in preset.attention_levels else "UpBlock2D" for level in levels]))
    return UNet2DModel(
        sample_size=(height, width) if height != width else height,
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


def null_label(num_genres: int) -> int:
    """Class index meaning "no genre" in a genre-conditioned model."""
    return num_genres


def count_parameters(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
