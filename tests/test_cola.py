"""The COLA embedding (`audiodiff.evaluation.cola`): its grid, its training loop, its files and the shipped weights."""

from __future__ import annotations

import json

import pytest
import torch

from audiodiff.artifacts import rereferenced
from audiodiff.config import MelConfig
from audiodiff.evaluation.cola import (
    GRID,
    SHIPPED,
    ColaConfig,
    ColaEmbedder,
    band_centres,
    band_matrix,
    load_cola,
    save_cola,
    to_grid,
    train_cola,
)
from audiodiff.evaluation.embeddings import EmbeddingUnavailable

BASE_MEL = MelConfig(x_res=64, y_res=64, sample_rate=22050, n_fft=2048, hop_length=512, top_db=80, n_iter=32)
TINY = ColaConfig(channels=[4, 4, 8, 8], dim=8)


def test_the_grid_is_the_identity_for_the_base_models_settings():
    images = torch.rand(3, 1, 64, 64) * 2 - 1
    assert torch.allclose(to_grid(images, BASE_MEL), rereferenced(images), atol=1e-6)
    assert torch.allclose(band_matrix(64, 22050), torch.eye(64), atol=1e-6)


def test_a_tone_line_lands_on_the_grid_band_of_its_frequency():
    """A 256-band image (the reference's settings) with one lit mel row: on the grid, the light sits in the band whose
    centre is nearest that row's frequency, and the frame rate is kept (hop 512 at 22050 Hz: same frames)."""
    mel = MelConfig(x_res=256, y_res=256, sample_rate=22050, n_fft=2048, hop_length=512, top_db=80, n_iter=32)
    images = -torch.ones(1, 1, 256, 256)
    row = 100
    images[0, 0, row] = 1.0
    gridded = to_grid(images, mel)
    assert gridded.shape == (1, 1, 64, 256)
    frequency = float(band_centres(256, 22050)[row])
    nearest = int((band_centres(64, 22050) - frequency).abs().argmin())
    assert int(gridded[0, 0, :, 10].argmax()) == nearest


def test_other_frame_rates_and_sample_rates_are_mapped_by_time_and_frequency():
    """hop 256 has twice the frame rate (half the frames on the grid); at 16 kHz nothing exists above 8 kHz, so the
    grid's bands above it stay at the floor."""
    mel = MelConfig(x_res=128, y_res=64, sample_rate=16000, n_fft=1024, hop_length=256, top_db=80, n_iter=32)
    gridded = to_grid(torch.zeros(2, 1, 64, 128), mel)
    frames = round(128 * GRID.frame_rate / (16000 / 256))
    assert gridded.shape == (2, 1, 64, frames)
    above = band_centres(64, 22050) > 8000
    assert above.any() and torch.all(gridded[:, :, above] == -1)
    assert torch.all(gridded[:, :, ~above] > 0.9)  # a flat image at its own peak stays at the peak


def test_training_learns_to_pair_crops_and_is_deterministic(tmp_path):
    """On sections that differ (each its own tone rows and pulse rate), a short training brings the loss well under
    chance; the same seed gives the same weights; saved as fp16 and loaded, the embedding agrees within fp16."""
    generator = torch.Generator().manual_seed(0)
    sections = []
    for index in range(12):
        image = -torch.ones(64, 160)
        image[4 * (index % 12) + 2] = 0.8
        image[:, :: 4 + index % 5] += 0.6
        sections.append((image + 0.05 * torch.randn(image.shape, generator=generator)).clamp(-1, 1))
    losses: list[float] = []
    torch.set_num_threads(1)
    encoder = train_cola(sections, 60, config=TINY, batch=12, frames=32, learning_rate=5e-3,
                         log=lambda step, loss: losses.append(loss))  # fmt: skip
    chance = float(torch.log(torch.tensor(12.0)))
    assert losses[0] > 0.8 * chance and sum(losses[-10:]) / 10 < 0.3 * chance, (losses[:3], losses[-10:])
    # What it learnt: a crop's nearest crop from another place is one of its own section's.
    first = torch.stack([section[:, :32] for section in sections]).unsqueeze(1)
    second = torch.stack([section[:, 100:132] for section in sections]).unsqueeze(1)
    with torch.no_grad():
        a, b = encoder(first), encoder(second)
    assert (torch.cdist(a, b).argmin(dim=1) == torch.arange(12)).float().mean() >= 0.9
    again = train_cola(sections, 3, config=TINY, batch=12, frames=32, learning_rate=5e-3)
    same = train_cola(sections, 3, config=TINY, batch=12, frames=32, learning_rate=5e-3)
    for a, b in zip(again.state_dict().values(), same.state_dict().values()):
        assert torch.equal(a, b)
    save_cola(encoder, tmp_path / "mine")
    loaded = load_cola(tmp_path / "mine")
    images = torch.stack([section[:, :64] for section in sections[:4]]).unsqueeze(1)
    embedder, reloaded = ColaEmbedder(BASE_MEL, encoder), ColaEmbedder(BASE_MEL, loaded)
    assert embedder(images).shape == (4, 1, 8)
    assert torch.allclose(embedder(images), reloaded(images), atol=0.05)


def test_missing_or_mismatched_weights_are_one_line_errors(tmp_path):
    with pytest.raises(EmbeddingUnavailable, match="no model.safetensors"):
        load_cola(tmp_path)
    save_cola(train_cola([torch.zeros(64, 40)] * 2, 1, config=TINY, batch=2, frames=32), tmp_path / "mine")
    config = json.loads((tmp_path / "mine" / "config.json").read_text())
    (tmp_path / "mine" / "config.json").write_text(json.dumps({**config, "dim": 16}))
    with pytest.raises(EmbeddingUnavailable, match="weights do not match"):
        load_cola(tmp_path / "mine")


def test_the_shipped_embedding_loads_offline_and_is_small():
    size = (SHIPPED / "model.safetensors").stat().st_size
    assert size < 5 * 2**20, size
    encoder = load_cola()
    vectors = ColaEmbedder(BASE_MEL, encoder)(torch.rand(2, 1, 64, 64) * 2 - 1)
    assert vectors.shape == (2, 1, encoder.config.dim) and torch.isfinite(vectors).all()
    assert (SHIPPED / "MODEL_CARD.md").read_text().startswith("# cola-64")
