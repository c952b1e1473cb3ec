"""Does `audiodiff evaluate` prefer music to mush? The instrument scored on real held-out music and on sets whose
answer is known, through the same `run_evaluation` the CLI runs.

On the real-music collection (`scripts/real_music.py`), at the demo's settings (64 mel bands x 64 frames, 1.49 s
slices). Nothing is trained, so every track may serve: per genre, up to `--tracks` tracks a side, alternating (in
name order, spread over the genre): side A is the reference (a folder of WAVs, and the same tracks prepared as a
dataset), side B gives the clips evaluated as "generated":

- real: 6 s excerpts of side B's tracks, as WAV files (cut into slices by the evaluation) and as 4-slice PNGs (one
  long image each, referred to the excerpt's own peak, as `audiodiff generate` writes them), and 1-slice PNGs;
- known-bad, made from the real 1-slice excerpts: Gaussian blur along time and frequency (a wash), the reference's
  mean image plus a little noise, the frames shuffled in time, copies of one clip, and an untrained model's clips.

Each must rank below the real excerpts on the headline numbers: flagged share, precision or recall (the fine log-mel
embedding), and the fine Frechet distance ratio; the same again in the shipped COLA embedding. Real excerpts should
be flagged rarely (target <= 5%) and score a Frechet ratio near 1 against both kinds of reference. The COLA
embedding was trained on the base model's training tracks, some of which serve here as either side.

    python scripts/bench_instrument.py [--genres electronic,rock,cinematic] [--clips 32] [--seed 0]

Last line: `RESULT real_flagged=<max over genres and reference kinds> real_fd=<max> real_recall_ratio=<min>
bad_ranked_below=<share of known-bad rows worse than real on all three> blurred_flagged=<min> real_fd_cola=<max>
real_recall_ratio_cola=<min> bad_ranked_below_cola=<the same with the COLA embedding's precision, recall and FD>`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from audiodiff.codec import SpectrogramCodec
from audiodiff.config import MelConfig, configs_dir
from benchlib.collection import excerpts, split_tracks
from benchlib.known_sets import known_bad_sets, write_pngs
from benchlib.machine import machine_line
from benchlib.scoring import headline
from benchlib.sides import evaluate_sets, reference_folders, write_wavs
from benchlib.tables import result_line
from real_music import default_cache

COLLECTION = default_cache()
WORK = Path(os.environ.get("AUDIODIFF_BENCH_INSTRUMENT", Path.home() / ".cache" / "audiodiff" / "bench-instrument"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", default="electronic,rock,cinematic")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tracks", type=int, default=6, help="tracks per side (reference, evaluated clips)")
    args = parser.parse_args()
    print(machine_line())
    print(f"data: real music, {COLLECTION}: per genre, alternate tracks as the reference and as the evaluated clips")
    mel_file = configs_dir() / "mel" / "demo-64.yaml"
    mel = MelConfig.load(mel_file)
    codec = SpectrogramCodec(mel)
    split = split_tracks(COLLECTION)
    rows = []
    for genre in args.genres.split(","):
        # Nothing is trained here, so every track of the genre may serve; alternate tracks go to each side, at most
        # `--tracks` a side, so that the reference's split into compared and baseline clips has several tracks.
        tracks = [COLLECTION / file for file in split[genre]["train"] + split[genre]["held_out"]]
        tracks = sorted(tracks)[:: max(1, len(tracks) // (2 * args.tracks))]
        side_a, side_b = tracks[0::2][: args.tracks], tracks[1::2][: args.tracks]
        work = WORK / genre
        reference, dataset = reference_folders(work, genre, side_a, mel_file)
        generator = torch.Generator().manual_seed(args.seed)
        long_audio = excerpts(side_b, mel, 4, args.clips, generator)
        one_audio = excerpts(side_b, mel, 1, args.clips, generator)
        sets: dict[str, Path] = {}
        sets["real 6 s WAV"] = write_wavs(long_audio, work / "sets" / "real 6 s WAV", mel.sample_rate)
        long_images = codec.encode(torch.from_numpy(long_audio))[..., : 4 * mel.x_res]
        sets["real 6 s PNG"] = write_pngs(long_images, work / "sets" / "real 6 s PNG", "excerpt")
        one = codec.encode(torch.from_numpy(one_audio))
        sets["real 1-slice PNG"] = write_pngs(one, work / "sets" / "real 1-slice PNG", "excerpt")
        noise = 0.05 * torch.randn(one.shape, generator=generator)
        reference_images = codec.encode(torch.from_numpy(excerpts(side_a, mel, 1, args.clips, generator)))
        sets.update(known_bad_sets(one, reference_images, noise, generator, work / "sets", mel, args.clips, args.seed))
        references = {"WAV folder": reference, "dataset": dataset}
        rows += evaluate_sets(sets, references, work / "reports", headline, genre, count=args.clips, mel_config=mel,
                              seed=args.seed)  # fmt: skip
    (WORK / "rows.json").write_text(json.dumps(rows, indent=2) + "\n")
    print()
    print("| genre | reference | set | flagged | precision | recall | coverage | FD fine ratio | FD log-mel ratio | "
          "COLA precision | COLA recall | FD COLA ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['genre']} | {row['reference']} | {row['set']} | {100 * row['flagged']:.0f}% "
              f"{','.join(row['reasons'])} | {row['precision']:.2f} ({row['real_precision']:.2f}) | "
              f"{row['recall']:.2f} ({row['real_recall']:.2f}) | {row['coverage']:.2f} | {row['fd_fine']} | "
              f"{row['fd_log_mel']} | {row['precision_cola']:.2f} ({row['real_precision_cola']:.2f}) | "
              f"{row['recall_cola']:.2f} ({row['real_recall_cola']:.2f}) | {row['fd_cola']} |")  # fmt: skip
    real = [row for row in rows if row["set"].startswith("real")]
    known_bad = [row for row in rows if not row["set"].startswith("real")]

    def worse(row, suffix: str = "", fd: str = "fd_fine") -> bool:
        """Worse than every real set of its genre and reference kind: flagged more, or precision or recall under
        0.6x real's, or twice the Frechet ratio (fine log-mel, or with suffix "_cola" the COLA embedding's)."""
        peers = [r for r in real if r["genre"] == row["genre"] and r["reference"] == row["reference"]]
        return all(
            row["flagged"] > peer["flagged"]
            or min(row["precision" + suffix], row["recall" + suffix])
            < 0.6 * min(peer["precision" + suffix], peer["recall" + suffix])
            or (row[fd] or 0) > 2 * (peer[fd] or 0)
            for peer in peers
        )

    blurred = [row["flagged"] for row in known_bad if row["set"].startswith("blurred")]
    print(result_line({
        "real_flagged": f"{max(row['flagged'] for row in real):.3f}",
        "real_fd": f"{max(row['fd_fine'] or 0 for row in real):.2f}",
        "real_recall_ratio": f"{min(row['recall'] / max(row['real_recall'], 1e-9) for row in real):.2f}",
        "bad_ranked_below": f"{sum(map(worse, known_bad)) / len(known_bad):.2f}",
        "blurred_flagged": f"{min(blurred):.2f}",
        "real_fd_cola": f"{max(row['fd_cola'] or 0 for row in real):.2f}",
        "real_recall_ratio_cola": f"{min(row['recall_cola'] / max(row['real_recall_cola'], 1e-9) for row in real):.2f}",
        "bad_ranked_below_cola": f"{sum(worse(row, '_cola', 'fd_cola') for row in known_bad) / len(known_bad):.2f}",
    }))  # fmt: skip


if __name__ == "__main__":
    main()
