"""Configuration dataclasses and their file formats, and where the presets live.

`MelConfig` holds the seven settings of the reference `Mel` converter (audio-diffusion / diffusers), reads and
writes its `mel_config.json`, finds it in a dataset or pipeline folder and tells whether two sets of images are
comparable. `load_dataclass` turns a mapping (from YAML or JSON) into any dataclass, refusing unknown keys by name
so that a typo never silently falls back to a default. Presets are YAML files in `configs/<kind>/`
(`configs_dir`, `resolve_config_file`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from audiodiff.utils import first_line

MEL_CONFIG_NAME = "mel_config.json"
# A pipeline folder keeps its mel settings in its `mel` component's sub-folder (the reference layout).
PIPELINE_MEL_FOLDER = "mel"
# The settings that decide what a pixel means: images that share them can be compared, mixed and classified
# together. The width (x_res) only decides how many frames one image holds, n_iter only how it is decoded.
COMPATIBLE_KEYS = ("y_res", "sample_rate", "n_fft", "hop_length", "top_db")
CONFIGS_ENV = "AUDIODIFF_CONFIGS"

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the source and the key."""


def load_dataclass(cls: type[T], mapping: dict[str, Any], source: str = "config") -> T:
    """Build dataclass `cls` from `mapping`, refusing unknown keys, values of the wrong type (checked against the
    field annotations) and missing required keys, each by name.

    Keys starting with an underscore (diffusers' `_class_name`, `_diffusers_version`) are metadata and ignored.
    A number written as text (PyYAML reads `1e-4` without a dot as a string) is accepted for a float field, and a
    whole float (22050.0) for an int field.
    """
    if not isinstance(mapping, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(mapping).__name__}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    values = {key: value for key, value in mapping.items() if not str(key).startswith("_")}
    unknown = sorted(set(values) - set(fields), key=str)
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
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        converted = _conform(value, hints.get(key, Any))
        if converted is _MISMATCH:
            raise ConfigError(f"{source}: {key} must be {_describe_type(hints[key])}, got {value!r}")
        values[key] = converted
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{source}: {error}") from None


_MISMATCH = object()


def _conform(value: Any, annotation: Any) -> Any:
    """`value` as a value of type `annotation` (possibly converted, see `load_dataclass`), or `_MISMATCH`.
    Annotations this does not know are not checked."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            converted = _conform(value, option)
            if converted is not _MISMATCH:
                return converted
        return _MISMATCH
    if annotation is type(None):
        return None if value is None else _MISMATCH
    if annotation is bool:
        return value if isinstance(value, bool) else _MISMATCH
    if annotation is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISMATCH
    if annotation is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return _MISMATCH
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _MISMATCH
    if annotation is str:
        return value if isinstance(value, str) else _MISMATCH
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return _MISMATCH
        element = (typing.get_args(annotation) or (Any,))[0]
        items = [_conform(item, element) for item in value]
        return _MISMATCH if any(item is _MISMATCH for item in items) else origin(items)
    if origin is dict or annotation is dict:
        return value if isinstance(value, dict) else _MISMATCH
    return value


def _describe_type(annotation: Any) -> str:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_describe_type(option) for option in typing.get_args(annotation))
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text", type(None): "null"}
    if annotation in names:
        return names[annotation]
    if typing.get_origin(annotation) in (tuple, list):
        element = (typing.get_args(annotation) or (Any,))[0]
        plural = {bool: "true/false values", int: "whole numbers", float: "numbers", str: "names"}
        return f"a list of {plural.get(element, 'values')}"
    return getattr(annotation, "__name__", str(annotation))


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from `path`, with a one-line error naming the file when it is missing or malformed."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({first_line(error)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def configs_dir() -> Path:
    """The presets folder: $AUDIODIFF_CONFIGS; else `audiodiff/configs/` of an installed wheel (setup.cfg maps the
    repository's `configs/` there); else `configs/` beside the package (a source checkout or an editable install)."""
    if CONFIGS_ENV in os.environ:
        return Path(os.environ[CONFIGS_ENV])
    package = Path(__file__).resolve().parent
    installed = package / "configs"
    return installed if installed.is_dir() else package.parent / "configs"


def resolve_config_file(name_or_path: str | os.PathLike, kind: str) -> Path:
    """A YAML path as given, or a preset name looked up in `configs/<kind>/<name>.yaml`."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: file not found")
        return path
    candidate = configs_dir() / kind / f"{name_or_path}.yaml"
    if not candidate.is_file():
        available = sorted(p.stem for p in (configs_dir() / kind).glob("*.yaml"))
        raise ConfigError(f"unknown {kind} preset {str(name_or_path)!r} (available: {', '.join(available) or 'none'})")
    return candidate


# Upper bounds of the mel settings, far above any real use (the reference is 256 / 256 / 22050 / 2048 / 512 / 80 /
# 32): a mel_config.json from elsewhere can then not ask for a terabyte filterbank or a billion Griffin-Lim
# iterations (issue 22) before anything is checked.
MEL_LIMITS = {
    "x_res": 4096,
    "y_res": 1024,
    "sample_rate": 384000,
    "n_fft": 16384,
    "hop_length": 16384,
    "top_db": 1000,
    "n_iter": 1000,
}


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
            if value > MEL_LIMITS[name]:
                raise ConfigError(f"MelConfig.{name}={value} is out of range (allowed 1..{MEL_LIMITS[name]})")
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

    def mismatches(self, other: MelConfig, keys: Sequence[str] = COMPATIBLE_KEYS) -> list[str]:
        """The settings among `keys` in which `other` differs from these, in field order."""
        names = [field.name for field in dataclasses.fields(self) if field.name in keys]
        return [name for name in names if getattr(self, name) != getattr(other, name)]

    def check_compatible(
        self,
        other: MelConfig,
        these: str = "these images have",
        those: str = "the other images have",
        advice: str = "use images made with the same mel settings",
    ) -> None:
        """Raise ConfigError when images made with `other` do not mean what images made with these settings mean.

        Only `COMPATIBLE_KEYS` count (the width and the decoder's iterations may differ). The message names the
        first differing setting: "<these> hop_length=512 but <those> hop_length=256; <advice>".
        """
        different = self.mismatches(other)
        if different:
            key = different[0]
            raise ConfigError(f"{these} {key}={getattr(self, key)} but {those} {key}={getattr(other, key)}; {advice}")

    @classmethod
    def find(cls, folder: str | Path) -> MelConfig | None:
        """The settings stored in a folder, else None: DIR/mel_config.json (a spectrogram dataset, a folder of
        encoded PNGs) or DIR/mel/mel_config.json (a pipeline). A malformed file is a ConfigError."""
        path = _mel_config_file(Path(folder))
        return None if path is None else cls.load(path)

    @classmethod
    def from_dict(cls, mapping: dict[str, Any], source: str = "mel config") -> MelConfig:
        return load_dataclass(cls, mapping, source)

    @classmethod
    def load(cls, path: str | Path) -> MelConfig:
        """Read a `mel_config.json` (reference format), a YAML file, or a folder holding one.

        A folder may be a spectrogram dataset (DIR/mel_config.json) or a pipeline (DIR/mel/mel_config.json); a
        shipped pipeline's name (`audiodiff-base-64`) stands for its folder.
        """
        from audiodiff.pretrained import resolve

        path = Path(resolve(path))
        if path.is_dir():
            found = _mel_config_file(path)
            if found is None:
                raise ConfigError(f"{path}: no {MEL_CONFIG_NAME} in this folder or its mel/ sub-folder")
            path = found
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


def _mel_config_file(folder: Path) -> Path | None:
    for candidate in (folder / MEL_CONFIG_NAME, folder / PIPELINE_MEL_FOLDER / MEL_CONFIG_NAME):
        if candidate.is_file():
            return candidate
    return None
