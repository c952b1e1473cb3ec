"""The recipe table: which training recipe makes the best spectrogram model for the same compute (issue 14).

Every recipe trains the same genre-conditioned model (the demo's `small-64` at 64x64 with classifier-free label
dropout, `configs/train/demo-base.yaml`) on the same data for the same number of training samples (`--steps` x
`--batch-size`), with at least two seeds each:

    default            epsilon prediction, linear betas, uniform loss weighting (audiodiff's 2022 defaults)
    v                  v-prediction (Salimans and Ho 2022)
    v-zero-snr         v-prediction + zero terminal SNR (Lin et al. 2023), sampled with trailing timesteps
    min-snr5-eps       Min-SNR-5 loss weighting (Hang et al. 2023), epsilon prediction
    min-snr5-v         Min-SNR-5 loss weighting, v-prediction
    cosine             cosine noise schedule (squaredcos_cap_v2, Nichol and Dhariwal 2021), epsilon prediction
    v-cosine-min-snr5  the combination: v-prediction + cosine schedule + Min-SNR-5
    dit-min-snr5-v     the DiT backbone at matched parameters (`dit-64`, 3.72 M against small-64's 3.68 M) on the
                       winning recipe (Min-SNR-5, v-prediction); `dit-tiny` in the smoke test
    dit-conv-min-snr5-v  the same with U-ViT's 3x3 convolution after un-patchifying (`dit-64-conv`), added after
                       dit-min-snr5-v's clips showed 4x4 blocks
    dit-lr1e-4-min-snr5-v  dit-64 at the DiT paper's learning rate (1e-4 instead of demo-base's 5e-4)

The combination is fixed before any result is seen rather than chosen from the single-option runs: all runs then
train in one parallel wave (the GPU budget is one wave), and the combination is not picked on the same seeds and
reference clips it is then scored on.

Data: the synthesized collection (`audiodiff.synth`, genres beats / pads / arpeggios), not the real-music collection
of `scripts/bench_quality.py`: a recipe study needs 14+ training runs, which the real collection's preparation and
longer training cannot afford in one GPU lease; on synthesized music the differences between recipes are a first
signal, to be confirmed on real music (DESIGN.md, section 6). The held-out reference clips come from other
synthesized tracks (another synthesizer seed) than the training tracks.

Each run: train through the Python API (`audiodiff.training.Trainer`), then generate `--clips` one-slice clips
(genre-balanced: rounded up to a multiple of 4 per genre; genre-conditioned, DPM-Solver++ 20 steps, guidance
`--guidance`; the same noise seeds for every run) and score them with `audiodiff evaluate`'s instrument
(`bench_quality.score`): flagged-clip share, Frechet distance ratios to the reference-vs-reference baseline on the
fine log-mel, 32-band log-mel and classifier embeddings, and genre share (the share of clips a genre classifier
trained on the training set assigns to the genre they were conditioned on). The instrument is checked in the same
run on known sets (real held-out clips of other tracks, the same with speckle noise, an untrained model).

Recipes are ranked by the mean fine FD ratio across seeds (`log-mel-fine`, the Frechet distance validated on real
music in BENCHMARKS.md); the 32-band log-mel FD ratio of the issue is reported next to it. Loss values are each
recipe's own objective (noise, velocity, Min-SNR-weighted) and are not comparable across recipes.

    # CPU (200 steps: about 5-6 minutes per run at one free core; 7 recipes x 2 seeds = 14 runs):
    .venv/bin/python scripts/bench_recipes.py --jobs 2
    # GPU (all 14 runs at once on one card, one CPU core each; --train-ratio adds bench_train.py's CPU figure):
    python scripts/bench_recipes.py --device cuda --jobs 14 --steps 3000
    # smoke test (tiny model, 32x32, a few steps; about 2-3 minutes on 2 CPU cores):
    .venv/bin/python scripts/bench_recipes.py --smoke --jobs 2

Writes WORK/results-recipes/ (summary.json, table.md, losses.png, contact_<recipe>.png); training runs are in
WORK/runs and reused when their settings are unchanged, so an interrupted benchmark resumes. The last line is
`RESULT fd_ratio_default=... fd_ratio_best=... best=... ...` (fd_ratio = fine FD ratio, mean over seeds).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

# Nothing may be downloaded: the benchmark runs on machines without network access.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

import bench_quality  # noqa: E402 - scripts/ is put on the path just above

WORK = Path.home() / ".cache" / "audiodiff" / "bench-recipes"
SAMPLER, SAMPLER_STEPS = "dpm", 20
GENERATION_SEED = 10_000  # every run samples from the same noise: clip k of genre g from seed 10000 + 1000 g + k
INSTRUMENT = "instrument"  # the pseudo-run that scores the known-good and known-bad sets
# Held-out tracks per genre: the reference (split by `evaluate` into compared and baseline halves) and the probe (real
# music scored like a generator). More tracks per side make both less dependent on which tracks were drawn.
REFERENCE_TRACKS, PROBE_TRACKS = 8, 4

# name -> (what it is, TrainConfig overrides)
RECIPES: dict[str, tuple[str, dict]] = {
    "default": ("epsilon, linear, uniform", {"prediction_type": "epsilon", "beta_schedule": "linear"}),
    "v": ("v-prediction", {"prediction_type": "v_prediction", "beta_schedule": "linear"}),
    "v-zero-snr": (
        "v-prediction + zero terminal SNR",
        {"prediction_type": "v_prediction", "beta_schedule": "linear", "rescale_betas_zero_snr": True},
    ),
    "min-snr5-eps": (
        "Min-SNR-5, epsilon",
        {"prediction_type": "epsilon", "beta_schedule": "linear", "snr_gamma": 5.0},
    ),
    "min-snr5-v": (
        "Min-SNR-5, v-prediction",
        {"prediction_type": "v_prediction", "beta_schedule": "linear", "snr_gamma": 5.0},
    ),
    "cosine": ("cosine schedule, epsilon", {"prediction_type": "epsilon", "beta_schedule": "squaredcos_cap_v2"}),
    "v-cosine-min-snr5": (
        "v + cosine + Min-SNR-5 (combination fixed in advance)",
        {"prediction_type": "v_prediction", "beta_schedule": "squaredcos_cap_v2", "snr_gamma": 5.0},
    ),
    "dit-min-snr5-v": (
        "DiT at matched parameters (dit-64), Min-SNR-5, v-prediction",
        {"prediction_type": "v_prediction", "beta_schedule": "linear", "snr_gamma": 5.0, "model": "dit-64"},
    ),
    "dit-lr1e-4-min-snr5-v": (
        "DiT (dit-64) at DiT's learning rate 1e-4 (demo-base: 5e-4), Min-SNR-5, v-prediction",
        {
            "prediction_type": "v_prediction",
            "beta_schedule": "linear",
            "snr_gamma": 5.0,
            "model": "dit-64",
            "learning_rate": 1e-4,
        },
    ),
    "dit-conv-min-snr5-v": (
        "DiT + U-ViT output convolution (dit-64-conv), Min-SNR-5, v-prediction",
        {"prediction_type": "v_prediction", "beta_schedule": "linear", "snr_gamma": 5.0, "model": "dit-64-conv"},
    ),
}
NOT_RUN: dict[str, str] = {}
# The smoke test's stand-ins for a recipe's own model preset.
SMOKE_MODELS = {"dit-64": "dit-tiny", "dit-64-conv": "dit-tiny"}
METRICS = ("fd_fine", "fd_log_mel", "fd_classifier", "flagged", "genre_share")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that decides the data and a run's result (hashed to decide whether a finished run is reused)."""

    model: str
    train_config: str
    mel: dict
    tracks_per_genre: int
    track_seconds: float
    held_out_tracks: int
    held_out_seconds: float
    classifier_steps: int
    steps: int
    batch_size: int
    clips_per_genre: int
    guidance: float

    def data_key(self) -> str:
        mel = self.mel
        return (
            f"data-{mel['x_res']}x{mel['y_res']}-{self.tracks_per_genre}x{self.track_seconds:g}s"
            f"-held{self.held_out_tracks}x{self.held_out_seconds:g}s"
        )

    def run_hash(self, recipe: str, seed: int) -> str:
        overrides = RECIPES.get(recipe, ("", {}))[1]
        text = json.dumps([dataclasses.asdict(self), recipe, overrides, seed], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def settings_of(args) -> Settings:
    from audiodiff.config import MelConfig, configs_dir

    mel = MelConfig.load(configs_dir() / "mel" / "demo-64.yaml")
    if args.smoke:
        mel = dataclasses.replace(mel, x_res=32, y_res=32, n_iter=8)
    # A multiple of 4: the reference's compared and baseline sides hold 4 held-out tracks of each genre each.
    clips_per_genre = REFERENCE_TRACKS // 2 * math.ceil(args.clips / 3 / (REFERENCE_TRACKS // 2))
    return Settings(
        model="tiny" if args.smoke else "small-64",
        train_config="demo-base",
        mel=mel.to_dict(),
        tracks_per_genre=2 if args.smoke else args.tracks_per_genre,
        track_seconds=20.0 if args.smoke else 40.0,
        held_out_tracks=REFERENCE_TRACKS + PROBE_TRACKS,
        held_out_seconds=8.0 if args.smoke else 20.0,
        classifier_steps=60 if args.smoke else 300,
        steps=args.steps,
        batch_size=args.batch_size,
        clips_per_genre=clips_per_genre,
        guidance=args.guidance,
    )


def log(message: str) -> None:
    print(message, flush=True)


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
    bench_quality.audiodiff(
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


def clip_set(fields: dict, mel, source: str, kind: str):
    from audiodiff.evaluation.clips import ClipSet

    return ClipSet(
        fields["images"], mel, list(fields["genres"]), list(fields["groups"]), list(fields["names"]), source, kind
    )


# --- one run (a child process: --one RECIPE SEED) ---------------------------------------------------------------------
def run_one(args, settings: Settings, recipe: str, seed: int) -> None:
    """Train one recipe with one seed, generate, score; write WORK/runs/<recipe>-seed<seed>/result.json."""
    import numpy as np
    import torch

    from audiodiff.classifier import GenreClassifier
    from audiodiff.config import MelConfig
    from audiodiff.data import load_spectrogram_dataset
    from audiodiff.pipeline import AudioDiffusionPipeline
    from audiodiff.training import TrainConfig

    data_dir = args.work / settings.data_key()
    run_dir = run_folder(args, recipe, seed)
    mel = MelConfig(**settings.mel)
    device = "cpu" if args.device == "cpu" else ("cuda" if torch.cuda.is_available() else "cpu")
    result: dict = {"recipe": recipe, "seed": seed, "hash": settings.run_hash(recipe, seed), "device": device}
    seconds: dict[str, float] = {}
    if recipe == INSTRUMENT:
        sets = instrument_sets(data_dir, mel, settings, seed, device)
    else:
        begin = time.perf_counter()
        options = dict(RECIPES[recipe][1])
        model = options.pop("model", settings.model)
        if settings.model == "tiny":
            model = SMOKE_MODELS.get(model, model)
        config = TrainConfig.load(
            settings.train_config,
            model=model,
            batch_size=settings.batch_size,
            max_steps=settings.steps,
            lr_warmup_steps=min(50, settings.steps // 10),
            seed=seed,
            checkpoint_every=0,
            sample_every=0,
            num_samples=0,
            log_every=max(1, settings.steps // 100),
            **options,
        )
        data = load_spectrogram_dataset(data_dir / "dataset")
        trainer = progress_trainer().start(config, data, run_dir / "model", progress=False)
        trained = trainer.run()
        del trainer
        seconds["train"] = time.perf_counter() - begin
        tail = trained.losses[-max(1, len(trained.losses) // 20) :]
        result.update(
            train_samples_per_s=round(trained.samples_per_second, 2),
            final_loss=float(np.mean(tail)),
            losses=[round(value, 6) for value in trained.losses],
        )
        if device == "cuda":
            torch.cuda.empty_cache()
        pipeline = AudioDiffusionPipeline.from_pretrained(run_dir / "model", scheduler=SAMPLER).to(device)
        begin = time.perf_counter()
        images, genres = generate_balanced(pipeline, settings.clips_per_genre, settings.guidance)
        seconds["generate"] = time.perf_counter() - begin
        result["generated_clips_per_s"] = round(len(images) / seconds["generate"], 3)
        sets = {"": (images, genres)}
    begin = time.perf_counter()
    classifier = GenreClassifier.from_pretrained(data_dir / "classifier")
    reference = clip_set(torch.load(data_dir / "reference.pt"), mel, "held-out synthesized tracks", "folder")
    rows = {}
    for name, (images, genres) in sets.items():
        rows[name] = score_set(images, genres, reference, mel, classifier, name or recipe)
        np.savez_compressed(
            clips_file(run_dir, name),
            images=((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()[:, 0],
            genres=np.array(genres),
        )
    seconds["score"] = time.perf_counter() - begin
    if recipe == INSTRUMENT:
        result["rows"] = rows
    else:
        result.update(rows[""])
    result["seconds"] = {key: round(value, 1) for key, value in seconds.items()}
    (run_dir / "result.json").write_text(json.dumps(result) + "\n")
    log(f"done {recipe} seed {seed}: " + json.dumps(result["seconds"]))


def progress_trainer():
    """`audiodiff.training.Trainer` printing a line at every twentieth of the run (the parent reads the child's log)."""
    from audiodiff.training import Trainer

    class ProgressTrainer(Trainer):
        def _micro_step(self, images, labels):
            self.__dict__.setdefault("begun", time.perf_counter())
            loss = super()._micro_step(images, labels)
            step = self.global_step + 1
            if step % max(1, self.total_steps // 20) == 0 or step == 1:
                log(f"step {step}/{self.total_steps} loss {loss:.4f} ({time.perf_counter() - self.begun:.0f} s)")
            return loss

    return ProgressTrainer


def generate_balanced(pipeline, per_genre: int, guidance: float, seed: int = GENERATION_SEED):
    """`per_genre` clips of every genre `(count, 1, n_mels, x_res)` in [-1, 1], and their genres; genre g's clip k
    from seed `seed + 1000 g + k` (`audiodiff.sampling.generate`, classifier-free guidance `guidance`), the same
    in every run."""
    import torch

    from audiodiff import sampling
    from audiodiff.codec import pixels_to_model

    pipeline.set_progress_bar_config(disable=True)
    images, genres = [], []
    for index, genre in enumerate(pipeline.genres):
        clips = sampling.generate(
            pipeline,
            count=per_genre,
            seed=seed + 1000 * index,
            steps=SAMPLER_STEPS,
            genre=genre,
            guidance=guidance,
            batch_size=per_genre,
            redraw=0,
        )
        images.append(pixels_to_model(clips.images, clips.bits).unsqueeze(1))
        genres += [genre] * per_genre
    return torch.cat(images), genres


def score_set(images, genres: list[str], reference, mel, classifier, source: str) -> dict:
    """`bench_quality.summary` of the `audiodiff evaluate` report of a genre-balanced clip set, plus the genre share:
    the share of clips the classifier assigns to the genre they were made for."""
    from audiodiff.evaluation.clips import ClipSet

    names = [f"{genre}_{index:03d}" for index, genre in enumerate(genres)]
    clips = ClipSet(images, mel, genres, names, names, source, "generated")
    report = bench_quality.score(clips, reference, argparse.Namespace(genre=None), classifier)
    row = bench_quality.summary(report)
    predicted = classifier.predict_proba(images).argmax(dim=-1).tolist()
    row["genre_share"] = sum(classifier.genres[p] == g for p, g in zip(predicted, genres)) / len(genres)
    flagged = {clip["name"] for clip in report["artifacts"].get("per_clip", []) if clip["flagged"]}
    row["flagged_clips"] = [index for index, name in enumerate(names) if name in flagged]
    row["diversity_ratio"] = report["diversity"]["ratio_to_reference"]
    return {key: value for key, value in row.items() if key not in ("seam", "seam_real_p90_db", "genre_share_real")}


def instrument_sets(data_dir: Path, mel, settings: Settings, seed: int, device: str) -> dict:
    """The known sets that show what the numbers mean: real held-out clips of other tracks (what a perfect model
    would score), the same clips with speckle noise, and an untrained model of the benchmark's architecture."""
    import diffusers
    import torch

    from audiodiff.models import ModelPreset, build_unet
    from audiodiff.pipeline import AudioDiffusionPipeline

    probe = torch.load(data_dir / "probe.pt")
    generator = torch.Generator().manual_seed(seed)
    speckled = (probe["images"] + torch.randn(probe["images"].shape, generator=generator) * 0.3).clamp(-1, 1)
    genres = json.loads((data_dir / "dataset" / "audiodiff_dataset.json").read_text())["genres"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = build_unet(ModelPreset.load(settings.model), (mel.y_res, mel.x_res), num_genres=len(genres))
    untrained = (
        AudioDiffusionPipeline(
            unet=unet, scheduler=diffusers.DDPMScheduler(num_train_timesteps=1000), mel_config=mel, genres=genres
        )
        .set_scheduler(SAMPLER)
        .to(device)
    )
    return {
        "real held-out": (probe["images"], list(probe["genres"])),
        "real + speckle": (speckled, list(probe["genres"])),
        "untrained": generate_balanced(untrained, settings.clips_per_genre, settings.guidance),
    }


def run_folder(args, recipe: str, seed: int) -> Path:
    return args.work / "runs" / f"{recipe}-seed{seed}"


def clips_file(run_dir: Path, set_name: str) -> Path:
    """The generated (or known) clips of a run as 8-bit pixels: clips.npz, or clips-<set>.npz for the instrument."""
    slug = re.sub(r"[^a-z0-9]+", "-", set_name.lower()).strip("-")
    return run_dir / (f"clips-{slug}.npz" if slug else "clips.npz")


# --- the parent: run every (recipe, seed) in --jobs child processes ---------------------------------------------------
def finished(args, settings: Settings, recipe: str, seed: int) -> dict | None:
    path = run_folder(args, recipe, seed) / "result.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    return result if result.get("hash") == settings.run_hash(recipe, seed) else None


def child_command(args, recipe: str, seed: int) -> list[str]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        recipe,
        str(seed),
        "--work",
        str(args.work),
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--clips",
        str(args.clips),
        "--guidance",
        str(args.guidance),
        "--device",
        args.device,
        "--tracks-per-genre",
        str(args.tracks_per_genre),
    ]
    return command + (["--smoke"] if args.smoke else [])


def run_all(args, settings: Settings, tasks: list[tuple[str, int]], on_result) -> dict[tuple[str, int], dict]:
    """Run `tasks` in at most `args.jobs` child processes; returns the results of the finished ones."""
    results: dict[tuple[str, int], dict] = {}
    todo = []
    for recipe, seed in tasks:
        found = finished(args, settings, recipe, seed)
        if found is not None:
            log(f"reusing {recipe} seed {seed} ({run_folder(args, recipe, seed)})")
            results[recipe, seed] = found
        else:
            todo.append((recipe, seed))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    running: dict[tuple[str, int], tuple[subprocess.Popen, float, object]] = {}
    failed: list[tuple[str, int]] = []
    last_status = started = time.perf_counter()
    while todo or running:
        while todo and len(running) < args.jobs:
            recipe, seed = todo.pop(0)
            folder = run_folder(args, recipe, seed)
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            log_file = open(folder / "log.txt", "w")  # noqa: SIM115 - closed when the child ends
            process = subprocess.Popen(
                child_command(args, recipe, seed), stdout=log_file, stderr=subprocess.STDOUT, env=env
            )
            running[recipe, seed] = (process, time.perf_counter(), log_file)
            log(f"started {recipe} seed {seed} (log: {folder / 'log.txt'})")
        time.sleep(1.0)
        for key, (process, begun, log_file) in list(running.items()):
            if process.poll() is None:
                continue
            log_file.close()
            del running[key]
            found = finished(args, settings, *key)
            if process.returncode != 0 or found is None:
                failed.append(key)
                tail = (run_folder(args, *key) / "log.txt").read_text().splitlines()[-15:]
                log(f"FAILED {key[0]} seed {key[1]} (exit {process.returncode}):\n    " + "\n    ".join(tail))
                continue
            results[key] = found
            log(
                f"finished {key[0]} seed {key[1]} in {time.perf_counter() - begun:.0f} s "
                f"{json.dumps(found.get('seconds'))}: " + describe(found)
            )
            on_result(results)
        if running and time.perf_counter() - last_status > args.status_every:
            last_status = time.perf_counter()
            log(status_line(args, list(running), time.perf_counter() - started))
    if failed:
        log(f"{len(failed)} run(s) failed: " + ", ".join(f"{recipe} seed {seed}" for recipe, seed in failed))
    return results


def status_line(args, running: list[tuple[str, int]], elapsed: float) -> str:
    """The last progress line of each running child, and when the slowest training should end at its rate so far."""
    lines, remaining = [], []
    for recipe, seed in running:
        text = (run_folder(args, recipe, seed) / "log.txt").read_text().strip().splitlines()
        found = [re.match(r"step (\d+)/(\d+) .*\((\d+) s\)", line) for line in text]
        found = [match for match in found if match]
        if found:
            step, total, seconds = (int(value) for value in found[-1].groups())
            lines.append(f"{recipe}/{seed} {step}/{total}")
            if seconds > 0:
                remaining.append((total - step) * seconds / step)
        else:
            lines.append(f"{recipe}/{seed} starting")
    eta = f"; training ends in about {max(remaining):.0f} s at the rate so far" if remaining else ""
    return f"[{elapsed:.0f} s] running: " + ", ".join(lines) + eta


def describe(result: dict) -> str:
    if "rows" in result:
        return "; ".join(f"{name}: fine FD ratio {row['fd_fine']}" for name, row in result["rows"].items())
    return " ".join(f"{key}={result.get(key)}" for key in (*METRICS, "final_loss", "train_samples_per_s"))


# --- the results: summary.json, table.md, losses.png, contact sheets --------------------------------------------------
def aggregate(results: dict[tuple[str, int], dict], recipes: list[str]) -> dict[str, dict]:
    """Per recipe: mean, standard deviation and per-seed values of each metric."""
    import numpy as np

    table = {}
    for recipe in recipes:
        runs = sorted((seed, result) for (name, seed), result in results.items() if name == recipe)
        if not runs:
            continue
        entry: dict = {"seeds": [seed for seed, _ in runs]}
        for key in (*METRICS, "final_loss", "train_samples_per_s", "generated_clips_per_s", "diversity_ratio"):
            values = [result.get(key) for _, result in runs]
            present = [value for value in values if value is not None]
            entry[key] = {
                "mean": float(np.mean(present)) if present else None,
                "std": float(np.std(present)) if len(present) > 1 else None,
                "per_seed": values,
            }
        table[recipe] = entry
    return table


def cell(entry: dict | None, digits: int = 3, per_seed: bool = True) -> str:
    if entry is None or entry["mean"] is None:
        return "-"
    text = f"{entry['mean']:.{digits}g}"
    if per_seed and len(entry["per_seed"]) > 1:
        text += " (" + ", ".join("-" if value is None else f"{value:.{digits}g}" for value in entry["per_seed"]) + ")"
    return text


def write_results(args, settings: Settings, data_info: dict, results: dict, recipes: list[str], final: bool) -> dict:
    out = args.work / "results-recipes"
    out.mkdir(parents=True, exist_ok=True)
    table = aggregate(results, recipes)
    instrument = results.get((INSTRUMENT, 0), {}).get("rows", {})
    ranked = sorted(
        (entry["fd_fine"]["mean"], recipe) for recipe, entry in table.items() if entry["fd_fine"]["mean"] is not None
    )
    best = ranked[0][1] if ranked else None
    summary = {
        "settings": dataclasses.asdict(settings),
        "recipes": {name: {"description": RECIPES[name][0], "options": RECIPES[name][1]} for name in recipes},
        "not_run": NOT_RUN,
        "ranked_by": "mean fine FD ratio (log-mel-fine) over seeds, lower is better",
        "best": best,
        "table": table,
        "instrument": instrument,
        "data": data_info,
        "runs": {
            f"{recipe}-seed{seed}": {key: value for key, value in result.items() if key != "losses"}
            for (recipe, seed), result in sorted(results.items())
            if recipe != INSTRUMENT
        },
        "loss_curves": {
            f"{recipe}-seed{seed}": thin(result["losses"], 200)
            for (recipe, seed), result in sorted(results.items())
            if "losses" in result
        },
        "sampler": f"{SAMPLER}-{SAMPLER_STEPS}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": args.machine,
        "complete": final,
    }
    lines = [
        f"Recipe table: {settings.model} at {settings.mel['x_res']}x{settings.mel['y_res']}, genre-conditioned "
        f"({settings.train_config}), {settings.steps} steps x batch {settings.batch_size} = "
        f"{settings.steps * settings.batch_size} training samples per run, {data_info.get('training_slices')} "
        f"synthesized training slices; {3 * settings.clips_per_genre} one-slice clips per run "
        f"({SAMPLER} {SAMPLER_STEPS} steps, guidance {settings.guidance:g}) against "
        f"{data_info.get('reference_clips')} held-out synthesized clips. Mean over seeds (per seed in brackets); "
        "ranked by fine FD ratio (lower is better; 1 = as close as other held-out tracks). Final loss: mean of the "
        "last 5% of steps in each recipe's own objective (not comparable across recipes). Train samples/s: measured "
        f"with {args.jobs} runs sharing the machine.",
        "",
        f"Machine: {args.machine}. Command: `{summary['command']}`.",
        "",
        "| recipe | options | fine FD ratio | log-mel FD ratio | classifier FD ratio | flagged share | genre share "
        "| train samples/s | final loss |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for recipe in recipes:
        entry = table.get(recipe)
        if entry is None:
            lines.append(f"| {recipe} | {RECIPES[recipe][0]} | not finished |  |  |  |  |  |  |")
            continue
        mark = " **(best)**" if recipe == best else ""
        lines.append(
            f"| {recipe}{mark} | {RECIPES[recipe][0]} | {cell(entry['fd_fine'])} | {cell(entry['fd_log_mel'])} | "
            f"{cell(entry['fd_classifier'])} | {cell(entry['flagged'], 2)} | {cell(entry['genre_share'], 2)} | "
            f"{cell(entry['train_samples_per_s'], 3, False)} | {cell(entry['final_loss'], 3)} |"
        )
    for name, reason in NOT_RUN.items():
        lines.append(f"| {name} | {reason} | - | - | - | - | - | - | - |")
    default_fd = table.get("default", {}).get("fd_fine", {}).get("mean")
    if best is not None and default_fd:
        gain = 1 - ranked[0][0] / default_fd
        summary["gain_over_default"] = gain
        lines += ["", f"Best by mean fine FD ratio: {best}, {100 * gain:.0f}% below the default's "
                  f"(issue 14 asks the new default to beat today's by at least 15%)."]  # fmt: skip
    if instrument:
        lines += [
            "",
            "The instrument on known sets, scored against the same reference clips: real held-out clips of other "
            "tracks (what a perfect model would score), the same with speckle noise, and an untrained model:",
            "",
            "| set | fine FD ratio | log-mel FD ratio | classifier FD ratio | flagged share | genre share |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, row in instrument.items():
            values = [row[key] for key in METRICS]
            lines.append(f"| {name} | " + " | ".join("-" if v is None else f"{v:.3g}" for v in values) + " |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if not final:  # the pictures once, at the end: after each run only the numbers, which are quick
        return summary
    draw_loss_curves(results, recipes, out / "losses.png")
    for recipe in recipes:
        if any(name == recipe for name, _ in results):
            draw_contact_sheet(args, settings, recipe, results, out / f"contact_{recipe}.png")
    if instrument:
        draw_contact_sheet(args, settings, INSTRUMENT, results, out / "contact_instrument.png")
    return summary


def thin(values: list[float], points: int) -> list[list[float]]:
    """[step, mean loss] over `points` equal windows of the curve."""
    size = max(1, math.ceil(len(values) / points))
    return [
        [start + size, round(sum(values[start : start + size]) / len(values[start : start + size]), 6)]
        for start in range(0, len(values), size)
    ]


COLOURS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
]


def draw_loss_curves(results: dict, recipes: list[str], path: Path) -> None:
    """One line per run (colour: recipe; lighter and thinner: later seeds), smoothed, on a log scale."""
    from PIL import Image, ImageDraw

    curves = [
        (recipe, seed, thin(result["losses"], 300))
        for (recipe, seed), result in sorted(results.items())
        if "losses" in result and result["losses"]
    ]
    width, height, left, right, top, bottom = 980, 460, 60, 230, 30, 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 8), "training loss per run (each recipe's own objective; smoothed, log scale)", fill="black")
    draw.rectangle([left, top, width - right, height - bottom], outline="gray")
    if not curves:
        image.save(path)
        return
    values = [math.log10(max(value, 1e-8)) for _, _, curve in curves for _, value in curve]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    last = max(curve[-1][0] for _, _, curve in curves)

    def point(step: float, value: float) -> tuple[float, float]:
        x = left + (width - left - right) * step / last
        return x, top + (height - top - bottom) * (high - math.log10(max(value, 1e-8))) / span

    for recipe, seed, curve in curves:
        colour = COLOURS[recipes.index(recipe) % len(COLOURS)] if recipe in recipes else (0, 0, 0)
        shade = 0.45 * min(seed, 1)
        colour = tuple(round(c + (255 - c) * shade) for c in colour)
        draw.line([point(step, value) for step, value in curve], fill=colour, width=2 if seed == 0 else 1)
    for fraction in (0.0, 0.5, 1.0):
        exponent = high - fraction * span
        y = top + (height - top - bottom) * fraction
        draw.text((4, y - 6), f"{10**exponent:.3g}", fill="black")
    draw.text((left, height - bottom + 8), "0", fill="black")
    draw.text((width - right - 60, height - bottom + 8), f"step {last}", fill="black")
    for index, recipe in enumerate(recipes):
        y = top + 8 + 18 * index
        colour = COLOURS[index % len(COLOURS)]
        draw.line([(width - right + 12, y + 6), (width - right + 40, y + 6)], fill=colour, width=3)
        draw.text((width - right + 46, y), recipe, fill="black")
    draw.text((width - right + 12, top + 8 + 18 * len(recipes) + 6), "lighter, thin: seed 1+", fill="black")
    image.save(path)


def draw_contact_sheet(args, settings: Settings, recipe: str, results: dict, path: Path) -> None:
    """Generated clips of every seed of the recipe, one row per (seed, genre), flagged clips framed in red, above
    held-out reference clips of each genre."""
    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    from audiodiff.figures import colourise

    data_dir = args.work / settings.data_key()
    rows: list[tuple[str, np.ndarray, set]] = []
    for (name, seed), result in sorted(results.items()):
        if name != recipe:
            continue
        sets = result["rows"] if recipe == INSTRUMENT else {"": result}
        for set_name, row in sets.items():
            stored = np.load(clips_file(run_folder(args, name, seed), set_name))
            genres = stored["genres"].tolist()
            for genre in dict.fromkeys(genres):
                indices = [index for index, value in enumerate(genres) if value == genre]
                flagged = {position for position, index in enumerate(indices) if index in set(row["flagged_clips"])}
                label = f"{set_name or f'seed {seed}'}: {genre}"
                rows.append((label, stored["images"][indices], flagged))
    reference = torch.load(data_dir / "reference.pt")
    for genre in dict.fromkeys(reference["genres"]):
        indices = [index for index, value in enumerate(reference["genres"]) if value == genre]
        pixels = ((reference["images"][indices, 0] + 1) * 127.5).round().to(torch.uint8).numpy()
        rows.append((f"reference: {genre}", pixels, set()))
    scale = max(1, 64 // settings.mel["y_res"])
    tile_w, tile_h = settings.mel["x_res"] * scale, settings.mel["y_res"] * scale
    columns = min(12, max(len(images) for _, images, _ in rows))
    label_width, gap, caption = 190, 4, 16
    sheet = Image.new("RGB", (label_width + columns * (tile_w + gap), caption + len(rows) * (tile_h + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 2), f"{recipe}: {RECIPES.get(recipe, ('known sets',))[0]}", fill="black")
    for row_index, (label, images, flagged) in enumerate(rows):
        y = caption + row_index * (tile_h + gap)
        draw.text((4, y + tile_h // 2 - 6), label[:30], fill="black")
        for column, pixels in enumerate(images[:columns]):
            x = label_width + column * (tile_w + gap)
            picture = Image.fromarray(colourise(torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1)))
            sheet.paste(picture.resize((tile_w, tile_h), Image.Resampling.NEAREST), (x, y))
            if column in flagged:
                draw.rectangle((x, y, x + tile_w - 1, y + tile_h - 1), outline=(230, 0, 0), width=2)
    # A 256-colour palette keeps the colour map (itself 8 anchors blended) and a third of the file size.
    sheet.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


# --- optional: the training loop's overhead (scripts/bench_train.py) --------------------------------------------------
def measure_train_ratio() -> float | None:
    """`scripts/bench_train.py`'s train_ratio, on the CPU (its plain loop never leaves the CPU), after all runs."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, str(SCRIPTS / "bench_train.py")]
    log("$ " + " ".join(command))
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=False).stdout
    lines = [line for line in output.splitlines() if line.startswith("RESULT train_ratio=")]
    return float(lines[-1].split("=")[1]) if lines else None


def machine_description(device: str) -> str:
    import platform

    text = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    if device != "cpu":
        try:
            import torch

            if torch.cuda.is_available():
                text += f", {torch.cuda.get_device_name(0)}"
        except ImportError:
            pass
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help=f"Working folder (default: {WORK}[-smoke]).")
    parser.add_argument("--steps", type=int, default=None, help="Training steps per run (default 200; smoke 20).")
    parser.add_argument("--batch-size", type=int, default=None, help="Default 16 (smoke: 8).")
    parser.add_argument("--seeds", default="0,1", help="Comma-separated training seeds (at least 2 for the table).")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="Comma-separated, from: " + ", ".join(RECIPES))
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="Runs at once.")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--clips", type=int, default=32, help="Generated clips per run (rounded up, genre-balanced).")
    parser.add_argument("--guidance", type=float, default=1.0, help="Classifier-free guidance of generation.")
    parser.add_argument("--tracks-per-genre", type=int, default=12, help="Synthesized 40 s training tracks per genre.")
    parser.add_argument("--smoke", action="store_true", help="Tiny model, 32x32, a few steps: checks the script.")
    parser.add_argument("--train-ratio", action="store_true", help="Also run scripts/bench_train.py at the end.")
    parser.add_argument("--status-every", type=float, default=60.0, help="Seconds between progress lines.")
    parser.add_argument("--one", nargs=2, metavar=("RECIPE", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work = (args.work or Path(f"{WORK}{'-smoke' if args.smoke else ''}")).expanduser().resolve()
    args.steps = args.steps or (20 if args.smoke else 200)
    args.batch_size = args.batch_size or (8 if args.smoke else 16)
    if args.clips < 6:
        parser.error("--clips must be at least 6 (2 per genre)")
    settings = settings_of(args)
    if args.one:
        run_one(args, settings, args.one[0], int(args.one[1]))
        return
    recipes = [name.strip() for name in args.recipes.split(",") if name.strip()]
    for name in recipes:
        if name in NOT_RUN:
            parser.error(f"{name}: {NOT_RUN[name]}")
        if name not in RECIPES:
            parser.error(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: torch sees no CUDA device")
    args.machine = machine_description(args.device)
    started = time.perf_counter()
    log(
        f"bench_recipes: {len(recipes)} recipes x seeds {seeds}, {settings.model}, {args.steps} steps x batch "
        f"{args.batch_size}, {args.jobs} jobs, device {args.device}, work {args.work}; machine: {args.machine}"
    )
    args.work.mkdir(parents=True, exist_ok=True)
    stage = time.perf_counter()
    data_info = stage_data(args, settings)
    timings = {"data": time.perf_counter() - stage}
    log(f"stage data: {timings['data']:.1f} s")

    stage = time.perf_counter()
    # The instrument last: with --jobs equal to the number of runs every training starts at once.
    tasks = [(recipe, seed) for seed in seeds for recipe in recipes] + [(INSTRUMENT, 0)]
    results = run_all(
        args, settings, tasks, lambda done: write_results(args, settings, data_info, done, recipes, final=False)
    )
    timings["runs"] = time.perf_counter() - stage
    log(f"stage runs (train, generate, score; {args.jobs} at once): {timings['runs']:.1f} s")

    stage = time.perf_counter()
    summary = write_results(args, settings, data_info, results, recipes, final=True)
    train_ratio = measure_train_ratio() if args.train_ratio else None
    timings["results"] = time.perf_counter() - stage
    timings["total"] = time.perf_counter() - started
    log(f"stage results: {timings['results']:.1f} s; total {timings['total']:.1f} s")
    runs = [result for (recipe, _), result in results.items() if recipe != INSTRUMENT]
    if runs:
        for key in ("train", "generate", "score"):
            values = [result["seconds"].get(key, 0.0) for result in runs]
            log(f"per run {key}: mean {sum(values) / len(values):.1f} s, max {max(values):.1f} s")
    summary["seconds"] = {key: round(value, 1) for key, value in timings.items()}
    out = args.work / "results-recipes"
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    log((out / "table.md").read_text())
    log(f"results in {out}")
    table, best = summary["table"], summary["best"]

    def mean(recipe: str | None, key: str) -> str:
        entry = table.get(recipe or "", {}).get(key)
        return "none" if entry is None or entry["mean"] is None else f"{entry['mean']:.4g}"

    default_fd = table.get("default", {}).get("fd_fine", {}).get("mean")
    best_fd = table.get(best or "", {}).get("fd_fine", {}).get("mean")
    gain = 1 - best_fd / default_fd if default_fd and best_fd is not None else None
    fields = [
        f"fd_ratio_default={mean('default', 'fd_fine')}",
        f"fd_ratio_best={mean(best, 'fd_fine')}",
        f"best={best}",
        "fd_rank=fine",
        f"gain_over_default={'none' if gain is None else f'{gain:.3f}'}",
        f"fd_log_mel_default={mean('default', 'fd_log_mel')}",
        f"fd_log_mel_best={mean(best, 'fd_log_mel')}",
        f"flagged_default={mean('default', 'flagged')}",
        f"flagged_best={mean(best, 'flagged')}",
        f"genre_share_best={mean(best, 'genre_share')}",
        f"seeds={len(seeds)}",
        f"steps={args.steps}",
        f"runs={len(runs)}/{len(recipes) * len(seeds)}",
    ]
    if train_ratio is not None:
        fields.append(f"train_ratio={train_ratio:.3f}")
    print("RESULT " + " ".join(fields), flush=True)
    if len(runs) < len(recipes) * len(seeds):
        sys.exit(1)


if __name__ == "__main__":
    main()
