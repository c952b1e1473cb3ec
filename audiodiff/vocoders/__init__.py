"""Decoders from mel power spectrograms back to waveforms (public re-exports).

A vocoder is any callable `vocoder(mel_power, generator=None) -> audio` taking `(batch, n_mels, frames)` mel power
(peak 1.0 per slice, as `SpectrogramCodec` produces it) and returning `(batch, time)` audio (`base.Vocoder`).

- `griffin_lim.py`: `GriffinLimVocoder`, torch, batched, any device: NNLS mel inversion + fast Griffin-Lim.
- `reference.py`: `LibrosaVocoder`, the reference decoder (librosa's `mel_to_audio`), the baseline.
- `pghi.py`: phase-gradient heap integration (Prusa et al. 2017), Griffin-Lim's default-capable initial phase.
- `trained.py`: `TrainedVocoder`, the vocoder a user trains (`audiodiff train-vocoder`), and its folder;
  `vocos.py` its network (trained by `audiodiff.vocoder_training`, a package above the codec).
- `registry.py`: `make_vocoder`, a decoder by name or folder.
"""

from audiodiff.vocoders.base import Vocoder, mel_filterbank
from audiodiff.vocoders.griffin_lim import GriffinLimVocoder, griffin_lim, mel_to_linear
from audiodiff.vocoders.reference import LibrosaVocoder
from audiodiff.vocoders.registry import make_vocoder
from audiodiff.vocoders.trained import TrainedVocoder, VocoderError, load_vocoder

__all__ = [
    "GriffinLimVocoder",
    "LibrosaVocoder",
    "TrainedVocoder",
    "Vocoder",
    "VocoderError",
    "griffin_lim",
    "load_vocoder",
    "make_vocoder",
    "mel_filterbank",
    "mel_to_linear",
]
