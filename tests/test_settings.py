"""`DrawSettings`: one job's settings, their command line, their JSON, and the keywords each job takes."""

import json
import shlex

import pytest

from audiodiff import sampling
from audiodiff.settings import DrawSettings


def test_job_arguments_follow_each_jobs_signature():
    settings = DrawSettings(count=3, seed=7, steps=5, genre="rock", guidance=2.5, seconds=12.0, overlap=1.5)
    generate = settings.job_arguments(sampling.generate)
    assert generate == {
        "count": 3, "seed": 7, "steps": 5, "genre": "rock", "guidance": 2.5, "seconds": 12.0,
        "overlap_seconds": 1.5, "batch_size": 4, "redraw": 0,
    }  # fmt: skip
    inpaint = settings.job_arguments(sampling.inpaint)
    assert "batch_size" not in inpaint and "seconds" not in inpaint and inpaint["count"] == 3
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
