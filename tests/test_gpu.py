"""Every generation path and a training run on CUDA, checked against the same work on the CPU.

Skipped without a CUDA device (CI has none); run on a GPU machine with `pytest tests/test_gpu.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import MEL, clip, tiny_pipeline
from test_training import tiny_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def generators(device: str, count: int = 2, seed: int = 0) -> list[torch.Generator]:
    return [torch.Generator(device).manual_seed(seed + index) for index in range(count)]


@pytest.fixture(scope="module")
def pipelines():
    cpu = tiny_pipeline(genres=["beats", "pads"], scheduler="ddim")
    cuda = tiny_pipeline(genres=["beats", "pads"], scheduler="ddim").to("cuda")
    return cpu, cuda


@pytest.mark.parametrize("scheduler", ["ddpm", "ddim", "dpm"])
def test_generate_on_cuda_matches_cpu_from_the_same_latents(pipelines, scheduler):
    cpu, cuda = pipelines
    cpu.set_scheduler(scheduler)
    cuda.set_scheduler(scheduler)
    latents = torch.randn((2, 1, MEL.y_res, MEL.x_res), generator=torch.Generator().manual_seed(0))
    steps = 10 if scheduler == "ddpm" else 4
    options = dict(num_inference_steps=steps, genre="pads", guidance_scale=2.0, output_type="pt")
    # DDPM adds noise at every step: fix it with same-seeded generators on each device's own stream.
    on_cpu = cpu(latents=latents, generator=generators("cpu"), **options)
    on_cuda = cuda(latents=latents.cuda(), generator=generators("cuda"), **options)
    assert on_cuda.images.shape == on_cpu.images.shape == (2, 1, MEL.y_res, MEL.x_res)
    assert np.isfinite(on_cuda.audios.numpy()).all()
    if scheduler != "ddpm":  # deterministic samplers: same images up to float rounding and 8-bit quantisation
        difference = (on_cuda.images - on_cpu.images).abs()
        assert difference.max() <= 2 * 2 / 255 + 1e-4


def test_long_clip_vary_inpaint_loop_on_cuda(pipelines):
    _, cuda = pipelines
    cuda.set_scheduler("dpm")
    generator = torch.Generator("cuda").manual_seed(1)
    longer = cuda(num_inference_steps=3, seconds=1.0, generator=generator, output_type="np")
    frames = round(1.0 * MEL.sample_rate / MEL.hop_length)
    assert longer.images.shape == (1, MEL.y_res, frames) and longer.audios.shape == (1, (frames - 1) * MEL.hop_length)
    audio = clip()
    varied = cuda(audio=audio, strength=0.5, num_inference_steps=4, generator=generator, output_type="np")
    assert varied.audios.shape == (1, (MEL.x_res - 1) * MEL.hop_length)
    inpainted = cuda(audio=audio, inpaint_seconds=(0.05, 0.15), num_inference_steps=4, generator=generator)
    assert np.isfinite(inpainted.audios).all()
    looped = cuda(audio=audio, loop_seconds=0.05, num_inference_steps=4, generator=generator)
    assert looped.audios.shape == (1, MEL.x_res * MEL.hop_length)


def test_invert_and_edit_on_cuda(pipelines):
    _, cuda = pipelines
    cuda.set_scheduler("ddim-exact")
    images = cuda.audio_to_images(clip())
    assert images.is_cuda
    latents = cuda.invert(images=images, num_inference_steps=6, genre="pads")
    assert latents.is_cuda and torch.isfinite(latents).all()
    edited = cuda(latents=latents, num_inference_steps=6, genre="beats", output_type="pt")
    assert edited.images.shape == (1, 1, MEL.y_res, MEL.x_res)


def test_training_on_cuda_with_bf16(tmp_path, data):
    from audiodiff.pipeline import AudioDiffusionPipeline
    from audiodiff.training import Trainer

    config = tiny_config(mixed_precision="bf16", max_steps=6, checkpoint_every=3)
    trainer = Trainer.start(config, data, tmp_path / "run", progress=False)
    assert trainer.accelerator.device.type == "cuda"
    result = trainer.run()
    assert result.steps == 6 and np.isfinite(result.losses).all()
    pipeline = AudioDiffusionPipeline.from_pretrained(tmp_path / "run").to("cuda")
    output = pipeline(num_inference_steps=2, generator=torch.Generator("cuda").manual_seed(0), output_type="np")
    assert output.images.shape == (1, MEL.y_res, MEL.x_res)
