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
import os
import tempfile
from pathlib import Path

from benchlib.cli import audiodiff, stay_offline
from benchlib.quality_study import MEL_PRESET, WORK
from distill_study.clips import stage_ddpm
from distill_study.cost import (
    default_max_steps,
    measure_training_rate,
    stage_distill,
    student_folder,
    teacher_training_cost,
)
from distill_study.evaluate import stage_evaluate

# Nothing in this benchmark may download: every model, dataset and reference is a local folder.
stay_offline()

DEFAULT_TEACHER = Path("runs") / "long" / "base"
SMOKE_GENRES = ("beats", "pads", "arpeggios")


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
        mel = configs_dir() / "mel" / f"{MEL_PRESET}.yaml"
        audiodiff("prepare", work / "music-train", "--out", args.data, "--mel-config", mel, "--genre-from", "folder",
                  "--num-proc", 1)  # fmt: skip
    if not (args.teacher / "model_index.json").is_file():
        audiodiff("train", "--data", args.data, "--config", "tiny", "--conditional", "--out", args.teacher,
                  "--max-steps", 60, "--checkpoint-every", 0, "--seed", args.seed)  # fmt: skip


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
