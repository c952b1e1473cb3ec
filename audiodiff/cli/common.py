"""Options and helpers shared by the sub-commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from audiodiff.config import ConfigError, MelConfig


def mel_config_option(function):
    return click.option(
        "--mel-config",
        "mel_config_path",
        type=click.Path(exists=True, path_type=Path),
        default=None,
        help="mel_config.json (reference format), YAML, or a folder holding one. Default: the reference settings.",
    )(function)


def device_option(function):
    return click.option("--device", default="auto", help="cuda, cuda:1, mps, cpu, or auto (best available).")(function)


def seed_option(function):
    return click.option("--seed", type=int, default=None, help="Random seed; printed when not given.")(function)


def load_mel_config(path: Path | None, fallback: Path | None = None) -> MelConfig:
    """The mel settings from `path`, else those stored in `fallback` (a folder, `MelConfig.find`), else the defaults."""
    try:
        if path is not None:
            return MelConfig.load(path)
        return (MelConfig.find(fallback) if fallback is not None else None) or MelConfig()
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def resolve_device_or_fail(name: str):
    from audiodiff.runtime import resolve_device

    try:
        return resolve_device(name)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


class Failures:
    """Collects per-file failures: each is reported at once, the command goes on, and exits 1 at the end."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, source: str, reason: str) -> None:
        from tqdm import tqdm

        self.items.append((str(source), reason))
        tqdm.write(f"skipped {source}: {reason}", file=sys.stderr)

    def finish(self, done: int, what: str) -> None:
        """Print the summary; exit with status 1 if anything failed."""
        click.echo(f"{done} {what} written; {len(self.items)} file(s) skipped")
        if self.items:
            for source, reason in self.items:
                click.echo(f"  skipped {source}: {reason}", err=True)
            sys.exit(1)
