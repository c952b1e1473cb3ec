"""Tempo-locked noise (`audiodiff.tempo_noise`, `generate --bpm`): the noise's statistics, the pipeline's start and
step noise, the refusals, and the CLI's record."""

from __future__ import annotations

import functools
import json
import shlex

import pytest
import torch
from click.testing import CliRunner
from diffusers.utils.torch_utils import randn_tensor
from helpers import MEL, seeded, tiny_pipeline

from audiodiff import tempo_noise
from audiodiff.cli.main import cli

RATE = MEL.sample_rate / MEL.hop_length  # 125 columns a second


def column_correlation(noise: torch.Tensor, lag: int) -> float:
    """Pearson correlation of the noise's columns with those `lag` later, over everything else."""
    early, late = noise[..., :-lag].flatten().double(), noise[..., lag:].flatten().double()
    return float(torch.corrcoef(torch.stack([early, late]))[0, 1])


def test_locked_noise_repeats_every_period_with_unit_variance():
    shape = (4, 1, 64, 400)
    noise = tempo_noise.locked_noise(shape, seeded(0), "cpu", torch.float32, period=25, lock=0.8)
    assert noise.shape == shape
    assert abs(float(noise.std()) - 1.0) < 0.02 and abs(float(noise.mean())) < 0.02
    assert column_correlation(noise, 25) == pytest.approx(0.64, abs=0.03)  # lock^2
    assert column_correlation(noise, 50) == pytest.approx(0.64, abs=0.03)
    for lag in (1, 12, 24, 26):
        assert abs(column_correlation(noise, lag)) < 0.03, lag


def test_without_a_tempo_the_noise_is_exactly_the_white_draw():
    shape = (2, 1, 8, 40)
    white = randn_tensor(shape, generator=seeded(3), device="cpu", dtype=torch.float32)
    for period, lock in ((None, 0.8), (10, 0.0)):
        assert torch.equal(tempo_noise.locked_noise(shape, seeded(3), "cpu", torch.float32, period, lock), white)


def test_the_period_is_two_beats_in_whole_columns():
    assert tempo_noise.LOCK_BEATS == 2
    assert tempo_noise.period_columns(120, RATE) == 125  # two beats at 120 BPM: one second
    # The base's settings (22050 Hz, hop 512): 43 columns, 120.2 BPM.
    assert tempo_noise.period_columns(120, 22050 / 512) == 43
    assert tempo_noise.locked_bpm(120, 22050 / 512) == pytest.approx(120.2, abs=0.05)


@pytest.mark.parametrize(
    ("bpm", "lock", "message"),
    [
        (20, None, "bpm must be between 40 and 240"),
        (float("nan"), None, "bpm must be a number"),
        (True, None, "bpm must be a number"),
        (120, 1.0, "tempo_lock must be at least 0 and below 1"),
        (120, -0.1, "tempo_lock must be at least 0 and below 1"),
        (None, 0.5, "tempo_lock needs a tempo"),
    ],
)
def test_bad_tempi_are_refused_in_one_line(bpm, lock, message):
    with pytest.raises(ValueError, match=message):
        tempo_noise.check(bpm, lock)


def test_the_pipeline_locks_the_start_noise_and_every_stochastic_step():
    pipe = tiny_pipeline(scheduler="dpm-sde")
    period = pipe.tempo_period(240)
    assert period == (62, 0.8)  # two beats at 240 BPM, 125 columns a second: 62.5, rounded
    start = pipe.prepare_latents(2, seeded(1), 250, period)
    assert column_correlation(start, 62) > 0.5 and abs(column_correlation(start, 7)) < 0.2
    step_noises = []
    step = pipe.scheduler.step

    @functools.wraps(step)  # the same signature: the loop passes step noise where `step` takes it
    def recording_step(*args, **kwargs):
        if kwargs.get("variance_noise") is not None:
            step_noises.append(kwargs["variance_noise"])
        return step(*args, **kwargs)

    pipe.scheduler.step = recording_step
    locked = pipe(batch_size=2, num_inference_steps=4, seconds=2.0, bpm=240, generator=seeded(2), output_type="pt")
    assert len(step_noises) == 4 and all(noise.shape[-1] == 250 for noise in step_noises)
    assert all(column_correlation(noise, 62) > 0.5 for noise in step_noises)
    step_noises.clear()
    again = pipe(batch_size=2, num_inference_steps=4, seconds=2.0, bpm=240, generator=seeded(2), output_type="pt")
    assert torch.equal(locked.images, again.images)  # seeded: the same clips
    step_noises.clear()
    white = pipe(batch_size=2, num_inference_steps=4, seconds=2.0, generator=seeded(2), output_type="pt")
    assert not step_noises  # without a tempo the sampler draws its own noise, as before
    assert not torch.equal(locked.images, white.images)
    unlocked = pipe(batch_size=2, num_inference_steps=4, seconds=2.0, bpm=240, tempo_lock=0.0, generator=seeded(2),
                    output_type="pt")  # fmt: skip
    assert torch.equal(unlocked.images, white.images)


def test_a_deterministic_sampler_locks_the_start_noise_and_ddim_with_eta_its_steps():
    pipe = tiny_pipeline(scheduler="dpm")
    locked = pipe(num_inference_steps=3, seconds=2.0, bpm=240, generator=seeded(0), output_type="pt").images
    white = pipe(num_inference_steps=3, seconds=2.0, generator=seeded(0), output_type="pt").images
    assert not torch.equal(locked, white)
    ddim = tiny_pipeline(scheduler="ddim")  # with eta > 0 DDIM refuses a generator beside the step noise: not passed
    out = ddim(num_inference_steps=3, seconds=2.0, bpm=240, eta=1.0, generator=seeded(0), output_type="pt").images
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("scheduler", ["ddpm-fast", "euler-ancestral"])
def test_samplers_that_draw_their_own_step_noise_are_refused(scheduler):
    pipe = tiny_pipeline(scheduler=scheduler)
    with pytest.raises(ValueError, match=r"a tempo needs a sampler whose step noise audiodiff draws"):
        pipe(num_inference_steps=2, bpm=120)
    pipe(num_inference_steps=2)  # without a tempo they sample as before


def invoke(*arguments):
    return CliRunner().invoke(cli, [str(argument) for argument in arguments], catch_exceptions=False)


def test_generate_bpm_is_recorded_and_its_command_remakes_the_clip(tmp_path):
    folder = tmp_path / "pipe"
    tiny_pipeline(genres=["beats", "pads"]).save_pretrained(folder)
    common = ["--steps", 3, "--scheduler", "dpm-sde", "--seconds", 1, "--genre", "beats", "--device", "cpu"]
    made = invoke("generate", folder, "--out", tmp_path / "a", "--bpm", 240, "--tempo-lock", 0.7, "--seed", 4, *common)
    assert made.exit_code == 0, made.output
    assert "at 241.9 BPM: 0.7 of the noise repeats every two beats" in made.output  # 62 columns at 125 a second
    record = json.loads((tmp_path / "a" / "generated_000.json").read_text())
    assert record["settings"]["bpm"] == 240 and record["settings"]["tempo_lock"] == 0.7
    words = shlex.split(record["clips"][0]["command"])
    assert words[words.index("--bpm") + 1] == "240" and words[words.index("--tempo-lock") + 1] == "0.7"
    words[words.index("--out") + 1] = str(tmp_path / "b")
    again = invoke(*words[1:], "--device", "cpu")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "b" / "generated_000.wav").read_bytes() == (tmp_path / "a" / "generated_000.wav").read_bytes()
    plain = invoke("generate", folder, "--out", tmp_path / "c", "--seed", 4, *common)
    assert plain.exit_code == 0
    assert (tmp_path / "c" / "generated_000.wav").read_bytes() != (tmp_path / "a" / "generated_000.wav").read_bytes()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--bpm", 300], "Invalid value for '--bpm'"),
        (["--bpm", 120, "--tempo-lock", 1], "Invalid value for '--tempo-lock'"),
        (["--tempo-lock", 0.5], "tempo_lock needs a tempo"),
        (["--bpm", 120, "--scheduler", "ddpm"], "a tempo needs a sampler whose step noise audiodiff draws"),
    ],
)
def test_generate_refuses_a_bad_tempo_in_one_line_before_sampling(tmp_path, options, message):
    folder = tmp_path / "pipe"
    tiny_pipeline().save_pretrained(folder)
    result = CliRunner().invoke(cli, ["generate", str(folder), "--out", str(tmp_path / "out"),
                                      *map(str, options)])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert "BPM:" not in result.output  # nothing announced for a tempo that is refused
    assert not list((tmp_path / "out").glob("*.wav")) if (tmp_path / "out").exists() else True
