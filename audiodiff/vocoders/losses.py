"""Deprecated: moved to `audiodiff.vocoder_training.losses`; this module goes in the next release.

Training sits above the codec and the data layer, the decoders in `vocoders/` below them (ARCHITECTURE.md, layers).
"""

import warnings

from audiodiff.vocoder_training.losses import (  # noqa: F401 - the names this module used to define
    STFT_RESOLUTIONS,
    MelSpectrogram,
    log_mel_db,
    log_mel_distance_db,
    match_gain,
    mel_loss,
    multi_resolution_stft_distance,
    multi_resolution_stft_loss,
    spectrum_losses,
    stft_magnitude,
)

warnings.warn(
    "audiodiff.vocoders.losses is deprecated: import from audiodiff.vocoder_training.losses instead",
    DeprecationWarning,
    stacklevel=2,
)
