"""Genre share over several genre classifiers: how sure the benchmarks can be of that number.

A benchmark's genre share is the share of a set's windows that a small classifier (`audiodiff train-classifier`, 600
steps) calls the target genre. The benchmarks trained it without a seed, so a random one, and one trained again
puts the same clips' share elsewhere: the shipped base's electronic clips, the same to the digit on both CPU kinds,
scored 0.93 with the classifier trained on one and 0.89 with the one trained on the other. So the benchmarks train
their classifiers with fixed seeds, score every set with each, and report the spread beside the first one's share
(the one `audiodiff evaluate` gets).
"""

from __future__ import annotations

import json
from pathlib import Path

CLASSIFIER_SEEDS = (0, 1, 2)
CLASSIFIER_STEPS = 600


def classifier_folder(work: Path, seed: int) -> Path:
    """Where the classifier of `seed` lives: `work/classifier` for the first seed (the one the reports use),
    `work/classifier-seed<k>` for the others."""
    return work / ("classifier" if seed == CLASSIFIER_SEEDS[0] else f"classifier-seed{seed}")


def trained_classifiers(work: Path, data: Path, seeds=CLASSIFIER_SEEDS, steps: int = CLASSIFIER_STEPS) -> list[Path]:
    """One classifier per seed on `data`, trained (`audiodiff train-classifier --seed`) where its folder holds none
    of that seed (an earlier run's classifier of another or a random seed is trained again). Returns the folders,
    the first seed's first."""
    from benchlib.cli import audiodiff

    folders = []
    for seed in seeds:
        folder = classifier_folder(work, seed)
        report = folder / "training_report.json"
        if not report.is_file() or json.loads(report.read_text()).get("seed") != seed:
            audiodiff("train-classifier", "--data", data, "--out", folder, "--max-steps", steps, "--seed", seed,
                      "--device", "cpu", quiet=True)  # fmt: skip
        folders.append(folder)
    return folders


def genre_shares(clips: Path, mel, classifiers: list[Path], genre: str, count: int) -> list[float]:
    """For each classifier, the share of the windows of up to `count` clips of `clips` (a folder or dataset, read
    as `audiodiff evaluate` reads a generated set: a folder of WAVs one slice per clip, images whole) that it calls
    `genre`; `mel`: the clips' `MelConfig`."""
    from audiodiff.classifier import GenreClassifier
    from audiodiff.evaluation.clips import open_source, select_refs
    from audiodiff.evaluation.metrics import genre_share
    from audiodiff.evaluation.sets import as_windows

    source = open_source(clips, mel)
    windows = as_windows(source.load(select_refs(source.refs, count, None, None), "cpu"), mel.x_res).images
    shares = []
    for folder in classifiers:
        classifier = GenreClassifier.from_pretrained(folder)
        shares.append(genre_share(classifier.predict_proba(windows), list(classifier.genres).index(genre)))
    return shares


def spread_text(shares: list[float]) -> str:
    """`"0.64 (0.58-0.77)"`: the first classifier's share, then the range over all of them."""
    return f"{shares[0]:.2f} ({min(shares):.2f}-{max(shares):.2f})"
