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
from test_pipeline import MEL, tiny_pipeline

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
    ({"mel_config.n_iter": 10**9}, r"config.json: mel_config.n_iter=1000000000 is out of range"),
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
                      "--classifier", classifier_folder, "--n", 2, "--reconstruction-clips", 1,
                      "--out", tmp_path / "eval", "--device", "cpu")  # fmt: skip
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert "channels[2]=200000 is out of range" in result.output
