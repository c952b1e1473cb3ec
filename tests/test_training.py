import dataclasses
import io
import json
import math
import re
import shutil
import sys

import pytest
import soundfile
import torch
from conftest import GENRE_DATASET_MEL as MEL  # the `dataset_dir` fixture's settings
from conftest import killed_resumed_and_straight, stopped_after_first_checkpoint_then_resumed

from audiodiff.checkpoints import checkpoint_dirs
from audiodiff.config import ConfigError
from audiodiff.data.order import epoch_indices
from audiodiff.runtime import cpu_has_fast_bf16
from audiodiff.training import TrainConfig, Trainer, TrainingError, train


def tiny_config(**changes) -> TrainConfig:
    values = dict(
        model="tiny",
        batch_size=4,
        learning_rate=2e-3,
        lr_warmup_steps=2,
        max_steps=12,
        epochs=None,
        ema_max_decay=0.99,
        checkpoint_every=0,
        sample_every=0,
        num_samples=1,
        sample_steps=2,
        log_every=1,
        seed=0,
    )
    values.update(changes)
    return TrainConfig(**values)


def test_epoch_order_is_reproducible_and_one_per_track_samples_each_track_once():
    tracks = [[0, 1, 2], [3, 4], [5, 6, 7, 8]]
    assert epoch_indices(tracks, 0, 1, "all") == epoch_indices(tracks, 0, 1, "all")
    assert sorted(epoch_indices(tracks, 3, 1, "all")) == list(range(9))
    picks = [epoch_indices(tracks, epoch, 1, "one_per_track") for epoch in range(20)]
    for pick in picks:
        assert len(pick) == 3 and sorted(next(i for i, t in enumerate(tracks) if row in t) for row in pick) == [0, 1, 2]
    assert len({tuple(sorted(pick)) for pick in picks}) > 3  # a different slice per track across epochs


def test_tiny_model_loss_falls_and_same_seed_gives_same_curve(data, tmp_path):
    config = tiny_config(max_steps=40)
    first = train(config, data, tmp_path / "a", progress=False)
    assert first.steps == 40 and len(first.losses) == 40
    early, late = sum(first.losses[:8]) / 8, sum(first.losses[-8:]) / 8
    assert late < 0.6 * early, (early, late)
    second = train(config, data, tmp_path / "b", progress=False)
    assert second.losses == first.losses
    # The result is a pipeline folder in the reference layout, loadable by diffusers itself.
    index = json.loads((tmp_path / "a" / "model_index.json").read_text())
    assert index["_class_name"] == "AudioDiffusionPipeline" and index["unet"] == ["diffusers", "UNet2DModel"]
    assert json.loads((tmp_path / "a" / "mel" / "mel_config.json").read_text())["x_res"] == 32
    from diffusers import DiffusionPipeline

    loaded = DiffusionPipeline.from_pretrained(tmp_path / "a")
    assert loaded.unet.config.sample_size == 32
    # Preview samples were written at the end, as audio and as a picture.
    assert (tmp_path / "a" / "samples" / "step_00000040" / "sample_0.wav").is_file()
    assert (tmp_path / "a" / "samples" / "step_00000040" / "sample_0.png").is_file()
    # TensorBoard shows the previews as images and plays them as audio: the WAV's samples at the model's rate.
    events = list((tmp_path / "a" / "logs").rglob("events.out.tfevents*"))
    assert len(events) == 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(events[0]), size_guidance={"audio": 0, "images": 0}).Reload()
    assert board.Tags()["images"] == ["samples"] and board.Tags()["audio"] == ["samples/audio_0"]
    (logged,) = board.Audio("samples/audio_0")
    assert logged.step == 40 and logged.sample_rate == MEL.sample_rate and logged.content_type == "audio/wav"
    written, rate = soundfile.read(tmp_path / "a" / "samples" / "step_00000040" / "sample_0.wav", dtype="float32")
    played, played_rate = soundfile.read(io.BytesIO(logged.encoded_audio_string), dtype="float32")
    assert played_rate == rate == MEL.sample_rate and logged.length_frames == len(played) == len(written)
    assert abs(len(written) - MEL.x_res * MEL.hop_length) <= MEL.hop_length  # a whole slice (it is under 10 s)
    assert float(abs(written).max()) > 0.01  # and not silence
    assert abs(played - written).max() <= 2 / 32767  # the same 16-bit samples, but for rounding vs truncation
    # The artefact-check fences of the training images travel with the pipeline: its own data passes them.
    from audiodiff.pipeline import AudioDiffusionPipeline

    pipeline = AudioDiffusionPipeline.from_pretrained(tmp_path / "a")
    assert set(pipeline.quality["fences"]["limits"]) >= {"total_variation", "spectral_flatness", "dark_fraction"}
    training_images = data.to_tensor(data.dataset[:12]["image"])
    reasons = pipeline.check_clips(training_images)
    assert sum(bool(found) for found in reasons) <= 1 and pipeline.check_clips(training_images * 0)[0]


def test_previews_in_tensorboard_are_the_first_ten_seconds_of_each_clip_clipped_to_full_scale(tmp_path):
    from types import SimpleNamespace

    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    from audiodiff.train_outputs import PREVIEW_AUDIO_SECONDS, write_previews

    rate = 8000
    time = np.arange(12 * rate) / rate  # 12 s: longer than what TensorBoard gets
    audios = np.stack([0.5 * np.sin(2 * np.pi * 440 * time), 1.5 * np.sin(2 * np.pi * 220 * time)]).astype("float32")
    images = np.zeros((2, 8, 16), dtype=np.uint8)
    writer = SummaryWriter(str(tmp_path / "logs"))
    write_previews(SimpleNamespace(images=images, audios=audios, sample_rate=rate), 8, tmp_path / "step", 7, writer)
    writer.close()
    assert sorted(path.name for path in (tmp_path / "step").iterdir()) == [
        "sample_0.png", "sample_0.wav", "sample_1.png", "sample_1.wav"
    ]  # fmt: skip
    (events,) = (tmp_path / "logs").glob("events.out.tfevents*")
    board = EventAccumulator(str(events), size_guidance={"audio": 0}).Reload()
    for index, peak in ((0, 0.5), (1, 1.0)):  # the second clip is clipped to [-1, 1], as its WAV is
        (logged,) = board.Audio(f"samples/audio_{index}")
        played, played_rate = soundfile.read(io.BytesIO(logged.encoded_audio_string), dtype="float32")
        assert logged.step == 7 and played_rate == rate and len(played) == PREVIEW_AUDIO_SECONDS * rate == 10 * rate
        expected = np.clip(audios[index, : len(played)], -1, 1)
        assert abs(played - expected).max() <= 2 / 32767 and abs(abs(played).max() - peak) <= 1e-3


def test_checkpoints_are_complete_and_only_the_newest_are_kept(data, tmp_path):
    (tmp_path / "checkpoints").mkdir(parents=True)
    (tmp_path / "checkpoints" / ".step_00000099.tmp-1").mkdir()  # debris of a killed writer: ignored
    config = tiny_config(max_steps=9, checkpoint_every=3, keep_checkpoints=2)
    trainer = Trainer(**_trainer_args(config, data, tmp_path))
    trainer.run()
    assert [p.name for p in checkpoint_dirs(tmp_path)] == ["step_00000006", "step_00000009"]
    latest = checkpoint_dirs(tmp_path)[-1]
    assert {p.name for p in latest.iterdir()} >= {"unet", "scheduler", "state.pt", "meta.json"}
    state = torch.load(latest / "state.pt", weights_only=True)
    assert state["global_step"] == 9
    # The EMA is saved through EMAModel.state_dict(): its weights differ from the raw ones after 9 steps.
    assert state["ema"]["optimization_step"] == 9
    raw = [parameter.detach() for parameter in trainer.accelerator.unwrap_model(trainer.unet).parameters()]
    assert len(state["ema"]["shadow_params"]) == len(raw)
    assert any(not torch.equal(shadow, weight) for shadow, weight in zip(state["ema"]["shadow_params"], raw))


def _trainer_args(config, data, out_dir):
    from audiodiff.models import ModelPreset, build_unet
    from audiodiff.training import _make_noise_scheduler

    unet = build_unet(ModelPreset.load(config.model), (MEL.y_res, MEL.x_res))
    return dict(
        config=config,
        data=data,
        out_dir=out_dir,
        unet=unet,
        noise_scheduler=_make_noise_scheduler(config),
        mel_config=data.mel_config,
        genres=None,
        genre=None,
        run_info={"data": str(data.source), "pretrained": None, "genre": None, "config": {}},
        progress=False,
    )


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_sigkill_then_resume_equals_uninterrupted(dataset_dir, data, tmp_path, precision):
    """A run killed with SIGKILL after a checkpoint and resumed ends with the same weights as one never stopped, in
    fp32 and with bf16 autocast on the CPU."""
    steps = 30
    command = [sys.executable, "-m", "audiodiff.cli.main", "train", "--data", str(dataset_dir), "--config", "tiny",
               "--mixed-precision", precision]  # fmt: skip
    options = ["--max-steps", str(steps), "--checkpoint-every", "3", "--sample-every", "0", "--learning-rate", "0.002"]
    killed_dir, straight_dir = killed_resumed_and_straight(command, options, steps, tmp_path)

    from safetensors.torch import load_file

    resumed = load_file(killed_dir / "unet" / "diffusion_pytorch_model.safetensors")
    straight = load_file(straight_dir / "unet" / "diffusion_pytorch_model.safetensors")
    assert resumed.keys() == straight.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=1e-6)
    assert json.loads((killed_dir / "losses.json").read_text()) == pytest.approx(
        json.loads((straight_dir / "losses.json").read_text()), abs=1e-6
    )


def test_genre_conditioned_training_then_finetune_on_one_genre(data, tmp_path):
    base = train(tiny_config(conditional=True, max_steps=6), data, tmp_path / "base", progress=False)
    assert base.steps == 6
    from audiodiff.pipeline import AudioDiffusionPipeline

    pipeline = AudioDiffusionPipeline.from_pretrained(tmp_path / "base")
    assert pipeline.genres == ["beats", "pads", "arpeggios"]
    assert pipeline.unet.config.num_class_embeds == 4
    before = {k: v.clone() for k, v in pipeline.unet.state_dict().items()}

    tuned = Trainer.start(
        tiny_config(max_steps=4, epoch_sampling="one_per_track", batch_size=2),
        data,
        tmp_path / "tuned",
        pretrained=str(tmp_path / "base"),
        genre="pads",
        progress=False,
    )
    assert len(tuned.rows) == sum(1 for value in data.dataset["genre"] if value == 1)
    assert set(tuned.rows.labels) == {1}
    tuned.run()
    after = AudioDiffusionPipeline.from_pretrained(tmp_path / "tuned").unet.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_finetune_adds_a_genre_the_base_does_not_know(data, tmp_path):
    from audiodiff.pipeline import AudioDiffusionPipeline

    train(tiny_config(conditional=True, max_steps=2, num_samples=0), data, tmp_path / "base", progress=False)
    before = AudioDiffusionPipeline.from_pretrained(tmp_path / "base").unet.class_embedding.weight.detach().clone()
    # The user's folder names its genre "strings" (the dataset's third genre under a new name).
    theirs = dataclasses.replace(data, genres=["beats", "pads", "strings"])
    tuned = Trainer.start(
        tiny_config(max_steps=2, num_samples=0, genre_init="unconditional"), theirs, tmp_path / "tuned",
        pretrained=str(tmp_path / "base"), genre="strings", progress=False,
    )  # fmt: skip
    assert tuned.genres == ["beats", "pads", "arpeggios", "strings"] and set(tuned.rows.labels) == {3}
    start = tuned.unet.class_embedding.weight.detach()
    assert torch.equal(start[:3], before[:3]) and torch.equal(start[3], before[3]) and torch.equal(start[4], before[3])
    tuned.run()
    pipeline = AudioDiffusionPipeline.from_pretrained(tmp_path / "tuned")
    assert pipeline.genres == ["beats", "pads", "arpeggios", "strings"] and pipeline.unet.config.num_class_embeds == 5
    images = pipeline(batch_size=1, num_inference_steps=2, genre="strings", generator=torch.Generator().manual_seed(0))
    assert images.images[0].size == (MEL.x_res, MEL.y_res)


def test_class_embedding_lr_scale_moves_the_new_genre_row_and_only_it_further(data, tmp_path):
    """At the shared weights' learning rate a new genre's row hardly moves; `class_embedding_lr_scale` trains the
    embedding at a multiple of it, in its own optimizer group. With no label dropout the other rows get no gradient
    and stay (AdamW's decoupled weight decay aside)."""
    from audiodiff.optimizer_steps import parameter_groups

    train(tiny_config(conditional=True, max_steps=2, num_samples=0), data, tmp_path / "base", progress=False)
    theirs = dataclasses.replace(data, genres=["beats", "pads", "strings"])
    moved = {}
    for scale in (1.0, 100.0):
        config = tiny_config(max_steps=4, num_samples=0, genre_init="unconditional", guidance_dropout=0.0,
                             class_embedding_lr_scale=scale)  # fmt: skip
        tuned = Trainer.start(config, theirs, tmp_path / f"tuned-{scale:g}", pretrained=str(tmp_path / "base"),
                              genre="strings", progress=False)  # fmt: skip
        groups, embedding = tuned.optimizer.param_groups, tuned.accelerator.unwrap_model(tuned.unet).class_embedding
        if scale == 1.0:
            assert len(groups) == 1
        else:
            assert [len(group["params"]) for group in groups][1:] == [1]
            assert groups[1]["params"][0] is embedding.weight
        start = embedding.weight.detach().clone()
        tuned.run()
        rows = embedding.weight.detach()
        moved[scale] = float((rows[3] - start[3]).norm())
        others = [0, 1, 2, 4]
        torch.testing.assert_close(rows[others], start[others], rtol=1e-4, atol=1e-6)
    assert moved[100.0] > 10 * moved[1.0] > 0
    plain = [torch.nn.Parameter(torch.zeros(1))]  # a model without a genre embedding: one group, as given
    assert parameter_groups(torch.nn.Linear(2, 2), plain, tiny_config(class_embedding_lr_scale=5.0)) is plain


def test_new_genre_row_starts_where_genre_init_says(data, tmp_path):
    import diffusers

    from audiodiff.objective import label_losses
    from audiodiff.pipeline import AudioDiffusionPipeline

    train(tiny_config(conditional=True, max_steps=2, num_samples=0), data, tmp_path / "base", progress=False)
    base = AudioDiffusionPipeline.from_pretrained(tmp_path / "base")
    rows = base.unet.class_embedding.weight.detach().clone()  # beats, pads, arpeggios, then the null label
    theirs = dataclasses.replace(data, genres=["beats", "pads", "strings"])

    def start_row(out, **changes):
        trainer = Trainer.start(tiny_config(max_steps=1, num_samples=0, **changes), theirs, tmp_path / out,
                                pretrained=str(tmp_path / "base"), genre="strings", progress=False)  # fmt: skip
        weight = trainer.unet.class_embedding.weight.detach()
        assert torch.equal(weight[:3], rows[:3]) and torch.equal(weight[4], rows[3])  # known rows and null kept
        return weight[3]

    assert torch.equal(start_row("named", genre_init="pads"), rows[1])
    # closest: the label under which the base denoises the new genre's images best, scored on shared noise, so
    # that two labels with the same row score exactly the same.
    strings = theirs.select_genres(["strings"])
    images = theirs.to_tensor(strings.dataset["image"])
    assert len(images) <= 48  # all of them are scored
    schedule = diffusers.DDPMScheduler.from_config(base.scheduler.config)  # the training noise schedule
    losses = label_losses(base.unet, schedule, images, [0, 1, 2, 3], seed=0)
    assert len(set(losses)) == 4 and all(0 < loss < 10 for loss in losses)
    twin = base.unet.class_embedding.weight.detach().clone()
    with torch.no_grad():
        base.unet.class_embedding.weight[2] = base.unet.class_embedding.weight[0]
    assert label_losses(base.unet, schedule, images, [0, 2], seed=0) == [losses[0]] * 2
    with torch.no_grad():
        base.unet.class_embedding.weight.copy_(twin)
    best = min(range(4), key=losses.__getitem__)
    assert torch.equal(start_row("closest"), rows[best])
    with pytest.raises(TrainingError, match="genre_init 'jazz' is not a genre of the pretrained model .*beats, pads"):
        start_row("jazz", genre_init="jazz")
    with pytest.raises(ConfigError, match="genre_init must be closest, unconditional or a genre name"):
        tiny_config(genre_init=" ")
    from audiodiff.models import add_genre

    with pytest.raises(ValueError, match="start_from 3 is not one of the model's 3 genres"):
        add_genre(base.unet, ["beats", "pads", "arpeggios"], "strings", start_from=3)


def test_clear_errors(data, tmp_path):
    train(tiny_config(max_steps=2, num_samples=0), data, tmp_path / "base", progress=False)
    with pytest.raises(TrainingError, match="genre 'jazz' is not in dataset .*beats, pads, arpeggios"):
        Trainer.start(tiny_config(), data, tmp_path / "x", genre="jazz", progress=False)
    # A batch larger than the dataset: each epoch passes over the rows as often as one optimizer step needs.
    large = Trainer.start(tiny_config(batch_size=500), data, tmp_path / "y", progress=False)
    assert large.steps_per_epoch == 1 and len(large.epoch_order(0)) >= 500
    train(tiny_config(max_steps=2, checkpoint_every=1, num_samples=0), data, tmp_path / "z", progress=False)
    with pytest.raises(TrainingError, match="already holds a finished run: add --resume"):
        Trainer.start(tiny_config(), data, tmp_path / "z", progress=False)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(TrainingError, match="not empty and not a training run"):
        Trainer.start(tiny_config(), data, tmp_path / "notes", progress=False)
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine" and len(list((tmp_path / "notes").iterdir())) == 1
    other = dataclasses.replace(data, mel_config=MEL.replace(hop_length=128))
    with pytest.raises(TrainingError, match="other mel settings .*hop_length 64 vs 128"):
        Trainer.start(tiny_config(), other, tmp_path / "w", pretrained=str(tmp_path / "base"), progress=False)
    empty = dataclasses.replace(data, dataset=data.dataset.select([]))
    with pytest.raises(TrainingError, match="no images to train on"):
        Trainer.start(tiny_config(), empty, tmp_path / "v", progress=False)


def test_finetune_cli_from_reference_format_bin_weights(dataset_dir, data, tmp_path):
    from click.testing import CliRunner

    from audiodiff.cli.main import cli
    from audiodiff.pipeline import AudioDiffusionPipeline

    train(tiny_config(max_steps=2, num_samples=0), data, tmp_path / "base", progress=False)
    AudioDiffusionPipeline.from_pretrained(tmp_path / "base").save_pretrained(
        tmp_path / "reference", safe_serialization=False
    )
    assert list((tmp_path / "reference" / "unet").glob("*.bin"))
    runner = CliRunner()
    common = ["finetune", str(tmp_path / "reference"), "--data", str(dataset_dir), "--max-steps", "3"]
    result = runner.invoke(cli, [*common, "--genre", "pads", "--batch-size", "2", "--out", str(tmp_path / "tuned")])
    assert result.exit_code == 0, result.output
    assert "trained 3 steps" in result.output
    tuned = AudioDiffusionPipeline.from_pretrained(tmp_path / "tuned")
    assert tuned.training["genre"] == "pads" and tuned.training["steps"] == 3
    result = runner.invoke(cli, [*common, "--genre", "jazz", "--out", str(tmp_path / "bad")])
    assert result.exit_code == 1
    assert "Error: genre 'jazz' is not in dataset" in result.output


@pytest.mark.parametrize(
    "line, message",
    [
        ("learning_rate: fast", "learning_rate must be a number, got 'fast'"),
        ('use_ema: "no"', "use_ema must be true or false, got 'no'"),
        ("noise_scheduler: UNet2DModel", "noise_scheduler 'UNet2DModel' is not a diffusers scheduler class"),
        ("keep_checkpoints: -1", "keep_checkpoints must be at least 1, got -1"),
        ("max_steps: 0", "max_steps must be at least 1 (or null), got 0"),
        ("checkpoint_every: -1", "checkpoint_every must be at least 0, got -1"),
        ("batch_size: 2.5", "batch_size must be a whole number, got 2.5"),
        ("seed: 99999999999999999999999", "seed must be below 2**63, got 99999999999999999999999"),
        ("prediction_type: v", "prediction_type must be one of epsilon, v_prediction, sample, got 'v'"),
        (
            "beta_schedule: cosine",
            "beta_schedule must be one of linear, scaled_linear, squaredcos_cap_v2, got 'cosine'",
        ),
        ("rescale_betas_zero_snr: 1", "rescale_betas_zero_snr must be true or false or null, got 1"),
        (
            "rescale_betas_zero_snr: true\nprediction_type: epsilon",
            "rescale_betas_zero_snr needs prediction_type v_prediction or sample: an epsilon-prediction model cannot "
            "predict the clean image at zero SNR (Lin et al. 2023)",
        ),
        ("snr_gamma: 0", "snr_gamma must be a positive number (or null for uniform weighting), got 0.0"),
        ("noise_offset: 1.5", "noise_offset must be in [0, 1] (0 turns it off; 0.05 to 0.1 is usual), got 1.5"),
        ("mixed_precision: fp8", "mixed_precision must be one of no, fp16, bf16, auto, got 'fp8'"),
        ("class_embedding_lr_scale: 0", "class_embedding_lr_scale must be a positive number, got 0.0"),
    ],
)
def test_config_values_are_checked_against_their_types_and_ranges(tmp_path, line, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(f"model: tiny\nmax_steps: 10\n{line}\n")
    with pytest.raises(ConfigError) as error:
        TrainConfig.load(path)
    assert str(error.value) == f"{path}: {message}"


def test_config_reads_exponents_yaml_leaves_as_text(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("learning_rate: 1e-4\nmax_steps: 3\n")  # YAML 1.1 reads 1e-4 (no dot) as a string
    assert TrainConfig.load(path).learning_rate == 1e-4


def test_epoch_holds_at_least_one_step_of_distinct_slices():
    tracks = [[0, 1, 2], [3, 4, 5, 6]]
    for epoch in range(5):
        order = epoch_indices(tracks, epoch, 0, "one_per_track", min_rows=6)
        assert len(order) == 6 and len(set(order)) == 6  # three different slices of each song
        assert sum(row in tracks[0] for row in order) == 3
    assert epoch_indices(tracks, 2, 0, "one_per_track", min_rows=2) == epoch_indices(tracks, 2, 0, "one_per_track")
    repeated = epoch_indices(tracks, 0, 0, "all", min_rows=10)
    assert len(repeated) == 14 and sorted(repeated) == sorted(list(range(7)) * 2)


def _cli(*arguments):
    from click.testing import CliRunner

    from audiodiff.cli.main import cli

    return CliRunner().invoke(cli, [str(argument) for argument in arguments])


def test_finetune_preset_sizes_the_run_from_the_data_and_says_so(dataset_dir, data, tmp_path):
    """Ten songs once got 6 optimizer steps (3 epochs of one slice per track, batch 4) and never left warm-up. The
    preset now sees every slice `passes` times, within a floor and a ceiling of steps, warming up for 5% of them."""
    train(tiny_config(max_steps=2, num_samples=0), data, tmp_path / "base", progress=False)
    pads = len(data.select_genres(["pads"]).dataset)

    def planned(folder, **changes):
        config = dataclasses.replace(TrainConfig.load("finetune"), **changes)
        return Trainer.start(config, data, tmp_path / folder, pretrained=str(tmp_path / "base"), genre="pads",
                             progress=False)  # fmt: skip

    small = planned("a")
    assert 9 * pads / 4 < 300 and small.total_steps == 300 and small.warmup_steps == 15  # the floor
    assert small.plan() == [
        f"plan: genre 'pads': {pads} slices of 2 tracks; 300 steps of 4 images (9 passes over the rows, within "
        f"300-3000) = 1200 images seen, {1200 / pads:.1f} per slice; warm-up 15 steps"
    ]
    assert 300 < 200 * pads / 4 < 3000 and planned("b", passes=200).total_steps == math.ceil(200 * pads / 4)
    assert planned("c", passes=10_000).total_steps == 3000  # the ceiling
    assert planned("d", epochs=2).total_steps == 2 * planned("e").steps_per_epoch  # --epochs overrides
    short = planned("f", max_steps=6, warmup_fraction=None, lr_warmup_steps=20)
    assert short.total_steps == 6 and short.warmup_steps == 20
    assert short.plan()[1].startswith("warning: 6 steps is not more than the 20 warm-up steps")
    result = _cli("finetune", tmp_path / "base", "--data", dataset_dir, "--genre", "pads", "--out",
                  tmp_path / "tuned", "--max-steps", 3)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "plan: genre 'pads'" in result.output and "trained 3 steps" in result.output
    # The preset's guide_scale: the fine-tune recommends its base as the guide; a model from scratch has no base.
    recommended = json.loads((tmp_path / "tuned" / "audiodiff.json").read_text())["guide"]
    assert recommended == {"model": "base", "scale": 1.25}
    assert "guide" not in json.loads((tmp_path / "base" / "audiodiff.json").read_text())
    train(tiny_config(max_steps=1, num_samples=0, guide_scale=1.5), data, tmp_path / "scratch", progress=False)
    assert "guide" not in json.loads((tmp_path / "scratch" / "audiodiff.json").read_text())
    with pytest.raises(ConfigError, match="set epochs, max_steps or passes"):
        TrainConfig(epochs=None, max_steps=None)
    with pytest.raises(ConfigError, match="guide_scale must be a finite number of at least 0"):
        TrainConfig(max_steps=1, guide_scale=-1.0)


def test_a_long_run_estimate_names_the_max_steps_that_fit_fifteen_minutes():
    """The default plan is a pure function of the data (the same model on any machine); the estimate after six
    steps tells a user on a slow machine what a shorter run is."""
    from audiodiff.train_plan import shorter_run_hint

    assert shorter_run_hint(15 * 60, 1.0) == ""  # within the bound: nothing to add
    assert shorter_run_hint(37 * 60, 1000 / (12.2 * 60)) == "; --max-steps 1200 fits about 15 min here"
    assert shorter_run_hint(40 * 60, 4.5) == "; --max-steps 4000 fits about 15 min here"
    assert shorter_run_hint(3 * 3600, 0.01) == "; --max-steps 100 fits about 15 min here"  # never below 100


@pytest.mark.parametrize(
    "precision, where", [("no", "cpu"), ("bf16", "cpu, bf16"), ("auto", "cpu, bf16" if cpu_has_fast_bf16() else "cpu")]
)
def test_a_run_prints_its_estimate_after_six_steps_with_the_hint(dataset_dir, tmp_path, monkeypatch, precision, where):
    """The estimate times steps 2-6 (the first step's one-time costs left out), names the device and the mixed
    precision, and, past the bound, names the --max-steps that fits it: here a bound of 1e-5 min (0.6 ms), so that an
    8-step run is past it."""
    import re

    import audiodiff.train_plan

    monkeypatch.setattr(audiodiff.train_plan, "HINT_MINUTES", 1e-5)
    result = _cli("train", "--data", dataset_dir, "--config", "tiny", "--max-steps", 8, "--sample-every", 0,
                  "--checkpoint-every", 0, "--mixed-precision", precision, "--out", tmp_path / "run")  # fmt: skip
    assert result.exit_code == 0, result.output
    estimate = re.search(rf"estimated: [\d.]+ min for the 2 steps left on {re.escape(where)} \(from steps 2-6\); "
                         r"--max-steps (\d+) fits about 1e-05 min here", result.output)  # fmt: skip
    assert estimate and int(estimate.group(1)) == 100, result.output  # the floor: never fewer than 100 steps
    precision = "no" if where == "cpu" else "bf16"
    assert json.loads((tmp_path / "run" / "audiodiff.json").read_text())["training"]["precision"] == precision
    names = {"no": "fp32", "bf16": "bf16 autocast, fp32 weights"}
    assert f"| precision | {names[precision]} |" in (tmp_path / "run" / "README.md").read_text()


def test_one_process_trains_in_fp32_then_bf16_then_fp32_again(dataset_dir, tmp_path):
    """accelerate keeps one mixed precision per process: a notebook (here the CLI in one process) that trains twice
    with different precisions gets both, not "AcceleratorState has already been initialized"."""
    for run, precision in enumerate(["no", "bf16", "no"]):
        result = _cli("train", "--data", dataset_dir, "--config", "tiny", "--max-steps", 2, "--sample-every", 0,
                      "--checkpoint-every", 0, "--mixed-precision", precision,
                      "--out", tmp_path / f"run{run}")  # fmt: skip
        assert result.exit_code == 0 and "trained 2 steps" in result.output, result.output


def test_resume_refuses_settings_it_would_not_apply_and_a_used_out_folder(dataset_dir, tmp_path):
    run = tmp_path / "run"
    common = ["train", "--data", dataset_dir, "--config", "tiny", "--sample-every", "0", "--out", run]
    assert _cli(*common, "--max-steps", "2", "--checkpoint-every", "1").exit_code == 0
    for option, value, message in [
        ("--batch-size", "8", "its --batch-size is 4, not 8"),
        ("--learning-rate", "0.5", "its --learning-rate is 0.001, not 0.5"),
        ("--data", tmp_path, f"its --data is '{dataset_dir}'"),
        ("--config", "default", "its --config is 'tiny', not 'default'"),
    ]:
        result = _cli(*common, "--resume", option, value)
        assert result.exit_code == 1 and message in result.output, result.output
        assert "only --max-steps, --epochs, --num-workers, --channels-last, --compile can change" in result.output
    result = _cli(*common, "--max-steps", "3", "--resume")  # the same command with --resume: allowed
    assert result.exit_code == 0, result.output
    assert f"resuming {run} at step 2 of 3" in result.output and "trained 3 steps" in result.output
    result = _cli(*common, "--max-steps", "4")
    assert result.exit_code == 1 and "already holds a finished run: add --resume" in result.output
    for option in (["--max-steps", "0"], ["--max-steps", "-3"], ["--checkpoint-every", "-1"], ["--seed", "-1"]):
        result = _cli(*common, *option)
        assert result.exit_code == 2 and f"Invalid value for '{option[0]}'" in result.output, result.output


def test_a_damaged_checkpoint_falls_back_to_the_newest_intact_one(data, tmp_path, caplog):
    run = tmp_path / "run"
    train(tiny_config(max_steps=4, checkpoint_every=1, keep_checkpoints=4, num_samples=0), data, run, progress=False)
    step_1, step_2, step_3, step_4 = checkpoint_dirs(run)
    state = (step_4 / "state.pt").read_bytes()
    (step_4 / "state.pt").write_bytes(state[: len(state) // 2])  # truncated by a full disk
    (step_3 / "meta.json").unlink()
    (step_2 / "scheduler" / "scheduler_config.json").write_text("{broken")
    with caplog.at_level("WARNING", logger="audiodiff.training"):
        trainer = Trainer.resume(run, progress=False, max_steps=5)
    assert trainer.global_step == 1
    trainer.close()  # resumed but not run: release the folder
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 3 and all("damaged checkpoint" in line for line in warnings)
    assert str(step_4) in warnings[0] and "state.pt" not in warnings[1] and "meta.json" in warnings[1]
    shutil.rmtree(step_1)
    with pytest.raises(TrainingError, match="no intact checkpoint in .*delete that folder to start the run again"):
        Trainer.resume(run, progress=False)


def test_finetune_from_a_damaged_pipeline_is_one_line(dataset_dir, data, tmp_path):
    from audiodiff.pipeline import AudioDiffusionPipeline

    train(tiny_config(max_steps=1, num_samples=0), data, tmp_path / "base", progress=False)
    AudioDiffusionPipeline.from_pretrained(tmp_path / "base").save_pretrained(
        tmp_path / "reference", safe_serialization=False
    )
    (weights,) = (tmp_path / "reference" / "unet").glob("*.bin")
    weights.write_bytes(weights.read_bytes()[:1000])
    result = _cli("finetune", tmp_path / "reference", "--data", dataset_dir, "--out", tmp_path / "tuned")
    assert result.exit_code == 1, result.output
    assert f"Error: {tmp_path / 'reference'}: cannot load the pretrained pipeline" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


# --- recipe options: prediction type, schedule, zero terminal SNR, Min-SNR weighting, offset noise --------------------
def test_min_snr_weights_equal_the_formula_on_known_timesteps():
    from diffusers import DDPMScheduler

    from audiodiff.training import min_snr_weights

    scheduler = DDPMScheduler()  # linear betas 1e-4 .. 0.02, 1000 steps
    timesteps = torch.tensor([0, 10, 100, 500, 999])
    alpha = scheduler.alphas_cumprod[timesteps].double()
    snr = alpha / (1 - alpha)
    assert snr[0] > 5 > snr[-1]  # the clipped and the unclipped ends are both covered
    clipped = snr.clamp(max=5.0)
    for prediction_type, expected in [
        ("epsilon", clipped / snr),
        ("v_prediction", clipped / (snr + 1)),
        ("sample", clipped),
    ]:
        weights = min_snr_weights(scheduler, timesteps, 5.0, prediction_type)
        assert weights.shape == (5,)
        torch.testing.assert_close(weights.double(), expected, rtol=1e-5, atol=0)
    assert min_snr_weights(scheduler, timesteps, 5.0, "epsilon")[-1] == 1  # SNR below gamma: uniform weight
    zero = DDPMScheduler(rescale_betas_zero_snr=True, prediction_type="v_prediction")
    assert min_snr_weights(zero, torch.tensor([999]), 5.0, "v_prediction").tolist() == [0.0]  # pure noise: no weight


RECIPES = {
    "v": {"prediction_type": "v_prediction"},
    "sample": {"prediction_type": "sample"},
    "v-zero-snr": {"prediction_type": "v_prediction", "rescale_betas_zero_snr": True},
    "cosine": {"beta_schedule": "squaredcos_cap_v2"},
    "min-snr": {"snr_gamma": 5.0},
    "v-min-snr": {"prediction_type": "v_prediction", "snr_gamma": 5.0},
    "noise-offset": {"noise_offset": 0.1},
    "resolution-shift": {"prediction_type": "v_prediction", "resolution_shift": 4.0},
}


@pytest.fixture(scope="module")
def default_recipe_losses(data, tmp_path_factory):
    return train(
        tiny_config(max_steps=3, num_samples=0), data, tmp_path_factory.mktemp("default"), progress=False
    ).losses


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_each_recipe_option_trains_saves_and_its_pipeline_samples_and_inverts(
    data, tmp_path, recipe, default_recipe_losses
):
    from audiodiff.pipeline import AudioDiffusionPipeline

    options = RECIPES[recipe]
    result = train(tiny_config(max_steps=3, num_samples=0, **options), data, tmp_path, progress=False)
    assert result.steps == 3 and all(math.isfinite(loss) for loss in result.losses)
    assert result.losses != default_recipe_losses  # the option reached the loss (same seed, same data)
    pipeline = AudioDiffusionPipeline.from_pretrained(tmp_path)
    pipeline.set_progress_bar_config(disable=True)
    saved = pipeline.scheduler.config
    assert saved.prediction_type == options.get("prediction_type", "epsilon")
    assert saved.beta_schedule == options.get("beta_schedule", "linear")
    zero_snr = options.get("rescale_betas_zero_snr", False)
    assert saved.rescale_betas_zero_snr == zero_snr and (saved.timestep_spacing == "trailing") == zero_snr
    recorded = pipeline.training["config"]
    assert recorded["snr_gamma"] == options.get("snr_gamma") and recorded["noise_offset"] == options.get(
        "noise_offset", 0.0
    )
    for name in ("dpm", "ddim"):
        sampler = pipeline.set_scheduler(name).scheduler
        for key in ("prediction_type", "beta_schedule", "rescale_betas_zero_snr", "timestep_spacing"):
            assert sampler.config[key] == saved[key], (name, key)
        images = pipeline(num_inference_steps=3, generator=torch.Generator().manual_seed(0), output_type="pt").images
        assert images.shape == (1, 1, 32, 32) and torch.isfinite(images).all()
        assert int(sampler.timesteps[0]) == 999 or not zero_snr  # trailing spacing starts at pure noise
    latents = pipeline.invert(images=images, num_inference_steps=3)
    assert latents.shape == (1, 1, 32, 32) and torch.isfinite(latents).all()


def test_resolution_shift_moves_every_log_snr_by_the_same_amount_and_every_sampler_follows(data, tmp_path):
    from audiodiff.pipeline import AudioDiffusionPipeline
    from audiodiff.training import _make_noise_scheduler

    base = _make_noise_scheduler(tiny_config(prediction_type="v_prediction")).alphas_cumprod.double()
    train(tiny_config(max_steps=2, num_samples=0, prediction_type="v_prediction", resolution_shift=4.0), data,
          tmp_path / "run", progress=False)  # fmt: skip
    pipeline = AudioDiffusionPipeline.from_pretrained(tmp_path / "run")
    for name in ("saved", "ddim", "dpm", "euler"):
        shifted = pipeline.set_scheduler(name).scheduler.alphas_cumprod.double()
        moved = torch.log(shifted / (1 - shifted)) - torch.log(base / (1 - base))
        torch.testing.assert_close(moved, torch.full_like(moved, -2 * math.log(4.0)), atol=1e-4, rtol=0)
    with pytest.raises(TrainingError, match="resolution_shift applies to new models"):
        Trainer.start(tiny_config(resolution_shift=2.0), data, tmp_path / "tuned", pretrained=str(tmp_path / "run"))
    with pytest.raises(ConfigError, match="resolution_shift must be a positive number"):
        tiny_config(resolution_shift=0.0)


def test_finetune_keeps_the_pretrained_schedule_and_refuses_another_prediction_type(dataset_dir, data, tmp_path):
    from audiodiff.pipeline import AudioDiffusionPipeline

    base = tmp_path / "base"
    options = dict(prediction_type="v_prediction", beta_schedule="squaredcos_cap_v2", max_steps=1, num_samples=0)
    train(tiny_config(**options), data, base, progress=False)
    # The finetune preset sets no schedule: the pretrained model's is kept.
    result = _cli("finetune", base, "--data", dataset_dir, "--max-steps", "1", "--out", tmp_path / "kept")
    assert result.exit_code == 0, result.output
    kept = AudioDiffusionPipeline.from_pretrained(tmp_path / "kept").scheduler.config
    assert kept.prediction_type == "v_prediction" and kept.beta_schedule == "squaredcos_cap_v2"
    # Another prediction type is refused, in one line naming the option.
    result = _cli("finetune", base, "--data", dataset_dir, "--prediction-type", "epsilon", "--out",
                  tmp_path / "refused")  # fmt: skip
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "predicts v_prediction; a fine-tune keeps what the model predicts, so prediction_type epsilon" in (
        result.output
    )
    # The schedule may change: here to zero terminal SNR, saved with trailing timesteps.
    tuned = Trainer.start(tiny_config(max_steps=1, num_samples=0, rescale_betas_zero_snr=True), data,
                          tmp_path / "zero", pretrained=str(base), progress=False)  # fmt: skip
    tuned.run()
    zero = AudioDiffusionPipeline.from_pretrained(tmp_path / "zero").scheduler.config
    assert zero.prediction_type == "v_prediction" and zero.rescale_betas_zero_snr
    assert zero.timestep_spacing == "trailing" and zero.beta_schedule == "squaredcos_cap_v2"
    # Zero terminal SNR on an epsilon model is refused when fine-tuning too.
    train(tiny_config(max_steps=1, num_samples=0), data, tmp_path / "epsilon", progress=False)
    with pytest.raises(ConfigError, match="rescale_betas_zero_snr needs prediction_type v_prediction or sample"):
        Trainer.start(tiny_config(rescale_betas_zero_snr=True), data, tmp_path / "bad",
                      pretrained=str(tmp_path / "epsilon"), progress=False)  # fmt: skip


@pytest.mark.parametrize(
    "arguments, code, message",
    [
        (["--rescale-betas-zero-snr"], 1, "Error: rescale_betas_zero_snr needs prediction_type v_prediction or sample"),
        (["--rescale-betas-zero-snr", "--prediction-type", "epsilon"], 1, "tiny.yaml: rescale_betas_zero_snr needs"),
        (["--prediction-type", "v"], 2, "Invalid value for '--prediction-type'"),
        (["--beta-schedule", "cosine"], 2, "Invalid value for '--beta-schedule'"),
        (["--snr-gamma", "0"], 2, "Invalid value for '--snr-gamma'"),
        (["--snr-gamma", "nan"], 2, "Invalid value for '--snr-gamma'"),
        (["--noise-offset", "2"], 2, "Invalid value for '--noise-offset'"),
        (["--noise-offset", "-0.1"], 2, "Invalid value for '--noise-offset'"),
        pytest.param(
            ["--mixed-precision", "fp16"],
            1,
            "Error: --mixed-precision fp16 needs a CUDA GPU; on cpu use bf16 or auto",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 is refused only without a GPU"),
        ),
    ],
)
def test_bad_recipe_options_are_refused_on_the_command_line(dataset_dir, tmp_path, arguments, code, message):
    result = _cli("train", "--data", dataset_dir, "--config", "tiny", "--out", tmp_path / "run", *arguments)
    assert result.exit_code == code and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()
    if code == 1:
        assert len(result.output.strip().splitlines()) == 1, result.output


# A `train` run paused right after it found its --out empty (where a real run spends seconds building its model and
# data before writing run.json): the moment a second run into the same folder used to slip in.
_PAUSED_RUN = """
import sys

from audiodiff import training
from audiodiff.cli.main import cli

start_run = training.Trainer._new_run.__func__


def paused(cls, *args, **kwargs):
    print("checked", flush=True)
    sys.stdin.readline()
    return start_run(cls, *args, **kwargs)


training.Trainer._new_run = classmethod(paused)
cli(sys.argv[1:])
"""


def test_a_second_run_into_a_folder_another_process_trains_into_is_refused(dataset_dir, tmp_path):
    import subprocess

    run = tmp_path / "run"
    common = [
        "train",
        "--data",
        dataset_dir,
        "--config",
        "tiny",
        "--sample-every",
        "0",
        "--max-steps",
        "3",
        "--out",
        run,
    ]
    first = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_RUN, *map(str, common), "--seed", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout.readline() == "checked\n", first.stderr.read()
        for extra in (["--seed", "1"], ["--seed", "1", "--resume"]):
            second = _cli(*common, *extra)
            assert second.exit_code == 1, second.output
            assert f"{run} is in use by process {first.pid} (audiodiff train)" in second.output
            assert "Traceback" not in second.output and "pipeline written" not in second.output
        out, err = first.communicate("\n", timeout=300)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, err
    assert "pipeline written" in out
    assert json.loads((run / "run.json").read_text())["config"]["seed"] == 0
    assert (run / "model_index.json").is_file() and len(json.loads((run / "losses.json").read_text())) == 3
    # Finished, the folder is free again: resuming it is the only thing refused, and for its own reason.
    again = _cli(*common, "--seed", "1")
    assert again.exit_code == 1 and "already holds a finished run" in again.output


def test_train_classifier_refuses_a_folder_another_run_holds(dataset_dir, tmp_path):
    import os

    from audiodiff.utils import LOCK_NAME, output_lock

    out = tmp_path / "classifier"
    with output_lock(out, "audiodiff train-classifier"):  # as another process would (flock is per open file)
        result = _cli("train-classifier", "--data", dataset_dir, "--out", out, "--steps", "2")
    assert result.exit_code == 1, result.output
    assert f"{out} is in use by process {os.getpid()} (audiodiff train-classifier)" in result.output
    assert "Traceback" not in result.output and [path.name for path in out.iterdir()] == [LOCK_NAME]


def test_a_diverged_run_stops_with_one_line_and_saves_nothing_non_finite(dataset_dir, tmp_path):
    from safetensors.torch import load_file

    run = tmp_path / "run"
    result = _cli("train", "--data", dataset_dir, "--config", "tiny", "--out", run, "--max-steps", "6",
                  "--learning-rate", "1e30", "--checkpoint-every", "1", "--sample-every", "0")  # fmt: skip
    assert result.exit_code == 1, result.output
    diverged = r"step \d: the (loss|gradient norm) is (nan|inf) \(diverged\): lower --learning-rate \(now 1e\+30\)"
    assert re.search(diverged, result.output), result.output
    assert "Traceback" not in result.output and "pipeline written" not in result.output
    assert not (run / "model_index.json").exists() and not (run / "unet").exists()
    for folder in checkpoint_dirs(run):
        weights = load_file(folder / "unet" / "diffusion_pytorch_model.safetensors")
        assert all(torch.isfinite(tensor).all() for tensor in weights.values())
        state = torch.load(folder / "state.pt", weights_only=True)
        assert all(math.isfinite(loss) for loss in state["losses"].tolist())
    # The newest checkpoint, which the message names, can be resumed.
    newest = checkpoint_dirs(run)[-1] if checkpoint_dirs(run) else None
    assert (newest.name if newest else "no checkpoint was written") in result.output
    if newest is not None:
        trainer = Trainer.resume(run, progress=False)
        assert trainer.global_step == int(newest.name[5:])
        trainer.close()


def test_non_finite_weights_are_never_saved(data, tmp_path):
    trainer = Trainer(**_trainer_args(tiny_config(max_steps=1, checkpoint_every=1), data, tmp_path))
    with torch.no_grad():
        next(trainer.unet.parameters()).view(-1)[0] = float("nan")
    for save in (trainer.save_checkpoint, trainer.save_pipeline):
        with pytest.raises(
            TrainingError, match="step 1: some weights are not finite .diverged.: lower --learning-rate"
        ):
            save()
    assert not checkpoint_dirs(tmp_path) and not (tmp_path / "model_index.json").exists()


def _flip(path, count: int = 64) -> None:
    """Flip `count` bytes in the middle of `path`, as a bad disk or copy would: the file still parses."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for index in range(middle, middle + count):
        data[index] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_a_checkpoint_are_found_by_checksum_and_passed_over(data, tmp_path, caplog):
    from safetensors.torch import load_file

    run = tmp_path / "run"
    train(tiny_config(max_steps=3, checkpoint_every=1, keep_checkpoints=3, num_samples=0), data, run, progress=False)
    step_1, step_2, step_3 = checkpoint_dirs(run)
    weights = step_3 / "unet" / "diffusion_pytorch_model.safetensors"
    _flip(weights)
    _flip(step_2 / "state.pt")
    load_file(weights), torch.load(step_2 / "state.pt", weights_only=True)  # both still load: only checksums tell
    with caplog.at_level("WARNING", logger="audiodiff.training"):
        trainer = Trainer.resume(run, progress=False, max_steps=4)
    assert trainer.global_step == 1
    trainer.close()
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2 and all("damaged checkpoint" in line for line in warnings)
    assert (
        str(step_3) in warnings[0]
        and "unet/diffusion_pytorch_model.safetensors does not match its checksum" in warnings[0]
    )
    assert str(step_2) in warnings[1] and "state.pt does not match its checksum" in warnings[1]
    # A checkpoint written before checksums (none in its meta.json) still loads.
    from audiodiff.checkpoints import FILES_KEY, META_KEY

    meta = json.loads((step_1 / "meta.json").read_text())
    assert set(meta[FILES_KEY]) >= {"state.pt", "unet/config.json", "scheduler/scheduler_config.json"}
    del meta[FILES_KEY], meta[META_KEY]
    (step_1 / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(step_2), shutil.rmtree(step_3)
    assert Trainer.resume(run, progress=False, max_steps=4).run().steps == 4


def test_random_offsets_cut_new_windows_from_the_audio_reproducibly(tmp_path):
    """Rows cut at random shifts from their tracks: images prepare never wrote, the same for the same (seed, step,
    rows), a silent shift falling back to the row's own slice; and a run with them trains and resumes exactly."""
    from audiodiff.audio import save_audio
    from audiodiff.data import load_spectrogram_dataset
    from audiodiff.data.offsets import OffsetWindows
    from audiodiff.synth import synthesize

    music = tmp_path / "music" / "arpeggios"
    music.mkdir(parents=True)
    for seed in range(2):
        save_audio(music / f"song{seed}.wav", synthesize("arpeggios", 3.0, MEL.sample_rate, seed=seed), MEL.sample_rate)
    mel_file = MEL.save(tmp_path / "mel.json")
    result = _cli("prepare", tmp_path / "music", "--out", tmp_path / "data", "--mel-config", mel_file,
                  "--genre-from", "folder", "--num-proc", 1)  # fmt: skip
    assert result.exit_code == 0, result.output
    data = load_spectrogram_dataset(tmp_path / "data")
    offsets = OffsetWindows(data.dataset, MEL, data.bits, seed=0)
    rows = list(range(6))
    first, again, later = offsets.images(rows, 0), offsets.images(rows, 0), offsets.images(rows, 1)
    assert first.shape == (6, 1, MEL.y_res, MEL.x_res) and torch.equal(first, again)
    assert not torch.equal(first, later)
    from audiodiff.data.order import TrainingRows

    grid = next(TrainingRows(data.dataset, data.bits, None).batches([rows], 0))[0]
    assert not torch.equal(first, grid)  # shifted windows, not the prepared slices
    unshifted = OffsetWindows(data.dataset, MEL, data.bits, seed=0, max_shift=0.0).images(rows, 0)
    assert (unshifted - grid).abs().max() <= 2 / 255 + 1e-6  # no shift: what prepare wrote (within a grey level)
    config = tiny_config(max_steps=4, checkpoint_every=2, num_samples=0, random_offsets=True)
    straight = train(config, data, tmp_path / "straight", progress=False)
    assert straight.steps == 4 and all(math.isfinite(loss) for loss in straight.losses)
    resumed = stopped_after_first_checkpoint_then_resumed(config, data, tmp_path / "resumed")
    assert resumed.losses == straight.losses  # in one process: the same windows, bit for bit
    (tmp_path / "music" / "arpeggios" / "song1.wav").unlink()
    with pytest.raises(TrainingError, match="random offsets need the tracks' audio: .*song1.wav"):
        Trainer.start(config, data, tmp_path / "missing", progress=False)
