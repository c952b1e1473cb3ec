"""The parent process of `bench_recipes.py`: every (recipe, seed) in at most `--jobs` child processes, finished runs
with the same settings reused, progress lines while they run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from recipe_study import log
from recipe_study.run import run_folder
from recipe_study.settings import METRICS, Settings

SCRIPTS = Path(__file__).resolve().parents[1]  # the child processes run bench_recipes.py and bench_train.py from here


# --- the parent: run every (recipe, seed) in --jobs child processes ---------------------------------------------------
def finished(args, settings: Settings, recipe: str, seed: int) -> dict | None:
    path = run_folder(args, recipe, seed) / "result.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    return result if result.get("hash") == settings.run_hash(recipe, seed) else None


def child_command(args, recipe: str, seed: int) -> list[str]:
    command = [
        sys.executable,
        str(SCRIPTS / "bench_recipes.py"),
        "--one",
        recipe,
        str(seed),
        "--work",
        str(args.work),
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--clips",
        str(args.clips),
        "--guidance",
        str(args.guidance),
        "--device",
        args.device,
        "--tracks-per-genre",
        str(args.tracks_per_genre),
    ]
    return command + (["--smoke"] if args.smoke else [])


def run_all(args, settings: Settings, tasks: list[tuple[str, int]], on_result) -> dict[tuple[str, int], dict]:
    """Run `tasks` in at most `args.jobs` child processes; returns the results of the finished ones."""
    results: dict[tuple[str, int], dict] = {}
    todo = []
    for recipe, seed in tasks:
        found = finished(args, settings, recipe, seed)
        if found is not None:
            log(f"reusing {recipe} seed {seed} ({run_folder(args, recipe, seed)})")
            results[recipe, seed] = found
        else:
            todo.append((recipe, seed))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    running: dict[tuple[str, int], tuple[subprocess.Popen, float, object]] = {}
    failed: list[tuple[str, int]] = []
    last_status = started = time.perf_counter()
    while todo or running:
        while todo and len(running) < args.jobs:
            recipe, seed = todo.pop(0)
            folder = run_folder(args, recipe, seed)
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            log_file = open(folder / "log.txt", "w")  # noqa: SIM115 - closed when the child ends
            process = subprocess.Popen(
                child_command(args, recipe, seed), stdout=log_file, stderr=subprocess.STDOUT, env=env
            )
            running[recipe, seed] = (process, time.perf_counter(), log_file)
            log(f"started {recipe} seed {seed} (log: {folder / 'log.txt'})")
        time.sleep(1.0)
        for key, (process, begun, log_file) in list(running.items()):
            if process.poll() is None:
                continue
            log_file.close()
            del running[key]
            found = finished(args, settings, *key)
            if process.returncode != 0 or found is None:
                failed.append(key)
                tail = (run_folder(args, *key) / "log.txt").read_text().splitlines()[-15:]
                log(f"FAILED {key[0]} seed {key[1]} (exit {process.returncode}):\n    " + "\n    ".join(tail))
                continue
            results[key] = found
            log(
                f"finished {key[0]} seed {key[1]} in {time.perf_counter() - begun:.0f} s "
                f"{json.dumps(found.get('seconds'))}: " + describe(found)
            )
            on_result(results)
        if running and time.perf_counter() - last_status > args.status_every:
            last_status = time.perf_counter()
            log(status_line(args, list(running), time.perf_counter() - started))
    if failed:
        log(f"{len(failed)} run(s) failed: " + ", ".join(f"{recipe} seed {seed}" for recipe, seed in failed))
    return results


def status_line(args, running: list[tuple[str, int]], elapsed: float) -> str:
    """The last progress line of each running child, and when the slowest training should end at its rate so far."""
    lines, remaining = [], []
    for recipe, seed in running:
        text = (run_folder(args, recipe, seed) / "log.txt").read_text().strip().splitlines()
        found = [re.match(r"step (\d+)/(\d+) .*\((\d+) s\)", line) for line in text]
        found = [match for match in found if match]
        if found:
            step, total, seconds = (int(value) for value in found[-1].groups())
            lines.append(f"{recipe}/{seed} {step}/{total}")
            if seconds > 0:
                remaining.append((total - step) * seconds / step)
        else:
            lines.append(f"{recipe}/{seed} starting")
    eta = f"; training ends in about {max(remaining):.0f} s at the rate so far" if remaining else ""
    return f"[{elapsed:.0f} s] running: " + ", ".join(lines) + eta


def describe(result: dict) -> str:
    if "rows" in result:
        return "; ".join(f"{name}: fine FD ratio {row['fd_fine']}" for name, row in result["rows"].items())
    return " ".join(f"{key}={result.get(key)}" for key in (*METRICS, "final_loss", "train_samples_per_s"))


# --- optional: the training loop's overhead (scripts/bench_train.py) --------------------------------------------------
def measure_train_ratio() -> float | None:
    """`scripts/bench_train.py`'s train_ratio, on the CPU (its plain loop never leaves the CPU), after all runs."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, str(SCRIPTS / "bench_train.py")]
    log("$ " + " ".join(command))
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=False).stdout
    lines = [line for line in output.splitlines() if line.startswith("RESULT train_ratio=")]
    return float(lines[-1].split("=")[1]) if lines else None
