"""Configuration dataclasses and their file formats.

`MelConfig` holds the seven settings of the reference `Mel` converter (audio-diffusion / diffusers) and reads and
writes its `mel_config.json`. `load_dataclass` turns a mapping (from YAML or JSON) into any dataclass, refusing
unknown keys by name so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml

MEL_CONFIG_NAME = "mel_config.json"

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the source and the key."""


def load_dataclass(cls: type[T], mapping: dict[str, Any], source: str = "config") -> T:
    """Build dataclass `cls` from `mapping`, refusing unknown keys and reporting missing required ones.

    Keys starting with an underscore (diffusers' `_class_name`, `_diffusers_version`) are metadata and ignored.
    """
    if not isinstance(mapping, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(mapping).__name__}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    values = {key: value for key, value in mapping.items() if not str(key).startswith("_")}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} for {cls.__name__} (known: {', '.join(fields)})")
    missing = [
        name
        for name, field in fields.items()
        if name not in values
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
        and field.init
    ]
    if missing:
        raise ConfigError(f"{source}: missing required key {missing[0]!r} for {cls.__name__}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{source}: {error}") from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from `path`, with a one-line error naming the file when it is missing or malformed."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


@dataclasses.dataclass(frozen=True)
class MelConfig:
    """Settings of the waveform <-> mel-spectrogram-image conversion, identical to the reference `Mel`.

    x_res: image width in frames; y_res: image height = number of mel bands. A slice of audio is
    `x_res * hop_length - 1` samples, so that the centred STFT gives exactly `x_res` frames.
    """

    x_res: int = 256
    y_res: int = 256
    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    top_db: int = 80
    n_iter: int = 32

    def __post_init__(self) -> None:
        for name in ("x_res", "y_res", "sample_rate", "n_fft", "hop_length", "top_db", "n_iter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise ConfigError(f"MelConfig.{name} must be a whole number, got {value!r}")
            if value <= 0:
                raise ConfigError(f"MelConfig.{name} must be positive, got {value}")
            object.__setattr__(self, name, int(value))
        if self.hop_length > self.n_fft:
            raise ConfigError(f"MelConfig.hop_length ({self.hop_length}) must not exceed n_fft ({self.n_fft})")
        if self.y_res > self.n_fft // 2 + 1:
            raise ConfigError(
                f"MelConfig.y_res ({self.y_res}) mel bands need at most n_fft // 2 + 1 = {self.n_fft // 2 + 1} "
                "frequency bins; raise n_fft"
            )

    @property
    def n_mels(self) -> int:
        return self.y_res

    @property
    def slice_size(self) -> int:
        """Samples in one slice (the reference's `x_res * hop_length - 1`)."""
        return self.x_res * self.hop_length - 1

    @property
    def slice_seconds(self) -> float:
        return self.slice_size / self.sample_rate

    def frames_for(self, num_samples: int) -> int:
        """STFT frames (= image columns) of a centred STFT over `num_samples` samples."""
        return 1 + num_samples // self.hop_length

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> MelConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, mapping: dict[str, Any], source: str = "mel config") -> MelConfig:
        return load_dataclass(cls, mapping, source)

    @classmethod
    def load(cls, path: str | Path) -> MelConfig:
        """Read a `mel_config.json` (reference format), a YAML file, or a folder holding one.

        A folder may be a spectrogram dataset (DIR/mel_config.json) or a pipeline (DIR/mel/mel_config.json).
        """
        path = Path(path)
        if path.is_dir():
            for candidate in (path / MEL_CONFIG_NAME, path / "mel" / MEL_CONFIG_NAME):
                if candidate.is_file():
                    path = candidate
                    break
            else:
                raise ConfigError(f"{path}: no {MEL_CONFIG_NAME} in this folder or its mel/ sub-folder")
        if path.suffix in (".yaml", ".yml"):
            return cls.from_dict(read_yaml(path), str(path))
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}: not valid JSON ({error})") from None
        return cls.from_dict(data, str(path))

    def save(self, path: str | Path) -> Path:
        """Write `mel_config.json` in the reference format (a folder gets DIR/mel_config.json). Returns the file."""
        path = Path(path)
        if path.suffix != ".json":
            path = path / MEL_CONFIG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        from diffusers import __version__ as diffusers_version

        data = {"_class_name": "Mel", "_diffusers_version": diffusers_version, **self.to_dict()}
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return path
