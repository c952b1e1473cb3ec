"""Few-step students on real music: quality and speed of a distilled student against its teacher, in one run.

On the real-music study of `scripts/bench_quality.py` (its working folder: prepared training slices, held-out
tracks, genre classifier) and its genre-conditioned base model trained there (`runs/long/base`: small-64 at 64x64,
cinematic / electronic / rock, 4000 steps x batch 8, epsilon prediction, DDPM schedule):

1. distil: `audiodiff.distillation.distill` makes a student of the teacher at `--guidance` (guided distillation:
   the student learns the teacher's classifier-free-guided output, one UNet call per step) with each of `--methods`,
   within `--max-steps` (default: the most steps whose compute stays within `--budget`, 30%, of the teacher's own
   training, 3 x steps x batch x gradient accumulation forward-pass equivalents); `--load STUDENT` skips it;
2. evaluate: `--clips` clips of `--seconds` from the same seeds (clip k from a generator seeded `seed + k`) with
   (a) the teacher, DDPM 1000 steps (the reference's default sampler; on a CPU only the first `--ddpm-clips`),
   (b) the teacher, DPM-Solver++ 20 steps, (c) the consistency student at 4, 2 and 1 steps (a progressive student at
   its own steps), all at the same guidance, scored with `audiodiff evaluate`'s instrument (validated by
   `bench_quality.py` on known-bad sets) against held-out tracks of `--genre`: flagged-clip share, seam score, fine
   and log-mel Frechet distance ratios and classifier Frechet distance ratio (to the reference-vs-reference
   baseline), genre share; plus UNet evaluations and seconds per clip, and the distillation's cost as a fraction of
   the teacher's training (compute, and wall time: as recorded where the teacher was trained, and at the teacher's
   training rate measured on this device).

Writes `WORK/results-distill/`: summary.json (every number), table.md, a figure (contact sheet + metrics) and the
report JSON per sampler, and the first `--wavs` clips of each sampler as WAV. Students go to `WORK/runs-distill/`.

    python scripts/bench_distill.py [--stage all|distill|evaluate] [--genre electronic] [--guidance 2]
        [--clips 32] [--ddpm-clips 8] [--device auto] [--load STUDENT]
    python scripts/bench_distill.py --smoke          # a tiny teacher on synthesized music: the whole script in minutes

Last line: `RESULT unet_evals_teacher=<n> unet_evals_student=<n> fd_ratio_4=<x> fd_ratio_2=<x> fd_ratio_1=<x>
share_4=<x> share_teacher=<x> ...` (teacher: DPM-Solver++ 20 guided; student: 4 steps; UNet evaluations per clip of
`--seconds`; fd_ratio: log-mel Frechet distance ratio; more keys follow: fine FD, flagged shares, DDPM, cost).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

# Nothing in this benchmark may download: every model, dataset and reference is a local folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_quality  # noqa: E402 - the real-music study whose data, reference and scoring this benchmark reuses

WORK = bench_quality.WORK
DEFAULT_TEACHER = Path("runs") / "long" / "base"
STUDENT_STEPS = (4, 2, 1)  # a consistency student serves all three
TEACHER_DPM_STEPS = 20
SMOKE_GENRES = ("beats", "pads", "arpeggios")


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


# --- evaluate -----------------------------------------------------------------------------------------------------
def sample(pipeline, steps: int, count: int, args, guidance: float):
    """`count` clips of `args.seconds` through `audiodiff.sampling.generate` (what `audiodiff generate` runs, no
    redraw: the sampler's own failure rate), clip k from a generator seeded `seed + k`, timed.

    Returns images `(count, 1, n_mels, frames)` in [-1, 1], audio `(count, time)`, UNet evaluations per clip (a
    guided teacher step counts 2 per window), seconds per clip, and of those the vocoder's (Griffin-Lim) seconds."""
    import torch

    from audiodiff import sampling
    from audiodiff.codec import pixels_to_model

    pipeline.unet_evaluations = 0
    begin = time.perf_counter()
    clips = sampling.generate(
        pipeline, count=count, seed=args.seed, steps=steps, genre=args.genre if pipeline.genres else None,
        guidance=guidance, seconds=args.seconds, batch_size=args.batch_size,
    )  # fmt: skip
    seconds = (time.perf_counter() - begin) / count
    evaluations = pipeline.unet_evaluations / count
    images = pixels_to_model(clips.images, clips.bits).unsqueeze(1)
    # The decoder's share of the time: one batch decoded again as `generate` decodes it.
    batch = images[: args.batch_size].to(pipeline.device)
    begin = time.perf_counter()
    pipeline.images_to_audio(batch, torch.Generator(pipeline.device).manual_seed(args.seed))
    if pipeline.device.type == "cuda":
        torch.cuda.synchronize()
    decode = (time.perf_counter() - begin) / len(batch)
    return images, clips.audios, evaluations, seconds, decode


def warm_up(pipeline, args, guidance: float) -> None:
    """One short sampling run, untimed: first-call costs (allocation, cuDNN tuning) stay out of the timings."""
    import torch

    genre = args.genre if pipeline.genres else None
    pipeline(batch_size=1, num_inference_steps=1, genre=genre, guidance_scale=guidance, seconds=args.seconds,
             generator=torch.Generator().manual_seed(0), output_type="pt")  # fmt: skip


def mean_windows(pipeline, steps: int, seconds: float) -> float:
    """Model-width windows the UNet sees per step (averaged over the steps) for a clip of `seconds`: the joint
    denoising of long clips (`AudioDiffusionPipeline._model_output`). Dividing UNet evaluations per clip by it gives
    the evaluations of a one-slice clip (the issue's 40 -> 4)."""
    from audiodiff import editing

    mel = pipeline.mel_config
    frames = editing.seconds_to_frames(seconds, mel.sample_rate, mel.hop_length)
    width = pipeline.latent_shape[2]
    stride = max(1, (mel.x_res - mel.x_res // 2) * width // mel.x_res)
    canvas = -(-frames * width // mel.x_res)
    counts = [len(editing.window_starts(canvas, width, stride, step)) for step in range(steps)]
    return sum(counts) / len(counts)


def stage_ddpm(args) -> None:
    """The teacher's DDPM clips alone (the slow part on a CPU), written to `--ddpm-file` for a later evaluate."""
    import torch

    from audiodiff.codec import model_to_pixels
    from audiodiff.pipeline import AudioDiffusionPipeline

    teacher = AudioDiffusionPipeline.from_pretrained(args.teacher).to(args.device).set_scheduler("ddpm")
    teacher.set_progress_bar_config(disable=True)
    warm_up(teacher, args, args.guidance)
    count = min(args.ddpm_clips, args.clips)
    images, _, evaluations, seconds, decode = sample(teacher, args.ddpm_steps, count, args, args.guidance)
    record = {
        "pixels": model_to_pixels(images[:, 0], 8).to(torch.uint8).cpu(), "unet_evals_per_clip": evaluations,
        "seconds_per_clip": seconds, "decode_seconds_per_clip": decode,
        "device": machine(args).get("gpu") or args.device_name, "steps": args.ddpm_steps,
        "guidance": args.guidance, "genre": args.genre, "seed": args.seed, "seconds": args.seconds,
    }  # fmt: skip
    args.ddpm_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save(record, args.ddpm_file)
    print(f"{count} DDPM-{args.ddpm_steps} clips, {seconds:.2f} s a clip on {record['device']}: {args.ddpm_file}")


def load_ddpm(args, teacher):
    """The clips of `stage_ddpm` (checked to be this run's settings), decoded here for the WAVs."""
    import torch

    from audiodiff.codec import pixels_to_model

    record = torch.load(args.ddpm_file, weights_only=True)
    for key in ("steps", "guidance", "genre", "seed", "seconds"):
        expected = {"steps": args.ddpm_steps}.get(key, getattr(args, key))
        if record[key] != expected:
            raise SystemExit(f"{args.ddpm_file}: made with {key} {record[key]!r}, this run uses {expected!r}")
    images = pixels_to_model(record["pixels"], 8).unsqueeze(1).float()
    wavs = images[: args.wavs].to(teacher.device)
    audios = teacher.images_to_audio(wavs, torch.Generator(teacher.device).manual_seed(args.seed)).cpu()
    return (images, audios, record["unet_evals_per_clip"], record["seconds_per_clip"],
            record["decode_seconds_per_clip"], record["device"])  # fmt: skip


def stage_evaluate(args, cost: dict) -> None:
    from audiodiff.audio import save_audio
    from audiodiff.classifier import GenreClassifier
    from audiodiff.config import MelConfig
    from audiodiff.figures import render_figure
    from audiodiff.pipeline import AudioDiffusionPipeline

    results = args.work / "results-distill"
    results.mkdir(parents=True, exist_ok=True)
    mel = MelConfig.find(args.data)
    if not (args.classifier / "config.json").is_file():
        bench_quality.audiodiff("train-classifier", "--data", args.data, "--out", args.classifier, "--max-steps",
                                args.classifier_steps, "--seed", args.seed, "--device", "cpu")  # fmt: skip
    classifier = GenreClassifier.from_pretrained(args.classifier)
    # bench_quality's reference: held-out tracks of the genre (WORK/music-held-out), scored against in two halves.
    reference, _, real_long = bench_quality.load_reference(args, mel)
    rows: dict[str, dict] = {}

    def record(name: str, images, audios=None, **numbers) -> None:
        source = name.replace(" ", "_").replace("/", "-").replace(",", "").replace("+", "")
        clips = bench_quality.clip_set(images, mel, source, args.genre)
        report = bench_quality.score(clips, reference, args, classifier)
        rows[name] = {"clips": len(images), **numbers, **bench_quality.summary(report)}
        # Spread of the clips (mean pairwise log-mel distance) over the reference's: averaged, blurred clips can score
        # low Frechet distances, and this is where they show.
        rows[name]["diversity"] = report.get("diversity", {}).get("ratio_to_reference")
        print(f"{name:<40} " + "  ".join(f"{key}={value}" for key, value in rows[name].items()), flush=True)
        render_figure(clips, reference, report, results / f"{clips.source}.png")
        (results / f"{clips.source}.json").write_text(json.dumps(report, indent=1) + "\n")
        for index in range(min(args.wavs, 0 if audios is None else len(audios))):
            save_audio(results / "wavs" / f"{clips.source}_{index:02d}.wav", audios[index], mel.sample_rate)

    record("real long excerpts", real_long)

    # The teacher, at the students' guidance.
    teacher = AudioDiffusionPipeline.from_pretrained(args.teacher).to(args.device)
    teacher.set_progress_bar_config(disable=True)
    if args.genre not in (teacher.genres or []):
        raise SystemExit(f"{args.teacher}: the teacher knows genres {teacher.genres}, not {args.genre!r}")
    samplers = [("dpm", TEACHER_DPM_STEPS, args.clips)]
    if args.skip_ddpm:
        print("teacher DDPM-1000: skipped (--skip-ddpm)", flush=True)
    else:
        samplers.insert(0, ("ddpm", args.ddpm_steps, min(args.ddpm_clips, args.clips)))
        count = min(args.ddpm_clips, args.clips)
        print(f"teacher DDPM-{args.ddpm_steps}: {count} of {args.clips} clips (--ddpm-clips)", flush=True)
    for scheduler, steps, count in samplers:
        if scheduler == "ddpm" and args.ddpm_file is not None:
            images, audios, evaluations, seconds, decode, where = load_ddpm(args, teacher)
            print(f"teacher DDPM-{steps}: {len(images)} clips from {args.ddpm_file}, sampled on {where}", flush=True)
        else:
            teacher.set_scheduler(scheduler)
            warm_up(teacher, args, args.guidance)
            images, audios, evaluations, seconds, decode = sample(teacher, steps, count, args, args.guidance)
        name = f"teacher {'DDPM' if scheduler == 'ddpm' else 'DPM-Solver++'} {steps}, guidance {args.guidance:g}"
        record(
            name, images, audios, model="teacher", sampler=scheduler, steps=steps, unet_evals_per_clip=evaluations,
            unet_evals_per_slice=evaluations / mean_windows(teacher, steps, args.seconds),
            seconds_per_clip=seconds, decode_seconds_per_clip=decode,
        )  # fmt: skip
    del teacher

    # The students, on the same seeds.
    distillation: dict[str, dict] = {}
    for method, folder in args.students_to_evaluate:
        student = AudioDiffusionPipeline.from_pretrained(folder).to(args.device)
        student.set_progress_bar_config(disable=True)
        distillation[method] = distillation_cost(folder, cost, args.teacher_rate_here)
        baked = distillation[method]["record"].get("guidance")
        guidance = float(baked) if baked is not None else args.guidance
        if abs(guidance - args.guidance) > 1e-9:
            print(f"note: {folder} was distilled at guidance {guidance:g}, the teacher sampled at {args.guidance:g}")
        kind = distillation[method]["record"]["method"]
        steps_list = STUDENT_STEPS if kind == "consistency" else (int(distillation[method]["record"]["steps"]),)
        warm_up(student, args, guidance)
        for steps in steps_list:
            images, audios, evaluations, seconds, decode = sample(student, steps, args.clips, args, guidance)
            record(
                f"{method} student {steps} step{'s' if steps > 1 else ''}", images, audios, model=method,
                sampler="student", steps=steps, unet_evals_per_clip=evaluations,
                unet_evals_per_slice=evaluations / mean_windows(student, steps, args.seconds),
                seconds_per_clip=seconds, decode_seconds_per_clip=decode,
            )  # fmt: skip
        del student

    summary = {
        "command": " ".join(sys.argv),
        "machine": machine(args),
        "settings": {key: str(value) for key, value in vars(args).items() if key != "students_to_evaluate"},
        "teacher": {"folder": str(args.teacher), **cost, "samples_per_second_here": args.teacher_rate_here},
        "distillation": distillation,
        "rows": rows,
    }
    (results / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    table = markdown_tables(rows, distillation, cost, args)
    print("\n" + table)
    (results / "table.md").write_text(table + "\n")
    print(f"\nresults, figures and WAVs in {results}")
    print(result_line(rows, distillation, args))


def machine(args) -> dict:
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "device": args.device_name,
        "torch": torch.__version__,
    }
    if args.device_name.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(args.device_name))
    return info


def number(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.{digits}g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown_tables(rows: dict, distillation: dict, cost: dict, args) -> str:
    head = (
        "| sampler | clips | UNet evals / clip | / one-slice clip | s / clip | of which decoding | flagged clips "
        "| seam score | fine FD ratio | log-mel FD ratio | classifier FD ratio | genre share | diversity |"
    )
    lines = [head, "|---|" + "---:|" * 12]
    for name, row in rows.items():
        cells = [row["clips"], row.get("unet_evals_per_clip"), row.get("unet_evals_per_slice"),
                 row.get("seconds_per_clip"), row.get("decode_seconds_per_clip"), row["flagged"], row["seam"],
                 row["fd_fine"], row["fd_log_mel"], row["fd_classifier"], row["genre_share"],
                 row.get("diversity")]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(number(cell) for cell in cells) + " |")
    lines += [
        "",
        f"Teacher training: {cost['steps']} steps x batch {cost['batch_size']} x accumulation "
        f"{cost['gradient_accumulation_steps']} = {cost['forward_passes']} forward-pass equivalents; wall time "
        + (
            f"{cost['wall_seconds']:.0f} s at {cost['samples_per_second']:.1f} samples/s ({cost['wall_source']}, on "
            "the machine that trained it)"
            if cost["wall_seconds"]
            else "not recorded"
        )
        + (
            f"; {cost['trained_samples'] / args.teacher_rate_here:.0f} s at this device's measured "
            f"{args.teacher_rate_here:.1f} samples/s"
            if args.teacher_rate_here
            else ""
        )
        + ".",
        "",
        "| distillation | forward passes | of teacher's compute | wall s | of teacher's wall (recorded) "
        "| of teacher's wall (this device) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for method, item in distillation.items():
        cells = [item["forward_passes"], item["compute_fraction"], item["wall_seconds"],
                 item["wall_fraction_recorded"], item["wall_fraction_here"]]  # fmt: skip
        record = item["record"]
        label = f"{method}, {record.get('steps')} steps, guidance {number(record.get('guidance'))}"
        lines.append(f"| {label} | " + " | ".join(number(cell) for cell in cells) + " |")
    return "\n".join(lines)


def result_line(rows: dict, distillation: dict, args) -> str:
    def find(model: str, steps: int | None = None, sampler: str | None = None) -> dict:
        for row in rows.values():
            if row.get("model") == model and steps in (None, row.get("steps")) and sampler in (None, row["sampler"]):
                return row
        return {}

    teacher, ddpm = find("teacher", sampler="dpm"), find("teacher", sampler="ddpm")
    method = next(iter(distillation), "consistency")
    students = {steps: find(method, steps) for steps in STUDENT_STEPS}
    cost = distillation.get(method, {})
    values = {
        "unet_evals_teacher": teacher.get("unet_evals_per_clip"),
        "unet_evals_student": students[4].get("unet_evals_per_clip"),
        **{f"fd_ratio_{steps}": students[steps].get("fd_log_mel") for steps in STUDENT_STEPS},
        "share_4": students[4].get("genre_share"),
        "share_teacher": teacher.get("genre_share"),
        "fd_ratio_teacher": teacher.get("fd_log_mel"),
        **{f"fd_fine_{steps}": students[steps].get("fd_fine") for steps in STUDENT_STEPS},
        "fd_fine_teacher": teacher.get("fd_fine"),
        **{f"flagged_{steps}": students[steps].get("flagged") for steps in STUDENT_STEPS},
        "flagged_teacher": teacher.get("flagged"),
        **{f"fd_classifier_{steps}": students[steps].get("fd_classifier") for steps in STUDENT_STEPS},
        "fd_classifier_teacher": teacher.get("fd_classifier"),
        **{f"diversity_{steps}": students[steps].get("diversity") for steps in STUDENT_STEPS},
        "diversity_teacher": teacher.get("diversity"),
        "unet_evals_slice_teacher": teacher.get("unet_evals_per_slice"),
        "unet_evals_slice_student": students[4].get("unet_evals_per_slice"),
        "unet_evals_ddpm": ddpm.get("unet_evals_per_clip"),
        "fd_ratio_ddpm": ddpm.get("fd_log_mel"),
        "fd_fine_ddpm": ddpm.get("fd_fine"),
        "flagged_ddpm": ddpm.get("flagged"),
        "seconds_teacher": teacher.get("seconds_per_clip"),
        "seconds_4": students[4].get("seconds_per_clip"),
        "distill_compute_fraction": cost.get("compute_fraction"),
        "distill_wall_fraction_here": cost.get("wall_fraction_here"),
        "method": method,
    }
    return "RESULT " + " ".join(f"{key}={value if isinstance(value, str) else number(value, 4)}"
                                for key, value in values.items())  # fmt: skip


# --- smoke --------------------------------------------------------------------------------------------------------
def prepare_smoke(args) -> None:
    """A tiny genre-conditioned teacher on the synthesized collection, its dataset, held-out tracks and a genre
    classifier under WORK, so that the whole benchmark runs in a few minutes (numbers mean nothing)."""
    from audiodiff.models import configs_dir
    from audiodiff.synth import write_collection

    work = args.work
    if not (work / "music-train").is_dir():
        write_collection(work / "music-train", SMOKE_GENRES, tracks_per_genre=2, seconds=24.0, seed=0)
    if not (work / "music-held-out").is_dir():
        write_collection(work / "music-held-out", SMOKE_GENRES, tracks_per_genre=4, seconds=24.0, seed=1)
    if not (args.data / "mel_config.json").is_file():
        mel = configs_dir() / "mel" / f"{bench_quality.MEL_PRESET}.yaml"
        bench_quality.audiodiff("prepare", work / "music-train", "--out", args.data, "--mel-config", mel,
                                "--genre-from", "folder", "--num-proc", 1)  # fmt: skip
    if not (args.teacher / "model_index.json").is_file():
        bench_quality.audiodiff("train", "--data", args.data, "--config", "tiny", "--conditional", "--out",
                                args.teacher, "--max-steps", 60, "--checkpoint-every", 0,
                                "--seed", args.seed)  # fmt: skip


# --- command line -------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stage",
        choices=["all", "distill", "evaluate", "ddpm"],
        default="all",
        help="ddpm: only the teacher's DDPM clips, saved to --ddpm-file (e.g. on a GPU machine)",
    )
    parser.add_argument("--work", type=Path, default=None, help=f"bench_quality's working folder (default: {WORK}).")
    parser.add_argument("--teacher", type=Path, default=None, help=f"Teacher folder (default: WORK/{DEFAULT_TEACHER}).")
    parser.add_argument("--data", type=Path, default=None, help="Prepared training slices (default: WORK/dataset).")
    parser.add_argument("--classifier", type=Path, default=None, help="Genre classifier (default: WORK/classifier).")
    parser.add_argument("--students", type=Path, default=None, help="Where students go (default: WORK/runs-distill).")
    parser.add_argument(
        "--load", type=Path, action="append", default=None, help="Evaluate this student (repeatable); no distillation."
    )
    parser.add_argument(
        "--ddpm-file",
        type=Path,
        default=None,
        help="--stage ddpm writes the teacher's DDPM clips here; evaluate reads them from here.",
    )
    parser.add_argument("--methods", default="consistency", help="Comma-separated: consistency, progressive.")
    parser.add_argument("--steps", type=int, default=4, help="The students' steps (consistency: also 2 and 1).")
    parser.add_argument("--guidance", type=float, default=2.0, help="Classifier-free guidance of every sampler.")
    parser.add_argument("--config", default="cpu", help="Distillation preset (configs/distill/NAME.yaml) or YAML.")
    parser.add_argument("--max-steps", type=int, default=None, help="Distillation steps (default: within --budget).")
    parser.add_argument("--budget", type=float, default=0.3, help="Share of the teacher's training compute.")
    parser.add_argument("--distill-batch-size", type=int, default=None, help="Distillation batch (default: preset).")
    parser.add_argument("--distill-genre", default=None, help="Distil on this genre's slices only (default: all).")
    parser.add_argument("--genre", default="electronic", help="Genre generated and scored.")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--ddpm-clips", type=int, default=None, help="Clips of DDPM-1000 (default: 8 on CPU, all).")
    parser.add_argument("--skip-ddpm", action="store_true", help="Leave out DDPM-1000 (hours on a CPU).")
    parser.add_argument("--ddpm-steps", type=int, default=1000, help="DDPM's steps (the reference's: 1000).")
    parser.add_argument("--reference-clips", type=int, default=96, help="Held-out real slices (x2: compared, base).")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--batch-size", type=int, default=8, help="Clips per sampling batch.")
    parser.add_argument("--wavs", type=int, default=4, help="Clips of each sampler written as WAV.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="Device of every stage: auto (cuda, mps, cpu), cuda, cpu.")
    parser.add_argument("--classifier-steps", type=int, default=400, help="When WORK has no classifier yet.")
    parser.add_argument(
        "--teacher-rate-steps", type=int, default=30,
        help="Steps of the teacher's recipe timed on this device, for the wall-time fraction (0: skip).",
    )  # fmt: skip
    parser.add_argument("--smoke", action="store_true", help="Tiny teacher on synthesized music; minutes, not hours.")
    args = parser.parse_args()
    if args.smoke:
        args.work = args.work or Path(tempfile.gettempdir()) / "audiodiff-bench-distill-smoke"
        args.genre = "beats" if args.genre == "electronic" else args.genre
        args.teacher = args.teacher or args.work / "runs" / "teacher"
        args.config = "tiny" if args.config == "cpu" else args.config
        args.clips, args.reference_clips, args.seconds = min(args.clips, 6), min(args.reference_clips, 8), 3.0
        args.ddpm_clips, args.ddpm_steps, args.batch_size, args.wavs = 2, 100, min(args.batch_size, 4), 1
        args.classifier_steps, args.teacher_rate_steps = min(args.classifier_steps, 30), min(args.teacher_rate_steps, 5)
    args.work = (args.work or WORK).expanduser()
    args.teacher = (args.teacher or args.work / DEFAULT_TEACHER).expanduser()
    args.data = (args.data or args.work / "dataset").expanduser()
    args.classifier = (args.classifier or args.work / "classifier").expanduser()
    args.students = (args.students or args.work / "runs-distill").expanduser()
    args.methods = [method.strip() for method in args.methods.split(",") if method.strip()]

    from audiodiff.runtime import resolve_device

    args.device = resolve_device(args.device)
    args.device_name = str(args.device)
    if args.device.type == "cpu":  # distillation and the training-rate run too (accelerate picks a GPU otherwise)
        os.environ["ACCELERATE_USE_CPU"] = "true"
    if args.ddpm_clips is None:
        args.ddpm_clips = args.clips if args.device.type == "cuda" else 8
    if args.smoke:
        prepare_smoke(args)
    if args.stage == "ddpm":
        if args.ddpm_file is None:
            raise SystemExit("--stage ddpm needs --ddpm-file (where the clips go)")
        stage_ddpm(args)
        return
    for path, what in ((args.teacher, "teacher pipeline"), (args.data, "dataset")):
        if not path.exists():
            raise SystemExit(f"{path}: no {what} (run scripts/bench_quality.py first, or pass --teacher/--data)")
    cost = teacher_training_cost(args.teacher)
    if args.load is not None:
        from audiodiff.pipeline import read_metadata

        args.students_to_evaluate = []
        for folder in args.load:
            method = (read_metadata(folder).get("distillation") or {}).get("method")
            if method is None:
                raise SystemExit(f"{folder}: audiodiff.json has no distillation record: not a distilled student")
            label = method if len(args.load) == 1 else f"{method} ({folder.name})"
            args.students_to_evaluate.append((label, folder.expanduser()))
    else:
        args.max_budget_steps = {
            method: args.max_steps or default_max_steps(method, args, cost) for method in args.methods
        }
        args.students_to_evaluate = [
            (method, student_folder(args, method, args.max_budget_steps[method])) for method in args.methods
        ]
        if args.stage in ("all", "distill"):
            stage_distill(args, cost)
        for _, folder in args.students_to_evaluate:
            if args.stage == "evaluate" and not (folder / "model_index.json").is_file():
                raise SystemExit(f"{folder}: no student yet (run --stage distill first, or pass --load STUDENT)")
    if args.stage in ("all", "evaluate"):
        args.teacher_rate_here = measure_training_rate(args.teacher, args.data, args.teacher_rate_steps)
        if args.teacher_rate_here:
            print(f"the teacher's recipe trains at {args.teacher_rate_here:.1f} samples/s here", flush=True)
        stage_evaluate(args, cost)


if __name__ == "__main__":
    main()
