import json

import numpy as np
import soundfile
import torch
from click.testing import CliRunner
from PIL import Image

from audiodiff.cli.main import cli
from audiodiff.codec import load_png, load_png_with_mel


def _write_tracks(folder, small_mel):
    from audiodiff.synth import synthesize

    good = []
    for index, genre in enumerate(("pads", "beats")):
        path = folder / f"{genre}.flac"
        soundfile.write(path, synthesize(genre, 1.2, 44100, seed=index), 44100)  # resampled to 16 kHz
        good.append(path)
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF....WAVEfmt garbage" * 20)
    return good, corrupt


def test_encode_then_decode(tmp_path, small_mel):
    small_mel.save(tmp_path / "cfg")
    (good, corrupt) = _write_tracks(tmp_path, small_mel)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "encode",
            str(good[0]),
            str(corrupt),
            str(good[1]),
            "--out",
            str(tmp_path / "png"),
            "--mel-config",
            str(tmp_path / "cfg"),
        ],
    )
    # The corrupt file is reported and skipped, the others are done, and the exit status says something failed.
    assert result.exit_code == 1, result.output
    assert f"skipped {corrupt}: not readable as audio" in result.output
    pngs = sorted((tmp_path / "png").glob("*.png"))
    slices_per_track = int(1.2 * 16000) // small_mel.slice_size
    assert [p.name for p in pngs] == [
        f"{stem}_{i:04d}.png" for stem in ("beats", "pads") for i in range(slices_per_track)
    ]
    assert json.loads((tmp_path / "png" / "mel_config.json").read_text())["x_res"] == 64
    pixels, bits = load_png(pngs[0])
    assert pixels.shape == (64, 64) and bits == 8 and pixels.max() == 255
    assert load_png_with_mel(pngs[0])[2] == small_mel  # each image carries its settings

    result = runner.invoke(cli, ["decode", *map(str, pngs), "--out", str(tmp_path / "wav"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "seed 3" in result.output
    wavs = sorted((tmp_path / "wav").glob("*.wav"))
    assert len(wavs) == len(pngs)
    audio, rate = soundfile.read(wavs[0])
    assert rate == 16000 and len(audio) == 63 * 128 and np.abs(audio).max() > 0
    # an image keeps no loudness: decoded clips play at -20 dBFS RMS unless that would peak above -1 dBFS
    level = 20 * np.log10(np.sqrt(np.mean(audio**2)))
    assert abs(level + 20) < 0.1 or np.isclose(np.abs(audio).max(), 10 ** (-1 / 20), atol=1e-3)


def test_encode_16bit_and_decode_rejects_mismatched_images(tmp_path, small_mel):
    small_mel.save(tmp_path / "cfg")
    good, _ = _write_tracks(tmp_path, small_mel)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["encode", str(good[0]), "--bits", "16", "--out", str(tmp_path / "png"), "--mel-config", str(tmp_path / "cfg")],
    )
    assert result.exit_code == 0, result.output
    png = sorted((tmp_path / "png").glob("*.png"))[0]
    assert load_png(png)[1] == 16
    result = runner.invoke(
        cli,
        [
            "decode",
            str(png),
            "--out",
            str(tmp_path / "wav"),
            "--mel-config",
            str(tmp_path / "png" / "mel_config.json"),
            "--n-iter",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    # Without a mel_config.json beside it, the image's own settings (its audiodiff:mel chunk) apply.
    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / png.name).write_bytes(png.read_bytes())
    result = runner.invoke(cli, ["decode", str(tmp_path / "alone" / png.name), "--out", str(tmp_path / "wav2")])
    assert result.exit_code == 0, result.output
    assert soundfile.info(tmp_path / "wav2" / f"{png.stem}.wav").samplerate == 16000
    # An image of the reference format (no chunk: PIL re-saves without it) gets the reference 256-band settings:
    # the 64-row image is refused by name, not a crash.
    (tmp_path / "ref").mkdir()
    Image.open(png).save(tmp_path / "ref" / png.name)
    result = runner.invoke(cli, ["decode", str(tmp_path / "ref" / png.name), "--out", str(tmp_path / "wav3")])
    assert result.exit_code == 1
    assert "is 64 pixels high but the mel config has y_res=256" in result.output


def test_decode_takes_each_images_own_settings_and_an_explicit_mel_config_wins(tmp_path, small_mel):
    """Images of two mel settings (64 bands at 16 kHz, 32 bands at 8 kHz) decode in one run, each at its own rate,
    with no --mel-config; an explicit --mel-config that disagrees with an image wins, with one warning line."""
    from audiodiff.codec import SpectrogramCodec, save_png
    from audiodiff.config import MelConfig
    from audiodiff.synth import synthesize

    other = MelConfig(x_res=32, y_res=32, sample_rate=8000, n_fft=256, hop_length=64, n_iter=4)
    images = []
    for config in (small_mel, other):
        audio = synthesize("pads", 1.2, config.sample_rate, seed=1)[None, : config.slice_size]
        pixels = SpectrogramCodec(config).audio_to_pixels(torch.from_numpy(audio))[0].numpy()
        images.append(save_png(tmp_path / "in" / f"bands{config.y_res}.png", pixels, mel_config=config))
        assert load_png_with_mel(images[-1])[2] == config
    runner = CliRunner()
    result = runner.invoke(cli, ["decode", *map(str, images), "--out", str(tmp_path / "wav"), "--n-iter", "2"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    for config in (small_mel, other):
        info = soundfile.info(tmp_path / "wav" / f"bands{config.y_res}.wav")
        assert (info.samplerate, info.frames) == (config.sample_rate, config.slice_size + 1 - config.hop_length)
    # --mel-config names settings of the same height but another sample rate: it wins.
    forced = small_mel.replace(sample_rate=22050)
    forced.save(tmp_path / "forced")
    result = runner.invoke(
        cli, ["decode", str(images[0]), "--out", str(tmp_path / "wav2"), "--mel-config", str(tmp_path / "forced")]
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: 1 image(s) carry other mel settings than --mel-config ({images[0]}: sample_rate=16000, "
        "--mel-config: sample_rate=22050); --mel-config wins"
    ]
    assert soundfile.info(tmp_path / "wav2" / "bands64.wav").samplerate == 22050


def test_bad_mel_config_is_a_usage_error(tmp_path):
    (tmp_path / "mel_config.json").write_text('{"x_res": -4}')
    result = CliRunner().invoke(
        cli, ["encode", "a.wav", "--out", str(tmp_path), "--mel-config", str(tmp_path / "mel_config.json")]
    )
    assert result.exit_code == 2
    assert "x_res must be positive" in result.output


def test_info_reports_device_and_threads():
    result = CliRunner().invoke(cli, ["info"])
    assert result.exit_code == 0
    assert "device" in result.output and "torch_threads" in result.output


def _invoke(*arguments):
    return CliRunner().invoke(cli, [str(argument) for argument in arguments])


def test_encode_names_are_unique_and_bad_inputs_and_outputs_are_skipped(tmp_path, small_mel, monkeypatch):
    import os
    import shutil

    small_mel.save(tmp_path / "cfg")
    (pads, beats), _ = _write_tracks(tmp_path, small_mel)
    for folder, track in (("a", pads), ("b", beats)):
        (tmp_path / folder).mkdir()
        shutil.copy(track, tmp_path / folder / "song.flac")
    locked = tmp_path / "locked.wav"
    shutil.copy(pads, locked)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: str(path) != str(locked) and real_access(path, mode))
    fifo = tmp_path / "live.wav"
    os.mkfifo(fifo)
    out = tmp_path / "png"
    result = _invoke("encode", tmp_path / "a/song.flac", locked, fifo, tmp_path / "b/song.flac", "--out", out,
                     "--mel-config", tmp_path / "cfg")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"skipped {locked}: permission denied" in result.output
    assert f"skipped {fifo}: not a regular file (a FIFO" in result.output
    per_track = int(1.2 * 16000) // small_mel.slice_size
    names = sorted(path.name for path in out.glob("*.png"))
    assert names == sorted(f"{stem}_{i:04d}.png" for stem in ("song", "song-2") for i in range(per_track))
    assert f"{2 * per_track} spectrogram image(s) written; 2 file(s) skipped" in result.output
    assert "another input has the stem 'song'; writing song-2* instead" in result.output

    # A folder in the way of one output name: that file is reported, the others are written.
    blocked = tmp_path / "blocked"
    (blocked / "song_0001.png").mkdir(parents=True)
    result = _invoke("encode", tmp_path / "a/song.flac", "--out", blocked, "--mel-config", tmp_path / "cfg")
    assert result.exit_code == 1
    assert f"skipped {blocked / 'song_0001.png'}: cannot write it (Is a directory)" in result.output
    assert (blocked / "song_0000.png").is_file() and "Traceback" not in result.output
    result = _invoke("encode", pads, "--out", tmp_path / "cfg" / "mel_config.json" / "x")
    assert result.exit_code == 1 and "cannot create the output folder" in result.output
    assert _invoke("encode", pads, "--out", out, "--batch-size", "0").exit_code == 2


def test_decode_names_are_unique_and_earlier_files_are_replaced_with_a_note(tmp_path, small_mel):
    small_mel.save(tmp_path / "cfg")
    (pads, _), _ = _write_tracks(tmp_path, small_mel)
    assert _invoke("encode", pads, "--out", tmp_path / "png", "--mel-config", tmp_path / "cfg").exit_code == 0
    image = (tmp_path / "png" / "pads_0000.png").read_bytes()
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "clip.png").write_bytes(image)
    arguments = ["decode", tmp_path / "x/clip.png", tmp_path / "y/clip.png", "--out", tmp_path / "wav",
                 "--mel-config", tmp_path / "cfg", "--n-iter", "2"]  # fmt: skip
    result = _invoke(*arguments)
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in (tmp_path / "wav").iterdir()) == ["clip-2.wav", "clip.wav"]
    result = _invoke(*arguments)
    assert result.exit_code == 0 and f"2 file(s) from an earlier run in {tmp_path / 'wav'} replaced" in result.output
    assert _invoke(*arguments, "--batch-size", "-1").exit_code == 2
