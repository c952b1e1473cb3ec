"""Devices, threads and environment facts (used by the CLI; library code takes `device` from its caller)."""

from __future__ import annotations

import os
import platform

import torch


def best_device() -> torch.device:
    """The fastest available device: cuda, then mps, then cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(name: str | None) -> torch.device:
    """`None`/"auto" -> `best_device()`; otherwise the named device, with a clear error when it is absent."""
    if name in (None, "", "auto"):
        return best_device()
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r} ({error})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} requested but MPS is not available on this machine")
    return device


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Xeon 4th generation and later), where oneDNN runs bf16 convolutions and
    matrix products several times faster than fp32."""
    try:
        return bool(torch._C._cpu._init_amx())
    except (AttributeError, RuntimeError):
        return False


def cpu_flags() -> frozenset[str]:
    """The instruction-set flags Linux lists for this CPU in /proc/cpuinfo (empty elsewhere, or when unreadable)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 natively: AMX tiles (Intel Xeon 4th generation and later) or AVX512-BF16 (AMD
    EPYC Zen 4 and later, Intel Cooper Lake). A fine-tune step of the shipped base in bf16 autocast is 1.5x faster
    than fp32 on both 2-core kinds that have one (BENCHMARKS.md, "bf16 on the CPU"); a CPU without either emulates
    bf16 and runs it no faster."""
    return cpu_has_amx() or "avx512_bf16" in cpu_flags()


# `--mixed-precision` / `mixed_precision` of every trainer: accelerate's names, and "auto" (`mixed_precision_for`).
MIXED_PRECISIONS = ("no", "fp16", "bf16", "auto")


def mixed_precision_for(name: str, device: torch.device) -> str:
    """The mixed precision a run uses on `device`: "auto" is "bf16" where the device computes it fast (a CUDA GPU
    with bf16, or a CPU with AMX or AVX512-BF16, `cpu_has_fast_bf16`) and "no" elsewhere; other names are kept."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "no"


def environment_info() -> dict[str, str]:
    """Versions of the stack, the default device and thread counts, for bug reports and benchmarks."""
    import importlib.metadata as metadata

    import audiodiff

    # __version__ also covers a source checkout on PYTHONPATH, which has no installed metadata.
    info = {"audiodiff": audiodiff.__version__, "python": platform.python_version()}
    for package in ("torch", "torchaudio", "diffusers", "accelerate", "datasets", "librosa", "soundfile", "numpy"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    device = best_device()
    info["device"] = str(device)
    if device.type == "cuda":
        info["gpu"] = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        info["cuda"] = str(torch.version.cuda)
    info["cpu_count"] = str(os.cpu_count())
    info["torch_threads"] = str(torch.get_num_threads())
    info["platform"] = platform.platform()
    return info
