"""What the machine is, as benchmarks print and record it next to their numbers."""

from __future__ import annotations

import os
import platform

# The environment facts of the printed `machine:` line (`audiodiff.runtime.environment_info`'s keys).
MACHINE_KEYS = ("device", "cpu_count", "torch_threads", "platform")


def machine_line(keys: tuple[str, ...] | None = MACHINE_KEYS, label: str = "machine") -> str:
    """`machine: device=..., cpu_count=..., ...` from `audiodiff.runtime.environment_info` (`keys=None`: every
    fact; `label`: the line's first word, e.g. "versions" with the libraries' keys)."""
    from audiodiff.runtime import environment_info

    info = environment_info()
    return f"{label}: " + ", ".join(f"{key}={info[key]}" for key in (info if keys is None else keys))


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages, `"0.52 0.61 0.70"`: other work on it slows every timing."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine_description(device: str) -> str:
    """One line: architecture, CPU cores and, unless `device` is "cpu", the first CUDA device's name."""
    text = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    if device != "cpu":
        try:
            import torch

            if torch.cuda.is_available():
                text += f", {torch.cuda.get_device_name(0)}"
        except ImportError:
            pass
    return text


def machine_record(device_name: str) -> dict:
    """The machine as a JSON record: platform, processor, cores, torch's threads, OMP_NUM_THREADS, the device
    (`device_name`, e.g. "cpu" or "cuda:0"), torch's version and, on a CUDA device, the GPU's name."""
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "device": device_name,
        "torch": torch.__version__,
    }
    if device_name.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device_name))
    return info
