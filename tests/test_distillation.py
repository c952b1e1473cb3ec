"""Distillation: consistency and progressive students of a tiny genre-conditioned teacher, guided targets, the
boundary condition, resume, the student as a pipeline (CLI, diffusers), and the errors users meet."""

import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from audiodiff import editing
from audiodiff.checkpoints import checkpoint_dirs
from audiodiff.codec import pixels_to_model
from audiodiff.config import ConfigError
from audiodiff.distillation import (
    DistillationError,
    DistillConfig,
    Distiller,
    boundary_scalings,
    consistency_function,
    distill,
)
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.training import TrainConfig, train


def tiny(**changes) -> DistillConfig:
    return DistillConfig.load("tiny", **changes)


@pytest.fixture(scope="module")
def teacher(data, tmp_path_factory):
    """A tiny genre-conditioned teacher (beats, pads, arpeggios), trained a few steps."""
    folder = tmp_path_factory.mktemp("teacher")
    config = TrainConfig.load("tiny", max_steps=8, conditional=True, checkpoint_every=0, num_samples=0)
    train(config, data, folder, progress=False)
    return folder


def load_weights(folder):
    from safetensors.torch import load_file

    return load_file(folder / "unet" / "diffusion_pytorch_model.safetensors")


def test_boundary_condition_and_the_lcm_scheduler_step():
    """f(x, 0) = x exactly; at any t the consistency function is LCMScheduler's one-step output."""
    from diffusers import LCMScheduler

    generator = torch.Generator().manual_seed(0)
    sample, output = torch.randn(2, 3, 1, 8, 8, generator=generator)
    c_skip, c_out = boundary_scalings(torch.tensor([0, 999]))
    assert c_skip[0] == 1 and c_out[0] == 0
    scheduler = LCMScheduler(original_inference_steps=50, clip_sample=True)
    alphas = scheduler.alphas_cumprod
    zero = torch.zeros(3, dtype=torch.long)
    torch.testing.assert_close(consistency_function(output, sample, zero, alphas, "epsilon"), sample, atol=1e-6, rtol=0)
    for steps in (1, 2, 4):
        scheduler.set_timesteps(steps)
        timestep = scheduler.timesteps[-1]
        scheduler._step_index = steps - 1  # the last step: no noise is added back
        expected = scheduler.step(output, timestep, sample).prev_sample
        ours = consistency_function(output, sample, timestep.repeat(3), alphas, "epsilon", clip_range=1.0)
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_consistency_student_starts_as_the_teachers_clean_image_estimate(teacher, data, tmp_path):
    """Before any step, the 1-step student returns the teacher's x0 parametrisation at t = 999 (boundary scalings
    c_skip(999) ~ 3e-9, c_out(999) ~ 1) to 1e-5."""
    distiller = Distiller.start(tiny(), data, tmp_path / "run", str(teacher), progress=False)
    student = distiller.build_pipeline()
    student.set_progress_bar_config(disable=True)
    latents = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    images = student(latents=latents, num_inference_steps=1, output_type="pt", genre="pads").images
    teacher_pipe = AudioDiffusionPipeline.from_pretrained(teacher)
    labels = teacher_pipe.genre_labels("pads", 2)
    t = torch.tensor(999)
    with torch.no_grad():
        output = teacher_pipe.unet(latents, t, class_labels=labels).sample
    alpha = teacher_pipe.scheduler.alphas_cumprod[999]
    clean = editing.original_from_output(output, latents, alpha, "epsilon").clamp(-1, 1)
    assert student.unet_evaluations == 2  # one call per clip and step, no guidance pass
    expected = pixels_to_model(student.quantize(clean), 8).unsqueeze(1)  # what the saved image holds
    torch.testing.assert_close(images, expected, atol=1e-5, rtol=0)


def test_guided_target_is_the_teachers_guided_output(teacher, data, tmp_path):
    distiller = Distiller.start(tiny(guidance=3.0), data, tmp_path / "run", str(teacher), progress=False)
    teacher_pipe = AudioDiffusionPipeline.from_pretrained(teacher)
    generator = torch.Generator().manual_seed(2)
    sample = torch.randn(3, 1, 32, 32, generator=generator)
    timesteps = torch.tensor([10, 500, 999])
    labels = torch.tensor([0, 2, 3])  # two genres and the null label
    with torch.no_grad():
        ours = distiller._teacher_output(distiller.teacher, sample, timesteps, labels, 3.0)
        for index in range(3):
            guided = teacher_pipe.denoiser(labels[index : index + 1], 3.0)
            expected = guided(sample[index : index + 1], timesteps[index])
            torch.testing.assert_close(ours[index : index + 1], expected, atol=1e-5, rtol=1e-5)
    # The null label's target is the unconditional output, unguided.
    unconditional = teacher_pipe.unet(sample[2:], timesteps[2:], class_labels=labels[2:]).sample
    torch.testing.assert_close(ours[2:], unconditional.detach(), atol=1e-5, rtol=1e-5)


def test_consistency_student_is_a_few_step_pipeline(teacher, data, tmp_path):
    result = distill(tiny(guidance=2.0, max_steps=4), data, tmp_path / "student", str(teacher), progress=False)
    assert result.steps == 4 and len(result.losses) == 4 and all(map(torch.isfinite, torch.tensor(result.losses)))
    folder = tmp_path / "student"
    index = json.loads((folder / "model_index.json").read_text())
    assert index["scheduler"] == ["diffusers", "LCMScheduler"] and index["unet"] == ["diffusers", "UNet2DModel"]
    record = json.loads((folder / "audiodiff.json").read_text())["distillation"]
    assert record["method"] == "consistency" and record["steps"] == 4 and record["guidance"] == 2.0
    # 4 steps x 4 images x (student 3 + guided teacher 2 + target 1), less the null labels' unguided teacher pass.
    assert 4 * 4 * 5 <= record["forward_passes"] <= 4 * 4 * 6
    student = AudioDiffusionPipeline.from_pretrained(folder)
    student.set_progress_bar_config(disable=True)
    assert student.default_steps == 4 and type(student.scheduler).__name__ == "LCMScheduler"
    for steps in (None, 2, 1):
        student.unet_evaluations = 0
        output = student(batch_size=2, num_inference_steps=steps, genre="beats", guidance_scale=2.0,
                         generator=torch.Generator().manual_seed(0), output_type="pt")  # fmt: skip
        assert student.unet_evaluations == 2 * (steps or 4)  # guidance is built in: one call per step
        assert output.images.shape == (2, 1, 32, 32) and torch.isfinite(output.audios).all()
    longer = student(seconds=0.6, generator=torch.Generator().manual_seed(0), output_type="pt")  # MultiDiffusion
    assert longer.images.shape[-1] == 75
    with pytest.raises(ValueError, match="distilled at guidance 2"):
        student(genre="beats", guidance_scale=4.0)
    with pytest.raises(ValueError, match="consistency-distilled student.*not 'dpm'"):
        student.set_scheduler("dpm")
    assert student.set_scheduler("auto").scheduler is student.scheduler
    with pytest.raises(ValueError, match="invert with its teacher"):
        student.invert(images=longer.images[..., :32])
    # diffusers' own loader reads the folder.
    from diffusers import DiffusionPipeline

    loaded = DiffusionPipeline.from_pretrained(folder)
    assert type(loaded.scheduler).__name__ == "LCMScheduler"


def test_progressive_rounds_halve_the_steps_and_resume_exactly(teacher, data, tmp_path):
    config = tiny(method="progressive", teacher_steps=8, steps=2, max_steps=6, checkpoint_every=2, keep_checkpoints=3)
    straight = tmp_path / "straight"
    distill(config, data, straight, str(teacher), genre="pads", progress=False)
    record = json.loads((straight / "audiodiff.json").read_text())["distillation"]
    assert record["rounds"] == 2 and record["teacher_steps"] == 8 and record["steps"] == 2
    student = AudioDiffusionPipeline.from_pretrained(straight)
    student.set_progress_bar_config(disable=True)
    assert type(student.scheduler).__name__ == "DDIMScheduler"
    assert student.scheduler.config.timestep_spacing == "trailing"
    assert student.scheduler.config.prediction_type == "v_prediction"  # the paper's parametrisation
    student(genre="pads", generator=torch.Generator().manual_seed(0))
    assert student.unet_evaluations == 2
    # Stopped after the step-4 checkpoint (in the second round, whose teacher the checkpoint holds), resumed.
    resumed = tmp_path / "resumed"
    shutil.copytree(straight, resumed)
    for name in ("model_index.json", "unet", "scheduler", "audiodiff.json"):
        target = resumed / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    shutil.rmtree(checkpoint_dirs(resumed)[-1])
    assert checkpoint_dirs(resumed)[-1].name == "step_00000004"
    state = torch.load(checkpoint_dirs(resumed)[-1] / "state.pt", weights_only=True)
    assert state["round"] == 1 and "round_teacher" in state
    Distiller.resume(resumed, progress=False).run()
    one, other = load_weights(straight), load_weights(resumed)
    for name in one:
        torch.testing.assert_close(one[name], other[name], rtol=0, atol=1e-6)


def test_guided_consistency_run_resumed_from_its_first_checkpoint_equals_uninterrupted(teacher, data, tmp_path):
    """A guided consistency run stopped after its first checkpoint (the final folder not yet written, as after a
    crash) and resumed ends with the weights and the forward-pass count of the run never stopped. That a SIGKILL
    leaves a usable checkpoint is proven once, for the checkpoint code every trainer shares, in test_training."""
    config = tiny(max_steps=6, checkpoint_every=2, keep_checkpoints=3, guidance=2.0)
    straight = tmp_path / "straight"
    distill(config, data, straight, str(teacher), progress=False)
    resumed = tmp_path / "resumed"
    shutil.copytree(straight, resumed)
    for name in ("model_index.json", "unet", "scheduler", "audiodiff.json"):
        target = resumed / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    for later in checkpoint_dirs(resumed)[1:]:
        shutil.rmtree(later)
    assert [folder.name for folder in checkpoint_dirs(resumed)] == ["step_00000002"]
    Distiller.resume(resumed, progress=False).run()
    one, other = load_weights(straight), load_weights(resumed)
    for name in one:
        torch.testing.assert_close(one[name], other[name], rtol=0, atol=1e-6)
    records = [json.loads((folder / "audiodiff.json").read_text())["distillation"] for folder in (straight, resumed)]
    assert records[0]["forward_passes"] == records[1]["forward_passes"] > 0
    assert records[0]["guidance"] == records[1]["guidance"] == 2.0


def test_cli_distill_then_every_command_samples_the_student(teacher, dataset_dir, tmp_path):
    """`generate`, `vary`, `inpaint`, `interpolate` and `evaluate` sample a student with its own scheduler and steps
    and no extra flag; `edit` and clip interpolation (DDIM inversion) are refused in one line naming the teacher."""
    from audiodiff.audio import save_audio
    from audiodiff.cli.main import cli
    from audiodiff.synth import synthesize

    def invoke(*arguments):
        return CliRunner().invoke(cli, [str(argument) for argument in arguments])

    student = tmp_path / "student"
    result = invoke("distill", teacher, "--data", dataset_dir, "--out", student, "--config", "tiny",
                    "--steps", "2", "--guidance", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    song = tmp_path / "song.wav"
    save_audio(song, synthesize("pads", 1.0, 8000, seed=5), 8000)
    clips = tmp_path / "clips"
    for arguments in (
        ("generate", student, "--clips", 2, "--genre", "pads", "--seed", 0, "--seconds", 0.5),
        ("vary", student, song, "--clips", 1, "--strength", 0.5),
        ("inpaint", student, song, "--start", 0.05, "--end", 0.15),
        ("interpolate", student, "--clips", 3, "--genre", "beats"),
    ):
        result = invoke(*arguments, "--out", clips, "--device", "cpu")
        assert result.exit_code == 0, (arguments, result.output)
    assert len(list(clips.glob("*.wav"))) == 2 + 1 + 1 + 3 + 1  # the morph too
    report = tmp_path / "report"
    result = invoke("evaluate", "--generated", student, "--reference", dataset_dir, "--genre", "pads", "--clips", 4,
                    "--out", report, "--reconstruction-clips", 1)  # fmt: skip
    assert result.exit_code == 0, result.output
    for arguments in (
        ("edit", student, song, "--genre", "beats"),
        ("interpolate", student, "--from-audio", song, "--to-audio", song),
    ):
        result = invoke(*arguments, "--out", clips, "--device", "cpu")
        assert result.exit_code == 2 and "is a distilled student" in result.output and str(teacher) in result.output
        assert "Traceback" not in result.output
    result = invoke("generate", student, "--scheduler", "ddim", "--out", clips, "--device", "cpu")
    assert result.exit_code == 2 and "not 'ddim'" in result.output


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--method", "progressive", "--steps", "3"],
            "halves the teacher's 64 steps each round, so steps must be one of 32",
        ),
        (["--steps", "60"], "steps must be at most solver_steps 50"),
        (["--genre", "polka"], "genre 'polka' is not in dataset"),
        (["--learning-rate", "0.001", "--beta-schedule", "linear"], "--beta-schedule does not apply"),
    ],
)
def test_cli_distill_errors_are_one_line(teacher, dataset_dir, tmp_path, arguments, message):
    from audiodiff.cli.main import cli

    result = CliRunner().invoke(cli, ["distill", str(teacher), "--data", str(dataset_dir), "--out",
                                      str(tmp_path / "out"), *arguments])  # fmt: skip
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    assert message in result.output and "Traceback" not in result.output


def test_refusals(teacher, data, tmp_path):
    # Mel settings that differ from the data's.
    shutil.copytree(teacher, tmp_path / "other")
    mel_file = tmp_path / "other" / "mel" / "mel_config.json"
    mel_file.write_text(json.dumps({**json.loads(mel_file.read_text()), "sample_rate": 16000}))
    with pytest.raises(DistillationError, match="other mel settings.*sample_rate 16000 vs 8000"):
        Distiller.start(tiny(), data, tmp_path / "a", str(tmp_path / "other"), progress=False)
    # Guidance for a teacher without genres.
    plain = TrainConfig.load("tiny", max_steps=1, checkpoint_every=0, num_samples=0)
    train(plain, data, tmp_path / "plain", progress=False)
    with pytest.raises(DistillationError, match="needs a genre-conditioned teacher"):
        Distiller.start(tiny(guidance=2.0), data, tmp_path / "b", str(tmp_path / "plain"), progress=False)
    # A student is not a teacher.
    distill(tiny(max_steps=1), data, tmp_path / "student", str(teacher), progress=False)
    with pytest.raises(DistillationError, match="already a distilled student"):
        Distiller.start(tiny(), data, tmp_path / "c", str(tmp_path / "student"), progress=False)
    # Settings that do not apply, and consistency without its target network.
    with pytest.raises(ConfigError, match="snr_gamma does not apply"):
        tiny(snr_gamma=5.0)
    with pytest.raises(ConfigError, match="needs use_ema"):
        tiny(use_ema=False)


def test_a_diverged_distillation_stops_with_one_line_and_saves_no_student(teacher, data, tmp_path):
    run = tmp_path / "run"
    config = tiny(learning_rate=1e30, max_steps=6, checkpoint_every=1, keep_checkpoints=6)
    with pytest.raises(DistillationError, match=r"step \d: the .* is (nan|inf) \(diverged\): lower --learning-rate "
                                                r"\(now 1e\+30\)"):  # fmt: skip
        distill(config, data, run, str(teacher), progress=False)
    assert not (run / "model_index.json").exists()
    for folder in checkpoint_dirs(run):
        assert all(torch.isfinite(tensor).all() for tensor in load_weights(folder).values())


def test_cli_distill_refuses_a_folder_another_run_holds(teacher, dataset_dir, tmp_path):
    import os

    from audiodiff.cli.main import cli
    from audiodiff.utils import LOCK_NAME, output_lock

    out = tmp_path / "out"
    with output_lock(out, "audiodiff distill"):  # as another process would (flock is per open file)
        result = CliRunner().invoke(cli, ["distill", str(teacher), "--data", str(dataset_dir), "--config",
                                          "tiny", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"{out} is in use by process {os.getpid()} (audiodiff distill)" in result.output
    assert "Traceback" not in result.output and [path.name for path in out.iterdir()] == [LOCK_NAME]
