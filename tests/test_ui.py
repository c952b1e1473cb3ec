"""The studio (`audiodiff ui`): what its buttons do (no browser), and the page itself driven in headless Chromium.

Tiny genre-conditioned pipeline (32x32 images, 8 kHz), 2-4 steps. The browser test needs Debian's chromium and
chromium-driver and the `ui` extra (gradio, selenium); it is skipped with the reason when they are missing, unless
AUDIODIFF_REQUIRE_BROWSER is set (`make test` sets it when it could install the browser), where it fails instead.
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from helpers import MEL, tiny_pipeline

from audiodiff.audio import AudioError, save_audio
from audiodiff.cli.main import cli
from audiodiff.sampling import INVERTIBLE_SCHEDULER
from audiodiff.schedulers import DEFAULT_SCHEDULER, SCHEDULERS
from audiodiff.settings import OPTIONS, DrawSettings
from audiodiff.synth import synthesize
from audiodiff.ui.actions import MAX_UPLOAD_BYTES, NO_GENRE, JobCancelled, Studio, page_settings
from audiodiff.ui.catalogue import Catalogue, find_pipelines

ROOT = Path(__file__).resolve().parent.parent
SLICE_SECONDS = (MEL.x_res - 1) * MEL.hop_length / MEL.sample_rate  # what one generated clip lasts


def _browser_tools():
    spec = importlib.util.spec_from_file_location("studio_screenshot", ROOT / "scripts" / "studio_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A folder with one pipeline (models/tiny, genres beats and pads), two songs and a text file named .wav."""
    root = tmp_path_factory.mktemp("studio")
    tiny_pipeline(genres=["beats", "pads"], scheduler="ddpm").save_pretrained(root / "models" / "tiny")
    save_audio(root / "song.wav", synthesize("pads", 0.6, MEL.sample_rate, seed=4), MEL.sample_rate)
    save_audio(root / "other.wav", synthesize("beats", 0.3, MEL.sample_rate, seed=5), MEL.sample_rate)
    (root / "notes.wav").write_text("these are my notes, not audio\n")
    return root


@pytest.fixture(scope="module")
def studio(workspace) -> Studio:
    return Studio(Catalogue([workspace / "models"], base=workspace), workspace / "clips")


def wav(path_or_bytes) -> tuple[np.ndarray, int]:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    audio, rate = soundfile.read(source, dtype="float32")
    return audio, rate


# --- without a browser --------------------------------------------------------------------------------------------
def test_only_listed_pipelines_can_be_loaded(tmp_path):
    for folder in ("a/base", "a/runs/x", "a/.hidden/p", "a/run/checkpoints/step_1", "a/1/2/3/4/5/deep"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "model_index.json").write_text("{}")
    assert find_pipelines(tmp_path / "a") == [tmp_path / "a/base", tmp_path / "a/runs/x"]
    catalogue = Catalogue([tmp_path / "a", "someone/hub-model"], base=tmp_path)
    assert catalogue.names() == ["a/base", "a/runs/x", "someone/hub-model"]
    with pytest.raises(ValueError, match="unknown model '/etc'"):
        catalogue.pipeline("/etc")
    with pytest.raises(ValueError, match="a/base"):  # listed, but not a loadable pipeline: one line
        catalogue.pipeline("a/base")
    # no argument: search the folder, then offer the shipped base model
    assert Catalogue([], base=tmp_path / "a").names() == ["base", "runs/x", "audiodiff-base-64"]


@pytest.mark.parametrize("kind", ["generate", "vary", "inpaint", "loop", "edit", "interpolate", "morph-clips"])
def test_each_result_is_remade_by_the_command_shown(studio, workspace, tmp_path, monkeypatch, kind):
    """The studio and the CLI call the same jobs: the command printed under a result writes the same WAV bytes."""
    shared = dict(guidance=2.0, steps=3, seed=11, n_iter=6)
    song, other = str(workspace / "song.wav"), str(workspace / "other.wav")
    reports = []
    progress = lambda *report: reports.append(report)  # noqa: E731
    if kind == "generate":
        settings = DrawSettings(genre="pads", scheduler="ddim", count=2, redraw=3, **shared)
        result = studio.generate("models/tiny", settings, progress=progress)
        expected = ["generated_000.wav", "generated_001.wav"]
    elif kind == "vary":
        settings = DrawSettings(genre="beats", scheduler="ddpm-fast", count=2, **shared)
        result = studio.vary("models/tiny", song, 0.6, 0.1, settings)
        expected = ["song_variation_000.wav", "song_variation_001.wav"]
    elif kind == "inpaint":
        result = studio.inpaint("models/tiny", song, 0.3, 0.4, DrawSettings(genre="pads", scheduler="dpm", **shared))
        expected = ["song_inpaint_000.wav"]
    elif kind == "loop":
        result = studio.loop("models/tiny", song, 0.05, 0.0, DrawSettings(scheduler="ddim", **shared))
        expected = ["song_loop_000.wav"]
    elif kind == "edit":
        result = studio.edit("models/tiny", song, "pads", 0.5, 0, 0.0, DrawSettings(genre="beats", **shared))
        expected = ["song_edit.wav"]
    elif kind == "interpolate":
        settings = DrawSettings(genre="beats", scheduler="ddim", count=3, **shared)
        result = studio.interpolate("models/tiny", None, 20, settings)
        expected = ["interpolation_000.wav", "interpolation_001.wav", "interpolation_002.wav"]
    else:
        result = studio.interpolate(
            "models/tiny", [song, other], None, DrawSettings(scheduler="ddim", count=3, **shared)
        )
        expected = ["interpolation_000.wav", "interpolation_001.wav", "interpolation_002.wav"]
    words = shlex.split(result.command)
    assert words[:3] == ["audiodiff", "generate" if kind == "generate" else words[1], "models/tiny"]
    words[words.index("--out") + 1] = str(tmp_path / "out")
    monkeypatch.chdir(workspace)  # the command names the model and the input files as the page showed them
    run = CliRunner().invoke(cli, words[1:], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    for record, name in zip(result.records, expected, strict=True):
        assert Path(record.wav).read_bytes() == (tmp_path / "out" / name).read_bytes(), name
        assert Path(record.picture).is_file() and record.command == result.command
    if kind.startswith("morph") or kind == "interpolate":
        assert Path(result.morph.wav).read_bytes() == (tmp_path / "out" / "interpolation.wav").read_bytes()
    if kind == "generate":
        assert reports[-1] == (1, 3, 3) and "--n-iter 6" in result.command and "--redraw 3" in result.command


def _parsed_settings(command: str) -> tuple[str, dict[str, Any]]:
    """The command's sub-command and the `DrawSettings` fields its options set, read by that command's own parser
    (click's, callbacks included, as `audiodiff` would read them)."""
    words = shlex.split(command)
    parser = cli.commands[words[1]]
    context = parser.make_context(words[1], words[2:], resilient_parsing=False)
    names = {option: parameter.name for parameter in parser.params for option in parameter.opts}
    given = {field: context.params[names[option]] for field, option in OPTIONS.items() if option in words}
    return words[1], given


@pytest.mark.parametrize("kind", ["generate", "vary", "inpaint", "loop", "edit", "interpolate"])
def test_the_command_shown_reads_back_as_the_same_settings(studio, workspace, monkeypatch, kind):
    """Every setting a job took is in its command, spelled so that the CLI reads back the very same values; the
    settings it does not take are left out (the command would refuse them)."""
    song = str(workspace / "song.wav")
    settings = page_settings("pads", 2.5, 2, "ddim", 7, 5, count=2, seconds=0.1 + 0.2, bpm=200)
    jobs = {
        "generate": lambda: studio.generate("models/tiny", settings),
        "vary": lambda: studio.vary("models/tiny", song, 0.3, 0.0, settings),
        "inpaint": lambda: studio.inpaint("models/tiny", song, 0.1, 0.2, settings),
        "loop": lambda: studio.loop("models/tiny", song, 0.05, 0.0, settings),
        "edit": lambda: studio.edit("models/tiny", song, NO_GENRE, 0.5, 0, 0.0, settings),
        "interpolate": lambda: studio.interpolate("models/tiny", None, None, settings),
    }
    monkeypatch.chdir(workspace)  # the command names the model as the page showed it
    command, given = _parsed_settings(jobs[kind]().command)
    taken = {  # the fields of each job besides those of the pipeline (scheduler, decoder)
        "generate": {"count", "seed", "steps", "genre", "guidance", "seconds", "bpm", "batch_size", "redraw"},
        "vary": {"count", "seed", "steps", "genre", "guidance", "batch_size", "redraw"},
        "inpaint": {"count", "seed", "steps", "genre", "guidance"},
        "loop": {"count", "seed", "steps", "genre", "guidance"},
        "edit": {"seed", "steps", "genre", "guidance"},
        "interpolate": {"count", "seed", "steps", "genre", "guidance"},
    }[kind]
    expected = settings.replace(scheduler=INVERTIBLE_SCHEDULER) if kind == "edit" else settings
    assert set(given) == taken | {"scheduler", "n_iter"}
    assert DrawSettings(**given) == DrawSettings(**{field: getattr(expected, field) for field in given})
    assert command == ("inpaint" if kind == "loop" else kind)
    if kind == "generate":
        assert given["seconds"] == 0.1 + 0.2  # exactly the number the job used, not 0.3


def test_bad_input_is_a_one_line_error(studio, workspace):
    with pytest.raises(AudioError, match=r"^notes.wav: not readable as audio"):
        studio.vary("models/tiny", str(workspace / "notes.wav"), 0.5, 0.0, DrawSettings(steps=2))
    with pytest.raises(ValueError, match="unknown genre 'jazz'"):
        studio.generate("models/tiny", DrawSettings(genre="jazz", steps=2))
    with pytest.raises(ValueError, match=r"is not inside the clip \(0..0.60 s\)"):  # the clip is too short
        studio.inpaint("models/tiny", str(workspace / "song.wav"), 0.5, 0.9, DrawSettings(steps=2))
    with pytest.raises(ValueError, match="unknown model"):
        studio.model_info("../../etc")


def test_auto_steps_are_those_of_the_sampler_the_folder_recommends(tmp_path):
    """Sampler "auto" uses the folder's recommended sampler, so the page's default steps are that sampler's, or the
    steps the folder measured for it."""
    slow = tiny_pipeline(genres=["beats"], scheduler="ddpm")
    slow.sampler = "ddim"  # 50 steps by default, against the default sampler's 20
    slow.save_pretrained(tmp_path / "models" / "slow")
    tiny_pipeline(genres=["beats"], scheduler="ddpm").save_pretrained(tmp_path / "models" / "plain")
    measured = tiny_pipeline(genres=["beats"], scheduler="ddpm")
    measured.sampler, measured.sampler_steps = "dpm", 35  # steps measured best for the folder's own sampler
    measured.save_pretrained(tmp_path / "models" / "measured")
    studio = Studio(Catalogue([tmp_path / "models"], base=tmp_path), tmp_path / "clips")
    assert SCHEDULERS["ddim"].steps != SCHEDULERS[DEFAULT_SCHEDULER].steps
    assert studio.steps_for("models/slow", "auto") == SCHEDULERS["ddim"].steps
    assert studio.steps_for("models/plain", "auto") == SCHEDULERS[DEFAULT_SCHEDULER].steps
    assert studio.steps_for("models/slow", "dpm") == SCHEDULERS["dpm"].steps
    assert studio.steps_for("models/measured", "auto") == studio.steps_for("models/measured", "dpm") == 35
    assert studio.steps_for("models/measured", "ddim") == SCHEDULERS["ddim"].steps


def test_the_studio_follows_the_folders_recommended_guide_as_the_cli_does(workspace, tmp_path, monkeypatch):
    """A fine-tune whose folder recommends sampling guided by its base: the page says so, its jobs are guided as
    `audiodiff generate` is by default (the command shown makes the same bytes, and differs from --guide none),
    including a job that inverts a clip with DDIM (edit)."""
    tiny_pipeline(genres=["beats"], scheduler="ddpm").save_pretrained(tmp_path / "base")
    tuned = tiny_pipeline(genres=["beats", "mine"], scheduler="ddpm", training={"pretrained": str(tmp_path / "base")},
                          recommended_guide={"model": "base", "scale": 1.5})  # fmt: skip
    tuned.save_pretrained(tmp_path / "models" / "tuned")
    studio = Studio(Catalogue([tmp_path / "models"], base=tmp_path), tmp_path / "clips")
    assert "guided by its base at 1.5" in studio.model_info("models/tuned").description
    settings = DrawSettings(genre="mine", scheduler="ddim", steps=3, seed=2, n_iter=6)
    song = tmp_path / "song.wav"
    song.write_bytes((workspace / "song.wav").read_bytes())
    song = str(song)
    monkeypatch.chdir(tmp_path)
    for kind, result in (("generate", studio.generate("models/tuned", settings)),
                         ("edit", studio.edit("models/tuned", song, "beats", 0.5, 0, 0.0, settings))):  # fmt: skip
        words = shlex.split(result.command)
        assert "--guide" not in words
        made = {}
        for variant, extra in (("same", []), ("none", ["--guide", "none"])):
            words[words.index("--out") + 1] = str(tmp_path / kind / variant)
            run = CliRunner().invoke(cli, [*words[1:], *extra], catch_exceptions=False)
            assert run.exit_code == 0, run.output
            made[variant] = next((tmp_path / kind / variant).glob("*.wav")).read_bytes()
        assert Path(result.records[0].wav).read_bytes() == made["same"]
        assert made["same"] != made["none"]
    assert studio.catalogue.pipeline("models/tuned").guide is None  # set per job, not left on the shared pipeline
    info = studio.model_info("models/tuned")
    assert info.guide_scale == 1.5 and info.guidable

    # The page's guide control as the CLI's options: the folder's scale is no option, 1 is --guide none, another
    # scale is --guide-scale (the recommended guide at it); each result is what its command makes.
    def page(scale):
        return page_settings("mine", 1, 3, "ddim", 2, 6, **studio.guide_settings("models/tuned", scale))

    assert [(page(w).guide, page(w).guide_scale) for w in (1.5, 1.0, 2.0)] == [(None, None), ("none", None),
                                                                             (None, 2.0)]  # fmt: skip
    for scale, option in ((1.0, "--guide none"), (2.0, "--guide-scale 2")):
        result = studio.generate("models/tuned", page(scale))
        assert option in result.command
        words = shlex.split(result.command)
        words[words.index("--out") + 1] = str(tmp_path / "page" / str(scale))
        assert CliRunner().invoke(cli, words[1:], catch_exceptions=False).exit_code == 0
        made_there = next((tmp_path / "page" / str(scale)).glob("*.wav")).read_bytes()
        assert Path(result.records[0].wav).read_bytes() == made_there
    tiny_pipeline(genres=["beats"], scheduler="ddpm").save_pretrained(tmp_path / "models" / "plain")
    plain = Studio(Catalogue([tmp_path / "models"], base=tmp_path), tmp_path / "clips2")
    assert plain.model_info("models/plain").guide_scale is None and not plain.model_info("models/plain").guidable
    assert page_settings("beats", 1, 3, "ddim", 2, 6, **plain.guide_settings("models/plain", 1.0)).guide is None


def test_model_info_preview_and_commands(studio, workspace):
    info = studio.model_info("models/tiny")
    assert info.genres == ["beats", "pads"] and "32x32 spectrograms" in info.description and info.n_iter == MEL.n_iter
    assert studio.steps_for("models/tiny", "ddpm-fast") == 20
    assert studio.steps_for("models/tiny", "saved") == 1000  # the folder's DDPM scheduler
    shown = studio.preview("models/tiny", str(workspace / "song.wav"), highlight=(0.1, 0.2))
    assert Path(shown.picture).is_file() and shown.seconds == pytest.approx(0.6, abs=0.01)
    assert shown.highlight == (0.1, 0.2) and shown.seconds_floor == 0.6
    outside = studio.preview("models/tiny", str(workspace / "other.wav"), highlight=(1.0, 2.0))
    assert outside.highlight == (0.12, 0.18)  # a range outside the 0.3 s clip moves to its middle
    # the page's controls as a job's settings: "(no genre)" is none, 0 seconds one slice, floats made whole
    settings = page_settings(NO_GENRE, 1, 4.0, "auto", 3.0, 32.0, count=2.0, seconds=0, bpm=0)
    assert settings == DrawSettings(count=2, seed=3, steps=4, scheduler="auto", n_iter=32, redraw=3)  # 0 BPM: none
    with pytest.raises(ValueError, match="enter a seed"):
        page_settings("pads", 1, 4, "auto", None, 32)
    with pytest.raises(ValueError, match="leave phase_init and vocoder unset"):  # the studio cannot decode otherwise
        studio.generate("models/tiny", settings.replace(vocoder="griffinlim"))


def test_ui_command_says_how_to_install_gradio(monkeypatch, workspace):
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if it were not installed
    result = CliRunner().invoke(cli, ["ui", str(workspace / "models")])
    assert result.exit_code == 1 and "pip install 'audiodiff[ui]'" in result.output
    assert "Traceback" not in result.output


def test_ui_offers_the_shipped_base_model_where_no_pipeline_is_found(tmp_path):
    assert Catalogue([], base=tmp_path).names() == ["audiodiff-base-64"]


def test_page_errors_are_the_library_message():
    gradio = pytest.importorskip("gradio", reason="the ui extra is not installed (pip install 'audiodiff[ui]')")
    from audiodiff.ui.handlers import errors_as_messages

    def failing():
        raise AudioError("song.m4a", "unsupported format .m4a\nsecond line")

    with pytest.raises(gradio.Error) as caught:
        errors_as_messages(failing)()
    assert caught.value.message == "song.m4a: unsupported format .m4a"


# --- in a real browser --------------------------------------------------------------------------------------------
def _browser_or_skip():
    tools = _browser_tools()
    reason = tools.missing_browser()
    if reason is None and importlib.util.find_spec("gradio") is None:
        reason = "gradio is not installed (pip install 'audiodiff[ui]')"
    if reason:
        if os.environ.get("AUDIODIFF_REQUIRE_BROWSER"):
            pytest.fail(f"the browser test must run here (AUDIODIFF_REQUIRE_BROWSER is set): {reason}")
        pytest.skip(f"no browser to drive: {reason}")
    return tools


def fetch_wav(url: str) -> tuple[np.ndarray, int]:
    assert url.startswith("http://127.0.0.1:"), url
    with urllib.request.urlopen(url, timeout=30) as response:
        return wav(response.read())


def test_studio_in_a_real_browser(workspace, tmp_path, monkeypatch):
    tools = _browser_or_skip()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from audiodiff.ui.app import launch

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    port = tools.free_port()
    studio = Studio(Catalogue([workspace / "models"], base=workspace), tmp_path / "clips")
    app = launch(studio, port=port, block=False, quiet=True)
    assert app.max_file_size == MAX_UPLOAD_BYTES and not app.share
    driver = tools.chromium(tmp_path / "profile")
    base = f"http://127.0.0.1:{port}"
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(base + "/")
        wait.until(lambda page: "genres: beats, pads" in page.find_element(By.ID, "model-info").text)
        # a model with no base to be guided by: the guide control stays at 1 (off) and cannot be moved
        guide = driver.find_element(By.CSS_SELECTOR, "#guide input[type=range]")
        assert guide.get_attribute("value") == "1" and not guide.is_enabled()

        # Generate: pick a genre, fewer steps, two clips; the player's WAV is one slice of sound.
        tools.choose(driver, "genre", "pads")
        tools.set_number(driver, "steps", 4)
        tools.set_number(driver, "count", 2)
        driver.find_element(By.ID, "generate-button").click()
        audio, rate = fetch_wav(tools.player_file(driver, "generate-player"))
        assert rate == MEL.sample_rate and len(audio) / rate == pytest.approx(SLICE_SECONDS, abs=1e-3)
        assert np.sqrt(np.mean(audio**2)) > 1e-3  # not silent
        command = driver.find_element(By.ID, "generate-command").text
        assert "audiodiff generate models/tiny --out clips --clips 2" in command and "--genre pads" in command
        assert "--steps 4" in command
        wait.until(lambda page: len(page.find_elements(By.CSS_SELECTOR, "#generate-gallery img")) == 2)
        driver.save_screenshot(str(tmp_path / "studio.png"))

        # Vary an uploaded WAV.
        driver.find_element(By.XPATH, "//button[@role='tab' and contains(., 'Vary')]").click()
        driver.find_element(By.CSS_SELECTOR, "#vary-upload input[type=file]").send_keys(str(workspace / "song.wav"))
        wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#vary-preview img"))
        driver.find_element(By.ID, "vary-button").click()
        audio, rate = fetch_wav(tools.player_file(driver, "vary-player"))
        assert len(audio) / rate == pytest.approx(SLICE_SECONDS, abs=1e-3) and np.sqrt(np.mean(audio**2)) > 1e-3
        assert "audiodiff vary models/tiny song.wav" in driver.find_element(By.ID, "vary-command").text

        # A text file named .wav: the page says what is wrong with it, in the library's words.
        driver.find_element(By.XPATH, "//button[@role='tab' and contains(., 'Edit')]").click()
        driver.find_element(By.CSS_SELECTOR, "#edit-upload input[type=file]").send_keys(str(workspace / "notes.wav"))
        wait.until(lambda page: "notes.wav: not readable as audio" in page.find_element(By.TAG_NAME, "body").text)
        assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text

        # The session's history holds all four clips; nothing was fetched from anywhere but the studio.
        driver.find_element(By.XPATH, "//button[@role='tab' and contains(., 'History')]").click()
        wait.until(lambda page: len(page.find_elements(By.CSS_SELECTOR, "#history-gallery img")) == 4)
        requested = driver.execute_script("return performance.getEntriesByType('resource').map(entry => entry.name)")
        assert requested and all(name.startswith(base) for name in requested), requested
        # and the server hands out its clips, not the files around them
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(f"{base}/gradio_api/file={workspace / 'models/tiny/model_index.json'}", timeout=10)
    finally:
        driver.quit()
        app.close()
        studio.close()


# --- what the studio keeps, and jobs nobody waits for ----------------------------------------------------------------
def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_steps_beyond_the_training_timesteps_are_refused_before_any_work(studio, workspace):
    """Ten million steps once took the studio from 0.95 to 8.1 GB; now the job refuses them at once, in the library's
    words, before it builds a schedule or even reads the clip."""
    before, started = _rss_bytes(), time.monotonic()
    with pytest.raises(ValueError, match=r"^steps must be a whole number from 1 to 1000 .*got 10000000$"):
        studio.generate("models/tiny", DrawSettings(genre="pads", steps=10_000_000))
    with pytest.raises(ValueError, match="^steps must be a whole number from 1 to 1000"):  # not "no such file"
        studio.vary("models/tiny", str(workspace / "missing.wav"), 0.5, 0.0, DrawSettings(steps=10_000_000))
    assert time.monotonic() - started < 5 and _rss_bytes() - before < 64 * 1024**2


def test_the_studio_keeps_its_files_private_capped_and_removes_them(workspace, tmp_path):
    """Uploads and clips once piled up in Gradio's cache, world-readable, after the studio stopped. Now they stay in
    the studio's folder (0700, files 0600), under its cap (the oldest go first), until `close` removes it."""
    folder = tmp_path / "studio"
    studio = Studio(Catalogue([workspace / "models"], base=workspace), folder, max_kept_bytes=30_000)
    upload = folder / "0123abcd" / "song.wav"  # where Gradio puts an upload: a folder named by its hash
    upload.parent.mkdir(mode=0o755)
    upload.write_bytes(b"\0" * 29_000)
    upload.chmod(0o644)
    os.utime(upload, (time.time() - 60, time.time() - 60))  # uploaded a minute ago
    first = studio.generate("models/tiny", DrawSettings(genre="pads", steps=2, scheduler="ddim", count=2))
    assert not upload.exists()  # the oldest file went first once the clips took the folder past its cap
    written = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    studio.max_kept_bytes = int(written * 1.5)
    second = studio.generate("models/tiny", DrawSettings(genre="beats", steps=2, scheduler="ddim", seed=1, count=2))
    kept = [path for path in folder.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in kept) <= studio.max_kept_bytes
    assert all(Path(record.wav).is_file() for record in second.records)  # the newest clips stay
    assert not Path(first.records[0].wav).exists()
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in [folder, *folder.rglob("*")]}
    assert all(mode == (0o700 if path.is_dir() else 0o600) for path, mode in modes.items()), modes
    studio.close()
    assert not folder.exists()
    with pytest.raises(JobCancelled):  # a closed studio runs nothing more
        studio.generate("models/tiny", DrawSettings(genre="pads", steps=2, scheduler="ddim"))


class Queue:
    """Gradio's queue over plain HTTP, as the page uses it: join an event, then read the session's event stream."""

    def __init__(self, base: str):
        self.base = base
        with urllib.request.urlopen(base + "/config", timeout=30) as response:
            config = json.loads(response.read())
        self.functions = {entry.get("api_name"): entry["id"] for entry in config["dependencies"]}

    def join(self, name: str, data: list, session: str) -> str:
        body = {"data": data, "fn_index": self.functions[name], "session_hash": session, "event_data": None,
                "trigger_id": None}  # fmt: skip
        request = urllib.request.Request(self.base + "/gradio_api/queue/join", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["event_id"]

    def stream(self, session: str) -> tuple[http.client.HTTPConnection, Any]:
        """The session's messages (after `join`), one dict at a time; closing the connection leaves as a closed tab
        does."""
        host, port = self.base.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        connection.request("GET", f"/gradio_api/queue/data?session_hash={session}")
        response = connection.getresponse()

        def messages():
            for line in response:
                if line.startswith(b"data:"):
                    yield json.loads(line[5:])

        return connection, messages()

    def cancel(self, name: str, session: str, event_id: str) -> None:
        body = {"fn_index": self.functions[name], "session_hash": session, "event_id": event_id}
        request = urllib.request.Request(self.base + "/gradio_api/cancel", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})  # fmt: skip
        urllib.request.urlopen(request, timeout=60).close()


def _generate_inputs(steps: int, count: int = 1) -> list:
    # model, genre, guidance, steps, sampler, seed, n_iter, guide scale, seconds, tempo (0: none), count, history
    return ["models/tiny", NO_GENRE, 1, steps, "ddim", 0, 4, 1, 0, 0, count, None]


def test_jobs_nobody_waits_for_stop(workspace, tmp_path, monkeypatch):
    """Through the HTTP API on 127.0.0.1, as a page (or a script past the page) talks to the studio: ten million steps
    are refused with the library's message; a job whose page closes its stream, or cancels it, stops at the next
    step and frees the queue."""
    pytest.importorskip("gradio", reason="the ui extra is not installed (pip install 'audiodiff[ui]')")
    from audiodiff.ui.app import launch

    studio = Studio(Catalogue([workspace / "models"], base=workspace), tmp_path / "studio")
    outcomes, reports, done = [], [], threading.Event()
    generate = studio.generate

    def watched(*arguments, progress, **keywords):  # what the job did, seen from the studio
        def report(*values):
            reports.append(values)
            progress(*values)

        try:
            return generate(*arguments, progress=report, **keywords)
        except BaseException as error:
            outcomes.append(error)
            raise
        finally:
            done.set()

    studio.generate = watched
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(studio.folder))  # launch sets it: restored after the test
    port = _browser_tools().free_port()
    app = launch(studio, port=port, block=False, quiet=True)
    queue = Queue(f"http://127.0.0.1:{port}")
    try:
        before, started = _rss_bytes(), time.monotonic()
        queue.join("run_generate", _generate_inputs(10_000_000), session := "refused")
        connection, messages = queue.stream(session)
        final = next(message for message in messages if message["msg"] == "process_completed")
        connection.close()
        assert not final["success"] and final["output"]["error"].startswith("steps must be a whole number from 1")
        assert "\n" not in final["output"]["error"] and time.monotonic() - started < 10
        assert _rss_bytes() - before < 64 * 1024**2
        for way in ("closed page", "cancel"):
            outcomes.clear(), reports.clear(), done.clear()
            event_id = queue.join("run_generate", _generate_inputs(1000, count=8), session := way.replace(" ", "-"))
            connection, messages = queue.stream(session)
            next(message for message in messages if message["msg"] == "progress")  # it has started sampling
            at = len(reports)
            if way == "cancel":
                queue.cancel("run_generate", session, event_id)
            connection.close()
            assert done.wait(30), f"{way}: the job went on"
            assert isinstance(outcomes[0], JobCancelled) and len(reports) < 1000, (way, len(reports), outcomes)
            assert len(reports) - at < 100  # it stopped at a step soon after, not at the end
        # and the queue is free for the next job
        queue.join("run_generate", _generate_inputs(2), session := "next")
        connection, messages = queue.stream(session)
        final = next(message for message in messages if message["msg"] == "process_completed")
        connection.close()
        assert final["success"], final
    finally:
        app.close()
        studio.close()


def test_the_studio_command_stops_cleanly_and_leaves_nothing(workspace, tmp_path):
    """`audiodiff ui` in its own process: uploads and clips are private, SIGTERM in the middle of a job ends it with
    status 0 (the job stops at its next step; torch's threads are not killed mid-operation) and the folder is gone."""
    pytest.importorskip("gradio", reason="the ui extra is not installed (pip install 'audiodiff[ui]')")
    port = _browser_tools().free_port()
    temporary = tmp_path / "tmp"  # the studio's TMPDIR: whatever it leaves behind is seen here
    temporary.mkdir()
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TMPDIR": str(temporary)}
    command = [sys.executable, "-m", "audiodiff.cli.main", "ui", "models", "--port", str(port), "--device", "cpu"]
    with (tmp_path / "out.txt").open("w") as out, (tmp_path / "err.txt").open("w") as err:
        studio = subprocess.Popen(command, cwd=workspace, env=environment, stdout=out, stderr=err)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(1200):  # the page answers once Gradio is up
            try:
                urllib.request.urlopen(base + "/config", timeout=5).close()
                break
            except OSError:
                assert studio.poll() is None, (tmp_path / "err.txt").read_text()
                time.sleep(0.1)
        (folder,) = temporary.glob("audiodiff-studio-*")
        assert f"uploads and clips: {folder} " in (tmp_path / "out.txt").read_text()
        queue = Queue(base)
        boundary = "studio-test-boundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"song.wav\"\r\n"
                f"Content-Type: audio/wav\r\n\r\n").encode() + (workspace / "song.wav").read_bytes() + (
                f"\r\n--{boundary}--\r\n").encode()  # fmt: skip
        request = urllib.request.Request(base + "/gradio_api/upload", body,
                                         {"Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            uploaded = Path(json.loads(response.read())[0])
        queue.join("run_generate", _generate_inputs(2), session := "clips")
        connection, messages = queue.stream(session)
        final = next(message for message in messages if message["msg"] == "process_completed")
        connection.close()
        assert final["success"], final
        assert uploaded.is_file() and uploaded.is_relative_to(folder)
        made = [path for path in folder.rglob("*") if path.is_file()]
        assert any(path.suffix == ".wav" and "generate" in path.name for path in made), made
        modes = {path: stat.S_IMODE(path.stat().st_mode) for path in [folder, *folder.rglob("*")]}
        assert all(mode == (0o700 if path.is_dir() else 0o600) for path, mode in modes.items()), modes

        queue.join("run_generate", _generate_inputs(1000, count=8), session := "long")
        connection, messages = queue.stream(session)
        next(message for message in messages if message["msg"] == "progress")  # the job is sampling
        studio.send_signal(signal.SIGTERM)
        assert studio.wait(timeout=60) == 0
        connection.close()
    finally:
        if studio.poll() is None:
            studio.kill()
        studio.wait()
    errors = (tmp_path / "err.txt").read_text()
    assert "terminate called" not in errors, errors
    assert not folder.exists() and not any(temporary.iterdir()), list(temporary.rglob("*"))
