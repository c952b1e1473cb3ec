"""How steady the artefact check's fences are: fitted on N reference windows, how far they move between draws and
how the flagged share of the same clips moves with them.

Reads the last `bench_base.py` run's work folder (its held-out WAV reference and clip sets, per genre; run that
first). For each genre and N in `--sizes` (and every window of the reference), N reference windows are drawn `--draws`
times with different seeds, the fences fitted on them (`audiodiff.artifacts.Fences.fit`), and the sets' clips checked
against them (`clip_reasons`): the real held-out 6 s excerpts (what must pass), the base model's clips and the
blurred real clips (what must be flagged). `audiodiff evaluate` fitted its fences on the 2N clips of an N-clip
evaluation until it drew `FENCE_SAMPLE` (1024) windows whatever N; this is the measurement behind that.

    python scripts/bench_fences.py [--genres rock,electronic,cinematic] [--sizes 32,64,256,1024] [--draws 4]

Last line: `RESULT <set>_<genre>_spread_<N>=<max - min flagged share over the draws> ... real_max_<N>=<the largest
real flagged share over draws and genres>` for the smallest and largest N (`set`: base, real).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from audiodiff.artifacts import Fences, clip_reasons, comparable_windows, image_statistics
from audiodiff.config import MelConfig
from audiodiff.evaluation.clips import open_source
from audiodiff.pretrained import DEFAULT_BASE, shipped_folder
from benchlib.machine import machine_line
from benchlib.sides import whole_clips
from benchlib.tables import result_line

WORK = Path(os.environ.get("AUDIODIFF_BENCH_BASE", Path.home() / ".cache" / "audiodiff" / "bench-base"))
SETS = {"real": "real held-out 6 s", "base": "base model", "blurred": "blurred (sigma 2 px)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", default="rock,electronic,cinematic")
    parser.add_argument("--sizes", default="32,64,256,1024", help="reference windows drawn, comma-separated")
    parser.add_argument("--draws", type=int, default=4)
    args = parser.parse_args()
    print(machine_line())
    mel = MelConfig.load(shipped_folder(DEFAULT_BASE) / "mel" / "mel_config.json")
    width, top_db = mel.x_res, float(mel.top_db)
    sizes = [int(size) for size in args.sizes.split(",")]
    spreads: dict[str, float] = {}
    real_max: dict[int, float] = {}
    print("| genre | reference windows | draw | spectral detail fence dB | real flagged | base flagged | blurred "
          "flagged |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for genre in args.genres.split(","):
        reference = open_source(WORK / genre / "reference", mel)
        images = reference.load(reference.refs).images
        statistics = image_statistics(comparable_windows(images, width)[0], top_db)
        total = len(statistics["spectral_detail"])
        clips = {key: whole_clips(WORK / genre / "sets" / name, mel) for key, name in SETS.items()}
        for size in [*sizes, total]:
            if size > total:
                continue
            shares: dict[str, list[float]] = {key: [] for key in SETS}
            for draw in range(args.draws if size < total else 1):
                chosen = torch.randperm(total, generator=torch.Generator().manual_seed(draw))[:size]
                fences = Fences.fit({name: values[chosen] for name, values in statistics.items()})
                for key, images_of_set in clips.items():
                    reasons = clip_reasons(images_of_set, fences, width, top_db)
                    shares[key].append(sum(map(bool, reasons)) / len(reasons))
                label = "all" if size == total else str(size)
                print(f"| {genre} | {label} ({size}) | {draw} | {fences.limits['spectral_detail']:.3f} | "
                      f"{100 * shares['real'][-1]:.0f}% | {100 * shares['base'][-1]:.0f}% | "
                      f"{100 * shares['blurred'][-1]:.0f}% |")  # fmt: skip
            if size in (sizes[0], sizes[-1]):
                for key in ("base", "real"):
                    spreads[f"{key}_{genre}_spread_{size}"] = max(shares[key]) - min(shares[key])
                real_max[size] = max(real_max.get(size, 0.0), *shares["real"])
    print(result_line({
        **{key: f"{value:.2f}" for key, value in spreads.items()},
        **{f"real_max_{size}": f"{value:.2f}" for size, value in real_max.items()},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
