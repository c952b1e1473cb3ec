"""What the benchmarks share (`scripts/benchlib/`) and the parts of the split benchmarks (`scripts/recipe_study/`,
`scripts/distill_study/`), on tiny inputs made here (a fake real-music manifest, a few WAVs, a small dataset): the
numbers the benchmarks' copies gave before they were written once are pinned, so that a change to them shows.

The scripts import `benchlib` as `python scripts/bench_x.py` lets them (scripts/ first on `sys.path`); the tests put
scripts/ on the path the same way for each test. Nothing here reads the real-music cache.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from audiodiff.audio import save_audio
from audiodiff.config import MelConfig

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
# Tiny mel settings: slices of 32 * 64 - 1 = 2047 samples at 8 kHz.
MEL = MelConfig(x_res=32, y_res=32, sample_rate=8000, n_fft=256, hop_length=64, n_iter=4)


@pytest.fixture(autouse=True)
def scripts_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))


def module(name: str):
    return importlib.import_module(name)


def write_manifest(folder: Path) -> Path:
    """A fake collection: 9 tracks of "rock" and 5 of "ambient" (listed out of order), two licences."""
    rows = [
        {
            "genre": "rock",
            "file": f"rock/track_{index}.wav",
            "package": "p",
            "license": "GPL-2+" if index % 3 else "Expat (MIT)",
        }
        for index in (8, 3, 0, 5, 1, 7, 2, 6, 4)
    ] + [
        {"genre": "ambient", "file": f"ambient/a{index}.wav", "package": "q", "license": "CC-BY-SA-3.0"}
        for index in range(5)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(rows))
    return folder


# --- collection ---------------------------------------------------------------------------------------------------
def test_split_tracks_holds_out_every_fourth_track_from_the_second(tmp_path):
    collection = module("benchlib.collection")
    split = collection.split_tracks(write_manifest(tmp_path))
    assert list(split) == ["ambient", "rock"]
    assert split["rock"]["held_out"] == ["rock/track_1.wav", "rock/track_5.wav"]
    assert split["rock"]["train"] == [f"rock/track_{index}.wav" for index in (0, 2, 3, 4, 6, 7, 8)]
    assert split["ambient"] == {
        "train": [f"ambient/a{index}.wav" for index in (0, 2, 3, 4)],
        "held_out": ["ambient/a1.wav"],
    }
    # A split.json, when given, is the split.
    (tmp_path / "split.json").write_text(json.dumps({"rock": {"train": ["x"], "held_out": ["y"]}}))
    assert collection.split_tracks(tmp_path, tmp_path / "split.json") == {"rock": {"train": ["x"], "held_out": ["y"]}}
    assert collection.manifest_by_file(tmp_path)["rock/track_3.wav"]["license"] == "Expat (MIT)"


def test_link_tracks_makes_a_fresh_folder_of_links(tmp_path):
    collection = module("benchlib.collection")
    (tmp_path / "music" / "rock").mkdir(parents=True)
    (tmp_path / "music" / "rock" / "a.wav").write_bytes(b"RIFF")
    folder = tmp_path / "linked"
    (folder / "old").mkdir(parents=True)
    assert collection.link_tracks(tmp_path / "music", ["rock/a.wav"], folder) == folder
    assert [path.relative_to(folder).as_posix() for path in folder.rglob("*.wav")] == ["rock/a.wav"]
    assert (folder / "rock" / "a.wav").resolve() == (tmp_path / "music" / "rock" / "a.wav").resolve()
    assert not (folder / "old").exists()


def stepped_tracks(folder: Path) -> list[Path]:
    """Two WAVs of one-slice chunks at known levels: chunk k of track t is a 440 Hz sine of amplitude
    0.005 * (10 t + k + 1); the third chunk of the first track is near-silent (amplitude 0.0005, under the -40 dBFS
    RMS floor), which excerpts must skip."""
    files = []
    time = np.arange(MEL.slice_size) / MEL.sample_rate
    for track in range(2):
        levels = [0.005 * (10 * track + chunk + 1) for chunk in range(4)]
        if track == 0:
            levels[2] = 0.0005
        audio = np.concatenate([level * np.sin(2 * np.pi * 440 * time) for level in levels]).astype(np.float32)
        save_audio(folder / f"track_{track}.wav", audio, MEL.sample_rate)
        files.append(folder / f"track_{track}.wav")
    return files


def test_excerpts_draws_loud_chunks_in_the_generators_order(tmp_path):
    collection = module("benchlib.collection")
    files = stepped_tracks(tmp_path)
    clips = collection.excerpts(files, MEL, 1, 5, torch.Generator().manual_seed(0))
    assert clips.shape == (5, MEL.slice_size)
    amplitudes = np.round(np.sqrt(2 * (clips.astype(np.float64) ** 2).mean(axis=1)) / 0.005).astype(int).tolist()
    # Loud chunks in file order (the silent one skipped): amplitudes 1, 2, 4 | 11, 12, 13, 14 (x 0.005); the
    # generator's permutation picks these five (the old bench_instrument.excerpts gave the same).
    assert amplitudes == EXCERPT_AMPLITUDES
    two = collection.excerpts(files[1:], MEL, 2, 2, torch.Generator().manual_seed(1))
    assert two.shape == (2, 2 * MEL.slice_size)


EXCERPT_AMPLITUDES = [14, 4, 11, 13, 12]


def test_write_wavs_numbers_the_excerpts(tmp_path):
    from audiodiff.audio import load_audio

    sides = module("benchlib.sides")
    clips = np.stack([np.full(MEL.slice_size, 0.25 * (index + 1), dtype=np.float32) for index in range(2)])
    folder = sides.write_wavs(clips, tmp_path / "real 6 s", MEL.sample_rate)
    assert sorted(path.name for path in folder.iterdir()) == ["excerpt_000.wav", "excerpt_001.wav"]
    assert abs(float(load_audio(folder / "excerpt_001.wav", MEL.sample_rate).mean()) - 0.5) < 1e-3


# --- the study folder of bench_quality: thinning ------------------------------------------------------------------
def small_dataset(folder: Path) -> Path:
    """Rows of two genres: genre 0 has tracks a (10 slices) and b (4 slices), genre 1 track c (6 slices); rows are
    stored out of slice order."""
    import datasets

    rows = {"audio_file": [], "slice": [], "genre": []}
    for track, genre, count in (("a", 0, 10), ("b", 0, 4), ("c", 1, 6)):
        for number in reversed(range(count)):
            rows["audio_file"].append(f"{track}.wav")
            rows["slice"].append(number)
            rows["genre"].append(genre)
    features = datasets.Features(
        {"audio_file": datasets.Value("string"), "slice": datasets.Value("int64"),
         "genre": datasets.ClassLabel(names=["g0", "g1"])}
    )  # fmt: skip
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(folder))
    for name in ("mel_config.json", "audiodiff_dataset.json"):
        (folder / name).write_text("{}")
    return folder


@pytest.mark.parametrize(("rows_per_genre", "block", "expected"), [(7, 1, "THIN_SINGLE"), (8, 2, "THIN_BLOCKS")])
def test_thin_dataset_keeps_the_same_share_of_each_track_evenly_spread(tmp_path, rows_per_genre, block, expected):
    from datasets import load_from_disk

    study = module("benchlib.quality_study")
    source = small_dataset(tmp_path / "full")
    study.thin_dataset(source, tmp_path / "thin", rows_per_genre, block=block)
    kept = load_from_disk(str(tmp_path / "thin"))
    assert sorted(zip(kept["audio_file"], kept["slice"])) == globals()[expected]
    assert (tmp_path / "thin" / "audiodiff_dataset.json").is_file()


# Genre 0: 14 rows, share 0.5: a keeps 5 of 10 slices, b 2 of 4; genre 1 keeps all 6 (share at most 1).
THIN_SINGLE = [("a.wav", n) for n in (0, 2, 4, 7, 9)] + [("b.wav", 0), ("b.wav", 3)] + [("c.wav", n) for n in range(6)]
# Blocks of 2, share 8/14: a keeps 3 blocks, b 1; genre 1: 3 blocks of c.
THIN_BLOCKS = (
    [("a.wav", n) for n in (0, 1, 4, 5, 8, 9)] + [("b.wav", 0), ("b.wav", 1)] + [("c.wav", n) for n in range(6)]
)


# --- known sets ---------------------------------------------------------------------------------------------------
def test_gaussian_blur_spreads_a_point_by_the_normalised_kernel():
    known = module("benchlib.known_sets")
    image = torch.zeros(1, 1, 15, 15)
    image[0, 0, 7, 7] = 1.0
    blurred = known.gaussian_blur(image, 1.0)
    kernel = torch.exp(-(torch.arange(-3, 4.0) ** 2) / 2)
    kernel = kernel / kernel.sum()
    assert blurred.shape == image.shape
    torch.testing.assert_close(blurred[0, 0, 4:11, 4:11], kernel[:, None] * kernel[None, :], atol=1e-7, rtol=0)
    assert abs(blurred.sum().item() - 1.0) < 1e-6


def test_known_bad_images_follow_the_generators_draws(tmp_path):
    """The four image sets (the untrained model's clips, a verbatim move, are left out: sampling a 3.7 M-parameter
    model is slow here); written as PNGs they read back as the images' pixels."""
    known = module("benchlib.known_sets")
    from audiodiff.codec import load_png, model_to_pixels

    generator = torch.Generator().manual_seed(0)
    one = torch.rand(3, 1, 8, 12, generator=generator) * 2 - 1
    reference = torch.rand(4, 1, 8, 12, generator=generator) * 2 - 1
    noise = 0.05 * torch.randn(one.shape, generator=generator)
    bad = known.known_bad_images(one, reference, noise, generator)
    assert list(bad) == ["blurred (sigma 2 px)", "mean image + noise", "frames shuffled", "copies of one clip"]
    assert all(images.shape == one.shape for images in bad.values())
    # The shuffle is the generator's next permutation of the frames, after the draws above: replayed here.
    replay = torch.Generator().manual_seed(0)
    for shape in (one.shape, reference.shape):
        torch.rand(shape, generator=replay)
    torch.randn(one.shape, generator=replay)
    assert torch.equal(bad["frames shuffled"], one[..., torch.randperm(12, generator=replay)])
    torch.testing.assert_close(bad["mean image + noise"], (reference.mean(0) + noise).clamp(-1, 1), atol=0, rtol=0)
    assert torch.equal(bad["copies of one clip"], one[:1].expand(3, -1, -1, -1))
    torch.testing.assert_close(bad["blurred (sigma 2 px)"], known.gaussian_blur(one, 2.0), atol=0, rtol=0)
    folder = known.write_pngs(bad["frames shuffled"], tmp_path / "shuffled", "clip")
    assert sorted(path.name for path in folder.iterdir()) == ["clip_000.png", "clip_001.png", "clip_002.png"]
    pixels, bits = load_png(folder / "clip_001.png")
    assert bits == 8 and np.array_equal(pixels, model_to_pixels(bad["frames shuffled"][1, 0]).numpy())


def test_rhythm_probes_keep_the_music_and_lose_the_beat():
    """Frames shuffled within each clip (the same frames, another order); clips spliced from slices of the next
    clips (slice k of clip i is slice k of clip i + k): every window real music, no one beat over the clip."""
    known = module("benchlib.known_sets")
    whole = torch.arange(3 * 2 * 12, dtype=torch.float32).reshape(3, 1, 2, 12)
    probes = known.rhythm_probe_images(whole, 4, torch.Generator().manual_seed(0))
    shuffled, spliced = probes[known.SHUFFLED_WHOLE], probes[known.SPLICED_WHOLE]
    for clip in range(3):
        assert torch.equal(shuffled[clip, 0, 0].sort().values, whole[clip, 0, 0])
        assert not torch.equal(shuffled[clip], whole[clip])
        for k in range(3):
            assert torch.equal(spliced[clip, ..., 4 * k : 4 * k + 4], whole[(clip + k) % 3, ..., 4 * k : 4 * k + 4])


# --- scoring and tables -------------------------------------------------------------------------------------------
def fake_report() -> dict:
    fidelity = {"precision": 0.5, "recall": 0.25, "density": 0.75, "coverage": 0.125,
                "real": {"precision": 0.9, "recall": 0.8}}  # fmt: skip
    return {
        "artifacts": {"flagged_share": 0.1, "flagged_window_share": 0.2, "by_reason": {"noise": 2, "flat": 0}},
        "precision_recall": {"log-mel-fine": fidelity},
        "frechet_distance": {
            "log-mel-fine": {"ratio_to_baseline": 1.5},
            "log-mel": {"ratio_to_baseline": 2.5},
            "classifier": {"ratio_to_baseline": 3.5},
        },  # fmt: skip
        "genre": {"target_share": 0.75},
        "seams": {"seam_score": 1.25},
    }


def test_summary_and_headline_take_the_reports_numbers():
    scoring = module("benchlib.scoring")
    assert scoring.summary(fake_report()) == {
        "flagged": 0.1, "flagged_windows": 0.2, "real_flagged": None, "seam": 1.25, "seam_real_p90_db": None,
        "fd_fine": 1.5, "fd_log_mel": 2.5, "fd_classifier": 3.5, "genre_share": 0.75, "genre_share_real": None,
    }  # fmt: skip
    headline = scoring.headline(fake_report())
    assert list(headline) == ["flagged", "reasons", "detail_ratio", "onset_ratio", "pulse_ratio", "pulse_real_ratio",
                              "precision", "recall", "density",
                              "coverage", "real_precision", "real_recall", "fd_fine", "fd_log_mel", "precision_cola",
                              "recall_cola", "coverage_cola", "real_precision_cola", "real_recall_cola", "fd_cola",
                              "genre_share", "genre_share_real"]  # fmt: skip
    assert headline["reasons"] == {"noise": 2}
    assert headline["detail_ratio"] is None  # a report from before the structure ratios
    structured = fake_report()
    structured["artifacts"]["structure"] = {"spectral_detail": {"ratio": 0.76}, "onset_strength": {"ratio": 0.75}}
    assert (scoring.headline(structured)["detail_ratio"], scoring.headline(structured)["onset_ratio"]) == (0.76, 0.75)
    assert scoring.headline(structured)["pulse_ratio"] is None  # no pulse sample
    structured["artifacts"]["structure"]["pulse_clarity"] = {"ratio": 0.35, "real_ratio": 0.9}
    pulse = scoring.headline(structured)
    assert (pulse["pulse_ratio"], pulse["pulse_real_ratio"]) == (0.35, 0.9)
    assert (headline["real_recall"], headline["fd_log_mel"], headline["genre_share"]) == (0.8, 2.5, 0.75)
    assert headline["recall_cola"] is None and headline["fd_cola"] is None  # a report without the COLA embedding
    report = fake_report()
    report["precision_recall"]["cola"] = {"precision": 0.4, "recall": 0.3, "coverage": 0.2, "real": {"precision": 0.7,
                                          "recall": 0.6}}  # fmt: skip
    report["frechet_distance"]["cola"] = {"ratio_to_baseline": 1.1}
    cola = scoring.headline(report)
    assert (cola["recall_cola"], cola["real_recall_cola"], cola["fd_cola"]) == (0.3, 0.6, 1.1)


def test_clip_sets_name_their_clips_as_the_benchmarks_did():
    scoring = module("benchlib.scoring")
    images = torch.zeros(3, 1, MEL.y_res, MEL.x_res)
    clips = scoring.clip_set(images, MEL, scoring.set_slug("short dpm/x, y"), "rock", joins=[[32]] * 3)
    assert clips.names == clips.groups == ["short_dpm-x_y_000", "short_dpm-x_y_001", "short_dpm-x_y_002"]
    assert (clips.genres, clips.source, clips.kind, clips.joins) == (
        ["rock"] * 3,
        "short_dpm-x_y",
        "generated",
        [[32]] * 3,
    )
    mixed = scoring.clip_set(images, MEL, "run", ["a", "b", "a"], names=["a_000", "b_001", "a_002"])
    assert (mixed.genres, mixed.groups) == (["a", "b", "a"], ["a_000", "b_001", "a_002"])


def test_tables_and_the_result_line():
    tables = module("benchlib.tables")
    assert [tables.number(value) for value in (None, 0.123456, 2.0, 7, "x")] == ["-", "0.123", "2", "7", "x"]
    assert tables.number(1234.5678, 4) == "1235"
    rows = {"real": {"flagged": 0.03125, "seam": None}, "model": {"flagged": 0.5, "seam": 1.23456}}
    assert tables.markdown_table(rows, ["flagged", "seam"], ["flagged clips", "seam score"]) == [
        "| set | flagged clips | seam score |",
        "|---|---:|---:|",
        "| real | 0.0312 | - |",
        "| model | 0.5 | 1.23 |",
    ]
    assert tables.result_line({"a": 0.5, "b": None, "c": "1.00"}) == "RESULT a=0.5 b=None c=1.00"


def test_machine_line_and_record():
    machine = module("benchlib.machine")
    line = machine.machine_line()
    assert line.startswith("machine: device=") and ", cpu_count=" in line and ", platform=" in line
    from audiodiff.runtime import environment_info

    assert machine.machine_line(("torch",), label="versions") == f"versions: torch={environment_info()['torch']}"
    record = machine.machine_record("cpu")
    assert (record["device"], record["torch"], "gpu" in record) == ("cpu", torch.__version__, False)
    assert machine.machine_description("cpu").endswith(" CPU cores")
    assert [float(value) >= 0 for value in machine.load_average().split(" ")] == [True] * 3


def test_cli_runs_audiodiff_in_a_child_process(capsys):
    cli = module("benchlib.cli")
    assert cli.command_line(["info", Path("x"), 3]) == [sys.executable, "-m", "audiodiff.cli.main", "info", "x", "3"]
    with pytest.raises(subprocess.CalledProcessError) as failed:
        cli.audiodiff("no-such-command", quiet=True)
    assert failed.value.returncode != 0
    assert capsys.readouterr().out == "$ audiodiff no-such-command\n"


# --- the split benchmarks -----------------------------------------------------------------------------------------
def recipe_args(**changes) -> argparse.Namespace:
    values = {"smoke": False, "clips": 32, "tracks_per_genre": 12, "steps": 200, "batch_size": 16, "guidance": 1.0}
    return argparse.Namespace(**{**values, **changes})


def test_recipe_settings_and_run_hashes_are_unchanged():
    """Finished runs are reused by their hash: the split must give the hashes the single script gave."""
    settings = module("recipe_study.settings")
    full, smoke = settings.settings_of(recipe_args()), settings.settings_of(recipe_args(smoke=True, steps=20))
    assert (full.clips_per_genre, full.data_key()) == (12, "data-64x64-12x40s-held12x20s")
    assert (smoke.model, smoke.data_key()) == ("tiny", "data-32x32-2x20s-held12x8s")
    assert [full.run_hash(recipe, 0) for recipe in ("default", "min-snr5-v", "instrument")] == RUN_HASHES
    assert smoke.run_hash("default", 1) == SMOKE_HASH


RUN_HASHES = ["25e1e0891bcd479b", "8270df8e5904a554", "dee59da8bf1e8964"]
SMOKE_HASH = "f760dedd30a154c7"


def test_recipe_results_aggregate_and_format():
    results_module = module("recipe_study.results")
    figures = module("recipe_study.figures")
    run = module("recipe_study.run")
    results = {
        ("default", 0): {"fd_fine": 2.0, "flagged": 0.25, "final_loss": 0.5},
        ("default", 1): {"fd_fine": 3.0, "flagged": None, "final_loss": 0.25},
        ("v", 0): {"fd_fine": 1.5},
    }
    table = results_module.aggregate(results, ["default", "v", "cosine"])
    assert list(table) == ["default", "v"]
    assert table["default"]["fd_fine"] == {"mean": 2.5, "std": 0.5, "per_seed": [2.0, 3.0]}
    assert table["default"]["flagged"] == {"mean": 0.25, "std": None, "per_seed": [0.25, None]}
    assert results_module.cell(table["default"]["fd_fine"]) == "2.5 (2, 3)"
    assert results_module.cell(table["default"]["flagged"], 2) == "0.25 (0.25, -)"
    assert results_module.cell(table["v"]["genre_share"]) == "-"
    assert figures.thin([1.0, 2.0, 3.0, 4.0, 5.0], 2) == [[3, 2.0], [6, 4.5]]
    assert run.clips_file(Path("r"), "") == Path("r/clips.npz")
    assert run.clips_file(Path("r"), "Real + speckle") == Path("r/clips-real-speckle.npz")


def test_recipe_child_command_runs_bench_recipes():
    parent = module("recipe_study.parent")
    args = argparse.Namespace(work=Path("/w"), device="cpu", **vars(recipe_args(smoke=True)))
    command = parent.child_command(args, "v", 1)
    assert command[:5] == [sys.executable, str(SCRIPTS.resolve() / "bench_recipes.py"), "--one", "v", "1"]
    assert command[-1] == "--smoke"


def test_distillation_budget_arithmetic():
    cost = module("distill_study.cost")
    from audiodiff.distillation import DistillConfig

    config = DistillConfig.load("tiny", method="consistency", steps=4, guidance=2.0)
    images = config.batch_size * config.gradient_accumulation_steps
    assert cost.distillation_forward_passes(config, 10) == DISTILL_PASSES_PER_STEP * 10 * images
    args = argparse.Namespace(config="tiny", steps=4, guidance=2.0, distill_batch_size=None, budget=0.3)
    assert cost.default_max_steps("consistency", args, {"forward_passes": 3 * 1000 * 16}) == DISTILL_MAX_STEPS


DISTILL_PASSES_PER_STEP = 6  # consistency, guided: the student's 3 + the guided teacher's 2 + the target network's 1
DISTILL_MAX_STEPS = 600  # 6 x 4 images x 600 <= 0.3 x 48000 < 6 x 4 x 601


def test_distill_result_line_reads_the_rows():
    report = module("distill_study.report")
    rows = {
        "teacher dpm": {"model": "teacher", "sampler": "dpm", "steps": 20, "unet_evals_per_clip": 80.0,
                        "fd_log_mel": 1.23456},
        "student 4": {"model": "consistency", "sampler": "student", "steps": 4, "unet_evals_per_clip": 4.0,
                      "fd_log_mel": 2.5, "genre_share": 0.5},
    }  # fmt: skip
    line = report.result_line(rows, {}, argparse.Namespace())
    assert line.startswith(
        "RESULT unet_evals_teacher=80 unet_evals_student=4 fd_ratio_4=2.5 fd_ratio_2=- fd_ratio_1=- "
    )
    assert " fd_ratio_teacher=1.235 " in line and line.endswith(" method=consistency")


def test_generate_images_are_the_sampling_jobs_clips_in_model_space():
    """The helper every benchmark draws through: `audiodiff.sampling.generate`'s clips, as model-space images."""
    import diffusers

    from audiodiff import sampling
    from audiodiff.codec import pixels_to_model
    from audiodiff.models import ModelPreset, build_unet
    from audiodiff.pipeline import AudioDiffusionPipeline

    generation = module("benchlib.generation")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = build_unet(ModelPreset.load("tiny"), (MEL.y_res, MEL.x_res), num_genres=2)
    pipeline = AudioDiffusionPipeline(unet=unet, scheduler=diffusers.DDIMScheduler(), mel_config=MEL, genres=["a", "b"])
    pipeline.set_progress_bar_config(disable=True)
    options = {"count": 2, "seed": 5, "steps": 2, "genre": "b", "guidance": 1.5, "batch_size": 2}
    images, clips = generation.generate_images(pipeline, **options)
    assert images.shape == (2, 1, MEL.y_res, MEL.x_res) and len(clips.audios) == 2
    expected = sampling.generate(pipeline, **options)
    assert torch.equal(images, pixels_to_model(expected.images, expected.bits).unsqueeze(1))


def test_genre_shares_score_a_set_as_evaluate_reads_it_with_each_classifier(tmp_path, monkeypatch):
    """Every classifier of the seeds sees the same windows: a folder of 2-slice PNGs cut into slice-wide windows
    re-referenced to their peaks (`comparable_windows`), as `audiodiff evaluate` cuts a generated set; a classifier
    folder whose training report names another seed is trained again, one of the right seed is kept."""
    genres = module("benchlib.genres")
    known = module("benchlib.known_sets")
    from audiodiff.classifier import ClassifierConfig, GenreClassifier
    from audiodiff.codec import load_png, pixels_to_model
    from audiodiff.evaluation.artifacts import comparable_windows

    images = torch.rand(3, 1, 32, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    folder = known.write_pngs(images, tmp_path / "set", "clip")
    config = ClassifierConfig(genres=("beats", "pads"), mel_config=MEL.to_dict(), input_size=32)
    folders = [genres.classifier_folder(tmp_path, seed) for seed in genres.CLASSIFIER_SEEDS[:2]]
    assert [path.name for path in folders] == ["classifier", "classifier-seed1"]
    for seed, path in zip(genres.CLASSIFIER_SEEDS, folders):
        GenreClassifier(config, generator=torch.Generator().manual_seed(seed)).save_pretrained(path)
        (path / "training_report.json").write_text(json.dumps({"seed": seed}))
    shares = genres.genre_shares(folder, MEL, folders, "pads", count=3)
    read = torch.stack([pixels_to_model(torch.from_numpy(load_png(png)[0].astype("int64")), 8)[None]
                        for png in sorted(folder.glob("*.png"))])  # fmt: skip
    windows = comparable_windows(read, MEL.x_res)[0]
    for path, share in zip(folders, shares):
        predicted = GenreClassifier.from_pretrained(path).predict_proba(windows).argmax(dim=-1)
        assert share == pytest.approx(float((predicted == 1).float().mean()))
    assert len(windows) == 6 and genres.spread_text([0.5, 0.25, 0.75]) == "0.50 (0.25-0.75)"
    calls = []
    monkeypatch.setattr(module("benchlib.cli"), "audiodiff", lambda *arguments, **options: calls.append(arguments))
    (folders[1] / "training_report.json").write_text(json.dumps({"seed": 12345}))  # a random seed's classifier
    assert genres.trained_classifiers(tmp_path, tmp_path / "data", seeds=(0, 1)) == folders
    assert len(calls) == 1 and calls[0][calls[0].index("--seed") + 1] == 1 and folders[1] in calls[0]
