"""Deprecated: the evaluation moved to the package `audiodiff.evaluation` (`metrics`, `clips`, `report`).

This module re-exports the names it used to define so that existing imports keep working. `FolderSource` is now
`FolderClips` and `DatasetSource` is `DatasetClips` (`audiodiff.data` has an unrelated class of that name);
`folder_mel_config` is `MelConfig.find`; the figure is drawn by `audiodiff.figures`.
"""

import warnings

from audiodiff.config import MelConfig
from audiodiff.evaluation import *  # noqa: F403 - every name this module used to define lives on there
from audiodiff.evaluation.clips import DatasetClips as DatasetSource  # noqa: F401
from audiodiff.evaluation.clips import FolderClips as FolderSource  # noqa: F401
from audiodiff.figures import colourise, render_figure  # noqa: F401

folder_mel_config = MelConfig.find

warnings.warn(
    "audiodiff.evaluate is deprecated: import from audiodiff.evaluation instead", DeprecationWarning, stacklevel=2
)
