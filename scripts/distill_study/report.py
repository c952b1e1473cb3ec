"""The tables and the RESULT line of `bench_distill.py`."""

from __future__ import annotations

from benchlib.tables import number
from benchlib.tables import result_line as benchmark_result_line
from distill_study import STUDENT_STEPS


def markdown_tables(rows: dict, distillation: dict, cost: dict, args) -> str:
    """A row per sampler (clips, UNet evaluations, seconds, instrument numbers), the teacher's training cost, and a
    row per distillation (its compute and wall time against the teacher's)."""
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
    """`RESULT unet_evals_teacher=... fd_ratio_4=... ...`: the teacher (DPM-Solver++), DDPM and the first method's
    student at each of `STUDENT_STEPS`; numbers to 4 significant digits, `-` where a row is missing."""

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
    return benchmark_result_line(
        {key: value if isinstance(value, str) else number(value, 4) for key, value in values.items()}
    )
