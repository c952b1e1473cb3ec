"""The settings of a distillation (`configs/distill/*.yaml`, `audiodiff distill`): `DistillConfig`, the training
loop's `TrainConfig` plus the method's (consistency or progressive, the student's steps, guidance, the loss), checked
when it is made; the rounds of progressive distillation (`progressive_rounds`) and the cost of one image of a step in
UNet forward passes (`forward_passes_per_image`). The methods themselves are `distillation.py`'s.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from audiodiff.config import ConfigError
from audiodiff.train_config import TrainConfig, TrainingError

METHODS = ("consistency", "progressive")
LOSSES = ("huber", "l2")


class DistillationError(TrainingError):
    """Distillation cannot start or go on; the message says why and what to change."""


@dataclasses.dataclass
class DistillConfig(TrainConfig):
    """A distillation (`configs/distill/*.yaml`): the training loop's settings plus the method's.

    method: `consistency` or `progressive`. steps: the student's default sampling steps (progressive: the steps it is
    distilled down to, `teacher_steps / 2^rounds`). guidance: the classifier-free guidance scale distilled into a
    genre-conditioned teacher's student (None or 1: none). solver_steps: consistency's skipping schedule of the
    teacher (T / solver_steps timesteps per DDIM step; 50 as in the latent-consistency recipe). target_decay: EMA rate
    of consistency's target network. loss: `huber` (pseudo-Huber with constant `huber_c`, default
    `0.00054 sqrt(pixels)` as in Song and Dhariwal 2023) or `l2`. teacher_steps: progressive's first teacher's DDIM
    steps. prediction_type: what the student's output means; unset, the teacher's (consistency) or v for an epsilon
    teacher (progressive, the paper's choice). The model and other noise-schedule fields of `TrainConfig` do not
    apply: the student is the teacher's architecture on the teacher's schedule.
    """

    presets: ClassVar[str] = "distill"

    method: str = "consistency"
    steps: int = 4
    guidance: float | None = None
    solver_steps: int = 50
    target_decay: float = 0.95
    loss: str = "huber"
    huber_c: float | None = None
    teacher_steps: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("beta_schedule", "rescale_betas_zero_snr", "snr_gamma"):
            if getattr(self, name) is not None:
                raise ConfigError(f"{name} does not apply to a distillation: the student keeps its teacher's schedule")
        if self.lora_rank is not None:
            raise ConfigError("lora_rank does not apply to a distillation: the whole student is trained")
        if self.noise_offset or self.conditional:
            raise ConfigError(
                "noise_offset and conditional do not apply to a distillation: the student is the teacher's"
            )
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.steps < 1:
            raise ConfigError(f"steps must be at least 1, got {self.steps}")
        if self.guidance is not None and not 0 <= self.guidance < math.inf:
            raise ConfigError(f"guidance must be a non-negative number (1: no guidance), got {self.guidance}")
        if not 0 <= self.target_decay < 1:
            raise ConfigError(f"target_decay must be in [0, 1), got {self.target_decay}")
        if self.huber_c is not None and not 0 < self.huber_c < math.inf:
            raise ConfigError(f"huber_c must be a positive number (or null for the default), got {self.huber_c}")
        if self.method == "consistency":
            if not 1 <= self.solver_steps <= self.num_train_timesteps:
                raise ConfigError(f"solver_steps must be in 1..{self.num_train_timesteps}, got {self.solver_steps}")
            if self.steps > self.solver_steps:
                raise ConfigError(
                    f"a consistency student samples on its {self.solver_steps}-step skipping schedule: steps must be "
                    f"at most solver_steps {self.solver_steps}, got {self.steps}"
                )
            if not self.use_ema:
                raise ConfigError("consistency distillation needs use_ema: true (the EMA is its target network)")
        else:
            rounds = progressive_rounds(self.teacher_steps, self.steps)
            if rounds is None:
                halvings = ", ".join(str(self.teacher_steps >> k) for k in range(1, 8) if self.teacher_steps >> k)
                raise ConfigError(
                    f"progressive distillation halves the teacher's {self.teacher_steps} steps each round, so steps "
                    f"must be one of {halvings}; got {self.steps}"
                )
            if self.max_steps is not None and self.max_steps < rounds:
                raise ConfigError(f"max_steps {self.max_steps} is fewer than the {rounds} rounds of {self.steps} steps")

    @property
    def guided(self) -> bool:
        return self.guidance is not None and self.guidance != 1.0


def progressive_rounds(teacher_steps: int, steps: int) -> int | None:
    """Rounds of halving from `teacher_steps` to `steps` (at least one), or None when halving never gives `steps`."""
    rounds = 0
    while teacher_steps > steps and teacher_steps % 2 == 0:
        teacher_steps //= 2
        rounds += 1
    return rounds if teacher_steps == steps and rounds > 0 else None


def forward_passes_per_image(config: DistillConfig, first_round: bool = True) -> int:
    """UNet forward-pass equivalents one image of a distillation step costs (a backward pass counted as two): the
    student's forward and backward (3), plus consistency's teacher (2 guided, else 1) and target network (1), or
    progressive's two teacher steps (2 each when guided: only the first round's teacher is guided)."""
    teacher = 2 if config.guided and (config.method == "consistency" or first_round) else 1
    return 3 + (teacher + 1 if config.method == "consistency" else 2 * teacher)
