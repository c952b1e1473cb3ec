"""Does a label that tells the base its tempo give its 6 s clips a beat? A study, not a benchmark of a shipped path.

The base's 6 s clips hold about a third of real music's pulse (`bench_pulse.py`), and the windows `generate` joins
may each pick their own beat. If every window is told the same tempo, do they agree? This study continues the
shipped base on its own training data with tempo classes, then measures the pulse of 6 s clips per class:

1. `tempos`: each electronic and rock training track's tempo (`audiodiff.beats.bar_grid` on the whole track), put
   in one of three bins (under 105 BPM: 95; 105-125: 115; 125 and up: 135);
2. `data`: the base's prepared training data relabelled: three quarters of each electronic and rock track's slices
   (drawn at random, seed 0) get the class `GENRE-BINbpm`, the rest keep their plain genre (so that the plain label
   keeps learning every tempo); cinematic keeps its label;
3. `expand`: the shipped base with the six new classes, each row started from its genre's row plus Gaussian noise
   of standard deviation `--row-noise` (0: a copy of the genre's row);
4. `train`: `audiodiff finetune EXPANDED --data DATA --config base --max-steps N --learning-rate 1e-4
   --mixed-precision bf16`;
5. `measure`: for each label, `--clips` 6 s clips (dpm-sde, 60 steps, seeds 0, 4, 8, ... in batches of 4; every
   label gets the same noise), their pulse clarity (median and quartiles) and the tempo of each clip's strongest
   onset period folded into 80-160 BPM; and how far each class row ended from the genre's row.

    python scripts/study_tempo_labels.py --work W [--stages tempos,data,expand,train,measure] [--max-steps 2000]
        [--row-noise 0.7] [--clips 8] [--labels ...]

Last line: `RESULT pulse_plain=<median over the plain genres' clips> pulse_tempo=<median over the tempo classes'>
row_distance=<the tempo rows' median distance from their genre's row>`.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import time
from pathlib import Path

import soundfile
import torch

from audiodiff.artifacts import onset_autocorrelation, pulse_clarity
from audiodiff.beats import bar_grid
from audiodiff.models import add_genre
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.pretrained import DEFAULT_BASE, resolve
from benchlib.cli import audiodiff
from benchlib.machine import machine_line
from benchlib.tables import result_line

TEMPO_GENRES = ("electronic", "rock")
BINS = (95, 115, 135)
PLAIN_SHARE = 0.25
BATCH = 4


def tempo_bin(bpm: float) -> int:
    return BINS[0] if bpm < 105 else BINS[1] if bpm < 125 else BINS[2]


def class_names(genres: list[str]) -> list[str]:
    return [*genres, *(f"{genre}-{bpm}bpm" for genre in TEMPO_GENRES for bpm in BINS)]


def track_tempos(data: Path, out: Path) -> dict[str, float]:
    from datasets import load_from_disk

    rows = load_from_disk(str(data))
    names = rows.features["genre"].names
    tempos = {}
    for file, genre in sorted(set(zip(rows["audio_file"], rows["genre"]))):
        if names[genre] in TEMPO_GENRES:
            audio, rate = soundfile.read(file, dtype="float32", always_2d=True)
            tempos[file] = round(bar_grid(audio.mean(axis=1), rate).tempo_bpm, 1)
            print(f"  {names[genre]} {Path(file).name}: {tempos[file]} BPM", flush=True)
    out.write_text(json.dumps(tempos, indent=1))
    return tempos


def relabelled(data: Path, tempos: dict[str, float], out: Path) -> None:
    from datasets import ClassLabel, load_from_disk

    rows = load_from_disk(str(data))
    genres = rows.features["genre"].names
    names = class_names(genres)
    draw = random.Random(0)

    def relabel(row):
        genre = genres[row["genre"]]
        if row["audio_file"] in tempos and draw.random() >= PLAIN_SHARE:
            row["genre"] = names.index(f"{genre}-{tempo_bin(tempos[row['audio_file']])}bpm")
        return row

    rows = rows.cast_column("genre", ClassLabel(names=names)).map(relabel, load_from_cache_file=False)
    shutil.rmtree(out, ignore_errors=True)
    rows.save_to_disk(str(out))
    shutil.copy(data / "mel_config.json", out / "mel_config.json")
    record = json.loads((data / "audiodiff_dataset.json").read_text())
    (out / "audiodiff_dataset.json").write_text(json.dumps({**record, "genres": names}, indent=2))
    print(
        "  "
        + ", ".join(f"{names[index]}: {count}" for index, count in sorted(collections.Counter(rows["genre"]).items()))
    )


def expanded(base: str, row_noise: float, out: Path) -> None:
    pipeline = AudioDiffusionPipeline.from_pretrained(resolve(base))
    genres = list(pipeline.genres)
    known = len(genres)
    for genre in TEMPO_GENRES:
        for bpm in BINS:
            genres = add_genre(pipeline.unet, genres, f"{genre}-{bpm}bpm", start_from=genres.index(genre))
    pipeline.genres = genres
    rows = pipeline.unet.class_embedding.weight
    with torch.no_grad():
        noise = torch.randn(rows[known:-1].shape, generator=torch.Generator().manual_seed(0))
        rows[known:-1] += row_noise * noise.to(rows.dtype)
    pipeline.save_pretrained(out)


def strongest_tempo(images: torch.Tensor, top_db: float, rate: float) -> torch.Tensor:
    """Each clip's onset period of largest autocorrelation (`onset_autocorrelation`, 60-200 BPM) as BPM, folded into
    80-160 BPM."""
    lags, correlations = onset_autocorrelation(images, top_db, rate)
    bpm = 60 * rate / torch.tensor(list(lags))[correlations.argmax(-1)].float()
    while ((bpm < 80) | (bpm >= 160)).any():
        bpm = torch.where(bpm < 80, bpm * 2, torch.where(bpm >= 160, bpm / 2, bpm))
    return bpm


def measure(model: Path, labels: list[str], clips: int) -> dict[str, float]:
    pipeline = AudioDiffusionPipeline.from_pretrained(model)
    pipeline.set_scheduler("dpm-sde")
    pipeline.set_progress_bar_config(disable=True)
    mel = pipeline.mel_config
    rate = mel.sample_rate / mel.hop_length
    rows = pipeline.unet.class_embedding.weight.detach()
    medians: dict[str, float] = {}
    distances = []
    for label in labels:
        started = time.perf_counter()
        images = torch.cat([
            pipeline(batch_size=min(BATCH, clips - start), genre=label, seconds=6.0, num_inference_steps=60,
                     output_type="pt", generator=torch.Generator().manual_seed(start)).images
            for start in range(0, clips, BATCH)
        ])  # fmt: skip
        pulse, bpm = pulse_clarity(images, mel.top_db, rate), strongest_tempo(images, mel.top_db, rate)
        medians[label] = float(pulse.median())
        parent = label.split("-")[0]
        distance = float((rows[pipeline.genres.index(label)] - rows[pipeline.genres.index(parent)]).norm())
        if label != parent:
            distances.append(distance)
        print(
            f"  {label}: pulse {pulse.median():.3f} ({pulse.quantile(0.25):.3f}-{pulse.quantile(0.75):.3f}) over "
            f"{len(pulse)}; strongest tempo {bpm.median():.0f} ({bpm.quantile(0.25):.0f}-{bpm.quantile(0.75):.0f}) "
            f"BPM; row {distance:.2f} from {parent}'s; {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    plain = [value for label, value in medians.items() if "-" not in label]
    tempo = [value for label, value in medians.items() if "-" in label]
    median = lambda values: float(torch.tensor(values).median()) if values else float("nan")  # noqa: E731
    return {"pulse_plain": median(plain), "pulse_tempo": median(tempo), "row_distance": median(distances)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--base", default=DEFAULT_BASE)
    parser.add_argument(
        "--data",
        type=Path,
        default=Path.home() / ".cache" / "audiodiff" / "base-64" / "dataset",
        help="the base's prepared training data (scripts/train_base.py --stage data)",
    )
    parser.add_argument("--stages", default="tempos,data,expand,train,measure")
    parser.add_argument("--max-steps", type=int, default=2000)
    parser.add_argument("--row-noise", type=float, default=0.7)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument(
        "--labels",
        default=",".join(
            ["electronic", *(f"electronic-{bpm}bpm" for bpm in BINS), "rock", *(f"rock-{bpm}bpm" for bpm in BINS)]
        ),
    )
    args = parser.parse_args()
    stages = args.stages.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    if "tempos" in stages:
        track_tempos(args.data, args.work / "tempos.json")
    if "data" in stages:
        relabelled(args.data, json.loads((args.work / "tempos.json").read_text()), args.work / "dataset")
    if "expand" in stages:
        expanded(args.base, args.row_noise, args.work / "expanded")
    if "train" in stages:
        audiodiff("finetune", args.work / "expanded", "--data", args.work / "dataset", "--config", "base",
                  "--max-steps", args.max_steps, "--learning-rate", "1e-4", "--mixed-precision", "bf16",
                  "--out", args.work / "model")  # fmt: skip
    if "measure" in stages:
        result = measure(args.work / "model", args.labels.split(","), args.clips)
        print(result_line({key: f"{value:.3f}" for key, value in result.items()}))


if __name__ == "__main__":
    main()
