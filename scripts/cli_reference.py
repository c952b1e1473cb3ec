"""Write CLI.md: the `--help` of every `audiodiff` sub-command. A test keeps the file in sync with the code.

.venv/bin/python scripts/cli_reference.py          # rewrite CLI.md
.venv/bin/python scripts/cli_reference.py --check  # exit 1 if CLI.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from audiodiff.cli.main import cli

PATH = Path(__file__).resolve().parent.parent / "CLI.md"


def render() -> str:
    parts = [
        "# audiodiff command-line reference\n",
        "Generated from `--help` by `scripts/cli_reference.py`; `tests/test_cli_reference.py` keeps it in sync.\n",
    ]
    width = {"terminal_width": 100, "max_content_width": 100}
    # make_context applies each command's context_settings (-h, show_default), as a real invocation does.
    context = cli.make_context("audiodiff", [], resilient_parsing=True, **width)
    parts.append(f"## audiodiff\n\n```\n{cli.get_help(context)}\n```\n")
    for name in sorted(cli.commands):
        command = cli.commands[name]
        if hasattr(command, "_help_option"):  # click caches it from the first context that asked (maybe parentless)
            command._help_option = None
        sub = command.make_context(name, [], parent=context, resilient_parsing=True, **width)
        parts.append(f"## audiodiff {name}\n\n```\n{command.get_help(sub)}\n```\n")
    return "\n".join(parts)


def main() -> None:
    text = render()
    if "--check" in sys.argv:
        if not PATH.is_file() or PATH.read_text() != text:
            sys.exit("CLI.md is out of date: run .venv/bin/python scripts/cli_reference.py")
        return
    PATH.write_text(text)
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
