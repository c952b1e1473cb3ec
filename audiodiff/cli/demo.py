"""`audiodiff demo`: the main job end to end on the built-in data (or yours).

Synthesize music, prepare it, train, fine-tune on a genre, generate, evaluate. Every step runs the same `audiodiff`
sub-command a user would type (the genre fine-tuning goes through `audiodiff finetune`, not a shortcut), so the demo
is also an end-to-end check of the CLI. The result is a folder with WAVs, spectrogram PNGs, the evaluation report
and an `index.html` (`audiodiff.demo.write_index`) that shows and plays everything.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

import click

from audiodiff.cli import common
from audiodiff.config import configs_dir

DEFAULT_GENRE = "arpeggios"


def run_command(arguments: Sequence[str]) -> None:
    """Run one `audiodiff` sub-command in this process, echoing it; failures raise `click.ClickException`."""
    from audiodiff.cli.main import cli

    click.secho(f"\n$ audiodiff {shlex.join(arguments)}", bold=True)
    try:
        cli.main(list(arguments), prog_name="audiodiff", standalone_mode=False)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise click.ClickException(f"audiodiff {arguments[0]} exited with status {exit_.code}") from None


def run_demo(
    out_dir: str | Path = "demo_output",
    data: str | Path | None = None,
    pretrained: str | None = None,
    from_scratch: bool = False,
    genre: str | None = None,
    genre_from: str = "folder",
    mel_config: str | Path | None = None,
    base_config: str = "demo-base",
    finetune_config: str = "demo-finetune",
    base_steps: int | None = None,
    finetune_steps: int | None = None,
    num_clips: int = 4,
    seconds: float = 6.0,
    device: str = "auto",
    seed: int = 0,
    vocoder: str | None = None,
) -> Path:
    """Run the whole job and return the path of `index.html`.

    data: a music folder (one sub-folder per genre) or dataset; default: the synthesized collection.
    pretrained: a pipeline folder, hub id or shipped name to fine-tune; default: the shipped base model
    (`audiodiff-base-64`, trained on real music), or with `from_scratch` a small base model trained on all genres of
    the data first (`base_config`, `base_steps`; `mel_config` applies only then).
    vocoder: the decoder of `generate` and `evaluate` (griffinlim, librosa, or a folder of `audiodiff
    train-vocoder` made for the demo's mel settings); default: each command's own.
    """
    # Imported here: `audiodiff --help` should not pay for torch.
    from audiodiff.demo import write_index
    from audiodiff.pretrained import DEFAULT_BASE
    from audiodiff.synth import write_collection

    if from_scratch and pretrained is not None:
        raise click.UsageError("MODEL and --from-scratch exclude each other: fine-tune one, or train a base first")
    if mel_config is not None and not from_scratch:
        raise click.UsageError("--mel-config needs --from-scratch: a pretrained base model fixes the mel settings")
    if base_steps and not from_scratch:
        raise click.UsageError("--base-steps needs --from-scratch: without it the demo trains no base model")
    if not from_scratch:
        pretrained = pretrained or DEFAULT_BASE
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def step(name: str, arguments: Sequence[str]) -> None:
        begin = time.perf_counter()
        run_command(arguments)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - begin

    if data is None:
        click.secho("\n== synthesizing the demo collection (3 genres x 4 tracks x 40 s)", bold=True)
        begin = time.perf_counter()
        write_collection(out / "music", tracks_per_genre=4, seconds=40.0, seed=seed)
        timings["synthesize"] = time.perf_counter() - begin
        data = out / "music"
        genre = genre or DEFAULT_GENRE
    mel = str(mel_config or configs_dir() / "mel" / "demo-64.yaml")
    dataset = out / "dataset"
    prepare = ["prepare", str(data), "--out", str(dataset), "--contact-sheet"]
    if genre_from:
        prepare += ["--genre-from", genre_from]
    if pretrained is None:
        prepare += ["--mel-config", mel]
    else:
        prepare += ["--mel-config", _pipeline_mel_config(pretrained, out)]
    step("prepare", prepare)
    genres = json.loads((dataset / "audiodiff_dataset.json").read_text()).get("genres") or []
    genre = genre or (genres[0] if genres else None)
    seed_options = ["--seed", str(seed)]

    base = pretrained
    if pretrained is None:
        base = str(out / "base")
        train = ["train", "--data", str(dataset), "--config", base_config, "--out", base, *seed_options]
        if base_steps:
            train += ["--max-steps", str(base_steps)]
        step("train base model", _resume_if_started(train, Path(base)))
    finetuned = out / "finetuned"
    finetune = ["finetune", base, "--data", str(dataset), "--config", finetune_config]
    finetune += ["--out", str(finetuned), *seed_options]
    if genre:
        finetune += ["--genre", genre]
    if finetune_steps:
        finetune += ["--max-steps", str(finetune_steps)]
    step("fine-tune on genre", _resume_if_started(finetune, finetuned))

    generated = out / "generated"
    generate = ["generate", str(finetuned), "--out", str(generated), "--clips", str(num_clips), "--device", device]
    generate += ["--seconds", str(seconds), *seed_options]
    vocoder_options = [] if vocoder is None else ["--vocoder", str(vocoder)]
    generate += vocoder_options
    if genre and _is_conditional(finetuned):
        generate += ["--genre", genre]
    step("generate", generate)
    _decode_with_each_decoder(step, generated, finetuned, out / "decoders", vocoder, seed)

    if genres and len(genres) > 1:
        step(
            "train genre classifier",
            ["train-classifier", "--data", str(dataset), "--out", str(out / "classifier"), "--max-steps", "300",
             "--device", device, *seed_options],
        )  # fmt: skip
    evaluate = ["evaluate", "--generated", str(finetuned), "--reference", str(dataset), "--out"]
    # The same clip length as the generated clips, so that the report's seam check hears what the user hears.
    evaluate += [str(out / "evaluation"), "--clips", "12", "--seconds", str(seconds), "--device", device, *seed_options]
    evaluate += ["--training", str(dataset)]  # the copy check: did the fine-tune learn to replay its songs?
    evaluate += vocoder_options
    if genre:
        evaluate += ["--genre", genre]
    if (out / "classifier" / "config.json").is_file():
        evaluate += ["--classifier", str(out / "classifier")]
    step("evaluate", evaluate)

    timings["total"] = time.perf_counter() - started
    page = write_index(out, genre=genre, timings=timings, data=str(data), base=base)
    click.secho(f"\nDone in {timings['total'] / 60:.1f} min. Open {page}", bold=True)
    return page


def _decode_with_each_decoder(step, generated: Path, pipeline: Path, out: Path, vocoder: str | None, seed: int):
    """The first generated clip's image decoded by Griffin-Lim from random and from PGHI phase, and by `vocoder` when
    it is a trained vocoder's folder: `out/<decoder>/<clip>.wav`, for the page's side-by-side players."""
    from audiodiff.demo import newest_set

    images = [wav.with_suffix(".png") for wav in newest_set(generated) if wav.with_suffix(".png").is_file()]
    if not images:
        return
    decoders = {"griffinlim-random": ["--phase-init", "random"], "griffinlim-pghi": ["--phase-init", "pghi"]}
    if vocoder is not None and Path(vocoder).is_dir():
        decoders["vocoder"] = ["--vocoder", str(vocoder)]
    for name, options in decoders.items():
        arguments = ["decode", str(images[0]), "--mel-config", str(pipeline), "--out", str(out / name), *options]
        step("decode with each decoder", [*arguments, "--seed", str(seed)])


def _resume_if_started(arguments: list[str], run_dir: Path) -> list[str]:
    """Re-running the demo continues an interrupted training run instead of refusing its folder."""
    if any((run_dir / name).exists() for name in ("model_index.json", "checkpoints", "run.json")):
        return [*arguments, "--resume"]
    return arguments


def _pipeline_mel_config(pretrained: str, out: Path) -> str:
    """The mel settings of a pretrained pipeline, written where `prepare --mel-config` can read them."""
    from audiodiff.pipeline import AudioDiffusionPipeline

    path = AudioDiffusionPipeline.from_pretrained(pretrained).mel_config.save(out / "pretrained_mel")
    return str(path)


def _is_conditional(pipeline_dir: Path) -> bool:
    config = json.loads((pipeline_dir / "unet" / "config.json").read_text())
    return config.get("num_class_embeds") is not None


@click.command("demo", cls=common.RenamedOptions, renamed={"--from": common.FIRST_ARGUMENT})
@click.argument("pretrained", metavar="[MODEL]", required=False, default=None)
@common.out_option("Output folder (index.html, WAVs, PNGs, report).", default=Path("demo_output"))
@click.option("--data", default=None, help="Your music folder (one sub-folder per genre). Default: synthesized music.")
@click.option(
    "--from-scratch",
    is_flag=True,
    default=False,
    help="Train a small base model on all genres of the data first, instead of fine-tuning a pretrained one.",
)
@click.option("--genre", default=None, help="Genre to fine-tune on. Default: arpeggios (built-in data).")
@click.option(
    "--mel-config", default=None, help="With --from-scratch: mel settings (default: configs/mel/demo-64.yaml)."
)
@click.option("--base-steps", type=common.COUNT, default=None, help="With --from-scratch: the base's training steps.")
@click.option("--finetune-steps", type=common.COUNT, default=None, help="Override the fine-tuning steps.")
@click.option("--clips", "num_clips", type=common.COUNT, default=4, help="Clips to generate.")
@click.option("--seconds", type=common.POSITIVE, default=6.0, help="Length of each generated clip.")
@common.device_option
@click.option("--seed", type=common.SEED, default=0, help="Seed of every step.")
@common.sampling_vocoder_option
def command(out_dir, data, pretrained, from_scratch, genre, mel_config, base_steps, finetune_steps, num_clips, seconds,
            device, seed, vocoder) -> None:  # fmt: skip
    """Synthesize a 3-genre collection, prepare it, fine-tune MODEL (a pipeline folder, hub id or shipped name;
    default: audiodiff-base-64, the shipped base model) on one genre (or train a base first with --from-scratch),
    generate, evaluate, and write OUT/index.html. Re-running resumes."""
    run_demo(out_dir, data=data, pretrained=pretrained, from_scratch=from_scratch, genre=genre, mel_config=mel_config,
             base_steps=base_steps,
             finetune_steps=finetune_steps, num_clips=num_clips, seconds=seconds, device=device, seed=seed,
             vocoder=vocoder)  # fmt: skip
