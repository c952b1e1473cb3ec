"""The diffusion transformer backbone (`SpectrogramDiT`, preset `backbone: dit`): shapes at any width, adaLN-Zero
start, and the whole chain on it: training with genre labels, exact resume, diffusers loading, guided sampling,
DDIM inversion and a distilled student."""

import importlib
import json
import math
import shutil
import sys

import pytest
import torch
from conftest import stopped_after_first_checkpoint_then_resumed

from audiodiff.config import ConfigError
from audiodiff.dit import SpectrogramDiT
from audiodiff.models import DiTPreset, build_model, count_parameters, load_model_preset
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.training import TrainConfig, train


def dit_config(**changes) -> TrainConfig:
    values = dict(model="dit-tiny", conditional=True, batch_size=4, learning_rate=2e-3, lr_warmup_steps=2,
                  max_steps=30, epochs=None, ema_max_decay=0.99, checkpoint_every=0, sample_every=0, num_samples=0,
                  prediction_type="v_prediction", snr_gamma=5.0, log_every=1, seed=0)  # fmt: skip
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def dit_run(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dit")
    return folder, train(dit_config(), data, folder, progress=False)


def test_dit_takes_any_width_of_whole_patches_and_starts_at_zero_output():
    model = build_model(load_model_preset("dit-tiny"), (32, 32), num_genres=2)
    assert isinstance(model, SpectrogramDiT) and model.config.num_class_embeds == 3
    labels = torch.tensor([0, 2])
    for width in (32, 64, 128):  # 1x, 2x and 4x the training width
        sample = torch.randn(2, 1, 32, width)
        output = model(sample, torch.tensor([10, 500]), class_labels=labels).sample
        assert output.shape == sample.shape and output.abs().max() == 0  # adaLN-Zero: the output layer starts at 0
    torch.nn.init.normal_(model.proj_out.weight)
    torch.nn.init.normal_(model.modulation_out.weight)
    sample = torch.randn(2, 1, 32, 64)
    scalar = model(sample, 7, class_labels=labels).sample
    assert scalar.abs().max() > 0
    torch.testing.assert_close(scalar, model(sample, torch.tensor([7, 7]), class_labels=labels).sample)
    # The label reaches the output; the null label is an embedding like the others.
    assert not torch.equal(scalar, model(sample, 7, class_labels=torch.tensor([1, 1])).sample)
    with pytest.raises(ValueError, match="image 32x30 is not a multiple of the patch size 4"):
        model(torch.randn(1, 1, 32, 30), 1, class_labels=labels[:1])
    with pytest.raises(ValueError, match="class_labels are required"):
        model(sample, 1)


def test_dit_presets_match_their_unet_counterparts_and_bad_presets_are_refused(tmp_path):
    small = count_parameters(build_model(load_model_preset("small-64"), (64, 64)))
    dit = count_parameters(build_model(load_model_preset("dit-64"), (64, 64)))
    assert abs(dit - small) / small < 0.05, (dit, small)  # "at matched parameters" for the recipe study
    assert load_model_preset("dit-256").patch_size == 8  # 32 x 32 tokens for a 256 x 256 slice
    conv = build_model(load_model_preset("dit-64-conv"), (64, 64), num_genres=2)
    assert count_parameters(conv) == dit + 10 + 3 * 192  # a 3x3 convolution; labels: 2 genres and the null one
    assert conv(torch.randn(1, 1, 64, 128), 5, class_labels=torch.tensor([2])).sample.abs().max() == 0
    with pytest.raises(ConfigError, match="both sides must be multiples of its patch size 4"):
        build_model(load_model_preset("dit-64"), (64, 62))
    with pytest.raises(ConfigError, match="hidden_size 30 must be a multiple of num_heads 4"):
        DiTPreset(patch_size=4, hidden_size=30, depth=1, num_heads=4)
    bad = tmp_path / "bad.yaml"
    bad.write_text("backbone: mamba\npatch_size: 4\n")
    with pytest.raises(ConfigError, match="backbone must be one of unet, dit, got 'mamba'"):
        load_model_preset(bad)
    bad.write_text("backbone: dit\npatch_size: 4\nhidden_size: 32\ndepth: 1\nnum_heads: 2\nchannels: 3\n")
    with pytest.raises(ConfigError, match="channels"):
        load_model_preset(bad)


def test_dit_trains_saves_loads_in_diffusers_generates_with_guidance_and_inverts(dit_run):
    folder, result = dit_run
    assert result.steps == 30 and all(math.isfinite(loss) for loss in result.losses)
    early, late = sum(result.losses[:6]) / 6, sum(result.losses[-6:]) / 6
    assert late < 0.8 * early, (early, late)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["unet"] == ["audiodiff.dit", "SpectrogramDiT"]
    from diffusers import DiffusionPipeline

    assert type(DiffusionPipeline.from_pretrained(folder).unet).__name__ == "SpectrogramDiT"
    pipeline = AudioDiffusionPipeline.from_pretrained(folder, scheduler="dpm")
    pipeline.set_progress_bar_config(disable=True)
    assert pipeline.genres == ["beats", "pads", "arpeggios"]

    def sample(**options):
        generator = torch.Generator().manual_seed(3)
        return pipeline(batch_size=2, num_inference_steps=4, generator=generator, output_type="pt", **options)

    guided = sample(genre="pads", guidance_scale=3.0)
    assert guided.images.shape == (2, 1, 32, 32) and torch.isfinite(guided.images).all()
    assert guided.audios.shape == (2, (pipeline.mel_config.x_res - 1) * pipeline.mel_config.hop_length)
    assert not torch.equal(guided.images, sample(genre="pads").images)  # guidance changes the result
    assert not torch.equal(guided.images, sample(genre="beats", guidance_scale=3.0).images)  # so does the genre
    # DDIM inversion through the transformer: regenerating from the inverted noise gives the clip back far closer
    # than an unrelated sample is.
    pipeline.set_scheduler("ddim")
    source = guided.images[:1]
    noise = pipeline.invert(images=source, num_inference_steps=20, refinements=3, genre="pads")
    again = pipeline(latents=noise, num_inference_steps=20, output_type="pt", genre="pads").images
    unrelated = (guided.images[1:] - source).abs().mean()
    assert (again - source).abs().mean() < 0.2 * unrelated, ((again - source).abs().mean(), unrelated)


def test_a_dit_folder_saved_under_the_old_module_name_still_loads(dit_run, tmp_path, monkeypatch):
    """Folders saved before the DiT moved to `audiodiff.dit` name `audiodiff.transformer` in model_index.json:
    diffusers loads them once that module is imported (it warns, for one release); audiodiff's own loader goes by
    the class name."""
    from diffusers import DiffusionPipeline

    folder = tmp_path / "old"
    shutil.copytree(dit_run[0], folder, ignore=shutil.ignore_patterns("checkpoints", "logs", "samples"))
    index = json.loads((folder / "model_index.json").read_text())
    index["unet"] = ["audiodiff.transformer", "SpectrogramDiT"]
    (folder / "model_index.json").write_text(json.dumps(index))
    monkeypatch.delitem(sys.modules, "audiodiff.transformer", raising=False)  # the warning comes on first import
    with pytest.raises(ValueError, match="import audiodiff.transformer before calling `from_pretrained`"):
        DiffusionPipeline.from_pretrained(folder)  # diffusers imports no module that a folder names
    with pytest.warns(DeprecationWarning, match="audiodiff.transformer is deprecated: import SpectrogramDiT from"):
        old_module = importlib.import_module("audiodiff.transformer")
    assert old_module.SpectrogramDiT is SpectrogramDiT
    assert type(DiffusionPipeline.from_pretrained(folder).unet) is SpectrogramDiT
    assert type(AudioDiffusionPipeline.from_pretrained(folder).unet) is SpectrogramDiT


def test_dit_run_resumes_exactly(data, tmp_path):
    config = dit_config(max_steps=6, checkpoint_every=3, keep_checkpoints=1)
    straight = train(config, data, tmp_path / "straight", progress=False)
    resumed = stopped_after_first_checkpoint_then_resumed(config, data, tmp_path / "resumed")
    assert resumed.losses == straight.losses
    from safetensors.torch import load_file

    weights = [
        load_file(tmp_path / run / "unet" / "diffusion_pytorch_model.safetensors") for run in ("straight", "resumed")
    ]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_a_consistency_student_of_a_dit_teacher_is_a_dit_and_samples_in_two_steps(dit_run, data, tmp_path):
    from audiodiff.distillation import DistillConfig, distill

    folder, _ = dit_run
    distill(DistillConfig.load("tiny", max_steps=2), data, tmp_path / "student", teacher=str(folder), progress=False)
    student = AudioDiffusionPipeline.from_pretrained(tmp_path / "student")
    student.set_progress_bar_config(disable=True)
    assert type(student.unet).__name__ == "SpectrogramDiT" and student.distillation["method"] == "consistency"
    images = student(num_inference_steps=2, genre="beats", generator=torch.Generator().manual_seed(0)).images
    assert len(images) == 1 and images[0].size == (32, 32)
