"""The data plan of a diffusion training run: which rows it trains on (a genre's, with their labels), in what order
(`data.order`: a pure function of seed and epoch, so that a resumed run sees the batches an uninterrupted one
would), at what widths, and for how many steps; and the plan in plain lines, printed before the run starts."""

from __future__ import annotations

import math

from audiodiff.data.offsets import OffsetError, OffsetWindows
from audiodiff.data.order import TrainingRows, epoch_indices, slice_windows, wide_batch
from audiodiff.train_config import TrainConfig, TrainingError


class TrainingPlan:
    """The rows of `data` (a `SpectrogramDataset`) a run with `config` trains on, and their order.

    `genre` keeps one genre of the data; `genres` are the model's genre names (its class labels, when `conditional`);
    `world` is the number of processes. Attributes: `rows` (`TrainingRows`), `offsets` (`OffsetWindows` of
    `random_offsets`, else None), `tracks` (row indices per track), `windows` (width -> row -> the window of
    time-consecutive rows it trains in), `images_per_step`, `steps_per_epoch`, `total_steps`, `warmup_steps`.
    """

    def __init__(self, config: TrainConfig, data, mel_config, genre: str | None, genres: list[str] | None,
                 conditional: bool, world: int = 1):  # fmt: skip
        self.config, self.data, self.mel_config, self.genre, self.world = config, data, mel_config, genre, world
        self._select_rows(genres, conditional)
        # An epoch holds at least one optimizer step's images, so that a genre of two songs can be fine-tuned on.
        self.images_per_step = config.batch_size * config.gradient_accumulation_steps * world
        self.steps_per_epoch = len(self.epoch_order(0)) // self.images_per_step
        self.total_steps = self.planned_steps()
        self.warmup_steps = (
            round(config.warmup_fraction * self.total_steps)
            if config.warmup_fraction is not None
            else config.lr_warmup_steps
        )

    def _select_rows(self, genres: list[str] | None, conditional: bool) -> None:
        data, genre, source = self.data, self.genre, self.data.source
        columns = data.dataset.column_names
        if "image" not in columns:
            raise TrainingError(f"dataset {source} has no 'image' column (columns: {', '.join(columns)})")
        labels = None
        if genre is not None:
            if not data.genres or "genre" not in columns:
                raise TrainingError(f"dataset {source} has no genre labels, so --genre {genre} cannot apply")
            if genre not in data.genres:
                raise TrainingError(f"genre {genre!r} is not in dataset {source} (genres: {', '.join(data.genres)})")
            data = data.select_genres([genre])
        dataset = data.dataset
        if conditional:
            if genre is not None:
                if genre not in genres:
                    raise TrainingError(
                        f"the pretrained model knows genres {', '.join(genres)}, not {genre!r}; "
                        "fine-tune an unconditional model or one that has this genre"
                    )
                labels = [genres.index(genre)] * len(dataset)
            else:
                names = self.data.genres
                labels = [genres.index(names[value]) for value in dataset["genre"]]
        if len(dataset) == 0:
            raise TrainingError(f"dataset {source} has no images to train on")
        config = self.config
        self.rows = TrainingRows(dataset, data.bits, labels)
        self.offsets = None
        if config.random_offsets:
            if any(width > 1 for width in config.widths):
                raise TrainingError("random_offsets draws one slice a row: use it with widths [1]")
            try:
                self.offsets = OffsetWindows(dataset, self.mel_config, data.bits, config.seed)
            except OffsetError as error:
                raise TrainingError(f"dataset {source}: {error}") from None
        self.tracks = list(data.rows_by_track().values())
        self.windows = {}  # width -> {row: window of time-consecutive rows}, for variable-width training
        wide = [width for width in config.widths if width > 1]
        if wide:
            if "slice" not in dataset.column_names:
                raise TrainingError(
                    f"dataset {source} has no 'slice' column, so widths {config.widths} cannot find "
                    "consecutive slices; prepare it with audiodiff prepare"
                )
            numbers = dataset.with_format("arrow")["slice"].to_pylist()
            for width in wide:
                self.windows[width] = slice_windows(self.tracks, numbers, width)
                if not self.windows[width]:
                    raise TrainingError(
                        f"widths {config.widths}: no track of dataset {source} has {width} consecutive "
                        f"non-silent slices ({width * self.mel_config.slice_seconds:.0f} s); use smaller widths"
                    )

    def step_width(self, step: int) -> int:
        """The width, in slices, of optimizer step `step` (0-based): the run's `widths` in turn."""
        widths = self.config.widths
        return widths[step % len(widths)]

    def planned_steps(self) -> int:
        """The run's optimizer steps: `max_steps`, else `epochs` epochs, else `passes` over the training rows
        bounded by `passes_min_steps` and `passes_max_steps` (see `TrainConfig`)."""
        config = self.config
        if config.max_steps is not None:
            return config.max_steps
        if config.epochs is not None:
            return config.epochs * self.steps_per_epoch
        steps = max(config.passes_min_steps, math.ceil(config.passes * len(self.rows) / self.images_per_step))
        return steps if config.passes_max_steps is None else min(steps, config.passes_max_steps)

    def epoch_order(self, epoch: int) -> list[int]:
        """Row indices of one epoch (`data.order.epoch_indices`), at least one optimizer step's worth."""
        return epoch_indices(
            self.tracks, epoch, self.config.seed, self.config.epoch_sampling, min_rows=self.images_per_step
        )

    def epoch_batches(self, epoch: int, position: int, rank: int) -> list[list[int]] | list[list[list[int]]]:
        """The micro-batches process `rank` trains on in epoch `epoch` from its optimizer step `position` on: row
        indices (width 1) or windows of rows (`data.order.wide_batch`), `gradient_accumulation_steps` per step."""
        config, micro, world = self.config, self.config.batch_size, self.world
        order = self.epoch_order(epoch)
        batches = []
        for step in range(position, self.steps_per_epoch):
            width = self.step_width(epoch * self.steps_per_epoch + step)
            for accumulation in range(config.gradient_accumulation_steps):
                start = (step * config.gradient_accumulation_steps + accumulation) * micro * world + rank * micro
                rows = order[start : start + micro]
                batches.append(rows if width == 1 else wide_batch(rows, order, self.windows[width], width))
        return batches

    def lines(self) -> list[str]:
        """What the run will do, in plain lines for the user before it starts (rows, tracks, steps, images seen,
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


# A run estimated longer than this gets a hint of the --max-steps that fits it (the bound for a CPU fine-tune).
HINT_MINUTES = 15.0


def shorter_run_hint(seconds_left: float, steps_per_second: float, minutes: float | None = None) -> str:
    """'; --max-steps N fits about 15 min here' when `seconds_left` is over `minutes`, N the steps that
    `steps_per_second` (measured) fits in them, rounded down to 100 (at least 100); else ''. The plan itself stays a
    pure function of the data and the preset, so the same command gives the same model on any machine."""
    minutes = HINT_MINUTES if minutes is None else minutes
    if seconds_left <= minutes * 60 or steps_per_second <= 0:
        return ""
    steps = max(100, int(minutes * 60 * steps_per_second) // 100 * 100)
    return f"; --max-steps {steps} fits about {minutes:g} min here"
