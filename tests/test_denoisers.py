"""Denoisers (`guided`, `windowed`, `class_labels`), the denoising loop (`denoise`) and what the loop asks of a
scheduler (`schedulers.sampling_timesteps`, `step_kwargs`, `sample_space_scale`, `clip_range`), tested without a
pipeline: recorded model calls, the exact denoiser of a single clean sample, real diffusers schedulers."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler

from audiodiff import editing, schedulers
from audiodiff.denoise import canvas_columns, ddim_inversion, denoise, pad_canvas, start_sample
from audiodiff.denoisers import class_labels, guided, windowed

NULL = 3  # three genres; class 3 is "no genre"


class Recorder:
    """A model `(sample, timestep, class_labels=None) -> output` that records each call: output `sample * 2 + label`
    (labels broadcast over the image), so conditional and unconditional predictions differ."""

    def __init__(self):
        self.calls: list[tuple[tuple[int, ...], torch.Tensor | None]] = []

    def __call__(self, sample, timestep, class_labels=None):
        self.calls.append((tuple(sample.shape), class_labels))
        shift = 0.0 if class_labels is None else class_labels.float().reshape(-1, 1, 1, 1)
        return sample * 2 + shift


def noise(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_guided_at_scale_1_is_the_conditional_output_in_one_call():
    model, sample, labels = Recorder(), noise(2, 1, 4, 8), torch.tensor([0, 2])
    output = guided(model, labels, 1.0, NULL)(sample, torch.tensor(10))
    torch.testing.assert_close(output, model(sample, 10, class_labels=labels), rtol=0, atol=0)
    assert model.calls[0] == ((2, 1, 4, 8), labels)


def test_guided_without_labels_calls_the_model_unconditionally():
    model, sample = Recorder(), noise(1, 1, 4, 8)
    torch.testing.assert_close(guided(model, None, 5.0, None)(sample, torch.tensor(1)), sample * 2, rtol=0, atol=0)
    assert model.calls == [((1, 1, 4, 8), None)]


def test_guided_mixes_unconditional_and_conditional_in_one_doubled_batch():
    model, sample, labels = Recorder(), noise(2, 1, 4, 8), torch.tensor([0, 2])
    output = guided(model, labels, 3.0, NULL)(sample, torch.tensor(10))
    assert len(model.calls) == 1 and model.calls[0][0] == (4, 1, 4, 8)
    assert model.calls[0][1].tolist() == [NULL, NULL, 0, 2]  # unconditional half first
    unconditional, conditional = sample * 2 + NULL, sample * 2 + labels.reshape(-1, 1, 1, 1)
    torch.testing.assert_close(output, unconditional + 3.0 * (conditional - unconditional), rtol=1e-6, atol=1e-6)
    # Every label the null label: nothing to guide, one plain call.
    null_model = Recorder()
    guided(null_model, torch.tensor([NULL, NULL]), 3.0, NULL)(sample, torch.tensor(10))
    assert null_model.calls[0][0] == (2, 1, 4, 8)


def test_guided_repeats_its_labels_over_windows_of_the_batch():
    model, sample = Recorder(), noise(6, 1, 4, 8)  # three windows of a batch of two, window-major
    guided(model, torch.tensor([0, 2]), 1.0, NULL)(sample, torch.tensor(1))
    assert model.calls[0][1].tolist() == [0, 2, 0, 2, 0, 2]


def test_windowed_over_one_window_is_the_plain_call():
    model, sample = Recorder(), noise(2, 1, 4, 16)
    plain = guided(model, None)
    torch.testing.assert_close(windowed(plain, 16, 8)(sample, torch.tensor(5), step=3), sample * 2, rtol=0, atol=0)
    assert model.calls == [((2, 1, 4, 16), None)]


@pytest.mark.parametrize("step", [0, 1, 7])
def test_windowed_output_of_a_constant_model_is_constant(step):
    denoiser = windowed(lambda sample, timestep: torch.full_like(sample, 0.37), width=16, stride=5)
    output = denoiser(noise(2, 1, 4, 61), torch.tensor(3), step=step)
    assert output.shape == (2, 1, 4, 61)
    torch.testing.assert_close(output, torch.full_like(output, 0.37), rtol=0, atol=1e-6)


def test_windowed_splits_into_model_width_windows_that_move_with_the_step():
    model = Recorder()
    denoiser = windowed(guided(model, None), width=16, stride=8)
    sample = noise(2, 1, 4, 40)
    # A model that acts on each column alone gives the same result however the windows fall.
    for step in range(3):
        torch.testing.assert_close(denoiser(sample, torch.tensor(1), step=step), sample * 2, rtol=0, atol=1e-6)
    starts = [editing.window_starts(40, 16, 8, step) for step in range(3)]
    assert [shape for shape, _ in model.calls] == [(2 * len(s), 1, 4, 16) for s in starts]
    assert starts[0] != starts[1]  # the grid moves, so no column stays at a window edge


def test_class_labels_from_names_indices_and_none():
    genres = ["beats", "pads", "strings"]
    assert class_labels(["pads", 0, None], 3, genres, NULL).tolist() == [1, 0, NULL]
    assert class_labels("strings", 2, genres, NULL).tolist() == [2, 2]
    assert class_labels(None, 2, None, None) is None
    for genre, message in ((["pads"], "1 genres for a batch of 2"), ("jazz", "unknown genre 'jazz'"),
                           (4, "out of range 0..3")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            class_labels(genre, 2, genres, NULL)
    with pytest.raises(ValueError, match="not genre-conditioned"):
        class_labels("pads", 1, None, None)


# --- the loop ---------------------------------------------------------------------------------------------------------
CLEAN = torch.linspace(-0.8, 0.8, 4 * 8).reshape(1, 1, 4, 8)


def exact_denoiser(scheduler, clean: torch.Tensor = CLEAN):
    """The minimum-mean-square-error noise prediction when the data is the single sample `clean`:
    `e = (x_t - sqrt(a) x0) / sqrt(1 - a)`."""

    def denoise_exactly(sample, timestep, step=0):
        alpha = scheduler.alphas_cumprod[int(timestep)]
        return (sample - alpha.sqrt() * clean) / (1 - alpha).sqrt()

    return denoise_exactly


def test_denoise_with_the_exact_denoiser_lands_on_the_data():
    scheduler = DDIMScheduler(clip_sample=False)
    timesteps = schedulers.sampling_timesteps(scheduler, 10, 0)
    assert len(timesteps) == 10
    start = start_sample(scheduler, timesteps, noise(1, 1, 4, 8))
    result = denoise(exact_denoiser(scheduler), scheduler, start, timesteps)
    torch.testing.assert_close(result, CLEAN, rtol=0, atol=1e-4)


def test_denoise_keeps_the_masked_columns_and_generates_the_rest():
    scheduler = DDIMScheduler(clip_sample=False)
    timesteps = schedulers.sampling_timesteps(scheduler, 4, 0)
    known, start_noise = torch.full((1, 1, 4, 8), 0.5), noise(1, 1, 4, 8)
    keep = editing.time_mask(8, 4, 8)  # keep the first half, generate the second
    result = denoise(exact_denoiser(scheduler), scheduler, start_noise.clone(), timesteps, known=known,
                     noise=start_noise, keep=keep)  # fmt: skip
    torch.testing.assert_close(result[..., :4], known[..., :4], rtol=0, atol=0)
    torch.testing.assert_close(result[..., 4:], CLEAN[..., 4:], rtol=0, atol=1e-3)


def test_denoise_calls_the_denoiser_once_per_timestep_with_its_index():
    scheduler = DDPMScheduler()
    timesteps = schedulers.sampling_timesteps(scheduler, 5, 2)  # img2img: strength 0.6 starts at step 2
    assert timesteps.tolist() == scheduler.timesteps[2:].tolist() and len(timesteps) == 3
    seen = []

    def record(sample, timestep, step=0):
        seen.append((int(timestep), step))
        return torch.zeros_like(sample)

    kwargs = schedulers.step_kwargs(scheduler, 0.0, torch.Generator().manual_seed(0))
    denoise(record, scheduler, noise(1, 1, 4, 8), timesteps, step_kwargs=kwargs)
    assert seen == [(int(t), index) for index, t in enumerate(timesteps)]


def test_ddim_inversion_with_the_exact_denoiser_reconstructs():
    scheduler = DDIMScheduler(clip_sample=False)
    latents = ddim_inversion(exact_denoiser(scheduler), scheduler, CLEAN.clone(), 8)
    assert latents.shape == CLEAN.shape and (latents - CLEAN).abs().mean() > 0.1  # noised, not the clip itself
    timesteps = schedulers.sampling_timesteps(scheduler, 8, 0)
    rebuilt = denoise(exact_denoiser(scheduler), scheduler, start_sample(scheduler, timesteps, latents, latents),
                      timesteps)  # fmt: skip
    torch.testing.assert_close(rebuilt, CLEAN, rtol=0, atol=1e-3)


def test_canvas_and_padding():
    assert canvas_columns(32, 32, 32, (1,)) == (32, 32)
    assert canvas_columns(40, 32, 32, (1, 2, 4)) == (64, 64)  # the smallest trained width that holds 40 columns
    assert canvas_columns(100, 32, 32, (1, 2, 4)) == (128, 128)
    assert canvas_columns(200, 32, 32, (1, 2, 4)) == (200, 200)  # beyond the widest: windows
    assert canvas_columns(40, 32, 16, (1,)) == (20, 40)  # a latent model: half as many latent columns
    images, keep = pad_canvas(12, torch.zeros(1, 1, 4, 8), torch.ones(8))
    assert images.shape == (1, 1, 4, 12) and images[..., 8:].eq(-1).all()  # silence
    assert keep.tolist() == [1.0] * 8 + [0.0] * 4  # the padding is generated
    assert pad_canvas(12, None, None) == (None, None)


# --- scheduler introspection ------------------------------------------------------------------------------------------
def test_sample_space_scale_and_clip_range():
    ddim = DDIMScheduler()
    ddim.set_timesteps(10)
    assert float(schedulers.sample_space_scale(ddim, ddim.timesteps[0])) == pytest.approx(1.0, abs=1e-6)
    assert schedulers.clip_range(ddim, ddim.timesteps[0]) is None  # DDIM clips correctly itself
    euler = EulerDiscreteScheduler()
    euler.set_timesteps(10)
    sigma = float(euler.sigmas[0])
    scale = float(schedulers.sample_space_scale(euler, euler.timesteps[0]))
    assert scale == pytest.approx(math.sqrt(1 + sigma**2), rel=1e-4)
    dpm = schedulers.make_scheduler("dpm", DDPMScheduler(clip_sample=True, clip_sample_range=0.9).config)
    dpm.set_timesteps(10)
    assert schedulers.clip_range(dpm, dpm.timesteps[0]) == pytest.approx(0.9)
    latents = torch.ones(1, 1, 2, 2)
    start = start_sample(euler, euler.timesteps, torch.zeros(1, 1, 2, 4), latents=latents)
    torch.testing.assert_close(start[..., :2], latents * scale, rtol=1e-5, atol=0)  # into sigma space


def test_step_kwargs_pass_only_what_the_step_takes():
    generator = torch.Generator()
    assert schedulers.step_kwargs(DDIMScheduler(), 0.3, generator) == {"eta": 0.3, "generator": generator}
    assert schedulers.step_kwargs(EulerDiscreteScheduler(), 0.3, generator) == {"generator": generator}
