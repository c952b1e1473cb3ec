"""The data every run shares, made once in WORK/<data key>/: synthesized training and held-out tracks, the
prepared dataset, the reference and probe clips and the genre classifier."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import time
from pathlib import Path

from benchlib.cli import audiodiff
from recipe_study import log
from recipe_study.settings import PROBE_TRACKS, REFERENCE_TRACKS, Settings


# --- data: synthesized tracks, the prepared dataset, held-out references and the genre classifier ---------------------
def _write_genre(folder: str, genre: str, tracks: int, seconds: float, seed: int, sample_rate: int) -> str:
    from audiodiff.synth import write_collection

    write_collection(
        folder, genres=(genre,), tracks_per_genre=tracks, seconds=seconds, sample_rate=sample_rate, seed=seed
    )
    return genre


def stage_data(args, settings: Settings) -> dict:
    """The training dataset, the reference and probe clip sets and the classifier in WORK/<data key>/ (reused when
    present). Training tracks use synthesizer seed 0, held-out tracks seed 1 (different music)."""
    from audiodiff.synth import GENRES

    data_dir = args.work / settings.data_key()
    ready = data_dir / "ready.json"
    if ready.is_file():
        log(f"data: reusing {data_dir}")
        return json.loads(ready.read_text())
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    timings: dict[str, float] = {}
    begin = time.perf_counter()
    sample_rate = settings.mel["sample_rate"]
    jobs = [
        (str(data_dir / "music-train"), genre, settings.tracks_per_genre, settings.track_seconds, 0) for genre in GENRES
    ]
    jobs += [
        (str(data_dir / "music-held-out"), genre, settings.held_out_tracks, settings.held_out_seconds, 1)
        for genre in GENRES
    ]
    with concurrent.futures.ProcessPoolExecutor(min(len(jobs), os.cpu_count() or 1)) as pool:
        list(pool.map(_write_genre, *zip(*jobs), [sample_rate] * len(jobs)))
    timings["synthesize"] = time.perf_counter() - begin
    log(
        f"data: synthesized {len(GENRES)} genres x ({settings.tracks_per_genre} training + "
        f"{settings.held_out_tracks} held-out) tracks in {timings['synthesize']:.1f} s"
    )

    begin = time.perf_counter()
    from audiodiff.config import MelConfig
    from audiodiff.data import load_spectrogram_dataset, prepare_dataset

    mel = MelConfig(**settings.mel)
    prepare_dataset(
        [data_dir / "music-train"], data_dir / "dataset", mel_config=mel, genre_from="folder", progress=False
    )
    dataset = load_spectrogram_dataset(data_dir / "dataset")
    timings["prepare"] = time.perf_counter() - begin
    log(f"data: prepared {len(dataset)} training slices ({', '.join(dataset.genres)}) in {timings['prepare']:.1f} s")

    begin = time.perf_counter()
    reference, probe = build_reference(data_dir, mel, settings.clips_per_genre)
    import torch

    torch.save(reference, data_dir / "reference.pt")
    torch.save(probe, data_dir / "probe.pt")
    timings["reference"] = time.perf_counter() - begin
    log(
        f"data: {len(reference['names'])} reference and {len(probe['names'])} probe clips from held-out tracks in "
        f"{timings['reference']:.1f} s"
    )

    begin = time.perf_counter()
    device = "cpu" if args.device == "cpu" else ("cuda" if torch.cuda.is_available() else "cpu")
    audiodiff(
        "train-classifier",
        "--data",
        data_dir / "dataset",
        "--out",
        data_dir / "classifier",
        "--max-steps",
        settings.classifier_steps,
        "--input-size",
        min(64, mel.x_res, mel.y_res),
        "--seed",
        0,
        "--device",
        device,
    )
    timings["classifier"] = time.perf_counter() - begin
    report = json.loads((data_dir / "classifier" / "training_report.json").read_text())
    log(f"data: genre classifier in {timings['classifier']:.1f} s, held-out accuracy {report['held_out_accuracy']}")
    info = {
        "folder": str(data_dir),
        "training_slices": len(dataset),
        "genres": list(dataset.genres),
        "reference_clips": len(reference["names"]),
        "probe_clips": len(probe["names"]),
        "classifier_held_out_accuracy": report["held_out_accuracy"],
        "seconds": {key: round(value, 1) for key, value in timings.items()},
    }
    ready.write_text(json.dumps(info, indent=1) + "\n")
    return info


def build_reference(data_dir: Path, mel, per_genre: int) -> tuple[dict, dict]:
    """Reference and probe clips from the held-out tracks, as `ClipSet` fields (images `(N, 1, n_mels, x_res)`).

    Reference: held-out tracks 0-7 of each genre, `per_genre / 4` slices each spread over the track, in the order
    track 0 of every genre, then track 1, ...: `evaluate`'s split by track (each track to the side with fewer clips)
    then alternates sides, giving the compared and the baseline side four tracks of each genre, `per_genre` clips of
    every genre each. Probe (real music scored like a generator): tracks 8-11, `per_genre` clips per genre.
    """
    from audiodiff.evaluation.clips import FolderClips
    from audiodiff.synth import GENRES

    source = FolderClips(data_dir / "music-held-out", mel)
    by_track: dict[str, list] = {}
    for ref in source.refs:
        by_track.setdefault(ref.group, []).append(ref)

    def pick(tracks: range, count: int) -> dict:
        chosen = []
        for track in tracks:
            for genre in GENRES:
                refs = by_track[f"{genre}/{genre}_{track}.wav"]
                if count > len(refs):
                    raise SystemExit(f"held-out tracks have {len(refs)} slices, {count} needed: lengthen them")
                spacing = len(refs) / count
                chosen += [refs[int(spacing * (index + 0.5))] for index in range(count)]
        clips = source.load(chosen)
        if len(clips) != len(chosen):
            raise SystemExit(f"{len(chosen) - len(clips)} held-out slices are near-silent: the reference is unbalanced")
        return {"images": clips.images, "genres": clips.genres, "groups": clips.groups, "names": clips.names}

    reference = pick(range(REFERENCE_TRACKS), per_genre // (REFERENCE_TRACKS // 2))
    probe = pick(range(REFERENCE_TRACKS, REFERENCE_TRACKS + PROBE_TRACKS), per_genre // PROBE_TRACKS)
    return reference, probe


def stored_set(fields: dict, mel, source: str, kind: str):
    """`ClipSet` of clips saved as fields (`build_reference`'s reference or probe: images, genres, groups, names)."""
    from audiodiff.evaluation.clips import ClipSet

    return ClipSet(
        fields["images"], mel, list(fields["genres"]), list(fields["groups"]), list(fields["names"]), source, kind
    )
