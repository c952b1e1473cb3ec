"""Few-step students: any pipeline audiodiff can load becomes one that samples in 1-8 UNet calls.

Two methods, both on the training loop of `training.py` (accelerate, EMA, atomic checkpoints, exact resume,
TensorBoard, progress bar, preview samples) and its run folder (`runs.py`), both initialising the student from the
teacher:

- **consistency distillation** (Song et al. 2023, "Consistency models", arXiv 2303.01469; the latent-consistency
  recipe of Luo et al. 2023, diffusers' `examples/consistency_distillation/`): a data point is noised to a timestep
  t_n of a skipping schedule of the teacher (`solver_steps` steps of k = T / solver_steps), the teacher takes one DDIM
  step to t_{n-1}, and the student's consistency function at (x_{t_n}, t_n) learns the target network's at
  (x_{t_{n-1}}, t_{n-1}). The target network is an EMA of the student (rate `target_decay`); the consistency function
  is the boundary-condition parametrisation `f(x, t) = c_skip(t) x + c_out(t) x0(x, t)` of diffusers'
  `LCMScheduler` (`f(x, 0) = x` exactly); the loss is pseudo-Huber (Song and Dhariwal 2023) or L2. The student is
  saved with an `LCMScheduler`, so one student samples at 1, 2, 4, ... steps.
- **progressive distillation** (Salimans and Ho 2022, arXiv 2202.00512): rounds that halve the steps. In a round the
  student learns to take in one DDIM step what its teacher takes in two; the next round's teacher is this round's
  student. The teacher's first round starts at `teacher_steps` DDIM steps; the student predicts v (the paper's
  parametrisation: an epsilon prediction cannot give the clean image at the first, almost pure-noise step of a
  few-step sampler), so an epsilon teacher's student relearns its output as v from the teacher's weights. The
  student is saved with a DDIM scheduler on "trailing" timesteps: the grid it was distilled on.

Guided distillation (Meng et al. 2023, arXiv 2210.03142): with `guidance` w, a genre-conditioned teacher's target is
its classifier-free-guided output `u + w (c - u)`, so the student gives the guided result from one conditional UNet
call per step. A share `guidance_dropout` of the labels is the null label, whose target is the teacher's
unconditional output, so that the student still samples without a genre.

Compute is counted in UNet forward passes, a backward pass counted as two (`forward_passes` of the record in
`audiodiff.json`), so that the cost of a distillation compares with the teacher's training (3 per image seen).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from audiodiff import editing
from audiodiff.config import COMPATIBLE_KEYS, ConfigError
from audiodiff.train_config import TrainConfig, TrainingError
from audiodiff.train_start import mel_mismatch
from audiodiff.training import Trainer, TrainResult
from audiodiff.utils import first_line

METHODS = ("consistency", "progressive")
LOSSES = ("huber", "l2")
# diffusers' LCMScheduler boundary condition: c_skip(t) = s^2 / ((t k)^2 + s^2), c_out(t) = t k / sqrt((t k)^2 + s^2).
TIMESTEP_SCALING = 10.0
SIGMA_DATA = 0.5


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


def distill(
    config: DistillConfig,
    data,
    out_dir: str | os.PathLike,
    teacher: str,
    genre: str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Distil the pipeline `teacher` (folder or hub id) on `data` (a `SpectrogramDataset` with the teacher's mel
    settings; `genre` keeps one genre of it) into the student pipeline folder `out_dir`. See `Distiller`."""
    return Distiller.start(config, data, out_dir, teacher, genre, progress).run()


# --- the two parametrisations --------------------------------------------------------------------------------------
def boundary_scalings(timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(c_skip, c_out)` of the consistency function at integer `timesteps` `(batch,)`, as diffusers' LCMScheduler
    (`get_scalings_for_boundary_condition_discrete`): c_skip(0) = 1 and c_out(0) = 0, so `f(x, 0) = x`."""
    scaled = timesteps.double() * TIMESTEP_SCALING
    c_skip = SIGMA_DATA**2 / (scaled**2 + SIGMA_DATA**2)
    c_out = scaled / (scaled**2 + SIGMA_DATA**2).sqrt()
    return c_skip.float(), c_out.float()


def consistency_function(
    output: torch.Tensor,
    sample: torch.Tensor,
    timesteps: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    prediction_type: str,
    clip_range: float | None = None,
) -> torch.Tensor:
    """The student's estimate of the clean image: `c_skip(t) x_t + c_out(t) x0(output)`, what LCMScheduler's step
    computes (with its clipping when `clip_range` is set). output, sample: `(batch, channels, height, width)`;
    timesteps: `(batch,)` integers; alphas_cumprod: `(T,)` of the schedule."""
    alpha = _per_item(alphas_cumprod.to(sample.device)[timesteps], sample)
    original = editing.original_from_output(output.float(), sample.float(), alpha, prediction_type)
    if clip_range is not None:
        original = original.clamp(-clip_range, clip_range)
    c_skip, c_out = (_per_item(c.to(sample.device), sample) for c in boundary_scalings(timesteps))
    return c_skip * sample.float() + c_out * original


def ddim_step(
    output: torch.Tensor,
    sample: torch.Tensor,
    alpha: torch.Tensor,
    alpha_next: torch.Tensor,
    prediction_type: str,
    clip_range: float | None,
) -> torch.Tensor:
    """One deterministic DDIM step (Song et al. 2020) of `(batch, channels, h, w)` samples from cumulative alpha
    `alpha` to `alpha_next` (`(batch, 1, 1, 1)` each), the clean estimate clipped the DDIM way when `clip_range` is
    set (`editing.clean_and_noise`), as the teacher's own sampler does."""
    clean, noise = editing.clean_and_noise(output, sample, alpha, prediction_type, clip_range)
    return alpha_next.sqrt() * clean + (1 - alpha_next).sqrt() * noise


def _per_item(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.reshape(-1, *([1] * (like.ndim - 1))).to(like.device, torch.float32)


def pseudo_huber(prediction: torch.Tensor, target: torch.Tensor, c: float) -> torch.Tensor:
    """`mean(sqrt((prediction - target)^2 + c^2) - c)` (Song and Dhariwal 2023), a scalar."""
    return ((prediction.float() - target.float()).square() + c * c).sqrt().sub(c).mean()


# --- the distiller -------------------------------------------------------------------------------------------------
class Distiller(Trainer):
    """The training loop with a teacher: `Distiller.start(config, data, out_dir, teacher)` or
    `Distiller.resume(out_dir)`, then `.run()`. The run folder is a training run's (checkpoints, logs, samples) and
    ends as the student's pipeline folder."""

    config_class = DistillConfig
    command = "audiodiff distill"
    error = DistillationError

    def __init__(self, config: DistillConfig, data, out_dir, unet, noise_scheduler, mel_config, genres, genre,
                 run_info, progress: bool = True):  # fmt: skip
        super().__init__(config, data, out_dir, unet, noise_scheduler, mel_config, genres, genre, run_info, progress)
        device = self.accelerator.device
        teacher = _load_teacher(run_info["pretrained"])  # loaded again: `unet` (the student) starts as its copy
        self.teacher = teacher.unet.to(device).eval().requires_grad_(False)
        self.teacher_prediction = teacher.scheduler.config.prediction_type
        self.teacher_scheduler_config = dict(teacher.scheduler.config)
        self.teacher_quality = teacher.quality
        self.alphas_cumprod = noise_scheduler.alphas_cumprod.to(device)
        scheduler_config = noise_scheduler.config
        self.clip_range = float(scheduler_config.clip_sample_range) if scheduler_config.get("clip_sample") else None
        self.forward_passes = 0
        self.seconds = 0.0
        self._started = time.perf_counter()
        self.huber_c = config.huber_c or 0.00054 * math.sqrt(math.prod(teacher.latent_shape))
        self.round = 0
        self.round_teacher = None  # progressive: the previous round's student, from the second round on
        if config.method == "progressive":
            self.rounds = progressive_rounds(config.teacher_steps, config.steps)
            self.steps_per_round = -(-self.total_steps // self.rounds)
            if self.total_steps < self.rounds:
                raise DistillationError(
                    f"{self.total_steps} steps cannot hold the {self.rounds} rounds from {config.teacher_steps} to "
                    f"{config.steps} steps: raise --max-steps"
                )

    # -- construction ---------------------------------------------------------------------------------------------
    @classmethod
    def _new_run(cls, config: DistillConfig, data, out_dir: Path, pretrained, genre, progress, preset=None):
        if pretrained is None:
            raise DistillationError("a distillation needs a teacher: audiodiff distill MODEL")
        teacher = _load_teacher(pretrained)
        different = teacher.mel_config.mismatches(data.mel_config, keys=("x_res", *COMPATIBLE_KEYS))
        if different:
            raise DistillationError(mel_mismatch(pretrained, teacher.mel_config, data, different))
        conditional = teacher.unet.config.num_class_embeds is not None
        if config.guided and not conditional:
            raise DistillationError(
                f"--guidance {config.guidance:g} needs a genre-conditioned teacher, and {pretrained} has no genres "
                "(leave --guidance unset)"
            )
        noise_scheduler = _training_schedule(teacher.scheduler.config, config)
        # The student starts as the teacher's UNet (the teacher itself is loaded again by `__init__`).
        return cls._create(config, data, out_dir, teacher.unet, noise_scheduler, teacher.mel_config, teacher.genres,
                           genre, progress, pretrained, preset)  # fmt: skip

    def _make_ema(self, raw):
        """Consistency: the target network, an EMA at the constant rate `target_decay` (no warm-up); progressive:
        the usual EMA of the weights."""
        if self.config.method != "consistency":
            return super()._make_ema(raw)
        from audiodiff.optimizer_steps import FusedEMA

        decay = self.config.target_decay
        return FusedEMA(raw.parameters(), decay=decay, min_decay=decay, use_ema_warmup=False, model_cls=type(raw),
                        model_config=raw.config)  # fmt: skip

    # -- the losses ------------------------------------------------------------------------------------------------
    def _loss(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.config.method == "consistency":
            return self._consistency_loss(images, labels)
        return self._progressive_loss(images, labels)

    def _teacher_output(self, unet, sample, timesteps, labels, guidance: float | None) -> torch.Tensor:
        """`unet`'s output, classifier-free guided at `guidance` for items whose label is not the null label."""
        with self.accelerator.autocast():
            if labels is None:
                return unet(sample, timesteps).sample.float()
            if guidance is None or guidance == 1.0:
                return unet(sample, timesteps, class_labels=labels).sample.float()
            null = torch.full_like(labels, self.teacher.config.num_class_embeds - 1)
            both = unet(torch.cat([sample, sample]), torch.cat([timesteps, timesteps]),
                        class_labels=torch.cat([null, labels])).sample.float()  # fmt: skip
        unconditional, conditional = both.chunk(2)
        guided = editing.classifier_free_guidance(unconditional, conditional, guidance)
        return torch.where(_per_item(labels == null, guided).bool(), conditional, guided)

    def _alpha(self, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Cumulative alphas at `timesteps` `(batch,)`, 1 where a timestep is negative (past the last step)."""
        alphas = torch.where(timesteps >= 0, self.alphas_cumprod[timesteps.clamp(min=0)], 1.0)
        return _per_item(alphas, like)

    def _consistency_loss(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        config, device = self.config, self.accelerator.device
        batch = images.shape[0]
        skip = config.num_train_timesteps // config.solver_steps
        index = torch.randint(0, config.solver_steps, (batch,), generator=self.generator)
        noise = torch.randn(images.shape, generator=self.generator)
        class_labels = self._class_labels(labels, batch)
        start = ((index + 1) * skip - 1).to(device)
        end = (start - skip).clamp(min=0)  # the boundary: at t = 0 the target is the sample itself
        images, noise = images.to(device), noise.to(device)
        noisy = self.noise_scheduler.add_noise(images, noise, start)
        own = self.noise_scheduler.config.prediction_type  # the student's parametrisation
        student = consistency_function(
            self.forward_unet(noisy, start, class_labels=class_labels).sample, noisy, start, self.alphas_cumprod, own
        )
        with torch.no_grad():
            teacher = self._teacher_output(self.teacher, noisy, start, class_labels, config.guidance)
            previous = ddim_step(teacher, noisy, self._alpha(start, noisy), self._alpha(end, noisy),
                                 self.teacher_prediction, self.clip_range)  # fmt: skip
            with self.accelerator.autocast():
                target_output = self._target_network(previous, end, class_labels).float()
            target = consistency_function(target_output, previous, end, self.alphas_cumprod, own)
        self.forward_passes += batch * forward_passes_per_image(config)
        if config.loss == "l2":
            return F.mse_loss(student.float(), target)
        return pseudo_huber(student, target, self.huber_c)

    def _target_network(self, sample, timesteps, labels) -> torch.Tensor:
        """The student's architecture with the EMA (target) weights, without copying them into a module."""
        raw = self.accelerator.unwrap_model(self.unet)
        names = [name for name, _ in raw.named_parameters()]
        weights = dict(zip(names, self.ema.shadow_params, strict=True))
        return torch.func.functional_call(raw, weights, (sample, timesteps), {"class_labels": labels}).sample

    def _progressive_loss(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        config, device = self.config, self.accelerator.device
        round_index = min(self.global_step // self.steps_per_round, self.rounds - 1)
        if round_index != self.round:
            self._begin_round(round_index)
        student_steps = config.teacher_steps >> (round_index + 1)
        batch = images.shape[0]
        index = torch.randint(0, student_steps, (batch,), generator=self.generator)
        noise = torch.randn(images.shape, generator=self.generator)
        class_labels = self._class_labels(labels, batch)
        # "Trailing" grids: the student's step from t to s is the teacher's two steps t -> middle -> s.
        total = config.num_train_timesteps

        def grid(position):  # noqa: E306 - timesteps of (fractional) step positions of the student
            return (torch.round(total - position * total / student_steps) - 1).long().to(device)

        start, middle, end = grid(index.double()), grid(index.double() + 0.5), grid(index.double() + 1)
        images, noise = images.to(device), noise.to(device)
        noisy = self.noise_scheduler.add_noise(images, noise, start)
        if self.round_teacher is None:
            teacher, prediction, guidance = self.teacher, self.teacher_prediction, config.guidance
        else:
            teacher, prediction, guidance = self.round_teacher, self.noise_scheduler.config.prediction_type, None
        with torch.no_grad():
            alpha_start, alpha_middle, alpha_end = (self._alpha(t, noisy) for t in (start, middle, end))
            output = self._teacher_output(teacher, noisy, start, class_labels, guidance)
            halfway = ddim_step(output, noisy, alpha_start, alpha_middle, prediction, self.clip_range)
            output = self._teacher_output(teacher, halfway, middle, class_labels, guidance)
            target_sample = ddim_step(output, halfway, alpha_middle, alpha_end, prediction, self.clip_range)
            # The clean image from which one DDIM step of the student lands on the teacher's two-step result.
            sigma_start, sigma_end = (1 - alpha_start).sqrt(), (1 - alpha_end).sqrt()
            ratio = sigma_end / sigma_start
            clean = (target_sample - ratio * noisy) / (alpha_end.sqrt() - ratio * alpha_start.sqrt())
            if self.clip_range is not None:
                clean = clean.clamp(-self.clip_range, self.clip_range)
            epsilon = (noisy - alpha_start.sqrt() * clean) / sigma_start
        self.forward_passes += batch * forward_passes_per_image(config, first_round=self.round_teacher is None)
        student_prediction = self.noise_scheduler.config.prediction_type
        output = self.forward_unet(noisy, start, class_labels=class_labels).sample.float()
        if student_prediction == "v_prediction":
            return F.mse_loss(output, alpha_start.sqrt() * epsilon - sigma_start * clean)
        # x0-parametrisation: the paper's truncated SNR weighting, max(SNR, 1).
        weights = (alpha_start / (1 - alpha_start)).clamp(min=1)
        return (weights * (output - clean).square()).mean()

    def _begin_round(self, round_index: int) -> None:
        """The next round's teacher is the student as it is now (Salimans and Ho 2022)."""
        raw = self.accelerator.unwrap_model(self.unet)
        self.round_teacher = copy.deepcopy(raw).eval().requires_grad_(False)
        self.round = round_index

    # -- what the run records and saves ---------------------------------------------------------------------------
    def run(self) -> TrainResult:
        self._started = time.perf_counter()
        return super().run()

    def _elapsed(self) -> float:
        return self.seconds + time.perf_counter() - self._started

    def _extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"forward_passes": self.forward_passes, "seconds": self._elapsed(), "round": self.round}
        if self.round_teacher is not None:
            state["round_teacher"] = {key: value.cpu() for key, value in self.round_teacher.state_dict().items()}
        return state

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.forward_passes = int(state.get("forward_passes", 0))
        self.seconds = float(state.get("seconds", 0.0))
        self._started = time.perf_counter()
        self.round = int(state.get("round", 0))
        if "round_teacher" in state:
            teacher = copy.deepcopy(self.accelerator.unwrap_model(self.unet))
            teacher.load_state_dict(state["round_teacher"])
            self.round_teacher = teacher.to(self.accelerator.device).eval().requires_grad_(False)

    def record(self) -> dict[str, Any]:
        """The `distillation` record of `audiodiff.json`."""
        config = self.config
        record = {
            "method": config.method,
            "steps": config.steps,
            "guidance": config.guidance if config.guided else None,
            "teacher": self.run_info["pretrained"],
            "teacher_prediction_type": self.teacher_prediction,
            "distill_steps": self.global_step,
            "images_seen": self.global_step * self.images_per_step,
            "forward_passes": self.forward_passes * self.accelerator.num_processes,
            "seconds": round(self._elapsed(), 1),
        }
        if config.method == "consistency":
            record.update(solver_steps=config.solver_steps, loss=config.loss, target_decay=config.target_decay)
        else:
            record.update(teacher_steps=config.teacher_steps, rounds=self.rounds)
        return record

    def student_scheduler(self):
        """The scheduler the student samples with: LCM on the distillation's skipping schedule (consistency), DDIM
        on the trailing grid it was distilled on (progressive); the teacher's noise schedule and clipping."""
        import diffusers

        base = {key: value for key, value in self.teacher_scheduler_config.items()
                if not key.startswith("_") and key != "variance_type"}  # fmt: skip
        prediction = self.noise_scheduler.config.prediction_type
        if self.config.method == "consistency":
            return diffusers.LCMScheduler.from_config(
                base, original_inference_steps=self.config.solver_steps, timestep_scaling=TIMESTEP_SCALING,
                prediction_type=prediction, thresholding=False, set_alpha_to_one=True,
            )  # fmt: skip
        return diffusers.DDIMScheduler.from_config(
            base, timestep_spacing="trailing", prediction_type=prediction, thresholding=False, set_alpha_to_one=True,
            steps_offset=0,
        )  # fmt: skip

    def _pipeline_extras(self) -> dict[str, Any]:
        extras: dict[str, Any] = {"scheduler": self.student_scheduler(), "distillation": self.record()}
        if self.teacher_quality:
            extras["quality"] = self.teacher_quality
        return extras

    def _quality_fences(self, count: int = 1024) -> dict[str, Any]:
        return self.teacher_quality or super()._quality_fences(count)

    def _preview_steps(self) -> int:
        return self.config.steps


def _training_schedule(teacher_config, config: DistillConfig):
    """The student's training noise schedule (saved with its checkpoints): the teacher's, predicting
    `config.prediction_type`, by default the teacher's, or v for a progressive student of an epsilon teacher."""
    import diffusers

    prediction = config.prediction_type or teacher_config.prediction_type
    if config.prediction_type is None and config.method == "progressive" and prediction == "epsilon":
        prediction = "v_prediction"
    return diffusers.DDPMScheduler.from_config(dict(teacher_config), prediction_type=prediction)


def _load_teacher(source: str):
    """The teacher pipeline; refuses latent models and students (distil the original teacher instead)."""
    from audiodiff.pipeline import AudioDiffusionPipeline

    try:
        teacher = AudioDiffusionPipeline.from_pretrained(source, vocoder=False)
    except Exception as error:  # noqa: BLE001 - a damaged folder fails in many ways deep inside diffusers and torch
        raise DistillationError(
            f"{source}: cannot load the teacher pipeline ({type(error).__name__}: {first_line(error)})"
        ) from None
    if teacher.vqvae is not None:
        raise DistillationError(f"{source} is a latent model (it has a VAE); distilling latent models is not supported")
    if teacher.distillation is not None:
        raise DistillationError(
            f"{source} is already a distilled student ({teacher.distillation.get('method')}); distil its teacher "
            f"{teacher.distillation.get('teacher')} instead"
        )
    return teacher
