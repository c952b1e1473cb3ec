"""Deprecated: moved to `audiodiff.vocoder_training.data`; this module goes in the next release.

Training sits above the codec and the data layer, the decoders in `vocoders/` below them (ARCHITECTURE.md, layers).
"""

import warnings

from audiodiff.vocoder_training.data import (  # noqa: F401 - the names this module used to define
    SILENCE_DBFS,
    VocoderData,
    build_data,
    source_files,
)

warnings.warn(
    "audiodiff.vocoders.data is deprecated: import from audiodiff.vocoder_training.data instead",
    DeprecationWarning,
    stacklevel=2,
)
