"""audiodiff.export: formats and rates read back by soundfile, BS.1770 loudness against published values, the
true-peak ceiling, and the smpl chunk read back by our reader, a hand walk of the RIFF chunks and libsndfile."""

import math
import struct

import numpy as np
import pytest
import soundfile
from scipy.signal import lfilter

from audiodiff import export
from audiodiff.audio import save_audio
from audiodiff.export import (
    FORMATS,
    OutputSettings,
    integrated_loudness,
    normalize_loudness,
    read_loop_points,
    true_peak,
    write_audio,
)
from audiodiff.synth import synthesize


def _sine(frequency, seconds, sample_rate, level_db=0.0, phase=0.0):
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return 10 ** (level_db / 20) * np.sin(2 * np.pi * frequency * t + phase)


def _drums(seconds, sample_rate, seed=0):
    """Decaying clicks every 250 ms over quiet noise: a peaky signal whose loudness target needs the limiter."""
    rng = np.random.default_rng(seed)
    impulses = np.zeros(int(seconds * sample_rate))
    impulses[:: sample_rate // 4] = 1.0
    return 0.5 * lfilter([1.0], [1.0, -0.995], impulses) + 0.02 * rng.standard_normal(len(impulses))


def _music(seconds, sample_rate):
    """The built-in synthesized beats, pads and arpeggios mixed: dense, music-like material."""
    return sum(synthesize(genre, seconds, sample_rate) for genre in ("beats", "pads", "arpeggios")) / 3


# -- formats and rates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source_rate, target_rate", [(22050, 44100), (16000, 48000), (22050, 48000)])
@pytest.mark.parametrize(
    "fmt, subtype", [("wav16", "PCM_16"), ("wav24", "PCM_24"), ("float", "FLOAT"), ("flac", "PCM_24")]
)
def test_each_format_reads_back_at_its_subtype_and_rate(tmp_path, source_rate, target_rate, fmt, subtype):
    audio = 0.5 * _sine(440, 1.0, source_rate)
    output = OutputSettings(sample_rate=target_rate, format=fmt)
    path = write_audio(tmp_path / f"clip{output.suffix}", audio, source_rate, output)
    info = soundfile.info(path)
    assert (info.samplerate, info.subtype, info.channels) == (target_rate, subtype, 1)
    assert info.frames == round(len(audio) * target_rate / source_rate)
    assert info.format == ("FLAC" if fmt == "flac" else "WAV")


def test_defaults_write_what_save_audio_writes(tmp_path):
    """OutputSettings() is today's behaviour: the model's rate, 16-bit WAV, the samples as given."""
    audio = _music(2.0, 22050)
    ours = write_audio(tmp_path / "ours.wav", audio, 22050)
    theirs = save_audio(tmp_path / "theirs.wav", audio, 22050)
    assert soundfile.info(ours).subtype == "PCM_16" and soundfile.info(ours).samplerate == 22050
    np.testing.assert_array_equal(soundfile.read(ours, dtype="int16")[0], soundfile.read(theirs, dtype="int16")[0])


def test_float_keeps_samples_beyond_full_scale_and_integer_formats_clip(tmp_path):
    audio = np.array([0.0, 1.5, -2.0, 0.25])
    floats, _ = soundfile.read(write_audio(tmp_path / "f.wav", audio, 22050, OutputSettings(format="float")))
    np.testing.assert_allclose(floats, audio, atol=1e-7)
    pcm, _ = soundfile.read(write_audio(tmp_path / "p.wav", audio, 22050, OutputSettings(format="wav24")))
    np.testing.assert_allclose(pcm, np.clip(audio, -1, 1), atol=1e-6)


@pytest.mark.parametrize("source_rate, target_rate", [(22050, 44100), (16000, 48000)])
def test_resampled_sine_keeps_its_frequency_and_shape(tmp_path, source_rate, target_rate):
    frequency = 1234.5
    audio = 0.5 * _sine(frequency, 2.0, source_rate)
    path = write_audio(tmp_path / "s.wav", audio, source_rate, OutputSettings(sample_rate=target_rate, format="float"))
    resampled, rate = soundfile.read(path)
    assert rate == target_rate
    spectrum = np.abs(np.fft.rfft(resampled * np.hanning(len(resampled))))
    peak = np.argmax(spectrum)
    # the spectral peak's frequency, refined by a parabola through its bins (bin width 0.5 Hz here)
    left, centre, right = np.log(spectrum[peak - 1 : peak + 2])
    refined = peak + 0.5 * (left - right) / (left - 2 * centre + right)
    assert refined * target_rate / len(resampled) == pytest.approx(frequency, abs=0.05)
    # sample for sample the sine at the new rate, away from the edges (VHQ: error far below 16-bit resolution)
    expected = 0.5 * _sine(frequency, 2.0, target_rate)
    middle = slice(target_rate // 10, -target_rate // 10)
    assert np.max(np.abs(resampled[middle] - expected[middle])) < 1e-4


# -- BS.1770 loudness ----------------------------------------------------------------------------------------------


def test_k_weighting_matches_the_standard_at_48k():
    """ITU-R BS.1770-4 tables 1 and 2 (the coefficients are printed to 14 digits)."""
    shelf, highpass = export.k_weighting(48000)
    np.testing.assert_allclose(shelf[:3], [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-8)
    np.testing.assert_allclose(shelf[3:], [1.0, -1.69065929318241, 0.73248077421585], atol=1e-8)
    np.testing.assert_allclose(highpass[:3], [1.0, -2.0, 1.0])
    np.testing.assert_allclose(highpass[3:], [1.0, -1.99004745483398, 0.99007225036621], atol=1e-8)


@pytest.mark.parametrize("sample_rate, tolerance", [(48000, 0.01), (44100, 0.01), (22050, 0.05), (16000, 0.05)])
def test_full_scale_997_hz_sine_reads_minus_3_01_lufs(sample_rate, tolerance):
    """BS.1770-4: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS. At low rates the bilinear transform bends the
    shelf a little near 1 kHz (measured: -2.98 at 22050, -2.97 at 16000)."""
    assert integrated_loudness(_sine(997, 5.0, sample_rate), sample_rate) == pytest.approx(-3.01, abs=tolerance)


def _tech3341(parts, sample_rate=48000):
    """EBU Tech 3341's stereo 1 kHz test signals as one channel: mono reads 3.01 LU below the stereo value."""
    return np.concatenate([_sine(1000, seconds, sample_rate, level) for level, seconds in parts])


@pytest.mark.parametrize(
    "parts",
    [
        [(-23, 20)],  # case 1
        [(-36, 10), (-23, 60), (-36, 10)],  # case 3: the relative gate drops the -36 parts
        [(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)],  # case 4: the absolute gate drops the -72 parts
        [(-26, 20), (-20, 20.1), (-26, 20)],  # case 5: every part counts
    ],
)
def test_ebu_tech_3341_cases_read_minus_23_lufs(parts):
    """Tech 3341's tolerance is +-0.1 LU; each case reads -23 LUFS in stereo, so -26.01 in one channel."""
    assert integrated_loudness(_tech3341(parts), 48000) == pytest.approx(-23.0 - 10 * math.log10(2), abs=0.1)


def test_silence_empty_and_short_clips_read_without_nan():
    assert integrated_loudness(np.zeros(48000), 48000) == -math.inf
    assert integrated_loudness(np.zeros(0), 48000) == -math.inf
    assert integrated_loudness(1e-5 * _sine(1000, 1.0, 48000), 48000) == -math.inf  # -103 LUFS: under the gate
    assert true_peak(np.zeros(100), 48000) == -math.inf and true_peak(np.zeros(0), 48000) == -math.inf
    # shorter than one 400 ms block: measured as one block over the clip
    assert integrated_loudness(_sine(997, 0.2, 48000), 48000) == pytest.approx(-3.01, abs=0.2)
    np.testing.assert_array_equal(normalize_loudness(np.zeros(1000), 48000, -14.0), np.zeros(1000))
    assert len(normalize_loudness(np.zeros(0), 48000, -14.0)) == 0


def test_true_peak_sees_the_peak_between_samples():
    """A sine at a quarter of the sample rate, phase 45 degrees: every sample is at 0.707 (-3.01 dBFS), the waveform
    between them reaches 1.0 (0 dBTP). 4x oversampling reads it within 0.02 dB (Tech 3341 allows +0.2/-0.4) once the
    sine is faded in and out (an abrupt start really overshoots: 0.12 dB)."""
    audio = _sine(12000, 1.0, 48000, phase=math.pi / 4)
    assert 20 * np.log10(np.abs(audio).max()) == pytest.approx(-3.01, abs=0.01)
    assert -0.4 <= true_peak(audio, 48000) <= 0.2
    fade = np.hanning(4800)
    audio[:2400] *= fade[:2400]
    audio[-2400:] *= fade[2400:]
    assert true_peak(audio, 48000) == pytest.approx(0.0, abs=0.02)
    assert true_peak(0.5 * _sine(997, 1.0, 48000), 48000) == pytest.approx(-6.02, abs=0.05)


@pytest.mark.parametrize("sample_rate", [22050, 48000])
@pytest.mark.parametrize("target", [-14.0, -23.0, -10.0])
@pytest.mark.parametrize("source", ["music", "drums"])
def test_normalize_hits_the_target_under_the_ceiling(sample_rate, target, source):
    audio = _music(6.0, sample_rate) if source == "music" else _drums(6.0, sample_rate)
    normalized = normalize_loudness(audio, sample_rate, target, ceiling=-1.0)
    assert normalized.shape == audio.shape and np.all(np.isfinite(normalized))
    assert integrated_loudness(normalized, sample_rate) == pytest.approx(target, abs=0.5)
    assert true_peak(normalized, sample_rate) <= -1.0 + 1e-6


def test_the_limiter_engages_only_when_needed():
    """Drums at -10 LUFS need about 8 dB of peak reduction; a sine at -14 LUFS (-10.99 dBTP) needs none, so its
    normalisation is a plain gain."""
    drums = _drums(6.0, 48000)
    gain_only = drums * 10 ** ((-10.0 - integrated_loudness(drums, 48000)) / 20)
    assert true_peak(gain_only, 48000) > 5.0
    sine = 0.1 * _sine(997, 3.0, 48000)
    normalized = normalize_loudness(sine, 48000, -14.0)
    ratio = normalized[1000:] / sine[1000:]
    np.testing.assert_allclose(ratio[np.abs(sine[1000:]) > 1e-3], 10 ** ((-14.0 + 3.01 + 20) / 20), rtol=1e-3)


def test_an_impossible_target_ends_at_the_ceiling_as_loud_as_it_goes():
    """White noise at -3 LUFS under -1 dBTP is impossible (noise's crest is ~12 dB): the result keeps the ceiling."""
    noise = 0.1 * np.random.default_rng(0).standard_normal(48000 * 3)
    normalized = normalize_loudness(noise, 48000, -3.0, ceiling=-1.0)
    assert true_peak(normalized, 48000) <= -1.0 + 1e-6
    assert -12.0 < integrated_loudness(normalized, 48000) < -3.0


@pytest.mark.parametrize("fmt", ["wav24", "float", "flac"])
def test_written_file_hits_loudness_and_ceiling(tmp_path, fmt):
    output = OutputSettings(sample_rate=48000, format=fmt, loudness=-14.0, true_peak=-1.0)
    audio = _music(6.0, 22050)
    written, rate = soundfile.read(write_audio(tmp_path / f"loud{output.suffix}", audio, 22050, output))
    assert rate == 48000
    assert integrated_loudness(written, rate) == pytest.approx(-14.0, abs=0.5)
    assert true_peak(written, rate) <= -1.0 + 0.01  # 24-bit rounding


# -- loop points ---------------------------------------------------------------------------------------------------


def _walk_smpl(path):
    """An independent reader: walk the RIFF chunks by hand and decode every smpl loop as (type, start, last)."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    offset, ids, loops = 12, [], []
    while offset < len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        ids.append(chunk_id)
        if chunk_id == b"smpl":
            period, unity, count = struct.unpack_from("<I", data, offset + 16)[0], data[offset + 20], data[offset + 36]
            loops = [struct.unpack_from("<4I", data, offset + 44 + 24 * k)[1:4] for k in range(count)]
            loops = [(period, unity, *loop) for loop in loops]
        offset += 8 + size + size % 2
    assert offset == len(data)
    return ids, loops


def _libsndfile_loops(path):
    """libsndfile's own parse of the smpl chunk (SFC_GET_INSTRUMENT, which soundfile does not wrap): (mode, start,
    end) with end exclusive, mode 801 = SF_LOOP_FORWARD."""
    buffer = soundfile._ffi.new("char[]", 272)  # sizeof(SF_INSTRUMENT): 16 bytes of header, 16 loops of 16 bytes
    with soundfile.SoundFile(path) as file:
        assert soundfile._snd.sf_command(file._file, 0x10D0, buffer, 272) == 1
    data = bytes(soundfile._ffi.buffer(buffer))
    count = struct.unpack_from("<i", data, 12)[0]
    return [struct.unpack_from("<iII", data, 16 + 16 * k) for k in range(count)]


@pytest.mark.parametrize("fmt", ["wav16", "wav24", "float"])
@pytest.mark.parametrize("source_rate, target_rate", [(22050, None), (22050, 44100), (16000, 48000)])
def test_loop_points_read_back_three_ways(tmp_path, fmt, source_rate, target_rate):
    # an odd number of 24-bit samples makes an odd-sized data chunk: the smpl chunk must follow its pad byte
    audio = 0.3 * _sine(220, 3.0, source_rate)[: 3 * source_rate - 1]
    loop = (source_rate // 2, 5 * source_rate // 2)  # 0.5 s to 2.5 s
    output = OutputSettings(sample_rate=target_rate, format=fmt)
    path = write_audio(tmp_path / "loop.wav", audio, source_rate, output, loop=loop)
    rate = target_rate or source_rate
    expected = (round(loop[0] * rate / source_rate), round(loop[1] * rate / source_rate))
    assert read_loop_points(path) == [expected]
    ids, loops = _walk_smpl(path)
    assert ids[-1] == b"smpl" and b"data" in ids
    assert loops == [(round(1e9 / rate), 60, 0, expected[0], expected[1] - 1)]  # forward loop, last sample stored
    assert _libsndfile_loops(path) == [(801, *expected)]
    # the file still reads as audio, sample for sample what it holds without the loop
    plain = write_audio(tmp_path / "plain.wav", audio, source_rate, output)
    np.testing.assert_array_equal(soundfile.read(path)[0], soundfile.read(plain)[0])


def test_file_without_loop_has_no_loop_points(tmp_path):
    assert read_loop_points(write_audio(tmp_path / "a.wav", np.zeros(100), 22050)) == []
    flac = write_audio(tmp_path / "a.flac", np.zeros(100), 22050, OutputSettings(format="flac"))
    with pytest.raises(ValueError, match="a.flac: not a RIFF WAVE file"):
        read_loop_points(flac)


# -- refusals ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, option",
    [
        (dict(format="mp3"), "--format"),
        (dict(format="WAV16"), "--format"),
        (dict(sample_rate=44100.0), "--sample-rate"),
        (dict(sample_rate=4000), "--sample-rate"),
        (dict(loudness=3.0), "--loudness"),
        (dict(loudness=float("nan")), "--loudness"),
        (dict(true_peak=1.0), "--true-peak"),
        (dict(true_peak="-1"), "--true-peak"),
    ],
)
def test_bad_settings_are_one_line_errors_naming_the_option(settings, option):
    with pytest.raises(ValueError) as error:
        OutputSettings(**settings)
    assert str(error.value).startswith(option) and "\n" not in str(error.value)


def test_suffixes():
    assert [OutputSettings(format=fmt).suffix for fmt in FORMATS] == [".wav", ".wav", ".wav", ".flac"]


@pytest.mark.parametrize("fmt, name", [("flac", "clip.wav"), ("wav16", "clip.flac"), ("float", "clip.ogg")])
def test_a_suffix_that_does_not_match_the_format_is_refused(tmp_path, fmt, name):
    with pytest.raises(ValueError, match=f"^{tmp_path / name}: --format {fmt} writes") as error:
        write_audio(tmp_path / name, np.zeros(100), 22050, OutputSettings(format=fmt))
    assert "\n" not in str(error.value) and not (tmp_path / name).exists()


def test_bad_audio_and_loops_are_refused(tmp_path):
    path = tmp_path / "x.wav"
    with pytest.raises(ValueError, match="loop points need a WAV file"):
        write_audio(tmp_path / "x.flac", np.zeros(100), 22050, OutputSettings(format="flac"), loop=(0, 50))
    with pytest.raises(ValueError, match=r"loop \(50, 200\) must satisfy 0 <= start < end <= 100"):
        write_audio(path, np.zeros(100), 22050, loop=(50, 200))
    with pytest.raises(ValueError, match=r"mono \(time,\) audio, got shape \(2, 100\)"):
        write_audio(path, np.zeros((2, 100)), 22050)
    with pytest.raises(ValueError, match="NaN or infinite"):
        write_audio(path, np.array([0.0, np.nan]), 22050)
    assert not path.exists()
