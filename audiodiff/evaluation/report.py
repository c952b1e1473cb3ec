"""The evaluation of generated clips against reference clips: did the fine-tune learn the genre, and does it sound
right?

`evaluate` assembles the metrics (`audiodiff.evaluation.metrics`, `audiodiff.evaluation.artifacts`) into a
JSON-ready report:

- Artefacts: every generated clip checked window by window for speckle noise, noise-like flat spectra, silence,
  saturation, flat grey images and flicker (frames that jump) against the reference's own range; the share of flagged
  clips, flagged clips first. The same check on held-out real clips gives its false-alarm rate.
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

`evaluate` is the sequence of these sections, one function each, on the sets made comparable once (`_Sets`,
`evaluation.sets`). `run_evaluation` (`evaluation/run.py`) is the whole job of `audiodiff evaluate`: open both
sides, generate when one is a pipeline, load the embedders, evaluate, write `report.json` and `report.png`.
"""

from __future__ import annotations

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
from audiodiff.evaluation.artifacts import check_artifacts, check_seams
from audiodiff.evaluation.clips import ClipSet
from audiodiff.evaluation.embeddings import Embedder
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
from audiodiff.evaluation.sets import (  # noqa: F401 - first defined here: the old path works
    PulseSample,
    WindowStatistics,
    as_windows,
    clip_vectors,
    split_reference,
    spread_windows,
    standardized,
)
from audiodiff.utils import atomic_file

REPORT_NAME = "report.json"
FIGURE_NAME = "report.png"
# Said in the report when every reference clip comes from one track: the baseline then shares the compared clips'
# track, and such clips are far more alike than music of the genre is, so every ratio to it reads too harsh.
ONE_TRACK_WARNING = (
    "the reference has one track: the baseline is other clips of that same track, so ratios to it are not against "
    "other music of the genre (give a reference of several tracks)"
)


# The embeddings whose precision and recall a reader sees first, best first: the learned COLA embedding when it ran,
# else the fine log-mel frames (always there).
HEADLINE_EMBEDDINGS = ("cola", "log-mel-fine")


def headline_fidelity(report: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(name, precision/recall entry) of the first of `HEADLINE_EMBEDDINGS` in the report; (None, {}) if none."""
    fidelity = report.get("precision_recall") or {}
    for name in HEADLINE_EMBEDDINGS:
        if fidelity.get(name):
            return name, fidelity[name]
    return None, {}


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


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


@dataclasses.dataclass(frozen=True)
class _Sets:
    """The sets one evaluation compares, cut into slice-wide windows re-referenced to their own peaks (`as_windows`):
    like with like, whatever the clips' length and source.

    windows: every generated window. thinned: as many of them as there are compared windows, taken evenly
    (`spread_windows`): the set statistics (Frechet distances, precision and recall), whose values depend on the
    sample size, see equal sets. compared: the reference clips compared with the generated ones. baseline: a disjoint
    set of reference clips (real against real), None when the reference has too few; split by "track" or "clip"
    (`split_reference`).
    """

    config: MelConfig
    windows: ClipSet
    thinned: ClipSet
    compared: ClipSet
    baseline: ClipSet | None
    baseline_split: str

    @property
    def top_db(self) -> float:
        return float(self.config.top_db)


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
    fence_sample: WindowStatistics | None = None,
    pulse_sample: PulseSample | None = None,
) -> dict[str, Any]:
    """All metrics of generated against reference clips, as a JSON-ready dict, one section after the other.

    `reference` is split by track (`split_reference`) into the clips compared with the generated ones and a disjoint
    baseline set (up to `len(generated)` clips each): the baseline Frechet distance is baseline vs compared.
    `embedders` are the Frechet-distance backends to run; `unavailable` maps backends that could not be loaded to
    the reason. `classifier` (a `GenreClassifier`) gives the genre share. `vocoder` (default: the codec's
    Griffin-Lim) decodes for reconstruction quality and, for backends that listen to audio, both sets' images.
    `generator` seeds Griffin-Lim's phases (the distances' decoding first, then the reconstruction's).
    `fence_sample`: the artefact statistics of a larger sample of reference windows (`window_statistics`), which
    the artefact fences are then fitted on (default: the reference clips' own windows, a noisy fit when they are
    few: `artifacts.FENCE_SAMPLE`). `pulse_sample`: the pulse clarity of real runs of the generated clips' length
    (`pulse_sample`), which the generated clips' pulse is then compared with (`artifacts.structure`).
    """
    _check_inputs(generated, reference)
    sets = _comparison_sets(generated, reference)
    codec = SpectrogramCodec(sets.config, vocoder=vocoder).to(device)
    report = _described_sets(generated, reference, sets, target_genre)
    report["artifacts"] = _artifacts_section(generated, reference, sets, fence_sample, pulse_sample)
    report["seams"] = _seams_section(generated, sets)
    listened = _decoder(codec, generator, device)
    report["frechet_distance"], report["precision_recall"] = _distance_sections(sets, embedders, unavailable, listened)
    report["genre"] = _genre_section(sets, target_genre, classifier, classifier_report)
    report["reconstruction"] = _reconstruction_section(reference, sets, codec, reconstruction_clips, generator, device)
    report["diversity"] = _diversity_section(sets)
    return report


def _check_inputs(generated: ClipSet, reference: ClipSet) -> None:
    """Both sides made with the same mel settings, at least two clips each; else an `EvaluationError` (one line)."""
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


def _comparison_sets(generated: ClipSet, reference: ClipSet) -> _Sets:
    """The reference split into compared and baseline clips (`split_reference`), every set in windows (`_Sets`)."""
    config = reference.mel_config
    compared_index, baseline_index, baseline_split = split_reference(reference.groups, len(generated))
    baseline = reference.subset(baseline_index) if len(baseline_index) >= 2 else None
    windows = as_windows(generated, config.x_res)
    compared = as_windows(reference.subset(compared_index), config.x_res)
    baseline = None if baseline is None else as_windows(baseline, config.x_res)
    thinned = windows.subset(spread_windows(windows.clip_index, len(compared)))
    return _Sets(config, windows, thinned, compared, baseline, baseline_split)


def _described_sets(generated: ClipSet, reference: ClipSet, sets: _Sets, target_genre: str | None) -> dict[str, Any]:
    """The report's first keys: where each side came from, how many clips of what length, the mel settings."""
    config = sets.config
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
            "clips": len(sets.compared),
            "baseline_clips": len(sets.baseline) if sets.baseline is not None else 0,
            "baseline_split": sets.baseline_split if sets.baseline is not None else None,
            "tracks": len(set(reference.groups)),
        },
        "mel_config": config.to_dict(),
        "target_genre": target_genre,
    }
    if sets.baseline is not None and sets.baseline_split == "clip":
        report["reference"]["warning"] = ONE_TRACK_WARNING
    return report


def _artifacts_section(
    generated: ClipSet,
    reference: ClipSet,
    sets: _Sets,
    fence_sample: WindowStatistics | None,
    pulse_sample: PulseSample | None = None,
) -> dict[str, Any]:
    """Artefacts, clip by clip (`check_artifacts`): fences from `fence_sample` when given, else from all the
    reference clips (the more windows and tracks, the truer the range of the genre). The false-alarm rate on real
    music is that of the baseline clips against fences fitted on the sample's windows of other tracks (when the
    baseline is split by track and they are at least as many as the compared windows), else on the compared clips
    alone, which errs on the strict side. The pulse of the generated clips against `pulse_sample`'s, and (split by
    track) that of the baseline tracks' runs against the other tracks' runs as real music's own ratio."""
    width, top_db = sets.config.x_res, sets.top_db
    statistics = None if fence_sample is None else fence_sample.values
    frame_rate = sets.config.sample_rate / sets.config.hop_length
    pulses = None if pulse_sample is None or not len(pulse_sample) else pulse_sample.values
    section = check_artifacts(generated.images, reference.images, width, top_db, generated.names,
                              reference_statistics=statistics, pulse_reference=pulses,
                              frame_rate=frame_rate)  # fmt: skip
    if pulse_sample is not None and "pulse_clarity" not in section["structure"]:
        section["structure"]["pulse_clarity"] = {"available": False, "reason": (
            f"no run of {-(-pulse_sample.frames // width)} consecutive slices of one track in the reference "
            "(loose images, or a dataset without slice numbers)")}  # fmt: skip
    if sets.baseline is not None:
        others = None
        if fence_sample is not None and sets.baseline_split == "track":
            others = fence_sample.without(sets.baseline.groups)
            others = others if len(others) >= len(sets.compared) else None
        real = check_artifacts(sets.baseline.images, sets.compared.images, width, top_db, sets.baseline.names,
                               reference_statistics=None if others is None else others.values)  # fmt: skip
        section["real_flagged_share"] = real["flagged_share"]
        for name, entry in section["structure"].items():  # the same ratio for real music of other tracks
            if name in real["structure"]:
                entry["real_ratio"] = real["structure"][name]["ratio"]
        pulse = section["structure"].get("pulse_clarity", {})
        if pulse.get("ratio") is not None and sets.baseline_split == "track":
            mine, others = pulse_sample.of(sets.baseline.groups), pulse_sample.of(sets.baseline.groups, inside=False)
            if len(mine) >= 4 and len(others) >= 4 and float(others.median()) > 0:
                pulse["real_ratio"] = round(float(mine.median()) / float(others.median()), 3)
    return section


def _seams_section(generated: ClipSet, sets: _Sets) -> dict[str, Any]:
    """The seams of clips longer than one slice (`check_seams`), against the same change inside real music."""
    config = sets.config
    context = max(2, config.x_res // 4)
    if generated.images.shape[-1] < config.x_res + context:
        return {"available": False, "reason": "the generated clips are not longer than one slice"}
    return check_seams(
        generated.images, generated.joins, sets.compared.images, sets.top_db, context, generated.names,
        config.sample_rate, config.hop_length,
    )  # fmt: skip


def _decoder(codec: SpectrogramCodec, generator: torch.Generator | None, device) -> Callable[[ClipSet], torch.Tensor]:
    """A set's images decoded to audio `(clips, time)` for the embedders that listen, once per set."""
    decoded: dict[int, torch.Tensor] = {}

    def listened(clips: ClipSet) -> torch.Tensor:
        if id(clips) not in decoded:
            parts = clips.images.split(8)
            decoded[id(clips)] = torch.cat([codec.decode(part.to(device), generator=generator).cpu() for part in parts])
        return decoded[id(clips)]

    return listened


def _distance_sections(
    sets: _Sets, embedders: Sequence[Embedder], unavailable: dict[str, str] | None, listened: Callable
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Frechet distances (Frechet 1957, as in FID and FAD) in each embedding, next to the baseline's (reference vs
    reference); and precision, recall, density and coverage in the same embeddings, one vector per window. Returns
    (frechet_distance, precision_recall)."""
    distances: dict[str, Any] = {}
    fidelity: dict[str, Any] = {}
    for embedder in embedders:
        clip_sets = [sets.thinned, sets.compared] + ([sets.baseline] if sets.baseline is not None else [])
        vectors = [_embed(embedder, clips, listened(clips) if embedder.needs_audio else None) for clips in clip_sets]
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
        if sets.baseline is not None:
            floor = frechet_distance_between(vectors[2], vectors[1])
            entry["baseline"] = _rounded(floor)
            entry["ratio_to_baseline"] = _rounded(value / floor, 3) if floor > 0 else None
        distances[embedder.name] = entry
    for name, reason in (unavailable or {}).items():
        distances[name] = {"available": False, "reason": reason}
    return distances, fidelity


def _genre_section(sets: _Sets, target_genre: str | None, classifier, classifier_report) -> dict[str, Any]:
    """The genres a `GenreClassifier` gives the generated windows; with a target genre, the share of generated and of
    compared reference windows it assigns to that genre."""
    if classifier is None:
        return {"available": False, "reason": "no classifier given (train one: audiodiff train-classifier)"}
    from audiodiff.classifier import check_mel_compatible

    try:
        check_mel_compatible(classifier.config.mel, sets.config)
    except ValueError as error:
        raise EvaluationError(str(error)) from None
    genres = list(classifier.genres)
    probabilities = classifier.predict_proba(sets.windows.images.to(classifier.device))
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
            raise EvaluationError(f"the classifier does not know genre {target_genre!r} (it knows {', '.join(genres)})")
        index = genres.index(target_genre)
        reference_probabilities = classifier.predict_proba(sets.compared.images.to(classifier.device))
        section["target_share"] = _rounded(genre_share(probabilities, index))
        section["reference_target_share"] = _rounded(genre_share(reference_probabilities, index))
        section["mean_target_probability"] = _rounded(float(probabilities[:, index].mean()))
    return section


def _reconstruction_section(
    reference: ClipSet, sets: _Sets, codec: SpectrogramCodec, clips: int, generator, device
) -> dict[str, Any]:
    """The codec's round trip on up to `clips` reference clips' audio: encode to the image, decode with the chosen
    vocoder, compare (`spectral_convergence`, `log_spectral_distance`)."""
    compared = sets.compared
    if compared.audio is None and reference.audio is None:
        return {
            "available": False,
            "reason": "the reference clips carry no original audio (use a folder of audio files, or a dataset whose "
            "audio_file paths exist)",
        }
    config = sets.config
    original = (reference.audio if reference.audio is not None else compared.audio)[:clips]
    rebuilt = torch.cat(
        [
            codec.decode(codec.encode(part.to(device), reference.bits), generator=generator).cpu()
            for part in original.split(8)
        ]
    )
    convergence = spectral_convergence(original, rebuilt, config.n_fft, config.hop_length)
    distance = log_spectral_distance(original, rebuilt, config.n_fft, config.hop_length, float(config.top_db))
    return {
        "clips": len(original),
        "decoder": type(codec.vocoder).__name__,
        "decoder_iterations": getattr(codec.vocoder, "n_iter", None),
        "bits": reference.bits,
        "spectral_convergence": _rounded(float(convergence.mean())),
        "spectral_convergence_std": _rounded(float(convergence.std())) if len(original) > 1 else 0.0,
        "log_spectral_distance_db": _rounded(float(distance.mean()), 3),
        "log_spectral_distance_std_db": _rounded(float(distance.std()), 3) if len(original) > 1 else 0.0,
    }


def _diversity_section(sets: _Sets) -> dict[str, Any]:
    """Mean pairwise log-mel distance between generated windows, next to the same for the compared reference; and
    the distance of each generated window to its nearest reference window (copying)."""
    windows, compared, top_db = sets.windows.images, sets.compared.images, sets.top_db
    # Windows of one clip overlap (a 6 s clip's last window starts 2 columns after the one before): only windows of
    # different clips are compared with each other.
    generated_spread = diversity(windows, top_db, sets.windows.clip_index)
    reference_spread = diversity(compared, top_db, sets.compared.clip_index)
    nearest = nearest_neighbour_distances(windows, compared, top_db)
    reference_nearest = nearest_neighbour_distances(
        compared, compared, top_db, exclude_self=True, clip_index=sets.compared.clip_index
    )
    spread = reference_spread["mean_pairwise_db"]
    ratio = generated_spread["mean_pairwise_db"] / spread if spread > 0 else None
    return {
        "generated_mean_pairwise_db": _rounded(generated_spread["mean_pairwise_db"], 3),
        "generated_closest_pair_db": _rounded(generated_spread["closest_pair_db"], 3),
        "reference_mean_pairwise_db": _rounded(reference_spread["mean_pairwise_db"], 3),
        "reference_closest_pair_db": _rounded(reference_spread["closest_pair_db"], 3),
        "ratio_to_reference": _rounded(ratio, 3),
        "nearest_reference_db": _rounded(float(nearest.mean()), 3),
        "reference_nearest_neighbour_db": _rounded(float(reference_nearest.mean()), 3),
    }


def structure_ratios(artifacts: dict[str, Any]) -> tuple[dict[str, float], dict[str, float | None]] | None:
    """(ratio, real held-out clips' ratio) of each structure statistic, spectral detail first, from a report's
    artefact section; None when it has no structure ratios (a report from before them, or a zero reference)."""
    structure = artifacts.get("structure") or {}
    names = ("spectral_detail", "onset_strength")
    ratios = {name: (structure.get(name) or {}).get("ratio") for name in names}
    if None in ratios.values():
        return None
    return ratios, {name: structure[name].get("real_ratio") for name in names}


def structure_text(artifacts: dict[str, Any], separator: str) -> str | None:
    """The structure ratios as text ("spectral detail 0.86x, onsets 0.84x"), then `separator` and the real held-out
    clips' ratios when known; None without structure ratios (`structure_ratios`)."""
    found = structure_ratios(artifacts)
    if found is None:
        return None
    ratios, real = found
    text = f"spectral detail {ratios['spectral_detail']:.2f}x, onsets {ratios['onset_strength']:.2f}x"
    if None not in real.values():
        text += f"{separator}real held-out clips: {real['spectral_detail']:.2f}x, {real['onset_strength']:.2f}x"
    return text


def pulse_ratio(artifacts: dict[str, Any]) -> tuple[float, float | None] | None:
    """(the median generated clip's pulse clarity over real music's of the same length, real held-out tracks' own
    ratio or None) from a report's artefact section; None when the report has no pulse ratio."""
    entry = (artifacts.get("structure") or {}).get("pulse_clarity") or {}
    return None if entry.get("ratio") is None else (entry["ratio"], entry.get("real_ratio"))


def pulse_text(artifacts: dict[str, Any], separator: str) -> str | None:
    """The pulse ratio as text ("0.35x"), then `separator` and real held-out tracks' ratio when known; None without
    one (`pulse_ratio`)."""
    found = pulse_ratio(artifacts)
    if found is None:
        return None
    ratio, real = found
    return f"{ratio:.2f}x" + (f"{separator}real held-out tracks: {real:.2f}x" if real is not None else "")


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
        text = structure_text(artifacts, "   ")
        if text is not None:
            lines.append(f"structure (median window against the reference's, 1 = as much as real music): {text}")
        text = pulse_text(artifacts, "   ")
        if text is not None:
            lines.append(f"pulse (how regular whole clips' onsets are, against real music of their length): {text}")
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
