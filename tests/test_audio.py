import logging
import os
import stat
import threading
import tracemalloc

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
    assert "regular file" not in message  # libsndfile's words for any file it cannot parse: misleading here


def _load_within(path, seconds=10.0):
    """load_audio in a thread: the error it raised, or a failure if it is still reading after `seconds`."""
    outcome = {}

    def target():
        try:
            load_audio(path, 22050)
        except AudioError as error:
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"load_audio({path}) hangs"
    return outcome.get("error")


def test_only_regular_files_are_audio(tmp_path):
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    assert "not a regular file (a FIFO" in str(_load_within(fifo))
    zero = tmp_path / "zero.wav"
    zero.symlink_to("/dev/zero")  # a device never ends: reading it would fill the memory
    assert "not a regular file (a character device)" in str(_load_within(zero))
    (tmp_path / "folder.flac").mkdir()
    assert "not a regular file (a folder)" in str(_load_within(tmp_path / "folder.flac"))
    try:
        os.mknod(tmp_path / "null.wav", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except OSError:
        return  # not allowed here (not root): the /dev/zero link covered devices
    assert "not a regular file (a character device)" in str(_load_within(tmp_path / "null.wav"))


def test_what_one_file_may_cost_is_bounded(tmp_path):
    # A tiny file whose header claims 1 Hz would be hours long at the codec's rate.
    soundfile.write(tmp_path / "one_hertz.wav", np.zeros(40000), 1, subtype="PCM_16")
    with pytest.raises(AudioError, match="sample rate 1 Hz is outside 1000..768000 Hz"):
        load_audio(tmp_path / "one_hertz.wav", 22050)
    soundfile.write(tmp_path / "long.wav", np.zeros(2 * 8000), 8000)
    with pytest.raises(AudioError, match="over the limit of .* h per file"):
        load_audio(tmp_path / "long.wav", 22050, max_seconds=1.0)
    # Long files stream: a minute of 44.1 kHz stereo (21 MB as float32) resampled to 8 kHz mono (1.9 MB) never
    # holds the whole file in memory.
    path = tmp_path / "minute.wav"
    soundfile.write(path, _tone(440, 60.0, 44100, channels=2), 44100, subtype="PCM_16")
    tracemalloc.start()
    try:
        audio = load_audio(path, 8000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(audio) == 60 * 8000
    assert peak < 10e6, f"peak {peak / 1e6:.1f} MB"
    # Streaming resamples exactly as the one-shot soxr_hq filter of librosa (and of the reference Mel).
    import librosa

    whole = soundfile.read(path, dtype="float32")[0].mean(axis=1)
    expected = librosa.resample(whole, orig_sr=44100, target_sr=8000, res_type="soxr_hq")
    np.testing.assert_allclose(audio, np.clip(expected, -1, 1), atol=1e-6)


def test_truncated_wav_is_read_with_a_warning(tmp_path, caplog):
    path = tmp_path / "cut.wav"
    soundfile.write(path, _tone(440, 1.0, 22050), 22050, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="audiodiff.audio"):
        audio = load_audio(path, 22050)
    assert abs(len(audio) - 22050 // 2) < 50
    assert any("cut.wav: truncated" in record.getMessage() for record in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="audiodiff.audio"):
        load_audio(tmp_path / "cut.wav", None)
        soundfile.write(tmp_path / "whole.wav", _tone(440, 1.0, 22050), 22050)
        load_audio(tmp_path / "whole.wav", 22050)
    assert sum("truncated" in record.getMessage() for record in caplog.records) == 1


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


# --- formats only FFmpeg reads (through PyAV) -------------------------------------------------------------------------
FFMPEG_FILES = [("m4a", "aac", 44100), ("opus", "opus", 48000), ("webm", "opus", 48000)]


@pytest.mark.parametrize("extension, codec, rate", FFMPEG_FILES)
def test_reads_m4a_opus_and_webm_at_the_codec_rate(tmp_path, extension, codec, rate):
    from conftest import encode_with_ffmpeg

    path = encode_with_ffmpeg(tmp_path / f"tone.{extension}", _tone(440, 2.0, rate), rate, codec)
    audio = load_audio(path, 22050)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # Encoder delay is skipped and AAC's padding cut where the container says (Debian's ffmpeg writes both); PyAV's
    # own muxer leaves the AAC priming in: a lossy codec's tolerance, 50 ms.
    assert abs(len(audio) - 2 * 22050) <= 0.05 * 22050
    spectrum = np.abs(np.fft.rfft(audio[:16384] * np.hanning(16384)))
    assert abs(np.argmax(spectrum) * 22050 / 16384 - 440) < 2
    assert float(np.sqrt(np.mean(audio[2000:-2000] ** 2))) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    assert load_audio(path, None).size == pytest.approx(2 * rate, abs=0.05 * rate)  # None keeps the file's rate


def test_ffmpeg_formats_mix_down_and_resample_as_soundfile_does(tmp_path):
    """Apple Lossless in .m4a holds the same samples as a WAV: both decoders must give the same numbers (mono mean,
    the streamed soxr_hq resampler), so a collection can mix formats without the rows depending on the decoder."""
    from conftest import encode_with_ffmpeg

    left = np.round(_tone(1000, 2.0, 44100) * 2**23) / 2**23  # exactly 24-bit samples: lossless both ways
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    soundfile.write(tmp_path / "song.wav", stereo, 44100, subtype="PCM_24")
    encode_with_ffmpeg(tmp_path / "song.m4a", stereo, 44100, "alac")
    from_wav, from_m4a = load_audio(tmp_path / "song.wav", 22050), load_audio(tmp_path / "song.m4a", 22050)
    assert len(from_m4a) == len(from_wav) == 44100
    np.testing.assert_allclose(from_m4a, from_wav, atol=1e-6)
    assert np.abs(from_m4a).max() == pytest.approx(0.25, abs=0.01)  # mean of a 0.5 tone and silence


def test_ffmpeg_files_are_bounded_before_decoding(tmp_path, monkeypatch):
    from conftest import encode_with_ffmpeg

    import audiodiff.audio as audio_module

    path = encode_with_ffmpeg(tmp_path / "two_seconds.m4a", _tone(440, 2.0, 44100), 44100)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoding started: the length must be refused from the container's header")

    monkeypatch.setattr(audio_module, "_MonoOutput", no_decoding)
    with pytest.raises(AudioError, match=r"two_seconds.m4a: 0.00 h long, over the limit of 0.00025 h per file"):
        load_audio(path, 22050, max_seconds=0.9)
    monkeypatch.undo()
    # A minute of 44.1 kHz stereo AAC read at 8 kHz streams frame by frame: the numpy memory is the mono output
    # (1.9 MB) and one frame, never the whole decoded file (21 MB as float32).
    path = encode_with_ffmpeg(tmp_path / "minute.m4a", _tone(440, 60.0, 44100, channels=2), 44100)
    tracemalloc.start()
    try:
        audio = load_audio(path, 8000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert abs(len(audio) - 60 * 8000) <= 0.05 * 8000
    assert peak < 6e6, f"peak {peak / 1e6:.1f} MB"


def test_truncated_and_corrupt_m4a(tmp_path, caplog):
    from conftest import encode_with_ffmpeg

    # An .m4a keeps its index (moov) after the audio unless made for streaming: a cut copy has none.
    whole = encode_with_ffmpeg(tmp_path / "whole.m4a", _tone(440, 3.0, 44100), 44100).read_bytes()
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AudioError) as error:
        load_audio(cut, 22050)
    assert str(error.value).startswith(f"{cut}: not readable as audio (") and "\n" not in str(error.value)
    garbage = tmp_path / "lyrics.m4a"
    garbage.write_bytes(b"these are my lyrics, not audio\n" * 50)
    with pytest.raises(AudioError, match=rf"^{garbage}: not readable as audio \(invalid data"):
        load_audio(garbage, 22050)
    # With the index first, a cut copy is read as far as it goes, with a warning (as a cut WAV is).
    streamable = encode_with_ffmpeg(tmp_path / "stream.m4a", _tone(440, 3.0, 44100), 44100, faststart=True)
    data = streamable.read_bytes()
    streamable.write_bytes(data[: len(data) * 2 // 3])
    with caplog.at_level(logging.WARNING, logger="audiodiff.audio"):
        audio = load_audio(streamable, 22050)
    assert 0.5 * 22050 < len(audio) < 2.9 * 22050
    assert any(
        "stream.m4a: " in record.getMessage() and "using what is there" in record.getMessage()
        for record in caplog.records
    )


def test_dataset_bytes_without_a_name_try_ffmpeg_after_libsndfile(tmp_path):
    from conftest import encode_with_ffmpeg

    from audiodiff.audio import audio_info

    data = encode_with_ffmpeg(tmp_path / "row.webm", _tone(440, 2.0, 48000), 48000, "opus").read_bytes()
    audio = load_audio(data, 16000, name="train[3]")  # no extension: libsndfile first, then FFmpeg
    assert abs(len(audio) - 32000) <= 800
    info = audio_info(data, name="train[3]")
    assert (info.samplerate, info.channels) == (48000, 1) and info.duration == pytest.approx(2.0, abs=0.05)


def test_without_pyav_ffmpeg_formats_are_unsupported_with_the_fix(tmp_path, monkeypatch):
    import audiodiff.audio as audio_module
    from audiodiff.audio import audio_file_kind, unsupported_reason

    assert audio_file_kind("song.m4a") == "audio" and audio_file_kind("song.webm") == "audio"
    assert audio_file_kind("song.m4p") == "unsupported" and "copy-protected" in unsupported_reason("song.m4p")
    monkeypatch.setattr(audio_module, "ffmpeg_available", lambda: False)
    assert audio_file_kind("song.m4a") == "unsupported" and audio_file_kind("song.flac") == "audio"
    path = tmp_path / "song.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(200))
    with pytest.raises(AudioError) as error:
        load_audio(path, 22050)
    assert str(error.value) == f"{path}: {unsupported_reason(path)}"
    assert "pip install av" in str(error.value) and "\n" not in str(error.value)
