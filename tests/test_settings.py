"""`DrawSettings`: one job's settings, their command line, their JSON, and the keywords each job takes."""

import dataclasses
import json
import shlex

import pytest

from audiodiff import sampling
from audiodiff.settings import DrawSettings


def test_job_arguments_follow_each_jobs_signature():
    settings = DrawSettings(count=3, seed=7, steps=5, genre="rock", guidance=2.5, seconds=12.0, overlap=1.5, bpm=120.0)
    generate = settings.job_arguments(sampling.generate)
    assert generate == {
        "count": 3, "seed": 7, "steps": 5, "genre": "rock", "guidance": 2.5, "seconds": 12.0,
        "overlap_seconds": 1.5, "batch_size": 4, "redraw": 0, "bpm": 120.0, "tempo_lock": None,
    }  # fmt: skip
    inpaint = settings.job_arguments(sampling.inpaint)
    assert "batch_size" not in inpaint and "seconds" not in inpaint and inpaint["count"] == 3
    assert "bpm" not in inpaint and "--bpm" not in settings.options("vary") and "--bpm" in settings.options("generate")
    assert settings.job_arguments(sampling.interpolate)["frames"] == 3


def test_command_line_lists_what_is_set_and_reads_back():
    settings = DrawSettings(count=2, seed=11, guidance=2.0, scheduler="dpm", genre="lo fi")
    line = settings.command_line("vary", "models/x y", "in.wav", out="clips", strength=0.5, loop=True, mask=None)
    words = shlex.split(line)
    assert words[:6] == ["audiodiff", "vary", "models/x y", "in.wav", "--out", "clips"]
    assert words[words.index("--clips") + 1] == "2" and words[words.index("--guidance") + 1] == "2"
    assert words[words.index("--genre") + 1] == "lo fi" and "--steps" not in words
    assert words[-3:] == ["--strength", "0.5", "--loop"]


def test_json_round_trip_and_refusals():
    settings = DrawSettings(count=2, seed=3, steps=10, seconds=0.1 + 0.2)
    assert DrawSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    with pytest.raises(ValueError, match="unknown draw setting 'sampler'"):
        DrawSettings.from_dict({"sampler": "dpm"})
    for bad in ({"count": 0}, {"seed": -1}, {"steps": 2.5}, {"guidance": float("nan")}, {"count": True}):
        with pytest.raises(ValueError):
            DrawSettings(**bad)


# One value of every setting, away from every default, for each sampling command's round trip.
EVERY_SETTING = DrawSettings(
    count=3, seed=41, steps=7, scheduler="dpm", genre="lo fi", guidance=2.5, seconds=0.1 + 0.2, overlap=0.05,
    n_iter=9, phase_init="pghi", vocoder="librosa", batch_size=2, redraw=1,
)  # fmt: skip
JOB_OPTIONS = {
    "generate": ((), {}),
    "vary": (("in.wav",), {"strength": 0.25, "offset": 1.5}),
    "inpaint": (("in.wav",), {"start": 0.1, "end": 0.2}),
    "interpolate": ((), {"to_seed": 9, "refine": 1}),
    "edit": (("in.wav",), {"source_genre": "pads", "strength": 0.4, "refine": 0, "offset": 0.5}),
}


@pytest.mark.parametrize("command", list(JOB_OPTIONS))
def test_the_command_line_reads_back_as_the_same_settings(command):
    """`DrawSettings.command_line`, parsed by the command itself, gives the settings it was made from: the studio's
    command and the JSON beside every set remake what they describe."""
    from audiodiff.cli import _sampling, common
    from audiodiff.cli.main import cli
    from audiodiff.export import OutputSettings
    from audiodiff.settings import COMMAND_FIELDS

    click_command = cli.commands[command]
    settings_fields = {field.name for field in dataclasses.fields(DrawSettings)}
    assert {param.name for param in click_command.params} & settings_fields == COMMAND_FIELDS[command]
    defaults = DrawSettings()
    settings = EVERY_SETTING.replace(
        **{name: getattr(defaults, name) for name in settings_fields - COMMAND_FIELDS[command]},
        **({"scheduler": "ddim"} if command == "edit" else {}),  # edit samples with DDIM only
    )
    inputs, extra = JOB_OPTIONS[command]
    output = OutputSettings(sample_rate=44100, format="flac", loudness=-14.5, true_peak=-1.5)
    for genre, written in (("lo fi", output), (1, OutputSettings())):
        settings = settings.replace(genre=genre)
        words = {**extra, **common.output_words(written)}
        words = shlex.split(settings.command_line(command, "runs/my model", *inputs, out="clips", **words))
        assert words[:3] == ["audiodiff", command, "runs/my model"]
        # Under the group's context, as `audiodiff COMMAND ...` parses it (click caches each command's help option
        # from the first context that asks: a parentless one would give CLI.md's render a bare --help).
        with click_command.make_context(
            command, words[2:], parent=cli.make_context("audiodiff", [], resilient_parsing=True)
        ) as context:
            options = dict(context.params)
        assert common.output_settings(options) == written  # taken out of the options, as the commands do
        parsed, rest = _sampling.draw_settings(options)
        assert parsed == settings
        assert {name: rest[name] for name in extra} == extra and str(rest["out_dir"]) == "clips"


def test_settings_split_from_options():
    settings, rest = DrawSettings.split({"count": 2, "seed": 5, "strength": 0.5, "out_dir": "x"})
    assert settings == DrawSettings(count=2, seed=5) and rest == {"strength": 0.5, "out_dir": "x"}
    assert "--batch-size" not in DrawSettings().options("inpaint") and "--clips" not in DrawSettings().options("edit")
    assert "--batch-size" in DrawSettings().options() and "--redraw" in DrawSettings().options("vary")


def test_the_cli_names_the_export_formats():
    from audiodiff.cli.common import OUTPUT_FORMATS
    from audiodiff.export import FORMATS

    assert OUTPUT_FORMATS == FORMATS


def test_a_commands_options_are_those_of_its_job():
    """`options("inpaint")` (by the command's name, the CLI's JSON) and `options(sampling.inpaint)` (by the job, the
    studio's command) list the same options."""
    jobs = {"generate": sampling.generate, "vary": sampling.vary, "inpaint": sampling.inpaint,
            "interpolate": sampling.interpolate, "edit": sampling.edit}  # fmt: skip
    for command, job in jobs.items():
        assert EVERY_SETTING.options(command) == EVERY_SETTING.options(job), command
    assert EVERY_SETTING.options(sampling.loop) == EVERY_SETTING.options("inpaint")
