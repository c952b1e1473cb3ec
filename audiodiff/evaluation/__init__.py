"""Evaluation of generated audio: metrics, clip sources, embeddings and the report.

- `metrics`: Frechet distance, diversity, nearest neighbours, genre share, codec quality (pure tensor functions).
- `embeddings`: what the Frechet distance is measured in (log-mel statistics, a classifier, pretrained models).
- `clips`: `ClipSet` and the `ClipSource`s it is loaded from (folders, prepared datasets, pipelines).
- `sets`: the sets compared made comparable (reference split by track, slice-wide windows, standardisation).
- `report`: `evaluate` (one function per section), the JSON report and its summary.
- `run`: `run_evaluation`, the whole `audiodiff evaluate` job.
"""

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
