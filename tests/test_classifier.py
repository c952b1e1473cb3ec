"""The genre classifier: learns separable synthesized genres, holds out whole tracks, saves and loads safely."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from audiodiff.audio import slice_audio
from audiodiff.classifier import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    ClassifierConfig,
    GenreClassifier,
    check_mel_compatible,
    confusion_matrix,
    split_by_group,
    train_genre_classifier,
)
from audiodiff.codec import SpectrogramCodec
from audiodiff.config import ConfigError, MelConfig
from audiodiff.synth import GENRES, synthesize

MEL = MelConfig(x_res=64, y_res=64, sample_rate=16000, n_fft=512, hop_length=128, top_db=80, n_iter=16)


@pytest.fixture(scope="module")
def labelled():
    """Three genres x four tracks x five 64x64 slices; track names as groups."""
    codec = SpectrogramCodec(MEL)
    images, labels, groups = [], [], []
    for label, genre in enumerate(GENRES):
        for track in range(4):
            slices = slice_audio(synthesize(genre, 3.0, MEL.sample_rate, seed=track), MEL.slice_size)
            images.append(codec.encode(torch.from_numpy(slices)))
            labels += [label] * len(slices)
            groups += [f"{genre}_{track}"] * len(slices)
    return torch.cat(images), labels, groups


@pytest.fixture(scope="module")
def trained(labelled):
    images, labels, groups = labelled
    return train_genre_classifier(
        images,
        labels,
        groups,
        GENRES,
        MEL,
        steps=40,
        batch_size=24,
        input_size=32,
        generator=torch.Generator().manual_seed(0),
    )


def test_classifier_learns_separable_genres_on_held_out_tracks(trained, labelled):
    model, report = trained
    images, labels, groups = labelled
    assert report["held_out_split"] == "track"
    assert report["held_out_clips"] == 15 and report["train_clips"] == 45  # one track of four per genre
    assert report["held_out_accuracy"] >= 0.9
    assert min(report["held_out_accuracy_per_genre"].values()) >= 0.8
    assert np.trace(np.array(report["held_out_confusion_matrix"])) == round(report["held_out_accuracy"] * 15)
    assert model.predict_proba(images[:3]).shape == (3, 3)
    assert model.embed_batched(images[:5], batch_size=2).shape == (5, 64)


def test_save_and_load_round_trip(trained, labelled, tmp_path):
    model, _ = trained
    images = labelled[0][:6]
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert config["genres"] == list(GENRES) and config["mel_config"] == MEL.to_dict()
    loaded = GenreClassifier.from_pretrained(tmp_path)
    assert loaded.genres == GENRES and not loaded.training
    assert torch.allclose(loaded.predict_proba(images), model.predict_proba(images), atol=1e-6)


def test_loading_refuses_bad_folders(trained, tmp_path):
    model, _ = trained
    with pytest.raises(ConfigError, match="config.json missing"):
        GenreClassifier.from_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    (tmp_path / CONFIG_NAME).write_text(json.dumps({**config, "dropout": 0.5}))
    with pytest.raises(ConfigError, match="unknown key 'dropout'"):
        GenreClassifier.from_pretrained(tmp_path)
    (tmp_path / CONFIG_NAME).write_text(json.dumps({**config, "embedding_dim": 32}))
    with pytest.raises(ConfigError, match="weights do not match"):
        GenreClassifier.from_pretrained(tmp_path)
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    (tmp_path / WEIGHTS_NAME).write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match="not readable safetensors"):
        GenreClassifier.from_pretrained(tmp_path)
    save_file({"head.weight": torch.zeros(3, 64)}, str(tmp_path / WEIGHTS_NAME))
    with pytest.raises(ConfigError, match="weights do not match"):
        GenreClassifier.from_pretrained(tmp_path)


def test_initialisation_comes_from_the_generator_only():
    config = ClassifierConfig(genres=("a", "b"), mel_config=MEL.to_dict())
    first = GenreClassifier(config, generator=torch.Generator().manual_seed(3))
    torch.rand(10)  # global RNG use in between must not matter
    second = GenreClassifier(config, generator=torch.Generator().manual_seed(3))
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


def test_split_by_group_never_puts_a_track_on_both_sides():
    labels = [0] * 6 + [1] * 6 + [2] * 4
    groups = ["a1", "a1", "a2", "a2", "a3", "a3", "b1", "b2", "b3", "b4", "b5", "b6", "c1", "c1", "c1", "c1"]
    train, held_out, mode = split_by_group(labels, groups, 0.3, torch.Generator().manual_seed(0))
    assert mode == "clip"  # genre 2 has one track only: split by clips
    assert sorted(train + held_out) == list(range(len(labels)))
    shared = {groups[i] for i in train} & {groups[i] for i in held_out}
    assert shared == {"c1"}
    assert {labels[i] for i in held_out} == {0, 1, 2}
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_by_group(labels, groups, 1.0, torch.Generator())


def test_confusion_matrix_and_mel_check():
    matrix = confusion_matrix(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    check_mel_compatible(MEL, MEL.replace(x_res=128, n_iter=32))  # width and decoder settings may differ
    with pytest.raises(ValueError, match="hop_length"):
        check_mel_compatible(MEL, MEL.replace(hop_length=256))


def test_training_needs_two_genres():
    images = torch.zeros(4, 1, 64, 64)
    with pytest.raises(ValueError, match="at least 2 genres"):
        train_genre_classifier(images, [0, 0, 0, 0], ["a", "a", "b", "b"], ("x", "y"), MEL, steps=1)
