"""`audiodiff` commands run in child processes, as a user runs them, and keeping benchmarks offline."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time


def stay_offline() -> None:
    """Nothing may be downloaded: benchmarks run on machines without network access (every model, dataset and
    reference is a local folder). Set before `datasets` or `huggingface_hub` are imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def command_line(arguments) -> list[str]:
    """The child process's command for `audiodiff ARGUMENTS...` (any values, turned into strings)."""
    return [sys.executable, "-m", "audiodiff.cli.main", *map(str, arguments)]


def audiodiff(*arguments, quiet: bool = False, check: bool = True) -> int:
    """Run one `audiodiff` command in a child process, printing it first; its exit status. `quiet`: the command's
    own output is dropped; `check`: a failure raises `subprocess.CalledProcessError` (else the status tells)."""
    print("$ audiodiff " + " ".join(map(str, arguments)), flush=True)
    stdout = subprocess.DEVNULL if quiet else None
    return subprocess.run(command_line(arguments), check=check, stdout=stdout).returncode


def timed_audiodiff(*arguments) -> tuple[str, float, float]:
    """Run one `audiodiff` command in a child process: (its output, minutes, the peak memory of the children in MB
    so far: the largest child, since ru_maxrss of RUSAGE_CHILDREN is the maximum over them). Exits on failure with
    the ends of its output."""
    print("$ audiodiff " + " ".join(map(str, arguments)), flush=True)
    started = time.perf_counter()
    result = subprocess.run(command_line(arguments), capture_output=True, text=True)
    minutes = (time.perf_counter() - started) / 60
    if result.returncode:
        sys.exit(f"failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr, minutes, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
