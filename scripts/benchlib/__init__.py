"""What the benchmarks in `scripts/` share, written once.

`python scripts/bench_x.py` puts `scripts/` first on `sys.path`, so every script imports `benchlib` (and
`real_music`) as it stands, without touching `sys.path`. One concept per module:

- `cli`: running `audiodiff` commands in child processes as a user would (plain, quiet, timed), staying offline;
- `machine`: what the machine is (the printed `machine:` line, load average, a one-line description, a record);
- `collection`: the real-music collection's manifest, its training / held-out split, linked track folders, excerpts;
- `quality_study`: the working folder of `bench_quality.py` that `bench_distill.py`, `bench_widths.py` and
  `train_base.py` reuse: thinned datasets, the held-out reference and probe clips, artefact-check fences;
- `known_sets`: the sets whose answer is known (blurred, mean image, shuffled frames, copies, untrained model);
- `sides`: real music on both sides of an evaluation (reference folders, WAV folders, every set against every
  reference);
- `generation`: drawing clips through `audiodiff.sampling` as model-space images;
- `scoring`: clip sets, the `audiodiff evaluate` report of a set and the headline numbers taken from it;
- `tables`: number formatting, markdown tables and the `RESULT key=value ...` last line.
"""
