"""Checking a saved model's `config.json` against its safetensors weights before the network is built.

A model folder's `config.json` decides what building and running its network costs, and a hostile or damaged one
(a `dim` of 30000, 10**7 layers, 10**9 iterations) would allocate tens of gigabytes, end in a MemoryError traceback
or hang a decode long before `load_state_dict` could notice that the weights do not fit. The weights file's header
says what the weights really are and costs nothing to read (safetensors checks that it describes exactly the bytes
the file holds). So a loader, before building anything:

1. reads the config with a size limit (`read_config`);
2. bounds the scalars that size the network (`check_range`), so that even a shapes-only build stays cheap, and the
   scalars no weight records (iteration counts), which only a range can keep sane;
3. builds the network on the `meta` device (shapes, no storage; `meta_shapes`) and requires every tensor it would
   create to be in the file with the same shape, and nothing more (`check_weights_fit`).

Then the real build allocates what the file holds and no more. Every refusal is one line (`ConfigError`) naming the
file and the key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiodiff.config import ConfigError
from audiodiff.utils import first_line

# A config.json is a few kilobytes; reading a bigger one is refused before it is read into memory.
CONFIG_BYTES_LIMIT = 1 << 20


def read_config(path: str | Path, limit: int = CONFIG_BYTES_LIMIT) -> Any:
    """The JSON in `path`, refused (one-line `ConfigError` naming it) when missing, over `limit` bytes or not JSON."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limit:
            raise ConfigError(f"{path}: {size} bytes, more than a config file holds (at most {limit})")
        return json.loads(path.read_bytes())
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror or first_line(error)})") from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError, bad UTF-8, absurd nesting
        raise ConfigError(f"{path}: not valid JSON ({first_line(error)})") from None


def check_range(value: Any, key: str, low: float, high: float, source: str | Path) -> None:
    """Raise `ConfigError` "SOURCE: KEY=VALUE is out of range (allowed LOW..HIGH)" unless `low <= value <= high`
    (NaN and non-numbers are out of every range)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and not (isinstance(value, float) and math.isnan(value)) and low <= value <= high):
        raise ConfigError(f"{source}: {key}={value!r} is out of range (allowed {low}..{high})")


def weight_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a safetensors file, from its header alone (no tensor is read).

    `ConfigError` (one line naming the file) when it is missing or not safetensors; the safetensors reader refuses a
    header whose shapes and offsets do not describe exactly the bytes that follow, so the shapes are honest.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: missing")
    try:
        with safe_open(str(path), "pt") as handle:
            return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise ConfigError(f"{path}: not readable safetensors ({first_line(error)})") from None


def meta_shapes(build: Callable[[], nn.Module]) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the `state_dict` of the module `build()` makes, built on the `meta` device
    (no storage is allocated). Bound the sizes in its config first: the build still runs every constructor."""
    with torch.device("meta"):
        module = build()
    return {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}


def check_weights_fit(
    expected: Mapping[str, tuple[int, ...]],
    weights: Mapping[str, tuple[int, ...]],
    weights_path: str | Path,
    config_name: str,
    settings: Mapping[str, Any],
) -> None:
    """Raise `ConfigError` unless the file holds exactly the tensors the config's network makes, with its shapes.

    expected: name -> shape the config makes (`meta_shapes`); weights: name -> shape in the file (`weight_shapes`);
    settings: the config keys that size the network and their values, named in the message, e.g.
    "model.safetensors: weights do not match config.json (dim=32, layers=8): it makes 'embed.weight' (32, 32, 7),
    the weights hold (16, 32, 7)".
    """
    described = ", ".join(f"{key}={value}" for key, value in settings.items())
    prefix = f"{weights_path}: weights do not match {config_name} ({described}):"
    for name, shape in expected.items():
        if name not in weights:
            raise ConfigError(f"{prefix} it makes {name!r} {_shape(shape)}, which the weights lack")
        if tuple(weights[name]) != tuple(shape):
            raise ConfigError(f"{prefix} it makes {name!r} {_shape(shape)}, the weights hold {_shape(weights[name])}")
    extra = [name for name in weights if name not in expected]
    if extra:
        raise ConfigError(f"{prefix} the weights hold {extra[0]!r} {_shape(weights[extra[0]])}, which it does not make")


def _shape(shape: tuple[int, ...]) -> str:
    return str(tuple(int(size) for size in shape))


def check_sizes(
    config: Mapping[str, Any],
    limits: Mapping[str, tuple[float, float]],
    source: str | Path,
    lengths: Mapping[str, tuple[int, int]] | None = None,
    optional: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Range-check every key of `config` that `limits` names (`check_range`); returns those keys and their values.

    A key the config lacks is not checked: the class's default is used, an honest value. A key in `optional` may be
    null. A key in `lengths` may be a list of `lengths[key]` (low, high) elements, each within its range (refused as
    "len(KEY)=N" or "KEY[i]=V"), or one number (a `sample_size` is 64 or [64, 256]). A hostile config can thus size
    nothing beyond these ranges; whether the values make a network at all is for the build to say.
    """
    lengths = lengths or {}
    checked = {}
    for key, (low, high) in limits.items():
        if key not in config:
            continue
        value = checked[key] = config[key]
        if value is None and key in optional:
            continue
        if key in lengths and isinstance(value, (list, tuple)):
            check_range(len(value), f"len({key})", *lengths[key], source)
            for index, element in enumerate(value):
                check_range(element, f"{key}[{index}]", low, high, source)
        else:
            check_range(value, key, low, high, source)
    return checked


def pickled_weight_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a `torch.save` weights file (a reference checkpoint's `.bin`), read onto the
    `meta` device: the zip format is memory-mapped and no tensor's bytes are read (an old, non-zip file costs its
    size). `torch.load(weights_only=True)` runs no code from the file. `ConfigError` (one line naming the file) when
    it is missing, not such a file, or holds anything but named tensors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: missing")
    try:
        try:
            state = torch.load(path, map_location="meta", weights_only=True, mmap=True)
        except RuntimeError as error:
            if "mmap" not in str(error):  # a legacy (non-zip) file cannot be memory-mapped: read it
                raise
            state = torch.load(path, map_location="meta", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged pickle fails in many ways (EOF, zip, unpickler)
        raise ConfigError(
            f"{path}: not a readable weights file ({type(error).__name__}: {first_line(error)})"
        ) from None
    if not isinstance(state, Mapping) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise ConfigError(f"{path}: not a weights file (a mapping of names to tensors)")
    return {str(name): tuple(tensor.shape) for name, tensor in state.items()}
