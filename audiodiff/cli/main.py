"""`audiodiff` command line. Each module of this package that defines `command` is a sub-command."""

from __future__ import annotations

import importlib
import pkgutil

import click

import audiodiff.cli


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(package_name="audiodiff")
def cli() -> None:
    """audiodiff: audio spectrogram diffusion toolkit (prepare, fine-tune, generate, edit, evaluate)."""


for _module_info in sorted(pkgutil.iter_modules(audiodiff.cli.__path__), key=lambda info: info.name):
    _module = importlib.import_module(f"audiodiff.cli.{_module_info.name}")
    if isinstance(getattr(_module, "command", None), click.Command):
        cli.add_command(_module.command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
