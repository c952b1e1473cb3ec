"""Decoders on held-out real music: librosa Griffin-Lim, fast Griffin-Lim from random or PGHI phase, the vocoder.

One run, one process, the same clips for every decoder. Clips come from the real-music collection
(`scripts/real_music.py`): the held-out tracks of `scripts/bench_quality.py` (its `split.json` when it exists,
else its rule: per genre, every 4th track sorted by file name, from the second); a trained vocoder is trained on
the other tracks only. Each held-out track gives `--clips-per-track` slices, evenly spaced between 10% and 90% of
it (silent ones skipped), encoded to 8-bit images exactly as `audiodiff prepare` encodes, then decoded by:

    librosa GL-32         the reference decoder (librosa `mel_to_audio`, as audio-diffusion's `Mel`)
    fast GL-32 random     audiodiff's torch fast Griffin-Lim from random phase (the default before PGHI)
    fast GL-N PGHI        the same from the PGHI phase (Prusa et al. 2017), N in --pghi-iterations
    vocoder               a trained vocoder folder (`audiodiff train-vocoder`): --vocoder-reference for the
                          reference settings, --vocoder-demo for the demo's
    vocoder + GL-N        the same refined by N Griffin-Lim iterations from its own magnitude and phase,
                          N in --vocoder-refine

Metrics against the original audio, after a least-squares gain per clip (an image keeps no absolute level):
multi-resolution STFT distance (Parallel WaveGAN's SC + log-magnitude L1 at 512/1024/2048), log-mel L1 in dB at the
settings' mel bands, spectral convergence at the settings' STFT, the frame-rate buzz (`frame_rate_buzz_db`; the
original's own is printed first), and seconds of audio decoded per second (batches
of 8, after a warm-up; the machine's load average is printed, other work on it slows every decoder alike).
With --bounds, three rows that are not decoders bound what phase retrieval can reach (`phase_bounds`).
Settings: the reference 256x256 (`reference`) and the demo's 64-band (`demo`, configs/mel/demo-64.yaml).
A table per genre follows the table of all held-out clips.

    .venv/bin/python scripts/bench_vocoder.py [--settings reference,demo] [--genres rock,electronic]
        [--clips-per-track 2] [--vocoder-reference VOC] [--threads 1]

Last line: RESULT mrstft_gl=... mrstft_pghi=... mrstft_vocoder=... speed_vocoder_over_gl=... (and log-mel L1,
SC and time ratios) over all the clips measured, at the reference settings (PGHI at 32 iterations), then the same
keys with the suffix _64 for the demo settings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from audiodiff.audio import load_audio
from audiodiff.codec import SpectrogramCodec
from audiodiff.config import MelConfig, configs_dir
from audiodiff.evaluation.metrics import spectral_convergence
from audiodiff.vocoder_training.losses import MelSpectrogram, log_mel_distance_db, multi_resolution_stft_distance
from audiodiff.vocoders import GriffinLimVocoder, LibrosaVocoder, load_vocoder
from benchlib.collection import split_tracks
from benchlib.machine import load_average, machine_line

SETTINGS = {"reference": lambda: MelConfig(), "demo": lambda: MelConfig.load(configs_dir() / "mel" / "demo-64.yaml")}
SUFFIX = {"reference": "", "demo": "_64"}
BATCH = 8


DEFAULT_SPLIT = Path.home() / ".cache" / "audiodiff" / "bench-quality" / "split.json"


def held_out_clips(collection: Path, files: list[str], config: MelConfig, per_track: int) -> tuple[np.ndarray, list]:
    """`(clips, slice_size)` float32 slices evenly spaced in each track, skipping near-silent ones; and their names
    (`genre/track.wav@12.3s`)."""
    size = config.slice_size
    clips, names = [], []
    for file in files:
        audio = load_audio(collection / file, config.sample_rate)
        if len(audio) < 2 * size:
            continue
        starts = np.linspace(0.1 * len(audio), 0.9 * len(audio) - size, per_track * 3).astype(int)
        taken = 0
        for start in starts:
            piece = audio[start : start + size]
            if np.sqrt(np.mean(piece**2)) < 10 ** (-45 / 20):  # quieter than -45 dBFS: a fade or a pause
                continue
            clips.append(piece)
            names.append(f"{file}@{start / config.sample_rate:.1f}s")
            taken += 1
            if taken == per_track:
                break
    return np.stack(clips).astype(np.float32), names


def frame_rate_buzz_db(audio: torch.Tensor, sample_rate: int, hop_length: int) -> torch.Tensor:
    """Per clip, how far the 1-8 kHz energy envelope peaks at the decoder's frame rate (`sample_rate / hop_length`,
    43 Hz at the reference settings) above the envelope's spectrum 3-15 Hz around it, in dB: a decoder whose
    neighbouring frames' phases disagree modulates its overlap-add at that rate, heard as a buzz or roughness.
    `(batch, time)` -> `(batch,)`; music itself gives a few dB."""
    hop = 32
    power = torch.stft(audio, 512, hop, window=torch.hann_window(512), center=True, return_complex=True).abs() ** 2
    frequencies = torch.fft.rfftfreq(512, 1 / sample_rate)
    envelope = power[:, (frequencies > 1000) & (frequencies < 8000)].sum(dim=1)
    envelope = envelope / envelope.mean(dim=-1, keepdim=True).clamp(min=1e-20) - 1
    spectrum = torch.fft.rfft(envelope * torch.hann_window(envelope.shape[-1], periodic=False), dim=-1).abs() ** 2
    distance = (torch.fft.rfftfreq(envelope.shape[-1], hop / sample_rate) - sample_rate / hop_length).abs()
    peak = spectrum[:, distance < 1.5].amax(dim=-1)
    around = spectrum[:, (distance > 3) & (distance < 15)].mean(dim=-1)
    return 10 * torch.log10(peak.clamp(min=1e-30) / around.clamp(min=1e-30))


def decode_all(vocoder, mel_power: torch.Tensor, seed: int) -> tuple[torch.Tensor, float]:
    """Decode in batches of `BATCH` (after one warm-up batch); returns audio `(clips, time)` and seconds taken."""
    generator = torch.Generator().manual_seed(seed)
    vocoder(mel_power[:2], generator=torch.Generator().manual_seed(seed))  # warm-up: allocations, FFT plans, JIT
    started = time.perf_counter()
    parts = [vocoder(part, generator=generator) for part in mel_power.split(BATCH)]
    return torch.cat(parts).float(), time.perf_counter() - started


def measure(name: str, config: MelConfig, args, vocoders: dict[str, object]) -> dict[str, dict[str, float]]:
    """Decode the held-out clips with every decoder; print a table of all clips and one per genre; return the
    all-clips means per decoder."""
    split = split_tracks(args.collection, args.split)
    genres = [genre for genre in split if not args.genres or genre in args.genres]
    files = [file for genre in genres for file in split[genre]["held_out"]]
    audio, names = held_out_clips(args.collection, files, config, args.clips_per_track)
    seconds = len(audio) * config.slice_size / config.sample_rate
    print(f"\n== {name} settings: {config.y_res} mel bands x {config.x_res} frames, {config.sample_rate} Hz, n_fft "
          f"{config.n_fft}, hop {config.hop_length}; {len(audio)} held-out clips from {len(files)} tracks of "
          f"{', '.join(genres)} ({seconds:.0f} s)")  # fmt: skip
    codec = SpectrogramCodec(config)
    original = torch.from_numpy(audio)
    mel_power = codec.images_to_mel_power(codec.encode(original, bits=8))
    mel = MelSpectrogram(config)
    per_clip, speeds = {}, {}
    own_buzz = frame_rate_buzz_db(original, config.sample_rate, config.hop_length).mean().item()
    print(f"  frame-rate buzz of the original clips themselves: {own_buzz:.1f} dB")

    def score(decoded: torch.Tensor) -> dict[str, torch.Tensor]:
        length = min(decoded.shape[-1], original.shape[-1])
        reference, estimate = original[:, :length], decoded[:, :length]
        return {
            "mrstft": multi_resolution_stft_distance(reference, estimate),
            "log_mel_db": log_mel_distance_db(reference, estimate, mel),
            "sc": spectral_convergence(reference, estimate, config.n_fft, config.hop_length),
            "buzz_db": frame_rate_buzz_db(estimate, config.sample_rate, config.hop_length),
        }

    for label, vocoder in vocoders.items():
        decoded, taken = decode_all(vocoder, mel_power, args.seed)
        per_clip[label] = score(decoded)
        speeds[label] = seconds / taken
        print(f"  decoded with {label}: {taken:.1f} s", flush=True)
    if args.bounds:
        for label, decoded in phase_bounds(config, original, mel_power, args.seed).items():
            per_clip[label], speeds[label] = score(decoded), float("nan")
    clip_genres = np.array([clip_name.split("/")[0] for clip_name in names])
    rows = _table("all held-out clips", per_clip, speeds, np.ones(len(names), dtype=bool))
    for genre in genres:
        _table(f"{genre} ({int((clip_genres == genre).sum())} clips)", per_clip, speeds, clip_genres == genre)
    return rows


def phase_bounds(config: MelConfig, original: torch.Tensor, mel_power: torch.Tensor, seed: int) -> dict:
    """Not decoders (they use the original audio): what phase retrieval could reach at best. The image's magnitude
    is the mel power inverted by NNLS as `GriffinLimVocoder` inverts it; the true phase is the original's STFT phase.

        bound: GL-32 from true phase   the best possible starting phase for 32 Griffin-Lim iterations (PGHI's ceiling)
        bound: true phase, no GL       the image's magnitude with the true phase, one inverse STFT
        bound: true magnitude, GL-32   the exact linear magnitude (what the mel bands lost), random-phase GL-32
    """
    from audiodiff.vocoders.griffin_lim import griffin_lim, mel_to_linear

    inverse = GriffinLimVocoder(config, n_iter=32)
    window, frames = inverse.window, mel_power.shape[-1]
    length = (frames - 1) * config.hop_length
    spectrum = torch.stft(original, config.n_fft, config.hop_length, window=window, center=True,
                          return_complex=True)[..., :frames]  # fmt: skip
    magnitude = mel_to_linear(mel_power, inverse.filterbank, inverse.pseudo_inverse, inverse.nnls_iter).sqrt()
    phase = spectrum.angle()
    generator = torch.Generator().manual_seed(seed)
    common = {"n_fft": config.n_fft, "hop_length": config.hop_length, "window": window, "n_iter": 32, "length": length}
    return {
        "bound: GL-32 from true phase": griffin_lim(magnitude, initial_phase=phase, **common),
        "bound: true phase, no GL": torch.istft(
            torch.polar(magnitude, phase), config.n_fft, config.hop_length, window=window, center=True, length=length
        ),
        "bound: true magnitude, GL-32": griffin_lim(spectrum.abs(), generator=generator, **common),
    }


def _table(title: str, per_clip: dict, speeds: dict, mask: np.ndarray) -> dict[str, dict[str, float]]:
    print(f"\n{title}")
    print(f"{'decoder':30s} {'MR-STFT':>8s} {'log-mel dB':>10s} {'SC':>7s} {'buzz dB':>8s} {'audio-s/s':>10s} "
          f"{'x GL-32':>8s}")  # fmt: skip
    rows = {}
    selected = torch.from_numpy(mask)
    for label, metrics in per_clip.items():
        row = {key: values[selected].mean().item() for key, values in metrics.items()}
        row["speed"] = speeds[label]
        rows[label] = row
        baseline = speeds.get("fast GL-32 random", row["speed"])  # bounds have no speed: nan
        print(f"{label:30s} {row['mrstft']:8.3f} {row['log_mel_db']:10.2f} {row['sc']:7.3f} {row['buzz_db']:8.1f} "
              f"{row['speed']:10.1f} "
              f"{row['speed'] / baseline:7.2f}x", flush=True)  # fmt: skip
    return rows


def griffin_lim_decoders(config: MelConfig, pghi_iterations: list[int], librosa: bool) -> dict[str, object]:
    decoders: dict[str, object] = {}
    if librosa:
        decoders["librosa GL-32"] = LibrosaVocoder(config, n_iter=32)
    decoders["fast GL-32 random"] = GriffinLimVocoder(config, n_iter=32, phase_init="random")
    for iterations in pghi_iterations:
        decoders[f"fast GL-{iterations} PGHI"] = GriffinLimVocoder(config, n_iter=iterations, phase_init="pghi")
    return decoders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", type=Path, default=None, help="real-music folder (default: real_music.py's)")
    parser.add_argument("--settings", default="reference,demo", help="reference, demo or both (comma-separated)")
    parser.add_argument("--split", type=Path, default=None, help=f"held-out tracks (default: {DEFAULT_SPLIT} if any)")
    parser.add_argument("--genres", default=None, help="genres to measure, comma-separated (default: all)")
    parser.add_argument("--clips-per-track", type=int, default=2)
    parser.add_argument("--pghi-iterations", default="32,16,8,0", help="PGHI-started Griffin-Lim iterations to run")
    parser.add_argument("--no-librosa", action="store_true", help="leave out the (slow) librosa reference")
    parser.add_argument("--vocoder-reference", default=None, help="trained vocoder folder for the reference settings")
    parser.add_argument("--vocoder-demo", default=None, help="trained vocoder folder for the demo settings")
    parser.add_argument("--vocoder-refine", default="8,16", help="also the vocoders refined by N Griffin-Lim "
                        "iterations (`--n-iter N` with a vocoder), comma-separated; '' for none")  # fmt: skip
    parser.add_argument("--bounds", action="store_true", help="also the phase-retrieval bounds (phase_bounds)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.collection is None:
        from real_music import ensure_collection

        args.collection = ensure_collection(log=lambda line: None)
    if args.split is None and DEFAULT_SPLIT.is_file():
        args.split = DEFAULT_SPLIT
    print(f"held-out tracks: {args.split or 'every 4th track per genre'}")
    args.genres = [value.strip() for value in args.genres.split(",")] if args.genres else None
    trained = {"reference": args.vocoder_reference, "demo": args.vocoder_demo}
    print(machine_line())
    print(f"load average at start: {load_average()}")
    pghi_iterations = [int(value) for value in args.pghi_iterations.split(",") if value.strip()]
    refine_iterations = [int(value) for value in args.vocoder_refine.split(",") if value.strip()]
    results = {}
    for name in [value.strip() for value in args.settings.split(",") if value.strip()]:
        config = SETTINGS[name]()
        decoders = griffin_lim_decoders(config, pghi_iterations, not args.no_librosa)
        if trained.get(name):
            decoders["vocoder"] = load_vocoder(trained[name], config, user="these settings have")
            print(f"vocoder {trained[name]}: {json.dumps(decoders['vocoder'].training_record)}")
            for iterations in refine_iterations:
                decoders[f"vocoder + GL-{iterations}"] = load_vocoder(trained[name], config)
                decoders[f"vocoder + GL-{iterations}"].refine_iterations = iterations
        results[name] = measure(name, config, args, decoders)
    print(f"\nload average at end: {load_average()}")
    pairs = []
    for name, rows in results.items():
        suffix = SUFFIX[name]
        random_row, pghi_row = rows["fast GL-32 random"], rows.get("fast GL-32 PGHI")
        pairs.append(f"mrstft_gl{suffix}={random_row['mrstft']:.4f}")
        if pghi_row:
            pairs.append(f"mrstft_pghi{suffix}={pghi_row['mrstft']:.4f}")
        vocoder_row = rows.get("vocoder")
        if vocoder_row:
            pairs.append(f"mrstft_vocoder{suffix}={vocoder_row['mrstft']:.4f}")
            pairs.append(f"speed_vocoder_over_gl{suffix}={vocoder_row['speed'] / random_row['speed']:.2f}")
        if pghi_row:
            pairs.append(f"sc_gl{suffix}={random_row['sc']:.4f} sc_pghi{suffix}={pghi_row['sc']:.4f}")
            pairs.append(f"time_pghi_over_gl{suffix}={random_row['speed'] / pghi_row['speed']:.2f}")
        pairs.append(f"logmel_gl{suffix}={random_row['log_mel_db']:.3f}")
        if pghi_row:
            pairs.append(f"logmel_pghi{suffix}={pghi_row['log_mel_db']:.3f}")
        if vocoder_row:
            pairs.append(f"logmel_vocoder{suffix}={vocoder_row['log_mel_db']:.3f}")
        pairs.append(f"buzz_gl{suffix}={random_row['buzz_db']:.1f}")
        if vocoder_row:
            pairs.append(f"buzz_vocoder{suffix}={vocoder_row['buzz_db']:.1f}")
        refined = [label for label in rows if label.startswith("vocoder + GL-")]
        if refined:  # the first refinement asked for
            row = rows[refined[0]]
            pairs.append(f"mrstft_refined{suffix}={row['mrstft']:.4f} logmel_refined{suffix}={row['log_mel_db']:.3f} "
                         f"buzz_refined{suffix}={row['buzz_db']:.1f} "
                         f"speed_refined_over_gl{suffix}={row['speed'] / random_row['speed']:.2f}")  # fmt: skip
        if "librosa GL-32" in rows:
            pairs.append(f"mrstft_librosa{suffix}={rows['librosa GL-32']['mrstft']:.4f}")
    print("RESULT " + " ".join(pairs))


if __name__ == "__main__":
    main()
