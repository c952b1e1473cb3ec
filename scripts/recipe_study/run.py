"""One run of the table, in a child process (`bench_recipes.py --one RECIPE SEED`): train one recipe with one seed,
generate the same genre-balanced clips as every run, score them; or the instrument's known sets."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from benchlib.generation import generate_images
from benchlib.scoring import clip_set, score, summary
from recipe_study import log
from recipe_study.data import stored_set
from recipe_study.settings import GENERATION_SEED, INSTRUMENT, RECIPES, SAMPLER, SAMPLER_STEPS, SMOKE_MODELS, Settings


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
    reference = stored_set(torch.load(data_dir / "reference.pt"), mel, "held-out synthesized tracks", "folder")
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

    pipeline.set_progress_bar_config(disable=True)
    images, genres = [], []
    for index, genre in enumerate(pipeline.genres):
        genre_images, _ = generate_images(
            pipeline,
            count=per_genre,
            seed=seed + 1000 * index,
            steps=SAMPLER_STEPS,
            genre=genre,
            guidance=guidance,
            batch_size=per_genre,
            redraw=0,
        )
        images.append(genre_images)
        genres += [genre] * per_genre
    return torch.cat(images), genres


def score_set(images, genres: list[str], reference, mel, classifier, source: str) -> dict:
    """`benchlib.scoring.summary` of the `audiodiff evaluate` report of a genre-balanced clip set, plus the genre
    share: the share of clips the classifier assigns to the genre they were made for."""
    names = [f"{genre}_{index:03d}" for index, genre in enumerate(genres)]
    clips = clip_set(images, mel, source, genres, names=names)
    report = score(clips, reference, None, classifier)
    row = summary(report)
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
