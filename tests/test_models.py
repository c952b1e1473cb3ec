import pytest
import torch

from audiodiff.config import ConfigError
from audiodiff.models import ModelPreset, build_unet, count_parameters, resolve_config_file


def test_reference_preset_is_the_audio_diffusion_architecture():
    with torch.device("meta"):  # shapes only: counting 114 M parameters needs no memory or initialisation
        unet = build_unet(ModelPreset.load("ref-256"), (256, 256))
    assert unet.device.type == "meta"
    config = unet.config
    assert tuple(config.block_out_channels) == (128, 128, 256, 256, 512, 512)
    assert config.layers_per_block == 2 and config.in_channels == 1 and config.out_channels == 1
    assert config.down_block_types[4] == "AttnDownBlock2D" and config.up_block_types[1] == "AttnUpBlock2D"
    assert sum(block.startswith("Attn") for block in config.down_block_types + config.up_block_types) == 2
    assert 113e6 < count_parameters(unet) < 115e6  # the published checkpoint has 114 M parameters


@pytest.mark.parametrize("name, size", [("tiny", (32, 64)), ("small-64", (64, 64))])
def test_presets_follow_the_data_resolution_and_run(name, size):
    unet = build_unet(ModelPreset.load(name), size, num_genres=3)
    assert unet.config.num_class_embeds == 4  # three genres and the unconditional label
    output = unet(torch.zeros(2, 1, *size), torch.tensor([1, 500]), class_labels=torch.tensor([0, 3])).sample
    assert output.shape == (2, 1, *size)


def test_resolution_that_does_not_fit_is_refused_clearly():
    with pytest.raises(ConfigError, match="images of 100x64 .* multiples of 8"):
        build_unet(ModelPreset.load("small-64"), (100, 64))


def test_unknown_preset_and_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown models preset 'huge'.*ref-256"):
        resolve_config_file("huge", "models")
    bad = tmp_path / "m.yaml"
    bad.write_text("block_out_channels: [8, 16]\nlayers: 2\n")
    with pytest.raises(ConfigError, match="unknown key 'layers'"):
        ModelPreset.load(bad)


def test_loaded_weights_lie_in_aligned_memory_like_freshly_built_ones(tmp_path):
    """diffusers hands a safetensors file's tensors over 4-byte aligned; MKL's products round differently for
    unaligned operands on some CPUs, which made resumed runs drift (issue 22). Loading copies them into aligned
    memory, for a checkpoint's backbone and a pipeline's alike, and leaves the values as they were."""
    from diffusers import DDPMScheduler

    from audiodiff.config import MelConfig
    from audiodiff.models import ALIGNMENT, build_model, load_backbone, load_model_preset
    from audiodiff.pipeline import AudioDiffusionPipeline

    torch.manual_seed(0)
    built = build_model(load_model_preset("tiny"), (32, 32), num_genres=3)
    built.save_pretrained(tmp_path / "unet")
    mel = MelConfig(x_res=32, y_res=32, sample_rate=8000, n_fft=256, hop_length=64)
    AudioDiffusionPipeline(unet=built, scheduler=DDPMScheduler(), mel_config=mel).save_pretrained(tmp_path / "pipe")
    for loaded in (load_backbone(tmp_path / "unet"), AudioDiffusionPipeline.from_pretrained(tmp_path / "pipe").unet):
        assert all(tensor.data_ptr() % ALIGNMENT == 0 for tensor in [*loaded.parameters(), *loaded.buffers()])
        for (name, one), (_, other) in zip(built.state_dict().items(), loaded.state_dict().items(), strict=True):
            assert torch.equal(one, other), name
