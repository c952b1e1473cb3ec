"""The pipeline folder (`audiodiff.pipeline_folder`): pushing a complete folder to the hub (the two hub calls replaced
by recorders: no network), finding folders, reading audiodiff.json, loading components without a pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import torch
from test_pipeline import MEL, tiny_pipeline

from audiodiff import pipeline_folder
from audiodiff.pipeline import AudioDiffusionPipeline


class FakeHub:
    """Stands in for huggingface_hub's `create_repo` and `upload_folder`, recording what the upload would send."""

    def __init__(self):
        self.created: list[dict] = []
        self.uploads: list[dict] = []

    def create_repo(self, repo_id, exist_ok=False, private=None, token=None):
        self.created.append(dict(repo_id=repo_id, exist_ok=exist_ok, private=private, token=token))
        # The hub puts a bare name in the token owner's namespace.
        return SimpleNamespace(repo_id=repo_id if "/" in repo_id else f"me/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **options):
        files = sorted(p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*"))
        self.uploads.append(dict(repo_id=repo_id, files=files, options=options))
        return f"https://huggingface.co/{repo_id}/commit/0"


@pytest.fixture
def hub(monkeypatch):
    fake = FakeHub()
    monkeypatch.setattr(huggingface_hub, "create_repo", fake.create_repo)
    monkeypatch.setattr(huggingface_hub, "upload_folder", fake.upload_folder)
    return fake


def tiny_vocoder():
    from audiodiff.vocoders import TrainedVocoder
    from audiodiff.vocoders.vocos import VocosConfig, VocosModel

    torch.manual_seed(0)
    return TrainedVocoder(VocosModel(VocosConfig(MEL.n_mels, MEL.n_fft, MEL.hop_length, 8, 16, 1)), MEL)


def test_push_to_hub_uploads_the_complete_folder_once_it_is_written(hub, tmp_path):
    pipe = tiny_pipeline(genres=["beats", "pads"], vocoder=tiny_vocoder(), training={"steps": 3})
    folder = tmp_path / "my-model"
    pipe.save_pretrained(folder, push_to_hub=True, repo_id="someone/my-model", token="secret", private=True,
                         commit_message="first")  # fmt: skip
    assert hub.created == [dict(repo_id="someone/my-model", exist_ok=True, private=True, token="secret")]
    assert len(hub.uploads) == 1
    upload = hub.uploads[0]
    assert upload["repo_id"] == "someone/my-model"
    assert upload["options"] == dict(token="secret", commit_message="first", create_pr=False)
    files = upload["files"]
    expected = [
        "model_index.json",
        "audiodiff.json",
        "mel/mel_config.json",
        "scheduler/scheduler_config.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vocoder/model.safetensors",
    ]
    for name in expected:
        assert name in files, f"{name} missing when the upload began: {files}"
    # What the upload saw is what the folder holds at the end: nothing was written after it.
    assert files == sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    index = json.loads((folder / "model_index.json").read_text())
    assert index["mel"] == ["diffusers", "Mel"] and "vqvae" not in index
    assert json.loads((folder / "audiodiff.json").read_text())["genres"] == ["beats", "pads"]


def test_push_defaults_to_the_folders_name_and_saving_alone_touches_no_hub(hub, tmp_path):
    tiny_pipeline().save_pretrained(tmp_path / "plain")
    assert hub.created == [] and hub.uploads == []
    tiny_pipeline().save_pretrained(tmp_path / "tiny-model", push_to_hub=True)
    assert hub.created[0]["repo_id"] == "tiny-model" and hub.uploads[0]["repo_id"] == "me/tiny-model"
    assert hub.uploads[0]["options"]["commit_message"] == "Upload AudioDiffusionPipeline"


def test_load_components_and_metadata(tmp_path):
    pipe = tiny_pipeline(genres=["beats", "pads"], bits=16, training={"config": {"widths": [1, 2]}})
    pipe.save_pretrained(tmp_path / "pipe")
    components, vocoder = pipeline_folder.load_components(tmp_path / "pipe")
    assert vocoder is None
    assert components["genres"] == ["beats", "pads"] and components["bits"] == 16
    assert components["mel_config"] == MEL
    assert pipeline_folder.native_widths(components["training"]) == (1, 2)
    loaded = AudioDiffusionPipeline(**components)
    for name, tensor in pipe.unet.state_dict().items():
        torch.testing.assert_close(loaded.unet.state_dict()[name], tensor, rtol=0, atol=0)
    assert pipeline_folder.read_metadata(tmp_path) == {}  # a reference folder has none
    (tmp_path / "pipe" / "audiodiff.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"audiodiff.json: expected a JSON object, got list"):
        pipeline_folder.read_metadata(tmp_path / "pipe")


def test_resolve_folder(tmp_path):
    assert pipeline_folder.resolve_folder(tmp_path) == tmp_path
    assert (pipeline_folder.resolve_folder("audiodiff-base-64") / "model_index.json").is_file()  # shipped
    with pytest.raises(ValueError, match=r"missing: no such pipeline folder \(and not a hub id"):
        pipeline_folder.resolve_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="not a pipeline folder"):
        pipeline_folder.load_components(tmp_path)


def test_check_components_names_the_mismatch():
    pipe = tiny_pipeline(genres=["beats", "pads"])
    with pytest.raises(ValueError, match=r"do not match the mel images \(1, 64, 32\)"):
        pipeline_folder.check_components(pipe.unet, None, MEL.replace(y_res=64), None)
    with pytest.raises(ValueError, match="3 genres need a UNet with num_class_embeds=4"):
        pipeline_folder.check_components(pipe.unet, None, MEL, ["a", "b", "c"])
