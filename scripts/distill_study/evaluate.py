"""The evaluate stage of `bench_distill.py`: the teacher (DDPM, DPM-Solver++) and each student at its steps, on the
same seeds, scored against `bench_quality.py`'s held-out reference; figures, WAVs, summary.json, table.md."""

from __future__ import annotations

import json
import sys

from benchlib import scoring
from benchlib.cli import audiodiff
from benchlib.machine import machine_record
from benchlib.quality_study import load_reference
from benchlib.scoring import score_and_save, set_slug
from distill_study import STUDENT_STEPS, TEACHER_DPM_STEPS
from distill_study.clips import load_ddpm, mean_windows, sample, warm_up
from distill_study.cost import distillation_cost
from distill_study.report import markdown_tables, result_line


def stage_evaluate(args, cost: dict) -> None:
    from audiodiff.audio import save_audio
    from audiodiff.classifier import GenreClassifier
    from audiodiff.config import MelConfig
    from audiodiff.pipeline import AudioDiffusionPipeline

    results = args.work / "results-distill"
    results.mkdir(parents=True, exist_ok=True)
    mel = MelConfig.find(args.data)
    if not (args.classifier / "config.json").is_file():
        audiodiff("train-classifier", "--data", args.data, "--out", args.classifier, "--max-steps",
                  args.classifier_steps, "--seed", args.seed, "--device", "cpu")  # fmt: skip
    classifier = GenreClassifier.from_pretrained(args.classifier)
    # bench_quality's reference: held-out tracks of the genre (WORK/music-held-out), scored against in two halves.
    reference, _, real_long = load_reference(args, mel)
    rows: dict[str, dict] = {}

    def record(name: str, images, audios=None, **numbers) -> None:
        source = set_slug(name).replace("+", "")
        clips, report = score_and_save(images, mel, source, args.genre, reference, classifier, results)
        rows[name] = {"clips": len(images), **numbers, **scoring.summary(report)}
        # Spread of the clips (mean pairwise log-mel distance) over the reference's: averaged, blurred clips can score
        # low Frechet distances, and this is where they show.
        rows[name]["diversity"] = report.get("diversity", {}).get("ratio_to_reference")
        print(f"{name:<40} " + "  ".join(f"{key}={value}" for key, value in rows[name].items()), flush=True)
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
        "machine": machine_record(args.device_name),
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
