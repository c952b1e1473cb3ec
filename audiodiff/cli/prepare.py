"""`audiodiff prepare`: a music collection -> a sharded spectrogram dataset for training."""

from __future__ import annotations

import re
import sys

import click

from audiodiff.cli.common import (
    COUNT,
    FiniteFloat,
    load_mel_config,
    mel_config_option,
    out_option,
    share,
    share_options,
)


def _size(value: str) -> int:
    from audiodiff.data import DatasetError
    from audiodiff.data.dataset import parse_size

    try:
        return parse_size(value)
    except DatasetError as error:
        raise click.BadParameter(str(error).removeprefix("--max-shard-size ")) from None


def _licence(value: str | None) -> str | None:
    """--license: a licence id as the hub's card metadata takes it (lower case, no spaces)."""
    if value is None or re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", value):
        return value
    raise click.BadParameter(f"{value!r} is not a licence id such as cc-by-sa-4.0 or mit (lower case, no spaces)")


def _mel_option(name: str, help_text: str):
    return click.option(f"--{name.replace('_', '-')}", name, type=COUNT, default=None, help=help_text)


@click.command("prepare")
@click.argument("sources", nargs=-1, required=True)
@out_option("Dataset folder.")
@mel_config_option
@_mel_option("x_res", "Image width in frames (overrides --mel-config). [default: 256]")
@_mel_option("y_res", "Image height = mel bands. [default: 256]")
@_mel_option("sample_rate", "Sample rate audio is resampled to. [default: 22050]")
@_mel_option("n_fft", "FFT size. [default: 2048]")
@_mel_option("hop_length", "STFT hop in samples. [default: 512]")
@_mel_option("top_db", "Dynamic range of the image in dB. [default: 80]")
@click.option("--genre", default=None, help="Label every track with this genre.")
@click.option(
    "--genre-from",
    default=None,
    metavar="folder|column:NAME",
    help="Genre from the first sub-folder of a folder source, or from a column of a dataset source.",
)
@click.option("--bits", type=click.Choice(["8", "16"]), default="8", help="PNG bit depth (8 = reference format).")
@click.option("--num-proc", type=COUNT, default=None, help="Worker processes. [default: the usable cores]")
@click.option(
    "--min-loudness-db",
    type=FiniteFloat(minus_infinity=True),
    default=-60.0,
    help="Skip slices whose RMS level (dBFS, mono) is below this; -inf keeps all but digital silence.",
)
@click.option(
    "--pad-short", is_flag=True, help="Zero-pad tracks shorter than one slice (the reference) instead of skipping."
)
@click.option("--split", default="train", help="Split of a dataset source.")
@click.option("--audio-column", default=None, help="Audio column of a dataset source. [default: the Audio column]")
@click.option("--shard", default=None, metavar="I/N", help="Prepare only shard I of N (multi-machine runs).")
@click.option("--merge", is_flag=True, help="SOURCES are prepared datasets (e.g. shards): merge them into --out.")
@click.option(
    "--max-shard-size",
    default="500MB",
    callback=lambda context, parameter, value: _size(value),
    help="Largest Arrow file of the saved dataset (bytes, or with a unit: 500MB, 2GB).",
)
@click.option("--contact-sheet", is_flag=True, help="Also write OUT/contact_sheet.png: slices labelled with genre.")
@click.option("--keep-work/--no-keep-work", default=True, help="Keep OUT/.prepare-work for instant re-runs.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any file was unreadable.")
@click.option(
    "--license",
    "licence",
    default=None,
    metavar="ID",
    callback=lambda context, parameter, value: _licence(value),
    help="The music's licence, a Hugging Face licence id (cc-by-4.0, cc-by-sa-4.0, cc0-1.0, mit, other, ...): "
    "recorded in audiodiff_dataset.json and stated in the cards of this dataset and of models trained on it.",
)
@share_options
def command(
    sources,
    out_dir,
    mel_config_path,
    genre,
    genre_from,
    bits,
    num_proc,
    min_loudness_db,
    pad_short,
    split,
    audio_column,
    shard,
    merge,
    max_shard_size,
    contact_sheet,
    keep_work,
    strict,
    licence,
    push_to_hub,
    private,
    **mel_overrides,
) -> None:
    """Turn SOURCES into a spectrogram dataset in OUT, one row per slice.

    SOURCES are folders (searched recursively), audio files, file lists (.txt: one path a line), dataset folders
    (save_to_disk, parquet) or hub ids with an audio column. Silent slices and the trailing partial slice are
    skipped; unreadable, empty, too short and silent files are reported and skipped. Finished files are kept in
    OUT/.prepare-work: running the command again reuses them (resume after an interruption).

    Multi-machine: run with --shard i/n on each machine (same SOURCES), then `audiodiff prepare --merge OUT_0 ...
    OUT_n-1 --out OUT`.
    """
    from audiodiff.config import ConfigError
    from audiodiff.data import (
        CONTACT_SHEET_NAME,
        DatasetError,
        load_spectrogram_dataset,
        merge_datasets,
        parse_genre_from,
        parse_shard,
        prepare_dataset,
    )
    from audiodiff.data.dataset import record_license
    from audiodiff.figures import write_contact_sheet
    from audiodiff.utils import FolderInUseError

    try:
        parse_genre_from(genre_from)
        parse_shard(shard)
    except DatasetError as error:
        raise click.UsageError(str(error)) from None
    if genre is not None and genre_from is not None:
        raise click.UsageError("use either --genre or --genre-from, not both")
    if merge and (
        shard or genre or genre_from or mel_config_path or any(v is not None for v in mel_overrides.values())
    ):
        raise click.UsageError("--merge takes prepared datasets as they are: drop --shard, --genre* and mel options")
    try:
        if merge:
            click.echo(f"merging {len(sources)} dataset(s) into {out_dir}")
            summary = merge_datasets(sources, out_dir, max_shard_size=max_shard_size)
        else:
            overrides = {name: value for name, value in mel_overrides.items() if value is not None}
            config = load_mel_config(mel_config_path).replace(**overrides)
            click.echo(
                f"preparing {len(sources)} source(s) into {out_dir}: {config.x_res}x{config.y_res} px, "
                f"{config.sample_rate} Hz, {config.slice_seconds:.2f} s slices, {bits}-bit"
                + (f", shard {shard}" if shard else "")
            )
            summary = prepare_dataset(
                sources,
                out_dir,
                config,
                genre=genre,
                genre_from=genre_from,
                bits=int(bits),
                num_proc=num_proc,
                min_loudness_db=min_loudness_db,
                pad_short=pad_short,
                split=split,
                audio_column=audio_column,
                shard=shard,
                max_shard_size=max_shard_size,
                keep_work=keep_work,
            )
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    except (DatasetError, FolderInUseError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:  # disk full, permissions: stop the run, with the file and the reason on one line
        raise click.ClickException(f"{error.filename or out_dir}: {error.strerror or error}") from None
    except KeyboardInterrupt:
        click.echo(
            f"\ninterrupted: finished files are kept in {out_dir}/.prepare-work; run the same command to resume",
            err=True,
        )
        sys.exit(130)
    for line in summary.lines():
        click.echo(line)
    shards = len(list(out_dir.glob("data-*.arrow")))
    click.echo(f"dataset: {out_dir} ({summary.slices_written} rows in {shards} shard(s))")
    if contact_sheet:
        path = write_contact_sheet(load_spectrogram_dataset(out_dir), out_dir / CONTACT_SHEET_NAME)
        click.echo(f"contact sheet: {path}")
    if licence is not None:
        record_license(out_dir, licence)
    if push_to_hub is not None:  # a dataset's card is written only to share it: prepare's folder stays as it was
        share(out_dir, push_to_hub, private)
    if strict and summary.failed:
        sys.exit(1)
