"""Train the COLA audio embedding that ships with audiodiff (`audiodiff/pretrained/cola-64/`, the "cola" backend of
`audiodiff evaluate`) on the real-music collection.

Data: the same tracks as the shipped base model (`train_base.licensed_split`): the collection's tracks whose licence
allows redistributing a model trained on them under CC-BY-SA-3.0, minus the held-out tracks (every 4th of each
genre), so that every benchmark's held-out music is new to the embedding too. Each track becomes a spectrogram on
the encoder's grid (`audiodiff.evaluation.cola.GRID`, the base model's 64x64 settings; 8-bit, referred to the track's
peak), cut into `--section-seconds` stretches; stretches quieter than -50 dB are left out. Training
(`audiodiff.evaluation.cola.train_cola`): two random 1.49 s crops of one stretch are a positive pair, the other
stretches of the batch the negatives.

    python scripts/train_embedding.py [--steps 900] [--batch 64] [--out audiodiff/pretrained/cola-64]

Last line: `RESULT steps=... sections=... tracks=... minutes=... final_loss=... chance_loss=...`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
from train_base import licensed_split

from benchlib.machine import machine_line
from benchlib.tables import result_line

EXPORT = Path(__file__).resolve().parents[1] / "audiodiff" / "pretrained" / "cola-64"

CARD = """# cola-64: a COLA audio embedding of real music

The default learned embedding of `audiodiff evaluate` (backend "cola"): a {parameters:,}-parameter convolutional
encoder (four blocks of two 3x3 convolutions, channels {channels}, a {dim}-d embedding), {size_kb:.0f} kB in fp16
safetensors. Trained with COLA (Saeed, Grangier and Zeghidour 2021, arXiv 2010.10915): two random 1.49 s crops of one
{section:.0f} s stretch of a track are a positive pair, the other stretches in the batch of {batch} the negatives
(bilinear similarity, InfoNCE); the projection head is not shipped.

- **Input**: spectrogram windows on one grid: 64 Slaney mel bands from 0 to 11025 Hz, 22050/512 frames a second, 80
  dB, each window referred to its own peak. Images of other mel settings are interpolated onto it
  (`audiodiff.evaluation.cola.to_grid`); for the base model's and the demo's settings that is the identity.
- **Data**: {tracks} tracks ({hours:.1f} h, {sections} stretches) of the real-music collection
  (`scripts/real_music.py`), the same training tracks as `audiodiff-base-64`: {packages}. Every 4th track of each
  genre is held out and never seen, as for the base model.
- **Training**: {steps} steps of {batch} pairs, AdamW, learning rate {learning_rate} with 5% warm-up and cosine decay,
  {minutes:.0f} min on {machine}. Loss {first_loss:.2f} -> {final_loss:.2f} (chance: {chance:.2f}). Command:
  `python scripts/train_embedding.py --steps {steps}`.
- **Licence of the weights**: CC-BY-SA-3.0 (the music's licences are CC-BY-SA-3.0 and Expat).
- **Measured**: BENCHMARKS.md, "The COLA embedding".
- **Limits**: trained on three genres of game soundtrack music, 3 h of it; it knows what those share. It
  measures distance from real music of the kind it has heard, not audio quality in general, and it has never heard
  speech, vocals or acoustic recordings of rooms.
"""


def cpu_name() -> str:
    """The CPU's model name and core count (from /proc/cpuinfo), for the card."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        name = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        name = "an unknown CPU"
    return f"{os.cpu_count()} cores of {name}"


def track_sections(collection: Path, files: list[str], section_frames: int) -> list[torch.Tensor]:
    """Each track on the grid (8-bit, referred to the track's peak), cut into `section_frames` stretches; those
    whose mean level is below -50 dB left out."""
    from audiodiff.audio import load_audio
    from audiodiff.codec import SpectrogramCodec
    from audiodiff.config import MelConfig, configs_dir
    from audiodiff.evaluation.cola import GRID
    from audiodiff.spectral import model_to_db

    mel = MelConfig.load(configs_dir() / "mel" / "demo-64.yaml")
    assert (mel.sample_rate, mel.hop_length, mel.n_mels, float(mel.top_db)) == (
        GRID.sample_rate, GRID.hop_length, GRID.n_mels, GRID.top_db,
    )  # fmt: skip
    codec = SpectrogramCodec(mel)
    sections = []
    for file in files:
        image = codec.encode(torch.from_numpy(load_audio(collection / file, mel.sample_rate)))[0, 0]  # 8-bit
        for start in range(0, image.shape[-1] - section_frames + 1, section_frames):
            part = image[:, start : start + section_frames]
            if model_to_db(part, mel.top_db).mean() > -50:
                sections.append(part.clone())
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--section-seconds", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=EXPORT)
    args = parser.parse_args()
    from audiodiff.evaluation.cola import GRID, ColaConfig, save_cola, train_cola
    from benchlib.collection import manifest_by_file
    from real_music import ensure_collection

    machine = machine_line()
    print(machine)
    collection = ensure_collection()
    split = licensed_split(collection)
    files = sorted(file for parts in split.values() for file in parts["train"])
    rows = manifest_by_file(collection)
    section_frames = round(args.section_seconds * GRID.frame_rate)
    sections = track_sections(collection, files, section_frames)
    hours = sum(rows[file]["seconds"] for file in files) / 3600
    print(f"data: {len(files)} tracks, {hours:.1f} h, {len(sections)} stretches of {args.section_seconds:.0f} s")
    losses: list[tuple[int, float]] = []
    started = time.monotonic()

    def log(step: int, loss: float) -> None:
        losses.append((step, loss))
        if step == 1 or step % 50 == 0 or step == args.steps:
            recent = sum(value for _, value in losses[-50:]) / len(losses[-50:])
            print(f"step {step}/{args.steps}  loss {recent:.3f}  {time.monotonic() - started:.0f} s", flush=True)

    config = ColaConfig()
    encoder = train_cola(sections, args.steps, config=config, batch=args.batch, learning_rate=args.learning_rate,
                         seed=args.seed, log=log)  # fmt: skip
    minutes = (time.monotonic() - started) / 60
    batch = min(args.batch, len(sections))
    final = sum(value for _, value in losses[-50:]) / len(losses[-50:])
    first = sum(value for _, value in losses[:10]) / len(losses[:10])
    packages = sorted({f"{rows[f]['package']} {rows[f]['version']} ({rows[f]['license']})" for f in files})
    card = CARD.format(
        parameters=sum(p.numel() for p in encoder.parameters()), channels=config.channels, dim=config.dim,
        size_kb=sum(p.numel() for p in encoder.state_dict().values() if p.is_floating_point()) * 2 / 1024,
        section=args.section_seconds, batch=batch, tracks=len(files), hours=hours, sections=len(sections),
        packages=", ".join(packages), steps=args.steps, learning_rate=args.learning_rate, minutes=minutes,
        machine=cpu_name(), first_loss=first, final_loss=final, chance=math.log(batch),
    )  # fmt: skip
    training = {
        "steps": args.steps, "batch": batch, "learning_rate": args.learning_rate,
        "section_seconds": args.section_seconds, "seed": args.seed, "tracks": files, "sections": len(sections),
        "minutes": round(minutes, 1), "machine": machine,
        "loss_curve": [[step, round(value, 4)] for step, value in losses if step % 25 == 0 or step == 1],
    }  # fmt: skip
    save_cola(encoder, args.out, card=card)
    (args.out / "training.json").write_text(json.dumps(training, indent=1) + "\n")
    print(f"wrote {args.out}")
    print(result_line({
        "steps": args.steps, "sections": len(sections), "tracks": len(files), "minutes": f"{minutes:.1f}",
        "final_loss": f"{final:.3f}", "chance_loss": f"{math.log(batch):.3f}",
    }))  # fmt: skip


if __name__ == "__main__":
    main()
