"""Embeddings of audio clips for the Frechet distance: what "close to the reference" is measured in.

An embedder maps a batch of clips to a few vectors per clip, `(batch, vectors_per_clip, dim)`; the Frechet
distance then fits one Gaussian to all vectors of a set (as FAD pools VGGish frames, Kilgour et al. 2019).

Backends:

- "cola" (default, offline, shipped weights): a COLA contrastive embedding learned from real music,
  `audiodiff.evaluation.cola` (it lives there: it needs this module's `EmbeddingUnavailable`).
- "log-mel" (default, offline, no weights): log-mel frame statistics, `log_mel_frame_embeddings` below.
- "log-mel-fine" (default, offline, no weights): full-resolution frames plus local contrast,
  `fine_frame_embeddings` below, each dimension scaled by the reference's spread (`standardize`) so that texture
  counts as much as level; it sees the speckle and smearing that the 32-band averages of "log-mel" hide (a set with
  a quarter of noise clips: 18x the real-vs-real distance, against 2.2x for "log-mel", on real music).
- "classifier" (offline): the clip embedding of a genre classifier trained with `audiodiff train-classifier`.
- "vggish", "pann", "clap" (optional): pretrained audio models, used only when their package and weights are
  already on this machine; nothing is downloaded. Otherwise `load_embedder` raises `EmbeddingUnavailable` with
  the reason, which `audiodiff evaluate` reports instead of a number.

Pretrained backends listen to audio. For a like-for-like comparison `audiodiff evaluate` gives them audio decoded
from the spectrogram images of both sets with the same decoder, so that they measure the diffusion model and not
the vocoder (the vocoder has its own metric, reconstruction quality).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from audiodiff.spectral import model_to_db

LOG_MEL_BANDS = 32
FINE_LEVEL_BANDS = 64
FINE_CONTRAST_BANDS = 16
BACKENDS = ("cola", "log-mel", "log-mel-fine", "classifier", "vggish", "pann", "clap")
PRETRAINED_BACKENDS = ("vggish", "pann", "clap")


class EmbeddingUnavailable(RuntimeError):
    """An embedding backend cannot run here; `str(error)` says why in one line (missing package or weights)."""


class Embedder(Protocol):
    """name: the report's key; needs_audio: gets decoded audio; needs_slices (optional, default False): gets long
    clips cut into slice-wide windows, for models trained on slices; standardize (optional, default False): the
    Frechet distance is taken after scaling each dimension to zero mean and unit spread on the reference."""

    name: str
    needs_audio: bool

    def __call__(self, images: torch.Tensor, audio: torch.Tensor | None, sample_rate: int) -> torch.Tensor:
        """images `(batch, 1, n_mels, frames)` in [-1, 1]; audio `(batch, time)` or None.

        Returns `(batch, vectors_per_clip, dim)`."""
        ...


# --- log-mel frame statistics (the offline default) -------------------------------------------------------------------
def images_to_db(images: torch.Tensor, top_db: float) -> torch.Tensor:
    """Spectrogram images in [-1, 1], `(batch, 1, n_mels, frames)` -> mel dB `(batch, n_mels, frames)` in [-top_db, 0].

    The inverse of the codec's image mapping: dB relative to each clip's maximum.
    """
    images = torch.as_tensor(images, dtype=torch.float32)
    if images.ndim == 4:
        images = images[:, 0]
    return model_to_db(images, top_db)


def log_mel_frame_embeddings(images: torch.Tensor, top_db: float, bands: int = LOG_MEL_BANDS) -> torch.Tensor:
    """Log-mel frame statistics: one vector per spectrogram frame (after the first), level and change of level.

    Exactly: the image is mapped back to dB (relative to the clip's peak, floored at -top_db); its mel rows are
    averaged in `bands` contiguous groups of (nearly) equal size (adaptive average pooling), giving the band level
    `L[b, t]` in dB. The vector of frame t (t = 1 .. frames - 1) is `[L[:, t], L[:, t] - L[:, t - 1]]`: the spectral
    envelope and its frame-to-frame change (onsets, decays), `2 * bands` numbers in dB. `bands` is capped at n_mels.

    images: `(batch, 1, n_mels, frames)` in [-1, 1]. Returns `(batch, frames - 1, 2 * bands)` in dB.
    """
    mel_db = images_to_db(images, top_db)  # (batch, n_mels, frames)
    if mel_db.shape[-1] < 2:
        raise ValueError(f"log-mel frame embeddings need at least 2 frames, got {mel_db.shape[-1]}")
    bands = min(bands, mel_db.shape[-2])
    levels = F.adaptive_avg_pool1d(mel_db.transpose(1, 2), bands)  # (batch, frames, bands)
    return torch.cat([levels[:, 1:], levels[:, 1:] - levels[:, :-1]], dim=-1)


def fine_frame_embeddings(
    images: torch.Tensor, top_db: float, level_bands: int = FINE_LEVEL_BANDS, contrast_bands: int = FINE_CONTRAST_BANDS
) -> torch.Tensor:
    """Fine frame embeddings: the frame's dB levels at (nearly) full resolution plus its local contrast.

    Exactly, for frame t (t = 1 .. frames - 1) of the dB image `D[m, t]` (relative to the clip's peak): the levels
    `D[:, t]` averaged into `level_bands` bands (all mel rows when n_mels <= level_bands), then the mean absolute
    change to the previous frame `|D[m, t] - D[m, t - 1]|` and to the mel row below `|D[m, t] - D[m - 1, t]|`, each
    averaged into `contrast_bands` bands. Speckle noise leaves band averages nearly unchanged but multiplies the
    local contrast; smeared, blurry output lowers it. `level_bands + 2 * contrast_bands` numbers in dB.

    images: `(batch, 1, n_mels, frames)` in [-1, 1]. Returns `(batch, frames - 1, level_bands + 2 contrast_bands)`.
    """
    mel_db = images_to_db(images, top_db)  # (batch, n_mels, frames)
    if mel_db.shape[-1] < 2 or mel_db.shape[-2] < 2:
        raise ValueError(f"fine frame embeddings need at least 2 frames and 2 mel rows, got {tuple(mel_db.shape)}")
    mels = mel_db.shape[-2]
    levels = F.adaptive_avg_pool1d(mel_db.transpose(1, 2), min(level_bands, mels))[:, 1:]  # (batch, frames-1, b)
    temporal = (mel_db[:, :, 1:] - mel_db[:, :, :-1]).abs()  # (batch, n_mels, frames - 1)
    spectral = torch.cat([torch.zeros_like(mel_db[:, :1]), (mel_db[:, 1:] - mel_db[:, :-1]).abs()], dim=1)[..., 1:]
    bands = min(contrast_bands, mels)
    temporal = F.adaptive_avg_pool1d(temporal.transpose(1, 2), bands)
    spectral = F.adaptive_avg_pool1d(spectral.transpose(1, 2), bands)
    return torch.cat([levels, temporal, spectral], dim=-1)


@dataclass
class FineEmbedder:
    """The "log-mel-fine" backend: `fine_frame_embeddings` of the images (no weights, no audio needed)."""

    top_db: float
    name: str = "log-mel-fine"
    needs_audio: bool = False
    standardize: bool = True

    def __call__(self, images: torch.Tensor, audio: torch.Tensor | None = None, sample_rate: int = 0) -> torch.Tensor:
        return fine_frame_embeddings(images, self.top_db)


@dataclass
class LogMelEmbedder:
    """The "log-mel" backend: `log_mel_frame_embeddings` of the images (no weights, no audio needed)."""

    top_db: float
    bands: int = LOG_MEL_BANDS
    name: str = "log-mel"
    needs_audio: bool = False

    def __call__(self, images: torch.Tensor, audio: torch.Tensor | None = None, sample_rate: int = 0) -> torch.Tensor:
        return log_mel_frame_embeddings(images, self.top_db, self.bands)


class ClassifierEmbedder:
    """The "classifier" backend: a `GenreClassifier`'s clip embedding, one vector per clip, `(batch, 1, dim)`."""

    name = "classifier"
    needs_audio = False
    needs_slices = True

    def __init__(self, classifier, batch_size: int = 64):
        self.classifier = classifier
        self.batch_size = batch_size

    def __call__(self, images: torch.Tensor, audio: torch.Tensor | None = None, sample_rate: int = 0) -> torch.Tensor:
        return self.classifier.embed_batched(images, self.batch_size).unsqueeze(1)


# --- optional pretrained backends ---------------------------------------------------------------------------------
def _require_package(module: str, pip_name: str, backend: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise EmbeddingUnavailable(f"{backend}: package {pip_name!r} is not installed") from None
    except Exception as error:  # a broken optional install must not break evaluation
        raise EmbeddingUnavailable(
            f"{backend}: importing {module!r} failed ({type(error).__name__}: {error})"
        ) from None


def _require_file(path: Path, backend: str, hint: str) -> Path:
    if not path.is_file():
        raise EmbeddingUnavailable(f"{backend}: weights not found at {path} ({hint}; nothing is downloaded)")
    return path


def _resample(audio: torch.Tensor, sample_rate: int, target_rate: int) -> torch.Tensor:
    import torchaudio

    if sample_rate == target_rate:
        return audio
    return torchaudio.functional.resample(audio, sample_rate, target_rate)


class VGGishEmbedder:
    """VGGish (Hershey et al. 2017) frame embeddings, 128-d per 0.96 s, the original FAD backbone (Kilgour et al.).

    Uses the `harritaylor/torchvggish` port from the torch hub cache (`torch.hub.get_dir()`), as loaded once
    before with `torch.hub.load("harritaylor/torchvggish", "vggish")`; the PCA/quantisation post-processing is off.
    """

    name = "vggish"
    needs_audio = True
    sample_rate = 16000

    def __init__(self, checkpoint: str | None = None, device: torch.device | str = "cpu"):
        hub = Path(torch.hub.get_dir())
        repository = Path(checkpoint) if checkpoint else hub / "harritaylor_torchvggish_master"
        if not (repository / "hubconf.py").is_file():
            raise EmbeddingUnavailable(
                f"vggish: torch hub copy of harritaylor/torchvggish not found at {repository} "
                "(load it once online, or pass vggish=FOLDER; nothing is downloaded)"
            )
        _require_file(hub / "checkpoints" / "vggish-10086976.pth", "vggish", "load it once online")
        _require_package("resampy", "resampy", "vggish")
        try:
            model = torch.hub.load(str(repository), "vggish", source="local", postprocess=False, pretrained=True)
        except Exception as error:
            raise EmbeddingUnavailable(f"vggish: loading failed ({type(error).__name__}: {error})") from None
        self.model = model.eval().to(device)
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, audio: torch.Tensor | None, sample_rate: int) -> torch.Tensor:
        audio = _resample(audio.float().cpu(), sample_rate, self.sample_rate)
        vectors = []
        for clip in audio.numpy():
            if hasattr(self.model, "device"):
                self.model.device = self.device
            vectors.append(self.model(clip.astype(np.float64), self.sample_rate).reshape(-1, 128).float().cpu())
        count = min(len(item) for item in vectors)
        return torch.stack([item[:count] for item in vectors])


class PannEmbedder:
    """PANN CNN14 (Kong et al. 2020) clip embeddings, 2048-d, via the `panns_inference` package at 32 kHz.

    Weights: the file given as pann=PATH, else `~/panns_data/Cnn14_mAP=0.431.pth` (where panns_inference keeps it).
    """

    name = "pann"
    needs_audio = True
    sample_rate = 32000

    def __init__(self, checkpoint: str | None = None, device: torch.device | str = "cpu"):
        path = Path(checkpoint) if checkpoint else Path.home() / "panns_data" / "Cnn14_mAP=0.431.pth"
        _require_file(path, "pann", "pass pann=PATH to a Cnn14 checkpoint")
        package = _require_package("panns_inference", "panns-inference", "pann")
        try:
            self.model = package.AudioTagging(checkpoint_path=str(path), device=str(torch.device(device)))
        except Exception as error:
            raise EmbeddingUnavailable(f"pann: loading failed ({type(error).__name__}: {error})") from None

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, audio: torch.Tensor | None, sample_rate: int) -> torch.Tensor:
        audio = _resample(audio.float().cpu(), sample_rate, self.sample_rate)
        _, embedding = self.model.inference(audio.numpy())
        return torch.as_tensor(np.asarray(embedding), dtype=torch.float32).reshape(len(audio), 1, -1)


class ClapEmbedder:
    """LAION-CLAP (Wu et al. 2023) audio embeddings, 512-d at 48 kHz, via the `laion_clap` package.

    Needs a checkpoint file given as clap=PATH (e.g. music_audioset_epoch_15_esc_90.14.pt; names containing
    "music" use the HTSAT-base audio encoder, others HTSAT-tiny).
    """

    name = "clap"
    needs_audio = True
    sample_rate = 48000

    def __init__(self, checkpoint: str | None = None, device: torch.device | str = "cpu"):
        if not checkpoint:
            raise EmbeddingUnavailable("clap: no checkpoint given (use clap=PATH; nothing is downloaded)")
        path = _require_file(Path(checkpoint), "clap", "pass clap=PATH to a LAION-CLAP checkpoint")
        package = _require_package("laion_clap", "laion-clap", "clap")
        audio_model = "HTSAT-base" if "music" in path.name else "HTSAT-tiny"
        try:
            self.model = package.CLAP_Module(enable_fusion=False, amodel=audio_model, device=str(torch.device(device)))
            self.model.load_ckpt(str(path), verbose=False)
        except Exception as error:
            raise EmbeddingUnavailable(f"clap: loading failed ({type(error).__name__}: {error})") from None
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, audio: torch.Tensor | None, sample_rate: int) -> torch.Tensor:
        audio = _resample(audio.float().cpu(), sample_rate, self.sample_rate).to(self.device)
        embedding = self.model.get_audio_embedding_from_data(x=audio, use_tensor=True)
        return embedding.float().cpu().reshape(len(audio), 1, -1)


_PRETRAINED = {"vggish": VGGishEmbedder, "pann": PannEmbedder, "clap": ClapEmbedder}


def parse_backend(spec: str) -> tuple[str, str | None]:
    """ "NAME" or "NAME=CHECKPOINT" -> (name, checkpoint or None); unknown names are a ValueError."""
    name, _, checkpoint = spec.partition("=")
    name = name.strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown embedding backend {name!r}: choose from {', '.join(BACKENDS)}")
    return name, (os.path.expanduser(checkpoint) if checkpoint else None)


def load_pretrained_embedder(name: str, checkpoint: str | None = None, device: torch.device | str = "cpu") -> Embedder:
    """A pretrained backend ("vggish", "pann", "clap"); raises `EmbeddingUnavailable` when it cannot run here."""
    if name not in _PRETRAINED:
        raise ValueError(f"{name!r} is not a pretrained backend: choose from {', '.join(PRETRAINED_BACKENDS)}")
    return _PRETRAINED[name](checkpoint, device)
