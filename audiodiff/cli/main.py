"""`audiodiff` command line. Each module of this package that defines `command` is a sub-command."""

from __future__ import annotations

import errno
import importlib
import pkgutil

import click

import audiodiff.cli
from audiodiff.utils import first_line

# Errors that mean the file could not be written (a full disk, a quota, a read-only file system, a size limit), so
# the message says so; other OSErrors name the file and the reason only.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
# How torch's and safetensors' writers report a failed write (a full disk): RuntimeErrors with no file name.
TORCH_WRITE_FAILURES = ("unexpected pos", "PytorchStreamWriter failed", "file write failed")


def describe_file_error(command: str, error: BaseException) -> str | None:
    """The one line `audiodiff COMMAND` prints for an error of the file system (an OSError, libsndfile's, or a torch
    writer's), or None for any other error (a bug, whose traceback is worth seeing)."""
    if isinstance(error, OSError):
        reason = error.strerror or first_line(error)
        if error.filename is None:
            return f"audiodiff {command}: {reason}"
        verb = "cannot write " if error.errno in WRITE_ERRNOS else ""
        return f"audiodiff {command}: {verb}{error.filename}: {reason}"
    if type(error).__module__ == "soundfile":  # libsndfile's errors (`soundfile.SoundFileError`) name no file
        return f"audiodiff {command}: cannot read or write audio ({first_line(error)})"
    if isinstance(error, RuntimeError) and any(mark in str(error) for mark in TORCH_WRITE_FAILURES):
        return f"audiodiff {command}: cannot write a file ({first_line(error)}); is the disk full?"
    return None


class AudiodiffGroup(click.Group):
    """The command group, which turns file-system errors of any sub-command (a full disk, a read-only --out) into
    one line and exit status 1, in this one place rather than in every command."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as error:  # click's own exceptions (usage errors, Exit) are not file errors: re-raised
            line = describe_file_error(ctx.invoked_subcommand or "", error)
            if line is None:
                raise
            raise click.ClickException(line) from None


@click.group(cls=AudiodiffGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(package_name="audiodiff")
def cli() -> None:
    """audiodiff: audio spectrogram diffusion toolkit (prepare, fine-tune, generate, edit, evaluate).

    Names mean one thing in every command: the model (a pipeline folder, hub id or shipped name) is the first
    argument; --clips is the number of clips; --steps is always the sampler's steps, and training commands say
    --max-steps; --seed S draws clip k from seed S+k. Old spellings (--n, --frames, --from, train-classifier's
    --steps) still work for one release, with a warning.
    """


for _module_info in sorted(pkgutil.iter_modules(audiodiff.cli.__path__), key=lambda info: info.name):
    _module = importlib.import_module(f"audiodiff.cli.{_module_info.name}")
    if isinstance(getattr(_module, "command", None), click.Command):
        cli.add_command(_module.command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
