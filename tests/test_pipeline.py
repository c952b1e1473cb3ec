"""AudioDiffusionPipeline: folder format and compatibility, schedulers, generators, genres, vary, inpaint, loops,
long-form continuation, latent models. Tiny UNets (32x32 images, 8 kHz) and 2-4 steps throughout."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, DiffusionPipeline
from helpers import MEL, StationaryDenoiser, clip, seeded, tiny_pipeline, tiny_unet

from audiodiff import editing as editing_module
from audiodiff import pipeline as pipeline_module
from audiodiff import schedulers
from audiodiff.pipeline import AudioDiffusionPipeline


# --- folder format and compatibility ----------------------------------------------------------------------------------
def test_save_writes_reference_layout_and_reloads_identically(tmp_path):
    pipe = tiny_pipeline(genres=["beats", "pads"], scheduler="dpm", training={"steps": 3})
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    index.pop("_diffusers_version")
    assert index == {
        "_class_name": "AudioDiffusionPipeline",
        "mel": ["diffusers", "Mel"],
        "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
        "unet": ["diffusers", "UNet2DModel"],
    }
    mel = json.loads((tmp_path / "mel" / "mel_config.json").read_text())
    assert {key: value for key, value in mel.items() if not key.startswith("_")} == MEL.to_dict()
    assert (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert json.loads((tmp_path / "audiodiff.json").read_text()) == {
        "genres": ["beats", "pads"],
        "bits": 8,
        "training": {"steps": 3},
    }
    loaded = AudioDiffusionPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.genres == ["beats", "pads"] and loaded.mel_config == MEL
    first = pipe(num_inference_steps=3, genre="pads", generator=seeded(), output_type="pt")
    again = loaded(num_inference_steps=3, genre="pads", generator=seeded(), output_type="pt")
    assert torch.equal(first.images, again.images)
    assert torch.allclose(first.audios, again.audios)


def test_diffusers_loads_our_folder_with_its_reference_pipeline(tmp_path):
    tiny_pipeline(scheduler="ddpm").save_pretrained(tmp_path)
    reference = DiffusionPipeline.from_pretrained(tmp_path)
    assert type(reference).__module__.endswith("deprecated.audio_diffusion.pipeline_audio_diffusion")
    assert type(reference.mel).__name__ == "Mel" and reference.mel.config.x_res == MEL.x_res
    reference.set_progress_bar_config(disable=True)
    output = reference(steps=2, generator=seeded())
    assert output.images[0].size == (MEL.x_res, MEL.y_res)
    assert output.audios.shape == (1, 1, (MEL.x_res - 1) * MEL.hop_length)  # as ours


def test_reference_format_bin_weights_load_with_weights_only(tmp_path):
    pipe = tiny_pipeline(scheduler="ddpm")
    pipe.save_pretrained(tmp_path, safe_serialization=False)
    (tmp_path / "audiodiff.json").unlink()  # reference folders have no audiodiff metadata
    weights = tmp_path / "unet" / "diffusion_pytorch_model.bin"
    assert weights.is_file() and not list(tmp_path.glob("unet/*.safetensors"))
    state = torch.load(weights, weights_only=True)
    loaded = AudioDiffusionPipeline.from_pretrained(tmp_path, scheduler="ddim")
    assert isinstance(loaded.scheduler, DDIMScheduler) and loaded.genres is None and loaded.bits == 8
    for name, value in loaded.unet.state_dict().items():
        assert torch.equal(value, state[name])
    swapped = AudioDiffusionPipeline.from_pretrained(tmp_path, scheduler=DDIMScheduler(num_train_timesteps=1000))
    assert isinstance(swapped.scheduler, DDIMScheduler)


def test_loading_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="no such pipeline folder"):
        AudioDiffusionPipeline.from_pretrained(tmp_path / "missing")
    with pytest.raises(ValueError, match="no model_index.json"):
        AudioDiffusionPipeline.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="unknown scheduler"):
        tiny_pipeline().set_scheduler("nope")
    with pytest.raises(ValueError, match="do not match the mel images"):
        AudioDiffusionPipeline(unet=tiny_unet(size=16), scheduler=DDPMScheduler(), mel_config=MEL)
    with pytest.raises(ValueError, match="num_class_embeds=3"):
        AudioDiffusionPipeline(unet=tiny_unet(), scheduler=DDPMScheduler(), mel_config=MEL, genres=["a", "b"])


@pytest.mark.parametrize("name", ["model_index.json", "audiodiff.json"])
def test_a_pipeline_file_that_is_not_a_json_object_is_one_line(tmp_path, name):
    tiny_pipeline().save_pretrained(tmp_path)
    (tmp_path / name).write_text("[1, 2, 3]")
    with pytest.raises(ValueError, match=f"^{tmp_path / name}: expected a JSON object, got list$"):
        AudioDiffusionPipeline.from_pretrained(tmp_path)


def test_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(AudioDiffusionPipeline.__call__, "__call__", globs={}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


# --- sampling ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "evaluations"), [("ddpm", 3), ("ddim", 3), ("dpm", 3), ("euler", 3), ("heun", 5)])
def test_any_scheduler_samples_a_batch(name, evaluations):
    pipe = tiny_pipeline(scheduler=name)
    output = pipe(batch_size=2, num_inference_steps=3, generator=seeded(), output_type="pt")
    assert output.images.shape == (2, 1, 32, 32) and output.audios.shape == (2, (32 - 1) * 64)
    assert torch.isfinite(output.audios).all() and output.sample_rate == 8000
    assert pipe.unet_evaluations == 2 * evaluations


def test_default_steps_follow_the_reference_and_the_fast_sampler():
    pipe = tiny_pipeline(scheduler="ddpm")
    assert pipe.default_steps == 1000
    assert pipe.set_scheduler("ddim").default_steps == 50
    assert pipe.set_scheduler("dpm").default_steps == 20
    assert pipe.scheduler.config.algorithm_type == "dpmsolver++"


def test_one_generator_per_item_reproduces_items_alone():
    pipe = tiny_pipeline(scheduler="ddpm")  # stochastic steps: every draw must come from the item's generator
    batch = pipe(batch_size=2, num_inference_steps=3, generator=[seeded(1), seeded(2)], output_type="pt")
    alone = pipe(batch_size=1, num_inference_steps=3, generator=[seeded(2)], output_type="pt")
    assert torch.allclose(batch.images[1], alone.images[0], atol=2 / 255)
    repeat = pipe(batch_size=2, num_inference_steps=3, generator=[seeded(1), seeded(2)], output_type="pt")
    assert torch.equal(batch.images, repeat.images) and torch.equal(batch.audios, repeat.audios)
    with pytest.raises(ValueError, match="3 generators for a batch of 2"):
        pipe(batch_size=2, generator=[seeded()] * 3)


def test_output_types_and_tuple():
    pipe = tiny_pipeline()
    pil = pipe(num_inference_steps=2, generator=seeded())
    assert pil.images[0].mode == "L" and isinstance(pil.audios, np.ndarray)
    pixels = pipe(num_inference_steps=2, generator=seeded(), output_type="np")
    assert pixels.images.dtype == np.uint8 and pixels.images.shape == (1, 32, 32)
    assert np.array_equal(np.asarray(pil.images[0]), pixels.images[0])
    images, audios, sample_rate = pipe(num_inference_steps=2, generator=seeded(), output_type="pt", return_dict=False)
    assert torch.allclose((images[0, 0] + 1) / 2 * 255, torch.from_numpy(pixels.images[0]).float(), atol=1e-3)
    deep = tiny_pipeline(bits=16)(num_inference_steps=2, generator=seeded(), output_type="np")
    assert deep.images.dtype == np.uint16


def test_genre_conditioning_and_classifier_free_guidance():
    pipe = tiny_pipeline(genres=["beats", "pads"])

    def run(**kwargs):
        return pipe(num_inference_steps=3, generator=seeded(), output_type="pt", **kwargs).images

    unconditional, conditional = run(), run(genre="pads")
    assert not torch.equal(unconditional, conditional)
    before = pipe.unet_evaluations
    assert torch.allclose(run(genre="pads", guidance_scale=0.0), unconditional, atol=1e-4)
    assert pipe.unet_evaluations - before == 2 * 3  # guided steps evaluate conditional and unconditional
    assert torch.allclose(run(genre=1), conditional)
    guided = run(genre="pads", guidance_scale=4.0)
    assert not torch.allclose(guided, conditional, atol=1e-3)
    mixed = pipe(batch_size=2, num_inference_steps=3, generator=[seeded(), seeded()], genre=[None, "pads"])
    assert len(mixed.images) == 2
    with pytest.raises(ValueError, match="unknown genre 'jazz'"):
        run(genre="jazz")
    with pytest.raises(ValueError, match="not genre-conditioned"):
        tiny_pipeline()(genre="pads")


# --- vary, inpaint, loop ----------------------------------------------------------------------------------------------
def test_vary_strength_controls_distance_to_the_input():
    pipe = tiny_pipeline()
    audio = clip()
    source = pipe.audio_to_images(audio)
    assert source.shape == (1, 1, 32, 32)
    unchanged = pipe(audio=audio, strength=0.0, num_inference_steps=4, output_type="pt").images
    assert torch.allclose(unchanged, source.cpu(), atol=1e-6)

    def distance(strength):
        images = pipe(audio=audio, strength=strength, num_inference_steps=4, generator=seeded(), output_type="pt")
        return (images.images - source.cpu()).abs().mean().item()

    before = pipe.unet_evaluations
    assert distance(0.25) < distance(1.0)
    assert pipe.unet_evaluations - before == 1 + 4  # strength 0.25 of 4 steps runs 1
    variations = pipe(audio=audio, strength=0.5, batch_size=3, num_inference_steps=2, generator=seeded())
    assert len(variations.images) == 3


def test_inpaint_regenerates_only_the_range():
    pipe = tiny_pipeline()
    audio = clip()
    source = pipe.audio_to_images(audio).cpu()
    seconds_per_column = MEL.hop_length / MEL.sample_rate
    start, end = 10 * seconds_per_column, 20 * seconds_per_column
    images = pipe(
        audio=audio, inpaint_seconds=(start, end), num_inference_steps=3, generator=seeded(), output_type="pt"
    )
    kept = torch.ones(32, dtype=torch.bool)
    kept[10 - 1 : 20 + 1] = False  # the range and the one-column ramps around it
    assert torch.equal(images.images[..., kept], source[..., kept])
    assert (images.images[..., 10:20] - source[..., 10:20]).abs().mean() > 0.05
    with pytest.raises(ValueError, match="needs input audio"):
        pipe(inpaint_seconds=(0.0, 0.1))
    with pytest.raises(ValueError, match="select no columns"):
        pipe(audio=audio, inpaint_seconds=(0.2, 0.1))


def spike_ratio(audio: np.ndarray, positions: list[int], window: int = 64, cutoff_hz: float = 3000.0) -> float:
    """Energy above `cutoff_hz` (where steady tones below it have none, and clicks do) in a window at the joins,
    relative to the median window: about 1 when the joins are like everywhere else, thousands for a click."""
    spectrum = np.fft.rfft(audio)
    spectrum[np.fft.rfftfreq(len(audio), 1 / MEL.sample_rate) < cutoff_hz] = 0
    power = np.fft.irfft(spectrum, len(audio)) ** 2
    energies = np.array([power[i : i + window].mean() for i in range(0, len(power) - window, window // 2)])
    at_joins = [power[max(0, p - window // 2) : p + window // 2].mean() for p in positions]
    return float(max(at_joins) / np.median(energies))


def stationary_pipeline() -> AudioDiffusionPipeline:
    mel = MEL.replace(n_iter=32)
    pipe = AudioDiffusionPipeline(unet=StationaryDenoiser(), scheduler=DDIMScheduler(), mel_config=mel)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_loop_end_flows_into_start():
    pipe = stationary_pipeline()
    audio = pipe(num_inference_steps=4, generator=seeded(3)).audios[0]  # content the model makes: steady tones
    looped = pipe(audio=audio, loop_seconds=0.08, num_inference_steps=4, generator=seeded(), output_type="pt")
    period = MEL.x_res * MEL.hop_length
    assert looped.audios.shape == (1, period)
    assert spike_ratio(np.tile(looped.audios[0].numpy(), 3), [period, 2 * period]) < 3.0
    # The measure does hear the click when the clip itself is repeated.
    assert spike_ratio(np.tile(audio, 3), [len(audio), 2 * len(audio)]) > 100.0


# --- long clips: joint denoising of overlapping windows ---------------------------------------------------------------
def test_long_clip_is_denoised_jointly_without_clicks_or_steps():
    pipe = stationary_pipeline()
    seconds = 100 * MEL.hop_length / MEL.sample_rate
    long = pipe(num_inference_steps=4, generator=seeded(), seconds=seconds, output_type="pt")
    assert long.images.shape == (1, 1, 32, 100)
    assert long.audios.shape == (1, 99 * MEL.hop_length)
    # Windows 16 columns apart at a moving offset: check every window-sized boundary there could be.
    boundaries = [column * MEL.hop_length for column in range(16, 100, 8)]
    assert spike_ratio(long.audios[0].numpy(), boundaries) < 3.0
    pieces = [pipe(num_inference_steps=4, generator=seeded(seed)).audios[0] for seed in (1, 2)]
    assert spike_ratio(np.concatenate(pieces), [len(pieces[0])]) > 100.0  # independent slices butted together click
    # Image continuity: no column step stands out from the others.
    steps = (long.images[0, 0, :, 1:] - long.images[0, 0, :, :-1]).abs().mean(0)
    assert steps.max() <= 3 * steps.median() + 2 / 255
    # Every column was denoised: the long clip holds the model's tones everywhere, like a single slice.
    single = pipe(num_inference_steps=4, generator=seeded(), output_type="pt").images[0, 0]
    profile = long.images[0, 0].mean(-1)
    assert torch.allclose(profile, single.mean(-1), atol=0.05)
    evaluations = pipe.unet_evaluations
    pipe(num_inference_steps=4, generator=seeded(), seconds=seconds)
    windows = sum(len(editing_module.window_starts(100, 32, 16, step)) for step in range(4))
    assert pipe.unet_evaluations - evaluations == windows  # each step evaluates the windows of its grid once


def test_extending_an_input_clip_keeps_its_first_slice():
    pipe = stationary_pipeline()
    source = pipe(num_inference_steps=4, generator=seeded(5), output_type="pt").images
    overlap = 12
    longer = pipe(
        images=source,
        strength=0.0,  # keep the input slice as it is, then extend it
        seconds=80 * MEL.hop_length / MEL.sample_rate,
        overlap_seconds=overlap * MEL.hop_length / MEL.sample_rate,
        num_inference_steps=4,
        generator=seeded(),
        output_type="pt",
    )
    assert longer.images.shape == (1, 1, 32, 80)
    kept = 32 - overlap // 2
    assert torch.allclose(longer.images[..., :kept], source[..., :kept], atol=1 / 255)
    assert spike_ratio(longer.audios[0].numpy(), [32 * MEL.hop_length]) < 3.0


def test_long_clips_of_a_genre_model_carry_each_items_genre_everywhere():
    pipe = tiny_pipeline(genres=["beats", "pads"])
    generators = [seeded(1), seeded(1)]  # the same noise for both items: only the genre tells them apart
    output = pipe(
        batch_size=2,
        num_inference_steps=2,
        generator=generators,
        seconds=0.6,
        genre=["beats", "pads"],
        output_type="np",
    )
    frames = round(0.6 * MEL.sample_rate / MEL.hop_length)
    assert output.images.shape == (2, 32, frames) and output.audios.shape == (2, (frames - 1) * MEL.hop_length)
    for start in range(0, frames - 16, 16):  # the genre reached every part of the clip
        assert not np.array_equal(output.images[0, :, start : start + 16], output.images[1, :, start : start + 16])
    alone = pipe(num_inference_steps=2, generator=seeded(1), seconds=0.6, genre="pads", output_type="np").images[0]
    assert np.array_equal(output.images[1], alone)  # batching does not change an item
    short = pipe(num_inference_steps=2, generator=seeded(), seconds=0.1, output_type="np")
    assert short.images.shape[-1] == round(0.1 * MEL.sample_rate / MEL.hop_length)


# --- latent models ----------------------------------------------------------------------------------------------------
def tiny_latent_pipeline() -> AudioDiffusionPipeline:
    torch.manual_seed(0)
    vqvae = AutoencoderKL(
        in_channels=1, out_channels=1, latent_channels=1, block_out_channels=(8, 8), norm_num_groups=4,
        layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    )  # fmt: skip
    unet = tiny_unet(channels=1, size=16)
    pipe = AudioDiffusionPipeline(unet=unet, scheduler=DDIMScheduler(), vqvae=vqvae, mel_config=MEL)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_latent_model_saves_loads_and_samples(tmp_path):
    tiny_latent_pipeline().save_pretrained(tmp_path, safe_serialization=False)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["vqvae"] == ["diffusers", "AutoencoderKL"]
    assert (tmp_path / "vqvae" / "diffusion_pytorch_model.bin").is_file()
    pipe = AudioDiffusionPipeline.from_pretrained(tmp_path)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.latent_shape == (1, 16, 16)
    output = pipe(batch_size=2, num_inference_steps=2, generator=seeded(), output_type="pt")
    assert output.images.shape == (2, 1, 32, 32) and output.audios.shape == (2, 31 * 64)
    audio = clip()
    source = pipe.audio_to_images(audio)
    inpainted = pipe(audio=audio, mask=(torch.arange(32) >= 16).float(), num_inference_steps=2, output_type="pt")
    assert torch.equal(inpainted.images[..., 16:], source[..., 16:])
    noise = pipe.invert(audio, num_inference_steps=2)
    assert noise.shape == (1, 1, 16, 16) and math.isfinite(noise.std().item())


def test_every_scheduler_name_builds_its_class_on_the_training_schedule():
    import inspect

    training = DDPMScheduler(num_train_timesteps=500, beta_schedule="squaredcos_cap_v2", clip_sample=True)
    for name, (class_name, overrides) in schedulers.SCHEDULERS.items():
        built = schedulers.make_scheduler(name, training.config)
        assert type(built).__name__ == class_name, name
        assert built.config.num_train_timesteps == 500 and built.config.beta_schedule == "squaredcos_cap_v2", name
        assert all(built.config[key] == value for key, value in overrides.items()), name
        accepted = inspect.signature(type(built).__init__).parameters
        if "clip_sample" not in accepted and "thresholding" in accepted:  # DDPM's x0 clipping carried over
            assert built.config.thresholding and built.config.sample_max_value == 1.0, name
        assert schedulers.default_steps_for(built) == schedulers.SCHEDULERS[name].steps, name
    assert schedulers.default_steps_for(schedulers.make_scheduler("DDPMScheduler", training.config)) == 1000
    assert type(schedulers.make_scheduler("DDIMScheduler", training.config)) is DDIMScheduler
    with pytest.raises(ValueError, match="unknown scheduler 'UNet2DModel'"):
        schedulers.make_scheduler("UNet2DModel", training.config)
    assert pipeline_module.SCHEDULERS is schedulers.SCHEDULERS  # the registry lives in schedulers.py


@pytest.mark.parametrize(
    "prediction_type, zero_snr, refused",
    [
        ("v_prediction", False, []),
        ("sample", False, ["euler-ancestral", "pndm"]),
        ("v_prediction", True, ["heun", "pndm"]),
        ("sample", True, ["euler-ancestral", "heun", "pndm"]),
    ],
)
def test_every_sampler_follows_the_saved_prediction_type_and_zero_terminal_snr_or_is_refused(
    prediction_type, zero_snr, refused
):
    schedule = {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing"} if zero_snr else {}
    training = DDPMScheduler(prediction_type=prediction_type, clip_sample=True, **schedule)
    assert (training.alphas_cumprod[-1] == 0) == zero_snr
    pipe = AudioDiffusionPipeline(unet=tiny_unet(), scheduler=training, mel_config=MEL)
    pipe.set_progress_bar_config(disable=True)
    for name in schedulers.SCHEDULERS:
        if name in refused:
            with pytest.raises(ValueError, match=f"scheduler '{name}' cannot sample this model: "):
                pipe.set_scheduler(name)
            continue
        scheduler = pipe.set_scheduler(name).scheduler
        assert scheduler.config.prediction_type == prediction_type, name
        assert scheduler.config.get("rescale_betas_zero_snr", False) == zero_snr, name
        output = pipe(num_inference_steps=3, generator=seeded(), output_type="pt")
        assert torch.isfinite(output.images).all() and torch.isfinite(output.audios).all(), name
        assert (scheduler.config.timestep_spacing == "trailing") == zero_snr, name
        assert int(scheduler.timesteps[0]) == 999 or not zero_snr, name  # "trailing": the first step is pure noise
