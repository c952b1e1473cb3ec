"""`audiodiff generate / vary / inpaint / edit / interpolate` on a tiny genre-conditioned pipeline folder."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from helpers import MEL, tiny_pipeline
from test_beats import drums
from test_sampling import bar_pipeline

from audiodiff.audio import save_audio
from audiodiff.cli.main import cli
from audiodiff.codec import load_png, load_png_with_mel
from audiodiff.export import read_loop_points
from audiodiff.synth import synthesize


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline")
    tiny_pipeline(genres=["beats", "pads"], scheduler="ddpm").save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "song.wav"
    save_audio(path, synthesize("pads", 0.6, MEL.sample_rate, seed=4), MEL.sample_rate)
    return path


def invoke(*arguments: str):
    return CliRunner().invoke(cli, [str(argument) for argument in arguments], catch_exceptions=False)


def read(path):
    audio, rate = soundfile.read(path, dtype="float32")
    assert rate == MEL.sample_rate
    return audio


def test_generate_writes_clips_and_reproduces_from_the_printed_seed(folder, tmp_path):
    result = invoke("generate", folder, "--out", tmp_path / "a", "--clips", 3, "--batch-size", 2, "--steps", 2,
                    "--seed", 7, "--genre", "beats", "--guidance", 2, "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "seed 7 (clip k used seed 7+k" in result.output
    for index in range(3):
        assert read(tmp_path / "a" / f"generated_{index:03d}.wav").shape == ((MEL.x_res - 1) * MEL.hop_length,)
        pixels, bits = load_png(tmp_path / "a" / f"generated_{index:03d}.png")
        assert pixels.shape == (MEL.y_res, MEL.x_res) and bits == 8
    alone = invoke("generate", folder, "--out", tmp_path / "b", "--steps", 2, "--seed", 9, "--genre", "beats",
                   "--guidance", 2, "--device", "cpu")  # fmt: skip
    assert alone.exit_code == 0 and "seed 9" in alone.output
    same, _ = load_png(tmp_path / "b" / "generated_000.png")
    third, _ = load_png(tmp_path / "a" / "generated_002.png")
    assert np.abs(same.astype(int) - third.astype(int)).max() <= 2  # clip 2 of seed 7 = clip 0 of seed 9
    # Each PNG carries the model's mel settings: `decode` reads a copy of it alone, without --mel-config.
    assert load_png_with_mel(tmp_path / "b" / "generated_000.png")[2] == MEL
    alone_png = tmp_path / "png" / "clip.png"
    alone_png.parent.mkdir()
    alone_png.write_bytes((tmp_path / "b" / "generated_000.png").read_bytes())
    decoded = invoke("decode", alone_png, "--out", tmp_path / "decoded", "--device", "cpu")
    assert decoded.exit_code == 0, decoded.output
    assert read(tmp_path / "decoded" / "clip.wav").shape == ((MEL.x_res - 1) * MEL.hop_length,)


def test_generate_long_clip_and_errors(folder, tmp_path):
    result = invoke("generate", folder, "--out", tmp_path, "--seconds", 0.7, "--steps", 2, "--scheduler", "ddim",
                    "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    frames = round(0.7 * MEL.sample_rate / MEL.hop_length)
    assert read(tmp_path / "generated_000.wav").shape == ((frames - 1) * MEL.hop_length,)
    assert "seed " in result.output
    bad_genre = invoke("generate", folder, "--out", tmp_path, "--genre", "jazz", "--steps", 1, "--device", "cpu")
    assert bad_genre.exit_code == 2 and "unknown genre 'jazz'" in bad_genre.output
    assert sorted(path.name for path in tmp_path.glob("*.json")) == ["generated_000.json"]  # none for the failure
    assert "Traceback" not in bad_genre.output
    missing = invoke("generate", tmp_path / "nothing", "--out", tmp_path, "--device", "cpu")
    assert missing.exit_code == 2 and "no such pipeline folder" in missing.output


def test_vary_strength_decides_how_far_variations_go(folder, song, tmp_path):
    from audiodiff.audio import load_audio
    from audiodiff.pipeline import AudioDiffusionPipeline

    pipe = AudioDiffusionPipeline.from_pretrained(folder)
    source = pipe.quantize(pipe.audio_to_images(load_audio(song, MEL.sample_rate)))[0].numpy().astype(int)

    def variations(strength: float) -> list[np.ndarray]:
        out = tmp_path / str(strength)
        result = invoke("vary", folder, song, "--out", out, "--clips", 2, "--strength", strength, "--steps", 10,
                        "--seed", 1, "--scheduler", "ddim", "--device", "cpu")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert sorted(path.name for path in out.glob("*.wav")) == ["song_variation_000.wav", "song_variation_001.wav"]
        return [load_png(out / f"song_variation_{k:03d}.png")[0].astype(int) for k in range(2)]

    def distance(pixels: np.ndarray) -> float:
        return float(np.abs(pixels - source).mean())

    light, strong = variations(0.2), variations(1.0)
    assert max(map(distance, light)) < min(map(distance, strong))  # strength 1 ignores the clip
    assert not np.array_equal(*strong)  # each variation has its own seed


def test_inpaint_range_keeps_the_rest_and_loop(folder, song, tmp_path):
    original = read(song)
    result = invoke("inpaint", folder, song, "--out", tmp_path, "--start", 0.3, "--end", 0.4, "--steps", 2,
                    "--seed", 3, "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    inpainted = read(tmp_path / "song_inpaint_000.wav")
    assert inpainted.shape == original.shape
    untouched = np.ones(len(original), dtype=bool)
    untouched[int(0.2 * MEL.sample_rate) : int(0.5 * MEL.sample_rate)] = False
    assert np.array_equal(inpainted[untouched], original[untouched])
    assert not np.array_equal(inpainted[~untouched], original[~untouched])
    looped = invoke("inpaint", folder, song, "--out", tmp_path, "--loop", 0.05, "--steps", 2, "--device", "cpu")
    assert looped.exit_code == 0, looped.output
    assert read(tmp_path / "song_loop_000.wav").shape == (MEL.x_res * MEL.hop_length,)
    assert read_loop_points(tmp_path / "song_loop_000.wav") == []  # as the studio writes it (test_ui)
    neither = invoke("inpaint", folder, song, "--out", tmp_path, "--device", "cpu")
    assert neither.exit_code == 2 and "--start and --end" in neither.output
    too_long = invoke("inpaint", folder, song, "--out", tmp_path, "--start", 0.0, "--end", 0.5, "--device", "cpu")
    assert too_long.exit_code == 2 and "longer than one slice" in too_long.output


@pytest.fixture(scope="module")
def bar_folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("bar_pipeline")
    bar_pipeline().save_pretrained(path)
    return path


def test_inpaint_loop_on_the_bar(bar_folder, tmp_path):
    song = tmp_path / "drums.wav"
    save_audio(song, drums(120, 12.0, MEL.sample_rate, start=0.25), MEL.sample_rate)
    result = invoke("inpaint", bar_folder, song, "--out", tmp_path / "a", "--bars", "auto", "--clips", 2, "--steps", 2,
                    "--seed", 5, "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "bar(s)" in line)
    assert "2 bar(s) of 4 beats at 1" in line and "from the downbeat at 0.2" in line
    tempo = float(line.split(" at ")[1].split()[0])
    assert tempo == pytest.approx(120, rel=0.02)
    samples = round(2 * 4 * 60 / tempo * MEL.sample_rate)
    assert f"({samples} samples)" in line
    for index in range(2):
        wav = tmp_path / "a" / f"drums_loop_{index:03d}.wav"
        assert read(wav).shape == (samples,) and soundfile.info(wav).subtype == "PCM_16"
        assert read_loop_points(wav) == [(0, samples)]
        pixels, _ = load_png(tmp_path / "a" / f"drums_loop_{index:03d}.png")
        assert pixels.shape == (32, 512)  # the regenerated slice
    one = invoke("inpaint", bar_folder, song, "--out", tmp_path / "b", "--loop", 0.1, "--bars", 1, "--offset", 5,
                 "--steps", 2, "--device", "cpu")  # fmt: skip
    assert one.exit_code == 0, one.output
    assert "1 bar(s) of 4 beats" in one.output and "from the downbeat at 6.2" in one.output
    assert len(read_loop_points(tmp_path / "b" / "drums_loop_000.wav")) == 1
    too_many = invoke("inpaint", bar_folder, song, "--out", tmp_path / "c", "--bars", 9, "--device", "cpu")
    assert too_many.exit_code == 2 and "9 bars (18.00 s at 120.0 bpm, 4 beats a bar) do not fit" in too_many.output
    refusals = [(["--bars", "0"], "neither a whole number of bars"), (["--bars", "some"], "or 'auto'"),
                (["--bars", "auto", "--start", "0", "--end", "0.1"], "--bars cannot be combined")]  # fmt: skip
    for bad, message in refusals:
        refused = invoke("inpaint", bar_folder, song, "--out", tmp_path / "d", *bad, "--device", "cpu")
        assert refused.exit_code == 2 and message in refused.output, refused.output


def test_edit_genre_transfer(folder, song, tmp_path):
    result = invoke("edit", folder, song, "--out", tmp_path, "--genre", "beats", "--source-genre", "pads",
                    "--strength", 0.5, "--steps", 4, "--refine", 0, "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "song_edit.wav").is_file() and (tmp_path / "song_source.png").is_file()
    edited, _ = load_png(tmp_path / "song_edit.png")
    source, _ = load_png(tmp_path / "song_source.png")
    assert edited.shape == source.shape and not np.array_equal(edited, source)


def test_interpolate_between_seeds_and_between_clips(folder, song, tmp_path):
    result = invoke("interpolate", folder, "--out", tmp_path / "seeds", "--clips", 3, "--seed", 4, "--steps", 2,
                    "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "seed 4 -> 5" in result.output
    assert len(list((tmp_path / "seeds").glob("interpolation_*.wav"))) == 3
    morph = read(tmp_path / "seeds" / "interpolation.wav")  # the frames one after the other, cross-faded
    assert len(morph) > 2 * len(read(tmp_path / "seeds" / "interpolation_000.wav"))
    other = song.parent / "other.wav"
    save_audio(other, synthesize("beats", 0.3, MEL.sample_rate, seed=5), MEL.sample_rate)
    clips = invoke("interpolate", folder, "--out", tmp_path / "clips", "--clips", 3, "--from-audio", song,
                   "--to-audio", other, "--steps", 3, "--refine", 0, "--device", "cpu")  # fmt: skip
    assert clips.exit_code == 0, clips.output
    assert len(list((tmp_path / "clips").glob("interpolation_*.png"))) == 3
    half = invoke("interpolate", folder, "--out", tmp_path, "--from-audio", song, "--device", "cpu")
    assert half.exit_code == 2


@pytest.mark.parametrize(
    "option, value",
    [("--seconds", "inf"), ("--seconds", "0"), ("--guidance", "nan"), ("--seed", str(2**64)), ("--clips", "0"),
     ("--batch-size", "-1"), ("--overlap", "-0.5"), ("--steps", "0")],
)  # fmt: skip
def test_generate_refuses_values_out_of_range(folder, tmp_path, option, value):
    result = invoke("generate", folder, "--out", tmp_path, option, value, "--device", "cpu")
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, result.output
    assert not list(tmp_path.iterdir())


def test_inpaint_a_clip_shorter_than_one_slice(folder, tmp_path):
    short = tmp_path / "short.wav"
    save_audio(short, synthesize("pads", 0.2, MEL.sample_rate, seed=2), MEL.sample_rate)  # a slice is 0.26 s
    result = invoke("inpaint", folder, short, "--out", tmp_path / "out", "--start", 0.02, "--end", 0.04,
                    "--steps", 2, "--seed", 1, "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    original, inpainted = read(short), read(tmp_path / "out" / "short_inpaint_000.wav")
    assert inpainted.shape == original.shape
    kept = int(0.15 * MEL.sample_rate)  # past the range and its 0.1 s cross-fade
    assert np.array_equal(inpainted[kept:], original[kept:]) and not np.array_equal(inpainted, original)
    beyond = invoke("inpaint", folder, short, "--out", tmp_path / "out", "--start", 0.05, "--end", 0.3,
                    "--device", "cpu")  # fmt: skip
    assert beyond.exit_code == 2 and "is not inside the clip (0..0.20 s)" in beyond.output


def error_lines(output: str) -> list[str]:
    return [line for line in output.strip().splitlines() if line.strip()]


def test_every_command_that_needs_out_says_it_is_missing(tmp_path):
    """click 8.3+ skips the required check of an option given `default=None`: each command once crashed on None."""
    needing = {name: command for name, command in cli.commands.items()
               if any(param.name == "out_dir" and param.required for param in command.params)}  # fmt: skip
    assert {"encode", "decode", "generate", "vary", "inpaint", "edit", "interpolate", "train"} <= set(needing)
    for name, command in needing.items():
        arguments = [name]
        for param in command.params:  # every other required value, as an existing path (checked after --out)
            if param.required and param.name != "out_dir":
                arguments += [str(tmp_path)] if param.param_type_name == "argument" else [param.opts[0], str(tmp_path)]
        result = CliRunner().invoke(cli, arguments)
        assert result.exit_code == 2, (name, result.output, result.exception)
        assert "Missing option '--out'" in result.output, name


def test_steps_and_seconds_out_of_range_are_one_line_errors(folder, tmp_path):
    too_many = invoke("generate", folder, "--out", tmp_path, "--steps", 10_000_000, "--device", "cpu")
    assert too_many.exit_code == 2 and "steps must be a whole number from 1 to 1000" in too_many.output
    assert "Traceback" not in too_many.output and not list(tmp_path.glob("*.wav"))
    too_long = invoke("generate", folder, "--out", tmp_path, "--seconds", 301, "--device", "cpu")
    assert too_long.exit_code == 2 and "--seconds" in too_long.output and "0<x<=300" in too_long.output
    assert sum("Error" in line for line in error_lines(too_long.output)) == 1


def test_generate_writes_each_clip_as_soon_as_it_is_done(folder, tmp_path, monkeypatch):
    """A long run stopped half-way keeps the clips it finished (it once wrote everything at the end)."""
    from audiodiff import sampling

    sample, calls = sampling._sample, []

    def sample_then_stop(pipeline, **arguments):
        calls.append(sorted(path.name for path in tmp_path.iterdir()))
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second clip is sampled
        return sample(pipeline, **arguments)

    monkeypatch.setattr(sampling, "_sample", sample_then_stop)
    arguments = ["generate", folder, "--out", tmp_path, "--clips", 3, "--batch-size", 1, "--steps", 2, "--seed", 5,
                 "--redraw", 0, "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(cli, [str(argument) for argument in arguments])
    assert isinstance(result.exception, KeyboardInterrupt) or result.exit_code == 1, result.output
    clips = ["generated_000.png", "generated_000.wav"]
    assert [name for name in calls[1] if not name.endswith(".json") and not name.startswith(".")] == clips
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith(".")) == [
        "generated_000-002.json", *clips
    ]  # fmt: skip
    assert read(tmp_path / "generated_000.wav").shape == ((MEL.x_res - 1) * MEL.hop_length,)
    record = json.loads((tmp_path / "generated_000-002.json").read_text())  # it says what is there and what is not
    assert not record["finished"] and [clip["written"] for clip in record["clips"]] == [True, False, False]


# Bytecode is not written: past the limit Python would leave truncated .pyc files of the modules the command imports
# later (a short write passes unnoticed), and every later process would fail on them with "marshal data too short".
LIMITED_RUN = """
import sys
sys.dont_write_bytecode = True
import resource, signal
from audiodiff.cli.main import cli
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
cli(sys.argv[2:], prog_name="audiodiff")
"""


def test_a_write_cut_short_is_one_line_and_leaves_no_partial_file(folder, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    arguments = ["generate", folder, "--out", out, "--steps", 1, "--seed", 1, "--device", "cpu", "--redraw", 0]
    result = subprocess.run(
        [sys.executable, "-c", LIMITED_RUN, "4000", *map(str, arguments)], capture_output=True, text=True,
        env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr  # above the one line: only the sampler's progress bar
    assert error_lines(result.stderr)[-1] == f"Error: audiodiff generate: cannot write {out / 'generated_000.wav'}: " \
                                             "File too large"  # fmt: skip
    # Neither the WAV cut short nor its temporary, nor the set's JSON (no clip was written): only the folder's lock.
    assert [path.name for path in out.iterdir()] == [".audiodiff-lock"]


def test_an_unwritable_out_is_one_line(folder, tmp_path):
    (tmp_path / "file.txt").write_text("a regular file, where --out wants a folder\n")
    out = tmp_path / "file.txt" / "sub"
    result = CliRunner().invoke(cli, ["generate", str(folder), "--out", str(out), "--steps", "1", "--device", "cpu"])
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit)
    assert len(error_lines(result.output)) == 1 and str(out) in result.output


def sets_of(folder) -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def test_generate_twice_into_one_folder_replaces_nothing_and_the_json_remakes_the_set(folder, tmp_path):
    out = tmp_path / "clips"
    common = ["--steps", 2, "--batch-size", 2, "--genre", "beats", "--guidance", 2, "--device", "cpu"]
    first = invoke("generate", folder, "--out", out, "--clips", 3, "--seed", 7, *common)
    assert first.exit_code == 0, first.output
    before = {path.name: path.read_bytes() for path in out.glob("generated_*")}
    second = invoke("generate", folder, "--out", out, "--clips", 2, "--seed", 20, *common)
    assert second.exit_code == 0 and "generated_003-004.json" in second.output, second.output
    assert {name: (out / name).read_bytes() for name in before} == before  # the first set is untouched
    assert sorted(path.name for path in out.glob("*.wav")) == [f"generated_{k:03d}.wav" for k in range(5)]
    records = sets_of(out)
    assert list(records) == ["generated_000-002.json", "generated_003-004.json"]
    one, two = records.values()
    assert [clip["seed"] for clip in one["clips"]] == [7, 8, 9] and [clip["seed"] for clip in two["clips"]] == [20, 21]
    assert [clip["file"] for clip in two["clips"]] == ["generated_003.wav", "generated_004.wav"]
    assert two["finished"] and two["model"]["given"] == str(folder) and two["model"]["genres"] == ["beats", "pads"]
    assert two["mel"]["sample_rate"] == MEL.sample_rate and two["sampler"]["steps"] == 2
    assert two["guidance"] == 2 and two["decoder"]["n_iter"] == MEL.n_iter and not any(
        clip["redrawn"] for clip in two["clips"]
    )  # fmt: skip
    # The set's command line, run as written, makes the same set again (as a third set: nothing is replaced).
    words = shlex.split(one["command"])
    assert words[:3] == ["audiodiff", "generate", str(folder)] and "--redraw" in words
    again = invoke(*words[1:], "--device", "cpu")
    assert again.exit_code == 0, again.output
    for k in range(3):
        remade, _ = load_png(out / f"generated_{k + 5:03d}.png")
        assert np.array_equal(remade, load_png(out / f"generated_{k:03d}.png")[0]), k
    # One clip's own command makes it alone (up to float rounding: the set was sampled two clips at a time).
    alone = invoke(*shlex.split(one["clips"][2]["command"])[1:], "--device", "cpu")
    assert alone.exit_code == 0, alone.output
    difference = load_png(out / "generated_008.png")[0].astype(int) - load_png(out / "generated_002.png")[0]
    assert np.abs(difference).max() <= 2


def test_each_sampling_command_numbers_its_sets(folder, song, tmp_path):
    for _ in range(2):
        assert invoke("edit", folder, song, "--out", tmp_path, "--genre", "beats", "--strength", 0.3, "--steps", 2,
                      "--refine", 0, "--device", "cpu").exit_code == 0  # fmt: skip
        assert invoke("interpolate", folder, "--out", tmp_path, "--clips", 2, "--steps", 1, "--seed", 3,
                      "--device", "cpu").exit_code == 0  # fmt: skip
        assert invoke("inpaint", folder, song, "--out", tmp_path, "--loop", 0.05, "--steps", 1, "--device",
                      "cpu").exit_code == 0  # fmt: skip
    names = sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith("."))
    assert names == [
        "interpolation.wav", "interpolation_000-001.json", "interpolation_000.png", "interpolation_000.wav",
        "interpolation_001.png", "interpolation_001.wav", "interpolation_002-003.json", "interpolation_002-003.wav",
        "interpolation_002.png", "interpolation_002.wav", "interpolation_003.png", "interpolation_003.wav",
        "song_edit.json", "song_edit.png", "song_edit.wav", "song_edit_001.json", "song_edit_001.png",
        "song_edit_001.wav", "song_edit_001_source.png", "song_loop_000.json", "song_loop_000.png",
        "song_loop_000.wav", "song_loop_001.json", "song_loop_001.png", "song_loop_001.wav", "song_source.png",
    ]  # fmt: skip
    records = sets_of(tmp_path)
    assert records["interpolation_002-003.json"]["morph"] == "interpolation_002-003.wav"
    assert records["song_edit_001.json"]["source_image"] == "song_edit_001_source.png"
    loop = records["song_loop_001.json"]
    assert "--loop 0.05" in loop["command"] and loop["inputs"] == [str(song.resolve())]


@pytest.mark.parametrize(
    "name, old, new",
    [
        ("generate", ["--n", "3"], ["--clips", "3"]),
        ("vary", ["--n=2"], ["--clips", "2"]),
        ("inpaint", ["--n", "2"], ["--clips", "2"]),
        ("interpolate", ["--frames", "4"], ["--clips", "4"]),
        ("evaluate", ["--n", "6"], ["--clips", "6"]),
        ("train-classifier", ["--steps", "7"], ["--max-steps", "7"]),
        ("finetune", ["--from", "base"], ["base"]),
        ("distill", ["--from", "teacher"], ["teacher"]),
        ("train-vocoder", ["--from=pipe"], ["pipe"]),
        ("demo", ["--from", "base"], ["base"]),
    ],
)
def test_old_spellings_still_work_with_a_warning(name, old, new, tmp_path, capsys):
    """Each deprecated spelling is read as its new one (the same options reach the command) and warns in one line."""
    needs = {"vary": ["model", "in.wav"], "inpaint": ["model", "in.wav"], "generate": ["model"],
             "interpolate": ["model"], "evaluate": ["--generated", "g", "--reference", "r"],
             "train-classifier": ["--data", str(tmp_path)]}.get(name, [])  # fmt: skip
    arguments = [*needs, "--out", str(tmp_path / "out")]
    command = cli.commands[name]
    capsys.readouterr()
    with command.make_context(name, [*arguments, *new]) as context:
        expected = context.params
    assert capsys.readouterr().err == ""
    with command.make_context(name, [*arguments, *old]) as context:
        assert context.params == expected
    spelling = old[0].split("=")[0]
    if new[0].startswith("--"):
        warning = f"warning: {spelling} is deprecated, use {new[0]}"
    else:
        warning = f"warning: {spelling} is deprecated, give the model first: audiodiff {name} MODEL"
    assert capsys.readouterr().err.splitlines() == [warning]


def test_generate_with_the_old_n_makes_the_same_clips(folder, tmp_path):
    old = invoke("generate", folder, "--out", tmp_path / "old", "--n", 2, "--steps", 1, "--seed", 4, "--device", "cpu")
    new = invoke("generate", folder, "--out", tmp_path / "new", "--clips", 2, "--steps", 1, "--seed", 4, "--device",
                 "cpu")  # fmt: skip
    assert old.exit_code == 0 and new.exit_code == 0
    assert old.stderr.startswith("warning: --n is deprecated, use --clips\n") and "deprecated" not in new.stderr
    for k in range(2):
        png = f"generated_{k:03d}.png"
        assert np.array_equal(load_png(tmp_path / "old" / png)[0], load_png(tmp_path / "new" / png)[0])


def test_generate_48_khz_24_bit_at_minus_14_lufs(folder, tmp_path):
    """The output options: the file's rate, format and loudness (BS.1770-4) under a true-peak ceiling; the PNG is the
    model's, the same as without them; the set's command carries them."""
    from audiodiff.export import integrated_loudness, true_peak

    common = ["--seconds", 1.5, "--steps", 2, "--seed", 5, "--device", "cpu"]
    result = invoke("generate", folder, "--out", tmp_path / "daw", "--sample-rate", 48000, "--format", "wav24",
                    "--loudness", -14, "--true-peak", -2, *common)  # fmt: skip
    assert result.exit_code == 0, result.output
    plain = invoke("generate", folder, "--out", tmp_path / "plain", *common)
    assert plain.exit_code == 0, plain.output
    info = soundfile.info(tmp_path / "daw" / "generated_000.wav")
    assert info.samplerate == 48000 and info.subtype == "PCM_24"
    audio, _ = soundfile.read(tmp_path / "daw" / "generated_000.wav", dtype="float64")
    before = read(tmp_path / "plain" / "generated_000.wav")
    assert abs(len(audio) - len(before) * 48000 / MEL.sample_rate) <= 1
    assert abs(integrated_loudness(audio, 48000) - -14.0) < 0.2  # 16-bit/24-bit rounding and the limiter: 0.2 LU
    assert true_peak(audio, 48000) <= -2.0 + 0.05  # re-measured after 24-bit rounding
    assert np.array_equal(load_png(tmp_path / "daw" / "generated_000.png")[0],
                          load_png(tmp_path / "plain" / "generated_000.png")[0])  # fmt: skip
    record = sets_of(tmp_path / "daw")["generated_000.json"]
    assert record["output"] == {"sample_rate": 48000, "format": "wav24", "loudness": -14, "true_peak": -2}
    words = shlex.split(record["command"])
    for option, value in (("--sample-rate", "48000"), ("--format", "wav24"), ("--loudness", "-14"),
                          ("--true-peak", "-2")):  # fmt: skip
        assert words[words.index(option) + 1] == value
    flac = invoke("generate", folder, "--out", tmp_path / "daw", "--format", "flac", *common)
    assert flac.exit_code == 0 and soundfile.info(tmp_path / "daw" / "generated_001.flac").format == "FLAC"
    assert sets_of(tmp_path / "daw")["generated_001.json"]["clips"][0]["file"] == "generated_001.flac"
    decoded = invoke("decode", tmp_path / "plain" / "generated_000.png", "--mel-config", folder, "--out",
                     tmp_path / "decoded", "--sample-rate", 44100, "--format", "float", "--seed", 1)  # fmt: skip
    assert decoded.exit_code == 0, decoded.output
    info = soundfile.info(tmp_path / "decoded" / "generated_000.wav")
    assert info.samplerate == 44100 and info.subtype == "FLOAT"
