"""Autoguidance (`set_guide`, `denoisers.autoguided`, `--guide`): the mix of two real tiny UNets' predictions, the
genre a guide is asked for, the base a fine-tune records, and the one-line refusals."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch
from click.testing import CliRunner
from diffusers import DDPMScheduler
from helpers import MEL, seeded, tiny_pipeline

from audiodiff.autoguide import DEFAULT_SCALE, guide_labels
from audiodiff.cli.main import cli
from audiodiff.denoisers import autoguided
from audiodiff.pipeline import AudioDiffusionPipeline


def weaker(pipe: AudioDiffusionPipeline, seed: int = 1) -> AudioDiffusionPipeline:
    """`pipe` with every weight moved by seeded noise: another model of the same settings."""
    generator = seeded(seed)
    with torch.no_grad():
        for parameter in pipe.unet.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    return pipe


def test_autoguided_is_weak_plus_scale_times_the_difference():
    strong = lambda sample, timestep, step=0: sample + 1.0  # noqa: E731
    weak = lambda sample, timestep, step=0: sample * 0.5  # noqa: E731
    sample = torch.linspace(-1, 1, 12).reshape(1, 1, 3, 4)
    assert torch.allclose(autoguided(strong, weak, 1.0)(sample, torch.tensor(5)), sample + 1.0)
    expected = sample * 0.5 + 2.5 * (sample + 1.0 - sample * 0.5)
    assert torch.allclose(autoguided(strong, weak, 2.5)(sample, torch.tensor(5)), expected)


def test_guide_labels_keep_known_genres_by_name_and_ask_new_ones_unconditionally():
    labels = torch.tensor([0, 1, 2, 3])  # pads, drums, mine (new), the fine-tune's null label
    mapped = guide_labels(labels, ["pads", "drums", "mine"], ["drums", "pads"], guide_null=2)
    assert mapped.tolist() == [1, 0, 2, 2]
    assert guide_labels(None, None, ["drums", "pads"], guide_null=2).tolist() == [2]
    assert guide_labels(labels, ["pads", "drums", "mine"], None, guide_null=None) is None


def test_a_guided_step_mixes_the_two_unets_with_the_guides_labels():
    pipe = tiny_pipeline(genres=["pads", "drums", "mine"])
    guide = weaker(tiny_pipeline(genres=["drums", "pads"]))
    sample = torch.randn((3, 1, 32, 32), generator=seeded(2))
    timestep = torch.tensor(500)
    labels = torch.tensor([0, 2, 3])
    strong = pipe.unet(sample, timestep, class_labels=labels).sample
    weak = guide.unet(sample, timestep, class_labels=torch.tensor([1, 2, 2])).sample
    assert not torch.allclose(strong, weak, atol=1e-3)  # two different models

    pipe.set_guide(guide, 2.0)
    evaluations = pipe.unet_evaluations
    guided = pipe.denoiser(labels)(sample, timestep)
    assert torch.allclose(guided, weak + 2.0 * (strong - weak), atol=1e-5)
    assert pipe.unet_evaluations - evaluations == 6  # three samples, each through both UNets
    assert pipe.guide == {"model": "the given pipeline", "scale": 2.0}

    pipe.set_guide(guide, 1.0)  # scale 1: no guide, one call per sample
    assert pipe.guide is None
    assert torch.equal(pipe.denoiser(labels)(sample, timestep), strong)


def test_guided_clips_differ_from_plain_ones_and_are_reproducible():
    pipe = tiny_pipeline(genres=["pads"])
    plain = pipe(num_inference_steps=3, genre="pads", generator=seeded(4), output_type="pt").images
    pipe.set_guide(weaker(tiny_pipeline(genres=["pads"])), 1.5)
    first = pipe(num_inference_steps=3, genre="pads", generator=seeded(4), output_type="pt").images
    again = pipe(num_inference_steps=3, genre="pads", generator=seeded(4), output_type="pt").images
    assert torch.equal(first, again)
    assert (first - plain).abs().mean() > 1e-3


def test_guide_base_loads_the_model_the_fine_tune_records(tmp_path):
    base = weaker(tiny_pipeline(genres=["pads"]))
    base.save_pretrained(tmp_path / "base")
    pipe = tiny_pipeline(genres=["pads", "mine"], training={"pretrained": str(tmp_path / "base")})
    pipe.set_guide("base")
    assert pipe.guide == {"model": str(tmp_path / "base"), "scale": DEFAULT_SCALE}
    sample, timestep = torch.randn((1, 1, 32, 32), generator=seeded(3)), torch.tensor(300)
    weak = base.unet(sample, timestep, class_labels=torch.tensor([1])).sample  # "mine": the base's null label
    strong = pipe.unet(sample, timestep, class_labels=torch.tensor([1])).sample
    expected = weak + DEFAULT_SCALE * (strong - weak)
    assert torch.allclose(pipe.denoiser(torch.tensor([1]))(sample, timestep), expected, atol=1e-5)


def test_refusals_name_the_guide_and_the_problem(tmp_path):
    pipe = tiny_pipeline(genres=["pads"])
    with pytest.raises(ValueError, match="records no base it was fine-tuned from"):
        pipe.set_guide("base")
    with pytest.raises(ValueError, match=f"guide {tmp_path / 'missing'}: cannot load it"):
        pipe.set_guide(str(tmp_path / "missing"))
    other_mel = dataclasses.replace(MEL, hop_length=128)
    unet = tiny_pipeline(genres=["pads"]).unet
    hop = AudioDiffusionPipeline(unet=unet, scheduler=DDPMScheduler(), mel_config=other_mel, genres=["pads"])
    with pytest.raises(ValueError, match="has hop_length=128 but this pipeline hop_length=64"):
        pipe.set_guide(hop)
    v_model = AudioDiffusionPipeline(unet=unet, scheduler=DDPMScheduler(prediction_type="v_prediction"),
                                     mel_config=MEL, genres=["pads"])  # fmt: skip
    with pytest.raises(ValueError, match="predicts v_prediction, this pipeline epsilon"):
        pipe.set_guide(v_model)
    schedule = AudioDiffusionPipeline(unet=unet, scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
                                      mel_config=MEL, genres=["pads"])  # fmt: skip
    with pytest.raises(ValueError, match="another noise schedule"):
        pipe.set_guide(schedule)
    with pytest.raises(ValueError, match="guide scale must be a finite number"):
        pipe.set_guide(tiny_pipeline(genres=["pads"]), float("nan"))
    assert pipe.guide is None  # nothing refused was kept


def test_cli_generate_guided_by_the_recorded_base_records_it(tmp_path):
    base = weaker(tiny_pipeline(genres=["pads"]))
    base.save_pretrained(tmp_path / "base")
    tuned = tiny_pipeline(genres=["pads", "mine"], training={"pretrained": str(tmp_path / "base")})
    tuned.save_pretrained(tmp_path / "tuned")
    runner = CliRunner()
    options = ["--genre", "mine", "--steps", "2", "--clips", "1", "--seed", "5", "--scheduler", "ddim"]
    result = runner.invoke(cli, ["generate", str(tmp_path / "tuned"), "--out", str(tmp_path / "out"),
                                 "--guide-scale", "2", *options])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"guided by {tmp_path / 'base'} at 2" in result.output
    record = json.loads(next((tmp_path / "out").glob("generated_*.json")).read_text())
    assert record["guide"] == {"model": str(tmp_path / "base"), "scale": 2.0}
    assert "--guide-scale 2" in record["command"]

    result = runner.invoke(cli, ["generate", str(tmp_path / "base"), "--out", str(tmp_path / "out2"), "--guide",
                                 "base", "--genre", "pads", "--steps", "2"])  # fmt: skip
    assert result.exit_code == 2
    assert "--guide" in result.output and "records no base it was fine-tuned from" in result.output
    assert "Traceback" not in result.output


def test_a_recommended_guide_is_checked_saved_and_used_by_auto(tmp_path):
    """A folder's recommended guide is what "auto" samples with: checked when set, saved in audiodiff.json, loaded
    back; "auto" without one, "none" and None sample unguided."""
    base = weaker(tiny_pipeline(genres=["pads"]))
    base.save_pretrained(tmp_path / "base")
    tuned = tiny_pipeline(genres=["pads", "mine"], training={"pretrained": str(tmp_path / "base")},
                          recommended_guide={"model": "base", "scale": 1.5})  # fmt: skip
    tuned.save_pretrained(tmp_path / "tuned")
    assert json.loads((tmp_path / "tuned" / "audiodiff.json").read_text())["guide"] == {"model": "base", "scale": 1.5}
    loaded = AudioDiffusionPipeline.from_pretrained(tmp_path / "tuned")
    assert loaded.recommended_guide == {"model": "base", "scale": 1.5}
    assert loaded.guide is None  # loading alone guides nothing: the caller (or the CLI) asks for "auto"
    assert loaded.set_guide("auto").guide == {"model": str(tmp_path / "base"), "scale": 1.5}
    assert loaded.set_guide("auto", 2.0).guide == {"model": str(tmp_path / "base"), "scale": 2.0}
    assert loaded.set_guide("none").guide is None
    assert tiny_pipeline(genres=["pads"]).set_guide("auto").guide is None  # nothing recommended: no guide
    for bad, message in (({"model": "base"}, "a recommended guide is"), ({"model": "", "scale": 1.2}, "must name"),
                         ({"model": "auto", "scale": 1.2}, "must name"),
                         ({"model": "base", "scale": -1}, "finite number of at least 0")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            loaded.recommended_guide = bad
    assert loaded.recommended_guide == {"model": "base", "scale": 1.5}  # nothing refused was kept
    student = tiny_pipeline(genres=["pads"], scheduler="auto", distillation={"method": "progressive", "steps": 2})
    with pytest.raises(ValueError, match="distilled student samples without a guide"):
        student.recommended_guide = {"model": "base", "scale": 1.25}


def test_cli_sampling_follows_the_folders_recommended_guide_unless_told(tmp_path):
    base = weaker(tiny_pipeline(genres=["pads"]))
    base.save_pretrained(tmp_path / "base")
    tuned = tiny_pipeline(genres=["pads", "mine"], training={"pretrained": str(tmp_path / "base")},
                          recommended_guide={"model": "base", "scale": 1.25})  # fmt: skip
    tuned.save_pretrained(tmp_path / "tuned")
    runner = CliRunner()
    options = ["--genre", "mine", "--steps", "2", "--clips", "1", "--seed", "5", "--scheduler", "ddim"]

    def generate(out, *extra):
        result = runner.invoke(cli, ["generate", str(tmp_path / "tuned"), "--out", str(tmp_path / out), *options,
                                     *extra])  # fmt: skip
        assert result.exit_code == 0, result.output
        record = json.loads(next((tmp_path / out).glob("generated_*.json")).read_text())
        return result.output, record

    output, record = generate("auto")
    assert f"guided by {tmp_path / 'base'} at 1.25 (its folder's recommendation; --guide none" in output
    assert record["guide"] == {"model": str(tmp_path / "base"), "scale": 1.25}
    output, record = generate("none", "--guide", "none")
    assert "guided by" not in output and record["guide"] is None
    output, record = generate("scale", "--guide-scale", "2")  # the scale alone: the recommended model at it
    assert record["guide"] == {"model": str(tmp_path / "base"), "scale": 2.0}

    # A recommendation that cannot be followed (the base moved away) warns and samples unguided: nobody asked for it.
    shutil.rmtree(tmp_path / "base")
    output, record = generate("moved")
    assert "warning: not guided as the model's folder recommends: guide" in output and "cannot load it" in output
    assert record["guide"] is None and "Traceback" not in output
    result = runner.invoke(cli, ["generate", str(tmp_path / "tuned"), "--out", str(tmp_path / "asked"), *options,
                                 "--guide", "base"])  # fmt: skip
    assert result.exit_code == 2 and "cannot load it" in result.output  # asked for: a usage error


def test_evaluate_generates_as_generate_does_guided_as_the_folder_recommends(tmp_path):
    from audiodiff.evaluation.clips import generate_clips

    weaker(tiny_pipeline(genres=["pads"])).save_pretrained(tmp_path / "base")
    tuned = tiny_pipeline(genres=["pads", "mine"], training={"pretrained": str(tmp_path / "base")},
                          recommended_guide={"model": "base", "scale": 1.5})  # fmt: skip
    tuned.save_pretrained(tmp_path / "tuned")
    said = []
    options = dict(genre="mine", num_inference_steps=2, scheduler="ddim", seed=3, log=said.append)
    guided = generate_clips(tmp_path / "tuned", 1, guide="auto", **options)
    assert said == [f"guided by {tmp_path / 'base'} at 1.5"]
    plain = generate_clips(tmp_path / "tuned", 1, guide="none", **options)
    assert said == [f"guided by {tmp_path / 'base'} at 1.5"]  # nothing more: no guide
    assert (guided.images - plain.images).abs().mean() > 1e-3


def test_the_fine_tune_presets_recommend_their_base_as_the_guide():
    """Measured for full and LoRA fine-tunes of ten songs (BENCHMARKS.md); the demo's preset was not, and keeps
    sampling unguided."""
    from audiodiff.train_config import TrainConfig

    assert TrainConfig.load("finetune").guide_scale == TrainConfig.load("finetune-lora").guide_scale == DEFAULT_SCALE
    assert TrainConfig.load("demo-finetune").guide_scale is None and TrainConfig.load("base").guide_scale is None
