"""`run_evaluation`, the whole job of `audiodiff evaluate`: open both sides (generating the clips when one is a
pipeline), load the embedders, `evaluate` (`evaluation.report`), add the copy check against the training data when
given, and write `report.json`, `report.png` (and `copies.png`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from audiodiff.config import ConfigError, MelConfig
from audiodiff.evaluation.artifacts import FENCE_SAMPLE
from audiodiff.evaluation.clips import ClipSet, ClipSource, open_source, save_clips, select_refs
from audiodiff.evaluation.cola import ColaEmbedder, load_cola
from audiodiff.evaluation.embeddings import (
    ClassifierEmbedder,
    Embedder,
    EmbeddingUnavailable,
    FineEmbedder,
    LogMelEmbedder,
    load_pretrained_embedder,
)
from audiodiff.evaluation.metrics import EvaluationError
from audiodiff.evaluation.report import FIGURE_NAME, evaluate, summary_lines, write_report
from audiodiff.evaluation.sets import WindowStatistics, as_windows, pulse_sample, window_statistics
from audiodiff.figures import render_figure
from audiodiff.schedulers import AUTO_SCHEDULER
from audiodiff.utils import atomic_file


@dataclasses.dataclass
class EvaluationRun:
    """What `run_evaluation` made: the report and the files it wrote."""

    report: dict[str, Any]
    report_path: Path
    figure_path: Path


# At most this many training clips are searched by the copy check (a memory and time bound; spread at random).
MAX_TRAINING_CLIPS = 4000
COPIES_FIGURE_NAME = "copies.png"


def _copy_check(generated, reference_clips, training, reference, mel_config, seed, device, out_dir) -> dict:
    """The copy check section (`evaluation.copies`) of generated clips against the `training` clips, with the
    held-out reference as the yardstick unless the reference is the training data itself; draws `copies.png`."""
    from audiodiff.evaluation.copies import copy_check, copy_summary
    from audiodiff.figures import render_copy_pairs

    source = open_source(training, mel_config, fallback=reference_clips.mel_config)
    refs = select_refs(source.refs, MAX_TRAINING_CLIPS, None, torch.Generator().manual_seed(seed))
    training_clips = source.load(refs, device)
    try:
        training_clips.mel_config.check_compatible(
            generated.mel_config, "training clips have", "generated clips have", "give the model's training data"
        )
    except ConfigError as error:
        raise EvaluationError(str(error)) from None
    width = reference_clips.mel_config.x_res
    windows, training_windows = as_windows(generated, width), as_windows(training_clips, width)
    same = Path(training).resolve() == Path(reference).resolve()
    yardstick = None if same else as_windows(reference_clips, width)
    top_db = float(reference_clips.mel_config.top_db)
    section, pairs = copy_check(windows, training_windows, top_db, yardstick)
    if section.get("available") is not False:
        figure = Path(out_dir) / COPIES_FIGURE_NAME
        render_copy_pairs(windows, training_windows, pairs, section, figure, summary=copy_summary(section))
    return section


def run_evaluation(
    generated: str | Path,
    reference: str | Path,
    out_dir: str | Path,
    *,
    training: str | Path | None = None,
    genre: str | None = None,
    count: int = 32,
    classifier: str | Path | None = None,
    backends: Sequence[tuple[str, str | None]] = (),
    mel_config: MelConfig | None = None,
    vocoder: str = "griffinlim",
    n_iter: int | None = None,
    phase_init: str | None = None,
    reconstruction_clips: int = 8,
    num_inference_steps: int | None = None,
    scheduler: str | None = AUTO_SCHEDULER,
    guide: str | None = "auto",
    seconds: float | None = None,
    batch_size: int = 8,
    seed: int = 0,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] | None = None,
) -> EvaluationRun:
    """Evaluate `generated` against `reference` and write `out_dir/report.json` and `out_dir/report.png`.

    generated: a folder of WAV/PNG files, a prepared dataset, or a pipeline folder (then `count` clips are generated
    with `num_inference_steps` steps of `scheduler`, "saved" for the folder's own, guided by `guide` ("auto": the
    guide the folder recommends, as `audiodiff generate` samples; None: none), `seconds` long (default one slice),
    `batch_size` at a time, and kept in `out_dir/generated/`). reference: a prepared dataset (or hub id)
    or a folder of WAV/PNG files, optionally one sub-folder per genre; up to `2 * count` of its clips of `genre`
    are drawn, half compared and half for the baseline. `mel_config` overrides the settings of folders; a folder
    without its own borrows the other side's.
    training: the model's training data (a dataset or folder): adds the copy check (`evaluation.copies`,
    `report["copies"]` and `out_dir/copies.png`: each clip's distance to its nearest training slice against held-out
    music's). classifier: a folder of `audiodiff train-classifier` (genre share and its Frechet distance). backends:
    pretrained embeddings as `(name, checkpoint)`, reported unavailable when they cannot run here. vocoder,
    n_iter and phase_init: the decoder whose reconstruction quality is measured (a trained vocoder's folder also
    decodes the clips a pipeline generates). seed: the reference clips drawn, the
    generated clips and Griffin-Lim's phases each come from a generator seeded with it. log: told of skipped files,
    unavailable backends and generation (one line each).

    Raises `EvaluationError` or `ConfigError` (one line) for inputs that cannot be evaluated.
    """
    from audiodiff.vocoders import make_vocoder

    log = log or (lambda line: None)
    generated, reference, out_dir = Path(generated), Path(reference), Path(out_dir)
    generation = dict(
        count=count, genre=genre, num_inference_steps=num_inference_steps, scheduler=scheduler, guide=guide,
        seconds=seconds, batch_size=batch_size, seed=seed, log=log,
    )  # fmt: skip
    if generated.is_dir() and Path(vocoder).is_dir():
        generation["vocoder"] = vocoder  # a trained vocoder decodes the generated clips too
    reference_clips, target_genre, reference_mel, fence_sample, source = _reference_clips(
        reference, generated, genre, count, mel_config, reconstruction_clips, seed, device, log
    )
    generated_clips = _generated_clips(generated, mel_config, reference_mel, generation, count, device, out_dir, log)
    pulses = pulse_sample(
        source, select_refs(source.refs, None, genre, None), generated_clips.images.shape[-1], reference_mel.x_res,
        float(reference_mel.top_db), reference_mel.sample_rate / reference_mel.hop_length,
        torch.Generator().manual_seed(seed), guard=-(-reference_mel.n_fft // (2 * reference_mel.hop_length)),
        device=device,
    )  # fmt: skip
    embedders, unavailable, classifier_model, classifier_report = _embedders(
        reference_mel, classifier, backends, device, log
    )
    report = evaluate(
        generated_clips,
        reference_clips,
        target_genre=target_genre,
        embedders=embedders,
        unavailable=unavailable,
        classifier=classifier_model,
        classifier_report=classifier_report,
        vocoder=make_vocoder(vocoder, reference_mel, n_iter, phase_init),
        reconstruction_clips=reconstruction_clips,
        generator=torch.Generator(device).manual_seed(seed),
        device=device,
        fence_sample=fence_sample,
        pulse_sample=pulses,
    )
    report["seed"] = seed
    if training is not None:
        report["copies"] = _copy_check(generated_clips, reference_clips, training, reference, mel_config, seed, device,
                                       out_dir)  # fmt: skip
    report_path = write_report(report, out_dir)

    figure_path = out_dir / FIGURE_NAME
    with atomic_file(figure_path) as temporary:  # drawn under a temporary name: never half a figure
        render_figure(generated_clips, reference_clips, report, temporary, lines=summary_lines(report))
    return EvaluationRun(report, report_path, figure_path)


def _reference_clips(
    reference: Path, generated: Path, genre, count, mel_config, audio_clips, seed, device, log
) -> tuple[ClipSet, str | None, MelConfig, WindowStatistics, ClipSource]:
    """Up to `2 * count` reference clips of `genre` (drawn with `seed`), `audio_clips` of them with their audio; the
    target genre (`genre`, else the reference's one genre when all its clips share one); the reference's mel
    settings; the artefact statistics of up to `max(2 * count, FENCE_SAMPLE)` of its clips of `genre`, drawn with
    the same seed (a sample that holds the clips compared), which the artefact fences are fitted on whatever `count`
    is; the opened source. A folder without its own borrows the other side's (a pipeline's, a dataset's, a PNG
    folder's)."""
    generated_mel = MelConfig.find(generated) if generated.is_dir() else None
    source = open_source(reference, mel_config, fallback=generated_mel)
    for reason in source.skipped:
        log(f"skipped {reason}")
    pool = select_refs(source.refs, max(2 * count, FENCE_SAMPLE), genre, torch.Generator().manual_seed(seed))
    refs = select_refs(source.refs, 2 * count, genre, torch.Generator().manual_seed(seed))
    clips = source.load(refs, device, audio_clips=audio_clips)
    config = source.mel_config
    fence_sample = window_statistics(source, pool, config.x_res, float(config.top_db), device)
    target_genre = genre
    if target_genre is None:
        labels = set(clips.genres)
        target_genre = labels.pop() if len(labels) == 1 and None not in labels else None
    return clips, target_genre, config, fence_sample, source


def _generated_clips(generated: Path, mel_config, reference_mel, generation, count, device, out_dir, log) -> ClipSet:
    """Up to `count` generated clips: read from their folder or dataset, or generated by a pipeline (`generation`),
    then kept in `out_dir/generated/`: clips generated for this evaluation exist nowhere else."""
    source = open_source(generated, mel_config, fallback=reference_mel, generation=generation)
    for reason in source.skipped:
        log(f"skipped {reason}")
    clips = source.load(select_refs(source.refs, count, None, None), device)
    if clips.kind == "pipeline":
        save_clips(clips, out_dir / "generated")
    return clips


def _embedders(reference_mel: MelConfig, classifier, backends, device, log):
    """The embeddings the Frechet distances use: the COLA embedding (shipped, `evaluation.cola`; the user's with
    `("cola", FOLDER)` in `backends`), log-mel and fine log-mel always, the classifier's when one is given, and the
    pretrained `backends` that can run here (the others with the reason they cannot). Returns (embedders,
    unavailable, classifier model or None, its training report or None)."""
    from audiodiff.classifier import REPORT_NAME as CLASSIFIER_REPORT
    from audiodiff.classifier import GenreClassifier

    classifier_model = classifier_report = None
    top_db = float(reference_mel.top_db)
    embedders: list[Embedder] = []
    unavailable = {}
    own_cola = next((checkpoint for name, checkpoint in backends if name == "cola"), None)
    try:  # the shipped COLA embedding (or the user's own, --backend cola=FOLDER): the headline
        embedders.append(ColaEmbedder(reference_mel, load_cola(own_cola, device)))
    except EmbeddingUnavailable as error:
        if own_cola is not None:  # the user named a folder: that it cannot load is an error, not a gap
            raise EvaluationError(f"--backend cola={own_cola}: {str(error).split(': ', 1)[-1]}") from None
        unavailable["cola"] = str(error).split(": ", 1)[-1]
        log(f"embedding backend unavailable: {error}")
    embedders += [LogMelEmbedder(top_db), FineEmbedder(top_db)]
    if classifier is not None:
        classifier_model = GenreClassifier.from_pretrained(classifier, device)
        report_file = Path(classifier) / CLASSIFIER_REPORT
        classifier_report = json.loads(report_file.read_text()) if report_file.is_file() else None
        embedders.append(ClassifierEmbedder(classifier_model))
    for name, checkpoint in backends:
        if name == "cola":
            continue
        try:
            embedders.append(load_pretrained_embedder(name, checkpoint, device))
        except EmbeddingUnavailable as error:
            unavailable[name] = str(error).split(": ", 1)[-1]
            log(f"embedding backend unavailable: {error}")
    return embedders, unavailable, classifier_model, classifier_report
