"""The parts of `bench_distill.py` (few-step students against their teacher on real music), one concept a module:

- `cost`: the teacher's training cost, the distillation budget and stage, the student's cost as a fraction of it;
- `clips`: timed sampling of a teacher or student, UNet evaluations per one-slice clip, the DDPM clips stage;
- `evaluate`: the evaluate stage (every sampler scored, figures, WAVs, summary.json, table.md, the RESULT line);
- `report`: the markdown tables and the RESULT line.
"""

STUDENT_STEPS = (4, 2, 1)  # a consistency student serves all three
TEACHER_DPM_STEPS = 20
