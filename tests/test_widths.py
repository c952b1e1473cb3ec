"""Variable-width training (`TrainConfig.widths`): windows of time-consecutive slices, the batches a run sees,
exact resume, and a pipeline that generates clips up to its widest crop in one model call per step."""

import math

import pytest
import torch
from click.testing import CliRunner
from conftest import stopped_after_first_checkpoint_then_resumed

from audiodiff.config import ConfigError
from audiodiff.data.order import slice_windows, wide_batch
from audiodiff.pipeline import AudioDiffusionPipeline
from audiodiff.training import TrainConfig, Trainer, TrainingError, train


def wide_config(**changes) -> TrainConfig:
    values = dict(model="tiny", widths=[1, 2, 4], batch_size=4, learning_rate=2e-3, lr_warmup_steps=2, max_steps=12,
                  epochs=None, ema_max_decay=0.99, checkpoint_every=0, sample_every=0, num_samples=0, log_every=1,
                  prediction_type="v_prediction", seed=0)  # fmt: skip
    values.update(changes)
    return TrainConfig(**values)


def test_windows_hold_time_consecutive_slices_of_one_track():
    # Track A: slices 0-4 with slice 2 silent (left out); track B: slices 0-3, rows out of order.
    tracks = [[0, 1, 2, 3], [4, 5, 6, 7]]
    numbers = [0, 1, 3, 4, 2, 0, 3, 1]
    two = slice_windows(tracks, numbers, 2)
    assert two[0] == [0, 1] and two[1] == [0, 1] and two[2] == [2, 3] and two[3] == [2, 3]
    assert two[5] == [5, 7] and two[7] == [7, 4] and two[4] == [4, 6] and two[6] == [4, 6]
    four = slice_windows(tracks, numbers, 4)
    assert set(four) == {4, 5, 6, 7} and four[6] == [5, 7, 4, 6]  # track A has no 4 consecutive slices
    # A micro-batch of 4 rows at width 4 is one window; rows without one are passed over for the epoch's next ones.
    assert wide_batch([0, 1, 2, 3], [0, 1, 2, 3, 6, 5], four, 4) == [[5, 7, 4, 6]]
    assert wide_batch([0, 4, 1, 5], [], two, 2) == [[0, 1], [4, 6]]
    assert wide_batch([0], [], two, 2) == [[0, 1]]  # at least one window


def test_a_wide_run_cycles_its_widths_with_the_same_pixels_per_step_and_resumes_exactly(data, tmp_path):
    shapes = []

    class Recording(Trainer):
        def _loss(self, images, labels):
            shapes.append(tuple(images.shape))
            return super()._loss(images, labels)

    result = Recording.start(wide_config(max_steps=6), data, tmp_path / "straight", progress=False).run()
    assert shapes == [(4, 1, 32, 32), (2, 1, 32, 64), (1, 1, 32, 128)] * 2
    assert all(math.isfinite(loss) for loss in result.losses)
    resumed = stopped_after_first_checkpoint_then_resumed(
        wide_config(max_steps=6, checkpoint_every=4), data, tmp_path / "resumed"
    )
    assert resumed.losses == result.losses


@pytest.fixture(scope="module")
def wide_pipeline(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("wide")
    train(wide_config(), data, folder, progress=False)
    pipeline = AudioDiffusionPipeline.from_pretrained(folder, scheduler="ddim")
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_a_wide_model_generates_up_to_its_widest_crop_in_one_piece(wide_pipeline):
    pipeline = wide_pipeline
    assert pipeline.native_widths == (1, 2, 4) and pipeline.window_width == 4 * 32
    slice_seconds = pipeline.mel_config.slice_seconds
    for slices in (2, 3, 4, 6):
        pipeline.unet_evaluations = 0
        output = pipeline(seconds=slices * slice_seconds, num_inference_steps=3, output_type="pt",
                          generator=torch.Generator().manual_seed(0))  # fmt: skip
        assert output.images.shape[-1] == pytest.approx(slices * 32, abs=1), slices
        assert torch.isfinite(output.images).all()
        # Up to 4 slices: one model call per step on a canvas of a trained width (3 slices: 4 wide, cropped);
        # beyond: windows of 4 slices overlapping by half a window (2 or 3 of them, the grid moving each step).
        assert (pipeline.unet_evaluations == 3) == (slices <= 4), (slices, pipeline.unet_evaluations)
    # A clip continued from an input: the input is kept, the rest generated on a canvas of a trained width.
    source = output.images[:1, :, :, :32]
    for slices in (2.5, 3):
        longer = pipeline(images=source, strength=0.0, seconds=slices * slice_seconds, num_inference_steps=3,
                          output_type="pt", generator=torch.Generator().manual_seed(1))  # fmt: skip
        assert longer.images.shape[-1] == pytest.approx(slices * 32, abs=1)
        assert (longer.images[..., :16] - source[..., :16]).abs().max() < 0.02  # the input's start is kept
    single = AudioDiffusionPipeline(unet=pipeline.unet, scheduler=pipeline.scheduler, mel_config=pipeline.mel_config)
    assert single.native_widths == (1,) and single.window_width == 32  # no record: single slices, as before


def test_bad_widths_are_refused_in_one_line(data, dataset_dir, tmp_path):
    for widths, fragment in (([0], "from 1 to 8"), ([1, 1], "different"), ([9], "from 1 to 8"), ([], "list")):
        with pytest.raises(ConfigError, match=fragment):
            wide_config(widths=widths)
    with pytest.raises(TrainingError, match=r"widths \[1, 8\]: no track of dataset .* has 8 consecutive non-silent"):
        Trainer.start(wide_config(widths=[1, 8]), data, tmp_path / "run", progress=False)
    from audiodiff.cli.main import cli

    result = CliRunner().invoke(cli, ["train", "--data", str(dataset_dir), "--out", str(tmp_path / "c"),
                                      "--config", "tiny", "--widths", "1,two"])  # fmt: skip
    assert result.exit_code == 2 and "'1,two' is not a comma-separated list of whole numbers" in result.output
