"""audiodiff installed as a package (a wheel, not a checkout) finds its presets and trains."""

from __future__ import annotations

import configparser
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _setup_packages() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser["options"]["packages"].split()


def test_setup_cfg_lists_every_package():
    found = sorted(".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "audiodiff").rglob("__init__.py"))
    assert sorted(set(_setup_packages()) - {"audiodiff.configs"}) == found


def test_configs_dir_of_a_checkout(monkeypatch):
    """From a checkout (and an editable install, whose modules are the checkout's files) the presets are the
    repository's configs/; $AUDIODIFF_CONFIGS overrides."""
    from audiodiff.config import CONFIGS_ENV, configs_dir
    from audiodiff.training import TrainConfig

    monkeypatch.delenv(CONFIGS_ENV, raising=False)
    assert configs_dir() == ROOT / "configs"
    assert TrainConfig.load("finetune").passes_min_steps == 300
    monkeypatch.setenv(CONFIGS_ENV, "/elsewhere")
    assert configs_dir() == Path("/elsewhere")


def _builds_wheels() -> bool:
    """setuptools >= 70.1 makes wheels by itself; older ones need the `wheel` package (`make test` installs it)."""
    version = tuple(int(part) for part in importlib.metadata.version("setuptools").split(".")[:2])
    if version >= (70, 1):
        return True
    try:
        import wheel  # noqa: F401
    except ImportError:
        return False
    return True


def _run(command: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.skipif(not _builds_wheels(), reason="setuptools < 70.1 without `wheel` cannot build wheels offline")
def test_wheel_ships_the_presets_and_trains_outside_the_checkout(tmp_path):
    from conftest import GENRE_DATASET_MEL as MEL  # the tiny labelled dataset's mel settings

    # Build from a copy of the sources, so that no build/ folder of the checkout (stale files) goes into the wheel.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "audiodiff", source / "audiodiff", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "configs", source / "configs")
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", dist, source])
    (wheel,) = dist.glob("audiodiff-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    presets = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "configs").rglob("*.yaml"))
    assert [f"audiodiff/{name}" for name in presets] == sorted(name for name in names if name.endswith(".yaml"))

    # A fresh environment with the wheel installed; torch & co. come from this test's environment through a .pth
    # file written after the install (nothing is downloaded: --no-index), behind the wheel's audiodiff on sys.path.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "AUDIODIFF_CONFIGS")}
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", venv], env=env)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    pip = [sys.executable, "-m", "pip", "--python", python]
    _run([*pip, "install", "--no-deps", "--no-index", "--quiet", wheel], env=env, cwd=tmp_path)
    (site / "_test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    found = _run([python, "-c", "import audiodiff.config as c; print(c.__file__); print(c.configs_dir())"],
                 cwd=elsewhere, env=env).stdout.split()  # fmt: skip
    assert all(Path(path).is_relative_to(site) for path in found), found
    # The shipped base model is in the wheel and loads by its name, offline, outside the checkout.
    assert "audiodiff/pretrained/base-64/unet/diffusion_pytorch_model.safetensors" in names
    assert "audiodiff/pretrained/base-64/MODEL_CARD.md" in names
    loaded = _run([python, "-c", "from audiodiff.pipeline import AudioDiffusionPipeline as P; p = P.from_pretrained("
                   "'audiodiff-base-64'); print(p.genres, p.unet.dtype)"], cwd=elsewhere, env=env)  # fmt: skip
    assert loaded.stdout.split("\n")[-2] == "['cinematic', 'electronic', 'rock'] torch.float32"
    # So is the COLA embedding, the default of `audiodiff evaluate`.
    assert {"audiodiff/pretrained/cola-64/model.safetensors", "audiodiff/pretrained/cola-64/config.json"} <= set(names)
    cola = _run([python, "-c", "from audiodiff.evaluation.cola import load_cola; print(load_cola().config.dim)"],
                cwd=elsewhere, env=env)  # fmt: skip
    assert cola.stdout.split() == ["128"]

    data = tmp_path / "data"
    _tiny_dataset(data, MEL)
    result = _run(
        [venv / "bin" / "audiodiff", "train", "--data", data, "--config", "tiny", "--out", "run", "--max-steps", "2"],
        cwd=elsewhere,
        env=env,
    )
    assert "trained 2 steps" in result.stdout
    assert (elsewhere / "run" / "model_index.json").is_file()


def _tiny_dataset(folder: Path, mel) -> None:
    """Two synthesized tracks as a reference-format dataset (image, audio_file, slice) with mel_config.json."""
    import datasets
    import torch

    from audiodiff.audio import slice_audio
    from audiodiff.codec import SpectrogramCodec, pixels_to_pil
    from audiodiff.synth import synthesize

    codec = SpectrogramCodec(mel)
    rows = {"image": [], "audio_file": [], "slice": []}
    for track, genre in enumerate(("pads", "beats")):
        slices = slice_audio(synthesize(genre, 2.0, mel.sample_rate, seed=track), mel.slice_size)
        for index, pixels in enumerate(codec.audio_to_pixels(torch.from_numpy(slices)).numpy()):
            rows["image"].append(pixels_to_pil(pixels))
            rows["audio_file"].append(f"{genre}.wav")
            rows["slice"].append(index)
    datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image()).save_to_disk(str(folder))
    mel.save(folder)
