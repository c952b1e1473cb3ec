"""Evaluation of generated clips against reference clips: did the fine-tune learn the genre?

Metrics (pure tensor functions first, the report assembling them below):

- Frechet distance (Heusel et al. 2017, "GANs trained by a two time-scale update rule..."; for audio FAD,
  Kilgour et al. 2019): fit a Gaussian N(mu, Sigma) to the embeddings of each set and report
  `||mu_g - mu_r||^2 + Tr(Sigma_g + Sigma_r - 2 (Sigma_g Sigma_r)^(1/2))`. Embeddings come from
  `audiodiff.embeddings` (log-mel frame statistics by default, a genre classifier, or a pretrained model). Each
  value is reported with a baseline: the same distance between two disjoint sets of reference clips, the value a
  perfect generator would get at this sample size.
- Genre share: the fraction of generated clips that a `GenreClassifier` assigns to the target genre, next to the
  same fraction for reference clips of that genre.
- Reconstruction quality of the codec on reference audio: encode to the image, decode with the chosen vocoder,
  compare with `audiodiff.metrics.spectral_convergence` and `log_spectral_distance`.
- Diversity: mean pairwise log-mel distance between generated clips (0 = the model repeats one clip), next to the
  same for reference clips, and the distance of each generated clip to its nearest reference clip (copying).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiodiff.audio import AudioError, audio_info, is_audio_file, load_audio, slice_audio
from audiodiff.codec import SpectrogramCodec, load_png
from audiodiff.config import ConfigError, MelConfig
from audiodiff.embeddings import Embedder, images_to_db
from audiodiff.metrics import log_spectral_distance, spectral_convergence

REPORT_NAME = "report.json"
FIGURE_NAME = "report.png"


class EvaluationError(ValueError):
    """Inputs that cannot be evaluated (missing, empty, mismatched); `str(error)` is one line."""


# --- Frechet distance -----------------------------------------------------------------------------------------------
def gaussian_statistics(embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean `(dim,)` and unbiased covariance `(dim, dim)` (float64) of embeddings `(count, dim)`, count >= 2."""
    embeddings = torch.as_tensor(embeddings).reshape(-1, torch.as_tensor(embeddings).shape[-1]).double()
    if len(embeddings) < 2:
        raise EvaluationError(f"a covariance needs at least 2 embedding vectors, got {len(embeddings)}")
    return embeddings.mean(dim=0), torch.cov(embeddings.T).reshape(embeddings.shape[1], embeddings.shape[1])


def frechet_distance(
    mean_a: torch.Tensor, covariance_a: torch.Tensor, mean_b: torch.Tensor, covariance_b: torch.Tensor
) -> float:
    """Frechet (2-Wasserstein) distance between N(mean_a, covariance_a) and N(mean_b, covariance_b), squared form.

    `||mean_a - mean_b||^2 + Tr(A + B - 2 (A B)^(1/2))` (Heusel et al. 2017; FAD, Kilgour et al. 2019). The trace of
    the matrix square root is computed stably in float64 as the sum of the square roots of the eigenvalues of the
    symmetric matrix `A^(1/2) B A^(1/2)` (same spectrum as A B), so identical inputs give 0 up to rounding.
    means: `(dim,)`; covariances: `(dim, dim)`. Returns a float >= 0.
    """
    mean_a, mean_b = torch.as_tensor(mean_a).double(), torch.as_tensor(mean_b).double()
    covariance_a, covariance_b = torch.as_tensor(covariance_a).double(), torch.as_tensor(covariance_b).double()
    values, vectors = torch.linalg.eigh((covariance_a + covariance_a.T) / 2)
    root_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = root_a @ covariance_b @ root_a
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mean_a - mean_b).square().sum() + covariance_a.trace() + covariance_b.trace() - 2 * trace_root
    return max(0.0, float(distance))


def frechet_distance_between(embeddings_a: torch.Tensor, embeddings_b: torch.Tensor) -> float:
    """Frechet distance between two sets of embeddings, `(..., dim)` each (all leading axes are pooled)."""
    return frechet_distance(*gaussian_statistics(embeddings_a), *gaussian_statistics(embeddings_b))


# --- diversity and copying ------------------------------------------------------------------------------------------
def pairwise_log_mel_distances(images_a: torch.Tensor, images_b: torch.Tensor, top_db: float) -> torch.Tensor:
    """RMS difference in dB between the log-mel spectrograms of every pair: `sqrt(mean((dB_i - dB_j)^2))`.

    images_a `(Na, 1, n_mels, frames)`, images_b `(Nb, 1, n_mels, frames)` in [-1, 1] (the longer clips are cut to
    the common width). Returns `(Na, Nb)` in dB; 0 for identical clips.
    """
    db_a, db_b = images_to_db(images_a, top_db).double(), images_to_db(images_b, top_db).double()
    if db_a.shape[-2] != db_b.shape[-2]:
        raise EvaluationError(f"clips have {db_a.shape[-2]} and {db_b.shape[-2]} mel bands; they must match")
    width = min(db_a.shape[-1], db_b.shape[-1])
    flat_a, flat_b = db_a[..., :width].flatten(1), db_b[..., :width].flatten(1)
    squared = (
        flat_a.square().sum(1, keepdim=True) + flat_b.square().sum(1).unsqueeze(0) - 2 * flat_a @ flat_b.T
    ).clamp(min=0)
    return (squared / flat_a.shape[1]).sqrt()


def diversity(images: torch.Tensor, top_db: float) -> dict[str, float]:
    """Mean and smallest pairwise log-mel distance (dB, `pairwise_log_mel_distances`) within one set of clips.

    images: `(N, 1, n_mels, frames)`, N >= 2. `mean_pairwise_db` ~ 0 means every clip is the same clip;
    `closest_pair_db` ~ 0 means at least two clips are (near) duplicates.
    """
    if len(images) < 2:
        raise EvaluationError(f"diversity needs at least 2 clips, got {len(images)}")
    distances = pairwise_log_mel_distances(images, images, top_db)
    upper = torch.triu_indices(len(images), len(images), offset=1)
    pairs = distances[upper[0], upper[1]]
    return {"mean_pairwise_db": float(pairs.mean()), "closest_pair_db": float(pairs.min())}


def nearest_neighbour_distances(
    queries: torch.Tensor, references: torch.Tensor, top_db: float, exclude_self: bool = False
) -> torch.Tensor:
    """For each query clip the log-mel distance (dB) to its nearest reference clip: `(Nq,)`.

    With `exclude_self` (queries are the references) the diagonal is skipped: leave-one-out nearest neighbours.
    """
    distances = pairwise_log_mel_distances(queries, references, top_db)
    if exclude_self:
        distances = distances + torch.diag(torch.full((len(distances),), float("inf"), dtype=distances.dtype))
    return distances.min(dim=1).values


def genre_share(probabilities: torch.Tensor, target_index: int) -> float:
    """Fraction of clips whose most likely genre (argmax of `(N, num_genres)` probabilities) is `target_index`."""
    return float((torch.as_tensor(probabilities).argmax(dim=-1) == target_index).float().mean())


# --- clip sets -----------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class ClipSet:
    """Clips ready for evaluation.

    images: `(N, 1, n_mels, frames)` in [-1, 1]. audio: `(M, time)` audio of the first M <= N clips when known
    (original audio for reference clips, generated audio for a pipeline), else None. genres, groups (the track a
    clip was cut from) and names: one per clip.
    """

    images: torch.Tensor
    mel_config: MelConfig
    genres: list[str | None]
    groups: list[str]
    names: list[str]
    source: str
    kind: str
    audio: torch.Tensor | None = None
    bits: int = 8

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int]) -> ClipSet:
        indices = list(indices)
        audio = None
        if self.audio is not None:
            kept = [position for position in indices if position < len(self.audio)]
            # Audio stays aligned with the first clips only while the kept clips with audio come first.
            if kept and kept == indices[: len(kept)]:
                audio = self.audio[kept]
        return dataclasses.replace(
            self,
            images=self.images[indices],
            genres=[self.genres[i] for i in indices],
            groups=[self.groups[i] for i in indices],
            names=[self.names[i] for i in indices],
            audio=audio,
        )


@dataclasses.dataclass(frozen=True)
class ClipRef:
    """One clip before loading: slice `index` of `path` (0 for an image file), with its genre and track."""

    path: Path
    index: int
    genre: str | None
    group: str


def select_refs(refs: Sequence, n: int | None, genre: str | None, generator: torch.Generator | None) -> list:
    """Clips of `genre` (all when None), `n` of them (all when None) drawn at random with `generator`, else the first.

    Raises EvaluationError when no clip matches.
    """
    chosen = [ref for ref in refs if genre is None or ref.genre == genre]
    if not chosen:
        if genre is not None:
            present = sorted({str(ref.genre) for ref in refs})
            raise EvaluationError(f"no clips of genre {genre!r} (genres present: {', '.join(present) or 'none'})")
        raise EvaluationError("no clips found")
    if n is not None and n < len(chosen):
        if generator is not None:
            order = torch.randperm(len(chosen), generator=generator)[:n].tolist()
            chosen = [chosen[position] for position in order]
        else:
            chosen = chosen[:n]
    return chosen


def folder_mel_config(folder: Path) -> MelConfig | None:
    """The mel settings stored with a folder (DIR/mel_config.json or DIR/mel/mel_config.json), else None."""
    folder = Path(folder)
    for candidate in (folder / "mel_config.json", folder / "mel" / "mel_config.json"):
        if candidate.is_file():
            return MelConfig.load(candidate)
    return None


_SLICE_SUFFIX = re.compile(r"_\d+$")


class FolderSource:
    """A folder of audio files or spectrogram PNGs, optionally with one sub-folder per genre.

    A file at `DIR/<genre>/...` gets that genre; files directly in DIR have none. When the folder holds PNG files
    they are used (the images a model produced, as `audiodiff generate` writes them next to their WAVs); otherwise
    every slice of every audio file is a clip. A PNG named `<track>_<number>.png` belongs to track `<track>`.

    Mel settings: `mel_config` when given, else the folder's own mel_config.json, else `fallback` (the other side's
    settings), else the reference defaults. Unreadable audio files are listed in `skipped`.
    """

    kind = "folder"

    def __init__(self, folder: str | Path, mel_config: MelConfig | None = None, fallback: MelConfig | None = None):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise EvaluationError(f"{self.folder}: not a folder")
        try:
            stored = folder_mel_config(self.folder)
        except ConfigError as error:
            raise EvaluationError(str(error)) from None
        self.mel_config = mel_config or stored or fallback or MelConfig()
        files = sorted(path for path in self.folder.rglob("*") if path.is_file())
        images = [path for path in files if path.suffix.lower() == ".png"]
        audio = [path for path in files if is_audio_file(path)]
        self.uses_images = bool(images)
        self.skipped: list[str] = []
        self.refs: list[ClipRef] = []
        for path in images if images else audio:
            relative = path.relative_to(self.folder)
            genre = relative.parts[0] if len(relative.parts) > 1 else None
            if self.uses_images:
                track = str(relative.parent / _SLICE_SUFFIX.sub("", path.stem))
                self.refs.append(ClipRef(path, 0, genre, track))
                continue
            try:
                info = audio_info(path)
            except AudioError as error:
                self.skipped.append(str(error))
                continue
            seconds = info.frames / info.samplerate
            slices = max(1, int(seconds * self.mel_config.sample_rate) // self.mel_config.slice_size)
            self.refs += [ClipRef(path, index, genre, str(relative)) for index in range(slices)]
        if not self.refs:
            raise EvaluationError(f"{self.folder}: no spectrogram PNGs or readable audio files in this folder")

    def load(self, refs: Sequence[ClipRef], device: torch.device | str = "cpu", bits: int = 8) -> ClipSet:
        """Load the chosen clips (PNG pixels as stored; audio slices encoded with `bits`-bit quantisation)."""
        config = self.mel_config
        if self.uses_images:
            arrays, depths = [], set()
            for ref in refs:
                try:
                    pixels, depth = load_png(ref.path)
                except ValueError as error:
                    raise EvaluationError(str(error)) from None
                if pixels.shape[0] != config.n_mels:
                    raise EvaluationError(
                        f"{ref.path}: image is {pixels.shape[0]} pixels high but the mel settings have "
                        f"y_res={config.n_mels} (give --mel-config)"
                    )
                arrays.append(pixels.astype(np.float32) / ((1 << depth) - 1) * 2 - 1)
                depths.add(depth)
            width = min(array.shape[1] for array in arrays)
            images = torch.from_numpy(np.stack([array[:, :width] for array in arrays])).unsqueeze(1)
            return ClipSet(
                images,
                config,
                [ref.genre for ref in refs],
                [ref.group for ref in refs],
                [str(ref.path.relative_to(self.folder)) for ref in refs],
                str(self.folder),
                self.kind,
                bits=max(depths),
            )
        codec = SpectrogramCodec(config).to(device)
        slices: list[np.ndarray | None] = [None] * len(refs)
        # Each file is read once, however the chosen clips are ordered.
        for path in dict.fromkeys(ref.path for ref in refs):
            try:
                file_slices = slice_audio(load_audio(path, config.sample_rate), config.slice_size)
            except AudioError as error:
                raise EvaluationError(str(error)) from None
            for position, ref in enumerate(refs):
                if ref.path == path:
                    slices[position] = file_slices[min(ref.index, len(file_slices) - 1)]
        audio = torch.from_numpy(np.stack(slices))
        images = torch.cat([codec.encode(part.to(device), bits).cpu() for part in audio.split(32)])
        return ClipSet(
            images,
            config,
            [ref.genre for ref in refs],
            [ref.group for ref in refs],
            [f"{ref.path.relative_to(self.folder)}#{ref.index}" for ref in refs],
            str(self.folder),
            self.kind,
            audio=audio,
            bits=bits,
        )


def is_pipeline_folder(path: str | Path) -> bool:
    return (Path(path) / "model_index.json").is_file()


_DATASET_MARKERS = ("audiodiff_dataset.json", "dataset_info.json", "state.json", "dataset_dict.json")


def is_dataset_source(path: str | Path) -> bool:
    """A prepared or saved `datasets` dataset: a folder with audiodiff_dataset.json, state.json, ... ."""
    path = Path(path)
    return any((path / name).is_file() for name in _DATASET_MARKERS)


class DatasetSource:
    """A spectrogram dataset prepared by `audiodiff prepare` (`audiodiff.data.load_spectrogram_dataset`)."""

    kind = "dataset"

    def __init__(self, source: str | Path):
        try:
            from audiodiff.data import images_to_tensor, load_spectrogram_dataset
        except ImportError:
            raise EvaluationError(
                f"{source}: reading prepared spectrogram datasets needs audiodiff.data, which this installation "
                "lacks; give a folder of WAV or PNG files instead"
            ) from None
        self.source = str(source)
        self._images_to_tensor = images_to_tensor
        try:
            prepared = load_spectrogram_dataset(source)
        except (OSError, ValueError, ConfigError) as error:
            raise EvaluationError(f"{source}: {str(error).splitlines()[0] if str(error) else error}") from None
        self.prepared = prepared
        self.mel_config = prepared.mel_config
        self.bits = getattr(prepared, "bits", 8) or 8
        dataset = prepared.dataset
        columns = set(dataset.column_names)
        if "image" not in columns:
            raise EvaluationError(f"{source}: the dataset has no 'image' column")
        genre_names = list(getattr(prepared, "genres", None) or [])
        genres = dataset["genre"] if "genre" in columns else [None] * len(dataset)
        files = dataset["audio_file"] if "audio_file" in columns else [""] * len(dataset)
        slices = dataset["slice"] if "slice" in columns else [0] * len(dataset)
        self.refs = []
        for row, (genre, file, slice_index) in enumerate(zip(genres, files, slices)):
            name = genre_names[genre] if isinstance(genre, int) and genre_names else genre
            self.refs.append(DatasetRef(row, str(file or ""), int(slice_index or 0), name, str(file or row)))
        if not self.refs:
            raise EvaluationError(f"{source}: the dataset is empty")

    def load(self, refs: Sequence[DatasetRef], device: torch.device | str = "cpu", audio_clips: int = 0) -> ClipSet:
        """Load the chosen rows' images; original audio for up to `audio_clips` leading rows when the files exist."""
        rows = self.prepared.dataset.select([ref.row for ref in refs])
        try:
            images = self._images_to_tensor(rows["image"], self.bits)
        except ValueError as error:
            raise EvaluationError(f"{self.source}: {error}") from None
        audio = []
        for ref in refs[:audio_clips]:
            clip = _original_slice(ref, self.mel_config)
            if clip is None:
                break
            audio.append(clip)
        return ClipSet(
            images,
            self.mel_config,
            [ref.genre for ref in refs],
            [ref.group for ref in refs],
            [f"{Path(ref.audio_file).name or 'row'}#{ref.slice if ref.audio_file else ref.row}" for ref in refs],
            self.source,
            self.kind,
            audio=torch.from_numpy(np.stack(audio)) if audio else None,
            bits=self.bits,
        )


@dataclasses.dataclass(frozen=True)
class DatasetRef:
    row: int
    audio_file: str
    slice: int
    genre: str | None
    group: str


def _original_slice(ref: DatasetRef, config: MelConfig) -> np.ndarray | None:
    if not ref.audio_file or not Path(ref.audio_file).is_file():
        return None
    try:
        slices = slice_audio(load_audio(ref.audio_file, config.sample_rate), config.slice_size)
    except AudioError:
        return None
    return slices[ref.slice] if ref.slice < len(slices) else None


def generate_clips(
    pipeline_folder: str | Path,
    count: int,
    *,
    genre: str | None = None,
    num_inference_steps: int | None = None,
    scheduler: str | None = None,
    batch_size: int = 8,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> ClipSet:
    """Generate `count` clips with a pipeline folder (`audiodiff.pipeline.AudioDiffusionPipeline`).

    `genre` conditions a genre-conditioned pipeline (it must know the genre); an unconditional pipeline (typically
    fine-tuned on that one genre) samples unconditionally. `scheduler` swaps the sampler ("dpm", "ddim", ...);
    `num_inference_steps` defaults to the pipeline's. Images `(count, 1, n_mels, frames)` and audio `(count, time)`.
    """
    try:
        from audiodiff.pipeline import AudioDiffusionPipeline
    except ImportError:
        raise EvaluationError(
            f"{pipeline_folder}: generating from a pipeline needs audiodiff.pipeline, which this installation lacks; "
            "generate clips first and pass their folder"
        ) from None
    try:
        scheduler = None if scheduler == "saved" else scheduler
        pipeline = AudioDiffusionPipeline.from_pretrained(str(pipeline_folder), scheduler=scheduler).to(device)
    except (OSError, ValueError, KeyError, ConfigError) as error:
        raise EvaluationError(f"{pipeline_folder}: cannot load the pipeline ({_first_line(error)})") from None
    pipeline.set_progress_bar_config(disable=True)
    condition = None
    if genre is not None and pipeline.genres:
        if genre not in pipeline.genres:
            raise EvaluationError(
                f"{pipeline_folder}: the pipeline knows genres {', '.join(pipeline.genres)}, not {genre!r}"
            )
        condition = genre
    images, audio = [], []
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        try:
            output = pipeline(
                batch_size=size,
                num_inference_steps=num_inference_steps,
                generator=generator,
                genre=condition,
                output_type="pt",
            )
        except ValueError as error:
            raise EvaluationError(f"{pipeline_folder}: generation failed ({_first_line(error)})") from None
        images.append(torch.as_tensor(output.images).float().cpu())
        audio.append(torch.as_tensor(output.audios).float().cpu())
        if progress is not None:
            progress(size)
    names = [f"generated_{index:04d}" for index in range(count)]
    return ClipSet(
        torch.cat(images),
        pipeline.mel_config,
        [genre] * count,
        names,
        names,
        str(pipeline_folder),
        "pipeline",
        audio=torch.cat(audio),
        bits=pipeline.bits,
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def open_source(path: str | Path, mel_config: MelConfig | None = None, fallback: MelConfig | None = None):
    """A reference or generated source by what `path` is: a prepared dataset (or hub dataset id), or a folder of
    WAV/PNG files (`FolderSource`, with `mel_config` / `fallback` mel settings).

    Pipeline folders are not opened here (`generate_clips` runs them).
    """
    path = Path(path)
    if not path.exists():
        if re.fullmatch(r"[\w.-]+/[\w.-]+", str(path)) and not str(path).startswith((".", "/", "~")):
            return DatasetSource(str(path))  # a hub dataset id (`datasets.load_dataset`)
        raise EvaluationError(f"{path}: no such file or folder")
    if is_pipeline_folder(path):
        raise EvaluationError(f"{path}: is a pipeline folder, not a set of clips")
    if is_dataset_source(path):
        return DatasetSource(path)
    return FolderSource(path, mel_config, fallback)


# --- the evaluation --------------------------------------------------------------------------------------------------
def split_reference(groups: Sequence[str], count: int) -> tuple[list[int], list[int], str]:
    """Split reference clips into the set compared with the generated clips and a disjoint baseline set.

    Tracks (`groups`) are kept on one side when there are at least two: each track, in order of first appearance,
    goes to the side with fewer clips so far. Clips of one track are alike, so a baseline sharing tracks with the
    compared set would be too optimistic; generated clips share no track with the reference either. With a single
    track the clips are split in order. Each side keeps at most `count` clips. Returns (compared indices, baseline
    indices, "track" or "clip").
    """
    order = list(dict.fromkeys(groups))
    if len(order) < 2:
        return list(range(min(count, len(groups)))), list(range(count, min(len(groups), 2 * count))), "clip"
    members: dict[str, list[int]] = {group: [] for group in order}
    for index, group in enumerate(groups):
        members[group].append(index)
    sides: tuple[list[int], list[int]] = ([], [])
    for group in order:
        side = sides[0] if len(sides[0]) <= len(sides[1]) else sides[1]
        side.extend(members[group])
    return sides[0][:count], sides[1][:count], "track"


def _check_same_mel(generated: ClipSet, reference: ClipSet) -> None:
    for key in ("y_res", "sample_rate", "n_fft", "hop_length", "top_db"):
        if getattr(generated.mel_config, key) != getattr(reference.mel_config, key):
            raise EvaluationError(
                f"generated clips have {key}={getattr(generated.mel_config, key)} but reference clips have "
                f"{key}={getattr(reference.mel_config, key)}; compare clips made with the same mel settings"
            )


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _embed(embedder: Embedder, clips: ClipSet, audio: torch.Tensor | None) -> torch.Tensor:
    return embedder(clips.images, audio, clips.mel_config.sample_rate)


def evaluate(
    generated: ClipSet,
    reference: ClipSet,
    *,
    target_genre: str | None = None,
    embedders: Sequence[Embedder] = (),
    unavailable: dict[str, str] | None = None,
    classifier=None,
    classifier_report: dict[str, Any] | None = None,
    vocoder=None,
    reconstruction_clips: int = 8,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """All metrics of generated against reference clips, as a JSON-ready dict.

    `reference` is split by track (`split_reference`) into the clips compared with the generated ones and a disjoint
    baseline set (up to `len(generated)` clips each): the baseline Frechet distance is baseline vs compared.
    `embedders` are the Frechet-distance backends to run; `unavailable` maps backends that could not be loaded to
    the reason. `classifier` (a `GenreClassifier`) gives the genre share. `vocoder` (default: the codec's
    Griffin-Lim) decodes for reconstruction quality and, for backends that listen to audio, both sets' images.
    `generator` seeds Griffin-Lim's phases.
    """
    _check_same_mel(generated, reference)
    if len(generated) < 2:
        raise EvaluationError(f"need at least 2 generated clips, got {len(generated)}")
    if len(reference) < 2:
        raise EvaluationError(f"need at least 2 reference clips, got {len(reference)}")
    config = reference.mel_config
    top_db = float(config.top_db)
    count = len(generated)
    compared_index, baseline_index, baseline_split = split_reference(reference.groups, count)
    compared = reference.subset(compared_index)
    baseline = reference.subset(baseline_index) if len(baseline_index) >= 2 else None
    codec = SpectrogramCodec(config, vocoder=vocoder).to(device)
    decoded: dict[int, torch.Tensor] = {}

    def listened(clips: ClipSet) -> torch.Tensor:
        key = id(clips)
        if key not in decoded:
            decoded[key] = torch.cat(
                [codec.decode(part.to(device), generator=generator).cpu() for part in clips.images.split(8)]
            )
        return decoded[key]

    report: dict[str, Any] = {
        "generated": {"source": generated.source, "kind": generated.kind, "clips": len(generated)},
        "reference": {
            "source": reference.source,
            "kind": reference.kind,
            "clips": len(compared),
            "baseline_clips": len(baseline) if baseline is not None else 0,
            "baseline_split": baseline_split if baseline is not None else None,
        },
        "mel_config": config.to_dict(),
        "target_genre": target_genre,
    }

    # Frechet distances.
    distances: dict[str, Any] = {}
    for embedder in embedders:
        sets = [generated, compared] + ([baseline] if baseline is not None else [])
        vectors = [_embed(embedder, clips, listened(clips) if embedder.needs_audio else None) for clips in sets]
        value = frechet_distance_between(vectors[0], vectors[1])
        entry: dict[str, Any] = {
            "value": _rounded(value),
            "baseline": None,
            "ratio_to_baseline": None,
            "vectors": [int(np.prod(vectors[0].shape[:-1])), int(np.prod(vectors[1].shape[:-1]))],
            "dim": int(vectors[0].shape[-1]),
        }
        if baseline is not None:
            floor = frechet_distance_between(vectors[2], vectors[1])
            entry["baseline"] = _rounded(floor)
            entry["ratio_to_baseline"] = _rounded(value / floor, 3) if floor > 0 else None
        distances[embedder.name] = entry
    for name, reason in (unavailable or {}).items():
        distances[name] = {"available": False, "reason": reason}
    report["frechet_distance"] = distances

    # Genre share.
    if classifier is None:
        report["genre"] = {"available": False, "reason": "no classifier given (train one: audiodiff train-classifier)"}
    else:
        from audiodiff.classifier import check_mel_compatible

        try:
            check_mel_compatible(classifier.config.mel, config)
        except ValueError as error:
            raise EvaluationError(str(error)) from None
        genres = list(classifier.genres)
        probabilities = classifier.predict_proba(generated.images.to(classifier.device))
        predicted = probabilities.argmax(dim=-1)
        section: dict[str, Any] = {
            "genres": genres,
            "predicted_shares": {
                genre: _rounded(float((predicted == index).float().mean())) for index, genre in enumerate(genres)
            },
            "classifier_held_out_accuracy": (classifier_report or {}).get("held_out_accuracy"),
        }
        if target_genre is not None:
            if target_genre not in genres:
                raise EvaluationError(
                    f"the classifier does not know genre {target_genre!r} (it knows {', '.join(genres)})"
                )
            index = genres.index(target_genre)
            reference_probabilities = classifier.predict_proba(compared.images.to(classifier.device))
            section["target_share"] = _rounded(genre_share(probabilities, index))
            section["reference_target_share"] = _rounded(genre_share(reference_probabilities, index))
            section["mean_target_probability"] = _rounded(float(probabilities[:, index].mean()))
        report["genre"] = section

    # Reconstruction quality of the codec on reference audio.
    if compared.audio is None and reference.audio is None:
        report["reconstruction"] = {
            "available": False,
            "reason": "the reference clips carry no original audio (use a folder of audio files, or a dataset whose "
            "audio_file paths exist)",
        }
    else:
        original = (reference.audio if reference.audio is not None else compared.audio)[:reconstruction_clips]
        rebuilt = torch.cat(
            [
                codec.decode(codec.encode(part.to(device), reference.bits), generator=generator).cpu()
                for part in original.split(8)
            ]
        )
        convergence = spectral_convergence(original, rebuilt, config.n_fft, config.hop_length)
        distance = log_spectral_distance(original, rebuilt, config.n_fft, config.hop_length, float(config.top_db))
        vocoder_used = codec.vocoder
        report["reconstruction"] = {
            "clips": len(original),
            "decoder": type(vocoder_used).__name__,
            "decoder_iterations": getattr(vocoder_used, "n_iter", None),
            "bits": reference.bits,
            "spectral_convergence": _rounded(float(convergence.mean())),
            "spectral_convergence_std": _rounded(float(convergence.std())) if len(original) > 1 else 0.0,
            "log_spectral_distance_db": _rounded(float(distance.mean()), 3),
            "log_spectral_distance_std_db": _rounded(float(distance.std()), 3) if len(original) > 1 else 0.0,
        }

    # Diversity and copying.
    generated_spread = diversity(generated.images, top_db)
    reference_spread = diversity(compared.images, top_db)
    nearest = nearest_neighbour_distances(generated.images, compared.images, top_db)
    reference_nearest = nearest_neighbour_distances(compared.images, compared.images, top_db, exclude_self=True)
    report["diversity"] = {
        "generated_mean_pairwise_db": _rounded(generated_spread["mean_pairwise_db"], 3),
        "generated_closest_pair_db": _rounded(generated_spread["closest_pair_db"], 3),
        "reference_mean_pairwise_db": _rounded(reference_spread["mean_pairwise_db"], 3),
        "reference_closest_pair_db": _rounded(reference_spread["closest_pair_db"], 3),
        "ratio_to_reference": _rounded(generated_spread["mean_pairwise_db"] / reference_spread["mean_pairwise_db"], 3)
        if reference_spread["mean_pairwise_db"] > 0
        else None,
        "nearest_reference_db": _rounded(float(nearest.mean()), 3),
        "reference_nearest_neighbour_db": _rounded(float(reference_nearest.mean()), 3),
    }
    return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report as short human-readable lines (printed by the CLI and drawn in the figure)."""

    def number(value, digits=3):
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = [
        f"generated: {report['generated']['clips']} clips from {report['generated']['source']}",
        f"reference: {report['reference']['clips']} clips from {report['reference']['source']}"
        + (f" (genre {report['target_genre']})" if report.get("target_genre") else ""),
    ]
    for name, entry in report["frechet_distance"].items():
        if entry.get("available") is False:
            lines.append(f"Frechet distance [{name}]: unavailable ({entry['reason']})")
        else:
            lines.append(
                f"Frechet distance [{name}]: {number(entry['value'])}   reference vs reference: "
                f"{number(entry['baseline'])}   ratio: {number(entry['ratio_to_baseline'], 2)}"
            )
    genre = report["genre"]
    if genre.get("available") is False:
        lines.append(f"genre share: unavailable ({genre['reason']})")
    elif "target_share" in genre:
        lines.append(
            f"genre share [{report['target_genre']}]: generated {number(genre['target_share'], 2)}   "
            f"reference {number(genre['reference_target_share'], 2)}"
        )
    else:
        shares = ", ".join(f"{name} {number(value, 2)}" for name, value in genre["predicted_shares"].items())
        lines.append(f"predicted genres (no target genre): {shares}")
    reconstruction = report["reconstruction"]
    if reconstruction.get("available") is False:
        lines.append(f"reconstruction: unavailable ({reconstruction['reason']})")
    else:
        lines.append(
            f"reconstruction [{reconstruction['decoder']}, {reconstruction['clips']} clips]: spectral convergence "
            f"{number(reconstruction['spectral_convergence'])}   log-spectral distance "
            f"{number(reconstruction['log_spectral_distance_db'], 2)} dB"
        )
    spread = report["diversity"]
    lines.append(
        f"diversity: generated {number(spread['generated_mean_pairwise_db'], 2)} dB   reference "
        f"{number(spread['reference_mean_pairwise_db'], 2)} dB   closest generated pair "
        f"{number(spread['generated_closest_pair_db'], 2)} dB"
    )
    lines.append(
        f"nearest reference: generated {number(spread['nearest_reference_db'], 2)} dB   reference "
        f"(leave-one-out) {number(spread['reference_nearest_neighbour_db'], 2)} dB"
    )
    return lines


def write_report(report: dict[str, Any], folder: str | Path) -> Path:
    """Write `folder/report.json`; returns the file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_NAME
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


# --- the figure --------------------------------------------------------------------------------------------------
# Anchor colours of a perceptually ordered dark-to-bright map (close to matplotlib's "magma").
_COLOUR_ANCHORS = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
     [252, 253, 191]],
    dtype=np.float32,
)  # fmt: skip


def colourise(image: torch.Tensor) -> np.ndarray:
    """One spectrogram `(n_mels, frames)` in [-1, 1] -> RGB uint8 `(n_mels, frames, 3)`, flipped for display.

    Row 0 of the image is the lowest mel band; the picture puts it at the bottom, as on a spectrogram plot.
    """
    unit = ((torch.as_tensor(image).float().clamp(-1, 1) + 1) / 2).numpy()[::-1]
    position = unit * (len(_COLOUR_ANCHORS) - 1)
    lower = np.floor(position).astype(int).clip(0, len(_COLOUR_ANCHORS) - 2)
    weight = (position - lower)[..., None]
    colours = _COLOUR_ANCHORS[lower] * (1 - weight) + _COLOUR_ANCHORS[lower + 1] * weight
    return colours.round().astype(np.uint8)


def render_figure(
    generated: ClipSet, reference: ClipSet, report: dict[str, Any], path: str | Path, columns: int = 4, tile: int = 160
) -> Path:
    """PNG: a row of generated spectrograms above a row of reference spectrograms, then the metric values.

    Drawn with PIL only (no plotting library needed). Returns the file.
    """
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=13)
        title_font = ImageFont.load_default(size=16)
    except TypeError:  # Pillow without FreeType: the bitmap font
        font = title_font = ImageFont.load_default()
    margin, label_width, line_height = 12, 90, 18
    lines = summary_lines(report)
    width = max(label_width + columns * (tile + margin) + margin, 980)
    height = margin + 26 + 2 * (tile + 22) + margin + line_height * len(lines) + margin
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((margin, margin), "audiodiff evaluation", fill=(0, 0, 0), font=title_font)
    top = margin + 26
    for row, (label, clips) in enumerate((("generated", generated), ("reference", reference))):
        y = top + row * (tile + 22)
        draw.text((margin, y + tile // 2 - 8), label, fill=(0, 0, 0), font=font)
        for column in range(min(columns, len(clips))):
            x = label_width + column * (tile + margin)
            picture = Image.fromarray(colourise(clips.images[column, 0])).resize(
                (tile, tile), Image.Resampling.BILINEAR
            )
            canvas.paste(picture, (x, y))
            name = clips.names[column]
            draw.text((x, y + tile + 3), name if len(name) <= 24 else "..." + name[-21:], fill=(60, 60, 60), font=font)
    y = top + 2 * (tile + 22) + margin
    for line in lines:
        draw.text((margin, y), line, fill=(0, 0, 0), font=font)
        y += line_height
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")
    return path
