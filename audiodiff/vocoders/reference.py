"""The reference decoder: `librosa.feature.inverse.mel_to_audio` as audio-diffusion's `Mel` uses it.

numpy, one item at a time; kept as the quality and speed baseline of the torch decoders.
"""

from __future__ import annotations

import numpy as np
import torch

from audiodiff.config import MelConfig


class LibrosaVocoder:
    """The reference decoder: `librosa.feature.inverse.mel_to_audio` per item (NNLS + Griffin-Lim on numpy)."""

    def __init__(self, config: MelConfig, n_iter: int | None = None):
        self.config = config
        self.n_iter = config.n_iter if n_iter is None else int(n_iter)

    def __call__(self, mel_power: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        import librosa

        seed = None if generator is None else int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        clips = []
        # mel_to_audio split in its two steps so that Griffin-Lim's random initial phase can be seeded.
        for index, item in enumerate(mel_power.detach().cpu().double().numpy()):
            linear = librosa.feature.inverse.mel_to_stft(
                item, sr=self.config.sample_rate, n_fft=self.config.n_fft, power=2.0
            )
            clips.append(
                librosa.griffinlim(
                    linear,
                    n_iter=self.n_iter,
                    hop_length=self.config.hop_length,
                    random_state=None if seed is None else seed + index,
                )
            )
        return torch.from_numpy(np.stack(clips).astype(np.float32)).to(mel_power.device)
