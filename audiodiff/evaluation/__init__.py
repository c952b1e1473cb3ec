"""Evaluation of generated audio: metrics, clip sources, embeddings and the report.

- `metrics`: Frechet distance, diversity, nearest neighbours, genre share, codec quality (pure tensor functions).
- `embeddings`: what the Frechet distance is measured in (log-mel statistics, a classifier, pretrained models).
- `clips`: `ClipSet` and the `ClipSource`s it is loaded from (folders, prepared datasets, pipelines).
- `sets`: the sets compared made comparable (reference split by track, slice-wide windows, standardisation).
- `report`: `evaluate` (one function per section), the JSON report and its summary.
- `run`: `run_evaluation`, the whole `audiodiff evaluate` job.

The names below load on first use (module `__getattr__`, PEP 562): `import audiodiff.evaluation.metrics` does not
load the clip sources, the report and the pipeline behind them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Public name -> the module that defines it.
_EXPORTS = {
    "ClipRef": "audiodiff.evaluation.clips",
    "ClipSet": "audiodiff.evaluation.clips",
    "ClipSource": "audiodiff.evaluation.clips",
    "DatasetClips": "audiodiff.evaluation.clips",
    "DatasetRef": "audiodiff.evaluation.clips",
    "FolderClips": "audiodiff.evaluation.clips",
    "GeneratedRef": "audiodiff.evaluation.clips",
    "PipelineClips": "audiodiff.evaluation.clips",
    "generate_clips": "audiodiff.evaluation.clips",
    "is_dataset_source": "audiodiff.evaluation.clips",
    "is_pipeline_folder": "audiodiff.evaluation.clips",
    "open_source": "audiodiff.evaluation.clips",
    "save_clips": "audiodiff.evaluation.clips",
    "select_refs": "audiodiff.evaluation.clips",
    "EvaluationError": "audiodiff.evaluation.metrics",
    "diversity": "audiodiff.evaluation.metrics",
    "frechet_distance": "audiodiff.evaluation.metrics",
    "frechet_distance_between": "audiodiff.evaluation.metrics",
    "gaussian_statistics": "audiodiff.evaluation.metrics",
    "genre_share": "audiodiff.evaluation.metrics",
    "log_spectral_distance": "audiodiff.evaluation.metrics",
    "magnitude_stft": "audiodiff.evaluation.metrics",
    "nearest_neighbour_distances": "audiodiff.evaluation.metrics",
    "pairwise_log_mel_distances": "audiodiff.evaluation.metrics",
    "spectral_convergence": "audiodiff.evaluation.metrics",
    "FIGURE_NAME": "audiodiff.evaluation.report",
    "REPORT_NAME": "audiodiff.evaluation.report",
    "evaluate": "audiodiff.evaluation.report",
    "split_reference": "audiodiff.evaluation.report",
    "summary_lines": "audiodiff.evaluation.report",
    "write_report": "audiodiff.evaluation.report",
    "EvaluationRun": "audiodiff.evaluation.run",
    "run_evaluation": "audiodiff.evaluation.run",
}

__all__ = [
    "FIGURE_NAME",
    "REPORT_NAME",
    "ClipRef",
    "ClipSet",
    "ClipSource",
    "DatasetClips",
    "DatasetRef",
    "EvaluationError",
    "EvaluationRun",
    "FolderClips",
    "GeneratedRef",
    "PipelineClips",
    "diversity",
    "evaluate",
    "frechet_distance",
    "frechet_distance_between",
    "gaussian_statistics",
    "generate_clips",
    "genre_share",
    "is_dataset_source",
    "is_pipeline_folder",
    "log_spectral_distance",
    "magnitude_stft",
    "nearest_neighbour_distances",
    "open_source",
    "pairwise_log_mel_distances",
    "run_evaluation",
    "save_clips",
    "select_refs",
    "spectral_convergence",
    "split_reference",
    "summary_lines",
    "write_report",
]

if TYPE_CHECKING:
    from audiodiff.evaluation.clips import (
        ClipRef,
        ClipSet,
        ClipSource,
        DatasetClips,
        DatasetRef,
        FolderClips,
        GeneratedRef,
        PipelineClips,
        generate_clips,
        is_dataset_source,
        is_pipeline_folder,
        open_source,
        save_clips,
        select_refs,
    )
    from audiodiff.evaluation.metrics import (
        EvaluationError,
        diversity,
        frechet_distance,
        frechet_distance_between,
        gaussian_statistics,
        genre_share,
        log_spectral_distance,
        magnitude_stft,
        nearest_neighbour_distances,
        pairwise_log_mel_distances,
        spectral_convergence,
    )
    from audiodiff.evaluation.report import (
        FIGURE_NAME,
        REPORT_NAME,
        evaluate,
        split_reference,
        summary_lines,
        write_report,
    )
    from audiodiff.evaluation.run import EvaluationRun, run_evaluation


def __getattr__(name: str):
    """A public name, imported from its module on first use and kept in this package's namespace."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
