"""What a new diffusion training run starts from: a new model of a preset (`new_model`), or a pretrained pipeline,
folder or hub id (`pretrained_model`: its UNet, its noise schedule with the fine-tune's explicit changes, its mel
settings and genres, a genre it does not know added). Both return `(unet, noise_scheduler, mel_config, genres)`."""

from __future__ import annotations

import torch

from audiodiff.config import COMPATIBLE_KEYS, MelConfig
from audiodiff.models import add_genre, build_model, load_model_preset
from audiodiff.objective import finetune_noise_scheduler, label_losses, make_noise_scheduler
from audiodiff.train_config import TrainConfig, TrainingError
from audiodiff.utils import first_line


def new_model(config: TrainConfig, data):
    """A new model of the `config.model` preset for the images of `data` (a `SpectrogramDataset`), its initial weights
    drawn from the run's seed (without leaving the global random state changed for the caller), on the noise
    schedule of `config`; genre-conditioned on the dataset's genres when `config.conditional`."""
    mel_config = data.mel_config
    noise_scheduler = make_noise_scheduler(config)
    architecture = load_model_preset(config.model)
    if config.conditional and not data.genres:
        raise TrainingError(f"dataset {data.source} has no genre column: conditional training needs one")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        unet = build_model(
            architecture,
            (mel_config.y_res, mel_config.x_res),
            num_genres=len(data.genres) if config.conditional else None,
        )
    genres = list(data.genres) if config.conditional else None
    return unet, noise_scheduler, mel_config, genres


def pretrained_model(config: TrainConfig, data, pretrained: str, genre: str | None, progress: bool = True):
    """The pretrained pipeline `pretrained` to fine-tune on `data` (whose mel settings must be the model's), on
    genre `genre` (added as a new label when the model does not know it, its class row started where
    `config.genre_init` says: `new_genre_start`)."""
    unet, noise_scheduler, mel_config, genres = load_pretrained(pretrained)
    noise_scheduler = finetune_noise_scheduler(noise_scheduler, config, pretrained)
    # The model's images and the dataset's must agree in width too; n_iter only affects decoding.
    different = mel_config.mismatches(data.mel_config, keys=("x_res", *COMPATIBLE_KEYS))
    if different:
        raise TrainingError(mel_mismatch(pretrained, mel_config, data, different))
    if genre is not None and genres and genre not in genres:
        start, note = new_genre_start(config, unet, noise_scheduler, data, genre, genres)
        genres = add_genre(unet, genres, genre, start_from=start)
        if progress:
            print(f"genre {genre!r} is new to {pretrained} (it knows {', '.join(genres[:-1])}): added as a new "
                  f"genre label, starting from {note}")  # fmt: skip
    return unet, noise_scheduler, mel_config, genres


# How many of the new genre's images `closest` scores under each label: enough that the paired losses rank the labels
# the same way from one draw to the next, few enough to cost seconds on a CPU.
GENRE_INIT_IMAGES = 48


def new_genre_start(config: TrainConfig, unet, noise_scheduler, data, genre: str, genres: list[str]):
    """Where the class row of `genre`, new to the model, starts (`config.genre_init`): a known genre's index, or None
    for the unconditional label; and the phrase that says so. `closest` scores the genre's images of `data` under
    every known label and the unconditional one (`objective.label_losses`) and takes the lowest."""
    choice = config.genre_init
    if choice == "unconditional":
        return None, "the model's unconditional one"
    if choice != "closest":
        if choice not in genres:
            raise TrainingError(
                f"genre_init {choice!r} is not a genre of the pretrained model ({', '.join(genres)}); use closest, "
                "unconditional or one of those"
            )
        return genres.index(choice), f"{choice!r} (genre_init)"
    if genre not in (data.genres or []):  # the data plan says what is wrong with the dataset, in one line
        return None, "the model's unconditional one"
    rows = data.select_genres([genre]).dataset
    picked = torch.linspace(0, len(rows) - 1, min(GENRE_INIT_IMAGES, len(rows))).round().long().unique().tolist()
    images = data.to_tensor(rows.select(picked)["image"])
    labels = [*range(len(genres)), len(genres)]  # the known genres, then the null label
    losses = label_losses(unet, noise_scheduler, images, labels, seed=config.seed)
    best = min(range(len(labels)), key=losses.__getitem__)
    names = [*genres, "unconditional"]
    scored = ", ".join(f"{name} {loss:.5f}" for name, loss in zip(names, losses))
    start = None if best == len(genres) else best
    which = "the model's unconditional one" if start is None else repr(genres[best])
    return start, f"{which}, the closest (denoising loss of {len(picked)} of its images under each label: {scored})"


def load_pretrained(source: str):
    """UNet, training noise scheduler, mel settings and genres of a pretrained pipeline (folder or hub id)."""
    import diffusers

    from audiodiff.pipeline import AudioDiffusionPipeline

    try:
        pipeline = AudioDiffusionPipeline.from_pretrained(source)
    except Exception as error:  # noqa: BLE001 - a damaged folder fails in many ways deep inside diffusers and torch
        raise TrainingError(
            f"{source}: cannot load the pretrained pipeline ({type(error).__name__}: {first_line(error)})"
        ) from None
    if getattr(pipeline, "vqvae", None) is not None:
        raise TrainingError(
            f"{source} is a latent model (it has a VAE); fine-tuning latent models is not supported yet"
        )
    # Fine-tuning always trains on the DDPM forward process with the pretrained model's noise schedule.
    noise_scheduler = diffusers.DDPMScheduler.from_config(dict(pipeline.scheduler.config))
    return pipeline.unet, noise_scheduler, pipeline.mel_config, pipeline.genres


def mel_mismatch(source: str, model: MelConfig, data, keys: list[str]) -> str:
    different = [f"{key} {getattr(model, key)} vs {getattr(data.mel_config, key)}" for key in keys]
    return (
        f"dataset {data.source} was prepared with other mel settings than the model {source} "
        f"({'; '.join(different)}): prepare it again with --mel-config {source}"
    )
