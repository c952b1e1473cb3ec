"""Editing building blocks (strength, masks, slerp, guidance, splicing); DDIM inversion and editing, tiny models."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler
from diffusers.models.unets.unet_2d import UNet2DOutput
from helpers import MEL, StationaryDenoiser, clip, seeded, tiny_pipeline

from audiodiff import editing
from audiodiff.pipeline import AudioDiffusionPipeline


# --- pure functions ---------------------------------------------------------------------------------------------------
def test_strength_maps_to_the_reference_start_step():
    assert editing.start_step(50, 1.0) == 0
    assert editing.start_step(50, 0.0) == 50
    assert editing.start_step(50, 0.5) == 25
    assert editing.start_step(4, 0.3) == 3  # int(1.2) = 1 step runs
    with pytest.raises(ValueError, match="strength"):
        editing.start_step(10, 1.5)


def test_time_mask_with_and_without_ramps():
    assert editing.time_mask(8, 2, 5).tolist() == [1, 1, 0, 0, 0, 1, 1, 1]
    ramped = editing.time_mask(10, 4, 6, fade=2)
    assert ramped[4:6].tolist() == [0, 0]
    assert ramped[:2].tolist() == [1, 1] and ramped[8:].tolist() == [1, 1]
    assert 0 < ramped[3] < ramped[2] < 1 and 0 < ramped[6] < ramped[7] < 1
    assert editing.seconds_to_frames(1.0, 22050, 512) == 43
    with pytest.raises(ValueError, match="within"):
        editing.time_mask(8, 5, 9)


def test_resize_mask_and_blend():
    mask = editing.time_mask(32, 16, 32)
    assert editing.resize_mask(mask, 16).tolist() == [1.0] * 8 + [0.0] * 8
    known, generated = torch.ones(1, 1, 2, 4), torch.zeros(1, 1, 2, 4)
    assert editing.blend(known, generated, torch.tensor([1.0, 0.5, 0.0, 0.0]))[0, 0, 0].tolist() == [1, 0.5, 0, 0]


def test_keep_masks_of_inpainting_loops_and_continuation():
    def frames_in(seconds: float) -> int:  # 10 columns per second
        return round(seconds * 10)

    assert editing.keep_mask(64, frames_in) == (None, 0)
    given, shift = editing.keep_mask(64, frames_in, mask=[1.0, 0.0])
    assert given.dtype == torch.float32 and given.tolist() == [1.0, 0.0] and shift == 0
    inpaint, shift = editing.keep_mask(64, frames_in, inpaint_seconds=(1.0, 2.0))
    assert shift == 0 and inpaint[10:20].eq(0).all() and inpaint[:9].eq(1).all() and inpaint[21:].eq(1).all()
    with pytest.raises(ValueError, match=r"inpaint_seconds \(9.0, 12.0\) select no columns"):
        editing.keep_mask(64, frames_in, inpaint_seconds=(9.0, 12.0))
    loop, shift = editing.keep_mask(64, frames_in, loop_seconds=1.0)
    assert shift == 32 and loop[27:37].eq(0).all() and loop[:20].eq(1).all() and loop[44:].eq(1).all()
    images = torch.rand(2, 1, 4, 8)
    canvas, keep = editing.extension_canvas(images, 20, overlap=4)
    assert canvas.shape == (2, 1, 4, 20) and torch.equal(canvas[..., :8], images) and canvas[..., 8:].eq(-1).all()
    assert keep[:6].eq(1).all() and 0 < keep[7] < keep[6] < 1 and keep[8:].eq(0).all()  # a 2-column ramp


def test_slerp_endpoints_norm_and_per_item_weights():
    start, end = torch.randn(3, 1, 8, 8, generator=seeded(1)), torch.randn(3, 1, 8, 8, generator=seeded(2))
    assert torch.allclose(editing.slerp(start, end, 0.0), start, atol=1e-6)
    assert torch.allclose(editing.slerp(start, end, 1.0), end, atol=1e-6)
    x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    middle = editing.slerp(x, y, 0.5)
    assert torch.allclose(middle.norm(), torch.tensor(1.0)) and torch.allclose(middle, torch.tensor([[0.5**0.5] * 2]))
    weights = editing.slerp(start, end, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(weights[0], start[0], atol=1e-6) and torch.allclose(weights[2], end[2], atol=1e-6)
    assert torch.allclose(editing.slerp(x, 2 * x, 0.5), 1.5 * x)  # parallel: linear
    path = editing.interpolation_path(start[0], end[0], 5)
    assert path.shape == (5, 1, 8, 8) and torch.allclose(path[-1], end[0], atol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        editing.interpolation_path(start[0], end[0], 1)


def test_classifier_free_guidance_and_epsilon_conversions():
    unconditional, conditional = torch.zeros(2), torch.ones(2)
    assert editing.classifier_free_guidance(unconditional, conditional, 3.0).tolist() == [3.0, 3.0]
    alpha = torch.tensor(0.3)
    original, noise = torch.randn(4, generator=seeded(1)), torch.randn(4, generator=seeded(2))
    sample = alpha.sqrt() * original + (1 - alpha).sqrt() * noise
    velocity = alpha.sqrt() * noise - (1 - alpha).sqrt() * original
    for output, kind in ((noise, "epsilon"), (velocity, "v_prediction"), (original, "sample")):
        assert torch.allclose(editing.epsilon_from_output(output, sample, alpha, kind), noise, atol=1e-5)
        assert torch.allclose(editing.original_from_output(output, sample, alpha, kind), original, atol=1e-5)
    # At zero SNR (alpha 0) the sample is the noise, and v and x0 predictions still give both estimates.
    zero = torch.tensor(0.0)
    for output, kind in ((-original, "v_prediction"), (original, "sample")):
        assert torch.equal(editing.original_from_output(output, noise, zero, kind), original)
        assert torch.equal(editing.epsilon_from_output(output, noise, zero, kind), noise)
        new_output, new_sample = editing.clip_consistently(output, noise, zero, kind)
        assert torch.isfinite(new_output).all() and torch.equal(new_sample, noise)


def test_loop_crossfade_and_splice():
    ramp = torch.arange(20.0).unsqueeze(0)
    looped = editing.loop_crossfade(ramp, period=16, fade=4)
    assert looped.shape == (1, 16) and looped[0, 4:].tolist() == list(range(4, 16))
    assert looped[0, 0].item() == pytest.approx(0.2 * 0 + 0.8 * 16)  # mostly the continuation past the end
    original, replacement = torch.zeros(1, 100), torch.ones(1, 20)
    spliced = editing.splice_audio(original, replacement, 40, fade=5)
    assert spliced[0, :40].abs().sum() == 0 and spliced[0, 60:].abs().sum() == 0
    assert spliced[0, 45:55].eq(1).all() and 0 < spliced[0, 40] < 1
    with pytest.raises(ValueError, match="exceeds"):
        editing.splice_audio(original, replacement, 90, fade=5)


# --- DDIM inversion ---------------------------------------------------------------------------------------------------
def denoiser_pipeline() -> AudioDiffusionPipeline:
    """A 'perfectly trained' tiny model: the exact denoiser of a broad Gaussian, with an invertible DDIM."""
    denoiser = StationaryDenoiser()
    denoiser.std = 0.5
    pipe = AudioDiffusionPipeline(unet=denoiser, scheduler=DDIMScheduler(clip_sample=False), mel_config=MEL)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_ddim_inversion_reconstructs_the_clip_within_a_bound():
    pipe = denoiser_pipeline()
    audio = clip()
    source = pipe.audio_to_images(audio)
    fresh = pipe(num_inference_steps=20, generator=seeded(), output_type="pt").images
    assert (fresh - source).abs().mean() > 0.5  # what an unrelated sample looks like

    def reconstruction_error(steps, refinements=0):
        noise = pipe.invert(audio, num_inference_steps=steps, refinements=refinements)
        return (pipe(latents=noise, num_inference_steps=steps, output_type="pt").images - source).abs().mean().item()

    coarse, fine = reconstruction_error(10), reconstruction_error(40)
    assert fine < 0.1 and fine < coarse / 2  # the DDIM approximation error shrinks with the step size
    assert reconstruction_error(10, refinements=3) < 0.03  # fixed-point refinement removes most of it


class PredictingDenoiser(StationaryDenoiser):
    """StationaryDenoiser's exact denoiser on any schedule (zero terminal SNR included), its output as v or x0."""

    def __init__(self, scheduler, prediction_type: str):
        super().__init__()
        self.std = 0.5
        self.alphas_cumprod = scheduler.alphas_cumprod
        self.prediction_type = prediction_type

    def forward(self, sample, timestep, class_labels=None, return_dict=True):
        alpha = self.alphas_cumprod[int(torch.as_tensor(timestep).reshape(-1)[0])]
        variance = self.std**2
        gain = alpha.sqrt() * variance / (alpha * variance + 1 - alpha)
        denoised = self.mean + gain * (sample - alpha.sqrt() * self.mean)
        if self.prediction_type == "sample":
            return UNet2DOutput(sample=denoised)
        epsilon = (sample - alpha.sqrt() * denoised) / (1 - alpha).sqrt()
        return UNet2DOutput(sample=alpha.sqrt() * epsilon - (1 - alpha).sqrt() * denoised)


@pytest.mark.parametrize(
    "prediction_type, zero_snr", [("v_prediction", False), ("v_prediction", True), ("sample", True)]
)
def test_ddim_inversion_bound_holds_for_v_prediction_and_zero_terminal_snr(prediction_type, zero_snr):
    schedule = {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing"} if zero_snr else {}
    scheduler = DDIMScheduler(clip_sample=False, prediction_type=prediction_type, **schedule)
    assert (scheduler.alphas_cumprod[-1] == 0) == zero_snr
    pipe = AudioDiffusionPipeline(
        unet=PredictingDenoiser(scheduler, prediction_type), scheduler=scheduler, mel_config=MEL
    )
    pipe.set_progress_bar_config(disable=True)
    audio = clip()
    source = pipe.audio_to_images(audio)

    def reconstruction_error(steps, refinements=0):
        noise = pipe.invert(audio, num_inference_steps=steps, refinements=refinements)
        assert torch.isfinite(noise).all()
        return (pipe(latents=noise, num_inference_steps=steps, output_type="pt").images - source).abs().mean().item()

    coarse, fine = reconstruction_error(10), reconstruction_error(40)
    assert fine < 0.1 and fine < coarse / 2, (coarse, fine)  # the same bounds as for epsilon prediction
    assert reconstruction_error(10, refinements=3) < 0.03


def test_inverting_a_zero_snr_timestep_needs_a_clean_sample_estimate():
    scheduler = DDIMScheduler(rescale_betas_zero_snr=True, timestep_spacing="trailing")
    scheduler.set_timesteps(4)
    sample = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="timestep 999 has zero SNR: inverting it needs the model's clean-sample"):
        editing.ddim_invert(lambda x, t: x, sample, scheduler.timesteps, scheduler.alphas_cumprod, 1.0)
    inverted = editing.ddim_invert(
        lambda x, t: x, sample, scheduler.timesteps, scheduler.alphas_cumprod, 1.0, predict_original=lambda x, t: x * 0
    )
    assert torch.isfinite(inverted).all()


def test_edit_genre_transfer_with_strength_on_a_tiny_unet():
    pipe = tiny_pipeline(genres=["beats", "pads"], scheduler="ddim-exact")
    audio = clip()
    source = pipe.audio_to_images(audio)

    def edit(strength, target):
        noise = pipe.invert(audio, num_inference_steps=20, strength=strength, genre="pads")
        images = pipe(latents=noise, num_inference_steps=20, strength=strength, genre=target, output_type="pt").images
        return (images - source).abs().mean().item()

    same, transferred = edit(0.3, "pads"), edit(0.3, "beats")
    assert same < 0.05  # invert and regenerate with the same genre: the clip comes back
    assert transferred > 2 * same  # another genre changes it
    assert edit(0.6, "beats") > transferred  # and more so with more strength
    before = pipe.unet_evaluations
    pipe.invert(audio, num_inference_steps=10, strength=0.5, refinements=1)
    assert pipe.unet_evaluations - before == 5 * 2


def test_interpolating_between_inverted_clips_passes_through_both():
    pipe = denoiser_pipeline()
    first, second = clip(genre="pads"), clip(genre="beats")
    noises = pipe.invert([first, second], num_inference_steps=10, refinements=3)
    path = editing.interpolation_path(noises[0], noises[1], 3)
    images = pipe(latents=path, num_inference_steps=10, output_type="pt").images
    sources = pipe.audio_to_images([first, second])
    assert (images[0] - sources[0]).abs().mean() < 0.05 and (images[2] - sources[1]).abs().mean() < 0.05
    assert (images[1] - sources[0]).abs().mean() > 0.05 and (images[1] - sources[1]).abs().mean() > 0.05


# --- clipping the predicted clean sample, DDIM's way ------------------------------------------------------------------
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_clip_consistently_keeps_the_noise_estimate_and_clips_x0(prediction_type):
    generator = torch.Generator().manual_seed(0)
    sample, output = torch.randn(2, 1, 8, 8, generator=generator), torch.randn(2, 1, 8, 8, generator=generator) * 3
    alpha = torch.tensor(0.02)
    epsilon = editing.epsilon_from_output(output, sample, alpha, prediction_type)
    new_output, new_sample = editing.clip_consistently(output, sample, alpha, prediction_type)
    clean = (new_sample - (1 - alpha).sqrt() * epsilon) / alpha.sqrt()
    rebuilt_epsilon = editing.epsilon_from_output(new_output, new_sample, alpha, prediction_type)
    assert torch.allclose(rebuilt_epsilon, epsilon, atol=1e-4)
    assert clean.abs().max() <= 1 + 1e-4
    raw_clean = (sample - (1 - alpha).sqrt() * epsilon) / alpha.sqrt()
    assert torch.allclose(clean, raw_clean.clamp(-1, 1), atol=1e-4)


def test_dpm_solver_clips_like_ddim_and_not_like_its_own_thresholding():
    """The cause of the noise clips: DPM-Solver++'s thresholding keeps the sample and carries the clipped-away part
    of x0 forward; done DDIM's way, its first-order step is exactly DDIM's (the reference's robust sampler)."""
    from diffusers import DDPMScheduler

    pipe = tiny_pipeline()  # an untrained UNet: its x0 estimates lie far outside [-1, 1], as early in training
    pipe.scheduler = DDPMScheduler(clip_sample=True)

    def sample(name: str, clip: bool = True, **overrides) -> torch.Tensor:
        pipe.set_scheduler(name)
        config = pipe.scheduler.config
        pipe.scheduler = type(pipe.scheduler).from_config(config, timestep_spacing="trailing", **overrides)
        if not clip:
            pipe._clip_range = lambda timestep: None  # the solver's own thresholding only
        images = pipe(num_inference_steps=10, generator=seeded(3), output_type="pt").images
        pipe.__dict__.pop("_clip_range", None)
        return images

    ddim = sample("ddim")
    assert torch.allclose(sample("dpm", solver_order=1), ddim, atol=2 / 255 + 1e-4)
    assert (sample("dpm", clip=False, solver_order=1) - ddim).abs().mean() > 0.05


# --- joint denoising of wide clips ------------------------------------------------------------------------------------
def test_window_grid_covers_the_clip_and_moves_from_step_to_step():
    grids = [editing.window_starts(258, 64, 32, step) for step in range(6)]
    for starts in grids:
        assert starts[0] == 0 and starts[-1] == 258 - 64 and starts == sorted(set(starts))
        assert all(later - earlier <= 32 for earlier, later in zip(starts, starts[1:]))  # no gap wider than stride
    inner_edges = [set(starts[1:-1]) for starts in grids]
    assert all(inner_edges[step] != inner_edges[step + 1] for step in range(5))  # edges never stay put
    assert editing.window_starts(64, 64, 32) == [0] and editing.window_starts(40, 64, 32) == [0]
    with pytest.raises(ValueError, match="stride"):
        editing.window_starts(200, 64, 0)


def test_window_merge_inverts_split_and_averages_overlaps():
    sample = torch.randn(2, 1, 4, 100, generator=torch.Generator().manual_seed(0))
    starts = editing.window_starts(100, 32, 16, 3)
    weights = editing.window_weights(32)
    assert weights.min() > 0 and weights.max() == 1 and torch.equal(weights, weights.flip(0))
    windows = editing.split_windows(sample, starts, 32)
    assert windows.shape == (2 * len(starts), 1, 4, 32)
    assert torch.allclose(editing.merge_windows(windows, starts, 100, weights), sample, atol=1e-6)
    constant = torch.cat([torch.full((2, 1, 4, 32), float(index)) for index in range(len(starts))])
    merged = editing.merge_windows(constant, starts, 100, weights)
    assert merged[..., 0].eq(0).all() and merged[..., -1].eq(len(starts) - 1).all()  # only one window there
    assert ((merged >= 0) & (merged <= len(starts) - 1)).all()  # elsewhere a weighted mean of the windows
