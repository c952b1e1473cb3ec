"""What distillation costs against the teacher's own training: the teacher's recorded (or measured) training, the
most distillation steps within a budget of it, the distil stage, and each student's cost as fractions of it."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path


# --- the teacher's training cost ----------------------------------------------------------------------------------
def teacher_training_cost(teacher: Path) -> dict:
    """The teacher's training compute in UNet forward-pass equivalents (3 x steps x batch x gradient accumulation:
    a forward and a backward, counted as 2 forwards, per trained sample) and its wall time where recorded: a
    samples-per-second figure in audiodiff.json or run.json, else the TensorBoard log that training writes."""
    from audiodiff.pipeline import read_metadata

    record = read_metadata(teacher).get("training") or {}
    config = record.get("config") or {}
    if not record.get("steps") or not config.get("batch_size"):
        raise SystemExit(f"{teacher}: audiodiff.json has no training record (steps, batch size) to size the budget")
    steps, batch = int(record["steps"]), int(config["batch_size"])
    accumulation = int(config.get("gradient_accumulation_steps") or 1)
    samples = steps * batch * accumulation
    cost = {
        "steps": steps,
        "batch_size": batch,
        "gradient_accumulation_steps": accumulation,
        "trained_samples": samples,
        "forward_passes": 3 * samples,
        "samples_per_second": None,
        "wall_seconds": None,
        "wall_source": "not recorded",
    }
    run_file = teacher / "run.json"
    run_info = json.loads(run_file.read_text()) if run_file.is_file() else {}
    for source, values in (("audiodiff.json", record), ("run.json", run_info)):
        rate = values.get("samples_per_second")
        if rate:
            cost.update(samples_per_second=float(rate), wall_source=source)
            break
    else:
        logged = logged_training_rate(teacher / "logs" / "train")
        if logged is not None:
            cost.update(samples_per_second=logged, wall_source="TensorBoard log (logs/train, samples_per_s)")
    if cost["samples_per_second"]:
        cost["wall_seconds"] = samples / cost["samples_per_second"]
    return cost


def logged_training_rate(folder: Path) -> float | None:
    """The last `samples_per_s` (samples per second since the run started) in a TensorBoard log folder, or None."""
    if not folder.is_dir():
        return None
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return None
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    if "samples_per_s" not in accumulator.Tags().get("scalars", []):
        return None
    events = accumulator.Scalars("samples_per_s")
    return float(events[-1].value) if events else None


def measure_training_rate(teacher: Path, data: Path, steps: int) -> float | None:
    """Samples per second of the teacher's own training recipe on this device (a short run of `steps` optimizer
    steps, from scratch, in a temporary folder): the same-machine yardstick for the distillation's wall time."""
    if steps <= 0:
        return None
    from audiodiff.data import load_spectrogram_dataset
    from audiodiff.pipeline import read_metadata
    from audiodiff.training import TrainConfig, train

    recorded = dict(read_metadata(teacher)["training"]["config"])
    recorded.update(max_steps=steps, epochs=None, checkpoint_every=0, sample_every=0, num_samples=0, log_every=steps)
    with tempfile.TemporaryDirectory(prefix="bench-distill-rate-") as folder:
        config_file = Path(folder) / "teacher.yaml"
        config_file.write_text(json.dumps(recorded))  # JSON is YAML
        config = TrainConfig.load(config_file)
        result = train(config, load_spectrogram_dataset(data), Path(folder) / "run", progress=False)
    return result.samples_per_second


# --- distil -------------------------------------------------------------------------------------------------------
def default_max_steps(method: str, args, cost: dict) -> int:
    """The most optimizer steps whose distillation compute stays within `args.budget` of the teacher's training."""
    from audiodiff.distillation import DistillConfig

    config = DistillConfig.load(
        args.config, method=method, steps=args.steps, guidance=args.guidance, batch_size=args.distill_batch_size
    )
    budget = args.budget * cost["forward_passes"]
    low, high = 1, 1
    while distillation_forward_passes(config, high * 2) <= budget:
        high *= 2
    high *= 2
    while high - low > 1:  # the cost grows with the steps: bisect for the last step count within the budget
        middle = (low + high) // 2
        low, high = (middle, high) if distillation_forward_passes(config, middle) <= budget else (low, middle)
    return low


def distillation_forward_passes(config, steps: int) -> int:
    """UNet forward-pass equivalents of `steps` optimizer steps, as `audiodiff.distillation` counts them in its
    record (one process): per image, consistency 3 (the student's forward and backward) + 2 (the guided teacher; 1
    unguided) + 1 (the target network); progressive 3 + 2 teacher steps of 2 (guided, first round) or 1 forward."""
    from audiodiff.distillation import forward_passes_per_image, progressive_rounds

    images = config.batch_size * config.gradient_accumulation_steps
    if config.method == "consistency":
        return steps * images * forward_passes_per_image(config)
    first_round = min(steps, -(-steps // progressive_rounds(config.teacher_steps, config.steps)))
    later = forward_passes_per_image(config, first_round=False)
    return first_round * images * forward_passes_per_image(config) + (steps - first_round) * images * later


def student_folder(args, method: str, max_steps: int) -> Path:
    """WORK/runs-distill/<method>-<steps>-w<guidance>-<preset>-<max steps>: a distillation's settings in its name,
    so that a finished student is reused only by the same benchmark command."""
    preset = Path(args.config).stem
    return args.students / f"{method}-{args.steps}-w{args.guidance:g}-{preset}-{max_steps}"


def stage_distill(args, cost: dict) -> None:
    from audiodiff.data import load_spectrogram_dataset
    from audiodiff.distillation import DistillConfig, distill

    data = None
    for method, folder in args.students_to_evaluate:
        if (folder / "model_index.json").is_file():
            print(f"{method}: student {folder} exists, reused (delete it to distil again)", flush=True)
            continue
        max_steps = args.max_budget_steps[method]
        config = DistillConfig.load(
            args.config, method=method, steps=args.steps, guidance=args.guidance, max_steps=max_steps,
            batch_size=args.distill_batch_size, seed=args.seed,
        )  # fmt: skip
        print(
            f"{method}: distilling {args.teacher} -> {folder} ({args.config} preset, {max_steps} steps, "
            f"guidance {args.guidance:g}, genre {args.distill_genre or 'all'})",
            flush=True,
        )
        data = data or load_spectrogram_dataset(args.data)
        begin = time.perf_counter()
        result = distill(config, data, folder, teacher=str(args.teacher), genre=args.distill_genre, progress=True)
        wall = time.perf_counter() - begin
        record = {
            "method": method,
            "wall_seconds_with_setup": wall,
            "steps": result.steps,
            "samples_per_second": result.samples_per_second,
            "final_loss": result.losses[-1] if result.losses else None,
            "device": args.device_name,
        }
        (folder / "bench_distill.json").write_text(json.dumps(record, indent=1) + "\n")


def distillation_cost(folder: Path, cost: dict, rate_here: float | None) -> dict:
    """The student's distillation record with its cost as fractions of the teacher's training."""
    from audiodiff.pipeline import read_metadata

    record = dict(read_metadata(folder).get("distillation") or {})
    if not record:
        raise SystemExit(f"{folder}: audiodiff.json has no distillation record: not a distilled student")
    passes, seconds = record.get("forward_passes"), record.get("seconds")
    bench_file = folder / "bench_distill.json"
    bench = json.loads(bench_file.read_text()) if bench_file.is_file() else {}
    teacher_here = cost["trained_samples"] / rate_here if rate_here else None
    return {
        "folder": str(folder),
        "record": record,
        "forward_passes": passes,
        "compute_fraction": passes / cost["forward_passes"] if passes is not None else None,
        "wall_seconds": seconds,
        "wall_seconds_with_setup": bench.get("wall_seconds_with_setup"),
        "distilled_on": bench.get("device", "not recorded"),
        "wall_fraction_recorded": seconds / cost["wall_seconds"] if seconds and cost["wall_seconds"] else None,
        "teacher_wall_seconds_here": teacher_here,
        "wall_fraction_here": seconds / teacher_here if seconds and teacher_here else None,
    }
