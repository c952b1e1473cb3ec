import numpy as np
import pytest
import soundfile

from audiodiff.audio import AudioError, load_audio, save_audio, slice_audio


def _tone(frequency, seconds, sample_rate, channels=1):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = 0.5 * np.sin(2 * np.pi * frequency * t)
    return np.stack([tone] * channels, axis=1) if channels > 1 else tone


@pytest.mark.parametrize("extension", ["wav", "flac", "ogg", "mp3"])
def test_reads_common_formats_as_mono_float32(tmp_path, extension):
    path = tmp_path / f"tone.{extension}"
    soundfile.write(path, _tone(440, 1.0, 22050), 22050)
    audio = load_audio(path, 22050)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 22050) < 2500  # lossy codecs add or trim a little padding
    spectrum = np.abs(np.fft.rfft(audio[:16384]))
    assert abs(np.argmax(spectrum) * 22050 / 16384 - 440) < 3


def test_resamples_and_mixes_stereo(tmp_path):
    left_right = np.stack([_tone(1000, 2.0, 44100), np.zeros(88200)], axis=1)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, left_right, 44100, subtype="FLOAT")
    audio = load_audio(path, 22050)
    assert len(audio) == 44100
    assert np.abs(audio).max() == pytest.approx(0.25, abs=0.01)  # mean of a 0.5 tone and silence
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 22050 / len(audio) - 1000) < 2


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.wav", b"", "empty file"),
        ("corrupt.wav", b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10, "not readable as audio"),
        ("notes.mp3", b"these are my lyrics, not audio\n" * 50, "not readable as audio"),
    ],
)
def test_bad_files_raise_one_error_type_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioError) as error:
        load_audio(path, 22050)
    message = str(error.value)
    assert message.startswith(str(path)) and reason in message
    assert "\n" not in message


def test_missing_file_and_header_only_file(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "nope.wav", 22050)
    path = tmp_path / "zero_frames.wav"
    soundfile.write(path, np.zeros((0, 1)), 22050)
    with pytest.raises(AudioError, match="contains no audio samples"):
        load_audio(path, 22050)


def test_bytes_source_uses_the_given_name(tmp_path):
    with pytest.raises(AudioError, match="^track-7.flac: not readable"):
        load_audio(b"garbage" * 100, 22050, name="track-7.flac")


def test_slicing_matches_reference_layout():
    audio = np.arange(10 * 7 + 3, dtype=np.float32)
    slices = slice_audio(audio, 7)
    assert slices.shape == (10, 7)
    assert slices[3, 0] == 21 and slices[-1, -1] == 69  # the trailing 3 samples are dropped
    short = slice_audio(np.ones(4, dtype=np.float32), 7)
    assert short.shape == (1, 7) and short[0, 4:].sum() == 0
    assert slice_audio(np.ones(4, dtype=np.float32), 7, pad_short=False).shape == (0, 7)


def test_save_audio_round_trip(tmp_path):
    import torch

    audio = torch.linspace(-1.5, 1.5, 1000)
    path = save_audio(tmp_path / "sub" / "x.wav", audio, 8000)
    loaded = load_audio(path, None)
    assert len(loaded) == 1000 and loaded.max() == pytest.approx(1.0, abs=1e-4)
    assert soundfile.info(path).samplerate == 8000
