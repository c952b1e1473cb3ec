import json

import pytest

from audiodiff.config import ConfigError, MelConfig, load_dataclass


def test_defaults_are_the_reference_settings():
    config = MelConfig()
    assert config.to_dict() == {
        "x_res": 256,
        "y_res": 256,
        "sample_rate": 22050,
        "n_fft": 2048,
        "hop_length": 512,
        "top_db": 80,
        "n_iter": 32,
    }
    assert config.slice_size == 256 * 512 - 1
    assert config.frames_for(config.slice_size) == 256
    assert config.slice_seconds == pytest.approx(5.944, abs=1e-3)


def test_save_load_round_trip_and_reference_format(tmp_path):
    config = MelConfig(x_res=128, y_res=64, sample_rate=16000)
    path = config.save(tmp_path)
    assert path == tmp_path / "mel_config.json"
    data = json.loads(path.read_text())
    assert data["_class_name"] == "Mel"
    assert MelConfig.load(tmp_path) == config
    assert MelConfig.load(path) == config


def test_config_is_readable_by_the_reference_mel(tmp_path):
    from diffusers.pipelines.deprecated.audio_diffusion import Mel

    MelConfig(x_res=64, y_res=32).save(tmp_path)
    mel = Mel.from_pretrained(tmp_path)
    assert (mel.x_res, mel.y_res, mel.slice_size) == (64, 32, 64 * 512 - 1)


def test_loads_pipeline_folder_layout_and_yaml(tmp_path):
    MelConfig(x_res=32).save(tmp_path / "mel")
    assert MelConfig.load(tmp_path).x_res == 32
    (tmp_path / "mel.yaml").write_text("x_res: 48\ny_res: 48\n")
    assert MelConfig.load(tmp_path / "mel.yaml").y_res == 48


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"x_res": 0}, "x_res must be positive"),
        ({"n_fft": -2}, "n_fft must be positive"),
        ({"hop_length": 4096}, "hop_length (4096) must not exceed n_fft (2048)"),
        ({"y_res": 600, "n_fft": 1024}, "y_res (600) mel bands need at most"),
        ({"n_iter": 10**9}, "n_iter=1000000000 is out of range (allowed 1..1000)"),  # would hang decoding
        ({"x_res": 10**6}, "x_res=1000000 is out of range (allowed 1..4096)"),
        ({"sample_rate": 22050.5}, "sample_rate must be a whole number"),
    ],
)
def test_invalid_values_are_refused_with_the_key(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MelConfig(**changes)


def test_unknown_key_is_an_error_naming_it(tmp_path):
    path = tmp_path / "mel_config.json"
    path.write_text(json.dumps({"x_res": 64, "hop_lenght": 256}))
    with pytest.raises(ConfigError, match="unknown key 'hop_lenght'") as error:
        MelConfig.load(path)
    assert str(path) in str(error.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="no mel_config.json"):
        MelConfig.load(tmp_path)
    bad = tmp_path / "mel_config.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        MelConfig.load(bad)


def test_load_dataclass_requires_required_fields():
    import dataclasses

    @dataclasses.dataclass
    class Needs:
        name: str
        size: int = 1

    assert load_dataclass(Needs, {"name": "a"}) == Needs("a", 1)
    with pytest.raises(ConfigError, match="missing required key 'name'"):
        load_dataclass(Needs, {"size": 2}, "preset.yaml")


def test_find_looks_in_dataset_and_pipeline_layouts_and_returns_none_elsewhere(tmp_path):
    assert MelConfig.find(tmp_path) is None
    MelConfig(x_res=32).save(tmp_path / "pipeline" / "mel")
    MelConfig(x_res=48).save(tmp_path / "dataset")
    assert MelConfig.find(tmp_path / "pipeline").x_res == 32 and MelConfig.find(tmp_path / "dataset").x_res == 48
    (tmp_path / "dataset" / "mel_config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        MelConfig.find(tmp_path / "dataset")


def test_compatible_settings_may_differ_in_width_and_decoder_only():
    config = MelConfig(x_res=64, y_res=64, sample_rate=16000, n_fft=512, hop_length=128)
    config.check_compatible(config.replace(x_res=128, n_iter=8))
    other = config.replace(hop_length=64, top_db=60, x_res=32)
    assert config.mismatches(other) == ["hop_length", "top_db"]
    assert config.mismatches(other, keys=("x_res", "hop_length")) == ["x_res", "hop_length"]
    with pytest.raises(ConfigError, match="^ours have hop_length=128 but theirs have hop_length=64; retry$"):
        config.check_compatible(other, "ours have", "theirs have", "retry")


def test_every_shipped_training_preset_loads_and_names_a_known_schedule():
    """A typo in a preset (base-gpu's, say: it runs on a lent GPU, where a failure costs device time) fails here."""
    from diffusers.optimization import SchedulerType

    from audiodiff.config import configs_dir
    from audiodiff.train_config import TrainConfig

    presets = sorted((configs_dir() / "train").glob("*.yaml"))
    assert "base-gpu" in [preset.stem for preset in presets]
    for preset in presets:
        config = TrainConfig.load(preset.stem)
        assert config.lr_scheduler in {kind.value for kind in SchedulerType}, preset.name
    gpu = TrainConfig.load("base-gpu")
    base = TrainConfig.load("base")
    assert (gpu.model, gpu.prediction_type, gpu.snr_gamma) == (base.model, "v_prediction", 5.0)  # base's recipe
    assert base.model == "medium-64"  # the shipped base's architecture (audiodiff/pretrained/base-64)
    assert gpu.lr_scheduler == "constant_with_warmup" and gpu.checkpoint_every > 0
