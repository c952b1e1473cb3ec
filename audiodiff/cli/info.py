"""`audiodiff info`: versions, device and threads."""

from __future__ import annotations

import click


@click.command("info")
def command() -> None:
    """Print library versions, the default device (cuda/mps/cpu) and thread counts."""
    from audiodiff.runtime import environment_info

    for key, value in environment_info().items():
        click.echo(f"{key:14s} {value}")
