"""Deprecated: moved to `audiodiff.vocoder_training.trainer`; this module goes in the next release.

Training sits above the codec and the data layer, the decoders in `vocoders/` below them (ARCHITECTURE.md, layers).
"""

import warnings

from audiodiff.vocoder_training.trainer import (  # noqa: F401 - the names this module used to define
    RESUMABLE,
    RUN_FILE,
    VocoderCheckpoint,
    VocoderTrainConfig,
    VocoderTrainer,
    VocoderTrainingError,
    VocoderTrainResult,
    read_vocoder_checkpoint,
    train_vocoder,
    write_vocoder_checkpoint,
)

warnings.warn(
    "audiodiff.vocoders.training is deprecated: import from audiodiff.vocoder_training.trainer instead",
    DeprecationWarning,
    stacklevel=2,
)
