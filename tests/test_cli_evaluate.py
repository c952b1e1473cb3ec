"""`audiodiff train-classifier` and `audiodiff evaluate` end to end on synthesized folders."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from audiodiff.audio import slice_audio
from audiodiff.cli.main import cli
from audiodiff.codec import SpectrogramCodec, save_png
from audiodiff.config import MelConfig
from audiodiff.synth import synthesize, write_collection

MEL = MelConfig(x_res=64, y_res=64, sample_rate=16000, n_fft=512, hop_length=128, top_db=80, n_iter=16)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """music/<genre>/*.wav (3 genres x 4 tracks x 3 s), generated pads as PNGs (new seeds), mel settings file."""
    root = tmp_path_factory.mktemp("evaluate")
    write_collection(root / "music", tracks_per_genre=4, seconds=3.0, sample_rate=MEL.sample_rate)
    mel_file = MEL.save(root / "mel.json")
    codec = SpectrogramCodec(MEL)
    for track in range(2):
        slices = slice_audio(synthesize("pads", 3.0, MEL.sample_rate, seed=50 + track), MEL.slice_size)
        for index, pixels in enumerate(codec.audio_to_pixels(torch.from_numpy(slices))):
            save_png(root / "generated" / f"pads{track}_{index:04d}.png", pixels.numpy())
    return root, mel_file


def run(*arguments):
    result = CliRunner().invoke(cli, [str(argument) for argument in arguments])
    return result


@pytest.fixture(scope="module")
def classifier(folders):
    root, mel_file = folders
    out = root / "classifier"
    result = run(
        "train-classifier", "--data", root / "music", "--out", out, "--mel-config", mel_file,
        "--max-steps", 40, "--batch-size", 24, "--input-size", 32, "--seed", 0,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, result.output


def test_train_classifier_reports_held_out_accuracy_and_saves(classifier):
    out, output = classifier
    assert "held-out accuracy" in output and "(split by track)" in output
    report = json.loads((out / "training_report.json").read_text())
    assert report["held_out_accuracy"] >= 0.9
    config = json.loads((out / "config.json").read_text())
    assert config["genres"] == ["arpeggios", "beats", "pads"] and config["mel_config"]["y_res"] == 64
    assert (out / "model.safetensors").is_file()


def test_evaluate_writes_report_and_figure(folders, classifier, tmp_path):
    root, mel_file = folders
    result = run(
        "evaluate", "--generated", root / "generated", "--reference", root / "music", "--genre", "pads",
        "--classifier", classifier[0], "--clips", 8, "--reconstruction-clips", 2, "--backend", "vggish",
        "--mel-config", mel_file, "--out", tmp_path, "--seed", 1,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert (tmp_path / "report.png").is_file()
    assert report["target_genre"] == "pads" and report["generated"]["clips"] == 8
    assert report["mel_config"] == MEL.to_dict()
    assert report["genre"]["target_share"] >= 0.9 and report["genre"]["reference_target_share"] >= 0.9
    assert report["genre"]["classifier_held_out_accuracy"] >= 0.9
    distances = report["frechet_distance"]
    assert set(distances) == {"cola", "log-mel", "log-mel-fine", "classifier", "vggish"}
    assert list(report["precision_recall"])[0] == "cola"  # the shipped learned embedding comes first
    assert distances["vggish"]["available"] is False and "nothing is downloaded" in distances["vggish"]["reason"]
    assert distances["log-mel"]["ratio_to_baseline"] < 3
    assert report["reconstruction"]["clips"] == 2 and report["reconstruction"]["spectral_convergence"] < 0.6
    assert report["diversity"]["generated_mean_pairwise_db"] > 1
    assert "Frechet distance [log-mel]" in result.output and "genre share [pads]" in result.output


def test_evaluate_errors_are_one_line(folders, tmp_path):
    root, mel_file = folders
    missing = run("evaluate", "--generated", root / "generated", "--reference", tmp_path / "nowhere", "--out", tmp_path)
    assert missing.exit_code == 1 and "no such file or folder" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
    wrong_genre = run(
        "evaluate", "--generated", root / "generated", "--reference", root / "music", "--genre", "jazz",
        "--mel-config", mel_file, "--out", tmp_path,
    )  # fmt: skip
    assert wrong_genre.exit_code == 1 and "no clips of genre 'jazz'" in wrong_genre.output
    bad_backend = run(
        "evaluate", "--generated", root / "generated", "--reference", root / "music", "--backend", "inception"
    )
    assert bad_backend.exit_code == 2 and "unknown embedding backend" in bad_backend.output
    bare_cola = run("evaluate", "--generated", root / "generated", "--reference", root / "music", "--backend", "cola")
    assert bare_cola.exit_code == 2 and "always computed with the shipped weights" in bare_cola.output
    own_cola = run(
        "evaluate", "--generated", root / "generated", "--reference", root / "music", "--mel-config", mel_file,
        "--backend", f"cola={tmp_path / 'no-encoder'}", "--out", tmp_path / "out",
    )  # fmt: skip
    assert (
        own_cola.exit_code == 1 and "--backend cola=" in own_cola.output and "no model.safetensors" in own_cola.output
    )
    assert len(own_cola.output.strip().splitlines()) == 1, own_cola.output


def test_train_classifier_needs_genre_folders(folders, tmp_path):
    root, mel_file = folders
    result = run("train-classifier", "--data", root / "generated", "--out", tmp_path, "--mel-config", mel_file)
    assert result.exit_code == 1 and "no genre labels" in result.output


@pytest.fixture(scope="module")
def prepared_and_pipeline(folders):
    """A prepared spectrogram dataset of the music folder and a tiny (untrained) genre-conditioned pipeline."""
    from diffusers import DDIMScheduler, UNet2DModel

    from audiodiff.data import prepare_dataset
    from audiodiff.pipeline import AudioDiffusionPipeline

    root, _ = folders
    dataset = root / "dataset"
    prepare_dataset([root / "music"], dataset, MEL, genre_from="folder", num_proc=1, progress=False)
    genres = ["arpeggios", "beats", "pads"]
    unet = UNet2DModel(
        sample_size=64, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
        norm_num_groups=4, down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
        num_class_embeds=len(genres) + 1,
    )  # fmt: skip
    pipeline = AudioDiffusionPipeline(unet=unet, scheduler=DDIMScheduler(), mel_config=MEL, genres=genres)
    pipeline.save_pretrained(root / "pipeline")
    return dataset, root / "pipeline"


def test_evaluate_a_pipeline_against_a_prepared_dataset(prepared_and_pipeline, classifier, tmp_path):
    dataset, pipeline = prepared_and_pipeline
    result = run(
        "evaluate", "--generated", pipeline, "--reference", dataset, "--genre", "pads", "--clips", 4, "--steps", 2,
        "--classifier", classifier[0], "--reconstruction-clips", 2, "--out", tmp_path, "--seed", 0, "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["generated"] == {"source": str(pipeline), "kind": "pipeline", "clips": 4, "frames": 64,
                                   "seconds": round(64 * MEL.hop_length / MEL.sample_rate, 2)}  # fmt: skip
    assert report["reference"]["kind"] == "dataset" and report["target_genre"] == "pads"
    assert report["reconstruction"]["clips"] == 2  # the dataset's audio_file paths lead back to the WAVs
    assert report["genre"]["reference_target_share"] >= 0.9
    # An untrained model makes noise: far from the reference, unlike the reference from itself, and every clip is
    # flagged, while real clips of other tracks pass the same check.
    assert report["frechet_distance"]["log-mel"]["ratio_to_baseline"] > 3
    assert report["frechet_distance"]["log-mel-fine"]["ratio_to_baseline"] > 3
    assert report["artifacts"]["flagged_share"] == 1.0 and report["artifacts"]["real_flagged_share"] <= 0.25
    assert report["seams"]["available"] is False  # one-slice clips have no seams
    written = sorted(path.name for path in (tmp_path / "generated").iterdir())
    assert written[:2] == ["generated_0000.png", "generated_0000.wav"] and len(written) == 8
    unknown = run("evaluate", "--generated", pipeline, "--reference", dataset, "--genre", "jazz", "--out", tmp_path)
    assert unknown.exit_code == 1 and "jazz" in unknown.output


def test_train_classifier_on_a_prepared_dataset(prepared_and_pipeline, tmp_path):
    dataset, _ = prepared_and_pipeline
    result = run(
        "train-classifier", "--data", dataset, "--out", tmp_path, "--max-steps", 40, "--batch-size", 24,
        "--input-size", 32, "--seed", 0,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "training_report.json").read_text())
    assert report["genres"] == ["arpeggios", "beats", "pads"] and report["held_out_split"] == "track"
    assert report["held_out_accuracy"] >= 0.9


def test_evaluate_refuses_clips_made_with_other_mel_settings(folders, prepared_and_pipeline, tmp_path):
    root, _ = folders
    dataset, _ = prepared_and_pipeline
    for png in sorted((root / "generated").glob("*.png"))[:3]:
        (tmp_path / "other").mkdir(exist_ok=True)
        (tmp_path / "other" / png.name).write_bytes(png.read_bytes())
    MEL.replace(sample_rate=22050).save(tmp_path / "other")  # the folder's own settings win over the dataset's
    result = run("evaluate", "--generated", tmp_path / "other", "--reference", dataset, "--out", tmp_path / "out")
    assert result.exit_code == 1 and "sample_rate=22050" in result.output


def test_unwritable_out_is_one_line_for_evaluate_and_a_trainer(folders, tmp_path):
    """File-system errors are one line and exit 1 (the command group's handler), never a traceback."""
    root, mel_file = folders
    (tmp_path / "file.txt").write_text("a regular file, where --out wants a folder\n")
    out = tmp_path / "file.txt" / "sub"
    evaluated = run(
        "evaluate", "--generated", root / "generated", "--reference", root / "music", "--clips", 2,
        "--reconstruction-clips", 1, "--mel-config", mel_file, "--out", out,
    )  # fmt: skip
    assert evaluated.exit_code == 1 and len(evaluated.output.strip().splitlines()) == 1, evaluated.output
    assert str(out) in evaluated.output and "Traceback" not in evaluated.output
    trained = run(
        "train-classifier", "--data", root / "music", "--out", out, "--mel-config", mel_file, "--max-steps", 1
    )
    assert trained.exit_code == 1 and isinstance(trained.exception, SystemExit), trained.output
    assert trained.output.strip().splitlines()[-1] == f"Error: audiodiff train-classifier: {out}: Not a directory"
