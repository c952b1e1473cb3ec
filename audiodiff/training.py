"""The training / fine-tuning loop: denoising diffusion (Ho et al. 2020) on spectrogram images, on accelerate.

One loop serves training from scratch and genre fine-tuning. What it adds to a plain loop (the diffusion course's
AdamW + MSE on the noise) is cheap per step: cosine schedule with warm-up, gradient clipping, EMA of the weights,
gradient accumulation, mixed precision and multi-GPU through accelerate, classifier-free-guidance label dropout.

Reproducibility and resume: the order of the data is a pure function of (seed, epoch) (`train_plan.py`,
`data/order.py`), and all noise, timesteps and label dropout come from one `torch.Generator` whose state is
checkpointed (`checkpoints.py`), so a run killed at any point and resumed from its last checkpoint ends with the same
weights as an uninterrupted run (bit for bit on the same machine; within float rounding across machines).

Safety: the run folder's rules are `runs.py`'s, shared with the distiller and the vocoder's trainer: a run holds its
folder from start or resume until its outputs are written, so a second run into the same --out is refused instead of
mixing the two; a non-finite loss, gradient norm or weight stops the run before anything is saved
(`checkpoints.check_finite`); damaged checkpoints are found by checksum.

The parts: `train_config.py` (the recipe), `objective.py` (noise schedule, targets, Min-SNR), `train_start.py` (a
new model or a pretrained one), `train_plan.py` (rows, order, length), `train_outputs.py` (fences, previews, copy
check). Here: `train` and `Trainer` (starting or resuming a run, the loop, what it writes); the names that lived here
before the split still import from here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch

from audiodiff import autoguide, lora
from audiodiff.checkpoints import (
    CheckpointError,
    checkpoint_folder,
    latest_checkpoint,
    prune_checkpoints,
    write_checkpoint,
)
from audiodiff.config import MelConfig
from audiodiff.models import null_label
from audiodiff.objective import (  # noqa: F401 - re-exported: these lived here
    SCHEDULE_DEFAULTS,
    denoising_loss,
    draw_noise,
    min_snr_weights,
    shifted_betas,
    training_target,
)
from audiodiff.objective import check_schedule as _check_schedule  # noqa: F401
from audiodiff.objective import finetune_noise_scheduler as _finetune_noise_scheduler  # noqa: F401
from audiodiff.objective import make_noise_scheduler as _make_noise_scheduler  # noqa: F401
from audiodiff.optimizer_steps import FusedEMA, adamw, parameter_groups
from audiodiff.runs import RUN_FILE, RunFolderHolder, make_accelerator  # noqa: F401 - RUN_FILE re-exported
from audiodiff.runs import same_source as _same_source  # noqa: F401
from audiodiff.schedulers import AUTO_SCHEDULER
from audiodiff.train_config import MAX_WIDTH, ZERO_SNR_EPSILON, TrainConfig, TrainingError  # noqa: F401
from audiodiff.train_outputs import previews_copy_check, quality_fences, write_previews
from audiodiff.train_plan import TrainingPlan, shorter_run_hint
from audiodiff.train_start import load_pretrained as _load_pretrained  # noqa: F401
from audiodiff.train_start import mel_mismatch as _mel_mismatch  # noqa: F401
from audiodiff.train_start import new_model, pretrained_model

logger = logging.getLogger(__name__)

# Settings a resumed run may change: how long it runs, how many processes decode its data, how fast it runs.
RESUMABLE = ("max_steps", "epochs", "num_workers", "channels_last", "compile")


@dataclasses.dataclass
class TrainResult:
    out_dir: Path
    steps: int
    losses: list[float]
    samples_per_second: float


def train(config: TrainConfig, data, out_dir, pretrained=None, genre=None, progress=True) -> TrainResult:
    """Train (or fine-tune from `pretrained`) and write the pipeline folder `out_dir`. See `Trainer`."""
    return Trainer.start(config, data, out_dir, pretrained, genre, progress).run()


# --- the trainer ---------------------------------------------------------------------------------------------------
class Trainer(RunFolderHolder):
    """Trains `unet` on `data` (a `SpectrogramDataset`) into the pipeline folder `out_dir`.

    Use `Trainer.start(...)` for a new run (from scratch, or from a pretrained pipeline) and `Trainer.resume(out_dir)`
    to continue an interrupted one; then `.run()`.
    """

    def __init__(self, config: TrainConfig, data, out_dir: str | os.PathLike, unet, noise_scheduler,
                 mel_config: MelConfig, genres: list[str] | None, genre: str | None, run_info: dict[str, Any],
                 progress: bool = True):  # fmt: skip
        self.config, self.data, self.out_dir, self.mel_config = config, data, Path(out_dir), mel_config
        self.genres, self.genre, self.run_info, self.progress = genres, genre, run_info, progress
        self.accelerator = make_accelerator(self.out_dir, config.mixed_precision, self.error,
                                            gradient_accumulation_steps=config.gradient_accumulation_steps)  # fmt: skip
        self.noise_scheduler = noise_scheduler
        self.conditional = unet.config.num_class_embeds is not None
        if self.conditional and not genres:
            raise TrainingError("the model has class embeddings but no genre names were given")
        world = self.accelerator.num_processes
        self.data_plan = plan = TrainingPlan(config, data, mel_config, genre, genres, self.conditional, world)
        self.rows, self.offsets, self.tracks, self.windows = plan.rows, plan.offsets, plan.tracks, plan.windows
        self.images_per_step, self.steps_per_epoch = plan.images_per_step, plan.steps_per_epoch
        self.total_steps, self.warmup_steps = plan.total_steps, plan.warmup_steps
        parameters = list(unet.parameters())
        if config.lora_rank is not None:  # the base frozen; the adapter (and the class embedding) trained
            parameters = lora.add_adapter(unet, config.lora_rank, config.lora_alpha, seed=config.seed)
        optimizer = adamw(parameter_groups(unet, parameters, config), self.accelerator.device, lr=config.learning_rate,
                          betas=(config.adam_beta1, config.adam_beta2), weight_decay=config.weight_decay,
                          eps=config.adam_epsilon)  # fmt: skip
        from diffusers.optimization import get_scheduler

        lr_scheduler = get_scheduler(config.lr_scheduler, optimizer=optimizer,
                                     num_warmup_steps=self.warmup_steps * world,
                                     num_training_steps=self.total_steps * world)  # fmt: skip
        if config.channels_last:
            unet = unet.to(memory_format=torch.channels_last)
        self.unet, self.optimizer, self.lr_scheduler = self.accelerator.prepare(unet, optimizer, lr_scheduler)
        # The training forward pass; checkpoints, the EMA and samples use `self.unet`, which stays uncompiled.
        self.forward_unet = torch.compile(self.unet) if config.compile else self.unet
        self.ema = self._make_ema(self.accelerator.unwrap_model(self.unet)) if config.use_ema else None
        if self.ema is not None:
            self.ema.to(self.accelerator.device)
        rank = self.accelerator.process_index
        self.generator = torch.Generator().manual_seed(config.seed * 7919 + rank)
        self.global_step = 0
        self.losses: list[float] = []

    def _make_ema(self, raw):
        """The EMA of the weights (diffusers' `EMAModel` with warm-up, updated in one kernel: `FusedEMA`): what the
        saved pipeline samples with."""
        config = self.config
        return FusedEMA(raw.parameters(), decay=config.ema_max_decay, use_ema_warmup=True,
                        inv_gamma=config.ema_inv_gamma, power=config.ema_power, model_cls=type(raw),
                        model_config=raw.config)  # fmt: skip

    # -- construction ------------------------------------------------------------------------------------------
    config_class = TrainConfig
    command = "audiodiff train"  # names the holder of a run folder in the message a second run gets
    error = TrainingError
    finished_file = "model_index.json"
    longer_options = "--max-steps or --epochs"
    resumable = RESUMABLE
    # run.json's keys a resume compares -> the options that set them
    source_options = {"data": "data", "pretrained": "from", "genre": "genre", "preset": "config"}

    @classmethod
    def start(cls, config: TrainConfig, data, out_dir: str | os.PathLike, pretrained: str | None = None,
              genre: str | None = None, progress: bool = True, preset: str | None = None) -> Trainer:  # fmt: skip
        """A new run: from scratch (`config.model` preset) or from a pretrained pipeline folder / hub id.

        `out_dir` must be new or empty: a folder holding a run is continued with `resume`, never overwritten.
        `preset` (the name `config` was loaded from) is recorded so that a resume can check it.
        """
        out_dir = Path(out_dir)
        return cls._starting(out_dir, lambda: cls._new_run(config, data, out_dir, pretrained, genre, progress, preset))

    @classmethod
    def _new_run(cls, config, data, out_dir: Path, pretrained, genre, progress, preset=None) -> Trainer:
        if config.lora_rank is not None and pretrained is None:
            raise TrainingError("--lora-rank adapts a pretrained model: use it with finetune")
        if pretrained is not None:
            unet, noise_scheduler, mel_config, genres = pretrained_model(config, data, pretrained, genre, progress)
        else:
            unet, noise_scheduler, mel_config, genres = new_model(config, data)
        return cls._create(config, data, out_dir, unet, noise_scheduler, mel_config, genres, genre, progress,
                           pretrained, preset)  # fmt: skip

    @classmethod
    def _create(cls, config, data, out_dir: Path, unet, noise_scheduler, mel_config, genres, genre, progress,
                pretrained, preset) -> Trainer:  # fmt: skip
        """A new run's trainer, its record (`run.json`: data, pretrained, genre, preset, config) written first."""
        run_info = {"data": str(data.source), "pretrained": pretrained, "genre": genre, "preset": preset,
                    "config": dataclasses.asdict(config)}  # fmt: skip
        trainer = cls(config, data, out_dir, unet, noise_scheduler, mel_config, genres, genre, run_info, progress)
        trainer.write_run_record()
        return trainer

    @classmethod
    def resume(cls, out_dir: str | os.PathLike, progress: bool = True, *, data: str | None = None,
               pretrained: str | None = None, genre: str | None = None, preset: str | None = None,
               **overrides: Any) -> Trainer:  # fmt: skip
        """Continue the run in `out_dir` from its newest intact checkpoint (or from the start if it has none).

        A resumed run keeps its saved settings: `overrides` may change only `RESUMABLE` ones (e.g. a higher
        `max_steps`); any other override, or a `data`/`pretrained`/`genre`/`preset` other than the run's, is a
        `TrainingError` (the same value is accepted, so a command can be repeated with --resume added). A damaged
        newer checkpoint is passed over with a logged warning.
        """
        out_dir = Path(out_dir)
        make = lambda: cls._resumed(out_dir, progress, data, pretrained, genre, preset, overrides)  # noqa: E731
        return cls._resuming(out_dir, make)

    @classmethod
    def _resumed(cls, out_dir: Path, progress, data, pretrained, genre, preset, overrides) -> Trainer:
        from audiodiff.data import load_spectrogram_dataset

        run_info = cls.read_run_record(out_dir)
        config = cls.resumed_config(out_dir, run_info, overrides, data=data, pretrained=pretrained, genre=genre,
                                    preset=preset)  # fmt: skip
        dataset = load_spectrogram_dataset(run_info["data"])
        try:
            checkpoint = latest_checkpoint(out_dir, warn=logger.warning)
        except CheckpointError as error:
            raise TrainingError(str(error)) from None
        if checkpoint is None:
            return cls._new_run(
                config, dataset, out_dir, run_info["pretrained"], run_info["genre"], progress, run_info.get("preset")
            )
        trainer = cls(config, dataset, out_dir, checkpoint.unet, checkpoint.noise_scheduler, checkpoint.mel_config,
                      checkpoint.genres, run_info["genre"], run_info, progress)  # fmt: skip
        trainer._load_state(checkpoint.state)
        return trainer

    def step_width(self, step: int) -> int:
        """The width, in slices, of optimizer step `step` (0-based): the run's `widths` in turn."""
        return self.data_plan.step_width(step)

    def plan(self) -> list[str]:
        """What this run will do, in plain lines for the user before it starts (`TrainingPlan.lines`)."""
        return self.data_plan.lines()

    def epoch_order(self, epoch: int) -> list[int]:
        """Row indices of one epoch (`data.order.epoch_indices`), at least one optimizer step's worth."""
        return self.data_plan.epoch_order(epoch)

    # -- the loop -----------------------------------------------------------------------------------------------
    def _run(self) -> TrainResult:
        from tqdm.auto import tqdm

        config, accelerator = self.config, self.accelerator
        accelerator.init_trackers("train")
        bar = tqdm(total=self.total_steps, initial=self.global_step, desc="train", unit="step",
                   disable=not (self.progress and accelerator.is_local_main_process))  # fmt: skip
        self.unet.train()
        started, trained_samples = time.perf_counter(), 0
        first_done = started  # when the first step (with its one-time costs) ended: the estimate leaves it out
        while self.global_step < self.total_steps:
            epoch, position = divmod(self.global_step, self.steps_per_epoch)
            batches = self.data_plan.epoch_batches(epoch, position, accelerator.process_index)
            accumulated = 0.0
            for rows, (images, labels) in zip(batches, self.rows.batches(batches, config.num_workers)):
                if self.offsets is not None:
                    images = self.offsets.images(rows, self.global_step)
                loss = self._micro_step(images, labels)
                accumulated += loss / config.gradient_accumulation_steps
                if not accelerator.sync_gradients:
                    continue
                if self.ema is not None:
                    self.ema.step(accelerator.unwrap_model(self.unet).parameters())
                self.global_step += 1
                trained_samples += self.images_per_step
                self.losses.append(accumulated)
                now = time.perf_counter()
                rate = trained_samples / (now - started)
                if trained_samples == self.images_per_step:
                    first_done = now
                if trained_samples == 6 * self.images_per_step and self.global_step < self.total_steps:
                    steps_per_second = 5 / max(now - first_done, 1e-9)
                    steps_left = self.total_steps - self.global_step
                    left = steps_left / steps_per_second
                    hint = shorter_run_hint(left, steps_per_second)
                    precision = accelerator.mixed_precision
                    where = accelerator.device if precision == "no" else f"{accelerator.device}, {precision}"
                    bar.write(f"estimated: {left / 60:.1f} min for the {steps_left} steps left on {where} "
                              f"(from steps 2-6){hint}")  # fmt: skip
                bar.update(1)
                bar.set_postfix(loss=f"{accumulated:.4f}", samples_per_s=f"{rate:.1f}")
                if self.global_step % max(1, config.log_every) == 0 or self.global_step == self.total_steps:
                    accelerator.log({"loss": accumulated, "lr": self.lr_scheduler.get_last_lr()[0],
                                     "samples_per_s": rate}, step=self.global_step)  # fmt: skip
                accumulated = 0.0
                if config.checkpoint_every and self.global_step % config.checkpoint_every == 0:
                    self.save_checkpoint()
                if config.sample_every and self.global_step % config.sample_every == 0:
                    self.write_samples()
                if self.global_step >= self.total_steps:
                    break
        bar.close()
        elapsed = time.perf_counter() - started
        if config.checkpoint_every and not checkpoint_folder(self.out_dir, self.global_step).exists():
            self.save_checkpoint()
        self.save_pipeline()
        self.write_samples()  # does nothing when num_samples is 0
        accelerator.end_training()
        return TrainResult(self.out_dir, self.global_step, self.losses, trained_samples / max(elapsed, 1e-9))

    def _micro_step(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """One micro-batch: the loss (`_loss`), its backward pass and, at the end of an accumulation, the clipped
        optimizer step. images: `(batch, 1, height, width)` in [-1, 1]; labels: `(batch,)` class indices or None."""
        config, accelerator = self.config, self.accelerator
        with accelerator.accumulate(self.unet):
            try:
                loss = self._loss(images, labels)
                accelerator.backward(loss)
            except torch.cuda.OutOfMemoryError:
                raise TrainingError(
                    f"out of GPU memory at batch size {config.batch_size}: try --batch-size "
                    f"{max(1, images.shape[0] // 2)} --gradient-accumulation-steps "
                    f"{config.gradient_accumulation_steps * 2} (same effective batch), or --mixed-precision bf16"
                ) from None
            value = loss.detach().item()
            self._check_finite(loss=value)
            if accelerator.sync_gradients and config.max_grad_norm:
                self._check_norm(accelerator.clip_grad_norm_(self.unet.parameters(), config.max_grad_norm))
            self.optimizer.step()
            self.lr_scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        return value

    def _diverged_setting(self) -> str:
        return f"--learning-rate (now {self.config.learning_rate:g})"

    def _class_labels(self, labels: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """The batch's class labels on the device, each replaced by the null label with probability
        `guidance_dropout` (classifier-free guidance training); None for an unconditional model."""
        if self.rows.labels is None:
            return None
        drop = torch.rand(batch, generator=self.generator) < self.config.guidance_dropout
        null = torch.full_like(labels, null_label(len(self.genres)))
        return torch.where(drop, null, labels).to(self.accelerator.device)

    def _loss(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The denoising loss of one micro-batch (Ho et al. 2020; the target follows the prediction type, Min-SNR
        weighting and offset noise as configured)."""
        config, scheduler = self.config, self.noise_scheduler
        noise, timesteps = draw_noise(images.shape, scheduler.config.num_train_timesteps, config.noise_offset,
                                      self.generator)  # fmt: skip
        class_labels = self._class_labels(labels, images.shape[0])
        images, noise, timesteps = (t.to(self.accelerator.device) for t in (images, noise, timesteps))
        noisy = scheduler.add_noise(images, noise, timesteps)
        target = training_target(scheduler, images, noise, timesteps)
        prediction = self.forward_unet(noisy, timesteps, class_labels=class_labels).sample
        return denoising_loss(prediction, target, scheduler, timesteps, config.snr_gamma)

    # -- persistence -----------------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        """Write `checkpoints/step_N` atomically (`checkpoints.write_checkpoint`) and keep the newest
        `keep_checkpoints`."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return None
        self._check_weights()
        state = {
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "global_step": self.global_step,
            "losses": torch.tensor(self.losses, dtype=torch.float64),
            "ema": None if self.ema is None else self.ema.state_dict(),
            **self._extra_state(),
        }
        unet = self.accelerator.unwrap_model(self.unet)
        if self.config.lora_rank is not None:  # the frozen base as a plain model; the adapter in the state
            state["lora"] = lora.adapter_state(unet)
            unet = lora.base_model(unet)
        final = write_checkpoint(checkpoint_folder(self.out_dir, self.global_step), unet, self.noise_scheduler,
                                 self.mel_config, self.genres, state)  # fmt: skip
        prune_checkpoints(self.out_dir, self.config.keep_checkpoints)
        return final

    def _check_weights(self) -> None:
        """The weights about to be saved are finite (a diverged last step shows in no loss before it is saved)."""
        self._check_finite(parameters=self.accelerator.unwrap_model(self.unet).parameters())

    def _load_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.generator.set_state(state["generator"])
        self.global_step = int(state["global_step"])
        self.losses = state["losses"].tolist()
        if self.config.lora_rank is not None:
            lora.set_adapter_state(self.accelerator.unwrap_model(self.unet), state["lora"])
        if self.ema is not None:
            if state.get("ema") is None:
                raise TrainingError(f"{self.out_dir}: the checkpoint has no EMA weights but the run uses EMA")
            self.ema.load_state_dict(state["ema"])
            self.ema.to(self.accelerator.device)
        self._load_extra_state(state)

    def _inference_unet(self, merged: bool = True):
        """A copy of the UNet carrying the EMA weights (or the raw ones without EMA), in eval mode; a LoRA run's
        with its adapter merged into the weights (a plain model, as every loader reads it) unless `merged` is
        False."""
        import copy

        unet = copy.deepcopy(self.accelerator.unwrap_model(self.unet)).float().eval()
        if self.ema is not None:
            self.ema.copy_to(unet.parameters())
        if merged and self.config.lora_rank is not None:
            lora.merge_into(unet)
        return unet

    def build_pipeline(self):
        from audiodiff.pipeline import AudioDiffusionPipeline

        # "precision": what --mixed-precision (or "auto") came to on this machine, in the run's last session
        record = {**self.run_info, "steps": self.global_step, "final_loss": self.losses[-1] if self.losses else None,
                  "precision": self.accelerator.mixed_precision}  # fmt: skip
        components = dict(unet=self._inference_unet(), scheduler=self.noise_scheduler, mel_config=self.mel_config,
                          genres=self.genres, bits=self.data.bits, training=record,
                          quality=self._quality_fences())  # fmt: skip
        return AudioDiffusionPipeline(**{**components, **self._pipeline_extras()})

    def _pipeline_extras(self) -> dict[str, Any]:
        """`AudioDiffusionPipeline` arguments that replace or add to the saved pipeline's: a fine-tune's recommended
        guide, its base at the preset's `guide_scale` (a distilled student's scheduler and record instead)."""
        scale = self.config.guide_scale
        if not self.run_info.get("pretrained") or scale is None or scale == 1:
            return {}
        return {"recommended_guide": {"model": autoguide.BASE, "scale": scale}}

    def _extra_state(self) -> dict[str, Any]:
        """Further checkpoint state (tensors and plain values) of a subclass, restored by `_load_extra_state`."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what `_extra_state` saved."""

    def _quality_fences(self, count: int = 1024) -> dict[str, Any]:
        """Artefact-check fences of up to `count` training images (`train_outputs.quality_fences`)."""
        return quality_fences(self.rows, self.data.bits, self.mel_config, count)

    def save_pipeline(self) -> None:
        """Write the pipeline folder (reference layout + audiodiff metadata) into `out_dir`."""
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            self._check_weights()
            self.build_pipeline().save_pretrained(self.out_dir)
            if self.config.lora_rank is not None:  # the adapter alone too, to share or apply to the base
                base = self.run_info.get("pretrained")
                lora.save_adapter(self._inference_unet(merged=False), self.out_dir, base=base, genres=self.genres)
            (self.out_dir / "losses.json").write_text(json.dumps(self.losses) + "\n")

    def _preview_steps(self) -> int:
        return self.config.sample_steps

    def write_samples(self) -> None:
        """Generate a few clips with a fast scheduler: `samples/step_N/sample_K.{wav,png}`, and the same clips in
        TensorBoard as images and audio (`train_outputs.write_previews`)."""
        if not self.accelerator.is_main_process or self.config.num_samples < 1:
            return
        # Previews use the fast sampler; the saved pipeline keeps the training (DDPM) scheduler, as the reference.
        pipeline = self.build_pipeline().set_scheduler(AUTO_SCHEDULER).to(self.accelerator.device)
        pipeline.set_progress_bar_config(disable=True)
        generator = torch.Generator(self.accelerator.device).manual_seed(self.config.seed)
        kwargs = {}
        if self.conditional:
            # A fine-tune previews its genre; a multi-genre model one clip of each genre in turn.
            count = self.config.num_samples
            kwargs["genre"] = (
                [self.genre] * count if self.genre else [self.genres[i % len(self.genres)] for i in range(count)]
            )
        output = pipeline(batch_size=self.config.num_samples, num_inference_steps=self._preview_steps(),
                          generator=generator, output_type="np", **kwargs)  # fmt: skip
        folder = self.out_dir / "samples" / f"step_{self.global_step:08d}"
        tracker = self.accelerator.get_tracker("tensorboard", unwrap=True) if self.accelerator.trackers else None
        write_previews(output, pipeline.bits, folder, self.global_step, tracker, pipeline.mel_config)

    def copy_check(self, count: int = 4000) -> dict[str, Any] | None:
        """The copy check (`evaluation.copies`) of the run's last preview clips against up to `count` of its training
        rows, with the training set's other tracks as the yardstick: a first warning that a fine-tune on a few songs
        replays them. None when there are no previews (`num_samples` 0) or this is not the main process."""
        if not self.accelerator.is_main_process:
            return None
        folder = self.out_dir / "samples" / f"step_{self.global_step:08d}"
        return previews_copy_check(folder, self.rows, self.data.bits, self.mel_config, count)
