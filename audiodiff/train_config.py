"""The recipe of a diffusion training run: `TrainConfig` (`configs/train/*.yaml`, every value range-checked when it is
built) and `TrainingError`, what a run that cannot start or go on raises. Used by `training.Trainer` and, extended,
by `distillation.DistillConfig`."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, ClassVar

from audiodiff.config import ConfigError, load_dataclass, read_yaml, resolve_config_file
from audiodiff.data.order import EPOCH_SAMPLING
from audiodiff.runtime import MIXED_PRECISIONS
from audiodiff.schedulers import BETA_SCHEDULES, PREDICTION_TYPES, scheduler_class


class TrainingError(RuntimeError):
    """Training cannot start or go on; the message says why and what to change."""


MAX_WIDTH = 8  # the widest crop of variable-width training, in slices

ZERO_SNR_EPSILON = (
    "rescale_betas_zero_snr needs prediction_type v_prediction or sample: an epsilon-prediction model cannot predict "
    "the clean image at zero SNR (Lin et al. 2023)"
)


@dataclasses.dataclass
class TrainConfig:
    """Hyper-parameters of a run (`configs/train/*.yaml`). `max_steps`, when set, overrides `epochs`, which
    overrides `passes`.

    A length chosen from the data (the fine-tuning presets): with `epochs` and `max_steps` both null, the run sees
    `passes` times as many images as the training rows hold, in whole optimizer steps, at least `passes_min_steps`
    and at most `passes_max_steps` steps. So ten songs get a run that trains, and a thousand songs do not get a
    thousand epochs. `warmup_fraction`, when set, makes the learning-rate warm-up that fraction of the run's steps
    (replacing `lr_warmup_steps`), so that a short run is not spent warming up. `random_offsets`: each row is cut
    from its track's audio at a random shift of up to half a slice, every step (`data.offsets`), so that a few songs
    give many different images; needs the tracks' audio where `prepare` read it. `lora_rank`: fine-tune LoRA adapters
    of that rank (`audiodiff.lora`) instead of every weight, scaled `lora_alpha / lora_rank` (alpha defaults to the
    rank); the saved folder holds the merged weights and the adapter alone in `lora/`. `genre_init`: where the class
    row of a genre new to a pretrained genre-conditioned model starts: `closest` (the known genre, or the
    unconditional label, under which the model denoises the new genre's images best: `objective.label_losses`),
    `unconditional`, or a known genre's name. `class_embedding_lr_scale`: the genre labels' embedding rows
    (`class_embedding`) train at this multiple of `learning_rate`: a label is one vector against millions of shared
    weights, and at the shared weights' rate a new genre's row hardly moves (the fine-tune then teaches the whole
    network the songs, whatever the label).

    The recipe options of the training-improvements study (README, "Training recipe options"):
    - `prediction_type`: what the UNet predicts, `epsilon` (the noise, Ho et al. 2020), `v_prediction` (Salimans and
      Ho 2022) or `sample` (the clean image);
    - `beta_schedule`: `linear` (Ho et al. 2020), `squaredcos_cap_v2` (cosine, Nichol and Dhariwal 2021) or
      `scaled_linear`;
    - `rescale_betas_zero_snr`: rescale the betas so that the last timestep is pure noise (zero terminal SNR, Lin et
      al. 2023), sampled with "trailing" timestep spacing (both saved in the scheduler config); needs
      `v_prediction` or `sample`, since an epsilon model cannot predict anything at SNR 0;
    - `snr_gamma`: Min-SNR-gamma loss weighting (Hang et al. 2023), None for uniform weighting;
    - `noise_offset`: offset noise, a per-image constant of this standard deviation added to the noise;
    - `resolution_shift`: "simple diffusion"'s shifted schedule for large images (Hoogeboom et al. 2023): the
      log-SNR of every timestep moves by `-2 ln(resolution_shift)`, e.g. 4 for 256x256 images on a schedule made for
      64x64, so that large images, whose neighbouring pixels average the noise away, still see enough of it. Saved as
      the scheduler's `trained_betas`, so every sampler follows it. 1: off. New models only.
    These three schedule settings left at None mean epsilon / linear / false for a new model and "the pretrained
    pipeline's" for a fine-tune; the saved scheduler config carries them to every sampler, inversion and fine-tune.
    `snr_gamma` and `noise_offset` shape the loss only: they are recorded in `audiodiff.json`'s training record.

    `widths`: variable-width training (the diffusion course's "diverse aspect ratios"): the optimizer steps cycle
    through these multiples of the slice width, a step at width `k` training on `batch_size // k` crops of `k`
    time-consecutive slices of a track (about the same pixels per step). A fully convolutional UNet (or the DiT)
    trained on `[1, 2, 4]` generates clips up to 4 slices long in one piece, with no window seams; the saved pipeline
    records it and `seconds=` uses it.

    `guide_scale`: what a fine-tune's folder recommends to sample with: guided by its base at this scale
    (autoguidance, `AudioDiffusionPipeline.set_guide`; "auto", the default of every sampling command, uses it). None
    or 1: no recommendation; a model trained from scratch has no base and recommends none.

    Throughput options, which change the speed and not the model (BENCHMARKS.md, "Training loop"): `channels_last`
    (the model's tensors in NHWC memory layout, for GPU convolutions) and `compile` (`torch.compile` the training
    forward pass; on these CPUs it costs about 100 s of compilation to win 6% per step, so it pays only for long runs).
    `mixed_precision`: "no", "fp16" (GPU), "bf16" (a GPU, or a CPU: torch's bf16 autocast) or "auto", bf16 where the
    device runs it fast (a GPU with bf16, a CPU with AMX or AVX512-BF16) and fp32 elsewhere
    (`runtime.mixed_precision_for`).
    """

    presets: ClassVar[str] = "train"  # the folder of configs/ that holds this class's presets

    model: str = "small-64"
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    class_embedding_lr_scale: float = 1.0
    weight_decay: float = 1e-6
    adam_beta1: float = 0.95
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    lr_scheduler: str = "cosine"
    lr_warmup_steps: int = 500
    max_grad_norm: float = 1.0
    epochs: int | None = 100
    max_steps: int | None = None
    passes: float | None = None
    passes_min_steps: int = 1
    passes_max_steps: int | None = None
    warmup_fraction: float | None = None
    random_offsets: bool = False
    lora_rank: int | None = None
    lora_alpha: float | None = None
    genre_init: str = "closest"
    guide_scale: float | None = None
    use_ema: bool = True
    ema_max_decay: float = 0.9999
    ema_inv_gamma: float = 1.0
    ema_power: float = 0.75
    noise_scheduler: str = "DDPMScheduler"
    num_train_timesteps: int = 1000
    beta_schedule: str | None = None
    prediction_type: str | None = None
    rescale_betas_zero_snr: bool | None = None
    snr_gamma: float | None = None
    noise_offset: float = 0.0
    resolution_shift: float = 1.0
    mixed_precision: str = "no"
    widths: list[int] = dataclasses.field(default_factory=lambda: [1])
    channels_last: bool = False
    compile: bool = False
    conditional: bool = False
    guidance_dropout: float = 0.1
    epoch_sampling: str = "all"
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    sample_every: int = 1000
    num_samples: int = 2
    sample_steps: int = 20
    log_every: int = 10
    num_workers: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        at_least = {
            "batch_size": 1,
            "gradient_accumulation_steps": 1,
            "lr_warmup_steps": 0,
            "num_train_timesteps": 1,
            "checkpoint_every": 0,
            "keep_checkpoints": 1,
            "sample_every": 0,
            "num_samples": 0,
            "sample_steps": 1,
            "log_every": 1,
            "num_workers": 0,
            "seed": 0,
        }
        for name, minimum in at_least.items():
            if getattr(self, name) < minimum:
                raise ConfigError(f"{name} must be at least {minimum}, got {getattr(self, name)}")
        for name in ("epochs", "max_steps"):  # None means "not set"; zero steps would save an untrained model
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1 (or null), got {getattr(self, name)}")
        if self.max_steps is None and self.epochs is None and self.passes is None:
            raise ConfigError("set epochs, max_steps or passes")
        if self.passes is not None and not 0 < self.passes <= 1e6:
            raise ConfigError(f"passes must be a positive number up to 1e6 (or null), got {self.passes}")
        if self.passes_min_steps < 1 or (
            self.passes_max_steps is not None and self.passes_max_steps < self.passes_min_steps
        ):
            raise ConfigError(
                f"passes_min_steps must be at least 1 and passes_max_steps at least passes_min_steps, got "
                f"{self.passes_min_steps} and {self.passes_max_steps}"
            )
        if self.lora_rank is not None and (isinstance(self.lora_rank, bool) or not 1 <= self.lora_rank <= 4096):
            raise ConfigError(f"lora_rank must be a whole number from 1 to 4096 (or null), got {self.lora_rank}")
        if self.lora_alpha is not None and not 0 < self.lora_alpha < math.inf:
            raise ConfigError(f"lora_alpha must be a positive number (or null: the rank), got {self.lora_alpha}")
        if not isinstance(self.genre_init, str) or not self.genre_init.strip():
            raise ConfigError(f"genre_init must be closest, unconditional or a genre name, got {self.genre_init!r}")
        if self.lora_alpha is not None and self.lora_rank is None:
            raise ConfigError("lora_alpha needs lora_rank (LoRA is off without a rank)")
        scale = self.guide_scale
        if scale is not None and (isinstance(scale, bool) or not 0 <= scale < math.inf):
            raise ConfigError(f"guide_scale must be a finite number of at least 0 (or null: none), got {scale}")
        if self.warmup_fraction is not None and not 0 <= self.warmup_fraction < 1:
            raise ConfigError(f"warmup_fraction must be in [0, 1) (or null), got {self.warmup_fraction}")
        for name in ("learning_rate", "adam_epsilon", "class_embedding_lr_scale"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(f"{name} must be a positive number, got {getattr(self, name)}")
        for name in ("weight_decay", "max_grad_norm"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ConfigError(f"{name} must be zero or a positive number, got {getattr(self, name)}")
        for name in ("adam_beta1", "adam_beta2", "ema_max_decay"):
            if not 0 <= getattr(self, name) < 1 and not (name == "ema_max_decay" and getattr(self, name) == 1):
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.seed >= 2**63:
            raise ConfigError(f"seed must be below 2**63, got {self.seed}")
        if scheduler_class(self.noise_scheduler) is None:
            raise ConfigError(f"noise_scheduler {self.noise_scheduler!r} is not a diffusers scheduler class")
        if self.prediction_type is not None and self.prediction_type not in PREDICTION_TYPES:
            raise ConfigError(
                f"prediction_type must be one of {', '.join(PREDICTION_TYPES)}, got {self.prediction_type!r}"
            )
        if self.beta_schedule is not None and self.beta_schedule not in BETA_SCHEDULES:
            raise ConfigError(f"beta_schedule must be one of {', '.join(BETA_SCHEDULES)}, got {self.beta_schedule!r}")
        if self.rescale_betas_zero_snr and self.prediction_type == "epsilon":
            raise ConfigError(ZERO_SNR_EPSILON)
        if self.snr_gamma is not None and not 0 < self.snr_gamma < math.inf:
            raise ConfigError(
                f"snr_gamma must be a positive number (or null for uniform weighting), got {self.snr_gamma}"
            )
        if not 0 <= self.noise_offset <= 1:
            raise ConfigError(
                f"noise_offset must be in [0, 1] (0 turns it off; 0.05 to 0.1 is usual), got {self.noise_offset}"
            )
        widths = self.widths
        if (
            not isinstance(widths, list)
            or not widths
            or not all(isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= MAX_WIDTH for k in widths)
            or len(set(widths)) != len(widths)
        ):
            raise ConfigError(
                f"widths must be a list of different whole numbers of slices from 1 to {MAX_WIDTH}, e.g. [1, 2, 4]; "
                f"got {widths!r}"
            )
        if not 0 < self.resolution_shift < math.inf:
            raise ConfigError(f"resolution_shift must be a positive number (1: no shift), got {self.resolution_shift}")
        if self.epoch_sampling not in EPOCH_SAMPLING:
            raise ConfigError(f"epoch_sampling must be one of {EPOCH_SAMPLING}, got {self.epoch_sampling!r}")
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise ConfigError(
                f"mixed_precision must be one of {', '.join(MIXED_PRECISIONS)}, got {self.mixed_precision!r}"
            )
        if not 0.0 <= self.guidance_dropout < 1.0:
            raise ConfigError("guidance_dropout must be in [0, 1)")

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, **overrides: Any) -> TrainConfig:
        """A preset name (`configs/train/<name>.yaml`) or a YAML path, with non-None `overrides` on top."""
        path = resolve_config_file(name_or_path, cls.presets)
        values = read_yaml(path)
        values.update({key: value for key, value in overrides.items() if value is not None})
        return load_dataclass(cls, values, str(path))
