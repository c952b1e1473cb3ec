"""The training / fine-tuning loop: denoising diffusion (Ho et al. 2020) on spectrogram images, on accelerate.

One loop serves training from scratch and genre fine-tuning. What it adds to a plain loop (the diffusion course's
AdamW + MSE on the noise) is cheap per step: cosine schedule with warm-up, gradient clipping, EMA of the weights,
gradient accumulation, mixed precision and multi-GPU through accelerate, classifier-free-guidance label dropout.

Reproducibility and resume: the order of the data is a pure function of (seed, epoch) (`data/order.py`), and all
noise, timesteps and label dropout come from one `torch.Generator` whose state is checkpointed (`checkpoints.py`),
so a run killed at any point and resumed from its last checkpoint ends with the same weights as an uninterrupted
run (bit for bit on the same machine; within float rounding across machines).

Safety: a run holds its folder from start or resume until its outputs are written (`checkpoints.RunFolderHolder`), so
a second run into the same --out is refused instead of mixing the two; a non-finite loss, gradient norm or weight
stops the run before anything is saved (`checkpoints.check_finite`); damaged checkpoints are found by checksum.

Reading order: `TrainConfig` (the recipe), `train` (the one-call entry), `Trainer` (starting or resuming a run, the
loop, what it writes), then the helpers that build the noise scheduler and load a pretrained pipeline.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from audiodiff.checkpoints import (
    RUN_FILE,
    CheckpointError,
    RunFolderHolder,
    checkpoint_folder,
    latest_checkpoint,
    prune_checkpoints,
    write_checkpoint,
)
from audiodiff.codec import pixels_to_model
from audiodiff.config import COMPATIBLE_KEYS, ConfigError, MelConfig, load_dataclass, read_yaml, resolve_config_file
from audiodiff.data.offsets import OffsetError, OffsetWindows
from audiodiff.data.order import EPOCH_SAMPLING, TrainingRows, epoch_indices, slice_windows, wide_batch
from audiodiff.models import add_genre, build_model, load_model_preset, null_label
from audiodiff.optimizer_steps import FusedEMA, adamw
from audiodiff.schedulers import AUTO_SCHEDULER, BETA_SCHEDULES, PREDICTION_TYPES, scheduler_class
from audiodiff.utils import first_line

logger = logging.getLogger(__name__)

# What a new model gets for schedule settings left unset (None); a fine-tune keeps the pretrained model's.
SCHEDULE_DEFAULTS = {"prediction_type": "epsilon", "beta_schedule": "linear", "rescale_betas_zero_snr": False}


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
    give many different images; needs the tracks' audio where `prepare` read it.

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

    Throughput options, which change the speed and not the model (BENCHMARKS.md, "Training loop"): `channels_last`
    (the model's tensors in NHWC memory layout, for GPU convolutions) and `compile` (`torch.compile` the training
    forward pass; on these CPUs it costs about 100 s of compilation to win 6% per step, so it pays only for long runs).
    """

    presets: ClassVar[str] = "train"  # the folder of configs/ that holds this class's presets

    model: str = "small-64"
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
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
        if self.warmup_fraction is not None and not 0 <= self.warmup_fraction < 1:
            raise ConfigError(f"warmup_fraction must be in [0, 1) (or null), got {self.warmup_fraction}")
        for name in ("learning_rate", "adam_epsilon"):
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
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ConfigError(f"mixed_precision must be no, fp16 or bf16, got {self.mixed_precision!r}")
        if not 0.0 <= self.guidance_dropout < 1.0:
            raise ConfigError("guidance_dropout must be in [0, 1)")

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, **overrides: Any) -> TrainConfig:
        """A preset name (`configs/train/<name>.yaml`) or a YAML path, with non-None `overrides` on top."""
        path = resolve_config_file(name_or_path, cls.presets)
        values = read_yaml(path)
        values.update({key: value for key, value in overrides.items() if value is not None})
        return load_dataclass(cls, values, str(path))


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

    def __init__(
        self,
        config: TrainConfig,
        data,
        out_dir: str | os.PathLike,
        unet,
        noise_scheduler,
        mel_config: MelConfig,
        genres: list[str] | None,
        genre: str | None,
        run_info: dict[str, Any],
        progress: bool = True,
    ):
        from accelerate import Accelerator
        from accelerate.utils import ProjectConfiguration

        self.config = config
        self.data = data
        self.out_dir = Path(out_dir)
        self.mel_config = mel_config
        self.genres = genres
        self.genre = genre
        self.run_info = run_info
        self.progress = progress
        self.accelerator = Accelerator(
            mixed_precision=config.mixed_precision,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            log_with="tensorboard",
            project_config=ProjectConfiguration(project_dir=str(self.out_dir), logging_dir=str(self.out_dir / "logs")),
        )
        self.noise_scheduler = noise_scheduler
        self.conditional = unet.config.num_class_embeds is not None
        if self.conditional and not genres:
            raise TrainingError("the model has class embeddings but no genre names were given")
        self._prepare_rows()
        world = self.accelerator.num_processes
        # An epoch holds at least one optimizer step's images, so that a genre of two songs can be fine-tuned on.
        self.images_per_step = config.batch_size * config.gradient_accumulation_steps * world
        self.steps_per_epoch = len(self.epoch_order(0)) // self.images_per_step
        self.total_steps = self._planned_steps()
        self.warmup_steps = (
            round(config.warmup_fraction * self.total_steps)
            if config.warmup_fraction is not None
            else config.lr_warmup_steps
        )
        optimizer = adamw(
            unet.parameters(),
            self.accelerator.device,
            lr=config.learning_rate,
            betas=(config.adam_beta1, config.adam_beta2),
            weight_decay=config.weight_decay,
            eps=config.adam_epsilon,
        )
        from diffusers.optimization import get_scheduler

        lr_scheduler = get_scheduler(
            config.lr_scheduler,
            optimizer=optimizer,
            num_warmup_steps=self.warmup_steps * world,
            num_training_steps=self.total_steps * world,
        )
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
        return FusedEMA(
            raw.parameters(),
            decay=config.ema_max_decay,
            use_ema_warmup=True,
            inv_gamma=config.ema_inv_gamma,
            power=config.ema_power,
            model_cls=type(raw),
            model_config=raw.config,
        )

    # -- construction ------------------------------------------------------------------------------------------
    config_class = TrainConfig
    command = "audiodiff train"  # names the holder of a run folder in the message a second run gets
    error = TrainingError
    finished_file = "model_index.json"
    longer_options = "--max-steps or --epochs"

    @classmethod
    def start(
        cls,
        config: TrainConfig,
        data,
        out_dir: str | os.PathLike,
        pretrained: str | None = None,
        genre: str | None = None,
        progress: bool = True,
        preset: str | None = None,
    ) -> Trainer:
        """A new run: from scratch (`config.model` preset) or from a pretrained pipeline folder / hub id.

        `out_dir` must be new or empty: a folder holding a run is continued with `resume`, never overwritten.
        `preset` (the name `config` was loaded from) is recorded so that a resume can check it.
        """
        from accelerate import PartialState

        out_dir = Path(out_dir)
        cls._check_new_run_folder(out_dir)  # before taking the lock too, so that a refused folder is left untouched

        def make() -> Trainer:
            cls._check_new_run_folder(out_dir)  # again under the lock: no other run can start between check and start
            PartialState().wait_for_everyone()  # every process checks before the main one writes run.json
            return cls._new_run(config, data, out_dir, pretrained, genre, progress, preset)

        return cls._holding(out_dir, make)

    @classmethod
    def _new_run(cls, config, data, out_dir: Path, pretrained, genre, progress, preset=None) -> Trainer:
        if pretrained is not None:
            unet, noise_scheduler, mel_config, genres = _load_pretrained(pretrained)
            noise_scheduler = _finetune_noise_scheduler(noise_scheduler, config, pretrained)
            # The model's images and the dataset's must agree in width too; n_iter only affects decoding.
            different = mel_config.mismatches(data.mel_config, keys=("x_res", *COMPATIBLE_KEYS))
            if different:
                raise TrainingError(_mel_mismatch(pretrained, mel_config, data, different))
            if genre is not None and genres and genre not in genres:
                genres = add_genre(unet, genres, genre)
                if progress:
                    print(
                        f"genre {genre!r} is new to {pretrained} (it knows {', '.join(genres[:-1])}): added as a new "
                        "genre label, starting from the model's unconditional one"
                    )
        else:
            mel_config = data.mel_config
            noise_scheduler = _make_noise_scheduler(config)
            architecture = load_model_preset(config.model)
            if config.conditional and not data.genres:
                raise TrainingError(f"dataset {data.source} has no genre column: conditional training needs one")
            # Initial weights from the run's seed, without leaving the global RNG changed for the caller.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                unet = build_model(
                    architecture,
                    (mel_config.y_res, mel_config.x_res),
                    num_genres=len(data.genres) if config.conditional else None,
                )
            genres = list(data.genres) if config.conditional else None
        return cls._create(config, data, out_dir, unet, noise_scheduler, mel_config, genres, genre, progress,
                           pretrained, preset)  # fmt: skip

    @classmethod
    def _create(cls, config, data, out_dir: Path, unet, noise_scheduler, mel_config, genres, genre, progress,
                pretrained, preset) -> Trainer:  # fmt: skip
        """A new run's trainer, its record (`run.json`: data, pretrained, genre, preset, config) written first."""
        run_info = {
            "data": str(data.source),
            "pretrained": pretrained,
            "genre": genre,
            "preset": preset,
            "config": dataclasses.asdict(config),
        }
        trainer = cls(config, data, out_dir, unet, noise_scheduler, mel_config, genres, genre, run_info, progress)
        if trainer.accelerator.is_main_process:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / RUN_FILE).write_text(json.dumps(run_info, indent=2) + "\n")
        return trainer

    @classmethod
    def resume(
        cls,
        out_dir: str | os.PathLike,
        progress: bool = True,
        *,
        data: str | None = None,
        pretrained: str | None = None,
        genre: str | None = None,
        preset: str | None = None,
        **overrides: Any,
    ) -> Trainer:
        """Continue the run in `out_dir` from its newest intact checkpoint (or from the start if it has none).

        A resumed run keeps its saved settings: `overrides` may change only `RESUMABLE` ones (e.g. a higher
        `max_steps`); any other override, or a `data`/`pretrained`/`genre`/`preset` other than the run's, is a
        `TrainingError` (the same value is accepted, so a command can be repeated with --resume added). A damaged
        newer checkpoint is passed over with a logged warning.
        """
        out_dir = Path(out_dir)
        run_file = out_dir / RUN_FILE
        if not run_file.is_file():
            raise TrainingError(f"{out_dir}: no {RUN_FILE}, so there is no run to resume here")
        return cls._holding(
            out_dir,
            lambda: cls._resumed(out_dir, progress, data, pretrained, genre, preset, overrides),
        )

    @classmethod
    def _resumed(cls, out_dir: Path, progress, data, pretrained, genre, preset, overrides) -> Trainer:
        from audiodiff.data import load_spectrogram_dataset

        run_file = out_dir / RUN_FILE
        try:
            run_info = json.loads(run_file.read_text())
        except (OSError, ValueError) as error:
            raise TrainingError(f"{run_file}: unreadable ({first_line(error)})") from None
        if not isinstance(run_info, dict) or not isinstance(run_info.get("config"), dict):
            raise TrainingError(f"{run_file}: not a run record (a JSON object with a 'config')")
        requested = {key: value for key, value in overrides.items() if value is not None}
        _check_resume_options(
            out_dir, run_info, requested, data=data, pretrained=pretrained, genre=genre, preset=preset
        )
        values = {**run_info["config"], **requested}
        config = load_dataclass(cls.config_class, values, str(run_file))
        dataset = load_spectrogram_dataset(run_info["data"])
        try:
            checkpoint = latest_checkpoint(out_dir, warn=logger.warning)
        except CheckpointError as error:
            raise TrainingError(str(error)) from None
        if checkpoint is None:
            return cls._new_run(
                config, dataset, out_dir, run_info["pretrained"], run_info["genre"], progress, run_info.get("preset")
            )
        trainer = cls(
            config,
            dataset,
            out_dir,
            checkpoint.unet,
            checkpoint.noise_scheduler,
            checkpoint.mel_config,
            checkpoint.genres,
            run_info["genre"],
            run_info,
            progress,
        )
        trainer._load_state(checkpoint.state)
        return trainer

    def _prepare_rows(self) -> None:
        data = self.data
        columns = data.dataset.column_names
        if "image" not in columns:
            raise TrainingError(f"dataset {self.data.source} has no 'image' column (columns: {', '.join(columns)})")
        labels = None
        if self.genre is not None:
            if not self.data.genres or "genre" not in columns:
                raise TrainingError(
                    f"dataset {self.data.source} has no genre labels, so --genre {self.genre} cannot apply"
                )
            if self.genre not in self.data.genres:
                raise TrainingError(
                    f"genre {self.genre!r} is not in dataset {self.data.source} (genres: {', '.join(self.data.genres)})"
                )
            data = data.select_genres([self.genre])
        dataset = data.dataset
        if self.conditional:
            if self.genre is not None:
                if self.genre not in self.genres:
                    raise TrainingError(
                        f"the pretrained model knows genres {', '.join(self.genres)}, not {self.genre!r}; "
                        "fine-tune an unconditional model or one that has this genre"
                    )
                labels = [self.genres.index(self.genre)] * len(dataset)
            else:
                names = self.data.genres
                labels = [self.genres.index(names[value]) for value in dataset["genre"]]
        if len(dataset) == 0:
            raise TrainingError(f"dataset {self.data.source} has no images to train on")
        self.rows = TrainingRows(dataset, data.bits, labels)
        self.offsets = None
        if self.config.random_offsets:
            if any(width > 1 for width in self.config.widths):
                raise TrainingError("random_offsets draws one slice a row: use it with widths [1]")
            try:
                self.offsets = OffsetWindows(dataset, self.mel_config, data.bits, self.config.seed)
            except OffsetError as error:
                raise TrainingError(f"dataset {self.data.source}: {error}") from None
        self.tracks = list(data.rows_by_track().values())
        self.windows = {}  # width -> {row: window of time-consecutive rows}, for variable-width training
        wide = [width for width in self.config.widths if width > 1]
        if wide:
            if "slice" not in dataset.column_names:
                raise TrainingError(
                    f"dataset {self.data.source} has no 'slice' column, so widths {self.config.widths} cannot find "
                    "consecutive slices; prepare it with audiodiff prepare"
                )
            numbers = dataset.with_format("arrow")["slice"].to_pylist()
            for width in wide:
                self.windows[width] = slice_windows(self.tracks, numbers, width)
                if not self.windows[width]:
                    raise TrainingError(
                        f"widths {self.config.widths}: no track of dataset {self.data.source} has {width} consecutive "
                        f"non-silent slices ({width * self.mel_config.slice_seconds:.0f} s); use smaller widths"
                    )

    def step_width(self, step: int) -> int:
        """The width, in slices, of optimizer step `step` (0-based): the run's `widths` in turn."""
        widths = self.config.widths
        return widths[step % len(widths)]

    def _planned_steps(self) -> int:
        """The run's optimizer steps: `max_steps`, else `epochs` epochs, else `passes` over the training rows
        bounded by `passes_min_steps` and `passes_max_steps` (see `TrainConfig`)."""
        config = self.config
        if config.max_steps is not None:
            return config.max_steps
        if config.epochs is not None:
            return config.epochs * self.steps_per_epoch
        steps = max(config.passes_min_steps, math.ceil(config.passes * len(self.rows) / self.images_per_step))
        return steps if config.passes_max_steps is None else min(steps, config.passes_max_steps)

    def plan(self) -> list[str]:
        """What this run will do, in plain lines for the user before it starts (rows, tracks, steps, images seen,
        warm-up), then a warning line for each implausible setting."""
        config, rows = self.config, len(self.rows)
        images = self.total_steps * self.images_per_step
        if config.max_steps is not None:
            why = "--max-steps"
        elif config.epochs is not None:
            why = f"{config.epochs} epochs of {self.steps_per_epoch} steps"
        else:
            why = f"{config.passes:g} passes over the rows, within {config.passes_min_steps}-{config.passes_max_steps}"
        subject = f"genre {self.genre!r}: " if self.genre else ""
        lines = [
            f"plan: {subject}{rows} slices of {len(self.tracks)} tracks; {self.total_steps} steps of "
            f"{self.images_per_step} images ({why}) = {images} images seen, {images / max(1, rows):.1f} per slice; "
            f"warm-up {self.warmup_steps} steps"
        ]
        if self.total_steps <= self.warmup_steps:
            lines.append(
                f"warning: {self.total_steps} steps is not more than the {self.warmup_steps} warm-up steps, so the "
                "learning rate never reaches its peak: raise --max-steps or lower lr_warmup_steps"
            )
        if rows < 8 or len(self.tracks) < 2:
            lines.append(
                f"warning: {rows} slices of {len(self.tracks)} track(s) is very little to learn a genre from: "
                "expect the model to replay them (check with audiodiff evaluate --training)"
            )
        return lines

    def epoch_order(self, epoch: int) -> list[int]:
        """Row indices of one epoch (`data.order.epoch_indices`), at least one optimizer step's worth."""
        return epoch_indices(
            self.tracks, epoch, self.config.seed, self.config.epoch_sampling, min_rows=self.images_per_step
        )

    # -- the loop -----------------------------------------------------------------------------------------------
    def _run(self) -> TrainResult:
        from tqdm.auto import tqdm

        config, accelerator = self.config, self.accelerator
        accelerator.init_trackers("train")
        world, rank = accelerator.num_processes, accelerator.process_index
        micro = config.batch_size
        bar = tqdm(
            total=self.total_steps,
            initial=self.global_step,
            desc="train",
            unit="step",
            disable=not (self.progress and accelerator.is_local_main_process),
        )
        self.unet.train()
        started, trained_samples = time.perf_counter(), 0
        while self.global_step < self.total_steps:
            epoch, position = divmod(self.global_step, self.steps_per_epoch)
            order = self.epoch_order(epoch)
            batches = []
            for step in range(position, self.steps_per_epoch):
                width = self.step_width(epoch * self.steps_per_epoch + step)
                for accumulation in range(config.gradient_accumulation_steps):
                    start = (step * config.gradient_accumulation_steps + accumulation) * micro * world + rank * micro
                    rows = order[start : start + micro]
                    batches.append(rows if width == 1 else wide_batch(rows, order, self.windows[width], width))
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
                rate = trained_samples / (time.perf_counter() - started)
                if trained_samples == 5 * self.images_per_step and self.global_step < self.total_steps:
                    left = (self.total_steps - self.global_step) * self.images_per_step / rate
                    steps_left = self.total_steps - self.global_step
                    bar.write(f"estimated: {left / 60:.1f} min for the {steps_left} steps left on {accelerator.device} "
                              "(from the first 5 steps)")  # fmt: skip
                bar.update(1)
                bar.set_postfix(loss=f"{accumulated:.4f}", samples_per_s=f"{rate:.1f}")
                if self.global_step % max(1, config.log_every) == 0 or self.global_step == self.total_steps:
                    accelerator.log(
                        {"loss": accumulated, "lr": self.lr_scheduler.get_last_lr()[0], "samples_per_s": rate},
                        step=self.global_step,
                    )
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
        config, accelerator = self.config, self.accelerator
        batch = images.shape[0]
        noise = torch.randn(images.shape, generator=self.generator)
        timesteps = torch.randint(
            0, self.noise_scheduler.config.num_train_timesteps, (batch,), generator=self.generator
        )
        if config.noise_offset:  # drawn only when on, so that runs without it keep their random stream
            noise = noise + config.noise_offset * torch.randn((batch, images.shape[1], 1, 1), generator=self.generator)
        class_labels = self._class_labels(labels, batch)
        images, noise, timesteps = (t.to(accelerator.device) for t in (images, noise, timesteps))
        noisy = self.noise_scheduler.add_noise(images, noise, timesteps)
        prediction_type = self.noise_scheduler.config.prediction_type
        if prediction_type == "epsilon":
            target = noise
        elif prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(images, noise, timesteps)
        else:
            target = images
        prediction = self.forward_unet(noisy, timesteps, class_labels=class_labels).sample
        if config.snr_gamma is None:
            return F.mse_loss(prediction.float(), target.float())
        per_image = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        weights = min_snr_weights(self.noise_scheduler, timesteps, config.snr_gamma, prediction_type)
        return (per_image * weights).mean()

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
        final = write_checkpoint(
            checkpoint_folder(self.out_dir, self.global_step),
            self.accelerator.unwrap_model(self.unet),
            self.noise_scheduler,
            self.mel_config,
            self.genres,
            state,
        )
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
        if self.ema is not None:
            if state.get("ema") is None:
                raise TrainingError(f"{self.out_dir}: the checkpoint has no EMA weights but the run uses EMA")
            self.ema.load_state_dict(state["ema"])
            self.ema.to(self.accelerator.device)
        self._load_extra_state(state)

    def _inference_unet(self):
        """A copy of the UNet carrying the EMA weights (or the raw ones without EMA), in eval mode."""
        import copy

        unet = copy.deepcopy(self.accelerator.unwrap_model(self.unet)).float().eval()
        if self.ema is not None:
            self.ema.copy_to(unet.parameters())
        return unet

    def build_pipeline(self):
        from audiodiff.pipeline import AudioDiffusionPipeline

        components = dict(
            unet=self._inference_unet(),
            scheduler=self.noise_scheduler,
            mel_config=self.mel_config,
            genres=self.genres,
            bits=self.data.bits,
            training={
                **self.run_info,
                "steps": self.global_step,
                "final_loss": self.losses[-1] if self.losses else None,
            },
            quality=self._quality_fences(),
        )
        return AudioDiffusionPipeline(**{**components, **self._pipeline_extras()})

    def _pipeline_extras(self) -> dict[str, Any]:
        """`AudioDiffusionPipeline` arguments that replace or add to the saved pipeline's (a distilled student's
        scheduler and record)."""
        return {}

    def _extra_state(self) -> dict[str, Any]:
        """Further checkpoint state (tensors and plain values) of a subclass, restored by `_load_extra_state`."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what `_extra_state` saved."""

    def _quality_fences(self, count: int = 1024) -> dict[str, Any]:
        """Artefact-check fences fitted on up to `count` training images, evenly spaced over the (genre's) rows,
        so that generated clips can be checked against the music the model learned (`pipeline.check_clips`)."""
        from audiodiff.evaluation.artifacts import Fences

        rows = torch.linspace(0, len(self.rows) - 1, min(count, len(self.rows))).round().long()
        if self.rows.bank is not None:
            images = pixels_to_model(self.rows.bank[rows], self.data.bits).unsqueeze(1)
        else:
            images = torch.stack([self.rows[int(row)][0] for row in rows])
        fences = Fences.from_images(images, self.mel_config.x_res, float(self.mel_config.top_db))
        return {"fences": fences.to_dict(), "fitted_on": f"{len(rows)} training images"}

    def save_pipeline(self) -> None:
        """Write the pipeline folder (reference layout + audiodiff metadata) into `out_dir`."""
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            self._check_weights()
            self.build_pipeline().save_pretrained(self.out_dir)
            (self.out_dir / "losses.json").write_text(json.dumps(self.losses) + "\n")

    def _preview_steps(self) -> int:
        return self.config.sample_steps

    def write_samples(self) -> None:
        """Generate a few clips with a fast scheduler: `samples/step_N/sample_K.{wav,png}`."""
        if not self.accelerator.is_main_process or self.config.num_samples < 1:
            return
        from audiodiff.audio import save_audio
        from audiodiff.codec import save_png

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
        output = pipeline(
            batch_size=self.config.num_samples,
            num_inference_steps=self._preview_steps(),
            generator=generator,
            output_type="np",
            **kwargs,
        )
        folder = self.out_dir / "samples" / f"step_{self.global_step:08d}"
        for index, pixels in enumerate(output.images):
            save_png(folder / f"sample_{index}.png", pixels, pipeline.bits)
            save_audio(folder / f"sample_{index}.wav", output.audios[index], output.sample_rate)
        tracker = self.accelerator.get_tracker("tensorboard", unwrap=True) if self.accelerator.trackers else None
        if tracker is not None:
            # TensorBoard shows images in [0, 1].
            brightness = (pixels_to_model(output.images, pipeline.bits).unsqueeze(1) + 1) / 2
            tracker.add_images("samples", brightness, self.global_step)

    def copy_check(self, count: int = 4000) -> dict[str, Any] | None:
        """The copy check (`evaluation.copies`) of the run's last preview clips against up to `count` of its training
        rows, with the training set's other tracks as the yardstick: a first warning that a fine-tune on a few songs
        replays them. None when there are no previews (`num_samples` 0) or this is not the main process."""
        folder = self.out_dir / "samples" / f"step_{self.global_step:08d}"
        previews = sorted(folder.glob("sample_*.png"))
        if not previews or not self.accelerator.is_main_process:
            return None
        from audiodiff.codec import load_png
        from audiodiff.evaluation.clips import ClipSet
        from audiodiff.evaluation.copies import copy_check
        from audiodiff.evaluation.report import as_windows

        rows = torch.linspace(0, len(self.rows) - 1, min(count, len(self.rows))).round().long().unique()
        if self.rows.bank is not None:
            training_images = pixels_to_model(self.rows.bank[rows], self.data.bits).unsqueeze(1)
        else:
            training_images = torch.stack([self.rows[int(row)][0] for row in rows])
        dataset = self.rows.dataset
        files = dataset.with_format("arrow")["audio_file"].to_pylist() if "audio_file" in dataset.column_names else None
        groups = [files[int(row)] if files else "track" for row in rows]
        names = [f"row {int(row)}" for row in rows]
        pixels = [load_png(path) for path in previews]
        generated = torch.stack([pixels_to_model(torch.from_numpy(p.astype("int64")), bits) for p, bits in pixels])
        width, top_db = self.mel_config.x_res, float(self.mel_config.top_db)
        generated_set = ClipSet(generated.unsqueeze(1), self.mel_config, [None] * len(previews), ["preview"] *
                                len(previews), [path.name for path in previews], str(folder), "folder")  # fmt: skip
        training_set = ClipSet(training_images, self.mel_config, [None] * len(rows), groups, names, "training rows",
                               "dataset")  # fmt: skip
        section, _ = copy_check(as_windows(generated_set, width), as_windows(training_set, width), top_db)
        return section


def min_snr_weights(noise_scheduler, timesteps: torch.Tensor, gamma: float, prediction_type: str) -> torch.Tensor:
    """Min-SNR-gamma loss weights (Hang et al. 2023, "Efficient diffusion training via Min-SNR weighting strategy").

    timesteps: `(batch,)`; returns `(batch,)` float weights that turn each image's MSE on the `prediction_type`
    target into the MSE on the clean image weighted by `min(SNR, gamma)`: `min(SNR, gamma) / SNR` for epsilon,
    `min(SNR, gamma) / (SNR + 1)` for v-prediction, `min(SNR, gamma)` for sample, with `SNR = a / (1 - a)` at the
    timestep (diffusers' `compute_snr`).
    """
    from diffusers.training_utils import compute_snr

    snr = compute_snr(noise_scheduler, timesteps)
    clipped = snr.clamp(max=gamma)
    if prediction_type == "epsilon":
        return clipped / snr
    if prediction_type == "v_prediction":
        return clipped / (snr + 1)
    if prediction_type == "sample":
        return clipped
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


# Settings a resumed run may change: how long it runs, how many processes decode its data, how fast it runs.
RESUMABLE = ("max_steps", "epochs", "num_workers", "channels_last", "compile")


def _check_resume_options(out_dir: Path, run_info: dict[str, Any], requested: dict[str, Any], **sources: Any) -> None:
    """Refuse options that would silently not apply to a resumed run (see `Trainer.resume`)."""
    saved = run_info["config"]
    for key, value in requested.items():
        if key not in RESUMABLE and key in saved and saved[key] != value:
            raise TrainingError(_resume_conflict(out_dir, key.replace("_", "-"), saved[key], value))
    for key, value in sources.items():
        before = run_info.get(key)
        if value is None or before is None or _same_source(str(value), str(before)):
            continue
        option = {"pretrained": "from", "preset": "config"}.get(key, key)
        raise TrainingError(_resume_conflict(out_dir, option, before, value))


def _same_source(one: str, other: str) -> bool:
    return one == other or (os.path.exists(one) and os.path.realpath(one) == os.path.realpath(other))


def _resume_conflict(out_dir: Path, option: str, before: Any, now: Any) -> str:
    return (
        f"{out_dir}: --resume continues the run with its own settings, and its --{option} is {before!r}, not "
        f"{now!r}; only {', '.join('--' + key.replace('_', '-') for key in RESUMABLE)} can change (choose a new "
        "--out for other settings)"
    )


def _make_noise_scheduler(config: TrainConfig):
    """The training noise scheduler of a new run: `config.noise_scheduler` (a diffusers class name) on the config's
    schedule, unset schedule settings taking `SCHEDULE_DEFAULTS`.

    Zero terminal SNR is saved with "trailing" timestep spacing, so that every sampler built from this config starts
    at the last (pure-noise) timestep, as Lin et al. 2023 prescribe; other schedules keep diffusers' default spacing.
    """
    found = scheduler_class(config.noise_scheduler)
    if found is None:
        raise ConfigError(f"unknown noise_scheduler {config.noise_scheduler!r} (a diffusers scheduler class)")
    schedule = {key: SCHEDULE_DEFAULTS[key] if getattr(config, key) is None else getattr(config, key)
                for key in SCHEDULE_DEFAULTS}  # fmt: skip
    _check_schedule(
        schedule["prediction_type"],
        schedule["rescale_betas_zero_snr"],
        "set prediction_type (unset, a new model predicts epsilon)",
    )
    if schedule["rescale_betas_zero_snr"]:
        schedule["timestep_spacing"] = "trailing"
        if "rescale_betas_zero_snr" not in inspect.signature(found.__init__).parameters:
            raise ConfigError(f"noise_scheduler {config.noise_scheduler} has no rescale_betas_zero_snr option")
    else:
        schedule.pop("rescale_betas_zero_snr")  # not every diffusers scheduler class has the option
    scheduler = found(num_train_timesteps=config.num_train_timesteps, **schedule)
    if config.resolution_shift == 1:
        return scheduler
    betas = shifted_betas(scheduler.alphas_cumprod, config.resolution_shift)
    return found(num_train_timesteps=config.num_train_timesteps, trained_betas=betas.tolist(), **schedule)


def shifted_betas(alphas_cumprod: torch.Tensor, shift: float) -> torch.Tensor:
    """The betas `(timesteps,)` of the schedule `alphas_cumprod` `(timesteps,)` with its log-SNR moved by
    `-2 ln(shift)` (Hoogeboom et al. 2023, "simple diffusion": a `shift` times larger image at the same noise level
    per pixel average), so that `log(a' / (1 - a')) = log(a / (1 - a)) - 2 ln(shift)` at every timestep."""
    alphas = alphas_cumprod.double()
    shifted = torch.sigmoid(torch.log(alphas) - torch.log1p(-alphas) - 2 * math.log(shift))
    previous = torch.cat([torch.ones(1, dtype=shifted.dtype), shifted[:-1]])
    return (1 - shifted / previous).clamp(0, 1).float()


def _check_schedule(prediction_type: str, zero_snr: bool, advice: str) -> None:
    if zero_snr and prediction_type == "epsilon":
        raise ConfigError(f"{ZERO_SNR_EPSILON}: {advice}")


def _finetune_noise_scheduler(noise_scheduler, config: TrainConfig, source: str):
    """The pretrained model's noise scheduler, with the schedule settings the fine-tune's config sets explicitly.

    The prediction type cannot change: the UNet's output would mean something else than it learned. The noise
    schedule can (Lin et al. 2023 fine-tune a v-prediction model to zero terminal SNR).
    """
    import diffusers

    saved = noise_scheduler.config
    if config.resolution_shift != 1:
        raise TrainingError(
            f"resolution_shift applies to new models: {source} keeps its own noise schedule (leave it at 1)"
        )
    if config.prediction_type is not None and config.prediction_type != saved.prediction_type:
        raise TrainingError(
            f"{source} predicts {saved.prediction_type}; a fine-tune keeps what the model predicts, so prediction_type "
            f"{config.prediction_type} is refused (leave it unset, or train a new model)"
        )
    changes = {}
    if config.beta_schedule is not None and config.beta_schedule != saved.beta_schedule:
        changes["beta_schedule"] = config.beta_schedule
    was_zero_snr = bool(saved.get("rescale_betas_zero_snr", False))
    if config.rescale_betas_zero_snr is not None and config.rescale_betas_zero_snr != was_zero_snr:
        changes["rescale_betas_zero_snr"] = config.rescale_betas_zero_snr
        changes["timestep_spacing"] = "trailing" if config.rescale_betas_zero_snr else "leading"
    _check_schedule(
        saved.prediction_type, changes.get("rescale_betas_zero_snr", was_zero_snr), f"{source} predicts epsilon"
    )
    if not changes:
        return noise_scheduler
    logger.info("fine-tuning %s on a changed noise schedule: %s", source, changes)
    return diffusers.DDPMScheduler.from_config(dict(saved), **changes)


def _load_pretrained(source: str):
    """UNet, training noise scheduler, mel settings and genres of a pretrained pipeline (folder or hub id)."""
    import diffusers

    from audiodiff.pipeline import AudioDiffusionPipeline

    try:
        pipeline = AudioDiffusionPipeline.from_pretrained(source)
    except Exception as error:  # noqa: BLE001 - a damaged folder fails in many ways deep inside diffusers and torch
        raise TrainingError(
            f"{source}: cannot load the pretrained pipeline ({type(error).__name__}: {first_line(error)})"
        ) from None
    if getattr(pipeline, "vqvae", None) is not None:
        raise TrainingError(
            f"{source} is a latent model (it has a VAE); fine-tuning latent models is not supported yet"
        )
    # Fine-tuning always trains on the DDPM forward process with the pretrained model's noise schedule.
    noise_scheduler = diffusers.DDPMScheduler.from_config(dict(pipeline.scheduler.config))
    return pipeline.unet, noise_scheduler, pipeline.mel_config, pipeline.genres


def _mel_mismatch(source: str, model: MelConfig, data, keys: list[str]) -> str:
    different = [f"{key} {getattr(model, key)} vs {getattr(data.mel_config, key)}" for key in keys]
    return (
        f"dataset {data.source} was prepared with other mel settings than the model {source} "
        f"({'; '.join(different)}): prepare it again with --mel-config {source}"
    )
