"""Helpers shared by the test files: the tiny mel settings, a tiny UNet and pipeline on them, seeded generators, a
synthesized clip, and a denoiser whose answer is known. A plain module (pytest puts tests/ on sys.path), so that
only the files that use them import diffusers and the pipeline; conftest.py keeps the fixtures."""

from __future__ import annotations

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.models.unets.unet_2d import UNet2DOutput

from audiodiff.config import MelConfig
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.synth import synthesize

# 32x32 images at 8 kHz: slices of 2047 samples (0.26 s).
MEL = MelConfig(x_res=32, y_res=32, sample_rate=8000, n_fft=256, hop_length=64, n_iter=4)


def tiny_unet(num_class_embeds: int | None = None, channels: int = 1, size: int = 32) -> UNet2DModel:
    """A two-level UNet of a few thousand parameters on `(batch, channels, size, size)` samples; the same weights on
    every call (seeded here, since diffusers initialises from the global generator)."""
    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=size,
        in_channels=channels,
        out_channels=channels,
        layers_per_block=1,
        block_out_channels=(8, 16),
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        num_class_embeds=num_class_embeds,
    )


def tiny_pipeline(genres=None, scheduler: str = "ddim", **kwargs) -> AudioDiffusionPipeline:
    """`tiny_unet` at `MEL` with a DDPM training schedule, sampling with `scheduler`, progress bars off."""
    unet = tiny_unet(len(genres) + 1 if genres else None)
    pipe = AudioDiffusionPipeline(unet=unet, scheduler=DDPMScheduler(), mel_config=MEL, genres=genres, **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe.set_scheduler(scheduler)


def seeded(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with `seed`."""
    return torch.Generator().manual_seed(seed)


def clip(seconds: float = 0.26, genre: str = "pads") -> np.ndarray:
    """`seconds` of synthesized `genre` music at `MEL`'s sample rate: `(time,)` float32, the same on every call."""
    return synthesize(genre, seconds, MEL.sample_rate, seed=1)


class StationaryDenoiser(UNet2DModel):
    """Exact noise prediction for Gaussian data N(mean, std^2 I), `mean` a harmonic spectrum constant over time.

    The minimum-mean-square-error denoiser of that distribution: samples are steady tones, which makes clicks at
    slice joins measurable.
    """

    def __init__(self, width: int = 32):
        super().__init__(
            sample_size=(32, width), in_channels=1, out_channels=1, block_out_channels=(4, 4), norm_num_groups=2,
            layers_per_block=1, down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2,
            add_attention=False,
        )  # fmt: skip
        rows = torch.full((32,), -0.9)
        rows[[6, 12, 17]] = 0.9
        self.register_buffer("mean", rows.reshape(1, 1, 32, 1).expand(1, 1, 32, width).clone())
        self.std = 0.05
        self.alphas_cumprod = DDPMScheduler().alphas_cumprod

    def forward(self, sample, timestep, class_labels=None, return_dict=True):
        alpha = self.alphas_cumprod[int(torch.as_tensor(timestep).reshape(-1)[0])]
        variance = self.std**2
        gain = alpha.sqrt() * variance / (alpha * variance + 1 - alpha)
        denoised = self.mean + gain * (sample - alpha.sqrt() * self.mean)
        return UNet2DOutput(sample=(sample - alpha.sqrt() * denoised) / (1 - alpha).sqrt())
