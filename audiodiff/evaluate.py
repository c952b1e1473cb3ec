"""Deprecated: the evaluation moved to the package `audiodiff.evaluation` (`metrics`, `clips`, `report`).

This module re-exports the names it used to define so that existing imports keep working. `FolderSource` is now
`FolderClips` and `DatasetSource` is `DatasetClips` (`audiodiff.data` has an unrelated class of that name).
"""

import warnings

from audiodiff.config import MelConfig
from audiodiff.evaluation.clips import (
    ClipRef,
    ClipSet,
    DatasetRef,
    generate_clips,
    is_dataset_source,
    is_pipeline_folder,
    open_source,
    select_refs,
)
from audiodiff.evaluation.clips import DatasetClips as DatasetSource
from audiodiff.evaluation.clips import FolderClips as FolderSource
from audiodiff.evaluation.metrics import (
    EvaluationError,
    diversity,
    frechet_distance,
    frechet_distance_between,
    gaussian_statistics,
    genre_share,
    nearest_neighbour_distances,
    pairwise_log_mel_distances,
)
from audiodiff.evaluation.report import FIGURE_NAME, REPORT_NAME, evaluate, split_reference, summary_lines, write_report
from audiodiff.figures import colourise, render_figure

folder_mel_config = MelConfig.find

warnings.warn(
    "audiodiff.evaluate is deprecated: import from audiodiff.evaluation instead", DeprecationWarning, stacklevel=2
)

__all__ = [
    "FIGURE_NAME",
    "REPORT_NAME",
    "ClipRef",
    "ClipSet",
    "DatasetRef",
    "DatasetSource",
    "EvaluationError",
    "FolderSource",
    "colourise",
    "diversity",
    "evaluate",
    "folder_mel_config",
    "frechet_distance",
    "frechet_distance_between",
    "gaussian_statistics",
    "generate_clips",
    "genre_share",
    "is_dataset_source",
    "is_pipeline_folder",
    "nearest_neighbour_distances",
    "open_source",
    "pairwise_log_mel_distances",
    "render_figure",
    "select_refs",
    "split_reference",
    "summary_lines",
    "write_report",
]
