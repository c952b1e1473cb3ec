"""A set of clips scored by `audiodiff evaluate`'s instrument, and the headline numbers benchmarks take from its
report."""

from __future__ import annotations

import json
from pathlib import Path


def set_slug(name: str) -> str:
    """A set's name as a file stem: spaces to `_`, `/` to `-`, no commas."""
    return name.replace(" ", "_").replace("/", "-").replace(",", "")


def clip_set(images, mel, source: str, genres, names: list[str] | None = None, joins=None):
    """Generated clips `(N, 1, n_mels, frames)` in [-1, 1] as a `ClipSet` named `source`: `genres` one genre for
    every clip or a list of one per clip; `names` (also each clip's group) default to `<source>_000`, ...;
    `joins`: per clip, the columns where separately generated pieces meet."""
    from audiodiff.evaluation.clips import ClipSet

    genres = [genres] * len(images) if genres is None or isinstance(genres, str) else list(genres)
    names = names if names is not None else [f"{source}_{index:03d}" for index in range(len(images))]
    return ClipSet(images, mel, genres, names, names, source, "generated", joins=joins)


def score(generated, reference, genre: str | None, classifier) -> dict:
    """The `audiodiff evaluate` report of a clip set against the held-out reference (log-mel, fine log-mel and
    classifier embeddings; one reconstruction clip), its genre share counted for `genre`."""
    from audiodiff.evaluation.embeddings import ClassifierEmbedder, FineEmbedder, LogMelEmbedder
    from audiodiff.evaluation.report import evaluate

    top_db = float(reference.mel_config.top_db)
    return evaluate(
        generated,
        reference,
        target_genre=genre,
        embedders=[LogMelEmbedder(top_db), FineEmbedder(top_db), ClassifierEmbedder(classifier)],
        classifier=classifier,
        reconstruction_clips=1,
    )


def score_and_save(images, mel, source: str, genre: str, reference, classifier, folder: Path, figure=True, joins=None):
    """`clip_set` of `images` scored (`score`) and written to `folder`: `<source>.json` (the report) and, with
    `figure`, `<source>.png` (`audiodiff.figures.render_figure`). Returns the clip set and the report."""
    from audiodiff.evaluation.report import summary_lines
    from audiodiff.figures import render_figure

    clips = clip_set(images, mel, source, genre, joins=joins)
    report = score(clips, reference, genre, classifier)
    if figure:
        render_figure(clips, reference, report, folder / f"{clips.source}.png", lines=summary_lines(report))
    (folder / f"{clips.source}.json").write_text(json.dumps(report, indent=1) + "\n")
    return clips, report


def summary(report: dict) -> dict:
    """Flagged shares, seam score, Frechet distance ratios (fine log-mel, log-mel, classifier) and genre shares."""
    seams = report.get("seams", {})
    distances = report["frechet_distance"]
    return {
        "flagged": report["artifacts"]["flagged_share"],
        "flagged_windows": report["artifacts"]["flagged_window_share"],
        "real_flagged": report["artifacts"].get("real_flagged_share"),
        "seam": seams.get("seam_score"),
        "seam_real_p90_db": seams.get("reference_p90_change_db"),
        "fd_fine": distances["log-mel-fine"]["ratio_to_baseline"],
        "fd_log_mel": distances["log-mel"]["ratio_to_baseline"],
        "fd_classifier": distances["classifier"]["ratio_to_baseline"],
        "genre_share": report["genre"].get("target_share"),
        "genre_share_real": report["genre"].get("reference_target_share"),
    }


def headline(report: dict) -> dict:
    """Flagged share (with the reasons that flagged any clip), the median window's spectral detail and onset
    strength over the reference's (`detail_ratio`, `onset_ratio`), the median clip's pulse clarity over real music's of
    its length (`pulse_ratio`, real held-out tracks' own: `pulse_real_ratio`; None when the evaluation had no pulse
    sample), precision / recall / density / coverage of the fine log-mel embedding (and real music's own precision
    and recall) and the fine and log-mel Frechet distance ratios;
    then the same in the COLA embedding (`*_cola`, None when it did not run) and the genre share when a classifier
    gave one."""
    fidelity = report["precision_recall"]["log-mel-fine"]
    cola = report["precision_recall"].get("cola") or {}
    cola_real = cola.get("real") or {}
    structure = report["artifacts"].get("structure") or {}
    return {
        "flagged": report["artifacts"]["flagged_share"],
        "reasons": {name: count for name, count in report["artifacts"]["by_reason"].items() if count},
        "detail_ratio": (structure.get("spectral_detail") or {}).get("ratio"),
        "onset_ratio": (structure.get("onset_strength") or {}).get("ratio"),
        "pulse_ratio": (structure.get("pulse_clarity") or {}).get("ratio"),
        "pulse_real_ratio": (structure.get("pulse_clarity") or {}).get("real_ratio"),
        "precision": fidelity["precision"],
        "recall": fidelity["recall"],
        "density": fidelity["density"],
        "coverage": fidelity["coverage"],
        "real_precision": fidelity["real"]["precision"],
        "real_recall": fidelity["real"]["recall"],
        "fd_fine": report["frechet_distance"]["log-mel-fine"]["ratio_to_baseline"],
        "fd_log_mel": report["frechet_distance"]["log-mel"]["ratio_to_baseline"],
        "precision_cola": cola.get("precision"),
        "recall_cola": cola.get("recall"),
        "coverage_cola": cola.get("coverage"),
        "real_precision_cola": cola_real.get("precision"),
        "real_recall_cola": cola_real.get("recall"),
        "fd_cola": (report["frechet_distance"].get("cola") or {}).get("ratio_to_baseline"),
        "genre_share": report.get("genre", {}).get("target_share"),
        "genre_share_real": report.get("genre", {}).get("reference_target_share"),
    }
