"""A learned audio embedding that ships with audiodiff: COLA, contrastive learning of general-purpose audio
representations (Saeed, Grangier and Zeghidour 2021, arXiv 2010.10915), trained on real music.

The "cola" backend of `audiodiff evaluate`, its default learned embedding. Two crops of the same stretch of music
are a positive pair, the other crops of the batch the negatives; the encoder learns what stays the same within a
stretch of music and tells one stretch from another: rhythm, onsets, tonal lines, timbre. Trained only on real
music, it places a wash, a time-shuffled clip or an averaged image far from any of it, so the Frechet distance and
precision / recall in this embedding see structure that frame statistics average away.

The encoder sees every spectrogram on one fixed grid (`GRID`: 64 Slaney mel bands up to 11025 Hz, 22050 / 512
frames a second, 80 dB range), whatever the settings of the clips evaluated: `to_grid` maps an image of any
`MelConfig` onto it by interpolating between mel band centres (in Hz) and frame times; for the demo's and the shipped
base model's settings it is the identity. Each window is referred to its own peak first (`artifacts.rereferenced`),
as `evaluate` cuts every set.

`train_cola` is the whole training loop (it is small); `scripts/train_embedding.py` feeds it the real-music
collection and writes the shipped weights, `audiodiff/pretrained/cola-64/` (fp16 safetensors, `config.json`,
`MODEL_CARD.md`). `load_cola()` loads them; `ColaEmbedder` is the backend.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from audiodiff.artifacts import rereferenced
from audiodiff.config import MelConfig
from audiodiff.evaluation.embeddings import EmbeddingUnavailable

SHIPPED = Path(__file__).resolve().parent.parent / "pretrained" / "cola-64"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
MIN_FRAMES = 16  # four 2x poolings


@dataclass(frozen=True)
class Grid:
    """The spectrogram grid the encoder sees."""

    sample_rate: int = 22050
    hop_length: int = 512
    n_mels: int = 64
    top_db: float = 80.0

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length


GRID = Grid()


@dataclass
class ColaConfig:
    """The encoder's shape (`channels` of its four convolution blocks, `dim` of the embedding) and grid."""

    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    dim: int = 128
    grid: dict = field(default_factory=lambda: asdict(GRID))


# --- the grid ----------------------------------------------------------------------------------------------------
def _hz_to_slaney_mel(hz: torch.Tensor) -> torch.Tensor:
    """The Slaney mel scale (librosa's default, and the codec's): linear to 1 kHz, logarithmic above."""
    hz = torch.as_tensor(hz, dtype=torch.float64)
    linear = hz / (200.0 / 3)
    logarithmic = 15.0 + torch.log(hz.clamp(min=1e-9) / 1000.0) / (math.log(6.4) / 27.0)
    return torch.where(hz >= 1000.0, logarithmic, linear)


def _slaney_mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    mel = torch.as_tensor(mel, dtype=torch.float64)
    return torch.where(mel >= 15.0, 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def band_centres(n_mels: int, sample_rate: float) -> torch.Tensor:
    """The centre frequencies (Hz) of the codec's `n_mels` Slaney mel filters from 0 to `sample_rate / 2`."""
    top = _hz_to_slaney_mel(torch.tensor(sample_rate / 2.0))
    return _slaney_mel_to_hz(torch.linspace(0.0, float(top), n_mels + 2)[1:-1])


def band_matrix(n_mels: int, sample_rate: float, grid: Grid = GRID) -> torch.Tensor:
    """`(grid.n_mels, n_mels)` weights that map an image's mel rows onto the grid's bands. A grid band that holds
    source band centres inside its triangle (from the centre below it to the centre above) averages them, weighted by
    the triangle (the finer image is filtered, as the codec's own filters would); a grid band between two coarser
    source bands interpolates them linearly in Hz; a grid band above the image's highest band gets no weight (it stays
    at the floor). Each used row sums to 1; the identity for an image on the grid."""
    source = band_centres(n_mels, sample_rate)
    target = band_centres(grid.n_mels, grid.sample_rate)
    edges = torch.cat([torch.zeros(1, dtype=torch.float64), target, torch.tensor([grid.sample_rate / 2.0])])
    matrix = torch.zeros(grid.n_mels, n_mels, dtype=torch.float64)
    for row, frequency in enumerate(target.tolist()):
        if frequency > float(source[-1]) + 1e-6:
            continue
        below, above = float(edges[row]), float(edges[row + 2])
        rising = (source - below) / (frequency - below)
        falling = (above - source) / (above - frequency)
        triangle = torch.minimum(rising, falling).clamp(min=0)
        if int((triangle > 0).sum()) >= 2 or float(triangle.max()) > 1 - 1e-6:
            matrix[row] = triangle / triangle.sum()
            continue
        upper = int(torch.searchsorted(source, torch.tensor(frequency, dtype=torch.float64)).clamp(max=n_mels - 1))
        lower = max(upper - 1, 0)
        if upper == lower:
            matrix[row, upper] = 1.0
            continue
        weight = (frequency - float(source[lower])) / float(source[upper] - source[lower])
        matrix[row, lower], matrix[row, upper] = 1.0 - weight, weight
    return matrix.float()


def to_grid(images: torch.Tensor, mel_config: MelConfig, grid: Grid = GRID) -> torch.Tensor:
    """Spectrogram images `(batch, 1, n_mels, frames)` in [-1, 1] made with `mel_config`, each referred to its own
    peak, on the encoder's grid: `(batch, 1, grid.n_mels, frames')` in [-1, 1] (frames' from the frame rates, at
    least `MIN_FRAMES`)."""
    images = rereferenced(torch.as_tensor(images, dtype=torch.float32))
    db = (images[:, 0].clamp(-1, 1) + 1) / 2 * float(mel_config.top_db) - float(mel_config.top_db)
    floor = -grid.top_db
    db = db.clamp(min=floor)
    frames = db.shape[-1]
    rate = mel_config.sample_rate / mel_config.hop_length
    if mel_config.n_mels != grid.n_mels or mel_config.sample_rate != grid.sample_rate:
        matrix = band_matrix(mel_config.n_mels, mel_config.sample_rate, grid)
        db = (matrix @ (db - floor) + floor).clamp(floor, 0)  # a band above the image's range stays at the floor
    wanted = max(MIN_FRAMES, round(frames * grid.frame_rate / rate))
    if wanted != frames:
        db = F.interpolate(db, size=wanted, mode="linear", align_corners=False)
    return ((db - floor) / -floor * 2 - 1).unsqueeze(1)


# --- the encoder ---------------------------------------------------------------------------------------------------
class ColaEncoder(nn.Module):
    """Four blocks of two 3x3 convolutions (batch norm, ReLU) and a 2x2 max pool, the frequency axis averaged, the
    time axis pooled by mean and max, a linear layer and a layer norm: `(batch, 1, 64, frames)` -> `(batch, dim)`."""

    def __init__(self, config: ColaConfig | None = None):
        super().__init__()
        self.config = config or ColaConfig()
        blocks, width = [], 1
        for channels in self.config.channels:
            for source in (width, channels):
                blocks += [nn.Conv2d(source, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
            blocks.append(nn.MaxPool2d(2))
            width = channels
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * width, self.config.dim)
        self.norm = nn.LayerNorm(self.config.dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.blocks(images).mean(dim=2)  # (batch, channels, frames / 16)
        pooled = torch.cat([features.mean(dim=-1), features.amax(dim=-1)], dim=1)
        return self.norm(self.head(pooled))


class ColaHead(nn.Module):
    """Training only (not shipped): COLA's projection (linear, layer norm, tanh) and bilinear similarity."""

    def __init__(self, dim: int):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim), nn.Tanh())
        self.bilinear = nn.Parameter(torch.eye(dim) + 0.01 * torch.randn(dim, dim))

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        """The InfoNCE loss of a batch of pairs: each anchor against every positive, its own the right answer
        (symmetric)."""
        a, p = self.project(anchors), self.project(positives)
        logits = a @ self.bilinear @ p.T
        target = torch.arange(len(a), device=a.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


# --- training --------------------------------------------------------------------------------------------------------
def draw_pairs(
    sections: Sequence[torch.Tensor], batch: int, frames: int, generator: torch.Generator, grid: Grid = GRID
) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch` distinct sections at random, two crops of `frames` frames each at independent random places:
    `(anchors, positives)`, each `(batch, 1, grid.n_mels, frames)`, referred to their own peaks. `sections`: images
    `(grid.n_mels, length)` in [-1, 1] on the grid, each at least `frames` long."""
    chosen = torch.randperm(len(sections), generator=generator)[:batch].tolist()
    crops = []
    for index in chosen:
        section = sections[index]
        starts = torch.randint(0, section.shape[-1] - frames + 1, (2,), generator=generator).tolist()
        crops.append(torch.stack([section[:, start : start + frames] for start in starts]))
    pairs = rereferenced(torch.stack(crops).unsqueeze(2).flatten(0, 1)).view(len(chosen), 2, 1, grid.n_mels, frames)
    return pairs[:, 0], pairs[:, 1]


def train_cola(
    sections: Sequence[torch.Tensor],
    steps: int,
    *,
    config: ColaConfig | None = None,
    batch: int = 64,
    frames: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
    log: Callable[[int, float], None] | None = None,
) -> ColaEncoder:
    """Train an encoder on `sections` (images `(64, length)` on the grid, in [-1, 1]; each a stretch of one track)
    for `steps` steps of `batch` pairs (AdamW, cosine decay after a 5% warm-up); `log(step, loss)` every step.
    Deterministic for a seed on one machine and thread count."""
    torch.manual_seed(seed)
    encoder = ColaEncoder(config)
    head = ColaHead(encoder.config.dim)
    parameters = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=1e-4)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)),
    )
    generator = torch.Generator().manual_seed(seed)
    usable = [section for section in sections if section.shape[-1] >= frames]
    if len(usable) < 2:
        raise ValueError(f"COLA needs at least 2 sections of {frames}+ frames, got {len(usable)}")
    batch = min(batch, len(usable))
    encoder.train()
    for step in range(steps):
        anchors, positives = draw_pairs(usable, batch, frames, generator)
        embedded = encoder(torch.cat([anchors, positives]))
        loss = head(embedded[:batch], embedded[batch:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if log is not None:
            log(step + 1, loss.item())
    return encoder.eval()


def save_cola(encoder: ColaEncoder, folder: str | Path, card: str | None = None, extra: dict | None = None) -> Path:
    """Write `folder/model.safetensors` (fp16) and `folder/config.json` (and `MODEL_CARD.md` when given)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: value.detach().to(torch.float16).contiguous() for name, value in encoder.state_dict().items()
             if value.is_floating_point()}  # fmt: skip
    save_file(state, str(folder / WEIGHTS_NAME))
    (folder / CONFIG_NAME).write_text(json.dumps({**asdict(encoder.config), **(extra or {})}, indent=2) + "\n")
    if card is not None:
        (folder / "MODEL_CARD.md").write_text(card)
    return folder


def load_cola(folder: str | Path | None = None, device: torch.device | str = "cpu") -> ColaEncoder:
    """The encoder in `folder` (default: the shipped one), in eval mode; `EmbeddingUnavailable` (one line) when its
    files are missing or do not match."""
    from safetensors.torch import load_file

    folder = Path(folder) if folder is not None else SHIPPED
    weights, config_file = folder / WEIGHTS_NAME, folder / CONFIG_NAME
    if not weights.is_file() or not config_file.is_file():
        raise EmbeddingUnavailable(f"cola: no {WEIGHTS_NAME} and {CONFIG_NAME} in {folder}")
    settings = json.loads(config_file.read_text())
    try:
        config = ColaConfig(channels=[int(c) for c in settings["channels"]], dim=int(settings["dim"]),
                            grid=dict(settings.get("grid", asdict(GRID))))  # fmt: skip
        if len(config.channels) != 4 or not all(1 <= c <= 1024 for c in config.channels) or not 1 <= config.dim <= 4096:
            raise ValueError("channels or dim out of range")
        if config.grid != asdict(GRID):
            raise ValueError(f"grid {config.grid} is not this version's {asdict(GRID)}")
        encoder = ColaEncoder(config)
        state = {name: value.float() for name, value in load_file(str(weights)).items()}
        wanted = {name: value.shape for name, value in encoder.state_dict().items() if value.is_floating_point()}
        found = {name: value.shape for name, value in state.items()}
        if wanted != found:
            wrong = sorted(name for name in wanted.keys() | found.keys() if wanted.get(name) != found.get(name))
            raise ValueError(f"weights do not match the config ({len(wrong)} tensors differ, first {wrong[0]!r})")
        encoder.load_state_dict(state, strict=False)  # only the batch-norm step counters are not stored
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise EmbeddingUnavailable(f"cola: {folder}: {error}") from None
    return encoder.eval().to(device)


class ColaEmbedder:
    """The "cola" backend: one vector per slice-wide window, `(batch, 1, dim)`, of the images mapped to the grid."""

    name = "cola"
    needs_audio = False
    needs_slices = True

    def __init__(self, mel_config: MelConfig, encoder: ColaEncoder | None = None, batch_size: int = 64):
        self.mel_config = mel_config
        self.encoder = encoder if encoder is not None else load_cola()
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, audio: torch.Tensor | None = None, sample_rate: int = 0) -> torch.Tensor:
        device = next(self.encoder.parameters()).device
        parts = [
            self.encoder(to_grid(part, self.mel_config).to(device)).cpu()
            for part in torch.as_tensor(images).split(self.batch_size)
        ]
        return torch.cat(parts).unsqueeze(1)
