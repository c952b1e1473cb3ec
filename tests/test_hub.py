"""Sharing: the model and dataset cards written from a real tiny run's records, and --push-to-hub.

No network: the one upload (`HfApi.create_repo` + `HfApi.upload_folder`) is replaced by a recorder that lists the
folder as it is at the moment of the upload, which is what the hub would receive."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from audiodiff.synth import synthesize

REPO = "someone/tiny-model"
MEL_OPTIONS = ["--x-res", "32", "--y-res", "32", "--sample-rate", "8000", "--n-fft", "256", "--hop-length", "64"]


def _cli(*arguments):
    from click.testing import CliRunner

    from audiodiff.cli.main import cli

    return CliRunner().invoke(cli, [str(argument) for argument in arguments])


class Uploads:
    """Stands in for the hub: records each create_repo and upload_folder call, and the files the uploaded folder
    held (after the ignore patterns) at that moment."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.repos: list[dict] = []
        self.uploads: list[dict] = []
        self.fail = fail

    def install(self, monkeypatch) -> Uploads:
        from huggingface_hub import HfApi, RepoUrl

        def create_repo(api, repo_id, **options):
            if self.fail is not None:
                raise self.fail
            self.repos.append({"repo_id": repo_id, **options})
            return RepoUrl(f"https://huggingface.co/{repo_id}")

        def upload_folder(api, *, repo_id, folder_path, ignore_patterns=(), **options):
            root = Path(folder_path)
            files = sorted(
                str(path.relative_to(root))
                for path in root.rglob("*")
                if path.is_file()
                and not any(fnmatch.fnmatch(str(path.relative_to(root)), pattern) for pattern in ignore_patterns)
            )
            self.uploads.append({"repo_id": repo_id, "folder": root, "files": files, **options})

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_real")
        return self


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Real music files -> `prepare --license` -> `train --conditional --push-to-hub` (3 steps of the tiny preset),
    with the upload recorded."""
    root = tmp_path_factory.mktemp("share")
    for genre in ("beats", "pads"):
        for track in range(2):
            path = root / "music" / genre / f"{genre}_{track}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, synthesize(genre, 2.5, 8000, seed=track).astype(np.float32), 8000)
    with pytest.MonkeyPatch.context() as monkeypatch:
        uploads = Uploads().install(monkeypatch)
        prepared = _cli("prepare", root / "music", "--out", root / "data", "--genre-from", "folder", "--num-proc", 1,
                        "--license", "cc-by-4.0", *MEL_OPTIONS)  # fmt: skip
        assert prepared.exit_code == 0, prepared.output
        trained = _cli("train", "--push-to-hub", REPO, "--data", root / "data", "--config", "tiny", "--conditional",
                       "--max-steps", 3, "--out", root / "run")  # fmt: skip
        assert trained.exit_code == 0, trained.output
    return root, trained.output, uploads


def test_the_card_of_a_trained_folder_states_its_genres_settings_data_and_recipe(shared):
    root, output, _ = shared
    card = (root / "run" / "README.md").read_text()
    metadata = json.loads((root / "data" / "audiodiff_dataset.json").read_text())
    summary = metadata["summary"]
    assert metadata["license"] == "cc-by-4.0"
    front = card.split("---")[1]
    assert "license: cc-by-4.0" in front and "library_name: diffusers" in front
    for tag in ("audio", "diffusion", "audiodiff", "mel-spectrogram"):
        assert f"- {tag}\n" in front
    assert "base_model" not in front  # trained from scratch
    assert "Conditioned on `beats`, `pads`" in card
    for setting, value in (("x_res", 32), ("y_res", 32), ("sample_rate", 8000), ("n_fft", 256), ("hop_length", 64)):
        assert f"| {setting} | {value} |" in card
    # The data summary is the prepared dataset's: 4 tracks, its slices and duration, per genre.
    minutes = summary["seconds_in_dataset"] / 60
    assert abs(minutes - summary["slices_written"] * (32 * 64 - 1) / 8000 / 60) < 1e-6
    assert f"{summary['slices_written']} slices of 4 tracks ({minutes:.1f} min of audio)" in card
    for genre in ("beats", "pads"):
        assert f"| {genre} | 2 | {summary['genres'][genre]['slices']} |" in card
    assert "| optimizer steps | 3 |" in card and "| preset | `tiny` |" in card and "| precision | fp32 |" in card
    record = json.loads((root / "run" / "audiodiff.json").read_text())["training"]
    assert f"| final loss | {record['final_loss']:.4f} |" in card
    assert "Not measured yet" in card
    # Example spectrograms: the run's last previews, drawn and copied into the folder the card links to.
    assert "![the model's preview clips at step 3](examples.png)" in card
    assert (root / "run" / "examples" / "sample_0.wav").is_file()
    with Image.open(root / "run" / "examples.png") as sheet:  # one coloured 128-pixel cell, captioned
        assert sheet.mode == "RGB" and sheet.size == (6 + 128 + 6, 128 + 14 + 12)
    # How to use it names the repository it was pushed to.
    assert f'AudioDiffusionPipeline.from_pretrained("{REPO}", scheduler="auto")' in card
    assert f"audiodiff generate {REPO}" in card
    assert "State your data's licence" not in card
    assert f"card: {root / 'run' / 'README.md'}" in output


def test_push_happens_once_after_the_folder_is_complete(shared):
    root, output, uploads = shared
    assert [repo["repo_id"] for repo in uploads.repos] == [REPO]
    assert uploads.repos[0]["exist_ok"] is True and uploads.repos[0]["private"] is False
    assert len(uploads.uploads) == 1
    upload = uploads.uploads[0]
    assert upload["folder"] == root / "run" and upload["repo_type"] == "model"
    files = upload["files"]
    for needed in (
        "model_index.json",
        "audiodiff.json",
        "mel/mel_config.json",
        "README.md",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "scheduler/scheduler_config.json",
        "examples.png",
    ):
        assert needed in files, needed  # fmt: skip
    # Only what a user of the model needs: no checkpoints (optimizer state), raw previews, logs or resume record.
    assert not [name for name in files if name.startswith(("checkpoints/", "samples/", "logs/")) or name == "run.json"]
    assert (root / "run" / "checkpoints").is_dir()  # kept locally
    assert f"pushed: https://huggingface.co/{REPO}" in output
    assert output.index("card: ") < output.index("pushing ")


def test_a_user_readme_is_kept_and_an_untouched_card_is_refreshed(shared, tmp_path):
    from audiodiff.cards import write_model_card, written_by_audiodiff

    folder = tmp_path / "model"
    shutil.copytree(shared[0] / "run", folder)
    assert written_by_audiodiff(folder / "README.md")
    # An untouched card is rewritten with newer facts (here: no repository named).
    write_model_card(folder)
    assert 'from_pretrained("model", scheduler="auto")' in (folder / "README.md").read_text()
    # An edited card, or the user's own README, is kept, with one line saying so.
    (folder / "README.md").write_text((folder / "README.md").read_text() + "\nMy notes.\n")
    assert not written_by_audiodiff(folder / "README.md")
    (folder / "README.md").write_text("# my own words\n")
    lines = []
    assert write_model_card(folder, log=lines.append) == folder / "README.md"
    assert (folder / "README.md").read_text() == "# my own words\n"
    assert len(lines) == 1 and "kept your" in lines[0] and str(folder / "README.md") in lines[0]
    result = _cli("share", folder)
    assert result.exit_code == 0 and (folder / "README.md").read_text() == "# my own words\n"
    assert "kept your" in result.output
    write_model_card(folder, overwrite=True)
    assert written_by_audiodiff(folder / "README.md")


def test_the_card_shows_the_numbers_of_an_evaluate_report(shared, tmp_path):
    from audiodiff.cards import find_report

    folder = tmp_path / "model"
    shutil.copytree(shared[0] / "run", folder)
    (folder / "README.md").unlink()
    result = _cli("evaluate", "--generated", folder, "--reference", shared[0] / "data", "--clips", 4, "--steps", 2,
                  "--reconstruction-clips", 1, "--out", folder / "evaluation", "--device", "cpu",
                  "--seed", 0)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert find_report(folder) == folder / "evaluation" / "report.json"
    report = json.loads((folder / "evaluation" / "report.json").read_text())
    shared_result = _cli("share", folder)
    assert shared_result.exit_code == 0, shared_result.output
    card = (folder / "README.md").read_text()
    quality = card[card.index("## Measured quality") : card.index("## Example spectrograms")]
    assert "evaluation/report.json" in quality and "Not measured yet" not in quality
    artifacts = report["artifacts"]
    assert f"{artifacts['flagged_clips']} of {artifacts['clips']} generated clips flagged" in quality
    spread = report["diversity"]
    assert f"diversity: generated {spread['generated_mean_pairwise_db']:.2f} dB" in quality
    for name, entry in report["frechet_distance"].items():
        if entry.get("value") is not None:
            assert f"Frechet distance [{name}]: {entry['value']:.3f}" in quality
    # A report beside the folder counts only when its clips came from this folder.
    beside = tmp_path / "evaluation"
    shutil.move(folder / "evaluation", beside)
    assert find_report(folder) == beside / "report.json"
    other = json.loads((beside / "report.json").read_text())
    other["generated"]["source"] = str(tmp_path / "another-model")
    (beside / "report.json").write_text(json.dumps(other))
    assert find_report(folder) is None


def test_a_fine_tune_card_names_its_base_and_genre(shared, tmp_path):
    from audiodiff.cards import model_card

    root = shared[0]
    result = _cli("finetune", root / "run", "--data", root / "data", "--genre", "pads", "--config", "tiny",
                  "--max-steps", 2, "--out", tmp_path / "tuned")  # fmt: skip
    assert result.exit_code == 0, result.output
    card = (tmp_path / "tuned" / "README.md").read_text()
    assert "a fine-tune of `run`" in card and "Fine-tuned on `pads`." in card and "Trained on the genre `pads`" in card
    assert str(root) not in card  # the machine's paths stay out of a published card
    assert "base_model" not in card.split("---")[1]  # a local folder is no hub model
    assert "derived from `run`, whose licence applies as well" in card
    # A base from the hub is named in the front matter, as the hub links fine-tunes to their base.
    record = json.loads((tmp_path / "tuned" / "audiodiff.json").read_text())
    record["training"]["pretrained"] = "teticio/audio-diffusion-256"
    (tmp_path / "tuned" / "audiodiff.json").write_text(json.dumps(record))
    assert "base_model: teticio/audio-diffusion-256\n" in model_card(tmp_path / "tuned").split("---")[1]
    # How to use it asks for the fine-tuned genre, and says how the folder recommends sampling it.
    assert "audiodiff generate tuned --genre pads" in card and "set_guide" not in card
    record["guide"] = {"model": "base", "scale": 1.25}
    (tmp_path / "tuned" / "audiodiff.json").write_text(json.dumps(record))
    guided = model_card(tmp_path / "tuned")
    assert "It samples guided by its base at 1.25" in guided and 'pipeline.set_guide("auto")' in guided


def test_a_failed_push_is_one_line_and_the_folder_stays(shared, tmp_path, monkeypatch):
    folder = tmp_path / "model"
    shutil.copytree(shared[0] / "run", folder)
    uploads = Uploads(fail=OSError("Network is unreachable")).install(monkeypatch)
    result = _cli("share", folder, "--push-to-hub", REPO)
    assert result.exit_code == 1 and not uploads.uploads
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and "Network is unreachable" in error[0]
    assert f"{folder} is complete on this machine" in error[0] and f"--push-to-hub {REPO}" in error[0]
    assert "Traceback" not in result.output
    assert (folder / "model_index.json").is_file() and (folder / "README.md").is_file()
    # No token at all: said before the work (a warning) and at the push (the error), the folder kept.
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))
    result = _cli("share", folder, "--push-to-hub", REPO)
    assert result.exit_code == 1 and "no Hugging Face token" in result.output
    assert "is complete on this machine" in result.output.splitlines()[-1]


def test_push_a_dataset_loadable_by_datasets_and_audiodiff(shared, tmp_path, monkeypatch):
    import datasets

    from audiodiff.data import load_spectrogram_dataset

    folder = tmp_path / "data"
    shutil.copytree(shared[0] / "data", folder)
    uploads = Uploads().install(monkeypatch)
    result = _cli("share", folder, "--push-to-hub", "someone/tiny-data", "--private")
    assert result.exit_code == 0, result.output
    (upload,) = uploads.uploads
    assert upload["repo_type"] == "dataset" and uploads.repos[0]["private"] is True
    assert not [name for name in upload["files"] if name.startswith(".prepare-work") or name == ".audiodiff-lock"]
    card = (folder / "README.md").read_text()
    assert "license: cc-by-4.0" in card and 'path: "data-*.arrow"' in card
    # What the hub holds: the uploaded files. It is still a save_to_disk folder, and audiodiff loads it.
    hub = tmp_path / "hub"
    for name in upload["files"]:
        (hub / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / name, hub / name)
    original = datasets.load_from_disk(str(shared[0] / "data"))
    assert datasets.load_from_disk(str(hub))["audio_file"] == original["audio_file"]
    loaded = load_spectrogram_dataset(hub)
    assert loaded.genres == ["beats", "pads"] and loaded.mel_config.x_res == 32 and len(loaded) == len(original)
    # `load_dataset(REPO)` reads the card's data files with their features (a local folder with state.json is
    # refused by `datasets` itself, which the hub never checks: the copy below leaves it out).
    (hub / "state.json").unlink()
    rows = datasets.load_dataset(str(hub), split="train")
    assert rows.features == original.features and len(rows) == len(original)


def test_share_refuses_a_folder_that_is_no_model_or_dataset(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result = _cli("share", tmp_path)
    assert result.exit_code == 1 and "not a pipeline, vocoder or dataset folder" in result.output
    assert not (tmp_path / "README.md").exists()


def test_push_to_hub_is_an_option_of_all_five_commands():
    for command in ("prepare", "train", "finetune", "distill", "train-vocoder", "share"):
        result = _cli(command, "--help")
        assert result.exit_code == 0 and "--push-to-hub REPO" in result.output and "--private" in result.output
        # The repository id is checked while the command line is read, before any work.
        rest = ["."] if command == "share" else ["--out", "unused"]
        bad = _cli(command, "--push-to-hub", "no owner/x y", *rest)
        assert bad.exit_code == 2 and "Invalid value for '--push-to-hub'" in bad.output, (command, bad.output)
        bare = _cli(command, "--push-to-hub", "tiny-model", *rest)
        assert bare.exit_code == 2 and "owner/name" in bare.output, (command, bare.output)


def test_a_vocoder_folder_gets_its_own_card(shared, tmp_path, monkeypatch):
    uploads = Uploads().install(monkeypatch)
    result = _cli("train-vocoder", "--data", shared[0] / "data", "--config", "tiny", "--max-steps", 2,
                  "--out", tmp_path / "vocoder", "--push-to-hub", "someone/tiny-vocoder")  # fmt: skip
    assert result.exit_code == 0, result.output
    card = (tmp_path / "vocoder" / "README.md").read_text()
    assert "neural vocoder" in card and "- vocoder" in card and "| sample_rate | 8000 |" in card
    assert "| steps | 2 |" in card and "license: cc-by-4.0" in card
    (upload,) = uploads.uploads
    assert {"config.json", "model.safetensors", "README.md"} <= set(upload["files"])
    assert re.search(r"pushed: https://huggingface.co/someone/tiny-vocoder", result.output)
