import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _reference_module():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_in_sync_with_the_code():
    assert (ROOT / "CLI.md").read_text() == _reference_module().render(), "run scripts/cli_reference.py"


def test_readme_names_every_sub_command_and_the_two_commands():
    from audiodiff.cli.main import cli

    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    missing = [name for name in cli.commands if f"audiodiff {name}" not in readme]
    assert not missing, f"README does not show: {missing}"
