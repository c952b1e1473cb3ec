"""audiodiff.sampling: the jobs shared by the CLI and the studio (tiny pipelines, 2-4 steps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler
from helpers import MEL, clip, tiny_pipeline, tiny_unet
from test_beats import drums

from audiodiff import sampling
from audiodiff.codec import pixels_to_model
from audiodiff.config import MelConfig
from audiodiff.pipeline import AudioDiffusionPipeline


def test_generate_seeds_clip_k_with_seed_plus_k_and_reports_progress():
    pipe = tiny_pipeline(genres=["beats", "pads"])
    reports = []
    clips = sampling.generate(pipe, count=3, seed=5, steps=2, genre="pads", batch_size=2,
                              progress=lambda *report: reports.append(report))  # fmt: skip
    assert clips.audios.shape == (3, (MEL.x_res - 1) * MEL.hop_length) and clips.images.shape == (3, 32, 32)
    assert clips.seeds == [5, 6, 7] and clips.sample_rate == MEL.sample_rate and len(clips) == 3
    # two batches of two steps: (run, step, steps), the last report of each run says it is done
    assert reports == [(1, 0, 2), (1, 1, 2), (1, 2, 2), (2, 0, 2), (2, 1, 2), (2, 2, 2)]
    assert "progress_bar" not in vars(pipe)  # the pipeline's own progress bar is back
    alone = sampling.generate(pipe, count=1, seed=7, steps=2, genre="pads")
    assert np.abs(alone.images[0].astype(int) - clips.images[2].astype(int)).max() <= 2


def test_jobs_raise_one_line_value_errors():
    pipe = tiny_pipeline(genres=["beats"])
    with pytest.raises(ValueError, match="unknown genre 'jazz'"):
        sampling.generate(pipe, steps=1, genre="jazz")
    with pytest.raises(ValueError, match="is not inside the clip"):
        sampling.inpaint(pipe, clip(0.2), 0.1, 0.5, steps=1)
    with pytest.raises(ValueError, match="outside the clip"):
        sampling.vary(pipe, clip(0.2), offset_seconds=3.0, steps=1)
    with pytest.raises(ValueError, match="at least 1"):
        sampling.set_griffin_lim_iterations(pipe, 0)


def test_decoder_iterations_change_the_audio_not_the_picture():
    pipe = tiny_pipeline()
    sampling.set_griffin_lim_iterations(pipe, 1)
    few = sampling.generate(pipe, seed=1, steps=2)
    sampling.set_griffin_lim_iterations(pipe, None)
    assert pipe.codec().vocoder.n_iter == MEL.n_iter
    default = sampling.generate(pipe, seed=1, steps=2)
    assert np.array_equal(few.images, default.images) and not np.allclose(few.audios, default.audios)


def test_inpaint_loop_edit_and_interpolate():
    pipe = tiny_pipeline(genres=["beats", "pads"])
    song = clip(0.6)
    inpainted = sampling.inpaint(pipe, song, 0.3, 0.4, count=2, seed=3, steps=2)
    assert inpainted.audios.shape == (2, len(song)) and inpainted.seeds == [3, 4]
    assert np.array_equal(inpainted.audios[0][: int(0.15 * MEL.sample_rate)], song[: int(0.15 * MEL.sample_rate)])
    looped = sampling.loop(pipe, song, 0.05, steps=2)
    assert looped.audios.shape == (1, MEL.x_res * MEL.hop_length)
    pipe.set_scheduler(sampling.INVERTIBLE_SCHEDULER)
    edited, source = sampling.edit(pipe, song, genre="beats", source_genre="pads", strength=0.5, steps=3, refinements=0)
    assert edited.images.shape == (1, 32, 32) and source.shape == (32, 32)
    morph = sampling.interpolate(pipe, frames=3, clips=[song, clip(0.3)], steps=2, refinements=0)
    assert morph.audios.shape[0] == 3 and morph.seeds == [0, 1, 2]


# A pipeline whose slice holds two 4/4 bars at 120 bpm: 512 columns of 64 samples at 8 kHz (4.1 s).
BAR_MEL = MelConfig(x_res=512, y_res=32, sample_rate=8000, n_fft=256, hop_length=64, n_iter=4)


def bar_pipeline() -> AudioDiffusionPipeline:
    pipe = AudioDiffusionPipeline(unet=tiny_unet(size=(32, 512)), scheduler=DDPMScheduler(), mel_config=BAR_MEL)
    pipe.set_progress_bar_config(disable=True)
    return pipe.set_scheduler("ddim")


def _wraps_without_a_click(audio: np.ndarray) -> bool:
    """The last sample flows into the first: no bigger step there than among the 127 steps around it."""
    around = np.abs(np.diff(np.concatenate([audio[-64:], audio[:64]])))
    return around[63] <= np.delete(around, 63).max()


def test_bar_loops_are_whole_bars_from_the_downbeat():
    pipe = bar_pipeline()
    rate = BAR_MEL.sample_rate
    song = drums(120, 12.0, rate, start=0.25)
    looped = sampling.loop(pipe, song, 0.05, bars="auto", count=2, seed=3, steps=2)
    found = looped.bars
    # "auto": two 2 s bars fit in the 4.1 s slice, three would not
    assert found.bars == 2 and found.beats_per_bar == 4 and found.tempo_bpm == pytest.approx(120, rel=0.02)
    assert found.offset_seconds == pytest.approx(0.25, abs=0.03)
    # exactly two bars at the tempo read (within one hop of two bars at the true tempo)
    assert found.samples == round(2 * 4 * 60 / found.tempo_bpm * rate)
    assert abs(found.samples - 2 * 2.0 * rate) <= BAR_MEL.hop_length
    assert looped.audios.shape == (2, found.samples) and looped.seeds == [3, 4]
    assert looped.images.shape == (2, 32, 512) and looped.audios.dtype == np.float32
    bars = song[2000 : 2000 + found.samples].astype(np.float32)
    # the seam (0.05 s) and its 0.1 s cross-fades around the wrap are regenerated; the rest is the input's bars,
    # starting on the downbeat, sample for sample
    kept = slice(int(0.13 * rate), found.samples - int(0.13 * rate))
    for audio in looped.audios:
        np.testing.assert_array_equal(audio[kept], bars[kept])
        assert not np.array_equal(audio[:100], bars[:100])
        assert _wraps_without_a_click(audio)
    assert not np.array_equal(looped.audios[0][:1000], looped.audios[1][:1000])  # seeds 3 and 4
    # one bar from the first downbeat after 5 s, the seam one beat wide (0.5 s)
    one = sampling.loop(pipe, song, None, offset_seconds=5.0, bars=1, steps=2)
    assert one.bars.bars == 1 and one.bars.offset_seconds == pytest.approx(6.25, abs=0.03)
    assert one.audios.shape == (1, round(4 * 60 / one.bars.tempo_bpm * rate))
    start = round(one.bars.offset_seconds * rate)
    kept = slice(int(0.36 * rate), one.bars.samples - int(0.36 * rate))
    np.testing.assert_array_equal(one.audios[0][kept], song[start : start + one.bars.samples].astype(np.float32)[kept])
    # without bars: today's loop, one slice long
    plain = sampling.loop(pipe, song, 0.05, steps=2)
    assert plain.bars is None and plain.audios.shape == (1, BAR_MEL.x_res * BAR_MEL.hop_length)


def test_bars_longer_than_the_slice():
    """The tiny pipeline's slice is 0.26 s: a 4 s loop of two bars, its seam regenerated in one slice around the join
    (the seam clamped to what the slice holds besides its cross-fades)."""
    song = drums(120, 12.0, MEL.sample_rate)
    looped = sampling.loop(tiny_pipeline(), song, 0.05, bars=2, steps=2)
    samples = looped.bars.samples
    assert looped.bars.bars == 2 and abs(samples - 4 * MEL.sample_rate) <= MEL.hop_length
    assert looped.audios.shape == (1, samples) and looped.images.shape == (1, 32, 32)
    kept = slice(int(0.13 * MEL.sample_rate), samples - int(0.13 * MEL.sample_rate))
    np.testing.assert_array_equal(looped.audios[0][kept], song[:samples].astype(np.float32)[kept])
    assert _wraps_without_a_click(looped.audios[0])
    auto = sampling.loop(tiny_pipeline(), song, 0.05, bars="auto", steps=2)
    assert auto.bars.bars == 1  # at least one bar, however short the slice


@pytest.mark.parametrize(
    "bars, audio, message",
    [
        (9, "drums", r"9 bars \(18.00 s at 120.0 bpm, 4 beats a bar\) do not fit in the 12.00 s allowed: at most 6"),
        (0, "drums", "bars must be a whole number of at least 1 or 'auto', got 0"),
        ("all", "drums", "bars must be a whole number of at least 1 or 'auto', got 'all'"),
        ("auto", "silence", r"no beat found: the audio \(5.00 s\) is silent"),
    ],
)
def test_bar_loop_errors(bars, audio, message):
    song = drums(120, 12.0, 8000) if audio == "drums" else np.zeros(5 * 8000)
    with pytest.raises(ValueError, match=message):
        sampling.loop(tiny_pipeline(), song, 0.05, bars=bars, steps=2)


def test_join_clips_cross_fades_without_clicks():
    rate = 1000
    tone = np.sin(2 * np.pi * 50 * np.arange(500) / rate).astype(np.float32)
    joined = sampling.join_clips(np.stack([tone, tone, tone]), rate, crossfade_seconds=0.05)
    assert joined.shape == (3 * 500 - 2 * 50,)
    assert np.abs(np.diff(joined)).max() <= np.abs(np.diff(tone)).max() * 1.5
    assert sampling.join_clips(np.stack([tone]), rate).shape == (500,)


def test_clips_failing_the_artefact_check_are_drawn_again_from_unused_seeds():
    from audiodiff.evaluation.artifacts import Fences, clip_reasons

    pipe = tiny_pipeline()  # untrained: its clips are noise
    assert pipe.check_clips(torch.zeros(1, 1, 32, 32)) is None  # no fences stored: nothing to check against
    unchecked = sampling.generate(pipe, count=2, seed=3, steps=2, redraw=2)
    assert not unchecked.checked and unchecked.redrawn == [] and unchecked.seeds == [3, 4]
    raw = sampling.generate(pipe, count=3, seed=3, steps=2)
    images = pixels_to_model(raw.images, raw.bits).unsqueeze(1)
    # Fences fitted on clips 0 and 1 as if they were the training data: clip 2, or a silent clip, can fail them.
    fences = Fences.from_images(images[:2], 32, 80)
    pipe.quality = {"fences": fences.to_dict()}
    assert pipe.check_clips(images[:2]) == [[], []]
    assert "dark_fraction" in pipe.check_clips(torch.full((1, 1, 32, 32), -1.0))[0]
    # A fence nothing passes: every clip is drawn again each round, then kept and reported.
    strict = Fences.from_dict({"limits": {**fences.to_dict()["limits"], "total_variation": -1.0}})
    pipe.quality = {"fences": strict.to_dict()}
    clips = sampling.generate(pipe, count=3, seed=3, steps=2, redraw=2, batch_size=2)
    # Each batch is finished (drawn again) before the next: batch [0, 1] twice, then batch [2] twice.
    assert clips.checked and [r.clip for r in clips.redrawn] == [0, 1, 0, 1, 2, 2]
    assert [r.seed for r in clips.redrawn] == [6, 7, 9, 10, 8, 11]  # seed + count * round + k: unused by the job
    assert clips.seeds == [9, 10, 11] and set(clips.failing) == {0, 1, 2}
    assert all("total_variation" in reasons for reasons in clips.failing.values())
    again = sampling.generate(pipe, count=1, seed=9, steps=2)  # a redrawn clip is remade alone from its seed
    assert np.abs(again.images[0].astype(int) - clips.images[0].astype(int)).max() <= 2
    assert clip_reasons(images[:2], strict, 32, 80) == [["total_variation"]] * 2


def _db(audio) -> np.ndarray:
    return 20 * np.log10(np.sqrt(np.mean(np.square(np.asarray(audio, dtype=np.float64)), axis=-1)))


def test_set_level_targets_rms_caps_the_peak_and_keeps_silence():
    from audiodiff.audio import PEAK_LIMIT, set_level

    rng = np.random.default_rng(0)
    quiet = rng.normal(0, 1e-3, (2, 4000)).astype(np.float32)
    quiet[1] *= 4  # 12 dB louder
    leveled = set_level(quiet, 0.1)
    assert np.allclose(_db(leveled), -20, atol=0.01)
    joint = set_level(quiet, 0.1, joint=True)  # one gain: the 12 dB between the clips stay
    assert np.isclose(_db(joint[1]) - _db(joint[0]), _db(quiet[1]) - _db(quiet[0]), atol=1e-3)
    assert np.isclose(_db(joint.reshape(1, -1))[0], -20, atol=0.01)
    spiky = np.zeros((1, 1000), dtype=np.float32)
    spiky[0, 10] = 0.01  # raising its RMS to -20 dBFS would clip: the peak stops at -1 dBFS
    assert np.isclose(np.abs(set_level(spiky, 0.1)).max(), PEAK_LIMIT, atol=1e-6)
    assert not set_level(np.zeros((1, 100)), 0.1).any()


def test_clips_play_at_the_level_of_their_input_or_at_the_generated_level():
    """Images carry no loudness and the decoder's level is arbitrary (about 25 dB below its source music): generated
    clips come out at -20 dBFS RMS, variations, loops and edits at their input's level, and an inpainted range at
    the level of the music around it, not as a quiet hole (it was 26 dB down)."""
    from audiodiff.audio import PEAK_LIMIT

    pipe = tiny_pipeline(genres=["beats", "pads"])
    generated = sampling.generate(pipe, count=2, seed=0, steps=2)
    peaks = np.abs(generated.audios).max(axis=-1)
    assert np.all((np.abs(_db(generated.audios) + 20) < 0.05) | np.isclose(peaks, PEAK_LIMIT, atol=1e-4))
    song = clip(0.6) * 0.3
    varied = sampling.vary(pipe, song, count=2, seed=0, steps=2, strength=0.5)
    assert np.allclose(_db(varied.audios), _db(sampling.one_slice(song, pipe)), atol=0.05)
    inpainted = sampling.inpaint(pipe, song, 0.3, 0.4, seed=3, steps=2)
    span = slice(int(0.31 * MEL.sample_rate), int(0.39 * MEL.sample_rate))
    assert abs(_db(inpainted.audios[0][span]) - _db(song[span])) < 6
    frames = sampling.interpolate(pipe, frames=3, seed=0, steps=2)
    assert abs(20 * np.log10(np.sqrt(np.mean(frames.audios.astype(np.float64) ** 2))) + 20) < 0.05 or np.isclose(
        np.abs(frames.audios).max(), PEAK_LIMIT, atol=1e-4
    )


def test_steps_are_bounded_by_the_training_timesteps_before_any_sampling(monkeypatch):
    pipe = tiny_pipeline(genres=["beats", "pads"])
    assert sampling.max_steps(pipe) == 1000
    assert sampling.check_steps(pipe, None) is None and sampling.check_steps(pipe, 1000) == 1000
    assert sampling.check_steps(pipe, 20.0) == 20  # a whole number from a number box
    monkeypatch.setattr(sampling, "_sample", lambda *arguments, **keywords: pytest.fail("sampled"))
    audio = clip(0.5)
    jobs = {
        "generate": lambda steps: sampling.generate(pipe, steps=steps),
        "vary": lambda steps: sampling.vary(pipe, audio, steps=steps),
        "inpaint": lambda steps: sampling.inpaint(pipe, audio, 0.1, 0.2, steps=steps),
        "loop": lambda steps: sampling.loop(pipe, audio, 0.1, steps=steps),
        "edit": lambda steps: sampling.edit(pipe, audio, steps=steps),
        "interpolate": lambda steps: sampling.interpolate(pipe, steps=steps),
    }
    for name, run in jobs.items():
        for steps in (0, 1001, 10_000_000, 2.5, float("nan")):
            with pytest.raises(ValueError, match=r"steps must be a whole number from 1 to 1000") as error:
                run(steps)
            assert "\n" not in str(error.value), name


def test_progress_iterates_the_schedule_without_copying_it():
    pipe = tiny_pipeline()
    pulled = []

    class Schedule:  # a schedule that counts how many of its steps were taken
        def __len__(self) -> int:
            return 1000

        def __iter__(self):
            for step in range(1000):
                pulled.append(step)
                yield step

    reports = []
    with sampling.reporting_progress(lambda *report: reports.append(report), pipe):
        steps = pipe.progress_bar(Schedule())
        assert next(steps) == 0
    assert pulled == [0] and reports == [(1, 0, 1000)]
    with sampling.reporting_progress(lambda *report: reports.append(report), pipe):
        assert list(pipe.progress_bar(total=3)) == [0, 1, 2]
    assert reports[-1] == (1, 3, 3)


def test_generate_refuses_clips_longer_than_the_cap():
    pipe = tiny_pipeline()
    with pytest.raises(ValueError, match=f"at most {sampling.MAX_SECONDS:g}"):
        sampling.generate(pipe, seconds=sampling.MAX_SECONDS + 1, steps=1)
    assert sampling.windows_per_step(pipe, None) == 1
    assert sampling.windows_per_step(pipe, 60.0) > sampling.windows_per_step(pipe, 30.0) > 1


def test_on_clip_hands_over_each_clip_when_its_batch_is_done():
    pipe = tiny_pipeline()
    seen = []
    clips = sampling.generate(
        pipe, count=3, seed=2, steps=2, batch_size=2, on_clip=lambda k, audio, pixels: seen.append((k, audio, pixels))
    )
    assert [k for k, _, _ in seen] == [0, 1, 2]
    for k, audio, pixels in seen:  # the clips as returned: at their playing level, after any redraw
        assert np.array_equal(audio, clips.audios[k]) and np.array_equal(pixels, clips.images[k])
