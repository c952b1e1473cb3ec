"""Evaluation metrics on data built so that the answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from audiodiff.audio import save_audio, slice_audio
from audiodiff.codec import SpectrogramCodec, model_to_pixels, save_png
from audiodiff.config import MelConfig
from audiodiff.data.prepare import prepare_dataset
from audiodiff.evaluation import (
    ClipSet,
    EvaluationError,
    FolderClips,
    diversity,
    evaluate,
    frechet_distance,
    frechet_distance_between,
    gaussian_statistics,
    genre_share,
    nearest_neighbour_distances,
    open_source,
    select_refs,
    split_reference,
    summary_lines,
)
from audiodiff.evaluation.artifacts import FENCE_SAMPLE, comparable_windows, image_statistics
from audiodiff.evaluation.embeddings import (
    EmbeddingUnavailable,
    LogMelEmbedder,
    load_pretrained_embedder,
    log_mel_frame_embeddings,
    parse_backend,
)
from audiodiff.evaluation.metrics import pairwise_log_mel_distances
from audiodiff.evaluation.run import run_evaluation
from audiodiff.evaluation.sets import pulse_sample, window_statistics
from audiodiff.figures import render_figure
from audiodiff.synth import synthesize

MEL = MelConfig(x_res=64, y_res=64, sample_rate=16000, n_fft=512, hop_length=128, top_db=80, n_iter=16)


def clip_set(genre: str, tracks, name: str = "set") -> ClipSet:
    """Every 64-frame slice of 3 s of `genre` per track seed: images, original audio, labels and track names."""
    codec = SpectrogramCodec(MEL)
    audio = [slice_audio(synthesize(genre, 3.0, MEL.sample_rate, seed=seed), MEL.slice_size) for seed in tracks]
    groups = [f"{genre}_{seed}" for seed, slices in zip(tracks, audio) for _ in slices]
    waveforms = torch.from_numpy(np.concatenate(audio))
    return ClipSet(
        images=codec.encode(waveforms),
        mel_config=MEL,
        genres=[genre] * len(groups),
        groups=groups,
        names=[f"{group}#{index}" for index, group in enumerate(groups)],
        source=name,
        kind="test",
        audio=waveforms,
    )


@pytest.fixture(scope="module")
def genres() -> dict[str, ClipSet]:
    return {genre: clip_set(genre, range(4), genre) for genre in ("beats", "pads", "arpeggios")}


# --- Frechet distance ------------------------------------------------------------------------------------------------
def test_frechet_distance_closed_form_for_diagonal_gaussians():
    # Commuting covariances: FD = |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2 = 9 + 1 + 1.
    covariance_a, covariance_b = torch.diag(torch.tensor([1.0, 4.0])), torch.diag(torch.tensor([4.0, 1.0]))
    value = frechet_distance(torch.tensor([0.0, 0.0]), covariance_a, torch.tensor([3.0, 0.0]), covariance_b)
    assert value == pytest.approx(11.0, abs=1e-9)


def test_frechet_distance_matches_scipy_sqrtm_for_full_covariances():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 6, generator=generator, dtype=torch.float64), torch.randn(6, 6, generator=generator).double()
    covariance_a, covariance_b = a @ a.T + 0.1 * torch.eye(6), b @ b.T
    mean_a, mean_b = torch.randn(6, generator=generator).double(), torch.zeros(6, dtype=torch.float64)
    root = scipy.linalg.sqrtm(covariance_a.numpy() @ covariance_b.numpy()).real
    expected = float((mean_a - mean_b).square().sum() + covariance_a.trace() + covariance_b.trace()) - 2 * np.trace(
        root
    )
    assert frechet_distance(mean_a, covariance_a, mean_b, covariance_b) == pytest.approx(expected, rel=1e-8)


def test_gaussian_statistics_pool_leading_axes_and_need_two_vectors():
    embeddings = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(1))
    mean, covariance = gaussian_statistics(embeddings)
    assert mean.shape == (4,) and covariance.shape == (4, 4)
    assert torch.allclose(mean, embeddings.reshape(-1, 4).double().mean(0))
    with pytest.raises(EvaluationError, match="at least 2"):
        gaussian_statistics(torch.zeros(1, 4))


def test_identical_sets_give_zero_frechet_distance(genres):
    embeddings = log_mel_frame_embeddings(genres["pads"].images, MEL.top_db)
    assert frechet_distance_between(embeddings, embeddings) < 1e-6


def test_different_genres_are_far_apart_and_farther_than_two_halves_of_one_genre(genres):
    beats = log_mel_frame_embeddings(genres["beats"].images, MEL.top_db)
    pads = log_mel_frame_embeddings(genres["pads"].images, MEL.top_db)
    half = len(beats) // 2  # tracks 0-1 against tracks 2-3: same genre, different music
    beats_halves = frechet_distance_between(beats[:half], beats[half:])
    pads_halves = frechet_distance_between(pads[: len(pads) // 2], pads[len(pads) // 2 :])
    across = frechet_distance_between(beats, pads)
    assert across > 10_000  # in dB^2
    assert across > 5 * max(beats_halves, pads_halves)


def test_log_mel_frame_embeddings_are_levels_and_their_changes():
    # A clip whose every band sits at -20 dB, then -40 dB from frame 3 on.
    db = torch.full((1, 64, 8), -20.0)
    db[..., 3:] = -40.0
    images = ((db + 80) / 80 * 2 - 1).unsqueeze(1)
    embeddings = log_mel_frame_embeddings(images, top_db=80, bands=16)
    assert embeddings.shape == (1, 7, 32)
    assert torch.allclose(embeddings[0, :, :16], db[0, :16, 1:].T, atol=1e-4)  # frames 1..7
    changes = embeddings[0, :, 16:]
    assert torch.allclose(changes[2], torch.full((16,), -20.0), atol=1e-4)  # the step at frame 3
    assert changes[[0, 1, 3, 4, 5, 6]].abs().max() < 1e-4


# --- diversity, copying, genre share -------------------------------------------------------------------------------
def test_copies_of_one_clip_have_zero_diversity_and_distinct_clips_do_not(genres):
    copies = genres["beats"].images[:1].repeat(6, 1, 1, 1)
    assert diversity(copies, MEL.top_db)["mean_pairwise_db"] < 1e-3
    spread = diversity(genres["beats"].images, MEL.top_db)
    assert spread["mean_pairwise_db"] > 5.0
    assert 0 < spread["closest_pair_db"] <= spread["mean_pairwise_db"]


def test_diversity_and_leave_one_out_skip_windows_of_the_same_clip(genres):
    # Neighbouring windows of one clip overlap almost entirely (here: the same window with a little noise); only
    # windows of different clips are compared.
    images = genres["beats"].images[:3]
    noise = 0.02 * torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    windows = torch.cat([images, (images + noise).clamp(-1, 1)])  # windows i and i + 3 belong to clip i
    clip_index = [0, 1, 2, 0, 1, 2]
    overlapping = diversity(windows, MEL.top_db)
    across = diversity(windows, MEL.top_db, clip_index)
    same_clip = pairwise_log_mel_distances(images, windows[3:], MEL.top_db).diagonal()
    assert overlapping["closest_pair_db"] == pytest.approx(float(same_clip.min()))  # two windows of one clip
    assert across["closest_pair_db"] > float(same_clip.max()) + 3.0
    assert across["mean_pairwise_db"] > overlapping["mean_pairwise_db"]
    nearest = nearest_neighbour_distances(windows, windows, MEL.top_db, exclude_self=True, clip_index=clip_index)
    own = nearest_neighbour_distances(windows, windows, MEL.top_db, exclude_self=True)
    assert (nearest > own).all()
    with pytest.raises(EvaluationError, match="windows of at least 2 clips"):
        diversity(windows[[0, 3]], MEL.top_db, [0, 0])


def test_nearest_reference_distance_catches_copied_training_clips(genres):
    reference = genres["pads"].images
    copied = reference[[1, 4, 7]]
    assert nearest_neighbour_distances(copied, reference, MEL.top_db).max() < 1e-3
    leave_one_out = nearest_neighbour_distances(reference, reference, MEL.top_db, exclude_self=True)
    assert leave_one_out.min() > 1.0


def test_genre_share_counts_argmax():
    probabilities = torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])
    assert genre_share(probabilities, 0) == 0.75


def test_split_reference_keeps_tracks_on_one_side():
    groups = ["a", "a", "b", "b", "b", "c", "d", "d"]
    compared, baseline, mode = split_reference(groups, count=10)
    assert mode == "track"
    assert not {groups[i] for i in compared} & {groups[i] for i in baseline}
    assert sorted(compared + baseline) == list(range(len(groups)))
    compared, baseline, mode = split_reference(["x"] * 6, count=3)
    assert (compared, baseline, mode) == ([0, 1, 2], [3, 4, 5], "clip")


# --- the report ----------------------------------------------------------------------------------------------------
def test_evaluate_separates_right_from_wrong_genre(genres, tmp_path):
    reference = genres["pads"]
    right = clip_set("pads", [10, 11], "more pads")
    wrong = clip_set("beats", [10, 11], "beats")
    embedders = [LogMelEmbedder(MEL.top_db)]
    generator = torch.Generator().manual_seed(0)
    good = evaluate(
        right, reference, target_genre="pads", embedders=embedders, reconstruction_clips=2, generator=generator
    )
    bad = evaluate(wrong, reference, target_genre="pads", embedders=embedders, reconstruction_clips=2)
    good_fd, bad_fd = good["frechet_distance"]["log-mel"], bad["frechet_distance"]["log-mel"]
    assert good_fd["ratio_to_baseline"] < 2.0  # as close as other pads are to each other
    assert bad_fd["ratio_to_baseline"] > 5.0
    assert good["reference"]["baseline_split"] == "track" and "warning" not in good["reference"]
    assert good["genre"]["available"] is False
    reconstruction = good["reconstruction"]
    assert reconstruction["clips"] == 2
    assert 0 < reconstruction["spectral_convergence"] < 0.6
    assert 0 < reconstruction["log_spectral_distance_db"] < 10
    assert 0.5 < good["diversity"]["ratio_to_reference"] < 2.0
    json.dumps(good)  # JSON-ready
    lines = summary_lines(good)
    assert any(line.startswith("Frechet distance [log-mel]") for line in lines)
    figure = render_figure(right, reference, good, tmp_path / "report.png", lines=lines)
    with Image.open(figure) as image:
        assert image.mode == "RGB" and image.width >= 700 and image.height > 300


def test_evaluate_rejects_mismatched_mel_settings(genres):
    other = genres["pads"].subset(range(4))
    other.mel_config = MEL.replace(sample_rate=22050)
    with pytest.raises(EvaluationError, match="sample_rate"):
        evaluate(other, genres["pads"], embedders=[LogMelEmbedder(MEL.top_db)])


# --- embedding backends --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["vggish", "pann", "clap"])
def test_pretrained_backends_report_unavailable_without_weights(name, tmp_path):
    with pytest.raises(EmbeddingUnavailable, match=name):
        load_pretrained_embedder(name, str(tmp_path / "missing.pt") if name != "vggish" else None)


def test_parse_backend():
    assert parse_backend("clap=~/clap.pt")[0] == "clap"
    assert parse_backend("vggish") == ("vggish", None)
    with pytest.raises(ValueError, match="unknown embedding backend"):
        parse_backend("inception")


# --- clip sources --------------------------------------------------------------------------------------------------
def test_folder_of_audio_by_genre_and_folder_of_pngs(tmp_path):
    for genre in ("beats", "pads"):
        save_audio(
            tmp_path / "audio" / genre / f"{genre}.wav", synthesize(genre, 1.5, MEL.sample_rate), MEL.sample_rate
        )
    source = FolderClips(tmp_path / "audio", MEL)
    assert len(source.refs) == 4  # 1.5 s = 2 slices of 8191 samples per file
    pads = source.load(select_refs(source.refs, None, "pads", None))
    assert pads.genres == ["pads", "pads"] and pads.images.shape == (2, 1, 64, 64) and pads.audio.shape == (2, 8191)
    with pytest.raises(EvaluationError, match="no clips of genre 'jazz'"):
        select_refs(source.refs, None, "jazz", None)

    pixels = SpectrogramCodec(MEL).audio_to_pixels(pads.audio)
    for index, image in enumerate(pixels):
        save_png(tmp_path / "png" / f"track_{index:04d}.png", image.numpy())
    MEL.save(tmp_path / "png")
    images = FolderClips(tmp_path / "png")  # mel settings from png/mel_config.json
    assert images.uses_images and images.mel_config == MEL
    loaded = images.load(images.refs)
    assert torch.allclose(loaded.images, pads.images, atol=1e-6)
    assert loaded.groups == ["track", "track"] and loaded.audio is None


def test_a_reference_of_one_track_is_said_in_the_report():
    """With one reference track the baseline comes from the same track as the compared clips: the report says so
    (in the JSON, the printed lines and so the figure) instead of reading as a baseline of other music."""
    one_track = clip_set("pads", [10], "one pads track")
    report = evaluate(clip_set("pads", [11], "pads").subset([0, 1]), one_track, embedders=[LogMelEmbedder(MEL.top_db)],
                      reconstruction_clips=1)  # fmt: skip
    assert report["reference"]["baseline_split"] == "clip" and report["reference"]["tracks"] == 1
    assert "one track" in report["reference"]["warning"]
    assert any(line.startswith("warning: the reference has one track") for line in summary_lines(report))


def test_known_bad_sets_score_worse_than_real_music_on_the_headline_numbers():
    """Issue 23: a wash, the reference's mean image, time-shuffled frames and copies of one clip must each score
    clearly worse than real held-out clips on precision or recall and on the flagged share or the Frechet distance,
    whatever a Frechet distance alone would say."""
    from test_artifacts import gaussian_blur

    from audiodiff.evaluation.cola import ColaEmbedder, load_cola
    from audiodiff.evaluation.embeddings import FineEmbedder

    reference, held_out = clip_set("arpeggios", range(6), "reference"), clip_set("arpeggios", range(10, 14), "held")
    images, generator = held_out.images, torch.Generator().manual_seed(0)
    noise = 0.05 * torch.randn(images.shape, generator=generator)
    sets = {
        "real": images,
        "blurred": gaussian_blur(images, 2.0),
        "mean image": (reference.images.mean(dim=0, keepdim=True) + noise).clamp(-1, 1),
        "shuffled frames": images[..., torch.randperm(images.shape[-1], generator=generator)],
        "copies of one clip": images[:1].expand_as(images),
    }
    scores, learned = {}, {}
    cola = ColaEmbedder(MEL, load_cola())  # the shipped embedding, on music it never heard at other settings
    for name, candidate in sets.items():
        clips = ClipSet(candidate, MEL, held_out.genres, held_out.groups, held_out.names, name, "test")
        report = evaluate(clips, reference, embedders=[cola, FineEmbedder(MEL.top_db)], reconstruction_clips=1)
        fidelity = report["precision_recall"]["log-mel-fine"]
        scores[name] = (fidelity["precision"], fidelity["recall"], report["artifacts"]["flagged_share"],
                        report["frechet_distance"]["log-mel-fine"]["ratio_to_baseline"])  # fmt: skip
        fidelity = report["precision_recall"]["cola"]
        learned[name] = (
            fidelity["precision"],
            fidelity["recall"],
            report["frechet_distance"]["cola"]["ratio_to_baseline"],
        )
    precision, recall, flagged, ratio = scores.pop("real")
    assert precision >= 0.6 and recall >= 0.6 and flagged == 0 and ratio < 2, (precision, recall, flagged, ratio)
    for name, (precision, recall, flagged, ratio) in scores.items():
        assert min(precision, recall) < 0.3, (name, scores[name])
        assert flagged >= 0.5 or ratio > 3, (name, scores[name])
    # The COLA embedding: real clips look real; a wash and an averaged image are far from any music (Frechet ratios
    # above 5, nothing precise or covered), copies of one clip cover nothing. Time-shuffled arpeggios at 125 frames
    # a second, resampled to its 43, still read as arpeggios to it: the frame statistics and the flags catch those.
    precision, recall, ratio = learned.pop("real")
    assert precision >= 0.6 and recall >= 0.6 and ratio < 2, learned
    for name in ("blurred", "mean image"):
        precision, recall, ratio = learned[name]
        assert max(precision, recall) < 0.3 and ratio > 5, (name, learned[name])
    assert learned["copies of one clip"][1] < 0.3, learned


# --- the artefact fences' reference sample ---------------------------------------------------------------------------
def test_window_statistics_gather_every_window_with_its_track_in_bounded_batches(tmp_path):
    """The statistics the fences are fitted on: the same values whatever the batch the clips are loaded in, one per
    window, each tagged with its track; a track can be left out (the fences of the real false-alarm rate)."""
    for seed in range(3):
        save_audio(tmp_path / f"pads_{seed}.wav", synthesize("pads", 2.0, MEL.sample_rate, seed=seed), MEL.sample_rate)
    source = FolderClips(tmp_path, MEL)
    whole = image_statistics(comparable_windows(source.load(source.refs).images, MEL.x_res)[0], MEL.top_db)
    small = window_statistics(source, source.refs[::-1], MEL.x_res, MEL.top_db, batch=2)
    assert len(small) == len(source.refs) == 9 and sorted(set(small.groups)) == [f"pads_{s}.wav" for s in range(3)]
    assert small.groups == sorted(small.groups)  # loaded in track order: a file is read once per batch
    for name, values in whole.items():  # the same windows (within a track, in the order asked for)
        assert torch.allclose(small.values[name].sort().values, values.sort().values, rtol=1e-5, atol=1e-6), name
    rest = small.without(["pads_1.wav"])
    assert len(rest) == 6 and "pads_1.wav" not in rest.groups and len(rest.values["spectral_detail"]) == 6


def test_evaluation_fits_its_fences_on_the_same_reference_sample_whatever_the_clip_count(tmp_path):
    """The fences sit near the reference's 5% quantile; fitted on the 2N clips an evaluation of N clips compares,
    they moved with N and the flagged share with them (BENCHMARKS.md). Now an evaluation of 2 clips and one of 4
    fit them on the same sample: every reference window (fewer than `FENCE_SAMPLE` here)."""
    for genre in ("pads", "beats"):
        for seed in range(3):
            audio = synthesize(genre, 2.0, MEL.sample_rate, seed=seed)
            save_audio(tmp_path / "reference" / genre / f"{genre}_{seed}.wav", audio, MEL.sample_rate)
    for seed in range(4):
        audio = synthesize("pads", 0.6, MEL.sample_rate, seed=10 + seed)
        save_audio(tmp_path / "generated" / f"clip_{seed}.wav", audio, MEL.sample_rate)
    sections = [
        run_evaluation(
            tmp_path / "generated",
            tmp_path / "reference",
            tmp_path / f"out{count}",
            genre="pads",
            count=count,
            mel_config=MEL,
            reconstruction_clips=1,
        ).report["artifacts"]  # fmt: skip
        for count in (2, 4)
    ]
    assert sections[0]["reference_windows"] == sections[1]["reference_windows"] == 9  # the pads tracks' windows
    assert sections[0]["fences"] == sections[1]["fences"]
    assert FENCE_SAMPLE >= 1024  # what training fits the pipeline's own fences on, too


# --- the pulse: real runs of the generated clips' length -------------------------------------------------------------
def test_pulse_sample_draws_runs_of_consecutive_slices_of_one_track(tmp_path):
    """Runs of k consecutive slices of one track, joined: 3 tracks of 3 slices hold 6 runs of 2 and none of 4; a
    silent slice ends a run; loose images hold runs of one slice only; the same seed draws the same runs."""
    for seed in range(3):
        audio = synthesize("beats", 1.6, MEL.sample_rate, seed=seed)
        if seed == 2:
            audio[8192 : 2 * 8192] = 0.0  # its second slice silent: no run of two in this track
        save_audio(tmp_path / "wav" / f"beats_{seed}.wav", audio, MEL.sample_rate)
    source = FolderClips(tmp_path / "wav", MEL)
    assert len(source.refs) == 9
    rate = MEL.sample_rate / MEL.hop_length

    def draw(frames, runs=64, seed=0):
        generator = torch.Generator().manual_seed(seed)
        return pulse_sample(source, source.refs, frames, MEL.x_res, MEL.top_db, rate, generator, runs=runs)

    two = draw(128)
    assert len(two) == 4 and two.frames == 128  # beats_0 and beats_1: slices 0-1 and 1-2; beats_2's runs hold silence
    assert sorted(set(two.groups)) == ["beats_0.wav", "beats_1.wav"] and bool((two.values > 0).all())
    assert len(two.of(["beats_0.wav"])) == 2 and len(two.of(["beats_0.wav"], inside=False)) == 2
    assert torch.equal(draw(128, runs=3).values, draw(128, runs=3).values) and len(draw(128, runs=3)) == 3
    assert len(draw(100)) == 4  # cut to 100 columns: still two slices a run
    assert len(draw(4 * MEL.x_res)) == 0
    assert len(draw(MEL.x_res)) == 8  # every loud slice is a run of one
    codec = SpectrogramCodec(MEL)
    for index, piece in enumerate(slice_audio(synthesize("beats", 1.6, MEL.sample_rate, seed=0), MEL.slice_size)):
        pixels = model_to_pixels(codec.encode(torch.from_numpy(piece)[None])[0, 0], 8)
        save_png(tmp_path / "png" / f"beats_{index}.png", pixels.numpy())
    images = FolderClips(tmp_path / "png", MEL)
    loose = pulse_sample(images, images.refs, 128, MEL.x_res, MEL.top_db, rate, torch.Generator())
    assert len(loose) == 0
    # A prepared dataset of the same tracks: its rows' slice numbers make the same runs of the same music.
    prepare_dataset([tmp_path / "wav"], tmp_path / "dataset", MEL, genre="beats", num_proc=1, progress=False)
    dataset = open_source(tmp_path / "dataset")
    rows = pulse_sample(dataset, dataset.refs, 128, MEL.x_res, MEL.top_db, rate, torch.Generator().manual_seed(0))
    assert len(rows) == 4 and sorted({Path(group).name for group in rows.groups}) == ["beats_0.wav", "beats_1.wav"]
    torch.testing.assert_close(rows.values.sort().values, two.values.sort().values, atol=0.02, rtol=0)


def test_evaluation_compares_the_pulse_of_whole_clips_with_real_runs_of_their_length(tmp_path):
    """Four-slice clips against a WAV reference: the report's structure holds the median clip's pulse over real runs
    of four slices; real beats score about 1, the same clips with their frames shuffled far less; the summary says
    it."""
    for seed in range(4):
        audio = synthesize("beats", 3.2, MEL.sample_rate, seed=seed)
        save_audio(tmp_path / "reference" / f"beats_{seed}.wav", audio, MEL.sample_rate)
    codec = SpectrogramCodec(MEL)
    generator = torch.Generator().manual_seed(0)
    audio = [synthesize("beats", 2.5, MEL.sample_rate, seed=10 + seed)[: 4 * MEL.slice_size - 1] for seed in range(4)]
    clips = codec.encode(torch.from_numpy(np.stack(audio)))
    shuffled = clips[..., torch.randperm(clips.shape[-1], generator=generator)]
    for name, images in (("real", clips), ("shuffled", shuffled)):
        for index, image in enumerate(images):
            save_png(tmp_path / name / f"clip_{index}.png", model_to_pixels(image[0], 8).numpy())
    pulse = {}
    for name in ("real", "shuffled"):
        run = run_evaluation(tmp_path / name, tmp_path / "reference", tmp_path / f"out-{name}", count=4, mel_config=MEL,
                             reconstruction_clips=1)  # fmt: skip
        pulse[name] = run.report["artifacts"]["structure"]["pulse_clarity"]
        assert pulse[name]["reference_runs"] == 12  # 4 tracks of 6 slices: runs of four at 0-3, 1-4 and 2-5
        assert any(line.startswith("pulse (") for line in summary_lines(run.report))
    assert 0.75 <= pulse["real"]["ratio"] <= 1.3, pulse  # measured 1.05
    assert pulse["shuffled"]["ratio"] < 0.5, pulse  # measured 0.27
    assert pulse["real"]["reference_median"] == pulse["shuffled"]["reference_median"]
