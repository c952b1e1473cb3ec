"""Training the vocoder (`audiodiff train-vocoder`): Vocos on the user's music, on the house machinery.

Losses (Vocos, Siddiqui et al. 2023; HiFi-GAN, Kong et al. 2020): L1 between log-mel spectrograms (`mel_weight`)
plus the multi-resolution STFT loss (Yamamoto et al. 2020, `stft_weight`) from the first step; after
`adversarial_start` steps, hinge adversarial losses of the multi-period and multi-resolution discriminators and
feature matching join in (the warm-up lets the reconstruction losses find the signal first, so the discriminators
start on audio worth judging). AdamW for both networks with warm-up and a cosine schedule, gradient clipping, an
optional EMA of the generator's weights (saved instead of the raw ones).

The machinery is the diffusion trainer's (`audiodiff.training`): accelerate (multi-GPU, bf16), the run folder of
every trainer (`audiodiff.runs`: `run.json`, held against a second run, resumed with only `RESUMABLE` settings
changed), checkpoints written atomically into `checkpoints/step_N/` (`audiodiff.checkpoints`), checked by checksum,
and the newest intact one resumed, every random draw from one checkpointed `torch.Generator` (so a killed and resumed
run ends with the weights of an uninterrupted one: bit for bit on the same machine), TensorBoard logs with audio
previews, a progress bar, and a diverged run stopped before anything is saved (`checkpoints.check_finite`).
The run folder is also the vocoder folder: `config.json` + `model.safetensors` (`vocoders.trained`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from audiodiff.checkpoints import (
    CheckpointError,
    checkpoint_folder,
    latest_checkpoint,
    prune_checkpoints,
    read_meta,
    write_meta,
)
from audiodiff.config import ConfigError, MelConfig, load_dataclass, read_yaml, resolve_config_file
from audiodiff.optimizer_steps import FusedEMA, adamw
from audiodiff.runs import RUN_FILE, RunFolderHolder, make_accelerator
from audiodiff.runtime import MIXED_PRECISIONS
from audiodiff.utils import atomic_folder, first_line
from audiodiff.vocoder_training.data import VocoderData, build_data
from audiodiff.vocoder_training.discriminators import (
    Discriminators,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from audiodiff.vocoder_training.losses import MelSpectrogram, mel_loss, multi_resolution_stft_loss, spectrum_losses
from audiodiff.vocoders.trained import CONFIG_NAME, TrainedVocoder
from audiodiff.vocoders.vocos import VocosConfig, VocosModel

logger = logging.getLogger(__name__)

# Settings a resumed run may change: how long it runs.
RESUMABLE = ("max_steps",)


class VocoderTrainingError(RuntimeError):
    """Training cannot start or go on; the message (one line) says why and what to change."""


@dataclasses.dataclass
class VocoderTrainConfig:
    """A vocoder recipe (`configs/vocoder/*.yaml`): the network, the data, the losses and the optimisation."""

    max_steps: int
    dim: int = 256
    intermediate_dim: int = 768
    layers: int = 8
    magnitude_prior: bool = False
    prior_iterations: int = 0
    segment_frames: int = 32
    batch_size: int = 16
    slices_per_track: int = 32
    max_slices: int = 2000
    dither_levels: float = 0.5
    learning_rate: float = 5e-4
    discriminator_learning_rate: float = 2e-4
    adam_beta1: float = 0.8
    adam_beta2: float = 0.9
    weight_decay: float = 0.01
    lr_warmup_steps: int = 100
    max_grad_norm: float = 10.0
    mel_weight: float = 45.0
    stft_weight: float = 1.0
    magnitude_weight: float = 0.0
    phase_weight: float = 0.0
    adversarial_start: int | None = None
    adversarial_weight: float = 1.0
    feature_weight: float = 2.0
    discriminator_channels: int = 32
    use_ema: bool = False
    ema_decay: float = 0.999
    mixed_precision: str = "no"
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    sample_every: int = 1000
    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        at_least = {"max_steps": 1, "dim": 1, "intermediate_dim": 1, "layers": 1, "prior_iterations": 0,
                    "segment_frames": 2, "batch_size": 1, "slices_per_track": 1, "max_slices": 1, "lr_warmup_steps": 0,
                    "discriminator_channels": 1, "checkpoint_every": 0, "keep_checkpoints": 1, "sample_every": 0,
                    "log_every": 1, "seed": 0}  # fmt: skip
        for name, minimum in at_least.items():
            if getattr(self, name) < minimum:
                raise ConfigError(f"{name} must be at least {minimum}, got {getattr(self, name)}")
        for name in ("learning_rate", "discriminator_learning_rate"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(f"{name} must be a positive number, got {getattr(self, name)}")
        for name in ("weight_decay", "max_grad_norm", "mel_weight", "stft_weight", "magnitude_weight", "phase_weight",
                     "adversarial_weight", "feature_weight", "dither_levels"):  # fmt: skip
            if not 0 <= getattr(self, name) < math.inf:
                raise ConfigError(f"{name} must be zero or a positive number, got {getattr(self, name)}")
        for name in ("adam_beta1", "adam_beta2", "ema_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.adversarial_start is not None and self.adversarial_start < 0:
            raise ConfigError(f"adversarial_start must be at least 0 (or null: never), got {self.adversarial_start}")
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise ConfigError(
                f"mixed_precision must be one of {', '.join(MIXED_PRECISIONS)}, got {self.mixed_precision!r}"
            )

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, **overrides: Any) -> VocoderTrainConfig:
        """A preset name (`configs/vocoder/<name>.yaml`) or a YAML path, with non-None `overrides` on top."""
        path = resolve_config_file(name_or_path, "vocoder")
        values = read_yaml(path)
        values.update({key: value for key, value in overrides.items() if value is not None})
        return load_dataclass(cls, values, str(path))

    def adversarial_at(self, step: int) -> bool:
        """Whether step `step` (counted from 0) trains adversarially."""
        return self.adversarial_start is not None and step >= self.adversarial_start


@dataclasses.dataclass
class VocoderTrainResult:
    out_dir: Path
    steps: int
    losses: list[float]
    seconds: float


@dataclasses.dataclass
class VocoderCheckpoint:
    folder: Path
    generator: dict[str, torch.Tensor]
    discriminators: dict[str, torch.Tensor]
    state: dict[str, Any]


def write_vocoder_checkpoint(final: Path, generator, discriminators, state: dict[str, Any]) -> Path:
    """One checkpoint folder, atomically: both networks (safetensors) and `state.pt` (tensors and plain values)."""
    from safetensors.torch import save_file

    with atomic_folder(final) as folder:
        save_file({k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()},
                  str(folder / "generator.safetensors"))  # fmt: skip
        save_file({k: v.detach().cpu().contiguous() for k, v in discriminators.state_dict().items()},
                  str(folder / "discriminators.safetensors"))  # fmt: skip
        torch.save(state, folder / "state.pt")
        write_meta(folder, {"global_step": int(state["global_step"])})  # last: the checksums of the files above
    return final


def read_vocoder_checkpoint(folder: Path) -> VocoderCheckpoint:
    """Read a checkpoint completely, or raise `CheckpointError` saying which part is damaged."""
    from safetensors.torch import load_file

    try:
        read_meta(folder)  # checks the checksums first
        generator = load_file(folder / "generator.safetensors")
        discriminators = load_file(folder / "discriminators.safetensors")
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "global_step" not in state:
            raise ValueError("state.pt holds no training state")
    except Exception as error:  # noqa: BLE001 - any failure to read a part means this checkpoint is damaged
        raise CheckpointError(f"{folder}: damaged checkpoint ({type(error).__name__}: {first_line(error)})") from None
    return VocoderCheckpoint(folder, generator, discriminators, state)


class VocoderTrainer(RunFolderHolder):
    """Trains a Vocos vocoder on `data` into the folder `out_dir`. `VocoderTrainer.start(...)` for a new run,
    `VocoderTrainer.resume(out_dir)` to continue one; then `.run()`."""

    command = "audiodiff train-vocoder"  # names the holder of a run folder in the message a second run gets
    error = VocoderTrainingError
    config_class = VocoderTrainConfig
    finished_file = CONFIG_NAME
    run_kind = "a vocoder training run"
    resumable = RESUMABLE

    def __init__(self, config: VocoderTrainConfig, data: VocoderData, out_dir, run_info: dict, progress: bool = True):
        self.config, self.data, self.out_dir = config, data, Path(out_dir)
        self.mel_config = data.mel_config
        self.run_info = run_info
        self.progress = progress
        self.accelerator = make_accelerator(self.out_dir, config.mixed_precision, self.error)
        mel = self.mel_config
        # Initial weights from the run's seed, without leaving the global RNG changed for the caller.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            network = VocosConfig(mel.n_mels, mel.n_fft, mel.hop_length, config.dim, config.intermediate_dim,
                                  config.layers, magnitude_prior=config.magnitude_prior, sample_rate=mel.sample_rate,
                                  top_db=float(mel.top_db), prior_iterations=config.prior_iterations)  # fmt: skip
            generator = VocosModel(network)
            discriminators = Discriminators(config.discriminator_channels)
        betas = (config.adam_beta1, config.adam_beta2)
        device = self.accelerator.device
        generator_optimizer = adamw(generator.parameters(), device, lr=config.learning_rate, betas=betas,
                                    weight_decay=config.weight_decay)  # fmt: skip
        discriminator_optimizer = adamw(discriminators.parameters(), device, lr=config.discriminator_learning_rate,
                                        betas=betas, weight_decay=config.weight_decay)  # fmt: skip
        from diffusers.optimization import get_scheduler

        world = self.accelerator.num_processes
        # The discriminators' schedule starts when they join (adversarial_start) and ends with the run.
        adversarial_steps = max(1, config.max_steps - (config.adversarial_start or 0))
        schedulers = [
            get_scheduler("cosine", optimizer=optimizer, num_warmup_steps=config.lr_warmup_steps * world,
                          num_training_steps=steps * world)
            for optimizer, steps in ((generator_optimizer, config.max_steps),
                                     (discriminator_optimizer, adversarial_steps))
        ]  # fmt: skip
        (self.generator, self.discriminators, self.generator_optimizer, self.discriminator_optimizer,
         self.generator_schedule, self.discriminator_schedule) = self.accelerator.prepare(
            generator, discriminators, generator_optimizer, discriminator_optimizer, *schedulers)  # fmt: skip
        self.ema = None
        if config.use_ema:
            self.ema = FusedEMA(self.accelerator.unwrap_model(self.generator).parameters(), decay=config.ema_decay)
            self.ema.to(self.accelerator.device)
        self.mel = MelSpectrogram(mel).to(self.accelerator.device)
        self.random = torch.Generator().manual_seed(config.seed * 7919 + self.accelerator.process_index)
        self.global_step = 0
        self.losses: list[float] = []

    # -- construction ------------------------------------------------------------------------------------------
    @classmethod
    def start(cls, config: VocoderTrainConfig, sources: list[str], out_dir, mel_config: MelConfig | None = None,
              bits: int | None = None, preset: str | None = None, progress: bool = True) -> VocoderTrainer:  # fmt: skip
        """A new run on the audio of `sources` (folders, files, file lists, or a prepared dataset, whose mel settings
        and bit depth are then the default). `out_dir` must be new or empty."""
        out_dir = Path(out_dir)
        make = lambda: cls._new_run(config, sources, out_dir, mel_config, bits, preset, progress)  # noqa: E731
        return cls._starting(out_dir, make)

    @classmethod
    def _new_run(cls, config, sources, out_dir: Path, mel_config, bits, preset, progress) -> VocoderTrainer:
        from audiodiff.vocoder_training.data import source_files

        files, dataset_mel, dataset_bits = source_files(sources)
        if mel_config is not None and dataset_mel is not None and mel_config.mismatches(dataset_mel):
            different = ", ".join(mel_config.mismatches(dataset_mel))
            raise VocoderTrainingError(
                f"the dataset's mel settings differ from --mel-config/MODEL ({different}); give one of them"
            )
        mel_config = mel_config or dataset_mel or MelConfig()
        bits = bits or dataset_bits or 8
        run_info = {"data": [str(source) for source in sources], "mel_config": mel_config.to_dict(), "bits": bits,
                    "preset": preset, "config": dataclasses.asdict(config)}  # fmt: skip
        data = build_data(files, mel_config, bits, config.slices_per_track, config.max_slices, progress)
        trainer = cls(config, data, out_dir, run_info, progress)
        trainer.write_run_record()
        return trainer

    @classmethod
    def resume(cls, out_dir, progress: bool = True, **overrides: Any) -> VocoderTrainer:
        """Continue the run in `out_dir` from its newest intact checkpoint (from the start if it has none); only
        `RESUMABLE` settings may change."""
        out_dir = Path(out_dir)
        return cls._resuming(out_dir, lambda: cls._resumed(out_dir, progress, overrides))

    @classmethod
    def _resumed(cls, out_dir: Path, progress: bool, overrides: dict[str, Any]) -> VocoderTrainer:
        from audiodiff.vocoder_training.data import source_files

        run_info = cls.read_run_record(out_dir)
        config = cls.resumed_config(out_dir, run_info, overrides)
        mel_config = MelConfig.from_dict(run_info["mel_config"], str(out_dir / RUN_FILE))
        files, _, _ = source_files(run_info["data"])
        data = build_data(files, mel_config, run_info["bits"], config.slices_per_track, config.max_slices, progress)
        trainer = cls(config, data, out_dir, run_info, progress)
        try:
            checkpoint = latest_checkpoint(out_dir, warn=logger.warning, read=read_vocoder_checkpoint)
        except CheckpointError as error:
            raise VocoderTrainingError(str(error)) from None
        if checkpoint is not None:
            trainer._load(checkpoint)
        return trainer

    def _load(self, checkpoint: VocoderCheckpoint) -> None:
        unwrap = self.accelerator.unwrap_model
        unwrap(self.generator).load_state_dict(checkpoint.generator)
        unwrap(self.discriminators).load_state_dict(checkpoint.discriminators)
        state = checkpoint.state
        self.generator_optimizer.load_state_dict(state["generator_optimizer"])
        self.discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])
        self.generator_schedule.load_state_dict(state["generator_schedule"])
        self.discriminator_schedule.load_state_dict(state["discriminator_schedule"])
        self.random.set_state(state["random"])
        self.global_step = int(state["global_step"])
        self.losses = state["losses"].tolist()
        if self.ema is not None:
            if state.get("ema") is None:
                raise VocoderTrainingError(f"{self.out_dir}: the checkpoint has no EMA weights but the run uses EMA")
            self.ema.load_state_dict(state["ema"])
            self.ema.to(self.accelerator.device)

    # -- the loop -----------------------------------------------------------------------------------------------
    def _run(self) -> VocoderTrainResult:
        from tqdm.auto import tqdm

        config, accelerator = self.config, self.accelerator
        accelerator.init_trackers("train-vocoder")
        bar = tqdm(total=config.max_steps, initial=self.global_step, desc="train-vocoder", unit="step",
                   disable=not (self.progress and accelerator.is_local_main_process))  # fmt: skip
        self.generator.train()
        self.discriminators.train()
        started = time.perf_counter()
        while self.global_step < config.max_steps:
            features, target = self.data.batch(config.batch_size, config.segment_frames, self.random,
                                               config.dither_levels)  # fmt: skip
            terms = self._step(features.to(accelerator.device), target.to(accelerator.device))
            if self.ema is not None:
                self.ema.step(accelerator.unwrap_model(self.generator).parameters())
            self.global_step += 1
            self.losses.append(terms["loss"])
            bar.update(1)
            bar.set_postfix(loss=f"{terms['loss']:.3f}", mel=f"{terms['mel']:.3f}")
            if self.global_step % config.log_every == 0 or self.global_step == config.max_steps:
                accelerator.log({**terms, "lr": self.generator_schedule.get_last_lr()[0]}, step=self.global_step)
            if config.checkpoint_every and self.global_step % config.checkpoint_every == 0:
                self.save_checkpoint()
            if config.sample_every and self.global_step % config.sample_every == 0:
                self.write_preview()
        bar.close()
        if config.checkpoint_every and not checkpoint_folder(self.out_dir, self.global_step).exists():
            self.save_checkpoint()
        self.save_vocoder()
        self.write_preview()
        accelerator.end_training()
        return VocoderTrainResult(self.out_dir, self.global_step, self.losses, time.perf_counter() - started)

    def _step(self, features: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        config, accelerator = self.config, self.accelerator
        adversarial = config.adversarial_at(self.global_step)
        with accelerator.autocast():
            audio, magnitude, phase = self.generator(features, return_spectrum=True)
        audio = audio.float()
        terms: dict[str, float] = {}
        if adversarial:
            # Discriminator step on the generated audio as it is now (detached).
            with accelerator.autocast():
                real_scores, _ = self.discriminators(target)
                fake_scores, _ = self.discriminators(audio.detach())
                loss_d = discriminator_loss(real_scores, fake_scores)
            accelerator.backward(loss_d)
            self._check_finite(loss=loss_d.detach().item())
            if config.max_grad_norm:
                self._check_norm(accelerator.clip_grad_norm_(self.discriminators.parameters(), config.max_grad_norm))
            self.discriminator_optimizer.step()
            self.discriminator_schedule.step()
            self.discriminator_optimizer.zero_grad(set_to_none=True)
            terms["discriminator"] = loss_d.detach().item()
        reconstruction_mel = mel_loss(audio, target, self.mel)
        reconstruction_stft = multi_resolution_stft_loss(audio, target)
        loss = config.mel_weight * reconstruction_mel + config.stft_weight * reconstruction_stft
        if config.magnitude_weight or config.phase_weight:
            mel = self.mel_config
            floor = 10.0 ** (-float(mel.top_db) / 20.0)  # the image's floor, as the mel loss floors
            magnitude_term, phase_term = spectrum_losses(magnitude, phase, target, mel.n_fft, mel.hop_length, floor)
            loss = loss + config.magnitude_weight * magnitude_term + config.phase_weight * phase_term
            terms.update(magnitude=magnitude_term.detach().item(), phase=phase_term.detach().item())
        if adversarial:
            with accelerator.autocast():
                with torch.no_grad():
                    _, real_features = self.discriminators(target)
                fake_scores, fake_features = self.discriminators(audio)
                adversarial_loss = generator_adversarial_loss(fake_scores)
                matching = feature_matching_loss(real_features, fake_features)
            loss = loss + config.adversarial_weight * adversarial_loss + config.feature_weight * matching
            terms.update(adversarial=adversarial_loss.detach().item(), feature_matching=matching.detach().item())
        accelerator.backward(loss)
        self._check_finite(loss=loss.detach().item())
        if config.max_grad_norm:
            self._check_norm(accelerator.clip_grad_norm_(self.generator.parameters(), config.max_grad_norm))
        self.generator_optimizer.step()
        self.generator_schedule.step()
        self.generator_optimizer.zero_grad(set_to_none=True)
        self.discriminator_optimizer.zero_grad(set_to_none=True)  # the generator's step left gradients there
        terms.update(loss=loss.detach().item(), mel=reconstruction_mel.detach().item(),
                     stft=reconstruction_stft.detach().item())  # fmt: skip
        return terms

    def _diverged_setting(self) -> str:
        config = self.config
        return (
            f"learning_rate (now {config.learning_rate:g}) or discriminator_learning_rate (now "
            f"{config.discriminator_learning_rate:g}) in the --config recipe"
        )

    def _check_weights(self) -> None:
        """The weights about to be saved are finite (a diverged last step shows in no loss before it is saved)."""
        unwrap = self.accelerator.unwrap_model
        self._check_finite(parameters=[*unwrap(self.generator).parameters(), *unwrap(self.discriminators).parameters()])

    # -- outputs -------------------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return None
        self._check_weights()
        state = {
            "generator_optimizer": self.generator_optimizer.state_dict(),
            "discriminator_optimizer": self.discriminator_optimizer.state_dict(),
            "generator_schedule": self.generator_schedule.state_dict(),
            "discriminator_schedule": self.discriminator_schedule.state_dict(),
            "random": self.random.get_state(),
            "global_step": self.global_step,
            "losses": torch.tensor(self.losses, dtype=torch.float64),
            "ema": None if self.ema is None else self.ema.state_dict(),
        }
        unwrap = self.accelerator.unwrap_model
        final = write_vocoder_checkpoint(checkpoint_folder(self.out_dir, self.global_step), unwrap(self.generator),
                                         unwrap(self.discriminators), state)  # fmt: skip
        prune_checkpoints(self.out_dir, self.config.keep_checkpoints)
        return final

    def vocoder(self) -> TrainedVocoder:
        """The trained vocoder (a copy, EMA weights when the run keeps an EMA), on the CPU in eval mode."""
        import copy

        model = copy.deepcopy(self.accelerator.unwrap_model(self.generator)).float().cpu().eval()
        if self.ema is not None:
            self.ema.copy_to(model.parameters())
        record = {key: self.run_info.get(key) for key in ("data", "preset")}
        record.update(steps=self.global_step, final_loss=self.losses[-1] if self.losses else None,
                      slices=len(self.data), tracks=len(set(self.data.tracks)))  # fmt: skip
        return TrainedVocoder(model, self.mel_config, self.data.bits, record)

    def save_vocoder(self) -> None:
        """Write the vocoder (`config.json` + `model.safetensors`) and `losses.json` into the run folder."""
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            self._check_weights()
            self.vocoder().save_pretrained(self.out_dir)
            (self.out_dir / "losses.json").write_text(json.dumps(self.losses) + "\n")

    def write_preview(self) -> None:
        """`samples/step_N/{original,vocoder}.wav` of the first training slice, and the same audio in TensorBoard."""
        if not self.accelerator.is_main_process:
            return
        from audiodiff.audio import save_audio

        features, original = self.data.slice_example(0)
        vocoder = self.vocoder()
        with torch.no_grad():
            decoded = vocoder.model(features)
        peak = float(max(decoded.abs().max(), original.abs().max(), 1e-9))
        folder = self.out_dir / "samples" / f"step_{self.global_step:08d}"
        rate = self.mel_config.sample_rate
        save_audio(folder / "original.wav", (original[0] / peak).numpy(), rate)
        save_audio(folder / "vocoder.wav", (decoded[0] / peak).numpy(), rate)
        tracker = self.accelerator.get_tracker("tensorboard", unwrap=True) if self.accelerator.trackers else None
        if tracker is not None:
            tracker.add_audio("preview/vocoder", decoded[0] / peak, self.global_step, rate)
            tracker.add_audio("preview/original", original[0] / peak, self.global_step, rate)


def train_vocoder(config: VocoderTrainConfig, sources: list[str], out_dir, mel_config: MelConfig | None = None,
                  bits: int | None = None, progress: bool = True) -> VocoderTrainResult:  # fmt: skip
    """Train a vocoder on the audio of `sources` into `out_dir` (see `VocoderTrainer`)."""
    return VocoderTrainer.start(config, sources, out_dir, mel_config, bits, progress=progress).run()
