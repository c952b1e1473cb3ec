"""The parts of `bench_recipes.py` (which training recipe makes the best spectrogram model for the same compute),
one concept a module:

- `settings`: the recipes, the fixed sampler and seeds, the settings that decide a run's result (hashed for reuse);
- `data`: synthesized training and held-out tracks, the prepared dataset, reference and probe clips, the classifier;
- `run`: one (recipe, seed) run in a child process: train, generate, score; the instrument's known sets;
- `parent`: every run in `--jobs` child processes, their progress, reuse of finished runs;
- `results`: the per-recipe table (summary.json, table.md);
- `figures`: the loss curves and the contact sheets.
"""


def log(message: str) -> None:
    """A progress line, flushed at once (the parent reads each child's log while it runs)."""
    print(message, flush=True)
