"""The copy check (`audiodiff.evaluation.copies`, `audiodiff evaluate --training`): exact and lightly noised
training slices are flagged, held-out tracks of the same genres are not."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from audiodiff.audio import save_audio, slice_audio
from audiodiff.cli.main import cli
from audiodiff.codec import SpectrogramCodec, model_to_pixels, save_png
from audiodiff.config import MelConfig
from audiodiff.evaluation.clips import ClipSet
from audiodiff.evaluation.copies import copy_check
from audiodiff.evaluation.report import as_windows
from audiodiff.synth import GENRES, synthesize

MEL = MelConfig(x_res=64, y_res=64, sample_rate=16000, n_fft=512, hop_length=128, top_db=80, n_iter=4)


def tracks(seeds: tuple[int, ...], seconds: float = 4.0) -> dict[str, torch.Tensor]:
    """Audio of each genre and seed, keyed "genre_seed"."""
    return {
        f"{genre}_{seed}": torch.from_numpy(synthesize(genre, seconds, MEL.sample_rate, seed=seed))
        for genre in GENRES
        for seed in seeds
    }


def clip_set(audio: dict[str, torch.Tensor], source: str) -> ClipSet:
    codec = SpectrogramCodec(MEL)
    images, groups, names = [], [], []
    for name, track in audio.items():
        slices = torch.from_numpy(slice_audio(track.numpy(), MEL.slice_size))
        images.append(codec.encode(slices))
        groups += [name] * len(slices)
        names += [f"{name}#{index}" for index in range(len(slices))]
    images = torch.cat(images)
    return ClipSet(images, MEL, [None] * len(images), groups, names, source, "folder")


@pytest.fixture(scope="module")
def sets():
    training = clip_set(tracks((0, 1)), "training")
    held_out = clip_set(tracks((10, 11)), "held out")
    return training, held_out


def windows(clips: ClipSet) -> ClipSet:
    return as_windows(clips, MEL.x_res)


def test_training_slices_are_copies_and_held_out_music_is_not(sets):
    training, held_out = sets
    chosen = list(range(0, len(training), max(1, len(training) // 12)))[:12]
    exact = training.subset(chosen)
    noised = exact.subset(range(len(exact)))
    noised.images = exact.images + 0.03 * torch.randn(exact.images.shape, generator=torch.Generator().manual_seed(0))
    noised.images = noised.images.clamp(-1, 1)
    reference = held_out.subset(range(0, len(held_out), 2))
    unseen = held_out.subset(range(1, len(held_out), 2))
    for yardstick in (windows(reference), None):  # held-out music, or the training set's other tracks
        section, pairs = copy_check(windows(exact), windows(training), float(MEL.top_db), yardstick)
        assert section["near_copy_share"] == 1.0 and max(section["generated_nearest_db"]) < 1e-6
        assert len(pairs) == 4 and all(training.names[train] == exact.names[window] for window, train in pairs)
        section, _ = copy_check(windows(noised), windows(training), float(MEL.top_db), yardstick)
        assert section["near_copy_share"] == 1.0
        section, _ = copy_check(windows(unseen), windows(training), float(MEL.top_db), yardstick)
        # Synthesized pads of other seeds sit 4-6 dB from the training pads, closer than other training tracks are
        # to each other (11-31 dB): the training set's own yardstick calls a few of them replays, held-out music not.
        assert section["near_copy_share"] <= (0.05 if yardstick is not None else 0.2), section
        assert section["generated_median_nearest_db"] > 2 * section["threshold_db"]
        noised_nearest = copy_check(windows(noised), windows(training), 80.0)[0]["generated_nearest_db"]
        assert section["threshold_db"] > 2 * max(noised_nearest)  # a margin over 1 dB of noise
    section, _ = copy_check(windows(unseen), windows(training), float(MEL.top_db), windows(reference))
    assert section["reference_near_copy_share"] <= 0.05 and section["basis"] == "held-out reference windows"


def test_one_training_track_without_reference_has_no_yardstick(sets):
    training, _ = sets
    one = training.subset([index for index, group in enumerate(training.groups) if group == training.groups[0]])
    section, pairs = copy_check(windows(one), windows(one), 80.0)
    assert section["available"] is False and pairs == []


def test_evaluate_training_option_reports_copies_with_their_figure(sets, tmp_path):
    training_audio = tracks((0, 1))
    for name, audio in training_audio.items():
        save_audio(tmp_path / "music" / name.split("_")[0] / f"{name}.wav", audio.numpy(), MEL.sample_rate)
    for name, audio in tracks((10, 11)).items():
        save_audio(tmp_path / "held" / f"{name}.wav", audio.numpy(), MEL.sample_rate)
    mel_file = MEL.save(tmp_path / "mel.json")
    runner = CliRunner()
    result = runner.invoke(cli, ["prepare", str(tmp_path / "music"), "--out", str(tmp_path / "data"), "--mel-config",
                                 str(mel_file), "--genre-from", "folder", "--num-proc", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    training, _ = sets
    for index in range(0, 24, 3):  # eight training slices replayed as "generated" clips
        save_png(tmp_path / "generated" / f"clip_{index:03d}.png", model_to_pixels(training.images[index, 0]).numpy())
    options = ["--mel-config", str(mel_file), "--clips", "8", "--out", str(tmp_path / "report"), "--device", "cpu"]
    result = runner.invoke(cli, ["evaluate", "--generated", str(tmp_path / "generated"), "--reference",
                                 str(tmp_path / "held"), "--training", str(tmp_path / "data"), *options])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "copy check: 8 of 8 clips replay a training slice" in result.output
    assert (tmp_path / "report" / "copies.png").is_file()
