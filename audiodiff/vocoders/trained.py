"""The vocoder a user trains (`audiodiff train-vocoder`): a Vocos network behind the decoder protocol, and its folder.

A vocoder folder holds

    config.json          {"_class_name": "VocosVocoder", "model": {...}, "mel_config": {...}, "bits": 8,
                          "training": {...}}
    model.safetensors    the network's weights (the EMA weights when training kept an EMA)

It decodes what the diffusion model emits: mel power with its peak at 1 per slice (`SpectrogramCodec`) becomes the
model-space image values again (`pixel / levels * 2 - 1`, exactly, since the codec maps them to power and back
without loss), the input it was trained on. It serves only the mel settings it was trained for: `check_mel` refuses
others with a one-line error.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiodiff.config import COMPATIBLE_KEYS, ConfigError, MelConfig, load_dataclass
from audiodiff.utils import atomic_file, first_line
from audiodiff.vocoders.vocos import VocosConfig, VocosModel

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CLASS_NAME = "VocosVocoder"
# The VocosConfig keys that size the network, named when config.json and the weights disagree.
ARCHITECTURE_KEYS = ("n_mels", "n_fft", "dim", "intermediate_dim", "layers", "kernel_size")
# At most this many Griffin-Lim iterations in a saved vocoder's mel settings (presets use 32; more never helped).
GRIFFIN_LIM_ITERATIONS_LIMIT = 1000


class VocoderError(ConfigError):
    """A vocoder folder cannot be read or does not fit the mel settings; one line naming the folder."""


def mel_power_to_features(mel_power: torch.Tensor, top_db: float) -> torch.Tensor:
    """Mel power `(batch, n_mels, frames)` (peak 1 per slice) -> the image's model-space values in [-1, 1], the
    vocoder's input: `(dB + top_db) / top_db * 2 - 1` with dB floored at `-top_db`, as the codec encodes."""
    decibels = 10.0 * torch.log10(mel_power.float().clamp(min=1e-30))
    return ((decibels + top_db) / top_db).clamp(0, 1) * 2 - 1


class TrainedVocoder(nn.Module):
    """A trained Vocos vocoder as a decoder: `(batch, n_mels, frames)` mel power -> `(batch, (frames - 1) *
    hop_length)` audio, the length Griffin-Lim gives. Deterministic (`generator` is accepted and unused); any
    device (`.to(device)`); a clip of any length is one pass. `refine_iterations` (settable; `--n-iter` with a
    vocoder) runs that many Griffin-Lim iterations from the network's own magnitude and phase (0: none).

    Example:
        >>> vocoder = TrainedVocoder.from_pretrained("runs/vocoder")       # doctest: +SKIP
        >>> codec = SpectrogramCodec(vocoder.mel_config, vocoder=vocoder)  # doctest: +SKIP
        >>> audio = codec.decode(images)                                   # doctest: +SKIP
    """

    def __init__(
        self,
        model: VocosModel,
        mel_config: MelConfig,
        bits: int = 8,
        training: dict | None = None,
        refine_iterations: int = 0,
    ):
        super().__init__()
        if (model.config.n_mels, model.config.n_fft, model.config.hop_length) != (
            mel_config.n_mels,
            mel_config.n_fft,
            mel_config.hop_length,
        ):
            raise VocoderError("the network's n_mels, n_fft and hop_length differ from its mel settings")
        if model.config.magnitude_prior and (model.config.sample_rate, model.config.top_db) != (
            mel_config.sample_rate,
            float(mel_config.top_db),
        ):
            raise VocoderError("the network's sample_rate and top_db differ from its mel settings")
        self.model = model
        self.mel_config = mel_config
        self.bits = int(bits)
        self.training_record = dict(training or {})
        self.source: str | None = None
        self.refine_iterations = int(refine_iterations)

    @torch.no_grad()
    def forward(self, mel_power: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.model.parameters()).device
        features = mel_power_to_features(mel_power.to(device), float(self.mel_config.top_db))
        if self.refine_iterations < 1:
            return self.model(features)
        # Griffin-Lim from the network's own magnitude and phase: a few iterations make its frames agree (measured:
        # lower MR-STFT distance and less frame-rate buzz than either alone; BENCHMARKS.md, "Decoders").
        from audiodiff.vocoders.griffin_lim import griffin_lim

        magnitude, phase = self.model.magnitude_and_phase(features)
        config = self.mel_config
        return griffin_lim(magnitude, config.n_fft, config.hop_length, self.model.window.float(),
                           n_iter=self.refine_iterations, initial_phase=phase)  # fmt: skip

    def set_griffin_lim(self, n_iter: int | None, phase_init: str | None = None) -> None:
        """`--n-iter` and `--phase-init` on this vocoder: `n_iter` Griffin-Lim iterations refine its output (None:
        leave as is); a starting phase is refused (`ValueError`, one line): the network predicts its own."""
        if phase_init is not None:
            raise ValueError("--phase-init sets Griffin-Lim's starting phase; a trained vocoder predicts its own")
        if n_iter is not None:
            self.refine_iterations = int(n_iter)

    # --- compatibility ------------------------------------------------------------------------------------------
    def check_mel(self, mel_config: MelConfig, user: str = "the pipeline has") -> None:
        """Raise `VocoderError` unless this vocoder was trained for images with `mel_config`'s meaning (the width and
        the Griffin-Lim iterations may differ)."""
        different = self.mel_config.mismatches(mel_config, COMPATIBLE_KEYS)
        if different:
            key = different[0]
            name = self.source or "the vocoder"
            raise VocoderError(
                f"{name} was trained for {key}={getattr(self.mel_config, key)} but {user} "
                f"{key}={getattr(mel_config, key)}; train a vocoder with its mel settings (audiodiff train-vocoder "
                "PIPELINE)"
            )

    # --- save and load ------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "_class_name": CLASS_NAME,
            "model": dataclasses.asdict(self.model.config),
            "mel_config": self.mel_config.to_dict(),
            "bits": self.bits,
            "training": self.training_record,
        }

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write `config.json` and `model.safetensors` into `folder`; each file appears whole or not at all."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in self.model.state_dict().items()}
        with atomic_file(folder / WEIGHTS_NAME) as temporary:
            save_file(state, str(temporary))
        with atomic_file(folder / CONFIG_NAME) as temporary:
            temporary.write_text(json.dumps(self.describe(), indent=2, default=str) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, device: torch.device | str | None = None) -> TrainedVocoder:
        """Load a vocoder folder; `VocoderError` (one line, naming it) when it is not one or is damaged.

        config.json is checked before anything is built (`audiodiff.weights`): its sizes and iteration counts must
        be within `vocos.LIMITS` and the network it describes must be exactly the one in model.safetensors (read
        from the file's header), so a hostile config.json cannot allocate, hang or crash the loader.
        """
        from safetensors.torch import load_file

        from audiodiff.weights import check_range, check_weights_fit, meta_shapes, read_config, weight_shapes

        folder = Path(folder)
        config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        not_one = VocoderError(f"{folder}: not a vocoder folder (no {CONFIG_NAME} naming {CLASS_NAME})")
        if not config_path.is_file():
            raise not_one
        try:
            described = read_config(config_path)
            if not isinstance(described, dict) or described.get("_class_name") != CLASS_NAME:
                raise not_one
            missing = [key for key in ("model", "mel_config") if key not in described]
            if missing:
                raise ConfigError(f"{config_path}: missing required key {missing[0]!r}")
            model_config = load_dataclass(VocosConfig, described["model"], f"{config_path} model")
            mel_config = MelConfig.from_dict(described["mel_config"], f"{config_path} mel_config")
            model_config.check_limits(str(config_path), "model.")
            # Griffin-Lim's iterations of these mel settings are in no weight either.
            check_range(mel_config.n_iter, "mel_config.n_iter", 1, GRIFFIN_LIM_ITERATIONS_LIMIT, config_path)
            bits = described.get("bits", 8)
            if bits not in (8, 16) or isinstance(bits, bool):
                raise ConfigError(f"{config_path}: bits={bits!r} must be 8 or 16")
            # The magnitude prior adds only buffers that are not saved (and cannot be built on the meta device).
            shapes_only = dataclasses.replace(model_config, magnitude_prior=False)
            settings = {key: getattr(model_config, key) for key in ARCHITECTURE_KEYS}
            expected = meta_shapes(lambda: VocosModel(shapes_only))
            check_weights_fit(expected, weight_shapes(weights_path), weights_path, CONFIG_NAME, settings)
        except ConfigError as error:
            raise VocoderError(first_line(error)) from None
        try:
            model = VocosModel(model_config)
            model.load_state_dict(load_file(weights_path, device="cpu"))
            vocoder = cls(model, mel_config, bits, described.get("training"))
        except Exception as error:  # noqa: BLE001 - a damaged folder fails in many ways (I/O, values)
            raise VocoderError(f"{folder}: damaged vocoder ({type(error).__name__}: {first_line(error)})") from None
        vocoder.source = str(folder)
        vocoder.eval()
        return vocoder.to(device) if device is not None else vocoder


def is_vocoder_folder(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds a vocoder's config.json (not necessarily intact weights)."""
    from audiodiff.weights import read_config

    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        return False
    try:
        described = read_config(path)  # size-limited: a folder is judged without reading a huge file
    except ConfigError:
        return False
    return isinstance(described, dict) and described.get("_class_name") == CLASS_NAME


def load_vocoder(folder: str | os.PathLike, mel_config: MelConfig | None = None, user: str = "the pipeline has"):
    """A vocoder folder, checked against `mel_config` (the settings of the images it will decode)."""
    vocoder = TrainedVocoder.from_pretrained(folder)
    if mel_config is not None:
        vocoder.check_mel(mel_config, user)
    return vocoder
