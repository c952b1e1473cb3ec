"""The sets whose answer is known, made from real clips: what the instrument must rank below real music
(DESIGN.md, section 6): a Gaussian-blurred wash, the reference's mean image plus noise, frames shuffled in time,
copies of one clip, and an untrained model's clips."""

from __future__ import annotations

from pathlib import Path

import torch


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """`(batch, 1, height, width)` images blurred by a Gaussian of `sigma` pixels along both axes (separable: a row
    kernel, then a column kernel, edges replicated)."""
    radius = int(3 * sigma)
    kernel = torch.exp(-(torch.arange(-radius, radius + 1.0) ** 2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = torch.nn.functional.pad(images, (radius, radius, radius, radius), mode="replicate")
    return torch.nn.functional.conv2d(
        torch.nn.functional.conv2d(padded, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1)
    )


def write_pngs(images: torch.Tensor, folder: Path, stem: str) -> Path:
    """`(batch, 1, n_mels, frames)` model-space images as 8-bit PNGs `folder/<stem>_000.png`, ...; the folder."""
    from audiodiff.codec import model_to_pixels, save_png

    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        save_png(folder / f"{stem}_{index:03d}.png", model_to_pixels(image[0]))
    return folder


def untrained_clips(mel, count: int, folder: Path, seed: int) -> Path:
    """PNGs of an untrained small-64 model sampled with 10 DDIM steps (what a run that learned nothing makes)."""
    from diffusers import DDIMScheduler

    from audiodiff.models import build_model, load_model_preset
    from audiodiff.pipeline import AudioDiffusionPipeline

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = build_model(load_model_preset("small-64"), (mel.y_res, mel.x_res))
    pipeline = AudioDiffusionPipeline(unet=unet, scheduler=DDIMScheduler(), mel_config=mel)
    pipeline.set_progress_bar_config(disable=True)
    images = pipeline(batch_size=count, num_inference_steps=10, output_type="pt",
                      generator=torch.Generator().manual_seed(seed)).images  # fmt: skip
    return write_pngs(images, folder, "untrained")


def known_bad_images(one, reference_images, noise, generator) -> dict[str, torch.Tensor]:
    """The known-bad images made from real one-slice clips `one` `(batch, 1, n_mels, frames)`: blurred by a Gaussian
    of 2 px, the mean of `reference_images` plus `noise` (`one`'s shape), `one` with its frames shuffled in time by
    `generator` (one permutation for all clips), and copies of `one`'s first clip. In that order: the shuffle is the
    generator's next draw."""
    return {
        "blurred (sigma 2 px)": gaussian_blur(one, 2.0),
        "mean image + noise": (reference_images.mean(dim=0, keepdim=True) + noise).clamp(-1, 1),
        "frames shuffled": one[..., torch.randperm(one.shape[-1], generator=generator)],
        "copies of one clip": one[:1].expand_as(one).clone(),
    }


def known_bad_sets(one, reference_images, noise, generator, folder: Path, mel, count: int, seed: int):
    """The sets whose answer is known, as PNG folders under `folder`: `known_bad_images` and `count` clips of the
    untrained model (`untrained_clips`, from `seed`). Returns {name: folder}."""
    bad = known_bad_images(one, reference_images, noise, generator)
    sets = {name: write_pngs(images, folder / name, "clip") for name, images in bad.items()}
    sets["untrained model"] = untrained_clips(mel, count, folder / "untrained model", seed)
    return sets


# The rhythm probes' names: whole real clips whose onsets no longer keep one beat (`rhythm_probes`).
SHUFFLED_WHOLE = "6 s, frames shuffled"
SPLICED_WHOLE = "6 s, slices of 4 excerpts spliced"


def rhythm_probe_images(whole: torch.Tensor, width: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """From whole real clips `(count, 1, n_mels, frames)` (count >= slices a clip): each clip's frames shuffled in
    time (no beat at all), and clips spliced from `width`-column slices of different clips (clip i takes its k-th
    slice from clip i + k: every slice real, with its own beat, but no one tempo or phase over the clip)."""
    count, frames = len(whole), whole.shape[-1]
    shuffled = torch.stack([clip[..., torch.randperm(frames, generator=generator)] for clip in whole])
    spliced = whole.clone()
    for start in range(0, frames, width):
        step = start // width
        spliced[..., start : start + width] = whole[[(index + step) % count for index in range(count)], ...,
                                                    start : start + width]  # fmt: skip
    return {SHUFFLED_WHOLE: shuffled, SPLICED_WHOLE: spliced}


def rhythm_probes(whole: torch.Tensor, width: int, generator: torch.Generator, folder: Path) -> dict[str, Path]:
    """`rhythm_probe_images` written as PNG folders `folder/<name>`; the pulse of whole clips must fall for both,
    while each window of the spliced clips is real music."""
    return {
        name: write_pngs(images, folder / name, "clip")
        for name, images in rhythm_probe_images(whole, width, generator).items()
    }
