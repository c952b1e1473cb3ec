"""Deprecated: the diffusion transformer moved to `audiodiff.dit` (`SpectrogramDiT`); this module goes in the next
release.

It stays for one release because DiT pipeline folders saved before the move name `audiodiff.transformer` in their
`model_index.json`, and diffusers' `DiffusionPipeline.from_pretrained` builds their denoiser from that module once
it is imported (`AudioDiffusionPipeline.from_pretrained` goes by the class name alone and loads them either way).
Saving such a pipeline again writes `audiodiff.dit`.
"""

import warnings

# diffusers takes a component's loading method from the base classes its module holds (`module.ModelMixin`), so the
# old name must hold ModelMixin too.
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401

from audiodiff.dit import (  # noqa: F401 - the names this module used to define
    LIMITS,
    TIMESTEP_FEATURES,
    DiTBlock,
    SpectrogramDiT,
    modulate,
    patch_positions,
    sine_features,
)

warnings.warn(
    "audiodiff.transformer is deprecated: import SpectrogramDiT from audiodiff.dit instead (re-save a pipeline folder "
    "whose model_index.json names audiodiff.transformer)",
    DeprecationWarning,
    stacklevel=2,
)
