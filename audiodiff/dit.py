"""A diffusion transformer for spectrogram images: DiT (Peebles and Xie 2023, "Scalable diffusion models with
transformers"), in pixel space, with adaLN-Zero conditioning on the timestep and the genre label.

Why not diffusers' `DiTTransformer2DModel`: it un-patchifies square images only (spectrograms are `n_mels` x frames,
and a variable-width model samples 2x and 4x wide ones), its label embedding drops labels at random through the
global RNG in training mode (audiodiff drops them itself, from the run's own generator, so that a resumed run is
exact), it needs a label even for an unconditional model, and it keeps one label table per block.

`SpectrogramDiT` is called as `UNet2DModel` is: `model(sample, timestep, class_labels=None).sample`, with
`num_class_embeds` (genres + 1, the last the null label) and `sample_size` in its config, so the pipeline, training,
fine-tuning, distillation and DDIM inversion take either backbone. The position of each patch is a fixed 2-D sine
embedding computed for the image at hand (frequency band and time), so any width that is a multiple of the patch
size works. It saves and loads with diffusers' `save_pretrained` / `from_pretrained`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

TIMESTEP_FEATURES = 256

# The sizes a saved `SpectrogramDiT` config.json may ask for (`models.check_backbone_folder`), far beyond every preset
# (dit-256: width 768, 12 blocks, 12 heads, patches of 8) and DiT-XL (1152, 28, 16): they keep a hostile config from
# sizing a network that a shapes-only build could not afford, before its tensors are compared with the weights file.
# `sample_size` (one side or [height, width]) is in no weight: it sizes every sample drawn.
LIMITS: dict[str, tuple[float, float]] = {
    "sample_size": (1, 4096),
    "in_channels": (1, 16),
    "out_channels": (1, 16),
    "patch_size": (1, 64),
    "hidden_size": (4, 8192),
    "depth": (1, 64),
    "num_heads": (1, 256),
    "mlp_ratio": (0, 16),
    "num_class_embeds": (1, 100_000),
}


def sine_features(positions: torch.Tensor, features: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sine/cosine features of `positions` (`(n,)` float) as in the transformer: returns `(n, features)`."""
    half = features // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=positions.device) / half)
    angles = positions.float()[:, None] * frequencies[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def patch_positions(rows: int, columns: int, dim: int, device) -> torch.Tensor:
    """Fixed 2-D position embedding of a `rows` x `columns` patch grid, row-major: `(rows * columns, dim)`; the first
    half of the features encodes the row (frequency band), the second the column (time)."""
    row = sine_features(torch.arange(rows, device=device), dim // 2)
    column = sine_features(torch.arange(columns, device=device), dim // 2)
    return torch.cat([row[:, None].expand(rows, columns, -1), column[None].expand(rows, columns, -1)], dim=-1).flatten(
        0, 1
    )


def modulate(tokens: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: `tokens (batch, n, dim) * (1 + scale) + shift`, shift and scale `(batch, 1, dim)`."""
    return tokens * (1 + scale) + shift


class DiTBlock(nn.Module):
    """Pre-norm self-attention and MLP, both modulated and gated by the conditioning vector (adaLN-Zero: the gates
    start at zero, so each block starts as the identity)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.modulation = nn.Linear(dim, 6 * dim)

    def forward(self, tokens: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """tokens: `(batch, n, dim)`; condition: `(batch, dim)` (already through SiLU). Returns `(batch, n, dim)`."""
        batch, count, dim = tokens.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(condition)[:, None].chunk(6, dim=-1)
        query, key, value = (
            self.qkv(modulate(self.norm1(tokens), shift1, scale1))
            .view(batch, count, 3, self.heads, dim // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        attended = F.scaled_dot_product_attention(query, key, value).transpose(1, 2).reshape(batch, count, dim)
        tokens = tokens + gate1 * self.proj(attended)
        return tokens + gate2 * self.mlp(modulate(self.norm2(tokens), shift2, scale2))


class SpectrogramDiT(ModelMixin, ConfigMixin):
    """DiT over `(batch, in_channels, height, width)` images, `height` and `width` multiples of `patch_size`.

    `sample_size` is the training image size `(height, width)` (or one int for square images), as in `UNet2DModel`;
    `num_class_embeds`, when set, is the number of labels including the null label of classifier-free guidance.
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int | tuple[int, int] = 64,
        in_channels: int = 1,
        out_channels: int = 1,
        patch_size: int = 4,
        hidden_size: int = 192,
        depth: int = 6,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        num_class_embeds: int | None = None,
        output_conv: bool = False,
    ):
        super().__init__()
        if hidden_size % num_heads or hidden_size % 4:
            raise ValueError(f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads} and of 4")
        self.patch_embed = nn.Conv2d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size)
        self.time_embed = nn.Sequential(
            nn.Linear(TIMESTEP_FEATURES, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )
        self.class_embedding = nn.Embedding(num_class_embeds, hidden_size) if num_class_embeds else None
        self.blocks = nn.ModuleList(DiTBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth))
        self.norm_out = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.modulation_out = nn.Linear(hidden_size, 2 * hidden_size)
        self.proj_out = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        # U-ViT's (Bao et al. 2023) 3x3 convolution after un-patchifying: neighbouring patches' edges meet smoothly.
        self.conv_out = nn.Conv2d(out_channels, out_channels, 3, padding=1) if output_conv else None
        self._initialise()

    def _initialise(self) -> None:
        """DiT's initialisation: Xavier-uniform linear layers, the patch embedding like a linear layer, N(0, 0.02)
        embeddings, and zero for every modulation and the output layer (adaLN-Zero)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        weight = self.patch_embed.weight
        nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        for layer in (self.time_embed[0], self.time_embed[2]):
            nn.init.normal_(layer.weight, std=0.02)
        if self.class_embedding is not None:
            nn.init.normal_(self.class_embedding.weight, std=0.02)
        for layer in [block.modulation for block in self.blocks] + [self.modulation_out, self.proj_out]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        if self.conv_out is not None:  # starts as the identity
            nn.init.zeros_(self.conv_out.weight)
            nn.init.zeros_(self.conv_out.bias)
            with torch.no_grad():
                for channel in range(self.conv_out.out_channels):
                    self.conv_out.weight[channel, channel, 1, 1] = 1.0

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        class_labels: torch.Tensor | None = None,
        return_dict: bool = True,
    ):
        """sample: `(batch, in_channels, height, width)`; timestep: a number, `()` or `(batch,)`; class_labels:
        `(batch,)` label indices (required when the model has labels). Returns `.sample`, `(batch, out_channels,
        height, width)`."""
        config = self.config
        batch, _, height, width = sample.shape
        patch = config.patch_size
        if height % patch or width % patch:
            raise ValueError(f"image {height}x{width} is not a multiple of the patch size {patch}")
        if self.class_embedding is not None and class_labels is None:
            raise ValueError("class_labels are required: the model is conditioned on labels")
        timesteps = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(batch)
        condition = self.time_embed(sine_features(timesteps, TIMESTEP_FEATURES).to(sample.dtype))
        if self.class_embedding is not None:
            condition = condition + self.class_embedding(class_labels.to(sample.device).reshape(batch))
        condition = F.silu(condition)
        rows, columns = height // patch, width // patch
        tokens = self.patch_embed(sample).flatten(2).transpose(1, 2)
        tokens = tokens + patch_positions(rows, columns, config.hidden_size, sample.device).to(tokens.dtype)
        for block in self.blocks:
            tokens = block(tokens, condition)
        shift, scale = self.modulation_out(condition)[:, None].chunk(2, dim=-1)
        patches = self.proj_out(modulate(self.norm_out(tokens), shift, scale))
        output = (
            patches.view(batch, rows, columns, patch, patch, config.out_channels)
            .permute(0, 5, 1, 3, 2, 4)
            .reshape(batch, config.out_channels, height, width)
        )
        if self.conv_out is not None:
            output = self.conv_out(output)
        if not return_dict:
            return (output,)
        return Transformer2DModelOutput(sample=output)
