"""Deprecated: moved to `audiodiff.vocoder_training.discriminators`; this module goes in the next release.

Training sits above the codec and the data layer, the decoders in `vocoders/` below them (ARCHITECTURE.md, layers).
"""

import warnings

from audiodiff.vocoder_training.discriminators import (  # noqa: F401 - the names this module used to define
    Discriminators,
    Outputs,
    PeriodDiscriminator,
    ResolutionDiscriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)

warnings.warn(
    "audiodiff.vocoders.discriminators is deprecated: import from audiodiff.vocoder_training.discriminators instead",
    DeprecationWarning,
    stacklevel=2,
)
