"""Preparing and loading spectrogram datasets (`audiodiff.data`) on tiny synthesized collections."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from audiodiff.audio import load_audio, slice_audio
from audiodiff.codec import SpectrogramCodec, pil_to_pixels
from audiodiff.config import MelConfig
from audiodiff.data import (
    DATASET_METADATA_NAME,
    WORK_DIR_NAME,
    DatasetError,
    images_to_tensor,
    load_spectrogram_dataset,
    merge_datasets,
    prepare_dataset,
    read_metadata,
    slice_loudness_db,
)
from audiodiff.figures import contact_sheet
from audiodiff.synth import synthesize

# 64x64 images of 8191-sample (1.02 s) slices at 8 kHz: a few seconds of audio give a few rows.
MEL = MelConfig(x_res=64, y_res=64, sample_rate=8000, n_fft=512, hop_length=128)

# (relative path, genre synthesizer, source sample rate, channels, seconds): formats, rates and layouts vary.
GOOD_FILES = [
    ("arpeggios/arp_a.flac", "arpeggios", 44100, 1, 2.1),
    ("arpeggios/live/arp_b.wav", "arpeggios", 8000, 2, 3.1),
    ("beats/beats_a.wav", "beats", 16000, 1, 2.5),
    ("beats/beats_b.flac", "beats", 11025, 2, 3.3),
    ("pads/pads_a.ogg", "pads", 8000, 1, 2.2),
    ("pads/pads_b.wav", "pads", 22050, 2, 2.05),
]
BAD_FILES = {
    "pads/corrupt.wav": "not readable as audio",
    "pads/empty.flac": "empty file",
    "beats/silent.wav": "silent",
    "beats/short.wav": "too short",
    "beats/phone.m4a": "not readable as audio",  # an MP4 header and nothing else: FFmpeg's reason
    "beats/store.m4p": "unsupported format .m4p (copy-protected",
    "pads/lyrics.mp3": "not readable as audio (format not recognised",
    "beats/live.wav": "not a regular file (a FIFO",
    "pads/zero.wav": "not a regular file (a character device)",
}
# Unreadable: everything skipped but the silent and the short file.
FAILED_FILES = sorted(set(BAD_FILES) - {"beats/silent.wav", "beats/short.wav"})


def write_music(folder: Path) -> Path:
    for index, (relative, genre, rate, channels, seconds) in enumerate(GOOD_FILES):
        audio = synthesize(genre, seconds, rate, seed=index)
        if channels == 2:
            audio = np.stack([audio, 0.5 * audio[::-1]], axis=1)
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, audio, rate)
    (folder / "pads/corrupt.wav").write_bytes(b"RIFF\x00\x01\x02garbage" + bytes(range(256)))
    (folder / "pads/empty.flac").write_bytes(b"")
    soundfile.write(folder / "beats/silent.wav", np.zeros(3 * 8000, dtype=np.float32), 8000)
    soundfile.write(folder / "beats/short.wav", synthesize("beats", 0.5, 8000), 8000)
    (folder / "beats/phone.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A ")
    (folder / "beats/store.m4p").write_bytes(b"\x00\x00\x00\x18ftypM4P ")
    (folder / "pads/lyrics.mp3").write_text("a text file with the wrong name\n" * 20)
    os.mkfifo(folder / "beats/live.wav")  # reading a FIFO would wait forever for a writer
    (folder / "pads/zero.wav").symlink_to("/dev/zero")  # a device never ends
    (folder / "notes.txt").write_text("not audio, ignored\n")
    return folder


def expected_slices(path: Path) -> np.ndarray:
    """The slices the reference would cut from `path`: `(count, slice_size)`, trailing partial slice dropped."""
    return slice_audio(load_audio(path, MEL.sample_rate), MEL.slice_size, pad_short=False)


def rows_of(folder: Path) -> list[tuple]:
    """(audio_file, slice, genre name, PNG bytes) for every row, in order: compares whole datasets."""
    dataset = datasets.load_from_disk(str(folder)).cast_column("image", datasets.Image(decode=False))
    names = dataset.features["genre"].names if "genre" in dataset.features else None
    return [
        (row["audio_file"], row["slice"], names[row["genre"]] if names else None, row["image"]["bytes"])
        for row in dataset
    ]


def parts_in(folder: Path) -> list[Path]:
    return sorted((folder / WORK_DIR_NAME / "parts").glob("*/*.arrow"))


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    return write_music(tmp_path_factory.mktemp("music"))


@pytest.fixture(scope="module")
def prepared(music, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "data"
    summary = prepare_dataset([music], out, MEL, genre_from="folder", num_proc=1, progress=False)
    return out, summary


# --- preparing ------------------------------------------------------------------------------------------------------
def test_rows_labels_and_skip_reasons(music, prepared):
    out, summary = prepared
    spectrograms = load_spectrogram_dataset(out)
    dataset = spectrograms.dataset
    assert spectrograms.genres == ["arpeggios", "beats", "pads"]
    assert spectrograms.bits == 8 and spectrograms.mel_config == MEL
    assert dataset.column_names == ["image", "audio_file", "slice", "genre", "source_sample_rate", "loudness_db"]
    assert isinstance(dataset.features["genre"], datasets.ClassLabel)

    expected = []
    for relative, genre, rate, _, _ in GOOD_FILES:
        for index in range(len(expected_slices(music / relative))):
            expected.append((os.path.join(str(music), relative), index, genre, rate))
    got = [
        (row["audio_file"], row["slice"], spectrograms.genres[row["genre"]], row["source_sample_rate"])
        for row in dataset.remove_columns("image")
    ]
    assert got == expected
    assert all(row["image"].size == (64, 64) and row["image"].mode == "L" for row in dataset)

    reasons = {Path(name).relative_to(music).as_posix(): reason for name, reason in summary.skipped}
    assert set(reasons) == set(BAD_FILES)
    for relative, start in BAD_FILES.items():
        assert reasons[relative].startswith(start), reasons[relative]
    assert summary.files_found == len(GOOD_FILES) + len(BAD_FILES)
    assert summary.files_read == len(GOOD_FILES) + 2  # the silent and the short file decode fine
    assert summary.slices_written == len(dataset) == len(expected)
    assert summary.genres["beats"] == {"files": 2, "slices": sum(1 for row in expected if row[2] == "beats")}
    assert summary.seconds_in_dataset == pytest.approx(len(expected) * MEL.slice_seconds)
    assert summary.seconds_read > summary.seconds_in_dataset  # trailing partial slices were dropped
    assert {name for name, _ in summary.failed} == {os.path.join(str(music), name) for name in FAILED_FILES}

    metadata = json.loads((out / DATASET_METADATA_NAME).read_text())
    assert metadata["bits"] == 8 and metadata["genres"] == spectrograms.genres
    assert metadata["summary"]["slices_written"] == len(dataset)
    assert MelConfig.load(out) == MEL
    text = "\n".join(summary.lines())
    assert "2 beats" not in text and "genre:   beats: 2 files" in text and "pads/corrupt.wav" in text


def test_images_are_exactly_the_codec_pixels(music, prepared):
    out, _ = prepared
    dataset = load_spectrogram_dataset(out).dataset
    codec = SpectrogramCodec(MEL)
    pixels_by_file = {}
    for row in dataset:
        if row["audio_file"] not in pixels_by_file:
            slices = torch.from_numpy(expected_slices(Path(row["audio_file"])))
            pixels_by_file[row["audio_file"]] = codec.audio_to_pixels(slices, 8).numpy()
        pixels, bits = pil_to_pixels(row["image"])
        assert bits == 8
        np.testing.assert_array_equal(pixels, pixels_by_file[row["audio_file"]][row["slice"]])
        slice_audio_ = expected_slices(Path(row["audio_file"]))[row["slice"] : row["slice"] + 1]
        assert row["loudness_db"] == pytest.approx(float(slice_loudness_db(slice_audio_)[0]), abs=1e-4)


def test_prepares_m4a_opus_and_webm_files(tmp_path):
    """The formats phones, shops and browsers write, made by FFmpeg, become rows exactly as their decoded audio
    encodes; their source rate comes from the container."""
    from conftest import encode_with_ffmpeg

    folder = tmp_path / "library"
    files = [("beats/phone.m4a", "aac", 44100), ("pads/voice.opus", "opus", 48000), ("pads/web.webm", "opus", 48000)]
    for index, (relative, codec, rate) in enumerate(files):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        encode_with_ffmpeg(folder / relative, synthesize(relative.split("/")[0], 2.3, rate, seed=index), rate, codec)
    out = tmp_path / "data"
    summary = prepare_dataset([folder], out, MEL, genre_from="folder", num_proc=1, progress=False)
    assert summary.skipped == [] and summary.files_read == 3
    spectrograms = load_spectrogram_dataset(out)
    assert spectrograms.genres == ["beats", "pads"]
    codec = SpectrogramCodec(MEL)
    expected = []
    for relative, _, rate in files:
        path = folder / relative
        pixels = codec.audio_to_pixels(torch.from_numpy(expected_slices(path)), 8).numpy()
        expected += [(str(path), index, rate, image) for index, image in enumerate(pixels)]
    assert len(spectrograms) == len(expected) == 6  # 2.3 s at 8 kHz: two 1.02 s slices per file
    for row, (name, index, rate, pixels) in zip(spectrograms.dataset, expected):
        assert (row["audio_file"], row["slice"], row["source_sample_rate"]) == (name, index, rate)
        np.testing.assert_array_equal(pil_to_pixels(row["image"])[0], pixels)


def test_memory_of_a_long_track_is_its_mono_output_plus_a_bounded_working_set(tmp_path):
    """Reading holds the mono output plus one block; encoding adds one batch, never a copy of the track: squaring
    the whole track in float64 for the loudness used to add twice its size (a 3-hour file peaked at 3.3 GB per
    worker). Numpy's buffers are traced by tracemalloc, so the peaks are exact and independent of timing; torch's
    STFT buffers are not traced, and are bounded by `EncodeSettings.batch_size` slices."""
    import tracemalloc

    from audiodiff.data.encoding import EncodeSettings, encode_track, encoder_codec

    path, rate, minutes = tmp_path / "long.wav", 16000, 6
    generator = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", rate, 2, "PCM_16") as file:
        for _ in range(minutes * 6):  # 10-second blocks of stereo noise over a tone
            time_axis = np.arange(10 * rate) / rate
            tone = 0.3 * np.sin(2 * np.pi * 440 * time_axis)[:, None]
            file.write((tone + 0.05 * generator.standard_normal((10 * rate, 2))).astype(np.float32))
    mono_bytes = minutes * 60 * MEL.sample_rate * 4  # float32 at the codec rate: 11.0 MB
    megabyte = 2**20
    codec, settings = encoder_codec(MEL), EncodeSettings(mel_config=MEL)
    encode_track(synthesize("beats", 3.0, MEL.sample_rate), codec, settings)  # one-time costs: filterbank, imports

    tracemalloc.start()
    try:
        audio = load_audio(path, MEL.sample_rate)
        _, load_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        before_encoding, _ = tracemalloc.get_traced_memory()
        rows = encode_track(audio, codec, settings)
        _, encode_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert abs(audio.nbytes - mono_bytes) < 0.01 * mono_bytes and rows["total"] == len(audio) // MEL.slice_size
    block_bytes = (1 << 18) * 2 * 4  # one block of stereo float32 frames (audio._BLOCK_FRAMES): 2 MB
    # The output, the block buffer, its mono mix and its resampled piece (measured: 15.2 MB).
    assert load_peak < mono_bytes + 3 * block_bytes, f"reading peaked at {load_peak / megabyte:.1f} MB"
    added = encode_peak - before_encoding
    # One batch's loudness in float64 and the kept PNG bytes (measured: 1.9 MB; a float64 copy of the track was 22 MB).
    assert added < 0.2 * mono_bytes + 2 * megabyte, f"encoding added {added / megabyte:.1f} MB to the track"


def test_rerun_reuses_everything_and_adds_nothing(music, prepared):
    out, first = prepared
    before, parts = rows_of(out), parts_in(out)
    reused = []
    summary = prepare_dataset(
        [music],
        out,
        MEL,
        genre_from="folder",
        num_proc=1,
        progress=False,
        on_track=lambda i, r, was: reused.append(was),
    )
    assert rows_of(out) == before and parts_in(out) == parts
    assert summary.files_reused == first.files_read == sum(reused)
    assert summary.slices_written == first.slices_written
    assert len(list(out.glob("data-*.arrow"))) >= 1 and not list(out.glob("*.tmp*"))


def test_parallel_run_equals_serial_run(music, prepared, tmp_path):
    out, _ = prepared
    prepare_dataset([music], tmp_path / "parallel", MEL, genre_from="folder", num_proc=2, progress=False)
    assert rows_of(tmp_path / "parallel") == rows_of(out)


def _killed_run(music: Path, out: Path, after: int) -> None:
    """Child process: prepare serially and die by SIGKILL (no cleanup at all) after `after` finished tracks."""
    # A forked child must not start OpenMP threads the parent already used (libgomp deadlocks), as in our workers.
    torch.set_num_threads(1)
    finished = []

    def on_track(item, record, reused):
        if record["status"] != "failed":  # a track that wrote its part
            finished.append(item)
        if len(finished) == after:
            os.kill(os.getpid(), signal.SIGKILL)

    prepare_dataset([music], out, MEL, genre_from="folder", num_proc=1, progress=False, on_track=on_track)


def test_resume_after_a_killed_run(music, prepared, tmp_path):
    out = tmp_path / "data"
    child = multiprocessing.get_context("fork").Process(target=_killed_run, args=(music, out, 3))
    child.start()
    child.join(60)
    if child.exitcode is None:
        child.kill()
        child.join()
    assert child.exitcode == -signal.SIGKILL
    assert not (out / "state.json").exists() and len(parts_in(out)) == 3
    # A temp file of a part being written when the kill came must not count as finished.
    (parts_in(out)[0].parent / "deadbeef.arrow.tmp-1").write_bytes(b"partial")
    events = []
    prepare_dataset(
        [music],
        out,
        MEL,
        genre_from="folder",
        num_proc=1,
        progress=False,
        on_track=lambda i, r, was: events.append(was),
    )
    assert sum(events) == 3  # the three finished tracks were not redone
    assert rows_of(out) == rows_of(prepared[0])
    assert not list((out / WORK_DIR_NAME).rglob("*.tmp-*"))


def test_interrupted_parallel_run_keeps_finished_tracks(music, tmp_path):
    out = tmp_path / "data"
    count = []

    def interrupt(item, record, reused):
        count.append(item)
        if len(count) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_dataset([music], out, MEL, genre_from="folder", num_proc=2, progress=False, on_track=interrupt)
    kept = len(parts_in(out))
    assert kept >= 1 and not (out / "state.json").exists()
    summary = prepare_dataset([music], out, MEL, genre_from="folder", num_proc=1, progress=False)
    assert summary.files_reused == kept


def test_changed_file_is_redone_and_removed_file_dropped(tmp_path):
    folder = tmp_path / "music"
    for index, genre in enumerate(("beats", "pads", "beats")):
        path = folder / genre / f"{genre}_{index}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, synthesize(genre, 2.2, 8000, seed=index), 8000)
    out = tmp_path / "data"
    prepare_dataset([folder], out, MEL, genre="music", num_proc=1, progress=False)
    soundfile.write(folder / "beats/beats_0.wav", synthesize("beats", 3.2, 8000, seed=9), 8000)
    (folder / "beats/beats_2.wav").unlink()
    summary = prepare_dataset([folder], out, MEL, genre="music", num_proc=1, progress=False)
    assert summary.files_reused == 1 and summary.files_read == 2
    spectrograms = load_spectrogram_dataset(out)
    assert spectrograms.genres == ["music"]
    assert sorted(set(spectrograms.dataset["audio_file"])) == [
        str(folder / "beats/beats_0.wav"),
        str(folder / "pads/pads_1.wav"),
    ]
    assert spectrograms.dataset["slice"][:3] == [0, 1, 2]  # the longer, rewritten file gives 3 slices
    assert len(parts_in(out)) == 2  # the removed file's part was pruned


def test_shards_partition_the_items_and_merge_back(music, prepared, tmp_path):
    for index in range(2):
        prepare_dataset(
            [music], tmp_path / f"shard{index}", MEL, genre_from="folder", num_proc=1, progress=False, shard=(index, 2)
        )
    shard_rows = [rows_of(tmp_path / f"shard{index}") for index in range(2)]
    assert shard_rows[0] and shard_rows[1]
    assert not {row[0] for row in shard_rows[0]} & {row[0] for row in shard_rows[1]}
    # Overlapping inputs (shard 0 twice) add nothing twice.
    summary = merge_datasets([tmp_path / "shard0", tmp_path / "shard1", tmp_path / "shard0"], tmp_path / "merged")
    merged = rows_of(tmp_path / "merged")
    assert sorted(merged) == sorted(rows_of(prepared[0]))
    assert summary.slices_written == len(merged)
    assert load_spectrogram_dataset(tmp_path / "merged").genres == ["arpeggios", "beats", "pads"]


def test_16_bit_images_match_the_codec(music, tmp_path):
    source = music / "beats/beats_a.wav"
    prepare_dataset([source], tmp_path / "data", MEL, bits=16, num_proc=1, progress=False)
    spectrograms = load_spectrogram_dataset(tmp_path / "data")
    assert spectrograms.bits == 16 and spectrograms.genres is None
    assert "genre" not in spectrograms.dataset.column_names
    codec = SpectrogramCodec(MEL)
    slices = torch.from_numpy(expected_slices(source))
    images = [row["image"] for row in spectrograms.dataset]
    assert all(image.mode == "I;16" for image in images) and len(images) == len(slices)
    stored = np.stack([pil_to_pixels(image)[0] for image in images])
    np.testing.assert_array_equal(stored, codec.audio_to_pixels(slices, 16).numpy())
    torch.testing.assert_close(spectrograms.to_tensor(images), codec.encode(slices, bits=16), rtol=0, atol=1e-6)


def test_file_list_pad_short_and_loudness_threshold(music, tmp_path):
    listing = tmp_path / "files.txt"
    relative = os.path.relpath(music, tmp_path)
    lines = ["# my picks", f"{relative}/beats/short.wav", f"{relative}/pads/pads_a.ogg", "", f"{music}/pads/pads_a.ogg"]
    listing.write_text("\n".join(lines) + "\n")
    summary = prepare_dataset(
        [listing], tmp_path / "data", MEL, genre_from="folder", pad_short=True, num_proc=1, progress=False
    )
    spectrograms = load_spectrogram_dataset(tmp_path / "data")
    files = spectrograms.dataset["audio_file"]
    assert summary.files_found == 2 and files.count(str(tmp_path / relative / "beats/short.wav")) == 1
    assert spectrograms.genres == ["beats", "pads"]  # the parent folder names
    # A threshold above every slice's level leaves nothing: a one-line error, and no dataset written.
    with pytest.raises(DatasetError, match="no slices to write"):
        prepare_dataset([music / "pads/pads_a.ogg"], tmp_path / "loud", MEL, min_loudness_db=0.0, progress=False)
    assert not (tmp_path / "loud" / "state.json").exists()


def test_source_errors_are_one_line(music, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    cases = [
        (dict(sources=[music], out_dir=foreign), "not an audiodiff dataset folder"),
        (dict(sources=[tmp_path / "nothing.wav"], out_dir=tmp_path / "a"), "no such file or folder"),
        (dict(sources=[music], out_dir=tmp_path / "b", genre_from="column:genre"), "needs a dataset source"),
        (dict(sources=[music], out_dir=tmp_path / "c", genre_from="mood"), "--genre-from must be"),
        (dict(sources=[music], out_dir=tmp_path / "d", shard="2/2"), "--shard must be"),
        (dict(sources=[music / "notes.txt"], out_dir=tmp_path / "e"), "no slices to write"),
    ]
    for kwargs, message in cases:
        with pytest.raises(DatasetError, match=message) as error:
            prepare_dataset(mel_config=MEL, progress=False, num_proc=1, **kwargs)
        assert "\n" not in str(error.value)


# --- walking folders and holding the output folder -------------------------------------------------------------
def _walk_and_prepare(root: Path, out: Path) -> None:
    """Child process: list `root` for `prepare` and for the vocoder's data, prepare it; results into out/walk.json."""
    import json

    from audiodiff.data.sources import list_sources
    from audiodiff.vocoder_training.data import source_files

    torch.set_num_threads(1)
    listed = [item.path for item in list_sources([root], genre_from="folder").items]
    vocoder_files = source_files([str(root)])[0]
    summary = prepare_dataset([root], out, MEL, genre_from="folder", num_proc=1, progress=False)
    result = {"listed": listed, "vocoder": vocoder_files, "found": summary.files_found}
    (out / "walk.json").write_text(json.dumps(result))


def test_symlink_loops_are_walked_once(tmp_path):
    """A link to an ancestor or to a folder already seen is not entered again (the walk used to never end, its list
    growing until memory ran out); a file reached by several paths counts once; `prepare` and the vocoder's data
    (`train-vocoder --data`) share the walk. Run in a child process with a deadline: a regression fails, not hangs."""
    import json

    root = tmp_path / "L"
    (root / "g1").mkdir(parents=True)
    soundfile.write(root / "g1" / "song.wav", synthesize("beats", 2.2, 8000, seed=1), 8000)
    soundfile.write(root / "g1" / "other.wav", synthesize("pads", 2.2, 8000, seed=2), 8000)
    (root / "g1" / "up").symlink_to("..")  # the loop of the report
    (root / "g1" / "self").symlink_to("../g1")
    (root / "g2").symlink_to("g1")  # the same folder under a second name
    os.link(root / "g1" / "song.wav", root / "g1" / "song_copy.wav")  # the same file under a second name
    out = tmp_path / "out"
    child = multiprocessing.get_context("fork").Process(target=_walk_and_prepare, args=(root, out))
    child.start()
    child.join(60)
    if child.exitcode is None:
        child.kill()
        child.join()
        pytest.fail("walking a folder with a symlink loop did not end within 60 s")
    assert child.exitcode == 0
    result = json.loads((out / "walk.json").read_text())
    expected = [str(root / "g1" / "other.wav"), str(root / "g1" / "song.wav")]
    assert sorted(result["listed"]) == expected and len(result["listed"]) == 2
    assert sorted(result["vocoder"]) == expected
    assert result["found"] == 2


def _hold_while_preparing(sources: list, out: Path, started, proceed) -> None:
    """Child process: prepare `sources` into `out` (genre "first"), stopping after its first track until `proceed`."""
    torch.set_num_threads(1)

    def on_track(item, record, reused):
        started.set()
        proceed.wait(120)

    prepare_dataset(sources, out, MEL, genre="first", num_proc=1, progress=False, on_track=on_track)


def test_second_writer_is_refused_and_the_first_dataset_is_whole(music, tmp_path):
    """Two runs into one folder at once used to mix one run's rows with the other's labels and summary; the second
    is now refused (the Python API too) while the first finishes untouched."""
    from audiodiff.utils import FolderInUseError

    first_sources = [music / "beats/beats_a.wav", music / "pads/pads_a.ogg"]
    out = tmp_path / "shared"
    context = multiprocessing.get_context("fork")
    started, proceed = context.Event(), context.Event()
    child = context.Process(target=_hold_while_preparing, args=(first_sources, out, started, proceed))
    child.start()
    try:
        assert started.wait(120), "the first run did not start"
        with pytest.raises(FolderInUseError) as refused:
            prepare_dataset([music / "arpeggios"], out, MEL, genre="second", num_proc=1, progress=False)
        message = str(refused.value)
        assert "\n" not in message and f"process {child.pid} (audiodiff prepare)" in message and str(out) in message
    finally:
        proceed.set()
        child.join(120)
    assert child.exitcode == 0
    prepare_dataset(first_sources, tmp_path / "alone", MEL, genre="first", num_proc=1, progress=False)
    assert rows_of(out) == rows_of(tmp_path / "alone")
    assert read_metadata(out)["summary"]["genres"] == {"first": {"files": 2, "slices": len(rows_of(out))}}


def test_lock_file_breaks_no_folder_check(music, prepared, tmp_path):
    """The lock file stays in the folder after every run: a folder holding only it counts as empty, a dataset
    folder holding it still loads, resumes and merges."""
    from audiodiff.utils import LOCK_NAME

    out, _ = prepared
    assert (out / LOCK_NAME).is_file() and len(load_spectrogram_dataset(out)) == len(rows_of(out))
    only_lock = tmp_path / "only-lock"
    only_lock.mkdir()
    (only_lock / LOCK_NAME).write_text("process 1 (audiodiff prepare)")
    track = [music / "beats/beats_a.wav"]
    prepare_dataset(track, only_lock, MEL, genre_from="folder", num_proc=1, progress=False)
    again = prepare_dataset(track, only_lock, MEL, genre_from="folder", num_proc=1, progress=False)
    assert again.files_reused == 1
    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / LOCK_NAME).write_text("")
    merge_datasets([out, only_lock], merged)
    assert rows_of(merged) == rows_of(out)  # only_lock's rows are out's first beats rows: taken once


def _killed_parallel_run(music: Path, out: Path, workers_file: Path) -> None:
    """Child process: prepare with two workers, note their pids in `workers_file`, die by SIGKILL after the first
    track a worker finished."""
    import glob

    torch.set_num_threads(1)

    def on_track(item, record, reused):
        if record["status"] == "failed":  # files known unusable are reported before the workers start
            return
        children = " ".join(Path(path).read_text() for path in glob.glob(f"/proc/{os.getpid()}/task/*/children"))
        workers_file.write_text(children)
        os.kill(os.getpid(), signal.SIGKILL)

    prepare_dataset([music], out, MEL, genre_from="folder", num_proc=2, progress=False, on_track=on_track)


def _alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"), reason="needs Linux /proc")
def test_killed_parallel_run_leaves_no_workers_and_its_folder_free(music, prepared, tmp_path):
    """Workers end with the run that started them: after a SIGKILL they used to wait forever on their task queue,
    holding their memory and the folder's lock (inherited by fork), so the run could never be resumed."""
    from audiodiff.utils import FolderInUseError, output_lock

    out, workers_file = tmp_path / "data", tmp_path / "workers.txt"
    child = multiprocessing.get_context("fork").Process(target=_killed_parallel_run, args=(music, out, workers_file))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    workers = [int(pid) for pid in workers_file.read_text().split()]
    assert len(workers) == 2
    # The kernel kills the workers as their parent ends; allow it a moment.
    for _ in range(200):
        if not any(map(_alive, workers)):
            break
        time.sleep(0.05)
    try:
        assert not any(map(_alive, workers)), "the workers of a killed run outlived it"
    finally:
        for pid in filter(_alive, workers):
            os.kill(pid, signal.SIGKILL)
    try:
        with output_lock(out, "test"):
            pass
    except FolderInUseError as error:
        pytest.fail(str(error))
    prepare_dataset([music], out, MEL, genre_from="folder", num_proc=1, progress=False)
    assert rows_of(out) == rows_of(prepared[0])


# --- dataset sources ------------------------------------------------------------------------------------------------
def audio_dataset(music: Path) -> datasets.Dataset:
    """An audio dataset as found on the hub: bytes (and a path) per row, a ClassLabel genre column."""
    rows = {"audio": [], "genre": [], "title": []}
    for relative, genre, *_ in GOOD_FILES[:4]:
        rows["audio"].append({"bytes": (music / relative).read_bytes(), "path": Path(relative).name})
        rows["genre"].append(genre)
        rows["title"].append(relative)
    rows["audio"].append({"bytes": b"not audio at all", "path": "broken.mp3"})
    rows["genre"].append("pads")
    rows["title"].append("broken")
    features = datasets.Features(
        {
            "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
            "genre": datasets.ClassLabel(names=["pads", "beats", "arpeggios"]),
            "title": datasets.Value("string"),
        }
    )
    # Audio(decode=True) needs torchcodec to encode: build plain structs, then declare the column as Audio.
    return datasets.Dataset.from_dict(rows, features=features).cast_column("audio", datasets.Audio())


def test_save_to_disk_audio_dataset_with_genre_column(music, tmp_path):
    source = tmp_path / "hub_like"
    audio_dataset(music).save_to_disk(str(source))
    summary = prepare_dataset([source], tmp_path / "data", MEL, genre_from="column:genre", progress=False)
    spectrograms = load_spectrogram_dataset(tmp_path / "data")
    # Label names come from the rows before reading them: pads stays a label though its only row is broken.
    assert spectrograms.genres == ["arpeggios", "beats", "pads"]
    assert summary.skipped == [("broken.mp3", summary.skipped[0][1])]
    assert summary.skipped[0][1].startswith("not readable as audio")
    by_file = {}
    for row in spectrograms.dataset:
        by_file.setdefault(row["audio_file"], set()).add(spectrograms.genres[row["genre"]])
    assert by_file == {
        "arp_a.flac": {"arpeggios"},
        "arp_b.wav": {"arpeggios"},
        "beats_a.wav": {"beats"},
        "beats_b.flac": {"beats"},
    }
    # Rows give exactly the rows of the same files prepared from disk.
    files = prepare_dataset([music / GOOD_FILES[2][0]], tmp_path / "file", MEL, progress=False)
    images = [row[3] for row in rows_of(tmp_path / "data") if row[0] == "beats_a.wav"]
    assert images == [row[3] for row in rows_of(tmp_path / "file")] and files.slices_written == len(images)
    # Re-running reuses rows by dataset fingerprint + row.
    assert (
        prepare_dataset([source], tmp_path / "data", MEL, genre_from="column:genre", progress=False).files_reused == 4
    )


def test_data_files_folder_goes_through_load_dataset(music, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = tmp_path / "parquet"
    source.mkdir()
    dataset = audio_dataset(music).select(range(2))
    dataset.to_parquet(str(source / "train-00000-of-00001.parquet"))
    prepare_dataset([source], tmp_path / "data", MEL, genre_from="column:title", progress=False)
    spectrograms = load_spectrogram_dataset(tmp_path / "data")
    assert spectrograms.genres == sorted(relative for relative, *_ in GOOD_FILES[:2])
    assert len(spectrograms) == sum(len(expected_slices(music / relative)) for relative, *_ in GOOD_FILES[:2])


# --- loading --------------------------------------------------------------------------------------------------------
def reference_dataset(folder: Path, size=(48, 32), rows=3) -> Path:
    """A dataset as audio-diffusion's audio_to_images.py writes it: DatasetDict 'train', image/audio_file/slice."""
    images = []
    for index in range(rows):
        pixels = (np.arange(size[0] * size[1]).reshape(size[1], size[0]) * (index + 1)) % 256
        with io.BytesIO() as buffer:
            Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
            images.append({"bytes": buffer.getvalue(), "path": None})
    features = datasets.Features(
        {"image": datasets.Image(), "audio_file": datasets.Value("string"), "slice": datasets.Value("int16")}
    )
    data = {"image": images, "audio_file": ["song.mp3"] * (rows - 1) + ["other.mp3"], "slice": list(range(rows))}
    dataset = datasets.Dataset.from_dict(data, features=features)
    datasets.DatasetDict({"train": dataset}).save_to_disk(str(folder))
    return folder


def test_reference_format_dataset_loads(tmp_path, caplog):
    folder = reference_dataset(tmp_path / "reference")
    with caplog.at_level(logging.WARNING, logger="audiodiff.data"):
        spectrograms = load_spectrogram_dataset(folder)
    assert "no mel_config.json" in caplog.text
    assert spectrograms.mel_config == MelConfig(x_res=48, y_res=32)
    assert spectrograms.bits == 8 and spectrograms.genres is None and spectrograms.source == str(folder)
    assert spectrograms.rows_by_track() == {"song.mp3": [0, 1], "other.mp3": [2]}
    batch = spectrograms.to_tensor(spectrograms.dataset[:3]["image"])
    assert batch.shape == (3, 1, 32, 48) and batch.dtype == torch.float32
    pixels = pil_to_pixels(spectrograms.dataset[1]["image"])[0]
    torch.testing.assert_close(batch[1, 0], torch.from_numpy(pixels / 255 * 2 - 1).float())
    with pytest.raises(DatasetError, match="no split 'test'"):
        load_spectrogram_dataset(folder, split="test")


def test_loader_errors(tmp_path, prepared):
    no_image = tmp_path / "no_image"
    datasets.Dataset.from_dict({"audio_file": ["a"], "slice": [0]}).save_to_disk(str(no_image))
    with pytest.raises(DatasetError, match="no 'image' column"):
        load_spectrogram_dataset(no_image)
    empty = tmp_path / "empty"
    features = datasets.Features({"image": datasets.Image(), "audio_file": datasets.Value("string")})
    # One (empty) shard: datasets cannot reload a zero-shard save.
    datasets.Dataset.from_dict({"image": [], "audio_file": []}, features=features).save_to_disk(
        str(empty), num_shards=1
    )
    with pytest.raises(DatasetError, match="empty"):
        load_spectrogram_dataset(empty)
    mismatched = reference_dataset(tmp_path / "mismatched", size=(64, 64))
    MelConfig(x_res=32, y_res=64).save(mismatched)
    with pytest.raises(DatasetError, match="images are 64x64 but mel_config.json says x_res=32"):
        load_spectrogram_dataset(mismatched)
    spectrograms = load_spectrogram_dataset(prepared[0])
    with pytest.raises(DatasetError, match="unknown genre 'jazz'.*arpeggios, beats, pads"):
        spectrograms.genre_id("jazz")
    pads = spectrograms.select_genres(["pads"])
    assert len(pads) and set(pads.dataset["genre"]) == {spectrograms.genre_id("pads")}
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_spectrogram_dataset(tmp_path / "missing")


def test_images_to_tensor_is_the_codec_mapping():
    codec = SpectrogramCodec(MEL)
    pixels = torch.randint(0, 256, (2, 64, 64))
    images = [Image.fromarray(item.numpy().astype(np.uint8)) for item in pixels]
    torch.testing.assert_close(images_to_tensor(images, 8), codec.pixels_to_images(pixels, 8), rtol=0, atol=0)
    wide = Image.fromarray(np.zeros((64, 64), dtype=np.uint16))
    with pytest.raises(ValueError, match="16-bit"):
        images_to_tensor([wide], 8)
    with pytest.raises(ValueError, match="different sizes"):
        images_to_tensor([images[0], Image.new("L", (32, 64))], 8)


def test_contact_sheet_shows_each_genres_slices_in_its_row_low_bands_at_the_bottom():
    from audiodiff.data import SpectrogramDataset

    # Genre k's slices are grey level 60 (k + 1) with a bright lowest mel band (stored row 0).
    genres, rows = ["beats", "pads", "arpeggios"], {"image": [], "genre": [], "audio_file": [], "slice": []}
    for label in range(3):
        for index in range(4):
            pixels = np.full((32, 32), 60 * (label + 1), dtype=np.uint8)
            pixels[0] = 255
            rows["image"].append(Image.fromarray(pixels))
            rows["genre"].append(label)
            rows["audio_file"].append(f"{genres[label]}.wav")
            rows["slice"].append(index)
    features = datasets.Features(
        {"image": datasets.Image(), "genre": datasets.ClassLabel(names=genres), "audio_file": datasets.Value("string"),
         "slice": datasets.Value("int32")}
    )  # fmt: skip
    data = SpectrogramDataset(datasets.Dataset.from_dict(rows, features=features), MelConfig(32, 32), genres, 8, "-")
    sheet = np.asarray(contact_sheet(data, per_genre=2, cell=32))
    header, caption, gap = 110, 14, 6
    for label in range(3):
        top = gap + label * (32 + caption + gap)
        for column in range(2):
            left = header + column * (32 + gap)
            cell = sheet[top : top + 32, left : left + 32]
            assert (cell[:-1] == 60 * (label + 1)).all(), (label, column)  # this genre's slices, in its row
            assert (cell[-1] == 255).all()  # the lowest band at the bottom
