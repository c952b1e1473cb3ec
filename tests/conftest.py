"""Shared fixtures: small mel settings and synthesized audio (tests never download anything)."""

from __future__ import annotations

import os

# `make test` runs two test processes (pytest-xdist) on the two cores: one thread each, and their children too (a
# process per core beats two threads per process on these tiny models, whose steps are mostly Python overhead).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"

import numpy as np
import pytest
import torch

from audiodiff.config import MelConfig
from audiodiff.synth import synthesize

torch.set_num_threads(min(2, torch.get_num_threads()))

# The mel settings of the `dataset_dir` fixture (tests/test_training.py calls them MEL).
GENRE_DATASET_MEL = MelConfig(x_res=32, y_res=32, sample_rate=8000, n_fft=256, hop_length=64, n_iter=4)


@pytest.fixture
def small_mel() -> MelConfig:
    """64x64 images at 16 kHz: slices of 8191 samples, fast enough for many tests."""
    return MelConfig(x_res=64, y_res=64, sample_rate=16000, n_fft=512, hop_length=128, top_db=80, n_iter=16)


@pytest.fixture(scope="session")
def music() -> dict[str, np.ndarray]:
    """12 s of each synthesized genre at 22050 Hz (two reference slices each)."""
    return {genre: synthesize(genre, 12.0, 22050, seed=3) for genre in ("beats", "pads", "arpeggios")}


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory):
    """Three synthesized genres, two tracks each, as a reference-format dataset plus genre labels, at
    `GENRE_DATASET_MEL` (32x32)."""
    import datasets
    import numpy as np

    from audiodiff.audio import slice_audio
    from audiodiff.codec import SpectrogramCodec, pixels_to_pil
    from audiodiff.synth import GENRES, synthesize

    folder = tmp_path_factory.mktemp("data")
    codec = SpectrogramCodec(GENRE_DATASET_MEL)
    rows = {"image": [], "audio_file": [], "slice": [], "genre": []}
    for label, genre in enumerate(GENRES):
        for track in range(2):
            slices = slice_audio(
                synthesize(genre, 2.0, GENRE_DATASET_MEL.sample_rate, seed=track), GENRE_DATASET_MEL.slice_size
            )
            for index, pixels in enumerate(codec.audio_to_pixels(torch.from_numpy(slices)).numpy()):
                rows["image"].append(pixels_to_pil(pixels.astype(np.uint8)))
                rows["audio_file"].append(f"{genre}/{genre}_{track}.wav")
                rows["slice"].append(index)
                rows["genre"].append(label)
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "audio_file": datasets.Value("string"),
            "slice": datasets.Value("int64"),
            "genre": datasets.ClassLabel(names=list(GENRES)),
        }
    )
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(folder))
    GENRE_DATASET_MEL.save(folder)
    return folder


@pytest.fixture(scope="session")
def data(dataset_dir):
    from audiodiff.data import load_spectrogram_dataset

    return load_spectrogram_dataset(dataset_dir)


def killed_resumed_and_straight(command: list[str], options: list[str], steps: int, tmp_path) -> tuple:
    """Run the CLI `command + options` (a training-loop command with `--max-steps steps`), SIGKILL it after its first
    checkpoint, resume it with `--resume`, and run it again uninterrupted: returns the two run folders
    `(resumed, straight)` for the caller to compare."""
    import os
    import signal
    import subprocess
    import time

    from audiodiff.checkpoints import checkpoint_dirs

    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, *options, "--out", str(killed)], stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not checkpoint_dirs(killed):
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    reached = int(checkpoint_dirs(killed)[-1].name[5:])
    assert reached < steps and not (killed / "model_index.json").exists()
    result = subprocess.run([*command, "--out", str(killed), "--resume"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"resuming {killed} at step {reached}" in result.stdout
    straight = tmp_path / "straight"
    result = subprocess.run([*command, *options, "--out", str(straight)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return killed, straight


class _Stop(Exception):
    pass


def stopped_after_first_checkpoint_then_resumed(config, data, folder):
    """Train `config` into `folder`, stop the run right after its first checkpoint (in-process, as a crash would),
    resume it with `Trainer.resume` and return the resumed run's `TrainResult`."""
    from audiodiff.training import Trainer

    class Stopping(Trainer):
        def save_checkpoint(self):
            super().save_checkpoint()
            raise _Stop

    with pytest.raises(_Stop):
        Stopping.start(config, data, folder, progress=False).run()
    return Trainer.resume(folder, progress=False).run()


# Encoders of the formats only FFmpeg reads, as music libraries hold them: AAC in .m4a (shops, phones), ALAC in
# .m4a (Apple Lossless), Opus in Ogg and in WebM (downloads, browsers' recordings).
_FFMPEG_CODECS = {"aac": "aac", "alac": "alac", "opus": "libopus"}


def encode_with_ffmpeg(path, audio, sample_rate: int, codec: str = "aac", faststart: bool = False):
    """Write `(time,)` or `(time, channels)` float audio to `path` (the extension picks the container) with FFmpeg:
    Debian's `ffmpeg` program where it is installed (files made by another FFmpeg build than the one audiodiff reads
    them with), else PyAV's encoders (the FFmpeg libraries inside its wheel); the test is skipped when neither is
    there. `faststart` puts an MP4's index (moov) before the audio, as streaming services do."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    import soundfile

    audio = np.asarray(audio, dtype=np.float32)
    encoder = _FFMPEG_CODECS[codec]
    program = shutil.which("ffmpeg")
    if program is not None:
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / "source.wav"
            soundfile.write(source, audio, sample_rate, subtype="PCM_24" if codec == "alac" else "FLOAT")
            command = [program, "-nostdin", "-v", "error", "-y", "-i", str(source), "-c:a", encoder]
            if faststart:
                command += ["-movflags", "+faststart"]
            if codec == "alac":
                command += ["-sample_fmt", "s32p"]
            subprocess.run([*command, str(path)], check=True, capture_output=True)
        return path
    try:
        import av
    except ImportError:
        pytest.skip("neither Debian's ffmpeg nor PyAV (FFmpeg's libraries) is installed to make the test files")
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    planar = audio.reshape(len(audio), channels).T.copy()
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(encoder, rate=sample_rate if codec != "opus" else 48000)
        stream.layout = "mono" if channels == 1 else "stereo"
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=stream.layout.name)
        frame.sample_rate = sample_rate
        # PyAV converts the frame to the encoder's sample format, rate and frame size.
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
