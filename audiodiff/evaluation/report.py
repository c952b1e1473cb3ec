"""The evaluation of generated clips against reference clips: did the fine-tune learn the genre, and does it sound
right?

`evaluate` assembles the metrics (`audiodiff.evaluation.metrics`, `audiodiff.evaluation.artifacts`) into a
JSON-ready report:

- Artefacts: every generated clip checked window by window for speckle noise, noise-like flat spectra, silence,
  saturation and flat grey images against the reference's own range; the share of flagged clips, flagged clips
  first. The same check on held-out real clips gives its false-alarm rate.
- Seams (clips longer than one slice): the change of the spectral envelope across joins (or everywhere, when the
  joins are unknown) against the same change inside real music.

- Frechet distance on each embedding, reported with a baseline: the same distance between two disjoint sets of
  reference clips, the value a perfect generator would get at this sample size.
- Genre share: the fraction of generated clips that a `GenreClassifier` assigns to the target genre, next to the
  same fraction for reference clips of that genre.
- Reconstruction quality of the codec on reference audio: encode to the image, decode with the chosen vocoder,
  compare with `spectral_convergence` and `log_spectral_distance`.
- Diversity: mean pairwise log-mel distance between generated clips, next to the same for reference clips, and the
  distance of each generated clip to its nearest reference clip (copying).

`run_evaluation` is the whole job of `audiodiff evaluate`: open both sides, generate when one is a pipeline, load
the embedders, evaluate, write `report.json` and `report.png`.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiodiff.codec import SpectrogramCodec
from audiodiff.config import ConfigError, MelConfig
from audiodiff.evaluation.artifacts import check_artifacts, check_seams, comparable_windows
from audiodiff.evaluation.clips import ClipSet, open_source, save_clips, select_refs
from audiodiff.evaluation.embeddings import (
    ClassifierEmbedder,
    Embedder,
    EmbeddingUnavailable,
    FineEmbedder,
    LogMelEmbedder,
    load_pretrained_embedder,
)
from audiodiff.evaluation.metrics import (
    PRDC_NEIGHBOURS,
    EvaluationError,
    diversity,
    frechet_distance_between,
    genre_share,
    log_spectral_distance,
    nearest_neighbour_distances,
    precision_recall_density_coverage,
    spectral_convergence,
)
from audiodiff.figures import render_figure
from audiodiff.schedulers import AUTO_SCHEDULER
from audiodiff.utils import atomic_file

REPORT_NAME = "report.json"
FIGURE_NAME = "report.png"
# Said in the report when every reference clip comes from one track: the baseline then shares the compared clips'
# track, and such clips are far more alike than music of the genre is, so every ratio to it reads too harsh.
ONE_TRACK_WARNING = (
    "the reference has one track: the baseline is other clips of that same track, so ratios to it are not against "
    "other music of the genre (give a reference of several tracks)"
)


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


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def standardized(vectors: Sequence[torch.Tensor], reference: torch.Tensor) -> list[torch.Tensor]:
    """Each `(..., dim)` tensor with every dimension shifted and scaled by the reference's mean and spread, so a
    Frechet distance weighs all dimensions alike (a dimension the reference never varies gets a floor of 1e-3)."""
    flat = reference.reshape(-1, reference.shape[-1]).double()
    mean, spread = flat.mean(0), flat.std(0).clamp(min=1e-3)
    return [((vector.double() - mean) / spread).to(vector.dtype) for vector in vectors]


def as_windows(clips: ClipSet, width: int) -> ClipSet:
    """The clips cut into `width`-frame windows re-referenced to their own peaks (`comparable_windows`); each window
    keeps its clip's genre, track and name (with the window's first frame), and no audio or joins."""
    images, clip_index, starts = comparable_windows(clips.images, width)
    if len(images) == len(clips):  # clips of one slice: one window each, audio and names stay theirs
        return dataclasses.replace(clips, images=images)
    index = clip_index.tolist()
    return dataclasses.replace(
        clips,
        window_of=index,
        images=images,
        genres=[clips.genres[i] for i in index],
        groups=[clips.groups[i] for i in index],
        names=[f"{clips.names[i]}@{int(start)}" for i, start in zip(index, starts)],
        audio=None,
        joins=None,
    )


def spread_windows(clip_index: Sequence[int], wanted: int) -> list[int]:
    """`min(len(clip_index), wanted)` window indices taken from as many clips as possible, at rotating positions:
    clip c gives its window `c mod k` first (k: its number of windows), then the next, and so on, so that a thinned
    set neither favours some clips nor always takes their openings. `clip_index[i]`: the clip of window i."""
    position: dict[int, int] = {}
    keys = []
    counts = collections.Counter(clip_index)
    for window, clip in enumerate(clip_index):
        here = position.get(clip, 0)
        position[clip] = here + 1
        keys.append(((here - clip) % counts[clip], clip, window))
    return sorted(window for _, _, window in sorted(keys)[:wanted])


def clip_vectors(vectors: torch.Tensor) -> torch.Tensor:
    """One vector per clip from an embedder's `(batch, vectors_per_clip, dim)`: the vector itself when there is one,
    else the mean and standard deviation over the clip's vectors `(batch, 2 dim)` (how it sounds, how much it moves)."""
    if vectors.shape[1] == 1:
        return vectors[:, 0]
    return torch.cat([vectors.mean(dim=1), vectors.std(dim=1)], dim=-1)


def _fidelity_and_diversity(vectors: list[torch.Tensor]) -> dict[str, Any]:
    """Precision, recall, density and coverage of the generated vectors `vectors[0]` against the compared reference
    `vectors[1]`, next to the same for the baseline reference `vectors[2]` (real against real), all scaled by the
    compared reference's spread; with the ratios generated / real."""
    generated, compared, *rest = standardized(vectors, reference=vectors[1])
    entry: dict[str, Any] = {"neighbours": PRDC_NEIGHBOURS, "clips": [len(generated), len(compared)]}
    values = precision_recall_density_coverage(compared, generated)
    entry.update({name: _rounded(value, 3) for name, value in values.items()})
    if rest:
        real = precision_recall_density_coverage(compared, rest[0])
        entry["real"] = {name: _rounded(value, 3) for name, value in real.items()}
        entry["ratio_to_real"] = {
            name: _rounded(values[name] / real[name], 3) if real[name] > 0 else None for name in values
        }
    return entry


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
    try:
        generated.mel_config.check_compatible(
            reference.mel_config,
            "generated clips have",
            "reference clips have",
            "compare clips made with the same mel settings",
        )
    except ConfigError as error:
        raise EvaluationError(str(error)) from None
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
    # Like with like: every set is cut into slice-wide windows, each referred to its own peak as a dataset's slices
    # are, whatever the clips' length and source. The set statistics (Frechet distances, precision and recall), whose
    # values depend on the sample size, see as many generated windows as compared ones, taken evenly.
    slices = as_windows(generated, config.x_res)
    compared = as_windows(compared, config.x_res)
    baseline = None if baseline is None else as_windows(baseline, config.x_res)
    thinned = slices.subset(spread_windows(slices.clip_index, len(compared)))

    def listened(clips: ClipSet) -> torch.Tensor:
        key = id(clips)
        if key not in decoded:
            decoded[key] = torch.cat(
                [codec.decode(part.to(device), generator=generator).cpu() for part in clips.images.split(8)]
            )
        return decoded[key]

    report: dict[str, Any] = {
        "generated": {
            "source": generated.source,
            "kind": generated.kind,
            "clips": len(generated),
            "frames": int(generated.images.shape[-1]),
            "seconds": _rounded(generated.images.shape[-1] * config.hop_length / config.sample_rate, 2),
        },
        "reference": {
            "source": reference.source,
            "kind": reference.kind,
            "clips": len(compared),
            "baseline_clips": len(baseline) if baseline is not None else 0,
            "baseline_split": baseline_split if baseline is not None else None,
            "tracks": len(set(reference.groups)),
        },
        "mel_config": config.to_dict(),
        "target_genre": target_genre,
    }
    if baseline is not None and baseline_split == "clip":
        report["reference"]["warning"] = ONE_TRACK_WARNING

    # Artefacts, clip by clip: fences from all the reference clips (the more tracks, the truer the range of the
    # genre); the false-alarm rate on real music is that of the baseline clips (other tracks) against fences fitted
    # on the compared clips alone, which errs on the strict side.
    report["artifacts"] = check_artifacts(generated.images, reference.images, config.x_res, top_db, generated.names)
    if baseline is not None:
        real = check_artifacts(baseline.images, compared.images, config.x_res, top_db, baseline.names)
        report["artifacts"]["real_flagged_share"] = real["flagged_share"]

    # Seams of long clips.
    context = max(2, config.x_res // 4)
    if generated.images.shape[-1] >= config.x_res + context:
        report["seams"] = check_seams(
            generated.images,
            generated.joins,
            compared.images,
            top_db,
            context,
            generated.names,
            config.sample_rate,
            config.hop_length,
        )
    else:
        report["seams"] = {"available": False, "reason": "the generated clips are not longer than one slice"}

    # Frechet distances; precision, recall, density and coverage in the same embeddings, one vector per window.
    distances: dict[str, Any] = {}
    fidelity: dict[str, Any] = {}
    for embedder in embedders:
        sets = [thinned, compared] + ([baseline] if baseline is not None else [])
        vectors = [_embed(embedder, clips, listened(clips) if embedder.needs_audio else None) for clips in sets]
        fidelity[embedder.name] = _fidelity_and_diversity([clip_vectors(vector) for vector in vectors])
        if getattr(embedder, "standardize", False):
            vectors = standardized(vectors, reference=vectors[1])
        value = frechet_distance_between(vectors[0], vectors[1])
        entry: dict[str, Any] = {
            "value": _rounded(value),
            "baseline": None,
            "ratio_to_baseline": None,
            "vectors": [int(np.prod(vectors[0].shape[:-1])), int(np.prod(vectors[1].shape[:-1]))],
            "dim": int(vectors[0].shape[-1]),
            "standardized": bool(getattr(embedder, "standardize", False)),
        }
        if baseline is not None:
            floor = frechet_distance_between(vectors[2], vectors[1])
            entry["baseline"] = _rounded(floor)
            entry["ratio_to_baseline"] = _rounded(value / floor, 3) if floor > 0 else None
        distances[embedder.name] = entry
    for name, reason in (unavailable or {}).items():
        distances[name] = {"available": False, "reason": reason}
    report["frechet_distance"] = distances
    report["precision_recall"] = fidelity

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
        probabilities = classifier.predict_proba(slices.images.to(classifier.device))
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
    generated_spread = diversity(slices.images, top_db)
    reference_spread = diversity(compared.images, top_db)
    nearest = nearest_neighbour_distances(slices.images, compared.images, top_db)
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
    if report["reference"].get("warning"):
        lines.append(f"warning: {report['reference']['warning']}")
    artifacts = report.get("artifacts")
    if artifacts is not None:
        reasons = ", ".join(f"{name} {count}" for name, count in artifacts["by_reason"].items() if count)
        real = artifacts.get("real_flagged_share")
        lines.append(
            f"artefacts: {artifacts['flagged_clips']} of {artifacts['clips']} generated clips flagged "
            f"({100 * artifacts['flagged_share']:.0f}%{': ' + reasons if reasons else ''})"
            + (f"   real held-out clips flagged: {100 * real:.0f}%" if real is not None else "")
        )
    if report.get("copies") is not None:
        from audiodiff.evaluation.copies import copy_summary

        lines.append(copy_summary(report["copies"]))
    seams = report.get("seams")
    if seams is not None and seams.get("available") is not False and seams.get("seam_score") is not None:
        worst = seams["worst"][0] if seams["worst"] else None
        lines.append(
            f"seams ({seams['checked']}): envelope change {number(seams['mean_change_db'], 2)} dB, inside real "
            f"music {number(seams['reference_mean_change_db'], 2)} dB, score {number(seams['seam_score'], 2)}"
            + (f"   worst: {worst['clip']} at {worst['seconds']} s ({worst['change_db']:.1f} dB)" if worst else "")
        )
    for name, entry in report["frechet_distance"].items():
        if entry.get("available") is False:
            lines.append(f"Frechet distance [{name}]: unavailable ({entry['reason']})")
        else:
            lines.append(
                f"Frechet distance [{name}]: {number(entry['value'])}   reference vs reference: "
                f"{number(entry['baseline'])}   ratio: {number(entry['ratio_to_baseline'], 2)}"
            )
    for name, entry in report.get("precision_recall", {}).items():
        real = entry.get("real") or {}
        lines.append(
            f"precision / recall [{name}]: "
            + "   ".join(
                f"{key} {number(entry[key], 2)}" + (f" (real {number(real.get(key), 2)})" if real else "")
                for key in ("precision", "recall", "density", "coverage")
            )
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
    """Write `folder/report.json` (through a temporary name renamed into place: a full disk never leaves half a
    report); returns the file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_NAME
    text = json.dumps(report, indent=2) + "\n"
    with atomic_file(path) as temporary:
        temporary.write_text(text)
    return path


@dataclasses.dataclass
class EvaluationRun:
    """What `run_evaluation` made: the report and the files it wrote."""

    report: dict[str, Any]
    report_path: Path
    figure_path: Path


# At most this many training clips are searched by the copy check (a memory and time bound; spread at random).
MAX_TRAINING_CLIPS = 4000
COPIES_FIGURE_NAME = "copies.png"


def _copy_check(generated, reference_clips, training, reference, mel_config, seed, device, out_dir) -> dict:
    """The copy check section (`evaluation.copies`) of generated clips against the `training` clips, with the
    held-out reference as the yardstick unless the reference is the training data itself; draws `copies.png`."""
    from audiodiff.evaluation.copies import copy_check
    from audiodiff.figures import render_copy_pairs

    source = open_source(training, mel_config, fallback=reference_clips.mel_config)
    refs = select_refs(source.refs, MAX_TRAINING_CLIPS, None, torch.Generator().manual_seed(seed))
    training_clips = source.load(refs, device)
    try:
        training_clips.mel_config.check_compatible(
            generated.mel_config, "training clips have", "generated clips have", "give the model's training data"
        )
    except ConfigError as error:
        raise EvaluationError(str(error)) from None
    width = reference_clips.mel_config.x_res
    windows, training_windows = as_windows(generated, width), as_windows(training_clips, width)
    same = Path(training).resolve() == Path(reference).resolve()
    yardstick = None if same else as_windows(reference_clips, width)
    top_db = float(reference_clips.mel_config.top_db)
    section, pairs = copy_check(windows, training_windows, top_db, yardstick)
    if section.get("available") is not False:
        render_copy_pairs(windows, training_windows, pairs, section, Path(out_dir) / COPIES_FIGURE_NAME)
    return section


def run_evaluation(
    generated: str | Path,
    reference: str | Path,
    out_dir: str | Path,
    *,
    training: str | Path | None = None,
    genre: str | None = None,
    count: int = 32,
    classifier: str | Path | None = None,
    backends: Sequence[tuple[str, str | None]] = (),
    mel_config: MelConfig | None = None,
    vocoder: str = "griffinlim",
    n_iter: int | None = None,
    phase_init: str | None = None,
    reconstruction_clips: int = 8,
    num_inference_steps: int | None = None,
    scheduler: str | None = AUTO_SCHEDULER,
    seconds: float | None = None,
    batch_size: int = 8,
    seed: int = 0,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] | None = None,
) -> EvaluationRun:
    """Evaluate `generated` against `reference` and write `out_dir/report.json` and `out_dir/report.png`.

    generated: a folder of WAV/PNG files, a prepared dataset, or a pipeline folder (then `count` clips are generated
    with `num_inference_steps` steps of `scheduler`, "saved" for the folder's own, `seconds` long (default one
    slice), `batch_size` at a time, and kept in `out_dir/generated/`). reference: a prepared dataset (or hub id)
    or a folder of WAV/PNG files, optionally one sub-folder per genre; up to `2 * count` of its clips of `genre`
    are drawn, half compared and half for the baseline. `mel_config` overrides the settings of folders; a folder
    without its own borrows the other side's.
    training: the model's training data (a dataset or folder): adds the copy check (`evaluation.copies`,
    `report["copies"]` and `out_dir/copies.png`: each clip's distance to its nearest training slice against held-out
    music's). classifier: a folder of `audiodiff train-classifier` (genre share and its Frechet distance). backends:
    pretrained embeddings as `(name, checkpoint)`, reported unavailable when they cannot run here. vocoder,
    n_iter and phase_init: the decoder whose reconstruction quality is measured (a trained vocoder's folder also
    decodes the clips a pipeline generates). seed: the reference clips drawn, the
    generated clips and Griffin-Lim's phases each come from a generator seeded with it. log: told of skipped files,
    unavailable backends and generation (one line each).

    Raises `EvaluationError` or `ConfigError` (one line) for inputs that cannot be evaluated.
    """
    from audiodiff.classifier import REPORT_NAME as CLASSIFIER_REPORT
    from audiodiff.classifier import GenreClassifier
    from audiodiff.vocoders import make_vocoder

    log = log or (lambda line: None)
    generated, reference, out_dir = Path(generated), Path(reference), Path(out_dir)
    # A folder without its own mel settings borrows the other side's (a pipeline's, a dataset's, a PNG folder's).
    generated_mel = MelConfig.find(generated) if generated.is_dir() else None
    reference_source = open_source(reference, mel_config, fallback=generated_mel)
    reference_mel = reference_source.mel_config
    generation = dict(
        count=count,
        genre=genre,
        num_inference_steps=num_inference_steps,
        scheduler=scheduler,
        seconds=seconds,
        batch_size=batch_size,
        seed=seed,
        log=log,
    )
    if generated.is_dir() and Path(vocoder).is_dir():
        generation["vocoder"] = vocoder  # a trained vocoder decodes the generated clips too
    for reason in reference_source.skipped:
        log(f"skipped {reason}")
    reference_refs = select_refs(reference_source.refs, 2 * count, genre, torch.Generator().manual_seed(seed))
    reference_clips = reference_source.load(reference_refs, device, audio_clips=reconstruction_clips)
    target_genre = genre
    if target_genre is None:
        labels = set(reference_clips.genres)
        target_genre = labels.pop() if len(labels) == 1 and None not in labels else None

    generated_source = open_source(generated, mel_config, fallback=reference_mel, generation=generation)
    for reason in generated_source.skipped:
        log(f"skipped {reason}")
    generated_clips = generated_source.load(select_refs(generated_source.refs, count, None, None), device)
    if generated_clips.kind == "pipeline":
        # Clips generated for this evaluation exist nowhere else: keep them beside the report.
        save_clips(generated_clips, out_dir / "generated")

    classifier_model = classifier_report = None
    embedders: list[Embedder] = [LogMelEmbedder(float(reference_mel.top_db)), FineEmbedder(float(reference_mel.top_db))]
    if classifier is not None:
        classifier_model = GenreClassifier.from_pretrained(classifier, device)
        report_file = Path(classifier) / CLASSIFIER_REPORT
        classifier_report = json.loads(report_file.read_text()) if report_file.is_file() else None
        embedders.append(ClassifierEmbedder(classifier_model))
    unavailable = {}
    for name, checkpoint in backends:
        try:
            embedders.append(load_pretrained_embedder(name, checkpoint, device))
        except EmbeddingUnavailable as error:
            unavailable[name] = str(error).split(": ", 1)[-1]
            log(f"embedding backend unavailable: {error}")

    report = evaluate(
        generated_clips,
        reference_clips,
        target_genre=target_genre,
        embedders=embedders,
        unavailable=unavailable,
        classifier=classifier_model,
        classifier_report=classifier_report,
        vocoder=make_vocoder(vocoder, reference_mel, n_iter, phase_init),
        reconstruction_clips=reconstruction_clips,
        generator=torch.Generator(device).manual_seed(seed),
        device=device,
    )
    report["seed"] = seed
    if training is not None:
        report["copies"] = _copy_check(generated_clips, reference_clips, training, reference, mel_config, seed, device,
                                       out_dir)  # fmt: skip
    report_path = write_report(report, out_dir)

    figure_path = out_dir / FIGURE_NAME
    with atomic_file(figure_path) as temporary:  # drawn under a temporary name: never half a figure
        render_figure(generated_clips, reference_clips, report, temporary)
    return EvaluationRun(report, report_path, figure_path)
