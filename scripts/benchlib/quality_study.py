"""The real-music study of `bench_quality.py`, whose working folder `bench_distill.py`, `bench_widths.py` and
`train_base.py` reuse: where it lives, its mel settings, thinning a prepared dataset, and the held-out reference."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

WORK = Path(os.environ.get("AUDIODIFF_BENCH_QUALITY", Path.home() / ".cache" / "audiodiff" / "bench-quality"))
MEL_PRESET = "demo-64"


def thin_dataset(source: Path, target: Path, rows_per_genre: int, block: int = 1) -> None:
    """Keep at most `rows_per_genre` rows per genre, the same share of each track's slices, evenly spaced in blocks
    of `block` consecutive slices (1: single slices; `bench_widths.py` keeps blocks for variable-width crops)."""
    from datasets import load_from_disk

    dataset = load_from_disk(str(source))
    arrow = dataset.with_format("arrow")
    genres = np.asarray(arrow["genre"].to_numpy())
    files, numbers = arrow["audio_file"].to_pylist(), arrow["slice"].to_pylist()
    keep: list[int] = []
    for genre in np.unique(genres):
        rows = np.flatnonzero(genres == genre)
        share = min(1.0, rows_per_genre / len(rows))
        by_track: dict[str, list[int]] = {}
        for row in rows:
            by_track.setdefault(files[row], []).append(int(row))
        for track_rows in by_track.values():
            track_rows.sort(key=lambda row: numbers[row])
            count = max(1, round(len(track_rows) * share / block))
            starts = np.linspace(0, max(0, len(track_rows) - block), count).round().astype(int)
            for start in sorted(set(starts.tolist())):
                keep += track_rows[start : start + block]
    keep = sorted(set(keep))
    if target.exists():
        shutil.rmtree(target)
    dataset.select(keep).save_to_disk(str(target))
    for name in ("mel_config.json", "audiodiff_dataset.json"):
        shutil.copyfile(source / name, target / name)
    print(f"thinned {len(dataset)} -> {len(keep)} rows ({rows_per_genre} per genre at most, blocks of {block})")


def load_reference(args, mel):
    """The held-out tracks of the genre in two disjoint groups: the reference every set is scored against (slices;
    `evaluate` splits it again by track into compared and baseline clips), and probe tracks, the real music scored
    like a generator (slices, and long continuous excerpts each encoded as one image).

    `args`: `work` (holding `music-held-out/`), `genre`, `seed`, `reference_clips`, `clips`, `seconds`. Returns the
    reference and probe `ClipSet`s and the long excerpts `(clips, 1, n_mels, frames)` in [-1, 1]."""
    import torch

    from audiodiff.codec import SpectrogramCodec
    from audiodiff.evaluation.clips import FolderClips, select_refs

    source = FolderClips(args.work / "music-held-out", mel)
    files = sorted({ref.path for ref in source.refs if ref.genre == args.genre})
    probe_files = set(files[::3])
    generator = torch.Generator().manual_seed(args.seed)
    reference_refs = [ref for ref in source.refs if ref.genre == args.genre and ref.path not in probe_files]
    probe_refs = [ref for ref in source.refs if ref.path in probe_files]
    clips = source.load(select_refs(reference_refs, 2 * args.reference_clips, None, generator))
    probe = source.load(select_refs(probe_refs, args.clips, None, generator))
    # Long excerpts: `seconds`-long stretches of held-out tracks, each encoded as one image (continuous music).
    from audiodiff.audio import load_audio

    frames = round(args.seconds * mel.sample_rate / mel.hop_length)
    length = (frames - 1) * mel.hop_length
    from audiodiff.data.encoding import DEFAULT_MIN_LOUDNESS_DB, slice_loudness_db

    codec = SpectrogramCodec(mel)
    excerpts = []
    for path in sorted(probe_files):
        audio = load_audio(path, mel.sample_rate)
        pieces = [audio[start : start + length] for start in range(0, len(audio) - length, 4 * length)]
        # Like the reference slices: no near-silent stretch (a fade-out is not music to compare with).
        excerpts += [piece for piece in pieces if slice_loudness_db(piece[None])[0] >= DEFAULT_MIN_LOUDNESS_DB]
    long_audio = torch.from_numpy(np.stack(excerpts[:: max(1, len(excerpts) // args.clips)][: args.clips]))
    long_images = codec.encode(long_audio, bits=8)[..., :frames]
    return clips, probe, long_images
