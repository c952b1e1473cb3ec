"""Clips to evaluate and where they come from: folders of audio or PNG files, prepared datasets, pipelines.

Every source is a `ClipSource`: it lists the clips it can provide (`refs`, chosen with `select_refs`) and loads the
chosen ones as a `ClipSet` with one `load(refs, device, audio_clips)` call, so callers never ask what kind of source
they hold. `open_source` picks the source for a path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from audiodiff.audio import AudioError, audio_info, is_audio_file, load_audio, save_audio, slice_audio
from audiodiff.codec import SpectrogramCodec, load_png, model_to_pixels, pixels_to_model, save_png
from audiodiff.config import ConfigError, MelConfig
from audiodiff.data import DATASET_METADATA_NAME, images_to_tensor, load_spectrogram_dataset
from audiodiff.data.encoding import DEFAULT_MIN_LOUDNESS_DB, slice_loudness_db
from audiodiff.evaluation.metrics import EvaluationError
from audiodiff.utils import first_line, is_hub_id, is_saved_dataset


@dataclasses.dataclass
class ClipSet:
    """Clips ready for evaluation.

    images: `(N, 1, n_mels, frames)` in [-1, 1]. audio: `(M, time)` audio of the first M <= N clips when known
    (original audio for reference clips, generated audio for a pipeline), else None. genres, groups (the track a
    clip was cut from) and names: one per clip. joins: per clip, the columns where separately generated pieces
    meet, when known (None: unknown, or made in one piece).
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
    joins: list[list[int]] | None = None
    window_of: list[int] | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def clip_index(self) -> list[int]:
        """For each image, the clip it was cut from (`evaluation.report.as_windows`); itself when not cut."""
        return list(self.window_of) if self.window_of is not None else list(range(len(self)))

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
            joins=None if self.joins is None else [self.joins[i] for i in indices],
            window_of=None if self.window_of is None else [self.window_of[i] for i in indices],
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


class ClipSource(Protocol):
    """Where clips come from. Implementations: `FolderClips`, `DatasetClips`, `PipelineClips`.

    refs: the clips the source can provide, each with `.genre` (choose some with `select_refs`). mel_config: the
    mel settings of its images. genres: the source's genre names in label order, or None when it names none.
    skipped: one line per input that could not be read (already left out of `refs`).
    """

    mel_config: MelConfig
    refs: Sequence[Any]
    genres: list[str] | None
    skipped: Sequence[str]

    def load(self, refs: Sequence[Any], device: torch.device | str = "cpu", audio_clips: int = 0) -> ClipSet:
        """The chosen clips as a `ClipSet`, with the original audio of at least the first `audio_clips` clips
        where it can be found (sources that hold audio anyway, audio folders and pipelines, keep all of it)."""
        ...


_SLICE_SUFFIX = re.compile(r"_\d+$")


class FolderClips:
    """A folder of audio files or spectrogram PNGs, optionally with one sub-folder per genre (a `ClipSource`).

    A file at `DIR/<genre>/...` gets that genre; files directly in DIR have none. When the folder holds PNG files
    they are used (the images a model produced, as `audiodiff generate` writes them next to their WAVs); otherwise
    every slice of every audio file is a clip, except near-silent ones (RMS below `min_loudness_db` dBFS, the
    threshold `audiodiff prepare` uses: a fade-out's last slice is hiss normalised to full scale, not music). A PNG
    named `<track>_<number>.png` belongs to track `<track>`.

    Mel settings: `mel_config` when given, else the folder's own mel_config.json, else `fallback` (the other side's
    settings), else the reference defaults. Audio slices are encoded with `bits`-bit quantisation; PNG pixels are
    used as stored. Unreadable audio files are listed in `skipped`.
    """

    kind = "folder"
    genres = None

    def __init__(
        self,
        folder: str | Path,
        mel_config: MelConfig | None = None,
        fallback: MelConfig | None = None,
        bits: int = 8,
        min_loudness_db: float | None = DEFAULT_MIN_LOUDNESS_DB,
    ):
        self.folder = Path(folder)
        self.bits = bits
        self.min_loudness_db = min_loudness_db
        if not self.folder.is_dir():
            raise EvaluationError(f"{self.folder}: not a folder")
        try:
            stored = MelConfig.find(self.folder)
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

    def load(self, refs: Sequence[ClipRef], device: torch.device | str = "cpu", audio_clips: int = 0) -> ClipSet:
        """Load the chosen clips. Clips cut from audio files carry their audio, whatever `audio_clips` asks;
        near-silent ones are left out (see the class docstring), so the set can be smaller than `refs`."""
        config = self.mel_config
        bits = self.bits
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
                arrays.append(pixels_to_model(pixels, depth))
                depths.add(depth)
            width = min(array.shape[1] for array in arrays)
            images = torch.stack([array[:, :width] for array in arrays]).unsqueeze(1)
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
        if self.min_loudness_db is not None:
            loud = slice_loudness_db(np.stack(slices)) >= self.min_loudness_db
            if not loud.any():
                raise EvaluationError(f"{self.folder}: every chosen slice is quieter than {self.min_loudness_db} dBFS")
            refs = [ref for ref, keep in zip(refs, loud) if keep]
            slices = [piece for piece, keep in zip(slices, loud) if keep]
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


def is_dataset_source(path: str | Path) -> bool:
    """A prepared or saved `datasets` dataset: a folder with audiodiff_dataset.json, state.json, ... ."""
    path = Path(path)
    return is_saved_dataset(path) or any(
        (path / name).is_file() for name in (DATASET_METADATA_NAME, "dataset_info.json")
    )


class DatasetClips:
    """A spectrogram dataset prepared by `audiodiff prepare` (`audiodiff.data.load_spectrogram_dataset`), as a
    `ClipSource`. Not to be confused with `audiodiff.data`'s sources of audio to prepare."""

    kind = "dataset"
    skipped = ()

    def __init__(self, source: str | Path):
        self.source = str(source)
        try:
            prepared = load_spectrogram_dataset(source)
        except (OSError, ValueError, ConfigError) as error:
            raise EvaluationError(f"{source}: {first_line(error)}") from None
        self.prepared = prepared
        self.mel_config = prepared.mel_config
        self.bits = getattr(prepared, "bits", 8) or 8
        self.genres = list(prepared.genres) if prepared.genres else None
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
            images = images_to_tensor(rows["image"], self.bits)
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
    guide: str | None = None,
    seconds: float | None = None,
    batch_size: int = 8,
    seed: int = 0,
    device: torch.device | str = "cpu",
    vocoder: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> ClipSet:
    """Generate `count` clips with a pipeline folder, as `audiodiff generate --seed SEED` does (clip k from a
    generator seeded `seed + k`, `audiodiff.sampling.generate`) but without drawing failed clips again: the
    evaluation measures the sampler as it is.

    `genre` conditions a genre-conditioned pipeline (it must know the genre); an unconditional pipeline (typically
    fine-tuned on that one genre) samples unconditionally. `scheduler` swaps the sampler ("dpm", "ddim", ...;
    "saved" keeps the folder's); `guide`: the weaker model that guides the sampling (`AudioDiffusionPipeline.set_guide`;
    "auto": the one the folder recommends, as `audiodiff generate` samples, or none where it cannot load, which `log`
    is told); `num_inference_steps` defaults to the sampler's; `seconds` sets the clip length
    (default one slice); `vocoder` (a trained vocoder's folder) replaces the pipeline's decoder. Images
    `(count, 1, n_mels, frames)` and audio `(count, time)`.
    """
    # Imported here: diffusers takes seconds to import, and evaluating folders of clips does not need it.
    from audiodiff import sampling
    from audiodiff.autoguide import NONE, follow
    from audiodiff.pipeline import AudioDiffusionPipeline

    try:
        pipeline = AudioDiffusionPipeline.from_pretrained(
            str(pipeline_folder), scheduler=scheduler, vocoder=vocoder
        ).to(device)
    except (OSError, ValueError, KeyError, ConfigError) as error:
        raise EvaluationError(f"{pipeline_folder}: cannot load the pipeline ({first_line(error)})") from None
    pipeline.set_progress_bar_config(disable=True)
    try:
        warn = log or (lambda line: None)
        follow(pipeline, NONE if guide is None else guide, None, lambda line: warn(f"{pipeline_folder}: {line}"))
    except ValueError as error:
        raise EvaluationError(f"{pipeline_folder}: {first_line(error)}") from None
    if pipeline.guide is not None and log is not None:
        log(f"guided by {pipeline.guide['model']} at {pipeline.guide['scale']:g}")
    condition = None
    if genre is not None and pipeline.genres:
        if genre not in pipeline.genres:
            raise EvaluationError(
                f"{pipeline_folder}: the pipeline knows genres {', '.join(pipeline.genres)}, not {genre!r}"
            )
        condition = genre
    try:
        clips = sampling.generate(
            pipeline, count=count, seed=seed, steps=num_inference_steps, genre=condition, seconds=seconds,
            batch_size=batch_size,
        )  # fmt: skip
    except ValueError as error:
        raise EvaluationError(f"{pipeline_folder}: generation failed ({first_line(error)})") from None
    names = [f"generated_{index:04d}" for index in range(count)]
    return ClipSet(
        pixels_to_model(clips.images, clips.bits).unsqueeze(1),
        pipeline.mel_config,
        [genre] * count,
        names,
        names,
        str(pipeline_folder),
        "pipeline",
        audio=torch.from_numpy(np.asarray(clips.audios, dtype=np.float32)),
        bits=pipeline.bits,
    )


class PipelineClips:
    """Clips generated on `load` by a pipeline folder, as a `ClipSource`.

    `refs` are the `count` clips to generate; `options` are `generate_clips`'s (genre, num_inference_steps,
    scheduler, guide, seconds, batch_size, seed, vocoder); `log` is told when generation starts.
    """

    kind = "pipeline"
    genres = None
    skipped = ()

    def __init__(self, folder: str | Path, count: int, *, log: Callable[[str], None] | None = None, **options: Any):
        self.folder = Path(folder)
        try:
            self.mel_config = MelConfig.find(self.folder) or MelConfig()
        except ConfigError as error:
            raise EvaluationError(str(error)) from None
        self.refs = [GeneratedRef(index, options.get("genre")) for index in range(count)]
        self.options = options
        self.log = log

    def load(self, refs: Sequence[GeneratedRef], device: torch.device | str = "cpu", audio_clips: int = 0) -> ClipSet:
        """Generate one clip per ref; every clip carries its generated audio."""
        if self.log is not None:
            self.log(f"generating {len(refs)} clips with {self.folder} ...")
        return generate_clips(self.folder, len(refs), device=device, log=self.log, **self.options)


@dataclasses.dataclass(frozen=True)
class GeneratedRef:
    """One clip a pipeline will generate: its position and the genre it is generated for (None: unconditional)."""

    index: int
    genre: str | None


def save_clips(clips: ClipSet, folder: str | Path) -> None:
    """Write `folder/<name>.png` for every clip (at its bit depth) and `folder/<name>.wav` for those with audio."""
    folder = Path(folder)
    pixels = model_to_pixels(clips.images[:, 0], clips.bits)
    for index, name in enumerate(clips.names):
        save_png(folder / f"{name}.png", pixels[index].numpy(), clips.bits, mel_config=clips.mel_config)
        if clips.audio is not None and index < len(clips.audio):
            save_audio(folder / f"{name}.wav", clips.audio[index], clips.mel_config.sample_rate)


def open_source(
    path: str | Path,
    mel_config: MelConfig | None = None,
    fallback: MelConfig | None = None,
    generation: dict[str, Any] | None = None,
) -> ClipSource:
    """The `ClipSource` for what `path` is: a prepared dataset (or hub dataset id, `DatasetClips`), a folder of
    WAV/PNG files (`FolderClips`, with `mel_config` / `fallback` mel settings), or, when `generation` gives the
    keyword arguments of `PipelineClips` (at least `count`), a pipeline folder. Without `generation` a pipeline
    folder is an error: it holds no clips.
    """
    from audiodiff.pretrained import resolve

    path = Path(resolve(path))
    if not path.exists():
        if is_hub_id(path):
            return DatasetClips(str(path))  # a hub dataset id (`datasets.load_dataset`)
        raise EvaluationError(f"{path}: no such file or folder")
    if is_pipeline_folder(path):
        if generation is None:
            raise EvaluationError(f"{path}: is a pipeline folder, not a set of clips")
        return PipelineClips(path, **generation)
    if is_dataset_source(path):
        return DatasetClips(path)
    return FolderClips(path, mel_config, fallback)
