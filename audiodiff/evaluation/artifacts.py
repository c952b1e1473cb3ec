"""The per-clip artefact and seam checks, as evaluation reports them; defined in `audiodiff/artifacts.py`.

They live below the pipeline (which checks its clips against the training data's fences) and the trainer (which
fits those fences), so neither reaches up into `evaluation`. Every name keeps this import path.
"""

from audiodiff.artifacts import (  # noqa: F401 - evaluation's names for them
    FENCE_QUANTILE,
    FENCE_SAMPLE,
    FENCE_SPREADS,
    LOG_SCALE,
    PULSE_BPM,
    PULSE_RUNS,
    SEAM_BANDS,
    STATISTICS,
    STRUCTURE,
    WASH_LEVELS,
    Fences,
    band_levels,
    check_artifacts,
    check_seams,
    clip_reasons,
    comparable_windows,
    envelope_change,
    image_statistics,
    pulse_clarity,
    reference_changes,
    rereferenced,
    scan_positions,
    structure_statistics,
    windows,
)
