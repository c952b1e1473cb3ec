"""The artefact and seam checks and the fine embedding, validated on known-good and known-bad sets.

Real clips (synthesized music here; `scripts/bench_quality.py` repeats this on recorded music) must pass; the same
clips with speckle, silence, saturation or a flat grey image must be flagged; long clips spliced from different
tracks must score worse at their joins than continuous music.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from audiodiff.codec import SpectrogramCodec
from audiodiff.config import MelConfig
from audiodiff.evaluation.artifacts import (
    FENCE_SPREADS,
    Fences,
    check_artifacts,
    check_seams,
    image_statistics,
    pulse_clarity,
    scan_positions,
    windows,
)
from audiodiff.evaluation.embeddings import fine_frame_embeddings, log_mel_frame_embeddings
from audiodiff.evaluation.metrics import frechet_distance_between
from audiodiff.evaluation.report import standardized
from audiodiff.evaluation.sets import joined_columns
from audiodiff.synth import GENRES, synthesize

MEL = MelConfig(x_res=64, y_res=64, sample_rate=16000, n_fft=512, hop_length=128, top_db=80, n_iter=4)


def encode(audio: np.ndarray, frames: int) -> torch.Tensor:
    """Consecutive `frames`-column images `(count, 1, 64, frames)` of `audio`, each encoded as one piece."""
    codec = SpectrogramCodec(MEL)
    length = frames * MEL.hop_length - 1
    pieces = [audio[start : start + length] for start in range(0, len(audio) - length + 1, length + 1)]
    return codec.encode(torch.from_numpy(np.stack(pieces)), bits=8)


@pytest.fixture(scope="module")
def slices() -> dict[str, torch.Tensor]:
    """One-slice images of each synthesized genre: tracks 0-3 as the reference, tracks 4-6 held out."""
    result = {}
    for genre in GENRES:
        for name, seeds in (("reference", range(4)), ("held_out", range(4, 7))):
            audio = [synthesize(genre, 8.0, MEL.sample_rate, seed=seed) for seed in seeds]
            result[f"{genre}/{name}"] = torch.cat([encode(track, MEL.x_res) for track in audio])
    return result


def test_windows_cover_every_frame_of_long_clips():
    images = torch.arange(2 * 150, dtype=torch.float32).reshape(2, 1, 1, 150).expand(2, 1, 4, 150)
    pieces, clip, start = windows(images, 64)
    assert pieces.shape == (6, 1, 4, 64) and clip.tolist() == [0, 0, 0, 1, 1, 1]
    assert start.tolist() == [0, 64, 86] * 2  # the last window is aligned to the end
    assert torch.equal(pieces[5], images[1, ..., 86:150])
    narrow, clip, _ = windows(images[..., :40], 64)
    assert narrow.shape == (2, 1, 4, 40) and clip.tolist() == [0, 1]


@pytest.mark.parametrize("genre", GENRES)
def test_real_clips_pass_and_damaged_ones_are_flagged(slices, genre):
    reference, held_out = slices[f"{genre}/reference"], slices[f"{genre}/held_out"]
    assert check_artifacts(held_out, reference, MEL.x_res, 80)["flagged_share"] <= 0.1
    generator = torch.Generator().manual_seed(0)
    speckled = (held_out + torch.randn(held_out.shape, generator=generator) * 0.4).clamp(-1, 1)
    report = check_artifacts(speckled, reference, MEL.x_res, 80)
    assert report["flagged_share"] == 1.0 and report["by_reason"]["total_variation"] == len(held_out)
    silent, saturated, grey = torch.full_like(held_out[:2], -1), torch.ones_like(held_out[:2]), held_out[:2] * 0
    assert check_artifacts(silent, reference, MEL.x_res, 80)["by_reason"]["dark_fraction"] == 2
    assert check_artifacts(saturated, reference, MEL.x_res, 80)["by_reason"]["saturated_fraction"] == 2
    assert check_artifacts(grey, reference, MEL.x_res, 80)["by_reason"]["level_spread"] == 2
    # A wash: the real clips blurred along time and frequency keep their levels and lose onsets and lines.
    blurred = check_artifacts(gaussian_blur(held_out, 3.0), reference, MEL.x_res, 80)
    # (Synthesized beats have windows of a lone kick drum, nearly as smooth as a wash: a few blurred ones pass.)
    assert blurred["flagged_share"] >= 0.85, blurred["by_reason"]
    assert blurred["by_reason"]["onset_strength"] + blurred["by_reason"]["spectral_detail"] >= 0.85 * len(held_out)


@pytest.mark.parametrize("genre", GENRES)
def test_frames_shuffled_in_time_are_flagged_as_flicker_and_real_music_is_not(slices, genre):
    """Real frames in a random order keep every spectrum and level; only their continuity is gone: the typical
    frame rises by dB over the one before, where music rises at its onsets only. Measured: the real clips' median
    rise at most 0.29-0.65 dB, shuffled 1.09-4.59 dB for the median clip; flagged 30, 33 and 45 of 45 (a beat's
    windows of a lone kick drum are mostly silence, and silence shuffled is still silence; a slow pad changes
    little whatever the order)."""
    reference, held_out = slices[f"{genre}/reference"], slices[f"{genre}/held_out"]
    real = check_artifacts(held_out, reference, MEL.x_res, 80)
    assert real["by_reason"]["flicker"] == 0, real["fences"]
    order = torch.randperm(held_out.shape[-1], generator=torch.Generator().manual_seed(0))
    shuffled = check_artifacts(held_out[..., order], reference, MEL.x_res, 80)
    assert shuffled["by_reason"]["flicker"] >= 0.6 * len(held_out), shuffled["by_reason"]
    worst_real = max(clip["flicker"] for clip in real["per_clip"])
    assert float(np.median([clip["flicker"] for clip in shuffled["per_clip"]])) > 1.5 * worst_real


@pytest.mark.parametrize("genre", GENRES)
def test_structure_ratios_are_about_one_for_real_music_and_low_for_a_wash(slices, genre):
    """The median window's onset strength and spectral detail over the reference's: what the fences, which catch
    only the far tail, do not say about a set that is smoother than music throughout."""
    reference, held_out = slices[f"{genre}/reference"], slices[f"{genre}/held_out"]
    real = check_artifacts(held_out, reference, MEL.x_res, 80)["structure"]
    for name in ("onset_strength", "spectral_detail"):
        assert 0.8 <= real[name]["ratio"] <= 1.3, (name, real[name])  # measured 1.01-1.15
    wash = check_artifacts(gaussian_blur(held_out, 3.0), reference, MEL.x_res, 80)["structure"]
    assert wash["spectral_detail"]["ratio"] < 0.3, wash  # measured 0.08-0.14
    assert wash["spectral_detail"]["reference_median"] == real["spectral_detail"]["reference_median"]


def test_pulse_clarity_is_high_for_a_steady_beat_and_low_once_its_frames_are_shuffled():
    """Whole 2 s clips (256 frames, 125 a second): synthesized beats and arpeggios repeat (measured 0.63-0.98), the
    same frames in a random order do not (0.16-0.33); a slow pad has no beat (0.06-0.24)."""
    frame_rate = MEL.sample_rate / MEL.hop_length
    generator = torch.Generator().manual_seed(0)
    for genre in GENRES:
        clips = torch.cat([encode(synthesize(genre, 8.0, MEL.sample_rate, seed=seed), 256) for seed in range(2)])
        pulse = pulse_clarity(clips, 80, frame_rate)
        assert pulse.shape == (len(clips),) and bool(((pulse >= 0) & (pulse <= 1)).all()), pulse
        if genre == "pads":
            assert float(pulse.median()) < 0.35, pulse
            continue
        assert float(pulse.median()) > 0.55, (genre, pulse)
        shuffled = pulse_clarity(clips[..., torch.randperm(256, generator=generator)], 80, frame_rate)
        assert float(shuffled.median()) < 0.35, (genre, shuffled)
    assert torch.equal(pulse_clarity(clips[..., :6], 80, frame_rate), torch.zeros(len(clips)))  # no lag to search


def test_pulse_of_joined_slices_ignores_the_joins():
    """A run of real slices, each encoded on its own and laid end to end, has a step and edge frames at every join, 64
    columns apart: a pulse of its own (a pad read 0.77-0.98). Ignoring the rise around the joins gives the pad back
    its own (0.09-0.49 against 0.06-0.24 encoded whole) and keeps the beat of beats."""
    frame_rate = MEL.sample_rate / MEL.hop_length
    ignore = joined_columns(256, MEL.x_res, 2)
    assert ignore[:5] == [62, 63, 64, 65, 66] and len(ignore) == 15
    for genre, low, high in (("pads", 0.0, 0.5), ("beats", 0.55, 1.0)):
        slices = torch.cat([encode(synthesize(genre, 8.0, MEL.sample_rate, seed=seed), 64) for seed in range(2)])
        runs = torch.stack([torch.cat(list(slices[start : start + 4]), dim=-1) for start in range(0, 12, 4)])
        pulse = pulse_clarity(runs, 80, frame_rate, ignore)
        assert low <= float(pulse.median()) <= high, (genre, pulse)
        if genre == "pads":
            assert float(pulse_clarity(runs, 80, frame_rate).median()) > 0.7  # what the joins alone would say


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """`(batch, 1, height, width)` images blurred by a Gaussian of `sigma` pixels along both axes."""
    radius = int(3 * sigma)
    kernel = torch.exp(-(torch.arange(-radius, radius + 1.0) ** 2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = torch.nn.functional.pad(images, (radius, radius, radius, radius), mode="replicate")
    along_time = torch.nn.functional.conv2d(padded, kernel.view(1, 1, 1, -1))
    return torch.nn.functional.conv2d(along_time, kernel.view(1, 1, -1, 1))


def test_flagged_clips_come_first_with_their_reasons_and_windows(slices):
    reference, held_out = slices["pads/reference"], slices["pads/held_out"]
    clips = torch.cat([held_out[:3, ..., :], held_out[3:6]], dim=-1)  # three clips of two slices each
    clips[1, ..., 64:] = (
        clips[1, ..., 64:] + torch.randn(1, 64, 64, generator=torch.Generator().manual_seed(1))
    ).clamp(-1, 1)
    report = check_artifacts(clips, reference, MEL.x_res, 80, names=["a", "b", "c"])
    assert [clip["name"] for clip in report["per_clip"]][0] == "b"
    first = report["per_clip"][0]
    assert first["flagged"] and "total_variation" in first["reasons"] and first["flagged_window_starts"] == [64]
    assert report["flagged_clips"] == 1 and report["windows"] == 6 and report["flagged_windows"] == 1


def test_fences_follow_the_reference_and_respect_their_floors():
    values = {name: torch.linspace(0.0, 0.1, 101) for name in ("total_variation", "spectral_flatness")}
    values |= {"dark_fraction": torch.zeros(101), "saturated_fraction": torch.zeros(101)}
    values["level_spread"] = torch.linspace(10, 20, 101)
    values |= {"onset_strength": torch.linspace(2, 6, 101), "spectral_detail": torch.linspace(1, 10, 101)}
    values["flicker"] = torch.linspace(0.2, 0.4, 101)
    fences = Fences.fit(values)
    # A reference that barely changes from frame to frame (0.2-0.4 dB) calls a window flickering only from 1 dB on.
    assert fences.limits["flicker"] == 1.0
    assert Fences.fit(values | {"flicker": torch.linspace(0.2, 1.2, 101)}).limits["flicker"] == pytest.approx(
        1.15 + 2 * (1.15 - 0.7)
    )
    # Structure statistics are fenced on their logarithm; spectral detail is never fenced below the wash level.
    assert fences.limits["spectral_detail"] == 0.5
    smooth = Fences.fit(values | {"spectral_detail": torch.linspace(0.5, 3, 101)}).limits["spectral_detail"]
    assert smooth == pytest.approx(float(torch.quantile(torch.linspace(0.5, 3, 101), 0.05)) / 2)
    low, median = float(torch.quantile(torch.linspace(2, 6, 101).log(), 0.05)), math.log(4)
    assert fences.limits["onset_strength"] == pytest.approx(math.exp(low - 2 * (median - low)))
    # Each statistic sits its own number of spreads beyond the tail (texture differs more between recordings than
    # inside one: the speckle and noise fences sit further out); `spreads` overrides them, one by one.
    assert FENCE_SPREADS["total_variation"] == 3.0 and FENCE_SPREADS["spectral_flatness"] == 5.0
    assert fences.limits["total_variation"] == pytest.approx(0.095 + 3 * (0.095 - 0.05))
    assert fences.limits["spectral_flatness"] == pytest.approx(0.095 + 5 * (0.095 - 0.05))
    override = Fences.fit(values, spreads={"total_variation": 2.0}).limits
    assert override["total_variation"] == pytest.approx(0.095 + 2 * (0.095 - 0.05))
    assert override["spectral_flatness"] == fences.limits["spectral_flatness"]
    assert fences.limits["dark_fraction"] == 0.85 and fences.limits["saturated_fraction"] == 0.05
    assert fences.limits["level_spread"] == pytest.approx(10.5 - 2 * (15 - 10.5))
    # A very uniform reference (synthesized music: every window's levels spread 21-23 dB) still calls a window flat
    # only below 10 dB, not every window a little softer than its narrow range.
    values["level_spread"] = torch.linspace(21, 23, 101)
    assert Fences.fit(values).limits["level_spread"] == 10.0
    statistics = image_statistics(torch.zeros(1, 1, 8, 8), 80)
    assert float(statistics["total_variation"][0]) == 0 and float(statistics["level_spread"][0]) == 0


def test_seam_check_hears_tracks_spliced_together(slices):
    continuous = torch.cat(
        [encode(synthesize("pads", 8.0, MEL.sample_rate, seed=seed), 3 * MEL.x_res) for seed in range(4, 7)]
    )
    # Slices of different tracks and genres butted together at known joins.
    parts = [slices[f"{genre}/held_out"] for genre in ("pads", "beats", "arpeggios")]
    spliced = torch.cat([parts[0][:6], parts[1][:6], parts[2][:6]], dim=-1)
    reference = slices["pads/reference"]
    context = MEL.x_res // 4
    joins = [[64, 128]] * len(spliced)
    names = [f"s{i}" for i in range(6)]
    bad = check_seams(spliced, joins, reference, 80, context, names, MEL.sample_rate, MEL.hop_length)
    good = check_seams(continuous, [[64, 128]] * len(continuous), reference, 80, context)
    assert good["seam_score"] < 1.5 < 2.5 < bad["seam_score"]
    assert bad["points"] == 12 and bad["worst"][0]["seconds"] in (
        round(64 * 128 / 16000, 2),
        round(128 * 128 / 16000, 2),
    )
    everywhere = check_seams(spliced, None, reference, 80, context)
    assert everywhere["checked"] == "every point" and everywhere["points"] == 6 * len(scan_positions(192, 16))


def test_fine_embedding_sees_speckle_that_band_averages_hide(slices):
    reference, held_out = slices["arpeggios/reference"], slices["arpeggios/held_out"]
    mixed = held_out.clone()
    noise = torch.rand(mixed[: len(mixed) // 4].shape, generator=torch.Generator().manual_seed(2)) * 2 - 1
    mixed[: len(mixed) // 4] = noise  # a quarter of the clips are pure noise

    def ratio(embed, damaged, scale: bool) -> float:
        sets = [embed(damaged), embed(reference), embed(held_out)]
        if scale:
            sets = standardized(sets, reference=sets[1])
        return frechet_distance_between(sets[0], sets[1]) / frechet_distance_between(sets[2], sets[1])

    coarse = ratio(lambda images: log_mel_frame_embeddings(images, 80), mixed, False)
    fine = ratio(lambda images: fine_frame_embeddings(images, 80), mixed, True)
    assert fine > 3 * coarse and fine > 5
    shape = fine_frame_embeddings(held_out[:2], 80).shape
    assert shape == (2, MEL.x_res - 1, 64 + 2 * 16)
