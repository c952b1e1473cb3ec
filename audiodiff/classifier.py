"""A small spectrogram genre classifier: judges generated clips and supplies an embedding for the Frechet distance.

`GenreClassifier` is a compact CNN on the spectrogram image: the image is first area-resized to
`input_size x input_size` (so 256x256 reference images cost no more than 64x64 test images), then three blocks of
3x3 convolution, batch normalisation, ReLU and 2x2 max-pooling; the feature map is averaged over time (a clip's
genre does not depend on where in the slice a beat falls) but not over frequency, flattened and projected to the
clip embedding (`embedding_dim`, ReLU), followed by a linear layer giving one logit per genre.

`train_genre_classifier` holds out whole tracks (never slices of a track seen in training, which would inflate the
accuracy) and reports the held-out accuracy. Saved as `config.json` (genre names, mel settings, architecture) and
`model.safetensors` (weights only, loaded without pickle).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from audiodiff.config import ConfigError, MelConfig, load_dataclass
from audiodiff.utils import first_line

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
REPORT_NAME = "training_report.json"
# The sizes a saved classifier may have, far beyond the default (64, three blocks of 16-64 channels): they keep a
# hostile config.json from sizing a network that would exhaust memory before its weights are compared with it.
LIMITS: dict[str, tuple[int, int]] = {
    "layers": (1, 8),
    "channels": (1, 4096),
    "input_size": (1, 1024),
    "embedding_dim": (1, 4096),
}


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """Architecture and data settings of a `GenreClassifier` (stored as its `config.json`)."""

    genres: tuple[str, ...]
    mel_config: dict[str, int]
    input_size: int = 64
    channels: tuple[int, ...] = (16, 32, 64)
    embedding_dim: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "genres", tuple(str(genre) for genre in self.genres))
        object.__setattr__(self, "channels", tuple(int(channel) for channel in self.channels))
        if len(self.genres) < 2:
            raise ConfigError(f"a genre classifier needs at least 2 genres, got {list(self.genres)}")
        if len(set(self.genres)) != len(self.genres):
            raise ConfigError(f"genre names must be unique, got {list(self.genres)}")
        if self.input_size % (1 << len(self.channels)) != 0:
            raise ConfigError(f"input_size {self.input_size} must be divisible by 2**{len(self.channels)}")
        MelConfig.from_dict(dict(self.mel_config), "classifier mel_config")

    @property
    def mel(self) -> MelConfig:
        return MelConfig.from_dict(dict(self.mel_config))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["genres"] = list(self.genres)
        data["channels"] = list(self.channels)
        return data


def check_mel_compatible(trained: MelConfig, clips: MelConfig) -> None:
    """Raise ValueError (a ConfigError) naming the first mel setting in which `clips` differ from the classifier's
    training data."""
    trained.check_compatible(
        clips, "the classifier was trained on", "the clips have", "train one on data with these mel settings"
    )


def _initialise(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw the default (Kaiming-uniform) initialisation from `generator`, leaving torch's global RNG alone."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            if layer.bias is not None:
                fan_in = layer.weight[0].numel()
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


class GenreClassifier(nn.Module):
    """Spectrogram CNN: images `(batch, 1, n_mels, frames)` in [-1, 1] -> genre logits `(batch, num_genres)`.

    Example:
        >>> classifier = GenreClassifier.from_pretrained("classifier/")
        >>> probabilities = classifier.predict_proba(images)          # (batch, num_genres)
    """

    def __init__(self, config: ClassifierConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        previous = 1
        for channels in config.channels:
            layers += [
                nn.Conv2d(previous, channels, 3, padding=1),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            previous = channels
        self.features = nn.Sequential(*layers)
        frequency_cells = config.input_size >> len(config.channels)
        self.projection = nn.Linear(previous * frequency_cells, config.embedding_dim)
        self.head = nn.Linear(config.embedding_dim, len(config.genres))
        if generator is not None:
            _initialise(self, generator)

    @property
    def genres(self) -> tuple[str, ...]:
        return self.config.genres

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Clip embeddings `(batch, embedding_dim)` of images `(batch, 1, n_mels, frames)` in [-1, 1]."""
        images = torch.as_tensor(images, dtype=torch.float32).to(self.device)
        if images.ndim == 3:
            images = images.unsqueeze(1)
        size = self.config.input_size
        features = self.features(F.adaptive_avg_pool2d(images, (size, size)))  # (batch, channels, freq, time)
        return F.relu(self.projection(features.mean(dim=-1).flatten(1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Genre logits `(batch, num_genres)` of images `(batch, 1, n_mels, frames)` in [-1, 1]."""
        return self.head(self.embed(images))

    @torch.no_grad()
    def embed_batched(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """`embed` in evaluation mode, in batches; returns `(batch, embedding_dim)` on the CPU."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat([self.embed(part).cpu() for part in torch.as_tensor(images).split(batch_size)])
        finally:
            self.train(was_training)

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Genre probabilities `(batch, num_genres)` (softmax of the logits, evaluation mode), on the CPU."""
        was_training = self.training
        self.eval()
        try:
            parts = [self(part).softmax(dim=-1).cpu() for part in torch.as_tensor(images).split(batch_size)]
            return torch.cat(parts)
        finally:
            self.train(was_training)

    # --- persistence ---------------------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write `folder/config.json` and `folder/model.safetensors`; returns the folder."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt", "genres": ",".join(self.genres)})
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: torch.device | str = "cpu") -> GenreClassifier:
        """Load a classifier saved by `save_pretrained` (safetensors only, no pickle); one-line errors.

        config.json is checked before anything is built (`audiodiff.weights`): its sizes must be within `LIMITS` and
        the network it describes exactly the one in model.safetensors (read from the file's header), so a hostile
        config.json cannot allocate or crash the loader.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from audiodiff.weights import check_range, check_weights_fit, meta_shapes, read_config, weight_shapes

        folder = Path(folder)
        config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        for path in (config_path, weights_path):
            if not path.is_file():
                raise ConfigError(f"{folder}: not a genre classifier folder ({path.name} missing)")
        config = load_dataclass(ClassifierConfig, read_config(config_path), str(config_path))
        check_range(len(config.channels), "len(channels)", *LIMITS["layers"], config_path)
        for index, channels in enumerate(config.channels):
            check_range(channels, f"channels[{index}]", *LIMITS["channels"], config_path)
        for key in ("input_size", "embedding_dim"):
            check_range(getattr(config, key), key, *LIMITS[key], config_path)
        settings = {key: getattr(config, key) for key in ("input_size", "channels", "embedding_dim")}
        settings["genres"] = len(config.genres)
        expected = meta_shapes(lambda: cls(config))
        check_weights_fit(expected, weight_shapes(weights_path), weights_path, CONFIG_NAME, settings)
        model = cls(config)
        try:
            state = load_file(str(weights_path))
        except (SafetensorError, OSError) as error:
            raise ConfigError(f"{weights_path}: not readable safetensors ({error})") from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            reason = first_line(error)
            raise ConfigError(f"{weights_path}: weights do not match {CONFIG_NAME} ({reason})") from None
        return model.eval().to(device)


# --- training ------------------------------------------------------------------------------------------------------
def split_by_group(
    labels: list[int], groups: list[str], held_out_fraction: float, generator: torch.Generator
) -> tuple[list[int], list[int], str]:
    """Stratified held-out split that keeps each group (track) on one side.

    For each label, `ceil(held_out_fraction * tracks)` of its tracks (at least one, never all) go to the held-out
    side. A label with a single track is split by clips instead (the last `held_out_fraction` of its clips), and
    the returned mode says so: "track" when every label was split by track, else "clip".
    Returns (train indices, held-out indices, mode).
    """
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be between 0 and 1, got {held_out_fraction}")
    train, held_out, mode = [], [], "track"
    for label in sorted(set(labels)):
        indices = [index for index, value in enumerate(labels) if value == label]
        tracks = sorted({groups[index] for index in indices})
        if len(tracks) >= 2:
            order = torch.randperm(len(tracks), generator=generator).tolist()
            count = min(len(tracks) - 1, max(1, math.ceil(held_out_fraction * len(tracks))))
            chosen = {tracks[position] for position in order[:count]}
            held_out += [index for index in indices if groups[index] in chosen]
            train += [index for index in indices if groups[index] not in chosen]
        else:
            mode = "clip"
            count = (
                min(len(indices) - 1, max(1, math.ceil(held_out_fraction * len(indices)))) if len(indices) > 1 else 0
            )
            train += indices[: len(indices) - count]
            held_out += indices[len(indices) - count :]
    return sorted(train), sorted(held_out), mode


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """`(num_classes, num_classes)` counts: row = true class, column = predicted class. Inputs `(batch,)` ints."""
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def train_genre_classifier(
    images: torch.Tensor,
    labels: torch.Tensor | list[int],
    groups: list[str],
    genres: list[str] | tuple[str, ...],
    mel_config: MelConfig,
    *,
    steps: int = 600,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-4,
    held_out_fraction: float = 0.2,
    input_size: int = 64,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    progress=None,
) -> tuple[GenreClassifier, dict[str, Any]]:
    """Train a `GenreClassifier` with AdamW on `images` `(N, 1, n_mels, frames)` in [-1, 1] and integer `labels`.

    `groups[i]` names the track of clip i; held-out tracks are never trained on (`split_by_group`). Augmentation:
    each training clip is rolled in time by a random number of frames. All randomness (initialisation, split,
    batches, augmentation) comes from `generator` (a CPU generator; default seed 0). `progress(step, loss)` is
    called after each step when given.

    Returns the trained classifier (evaluation mode) and a report: accuracies on the training and held-out clips,
    per-genre held-out accuracy, the held-out confusion matrix and the split sizes.
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    images = torch.as_tensor(images, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.long)
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"expected images (N, 1, n_mels, frames), got {tuple(images.shape)}")
    if not len(images) == len(labels) == len(groups):
        raise ValueError(f"got {len(images)} images, {len(labels)} labels and {len(groups)} groups")
    present = sorted(set(labels.tolist()))
    if len(present) < 2:
        raise ValueError(f"training needs clips of at least 2 genres, found only {[genres[i] for i in present]}")
    config = ClassifierConfig(genres=tuple(genres), mel_config=mel_config.to_dict(), input_size=input_size)
    model = GenreClassifier(config, generator=generator).to(device)
    train_index, held_out_index, split_mode = split_by_group(labels.tolist(), groups, held_out_fraction, generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=max(1, steps))
    train_tensor = torch.tensor(train_index)
    frames = images.shape[-1]
    model.train()
    for step in range(steps):
        batch = train_tensor[
            torch.randint(len(train_tensor), (min(batch_size, len(train_tensor)),), generator=generator)
        ]
        shifts = torch.randint(frames, (len(batch),), generator=generator)
        # Roll every clip by its own shift with one gather: columns (t - shift) mod frames.
        columns = (torch.arange(frames).unsqueeze(0) - shifts.unsqueeze(1)) % frames
        batch_images = images[batch].gather(-1, columns[:, None, None, :].expand(-1, 1, images.shape[2], -1))
        loss = F.cross_entropy(model(batch_images.to(device)), labels[batch].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress is not None:
            progress(step, loss.item())
    model.eval()

    def accuracy(indices: list[int]) -> tuple[float | None, torch.Tensor]:
        if not indices:
            return None, torch.zeros(0, dtype=torch.long)
        predictions = model.predict_proba(images[indices]).argmax(dim=-1)
        return float((predictions == labels[indices]).float().mean()), predictions

    train_accuracy, _ = accuracy(train_index)
    held_out_accuracy, held_out_predictions = accuracy(held_out_index)
    matrix = confusion_matrix(labels[held_out_index], held_out_predictions, len(genres)) if held_out_index else None
    per_genre = {}
    if matrix is not None:
        for index, genre in enumerate(genres):
            total = int(matrix[index].sum())
            per_genre[genre] = float(matrix[index, index]) / total if total else None
    report = {
        "genres": list(genres),
        "steps": steps,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "train_clips": len(train_index),
        "held_out_clips": len(held_out_index),
        "held_out_split": split_mode,
        "train_accuracy": train_accuracy,
        "held_out_accuracy": held_out_accuracy,
        "held_out_accuracy_per_genre": per_genre,
        "held_out_confusion_matrix": matrix.tolist() if matrix is not None else None,
    }
    return model, report
