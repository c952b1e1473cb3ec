"""A hostile config.json in a vocoder or classifier folder is refused in one line before anything is built (issue 22).

Before: a vocoder's `dim` 30000 asked for 57.6 GB, `layers` 10**7 ended in a MemoryError traceback, and
`prior_iterations` 10**9 hung `decode`; a classifier's `channels` [16, 32, 200000] gave a traceback. Each load here
runs `bounded`: under an address-space limit 1 GiB above the process's present size and a 10 s alarm, so a
regression fails instead of eating the machine's memory or hanging the suite.
"""

from __future__ import annotations

import contextlib
import json
import resource
import signal
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers import MEL, tiny_pipeline

from audiodiff.classifier import ClassifierConfig, GenreClassifier
from audiodiff.config import ConfigError
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.vocoders import TrainedVocoder, VocoderError
from audiodiff.vocoders.vocos import VocosConfig, VocosModel

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bounds memory through /proc and rlimit")


@contextlib.contextmanager
def bounded(seconds: float = 10.0, headroom: int = 1 << 30):
    """Run the block with at most `headroom` more bytes of address space and `seconds` of wall time."""
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + headroom if hard == resource.RLIM_INFINITY else min(size + headroom, hard)

    def timed_out(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, timed_out)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def one_line(error: pytest.ExceptionInfo, folder) -> str:
    message = str(error.value)
    assert "\n" not in message and str(folder) in message, message
    return message


def edit_config(folder, **changes) -> None:
    """Set dotted keys of `folder/config.json`: `edit_config(folder, **{"model.dim": 30000})`."""
    path = folder / "config.json"
    described = json.loads(path.read_text())
    for dotted, value in changes.items():
        *parents, key = dotted.split(".")
        target = described
        for parent in parents:
            target = target[parent]
        target[key] = value
    path.write_text(json.dumps(described))


def _cli(*arguments):
    from audiodiff.cli.main import cli

    return CliRunner().invoke(cli, [str(argument) for argument in arguments])


# --- the vocoder ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vocoder():
    """An untrained tiny vocoder with the magnitude prior (a few hundred parameters)."""
    torch.manual_seed(0)
    network = VocosConfig(MEL.n_mels, MEL.n_fft, MEL.hop_length, dim=8, intermediate_dim=16, layers=2,
                          magnitude_prior=True, sample_rate=MEL.sample_rate, top_db=float(MEL.top_db),
                          prior_iterations=2)  # fmt: skip
    return TrainedVocoder(VocosModel(network), MEL)


@pytest.fixture
def folder(vocoder, tmp_path):
    return vocoder.save_pretrained(tmp_path / "vocoder")


HOSTILE_VOCODERS = [
    ({"model.dim": 30000, "model.intermediate_dim": 60000}, r"config.json: model.dim=30000 is out of range"),
    ({"model.intermediate_dim": 60000}, r"config.json: model.intermediate_dim=60000 is out of range"),
    ({"model.layers": 10**7}, r"config.json: model.layers=10000000 is out of range \(allowed 1..64\)"),
    ({"model.prior_iterations": 10**9}, r"config.json: model.prior_iterations=1000000000 is out of range"),
    ({"mel_config.n_iter": 10**9}, r"config.json.*n_iter=1000000000 is out of range"),
    ({"model.kernel_size": 6}, r"config.json: model.kernel_size=6 must be odd"),
    ({"bits": 2**40}, r"config.json: bits=1099511627776 must be 8 or 16"),
    # Within the limits, yet not the network the weights are: refused from the weights' header, before building.
    ({"model.dim": 4096, "model.intermediate_dim": 16384},
     r"model.safetensors: weights do not match config.json \(.*dim=4096.*\): it makes 'embed.weight' "
     r"\(4096, 32, 7\), the weights hold \(8, 32, 7\)"),
    ({"model.layers": 64}, r"model.safetensors: weights do not match .* it makes 'blocks.2.scale' \(8,\), which the "
                           r"weights lack"),
    ({"model.layers": 1}, r"the weights hold 'blocks.1.depthwise.bias' \(8,\), which it does not make"),
]  # fmt: skip


@pytest.mark.parametrize("changes, message", HOSTILE_VOCODERS, ids=lambda value: str(value)[:40])
def test_a_hostile_vocoder_config_is_refused_in_one_line_before_building(folder, changes, message):
    edit_config(folder, **changes)
    with bounded(), pytest.raises(VocoderError, match=message) as error:
        TrainedVocoder.from_pretrained(folder)
    one_line(error, folder)


def test_an_oversized_vocoder_config_is_not_read(folder):
    (folder / "config.json").write_text('{"_class_name": "VocosVocoder"' + " " * (2 << 20) + "}")
    with bounded(), pytest.raises(VocoderError, match="bytes, more than a config file holds") as error:
        TrainedVocoder.from_pretrained(folder)
    one_line(error, folder)


def test_an_honest_vocoder_folder_still_loads_and_decodes_identically(vocoder, folder):
    mel_power = torch.rand(2, MEL.n_mels, 9, generator=torch.Generator().manual_seed(1))
    with bounded():
        loaded = TrainedVocoder.from_pretrained(folder)
        assert torch.equal(loaded(mel_power), vocoder(mel_power))
    assert loaded.model.config == vocoder.model.config and loaded.model.config.magnitude_prior


def test_a_hostile_vocoder_inside_a_pipeline_is_refused_by_from_pretrained_generate_and_decode(vocoder, tmp_path):
    tiny_pipeline(vocoder=vocoder).save_pretrained(tmp_path / "pipe")
    inner = tmp_path / "pipe" / "vocoder"
    edit_config(inner, **{"model.layers": 10**7})
    with bounded(), pytest.raises(VocoderError, match=r"model.layers=10000000 is out of range") as error:
        AudioDiffusionPipeline.from_pretrained(tmp_path / "pipe")
    one_line(error, inner)
    with bounded(30):
        generated = _cli("generate", tmp_path / "pipe", "--out", tmp_path / "out", "--steps", 1, "--device", "cpu")
    assert generated.exit_code != 0 and "Traceback" not in generated.output, generated.output
    assert "model.layers=10000000 is out of range" in generated.output

    from audiodiff.codec import save_png

    edit_config(inner, **{"model.layers": 2, "model.prior_iterations": 10**9})
    save_png(tmp_path / "clip.png", np.random.default_rng(0).integers(0, 256, (MEL.y_res, MEL.x_res)))
    with bounded(30):
        decoded = _cli("decode", tmp_path / "clip.png", "--mel-config", tmp_path / "pipe", "--vocoder", inner,
                       "--out", tmp_path / "wav", "--device", "cpu")  # fmt: skip
    assert decoded.exit_code != 0 and "Traceback" not in decoded.output, decoded.output
    assert "model.prior_iterations=1000000000 is out of range (allowed 0..100)" in decoded.output
    assert not list((tmp_path / "wav").glob("*.wav"))


# --- the classifier ---------------------------------------------------------------------------------------------------
@pytest.fixture
def classifier_folder(tmp_path):
    config = ClassifierConfig(genres=("beats", "pads"), mel_config=MEL.to_dict(), input_size=32)
    return GenreClassifier(config, generator=torch.Generator().manual_seed(0)).save_pretrained(tmp_path / "classifier")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"channels": [16, 32, 200000]}, r"config.json: channels\[2\]=200000 is out of range \(allowed 1..4096\)"),
        ({"channels": [16] * 9, "input_size": 1024}, r"config.json: len\(channels\)=9 is out of range \(allowed 1"),
        ({"embedding_dim": 10**9}, r"config.json: embedding_dim=1000000000 is out of range"),
        ({"channels": [16, 32, 4096]}, r"weights do not match config.json .* it makes 'features.8.weight' "
                                       r"\(4096, 32, 3, 3\), the weights hold \(64, 32, 3, 3\)"),
    ],
    ids=["channels", "layers", "embedding_dim", "within-limits"],
)  # fmt: skip
def test_a_hostile_classifier_config_is_refused_in_one_line_before_building(classifier_folder, changes, message):
    edit_config(classifier_folder, **changes)
    with bounded(), pytest.raises(ConfigError, match=message) as error:
        GenreClassifier.from_pretrained(classifier_folder)
    one_line(error, classifier_folder)


def test_an_honest_classifier_folder_still_loads_identically(classifier_folder):
    images = torch.rand(3, 1, MEL.y_res, MEL.x_res, generator=torch.Generator().manual_seed(2)) * 2 - 1
    original = GenreClassifier.from_pretrained(classifier_folder)
    with bounded():
        loaded = GenreClassifier.from_pretrained(classifier_folder)
    assert torch.equal(loaded.predict_proba(images), original.predict_proba(images))
    config = ClassifierConfig(genres=("beats", "pads"), mel_config=MEL.to_dict(), input_size=32)
    fresh = GenreClassifier(config, generator=torch.Generator().manual_seed(0)).eval()
    assert torch.equal(loaded.predict_proba(images), fresh.predict_proba(images))


def test_evaluate_with_a_hostile_classifier_prints_one_line(classifier_folder, tmp_path):
    from audiodiff.codec import save_png

    rng = np.random.default_rng(0)
    for side in ("generated", "reference"):
        MEL.save(tmp_path / side)
        for index in range(4):
            save_png(tmp_path / side / f"clip{index}.png", rng.integers(0, 256, (MEL.y_res, MEL.x_res)))
    edit_config(classifier_folder, channels=[16, 32, 200000])
    with bounded(30):
        result = _cli("evaluate", "--generated", tmp_path / "generated", "--reference", tmp_path / "reference",
                      "--classifier", classifier_folder, "--clips", 2, "--reconstruction-clips", 1,
                      "--out", tmp_path / "eval", "--device", "cpu")  # fmt: skip
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert "channels[2]=200000 is out of range" in result.output


# --- the denoiser (unet/ of a pipeline folder or a checkpoint) --------------------------------------------------------
def _tiny_unet_pipeline(folder, **save):
    """A tiny UNet pipeline (8 and 16 channels, one layer per block) saved in `folder`; returns the folder."""
    tiny_pipeline().save_pretrained(folder, **save)
    return folder


HOSTILE_UNETS = [
    ({"block_out_channels": [8, 200000]}, r"config.json: block_out_channels\[1\]=200000 is out of range "
                                          r"\(allowed 1..4096\)"),
    ({"block_out_channels": [32, 64, 200000], "down_block_types": ["DownBlock2D"] * 3,
      "up_block_types": ["UpBlock2D"] * 3}, r"config.json: block_out_channels\[2\]=200000 is out of range"),
    ({"block_out_channels": [16] * 9}, r"config.json: len\(block_out_channels\)=9 is out of range \(allowed 1..8\)"),
    ({"layers_per_block": 10**6}, r"config.json: layers_per_block=1000000 is out of range \(allowed 1..16\)"),
    ({"sample_size": 10**6}, r"config.json: sample_size=1000000 is out of range \(allowed 1..4096\)"),
    ({"sample_size": [32, 10**6]}, r"config.json: sample_size\[1\]=1000000 is out of range"),
    ({"num_class_embeds": 10**9}, r"config.json: num_class_embeds=1000000000 is out of range \(allowed 1..100000\)"),
    ({"in_channels": 10**6}, r"config.json: in_channels=1000000 is out of range \(allowed 1..16\)"),
    ({"norm_num_groups": 3}, r"config.json: does not describe a UNet2DModel \(ValueError: num_channels \(8\) must be "
                             r"divisible by num_groups \(3\)\)"),
    # Within the limits, yet not the network the weights are: refused from the weights' header, before building.
    ({"layers_per_block": 16}, r"diffusion_pytorch_model.safetensors: weights do not match config.json \(.*"
                               r"layers_per_block=16.*\): it makes 'down_blocks.0.resnets.1.norm1.weight' \(8,\), "
                               r"which the weights lack"),
    ({"block_out_channels": [8, 4096]}, r"weights do not match config.json .* it makes 'down_blocks.1.resnets.0"
                                        r".conv1.weight' \(4096, 8, 3, 3\), the weights hold \(16, 8, 3, 3\)"),
    ({"num_class_embeds": 10}, r"it makes 'class_embedding.weight' \(10, 32\), which the weights lack"),
]  # fmt: skip


@pytest.mark.parametrize("changes, message", HOSTILE_UNETS, ids=lambda value: str(value)[:40])
def test_a_hostile_unet_config_is_refused_in_one_line_before_building(changes, message, tmp_path):
    from audiodiff.models import load_backbone

    folder = _tiny_unet_pipeline(tmp_path / "pipe")
    edit_config(folder / "unet", **changes)
    with bounded(), pytest.raises(ConfigError, match=message) as error:
        AudioDiffusionPipeline.from_pretrained(folder)
    one_line(error, folder / "unet")
    with bounded(), pytest.raises(ConfigError, match=message) as error:
        load_backbone(folder / "unet")
    one_line(error, folder / "unet")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"block_out_channels": [8, 200000]}, r"config.json: block_out_channels\[1\]=200000 is out of range"),
        ({"layers_per_block": 16}, r"diffusion_pytorch_model.bin: weights do not match config.json .* it makes "
                                   r"'down_blocks.0.resnets.1.norm1.weight' \(8,\), which the weights lack"),
        ({"in_channels": 16}, r"it makes 'conv_in.weight' \(8, 16, 3, 3\), the weights hold \(8, 1, 3, 3\)"),
    ],
    ids=["channels", "layers-within-limits", "in-channels-within-limits"],
)  # fmt: skip
def test_a_hostile_unet_config_next_to_reference_bin_weights_is_refused(changes, message, tmp_path):
    """A reference checkpoint's `.bin` has no header: its tensors are read onto the meta device to compare."""
    folder = _tiny_unet_pipeline(tmp_path / "pipe", safe_serialization=False)
    assert (folder / "unet" / "diffusion_pytorch_model.bin").is_file()
    edit_config(folder / "unet", **changes)
    with bounded(), pytest.raises(ConfigError, match=message) as error:
        AudioDiffusionPipeline.from_pretrained(folder)
    one_line(error, folder / "unet")


def test_generate_with_a_hostile_unet_prints_one_line(tmp_path):
    folder = _tiny_unet_pipeline(tmp_path / "pipe")
    for changes, message in [
        ({"block_out_channels": [8, 200000]}, "block_out_channels[1]=200000 is out of range (allowed 1..4096)"),
        ({"layers_per_block": 10**6}, "layers_per_block=1000000 is out of range (allowed 1..16)"),
    ]:
        edit_config(folder / "unet", **changes)
        with bounded(30):
            result = _cli("generate", folder, "--out", tmp_path / "out", "--steps", 1, "--device", "cpu")
        assert result.exit_code != 0 and "Traceback" not in result.output, result.output
        assert message in result.output and str(folder / "unet") in result.output, result.output
        assert not list((tmp_path / "out").glob("*.wav"))
        edit_config(folder / "unet", block_out_channels=[8, 16], layers_per_block=1)


@pytest.fixture
def dit_pipeline_folder(tmp_path):
    """A tiny DiT pipeline (width 32, 2 blocks, patches of 4, three genres) saved in tmp_path/dit."""
    from diffusers import DDPMScheduler

    from audiodiff.models import build_model, load_model_preset

    torch.manual_seed(0)
    dit = build_model(load_model_preset("dit-tiny"), (MEL.y_res, MEL.x_res), num_genres=2)
    pipeline = AudioDiffusionPipeline(unet=dit, scheduler=DDPMScheduler(), mel_config=MEL, genres=["beats", "pads"])
    pipeline.save_pretrained(tmp_path / "dit")
    return tmp_path / "dit"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"depth": 10**6}, r"config.json: depth=1000000 is out of range \(allowed 1..64\)"),
        ({"hidden_size": 2**20, "num_heads": 2}, r"config.json: hidden_size=1048576 is out of range"),
        ({"patch_size": 4096}, r"config.json: patch_size=4096 is out of range \(allowed 1..64\)"),
        ({"mlp_ratio": 1e9}, r"config.json: mlp_ratio=1000000000.0 is out of range \(allowed 0..16\)"),
        ({"num_class_embeds": 10**9}, r"config.json: num_class_embeds=1000000000 is out of range"),
        ({"sample_size": [32, 10**6]}, r"config.json: sample_size\[1\]=1000000 is out of range"),
        ({"hidden_size": 30}, r"does not describe a SpectrogramDiT \(ValueError: hidden_size 30 must be a multiple"),
        ({"depth": 64}, r"diffusion_pytorch_model.safetensors: weights do not match config.json \(.*depth=64.*\): "
                        r"it makes 'blocks.2.qkv.weight' \(96, 32\), which the weights lack"),
        ({"hidden_size": 8192, "num_heads": 2}, r"it makes 'patch_embed.weight' \(8192, 1, 4, 4\), the weights hold "
                                                r"\(32, 1, 4, 4\)"),
    ],
    ids=lambda value: str(value)[:30],
)  # fmt: skip
def test_a_hostile_dit_config_is_refused_in_one_line_before_building(dit_pipeline_folder, changes, message):
    from audiodiff.models import load_backbone

    edit_config(dit_pipeline_folder / "unet", **changes)
    with bounded(), pytest.raises(ConfigError, match=message) as error:
        AudioDiffusionPipeline.from_pretrained(dit_pipeline_folder)
    one_line(error, dit_pipeline_folder / "unet")
    with bounded(), pytest.raises(ConfigError, match=message) as error:
        load_backbone(dit_pipeline_folder / "unet")
    one_line(error, dit_pipeline_folder / "unet")


def test_resume_passes_over_a_checkpoint_with_a_hostile_unet_in_one_line(data, tmp_path, caplog):
    """Checksums do not help when the checkpoint predates them (or its meta.json was rewritten with the config)."""
    from test_training import tiny_config

    from audiodiff.checkpoints import FILES_KEY, META_KEY, checkpoint_dirs
    from audiodiff.training import Trainer, train

    run = tmp_path / "run"
    train(tiny_config(max_steps=2, checkpoint_every=1, keep_checkpoints=2, num_samples=0), data, run, progress=False)
    step_1, step_2 = checkpoint_dirs(run)
    edit_config(step_2 / "unet", layers_per_block=10**6)
    meta = json.loads((step_2 / "meta.json").read_text())
    (step_2 / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k not in (FILES_KEY, META_KEY)}))
    with caplog.at_level("WARNING", logger="audiodiff.training"), bounded(30):
        trainer = Trainer.resume(run, progress=False, max_steps=3)
    assert trainer.global_step == 1
    trainer.close()
    (warning,) = [record.getMessage() for record in caplog.records]
    assert "\n" not in warning and str(step_2) in warning, warning
    assert "layers_per_block=1000000 is out of range (allowed 1..16)" in warning, warning


def test_honest_denoiser_folders_still_load_identically(dit_pipeline_folder, tmp_path):
    """Our safetensors folders (UNet and DiT), a reference-format `.bin` and one with the old attention names that
    diffusers renames: each loads, bounded, with exactly the weights saved."""
    from diffusers import UNet2DModel

    from audiodiff.models import load_backbone

    def state(module):
        return {name: tensor.clone() for name, tensor in module.state_dict().items()}

    saved = state(tiny_pipeline().unet)
    for folder in (
        _tiny_unet_pipeline(tmp_path / "safe"),
        _tiny_unet_pipeline(tmp_path / "bin", safe_serialization=False),
    ):
        with bounded():
            loaded = AudioDiffusionPipeline.from_pretrained(folder)
            backbone = load_backbone(folder / "unet")
        for module in (loaded.unet, backbone):
            assert state(module).keys() == saved.keys()
            assert all(torch.equal(tensor, saved[name]) for name, tensor in state(module).items())

    dit = AudioDiffusionPipeline.from_pretrained(dit_pipeline_folder)
    with bounded():
        again = AudioDiffusionPipeline.from_pretrained(dit_pipeline_folder)
    assert type(again.unet).__name__ == "SpectrogramDiT" and again.genres == ["beats", "pads"]
    assert all(torch.equal(tensor, dit.unet.state_dict()[name]) for name, tensor in again.unet.state_dict().items())

    torch.manual_seed(0)
    attention = UNet2DModel(sample_size=16, in_channels=1, out_channels=1, layers_per_block=1,
                            block_out_channels=(8, 16), norm_num_groups=4, down_block_types=("DownBlock2D",
                            "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"))  # fmt: skip
    attention.save_pretrained(tmp_path / "old", safe_serialization=False)
    old_names = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    renamed = {}
    for name, tensor in attention.state_dict().items():
        for new, old in old_names.items():
            name = name.replace(f".{new}.", f".{old}.") if ".attentions." in name else name
        renamed[name] = tensor
    assert sum(".query." in name for name in renamed) == 8  # weight and bias of 4 attention blocks
    torch.save(renamed, tmp_path / "old" / "diffusion_pytorch_model.bin")
    with bounded():
        backbone = load_backbone(tmp_path / "old")
    assert all(torch.equal(tensor, attention.state_dict()[name]) for name, tensor in backbone.state_dict().items())


def test_every_model_preset_passes_the_denoiser_limits():
    """ref-256 and dit-256 included, at the reference resolution and wide, with genres: built on the meta device."""
    from audiodiff.models import build_model, check_backbone_config, configs_dir, load_model_preset

    presets = sorted((configs_dir() / "models").glob("*.yaml"))
    assert {"ref-256.yaml", "dit-256.yaml", "tiny.yaml"} <= {path.name for path in presets}
    for path in presets:
        for size, genres in [((256, 256), None), ((64, 1024), 5)]:
            with torch.device("meta"):
                model = build_model(load_model_preset(path), size, genres)
            config = {**model.config, "_class_name": type(model).__name__}
            backbone, meta, _ = check_backbone_config(json.loads(json.dumps(config)), path)
            assert backbone is type(model)
            shapes = {name: tuple(tensor.shape) for name, tensor in meta.state_dict().items()}
            assert shapes == {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
