"""Decoders: fast Griffin-Lim from PGHI or random phase; the trained vocoder (training, folder, every command)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers import MEL, tiny_pipeline

from audiodiff.evaluation.metrics import spectral_convergence
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.vocoders import GriffinLimVocoder, griffin_lim, make_vocoder
from audiodiff.vocoders.griffin_lim import DEFAULT_PHASE_INIT, PHASE_INITS
from audiodiff.vocoders.pghi import pghi_phase

N_FFT, HOP = 512, 128


def _chirp(seconds: float = 1.0, sample_rate: int = 16000) -> torch.Tensor:
    """A linear chirp 200 Hz -> 3 kHz with a 5 Hz tremolo, `(1, time)`: phase that no single frequency explains."""
    time = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    phase = 2 * math.pi * (200 * time + (3000 - 200) / (2 * seconds) * time**2)
    return (0.5 * torch.sin(phase) * (0.6 + 0.4 * torch.cos(2 * math.pi * 5 * time))).float().unsqueeze(0)


def _magnitude(audio: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(N_FFT)
    return torch.stft(audio, N_FFT, HOP, window=window, center=True, return_complex=True).abs()


def test_pghi_recovers_the_phase_of_a_chirp_far_better_than_random():
    """Spectral convergence (at the analysis STFT) of PGHI + 0 iterations against random + 0: measured 0.08 vs 0.53."""
    audio = _chirp()
    magnitude = _magnitude(audio)
    length = (magnitude.shape[-1] - 1) * HOP
    scores = {}
    for init in PHASE_INITS:
        rebuilt = griffin_lim(magnitude, N_FFT, HOP, torch.hann_window(N_FFT), n_iter=0, length=length,
                              generator=torch.Generator().manual_seed(0), phase_init=init)  # fmt: skip
        scores[init] = spectral_convergence(audio[:, :length], rebuilt, N_FFT, HOP).item()
    assert scores["pghi"] < 0.15 < 0.4 < scores["random"]


def test_griffin_lim_from_a_given_phase_keeps_it():
    """The exact magnitude and phase of a chirp give it back with no iteration; 32 iterations stay there."""
    audio = _chirp()
    window = torch.hann_window(N_FFT)
    # Zero padding at the ends, as Griffin-Lim's own STFT pads: then the true phase is its fixed point.
    spectrum = torch.stft(audio, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True)
    length = (spectrum.shape[-1] - 1) * HOP
    for iterations in (0, 32):
        rebuilt = griffin_lim(spectrum.abs(), N_FFT, HOP, window, n_iter=iterations, length=length,
                              initial_phase=spectrum.angle())  # fmt: skip
        assert spectral_convergence(audio[:, :length], rebuilt, N_FFT, HOP).item() < 1e-3
    with pytest.raises(ValueError, match=r"initial_phase has the shape \(1, 3\)"):
        griffin_lim(spectrum.abs(), N_FFT, HOP, window, initial_phase=torch.zeros(1, 3))


def test_spectrum_losses_ask_for_the_magnitude_and_phase_advance_not_the_absolute_phase():
    from audiodiff.vocoder_training.losses import spectrum_losses

    audio = _chirp()
    frames = audio.shape[-1] // HOP
    audio = audio[:, : (frames - 1) * HOP]
    spectrum = torch.stft(audio, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, pad_mode="constant",
                          return_complex=True)  # fmt: skip
    magnitude, true_phase = spectrum.abs(), spectrum.angle()
    random_phase = torch.rand(true_phase.shape, generator=torch.Generator().manual_seed(0)) * 2 * math.pi

    def losses(magnitude, phase):
        return [value.item() for value in spectrum_losses(magnitude, phase, audio, N_FFT, HOP, floor=1e-12)]

    assert max(losses(magnitude, true_phase)) < 1e-4
    assert max(losses(magnitude, true_phase + 1.0 + 4 * math.pi)) < 1e-4  # a constant offset, unwrapped
    assert losses(magnitude, random_phase)[1] > 1.5
    assert abs(losses(2 * magnitude, true_phase)[0] - math.log(2)) < 0.05  # a 2x magnitude costs ln 2
    phase = random_phase.clone().requires_grad_(True)
    sum(spectrum_losses(magnitude, phase, audio, N_FFT, HOP, floor=1e-12)).backward()
    assert torch.isfinite(phase.grad).all() and phase.grad.abs().sum() > 0


@pytest.mark.parametrize("iterations", [0, 10])
def test_vocos_magnitude_prior_starts_at_the_images_own_magnitude(small_mel, iterations):
    """With `magnitude_prior`, an untrained network's magnitude is the image's mel power through the pseudo-inverse
    (and `iterations` NNLS steps: at 10, the magnitude Griffin-Lim decodes); without it the magnitude starts from
    scratch."""
    from audiodiff.codec import SpectrogramCodec
    from audiodiff.vocoders.griffin_lim import mel_to_linear
    from audiodiff.vocoders.trained import mel_power_to_features
    from audiodiff.vocoders.vocos import VocosConfig, VocosModel

    codec = SpectrogramCodec(small_mel)
    audio = _chirp(seconds=small_mel.slice_size / 16000)[:, : small_mel.slice_size]
    mel_power = codec.images_to_mel_power(codec.encode(audio, bits=8))
    features = mel_power_to_features(mel_power, small_mel.top_db)
    shape = (small_mel.n_mels, small_mel.n_fft, small_mel.hop_length, 16, 32, 2)
    torch.manual_seed(0)
    model = VocosModel(VocosConfig(*shape, magnitude_prior=True, sample_rate=small_mel.sample_rate,
                                   top_db=small_mel.top_db, prior_iterations=iterations))  # fmt: skip
    inverse = GriffinLimVocoder(small_mel)
    expected = mel_to_linear(mel_power, inverse.filterbank, inverse.pseudo_inverse, iterations).sqrt()
    expected = expected.clamp(min=10 ** (-small_mel.top_db / 20))
    with torch.no_grad():
        torch.testing.assert_close(model.spectrum(features).abs(), expected, rtol=1e-3, atol=1e-6)
        plain = VocosModel(VocosConfig(*shape)).spectrum(features).abs()
    assert (plain.log() - expected.log()).abs().mean() > 1.0


def test_pghi_is_batched_reproducible_and_keeps_the_given_phase_of_silence():
    audio = torch.cat([_chirp(0.5), 0.3 * _chirp(0.5).flip(-1)])
    magnitude = _magnitude(audio)
    magnitude[:, 200:] = 0  # silent top bins keep the initial phase
    initial = torch.rand(magnitude.shape, generator=torch.Generator().manual_seed(1)) * 2 * math.pi
    batched = pghi_phase(magnitude, N_FFT, HOP, initial)
    assert batched.shape == magnitude.shape and batched.dtype == magnitude.dtype
    one_by_one = torch.cat([pghi_phase(magnitude[i : i + 1], N_FFT, HOP, initial[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(batched, one_by_one)
    assert torch.equal(batched[:, 200:], initial[:, 200:])
    with pytest.raises(ValueError, match="tolerances"):
        pghi_phase(magnitude, N_FFT, HOP, initial, tolerances=(2.0,))


@pytest.mark.parametrize("phase_init", PHASE_INITS)
def test_griffin_lim_vocoder_phase_init_batched_and_seeded(small_mel, phase_init):
    mel_power = torch.rand(3, small_mel.n_mels, 16, generator=torch.Generator().manual_seed(0)) ** 4
    vocoder = GriffinLimVocoder(small_mel, n_iter=2, phase_init=phase_init)
    first = vocoder(mel_power, generator=torch.Generator().manual_seed(5))
    again = vocoder(mel_power, generator=torch.Generator().manual_seed(5))
    assert first.shape == (3, 15 * small_mel.hop_length) and torch.equal(first, again)
    alone = GriffinLimVocoder(small_mel, n_iter=2, phase_init=phase_init, cpu_chunk=1)
    assert torch.allclose(alone(mel_power, generator=torch.Generator().manual_seed(5)), first, atol=1e-5)
    with pytest.raises(ValueError, match="phase_init must be one of"):
        make_vocoder("griffinlim", small_mel, phase_init="zeros")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pghi_on_cuda_matches_cpu(small_mel):
    mel_power = torch.rand(2, small_mel.n_mels, 16, generator=torch.Generator().manual_seed(0)) ** 4
    vocoder = GriffinLimVocoder(small_mel, n_iter=0, phase_init="pghi")
    on_cpu = vocoder(mel_power, generator=torch.Generator().manual_seed(0))
    on_cuda = vocoder.to("cuda")(mel_power.cuda(), generator=torch.Generator("cuda").manual_seed(0))
    assert on_cuda.device.type == "cuda" and on_cuda.shape == on_cpu.shape


def test_the_cli_names_the_library_phase_inits_and_default():
    from audiodiff.cli import common

    assert common.PHASE_INITS == PHASE_INITS and common.DEFAULT_PHASE_INIT == DEFAULT_PHASE_INIT


# --- the trained vocoder --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def music_folder(tmp_path_factory):
    """Two synthesized tracks of 2 s at the tiny pipeline's rate."""
    from audiodiff.audio import save_audio
    from audiodiff.synth import synthesize

    folder = tmp_path_factory.mktemp("music")
    for index, genre in enumerate(("beats", "pads")):
        save_audio(folder / f"{genre}.wav", synthesize(genre, 2.0, MEL.sample_rate, seed=index), MEL.sample_rate)
    return folder


def _tiny_run(music_folder, out, interrupt_after: int | None = None, **overrides):
    """A tiny-preset run at the tiny pipeline's mel settings; with `interrupt_after`, stopped (as by a kill) right
    after the checkpoint of that step is written."""
    from audiodiff.vocoder_training.trainer import VocoderTrainConfig, VocoderTrainer

    trainer = VocoderTrainer.start(VocoderTrainConfig.load("tiny", **overrides), [str(music_folder)], out, MEL,
                                   progress=False)  # fmt: skip
    if interrupt_after is not None:
        save = trainer.save_checkpoint

        def save_then_stop():
            folder = save()
            if trainer.global_step == interrupt_after:
                raise KeyboardInterrupt
            return folder

        trainer.save_checkpoint = save_then_stop
    return trainer


@pytest.fixture(scope="module")
def trained(music_folder, tmp_path_factory):
    """The tiny preset trained 16 steps (adversarial from step 4) at the tiny pipeline's mel settings, with the mel
    loss of one whole slice before and after."""
    from audiodiff.vocoder_training.losses import MelSpectrogram, mel_loss

    out = tmp_path_factory.mktemp("vocoder") / "run"
    trainer = _tiny_run(music_folder, out)
    features, audio = trainer.data.slice_example(0)
    mel = MelSpectrogram(MEL)
    with torch.no_grad():
        before = mel_loss(trainer.vocoder().model(features), audio, mel).item()
    trainer.run()
    with torch.no_grad():
        after = mel_loss(trainer.vocoder().model(features), audio, mel).item()
    return out, before, after


def test_tiny_vocoder_trains_and_its_loss_falls(trained):
    from audiodiff.vocoders import TrainedVocoder

    out, before, after = trained
    assert after < 0.95 * before, (before, after)
    for name in ("config.json", "model.safetensors", "run.json", "losses.json"):
        assert (out / name).is_file()
    assert (out / "logs").is_dir() and list((out / "samples").glob("*/vocoder.wav"))
    vocoder = TrainedVocoder.from_pretrained(out)
    assert vocoder.mel_config == MEL and vocoder.training_record["steps"] == 16
    assert sum(parameter.numel() for parameter in vocoder.parameters()) < 20_000


def test_vocoder_resume_after_a_kill_equals_an_uninterrupted_run(music_folder, trained, tmp_path):
    from safetensors.torch import load_file

    from audiodiff.vocoder_training.trainer import VocoderTrainer

    with pytest.raises(KeyboardInterrupt):
        _tiny_run(music_folder, tmp_path / "run", interrupt_after=4).run()
    assert not (tmp_path / "run" / "model.safetensors").exists()
    resumed = VocoderTrainer.resume(tmp_path / "run", progress=False)
    assert resumed.global_step == 4
    resumed.run()
    straight = load_file(trained[0] / "model.safetensors")
    again = load_file(tmp_path / "run" / "model.safetensors")
    assert again.keys() == straight.keys()
    for name in straight:
        torch.testing.assert_close(again[name], straight[name], rtol=0, atol=0)


@pytest.mark.parametrize("damaged", ["generator.safetensors", "state.pt"])
def test_flipped_bytes_in_a_vocoder_checkpoint_are_found_by_checksum_and_passed_over(trained, tmp_path, caplog,
                                                                                      damaged):  # fmt: skip
    import shutil

    from audiodiff.checkpoints import checkpoint_dirs
    from audiodiff.vocoder_training.trainer import VocoderTrainer

    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    older, newest = checkpoint_dirs(run)
    data = bytearray((newest / damaged).read_bytes())
    for index in range(len(data) // 2, len(data) // 2 + 64):  # 64 bytes flipped by a bad disk or copy: still loads
        data[index] ^= 0xFF
    (newest / damaged).write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="audiodiff.vocoder_training.trainer"):
        resumed = VocoderTrainer.resume(run, progress=False)
    assert resumed.global_step == int(older.name[5:]) == 12
    resumed.close()
    (warning,) = [record.getMessage() for record in caplog.records]
    assert f"{newest}: damaged checkpoint" in warning and f"{damaged} does not match its checksum" in warning
    # A checkpoint written before checksums (none in its meta.json) still loads.
    from audiodiff.checkpoints import FILES_KEY, META_KEY

    shutil.rmtree(newest)
    meta = json.loads((older / "meta.json").read_text())
    assert set(meta[FILES_KEY]) == {"generator.safetensors", "discriminators.safetensors", "state.pt"}
    del meta[FILES_KEY], meta[META_KEY]
    (older / "meta.json").write_text(json.dumps(meta))
    resumed = VocoderTrainer.resume(run, progress=False)
    assert resumed.global_step == 12
    resumed.close()


def test_a_diverged_vocoder_run_stops_with_one_line_and_saves_nothing(music_folder, tmp_path):
    from safetensors.torch import load_file

    from audiodiff.checkpoints import checkpoint_dirs
    from audiodiff.vocoder_training.trainer import VocoderTrainingError

    run = tmp_path / "run"
    trainer = _tiny_run(music_folder, run, learning_rate=1e30, checkpoint_every=1)
    with pytest.raises(VocoderTrainingError, match=r"step \d+: the .* is (nan|inf) \(diverged\): lower learning_rate "
                                                   r"\(now 1e\+30\)"):  # fmt: skip
        trainer.run()
    assert not (run / "model.safetensors").exists()
    for folder in checkpoint_dirs(run):
        assert all(torch.isfinite(tensor).all() for tensor in load_file(folder / "generator.safetensors").values())


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 is refused only without a GPU")
def test_fp16_without_a_gpu_is_refused_in_one_line_before_anything_is_written(music_folder, tmp_path):
    """The diffusion trainer's rule (`runs.make_accelerator`): accelerate would train in fp32 without a word."""
    from audiodiff.vocoder_training.trainer import VocoderTrainingError

    with pytest.raises(
        VocoderTrainingError, match="^--mixed-precision fp16 needs a CUDA GPU; on cpu use bf16 or auto$"
    ):
        _tiny_run(music_folder, tmp_path / "run", mixed_precision="fp16")
    assert not (tmp_path / "run").exists()


def test_a_vocoder_run_into_a_folder_another_run_holds_is_refused(music_folder, tmp_path):
    import os

    from audiodiff.utils import LOCK_NAME, output_lock
    from audiodiff.vocoder_training.trainer import VocoderTrainingError

    run = tmp_path / "run"
    with output_lock(run, "audiodiff train-vocoder"):  # as another process would (flock is per open file)
        with pytest.raises(VocoderTrainingError, match=f"is in use by process {os.getpid()} .audiodiff train-vocoder"):
            _tiny_run(music_folder, run)
    assert [path.name for path in run.iterdir()] == [LOCK_NAME]
    trainer = _tiny_run(music_folder, run, max_steps=1)  # free again once released
    trainer.close()


def test_a_vocoder_saved_before_the_magnitude_prior_loads_without_it(trained, tmp_path):
    import shutil

    from audiodiff.vocoders import TrainedVocoder

    assert TrainedVocoder.from_pretrained(trained[0]).model.config.magnitude_prior  # every preset has it
    shutil.copytree(trained[0], tmp_path / "old", ignore=shutil.ignore_patterns("checkpoints", "logs", "samples"))
    described = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in ("magnitude_prior", "sample_rate", "top_db", "prior_iterations"):
        del described["model"][key]
    (tmp_path / "old" / "config.json").write_text(json.dumps(described))
    old = TrainedVocoder.from_pretrained(tmp_path / "old")
    assert not old.model.config.magnitude_prior and not hasattr(old.model, "filterbank")
    assert old(torch.rand(1, MEL.n_mels, 5)).shape == (1, 4 * MEL.hop_length)


@pytest.mark.parametrize("batch, frames", [(1, MEL.x_res), (3, MEL.x_res), (2, 3 * MEL.x_res + 5)])
def test_vocoder_output_length_equals_the_codecs_for_any_batch(trained, batch, frames):
    from audiodiff.codec import SpectrogramCodec
    from audiodiff.vocoders import TrainedVocoder

    vocoder = TrainedVocoder.from_pretrained(trained[0])
    images = torch.rand(batch, 1, MEL.y_res, frames, generator=torch.Generator().manual_seed(0)) * 2 - 1
    codec = SpectrogramCodec(MEL)
    audio = codec.decode(images, vocoder=vocoder)
    assert audio.shape == codec.decode(images).shape == (batch, (frames - 1) * MEL.hop_length)
    # One pass, no seams: a clip decodes the same alone as in a batch.
    torch.testing.assert_close(codec.decode(images[:1], vocoder=vocoder), audio[:1], rtol=1e-4, atol=1e-5)


def test_pipeline_keeps_its_vocoder_and_refuses_other_mel_settings(trained, tmp_path):
    from audiodiff.vocoders import TrainedVocoder, VocoderError
    from audiodiff.vocoders.vocos import VocosConfig, VocosModel

    vocoder = TrainedVocoder.from_pretrained(trained[0])
    pipe = tiny_pipeline(vocoder=vocoder)
    pipe.save_pretrained(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "vocoder" / "model.safetensors").is_file()
    assert "vocoder" not in json.loads((tmp_path / "pipe" / "model_index.json").read_text())  # diffusers' view
    loaded = AudioDiffusionPipeline.from_pretrained(tmp_path / "pipe")
    assert isinstance(loaded.codec().vocoder, TrainedVocoder)
    output = loaded(num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np")
    images = loaded.codec().pixels_to_images(torch.from_numpy(output.images.astype("int64")))
    np.testing.assert_allclose(output.audios, vocoder(loaded.codec().images_to_mel_power(images)).numpy(), atol=1e-5)
    plain = AudioDiffusionPipeline.from_pretrained(tmp_path / "pipe", vocoder=False)
    assert isinstance(plain.codec().vocoder, GriffinLimVocoder)

    network = VocosConfig(MEL.n_mels, MEL.n_fft, MEL.hop_length, 8, 16, 1, magnitude_prior=True, top_db=60)
    with pytest.raises(VocoderError, match="sample_rate and top_db differ from its mel settings"):
        TrainedVocoder(VocosModel(network), MEL)
    other = MEL.replace(y_res=16)
    stranger = TrainedVocoder(VocosModel(VocosConfig(16, MEL.n_fft, MEL.hop_length, 8, 16, 1)), other)
    stranger.save_pretrained(tmp_path / "stranger")
    with pytest.raises(VocoderError, match=r"stranger was trained for y_res=16 but the pipeline has y_res=32"):
        AudioDiffusionPipeline.from_pretrained(tmp_path / "pipe", vocoder=tmp_path / "stranger")
    with pytest.raises(ValueError, match="y_res=16 but these images have y_res=32"):
        make_vocoder(str(tmp_path / "stranger"), MEL)
    result = _cli("generate", tmp_path / "pipe", "--out", tmp_path / "out", "--steps", 1, "--vocoder",
                  tmp_path / "stranger", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 2 and "trained for y_res=16" in result.output and "Traceback" not in result.output
    nonsense = _cli("generate", tmp_path / "pipe", "--out", tmp_path / "out", "--vocoder", "hifigan")
    assert nonsense.exit_code == 2 and "neither griffinlim, librosa nor a vocoder folder" in nonsense.output
    refined = _cli("generate", tmp_path / "pipe", "--out", tmp_path / "refined", "--steps", 1, "--n-iter", 4,
                   "--device", "cpu")  # fmt: skip
    assert refined.exit_code == 0, refined.output  # --n-iter refines the pipeline's own vocoder
    phase = _cli("generate", tmp_path / "pipe", "--out", tmp_path / "out", "--steps", 1, "--phase-init", "pghi",
                 "--device", "cpu")  # fmt: skip
    assert phase.exit_code == 2 and "predicts its own" in phase.output and "Traceback" not in phase.output


def test_griffin_lim_refinement_makes_the_vocoders_frames_agree(trained):
    """`refine_iterations` (`--n-iter` with a vocoder): Griffin-Lim from the network's own magnitude and phase; the
    decoded audio's STFT comes closer to the magnitude the network predicted."""
    from audiodiff.vocoders import TrainedVocoder
    from audiodiff.vocoders.trained import mel_power_to_features

    vocoder = TrainedVocoder.from_pretrained(trained[0])
    mel_power = torch.rand(2, MEL.n_mels, MEL.x_res, generator=torch.Generator().manual_seed(0)) ** 4
    with torch.no_grad():
        predicted, _ = vocoder.model.magnitude_and_phase(mel_power_to_features(mel_power, MEL.top_db))
    window = torch.hann_window(MEL.n_fft)

    def disagreement(iterations: int) -> float:
        vocoder.refine_iterations = iterations
        audio = vocoder(mel_power)
        assert audio.shape == (2, (MEL.x_res - 1) * MEL.hop_length)
        rebuilt = torch.stft(audio, MEL.n_fft, MEL.hop_length, window=window, center=True, pad_mode="constant",
                             return_complex=True).abs()  # fmt: skip
        return ((rebuilt - predicted).norm() / predicted.norm()).item()

    plain, refined = disagreement(0), disagreement(8)
    assert refined < 0.7 * plain, (plain, refined)
    assert make_vocoder(str(trained[0]), MEL, n_iter=3).refine_iterations == 3
    assert make_vocoder(str(trained[0]), MEL).refine_iterations == 0
    with pytest.raises(ValueError, match="predicts its own"):
        make_vocoder(str(trained[0]), MEL, phase_init="pghi")


def _cli(*arguments):
    from click.testing import CliRunner

    from audiodiff.cli.main import cli

    return CliRunner().invoke(cli, [str(argument) for argument in arguments])


@pytest.fixture(scope="module")
def pipeline_and_song(tmp_path_factory):
    from audiodiff.audio import save_audio
    from audiodiff.synth import synthesize

    root = tmp_path_factory.mktemp("commands")
    tiny_pipeline(genres=["beats", "pads"]).save_pretrained(root / "pipe")
    save_audio(root / "song.wav", synthesize("pads", 0.6, MEL.sample_rate, seed=4), MEL.sample_rate)
    save_audio(root / "other.wav", synthesize("beats", 0.3, MEL.sample_rate, seed=5), MEL.sample_rate)
    return root


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "{pipe}", "--steps", 1],
        ["vary", "{pipe}", "{song}", "--clips", 1, "--steps", 2],
        ["inpaint", "{pipe}", "{song}", "--start", 0.3, "--end", 0.4, "--steps", 2],
        ["edit", "{pipe}", "{song}", "--genre", "beats", "--strength", 0.5, "--steps", 2, "--refine", 0],
        ["interpolate", "{pipe}", "--clips", 2, "--steps", 1],
        ["decode", "{png}", "--mel-config", "{pipe}"],
    ],
    ids=lambda command: command[0],
)
def test_every_decoding_command_takes_a_trained_vocoder(trained, pipeline_and_song, tmp_path, command):
    root = pipeline_and_song
    png = tmp_path / "clip.png"
    if command[0] == "decode":
        from audiodiff.codec import save_png

        save_png(png, np.random.default_rng(0).integers(0, 256, (MEL.y_res, MEL.x_res)))
    values = {"{pipe}": root / "pipe", "{song}": root / "song.wav", "{png}": png}
    arguments = [values.get(str(value), value) for value in command]
    result = _cli(*arguments, "--out", tmp_path / "out", "--vocoder", trained[0], "--seed", 1, "--device", "cpu")
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "out").glob("*.wav"))
    assert written, result.output
    with_pghi = _cli(*arguments, "--out", tmp_path / "pghi", "--phase-init", "pghi", "--n-iter", 2, "--seed", 1,
                     "--device", "cpu")  # fmt: skip
    assert with_pghi.exit_code == 0, with_pghi.output
    import soundfile

    vocoded, _ = soundfile.read(written[0])
    griffin_lim_audio, _ = soundfile.read(tmp_path / "pghi" / written[0].name)
    assert vocoded.shape == griffin_lim_audio.shape and not np.allclose(vocoded, griffin_lim_audio)


def test_evaluate_and_train_vocoder_commands(trained, pipeline_and_song, music_folder, tmp_path):
    root = pipeline_and_song
    result = _cli("evaluate", "--generated", root / "pipe", "--reference", music_folder, "--clips", 2,
                  "--reconstruction-clips", 1, "--steps", 1, "--vocoder", trained[0], "--out", tmp_path / "eval",
                  "--device", "cpu", "--seed", 0)  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["reconstruction"]["decoder"] == "TrainedVocoder"
    train = _cli("train-vocoder", "--data", music_folder, root / "pipe", "--config", "tiny", "--max-steps",
                 2, "--out", tmp_path / "voc")  # fmt: skip
    assert train.exit_code == 0, train.output
    assert "trained 2 steps" in train.output and (tmp_path / "voc" / "model.safetensors").is_file()
    again = _cli("train-vocoder", "--data", music_folder, root / "pipe", "--config", "tiny",
                 "--out", tmp_path / "voc")  # fmt: skip
    assert again.exit_code == 1 and "add --resume" in again.output
    # The run folder's rules are every trainer's (`audiodiff.runs`): a resume keeps the run's own settings.
    changed = _cli("train-vocoder", "--out", tmp_path / "voc", "--resume", "--batch-size", 3)
    assert changed.exit_code == 1 and "Traceback" not in changed.output
    refusal = "--resume continues the run with its own settings, and its --batch-size is 2, not 3; only --max-steps can"
    assert f"{tmp_path / 'voc'}: {refusal} change" in changed.output, changed.output


def test_demo_passes_its_vocoder_on_and_plays_one_clip_through_each_decoder(monkeypatch, tmp_path):
    """The demo runs commands; --vocoder reaches the two that decode (the commands themselves are tested above), and
    the first generated clip is decoded by each decoder for the page."""
    import audiodiff.demo
    from audiodiff.cli import demo

    ran = []
    out = tmp_path / "out"

    def fake_run(arguments):
        ran.append(list(arguments))
        if arguments[0] == "prepare":
            (out / "dataset").mkdir(parents=True)
            (out / "dataset" / "audiodiff_dataset.json").write_text('{"genres": []}')
        if arguments[0] == "generate":
            (out / "generated").mkdir(parents=True)
            (out / "generated" / "clip_0000.png").write_bytes(b"")
            (out / "generated" / "clip_0000.wav").write_bytes(b"")  # the demo decodes the newest set's clips

    monkeypatch.setattr(demo, "run_command", fake_run)
    monkeypatch.setattr(audiodiff.demo, "write_index", lambda out, **kwargs: out / "index.html")
    result = _cli("demo", "--out", out, "--data", tmp_path, "--vocoder", tmp_path, "--device", "cpu")
    assert result.exit_code == 0, result.output
    commands = {arguments[0]: arguments for arguments in ran}
    for name in ("generate", "evaluate"):
        assert commands[name][-2:] == ["--vocoder", str(tmp_path)]
    assert "train" not in commands  # the demo fine-tunes the shipped base model
    assert "--vocoder" not in commands["finetune"] and commands["finetune"][1] == "audiodiff-base-64"
    decodes = [arguments for arguments in ran if arguments[0] == "decode"]
    assert [arguments[arguments.index("--out") + 1] for arguments in decodes] == [
        str(out / "decoders" / name) for name in ("griffinlim-random", "griffinlim-pghi", "vocoder")
    ]
    assert all(arguments[1] == str(out / "generated" / "clip_0000.png") for arguments in decodes)


def test_demo_page_plays_the_clip_of_each_decoder(tmp_path):
    from audiodiff.audio import save_audio
    from audiodiff.demo import write_index

    for name in ("griffinlim-pghi", "griffinlim-random", "vocoder"):
        save_audio(tmp_path / "decoders" / name / "clip_0000.wav", np.zeros(800, dtype=np.float32), 8000)
    page = write_index(tmp_path, genre=None, timings={}, data="music", base=None).read_text()
    assert "One clip through each decoder" in page and "Griffin-Lim, PGHI initial phase" in page
    assert "decoders/vocoder/clip_0000.wav" in page and "trained vocoder" in page


@pytest.mark.parametrize("preset", ["tiny", "cpu", "gpu"])
def test_vocoder_presets_load(preset):
    from audiodiff.config import ConfigError
    from audiodiff.vocoder_training.trainer import VocoderTrainConfig

    config = VocoderTrainConfig.load(preset)
    assert config.max_steps >= 8 and (preset != "gpu" or config.adversarial_at(config.max_steps - 1))
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        VocoderTrainConfig.load(preset, batch_size=0)


def test_train_vocoder_refuses_a_pipeline_whose_metadata_is_not_an_object(pipeline_and_song, tmp_path):
    import shutil

    broken = tmp_path / "pipe"
    shutil.copytree(pipeline_and_song / "pipe", broken)
    (broken / "audiodiff.json").write_text("[1, 2]\n")
    result = _cli("train-vocoder", "--data", pipeline_and_song / "song.wav", broken, "--out", tmp_path / "v")
    assert result.exit_code == 2 and "expected a JSON object, got list" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "v").exists()
