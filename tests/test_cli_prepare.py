"""`audiodiff prepare` end to end on a tiny synthesized collection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from audiodiff.cli.main import cli
from audiodiff.config import MelConfig
from audiodiff.data import load_spectrogram_dataset
from audiodiff.synth import synthesize

MEL_OPTIONS = ["--x-res", "64", "--y-res", "64", "--sample-rate", "8000", "--n-fft", "512", "--hop-length", "128"]


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    """Two genres in sub-folders (wav 22.05 kHz stereo, flac 16 kHz mono, ogg 8 kHz) and a corrupt file."""
    folder = tmp_path_factory.mktemp("collection")
    tracks = [("beats/one.wav", 22050, 2), ("beats/two.ogg", 8000, 1), ("pads/three.flac", 16000, 1)]
    for index, (relative, rate, channels) in enumerate(tracks):
        audio = synthesize(relative.split("/")[0], 2.3, rate, seed=index)
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, np.stack([audio, audio], axis=1) if channels == 2 else audio, rate)
    (folder / "pads" / "broken.flac").write_bytes(b"fLaC" + bytes(100))
    return folder


def run(*arguments: str):
    return CliRunner().invoke(cli, ["prepare", *arguments])


def test_prepare_reports_summary_contact_sheet_and_reruns(collection, tmp_path):
    out = tmp_path / "data"
    arguments = [str(collection), "--out", str(out), *MEL_OPTIONS, "--genre-from", "folder", "--num-proc", "2"]
    result = run(*arguments, "--contact-sheet")
    assert result.exit_code == 0, result.output
    assert "files:   4 found: 3 in the dataset, 1 skipped (1 not readable as audio)" in result.output
    assert "genre:   beats: 2 files, 4 slices" in result.output
    assert "genre:   pads: 1 files, 2 slices" in result.output
    assert f"skipped: {collection / 'pads' / 'broken.flac'}: not readable as audio" in result.output
    assert "dataset:" in result.output and (out / "contact_sheet.png").is_file()
    spectrograms = load_spectrogram_dataset(out)
    assert len(spectrograms) == 6 and spectrograms.genres == ["beats", "pads"]
    assert spectrograms.mel_config == MelConfig(x_res=64, y_res=64, sample_rate=8000, n_fft=512, hop_length=128)

    again = run(*arguments)
    assert again.exit_code == 0, again.output
    assert "(3 reused from a previous run)" in again.output and "slices:  6 written" in again.output
    assert len(load_spectrogram_dataset(out)) == 6

    strict = run(*arguments, "--strict")
    assert strict.exit_code == 1


def test_shards_then_merge(collection, tmp_path):
    for index in range(2):
        result = run(str(collection), "--out", str(tmp_path / f"part{index}"), *MEL_OPTIONS, "--shard", f"{index}/2")
        assert result.exit_code == 0, result.output
        assert "shard:   " in result.output
    result = run("--merge", str(tmp_path / "part0"), str(tmp_path / "part1"), "--out", str(tmp_path / "all"))
    assert result.exit_code == 0, result.output
    merged = load_spectrogram_dataset(tmp_path / "all")
    assert len(merged) == 6 and len(set(merged.dataset["audio_file"])) == 3
    metadata = json.loads((tmp_path / "all" / "audiodiff_dataset.json").read_text())
    assert metadata["merged_from"] == [str(tmp_path / "part0"), str(tmp_path / "part1")]


def test_files_mel_config_file_16_bit_and_one_genre(collection, tmp_path):
    MelConfig(x_res=64, y_res=64, sample_rate=8000, n_fft=512, hop_length=128).save(tmp_path / "mel.json")
    result = run(
        str(collection / "beats" / "one.wav"),
        str(collection / "pads" / "three.flac"),
        "--out",
        str(tmp_path / "data"),
        "--mel-config",
        str(tmp_path / "mel.json"),
        "--x-res",
        "32",
        "--bits",
        "16",
        "--genre",
        "demo",
        "--no-keep-work",
    )
    assert result.exit_code == 0, result.output
    spectrograms = load_spectrogram_dataset(tmp_path / "data")
    assert spectrograms.bits == 16 and spectrograms.genres == ["demo"]
    assert spectrograms.mel_config.x_res == 32 and spectrograms.mel_config.hop_length == 128
    assert spectrograms.dataset[0]["image"].mode == "I;16" and spectrograms.dataset[0]["image"].size == (32, 64)
    assert not (tmp_path / "data" / ".prepare-work").exists()


@pytest.mark.parametrize(
    "arguments, code, message",
    [
        (["--genre", "a", "--genre-from", "folder"], 2, "either --genre or --genre-from"),
        (["--genre-from", "mood"], 2, "--genre-from must be"),
        (["--shard", "3/2"], 2, "--shard must be i/n"),
        (["--merge", "--x-res", "32"], 2, "--merge takes prepared datasets"),
        (["--n-fft", "64", "--hop-length", "128"], 2, "must not exceed n_fft"),
        (["--genre-from", "column:genre"], 1, "needs a dataset source"),
        (["--max-shard-size", "banana"], 2, "Invalid value for '--max-shard-size': must be a positive whole number"),
        (["--min-loudness-db", "nan"], 2, "Invalid value for '--min-loudness-db': 'nan' is not a finite number"),
        (["--num-proc", "0"], 2, "Invalid value for '--num-proc'"),
        (["--x-res", "-64"], 2, "Invalid value for '--x-res'"),
    ],
)
def test_usage_errors_are_one_line(collection, tmp_path, arguments, code, message):
    result = run(str(collection), "--out", str(tmp_path / "data"), *arguments)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def _hold(folder: Path, command: str, held, release) -> None:
    """Child process: hold `folder`'s output lock until `release`."""
    from audiodiff.utils import output_lock

    with output_lock(folder, command):
        held.set()
        release.wait(120)


def test_folder_in_use_is_one_line_and_leaves_the_folder_alone(collection, tmp_path):
    """A second writer into a folder another run holds (a prepare, a merge) is refused with one line and status 1;
    once the holder ends, the same command works."""
    import multiprocessing

    out, prepared = tmp_path / "data", tmp_path / "a"
    assert run(str(collection), *MEL_OPTIONS, "--genre", "x", "--out", str(prepared)).exit_code == 0
    context = multiprocessing.get_context("fork")
    held, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(out, "audiodiff prepare", held, release))
    holder.start()
    try:
        assert held.wait(60)
        for arguments in ([str(collection), *MEL_OPTIONS, "--genre", "x"], ["--merge", str(prepared)]):
            result = run(*arguments, "--out", str(out))
            assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
            error = [line for line in result.output.splitlines() if line.startswith("Error:")]
            assert error == [
                f"Error: {out} is in use by process {holder.pid} (audiodiff prepare): wait for it to finish or "
                "choose another output folder"
            ]
            assert "Traceback" not in result.output
        assert [path.name for path in out.iterdir()] == [".audiodiff-lock"]
    finally:
        release.set()
        holder.join(60)
    result = run("--merge", str(prepared), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert len(load_spectrogram_dataset(out)) == 6


def test_prepare_a_phone_library_of_m4a_opus_and_webm(tmp_path):
    """`audiodiff prepare` in its own process on the formats phones, shops and browsers write (made by FFmpeg),
    with a broken .m4a among them: reported in one line and skipped, the others in the dataset."""
    import subprocess
    import sys

    from conftest import encode_with_ffmpeg

    library = tmp_path / "library"
    files = [("beats/phone.m4a", "aac", 44100), ("beats/voice.opus", "opus", 48000), ("pads/web.webm", "opus", 48000)]
    for index, (relative, codec, rate) in enumerate(files):
        (library / relative).parent.mkdir(parents=True, exist_ok=True)
        encode_with_ffmpeg(library / relative, synthesize(relative.split("/")[0], 2.3, rate, seed=index), rate, codec)
    whole = (library / "beats" / "phone.m4a").read_bytes()
    (library / "pads" / "cut.m4a").write_bytes(whole[: len(whole) // 2])  # the index (moov) is at the end: lost
    out = tmp_path / "data"
    command = [sys.executable, "-m", "audiodiff.cli.main", "prepare", str(library), "--out", str(out), *MEL_OPTIONS]
    result = subprocess.run([*command, "--genre-from", "folder", "--num-proc", "2"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "files:   4 found: 3 in the dataset, 1 skipped (1 not readable as audio)" in result.stdout
    assert "genre:   beats: 2 files, 4 slices" in result.stdout and "genre:   pads: 1 files, 2 slices" in result.stdout
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 1 and skipped[0].startswith(f"skipped: {library / 'pads' / 'cut.m4a'}: not readable as")
    spectrograms = load_spectrogram_dataset(out)
    assert len(spectrograms) == 6 and sorted(set(spectrograms.dataset["source_sample_rate"])) == [44100, 48000]
    assert "Traceback" not in result.stdout + result.stderr
