"""The shipped base model `audiodiff-base-64`: in the package, loaded by its name offline wherever a pipeline is
accepted (the Python API, `generate`, `finetune MODEL`, `evaluate`), and fine-tuned on a genre it does not know."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch
from click.testing import CliRunner

from audiodiff.audio import save_audio
from audiodiff.cli.main import cli
from audiodiff.codec import load_png
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.pretrained import DEFAULT_BASE, SHIPPED, resolve, shipped_folder
from audiodiff.schedulers import SCHEDULERS
from audiodiff.synth import synthesize

GENRES = ["cinematic", "electronic", "rock"]


def invoke(*arguments):
    return CliRunner().invoke(cli, [str(argument) for argument in arguments], catch_exceptions=False)


@pytest.fixture(scope="module")
def base():
    return AudioDiffusionPipeline.from_pretrained(DEFAULT_BASE)


def test_the_base_ships_as_fp16_safetensors_under_25_mb_with_its_model_card(base):
    folder = shipped_folder(DEFAULT_BASE)
    assert list(SHIPPED) == [DEFAULT_BASE] and folder.parent.name == "pretrained"
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    assert weights.stat().st_size <= 25 * 2**20
    from safetensors import safe_open

    with safe_open(weights, "pt") as opened:
        assert {opened.get_slice(name).get_dtype() for name in opened.keys()} == {"F16"}
    card = (folder / "MODEL_CARD.md").read_text()
    for needed in ("CC-BY-SA-3.0", "hyperrogue-music", "warzone2100-music", "fretsonfire-songs", "Limits"):
        assert needed in card
    # Loaded for sampling in float32 (CPU kernels), conditioned on the collection's genres, with fences of its data.
    assert base.unet.dtype == torch.float32 and base.genres == GENRES
    assert base.mel_config.x_res == 64 and base.mel_config.y_res == 64 and base.mel_config.sample_rate == 22050
    assert base.quality and "fences" in base.quality
    training = json.loads((folder / "training.json").read_text())
    assert training["steps"] == base.training["steps"] and training["samples_seen"] >= 16 * training["steps"]
    # No record of the machine it was made on names a local path (diffusers' `_name_or_path` included).
    for record in folder.rglob("*.json"):
        text = record.read_text()
        local = [root for root in ("/tmp", "/root", "/home") if f'"{root}' in text]
        assert "_name_or_path" not in text and not local, record


def test_a_local_folder_of_the_same_name_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve(DEFAULT_BASE) == shipped_folder(DEFAULT_BASE)
    (tmp_path / DEFAULT_BASE).mkdir()
    assert shipped_folder(DEFAULT_BASE) is None and resolve(DEFAULT_BASE) == DEFAULT_BASE
    with pytest.raises(ValueError, match="no model_index.json"):
        AudioDiffusionPipeline.from_pretrained(DEFAULT_BASE)
    with pytest.raises(ValueError, match="nor a shipped pipeline: audiodiff-base-64"):
        AudioDiffusionPipeline.from_pretrained("audiodiff-base-65")


def test_generate_by_name_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = invoke("generate", DEFAULT_BASE, "--genre", "rock", "--clips", 2, "--steps", 3, "--seed", 1, "--out",
                    tmp_path, "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    for index in range(2):
        audio, rate = soundfile.read(tmp_path / f"generated_{index:03d}.wav", dtype="float32")
        assert rate == 22050 and audio.shape == (63 * 512,) and np.abs(audio).max() > 0.01
        pixels, _ = load_png(tmp_path / f"generated_{index:03d}.png")
        assert pixels.shape == (64, 64)
    result = invoke("generate", DEFAULT_BASE, "--genre", "jazz", "--steps", 2, "--out", tmp_path / "x")
    assert result.exit_code == 2 and "jazz" in result.output and "rock" in result.output


def test_the_base_recommends_its_sampler_and_auto_uses_it(tmp_path):
    """The base's folder names the sampler measured best for its weights (dpm-sde); "auto" samples with it, any other
    name still works, a save keeps it, and a folder without one samples "auto" with the default (dpm)."""
    pipeline = AudioDiffusionPipeline.from_pretrained(DEFAULT_BASE)
    assert pipeline.sampler == "dpm-sde" and pipeline.auto_sampler == "dpm-sde"
    assert pipeline.set_scheduler("auto").scheduler.config.algorithm_type == "sde-dpmsolver++"
    assert pipeline.set_scheduler("dpm").scheduler.config.algorithm_type == "dpmsolver++"
    pipeline.save_pretrained(tmp_path / "copy")
    assert json.loads((tmp_path / "copy" / "audiodiff.json").read_text())["sampler"] == "dpm-sde"
    assert AudioDiffusionPipeline.from_pretrained(tmp_path / "copy").sampler == "dpm-sde"
    with pytest.raises(ValueError, match="recommended sampler 'fastest' is not one of"):
        pipeline.sampler = "fastest"  # refused when set, not only when a folder is read back
    assert pipeline.sampler == "dpm-sde"
    pipeline.sampler = None
    pipeline.save_pretrained(tmp_path / "plain")
    plain = AudioDiffusionPipeline.from_pretrained(tmp_path / "plain")
    assert plain.sampler is None and "sampler" not in json.loads((tmp_path / "plain" / "audiodiff.json").read_text())
    assert plain.set_scheduler("auto").scheduler.config.algorithm_type == "dpmsolver++"
    record = json.loads((tmp_path / "copy" / "audiodiff.json").read_text())
    (tmp_path / "copy" / "audiodiff.json").write_text(json.dumps({**record, "sampler": "fastest"}))
    result = invoke("generate", tmp_path / "copy", "--steps", 2, "--out", tmp_path / "x")
    assert result.exit_code == 2 and "recommended sampler 'fastest' is not one of" in result.output


def test_the_help_names_the_sampler_and_steps_the_base_records():
    """`--scheduler` and `--steps` help name the base's recommended sampling in words; they follow its folder."""
    base = AudioDiffusionPipeline.from_pretrained(DEFAULT_BASE)

    def squeezed(text):  # click wraps help anywhere, after hyphens too
        return "".join(text.split())

    text = squeezed(invoke("generate", "--help").output)
    assert squeezed(f"{DEFAULT_BASE}: {base.sampler}, {base.sampler_steps} steps") in text
    assert squeezed(f"{DEFAULT_BASE}: {base.sampler_steps} with {base.sampler}") in text


def test_the_base_recommends_its_steps_for_its_sampler_only(tmp_path):
    """The base's folder also records the steps measured best with its sampler (60 for dpm-sde, against the
    sampler's own 20): "auto" and "dpm-sde" default to them, other samplers keep their own, a save keeps them, a
    value that is no whole number of steps within the training timesteps or has no sampler beside it is refused."""
    pipeline = AudioDiffusionPipeline.from_pretrained(DEFAULT_BASE)
    assert pipeline.sampler_steps == 60 and SCHEDULERS["dpm-sde"].steps == 20
    assert pipeline.set_scheduler("auto").default_steps == 60 == pipeline.steps_for("auto")
    assert pipeline.set_scheduler("dpm-sde").default_steps == 60
    assert pipeline.set_scheduler("dpm").default_steps == 20 == pipeline.steps_for("dpm")
    pipeline.save_pretrained(tmp_path / "copy")
    assert json.loads((tmp_path / "copy" / "audiodiff.json").read_text())["sampler_steps"] == 60
    assert AudioDiffusionPipeline.from_pretrained(tmp_path / "copy", scheduler="auto").default_steps == 60
    for bad in (0, 1001, 2.5, True):
        with pytest.raises(ValueError, match="recommended sampler steps must be a whole number from 1 to 1000"):
            pipeline.sampler_steps = bad
    assert pipeline.sampler_steps == 60
    pipeline.sampler = "dpm"
    assert pipeline.sampler_steps is None  # measured for dpm-sde, they say nothing of dpm
    pipeline.sampler = None
    with pytest.raises(ValueError, match="need a recommended sampler"):
        pipeline.sampler_steps = 30
    record = json.loads((tmp_path / "copy" / "audiodiff.json").read_text())
    (tmp_path / "copy" / "audiodiff.json").write_text(json.dumps({**record, "sampler_steps": -3}))
    result = invoke("generate", tmp_path / "copy", "--steps", 2, "--out", tmp_path / "x")
    assert result.exit_code == 2 and "recommended sampler steps must be a whole number" in result.output


def test_finetune_the_base_on_a_new_genre_then_generate_it(tmp_path):
    """The user's own folder name is a genre the base does not know: the fine-tune adds it, and it generates."""
    music = tmp_path / "music" / "arpeggios"
    music.mkdir(parents=True)
    save_audio(music / "song.wav", synthesize("arpeggios", 7.0, 22050, seed=0), 22050)
    data = tmp_path / "data"
    result = invoke("prepare", tmp_path / "music", "--out", data, "--mel-config", DEFAULT_BASE,
                    "--genre-from", "folder", "--num-proc", 1)  # fmt: skip
    assert result.exit_code == 0, result.output
    result = invoke("finetune", DEFAULT_BASE, "--data", data, "--genre", "arpeggios", "--out",
                    tmp_path / "tuned", "--max-steps", 2, "--batch-size", 2, "--sample-every", 0)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "genre 'arpeggios' is new to audiodiff-base-64" in result.output
    assert "copy check of the preview clips:" in result.output  # every fine-tune ends with a first copy check
    tuned = AudioDiffusionPipeline.from_pretrained(tmp_path / "tuned")
    assert tuned.genres == [*GENRES, "arpeggios"] and tuned.unet.config.num_class_embeds == 5
    assert tuned.sampler is None  # measured for the base's weights, not passed on to a fine-tune
    # The finetune preset recommends sampling guided by the base (autoguidance), and generate follows it by default.
    assert tuned.recommended_guide == {"model": "base", "scale": 1.25}
    assert "its clips are guided by its base at 1.25 by default" in result.output
    result = invoke("generate", tmp_path / "tuned", "--genre", "arpeggios", "--steps", 2, "--out", tmp_path / "clips",
                    "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"guided by {DEFAULT_BASE} at 1.25 (its folder's recommendation" in result.output
    assert (tmp_path / "clips" / "generated_000.wav").is_file()


def test_evaluate_accepts_the_base_by_name():
    from audiodiff.evaluation.clips import PipelineClips, open_source

    source = open_source(DEFAULT_BASE, generation={"count": 2})
    assert isinstance(source, PipelineClips)
