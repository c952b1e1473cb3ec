"""Training the neural vocoder (`audiodiff train-vocoder`): a package above the codec and the data layer, apart from
the decoders in `vocoders/` (which sit below the codec and know nothing of training).

- `trainer.py`: `VocoderTrainConfig`, `VocoderTrainer`, `train_vocoder`; the run folder is the vocoder folder that
  `vocoders.trained.load_vocoder` reads.
- `data.py`: slices of the user's music encoded as the diffusion model's images, with their audio.
- `losses.py`: the multi-resolution STFT and log-mel losses, and the per-clip distances the benchmarks report.
- `discriminators.py`: the multi-period and multi-resolution discriminators (training only, never saved).
"""

from audiodiff.vocoder_training.trainer import (
    RESUMABLE,
    RUN_FILE,
    VocoderTrainConfig,
    VocoderTrainer,
    VocoderTrainingError,
    VocoderTrainResult,
    train_vocoder,
)

__all__ = [
    "RESUMABLE",
    "RUN_FILE",
    "VocoderTrainConfig",
    "VocoderTrainResult",
    "VocoderTrainer",
    "VocoderTrainingError",
    "train_vocoder",
]
