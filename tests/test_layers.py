"""The import layers of ARCHITECTURE.md, enforced by `lint-imports` (import-linter, the contracts in pyproject.toml):
the real tree keeps them; one upward import (function-level too), one import cycle or one module without a layer
breaks them, naming the import. Also: `import audiodiff` loads no submodule, and the moved names keep their paths."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# import-linter's console script `lint-imports`, run by the interpreter running the tests (no PATH lookup).
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the package under `root` (first on the path, as `make lint` has it from the checkout)."""
    environment = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"}
    command = [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--config", str(root / "pyproject.toml")]
    return subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, timeout=120)


def _copy_tree(tmp_path: Path) -> Path:
    """The package's Python files (no weights, no caches) and pyproject.toml, copied under `tmp_path`."""

    def ignored(folder: str, names: list[str]) -> list[str]:
        return [
            name
            for name in names
            if name == "__pycache__" or not (name.endswith(".py") or os.path.isdir(os.path.join(folder, name)))
        ]

    shutil.copytree(ROOT / "audiodiff", tmp_path / "audiodiff", ignore=ignored)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_the_tree_keeps_its_layers():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "audiodiff layers (highest first; ARCHITECTURE.md) KEPT" in result.stdout


def test_an_upward_import_fails_naming_it(tmp_path):
    root = _copy_tree(tmp_path)
    # A function-level import hides nothing: the codec reaching up to the sampling jobs breaks the layers.
    _append(root / "audiodiff" / "codec.py", "\n\ndef _reach_up():\n    from audiodiff.sampling import generate\n")
    result = _lint(root)
    assert result.returncode != 0
    assert "audiodiff layers (highest first; ARCHITECTURE.md) BROKEN" in result.stdout
    assert "audiodiff.codec is not allowed to import audiodiff.sampling" in result.stdout
    assert "audiodiff.codec -> audiodiff.sampling" in result.stdout


def test_a_cycle_and_a_module_without_a_layer_fail(tmp_path):
    root = _copy_tree(tmp_path)
    # cli/ has no layers of its own: the cycle contract still catches two of its modules importing each other.
    _append(root / "audiodiff" / "cli" / "common.py", "\nfrom audiodiff.cli import generate\n")
    (root / "audiodiff" / "newcomer.py").write_text('"""A module nobody placed in a layer."""\n')
    result = _lint(root)
    assert result.returncode != 0
    assert "No cycles are allowed in audiodiff.cli" in result.stdout
    # import-linter names the imports whose removal breaks the cycle: either side of it.
    assert ".common -> .generate" in result.stdout or ".generate -> .common" in result.stdout
    assert "audiodiff.newcomer" in result.stdout and "not listed as layers" in result.stdout


def test_import_audiodiff_loads_only_what_is_used():
    code = (
        "import sys, audiodiff\n"
        "loaded = lambda: sorted(m for m in sys.modules if m.startswith('audiodiff'))\n"
        "print(loaded())\n"
        "print(audiodiff.MelConfig.__module__, 'SpectrogramCodec' in dir(audiodiff))\n"
        "print(loaded())\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    alone, config, after = result.stdout.splitlines()
    assert alone == "['audiodiff']"
    assert config == "audiodiff.config True"
    assert after == "['audiodiff', 'audiodiff.config', 'audiodiff.utils']"


def test_moved_names_keep_their_import_paths():
    import audiodiff
    from audiodiff import artifacts, codec, spectral, vocoders
    from audiodiff.evaluation import artifacts as evaluation_artifacts
    from audiodiff.evaluation import metrics
    from audiodiff.vocoder_training import losses, trainer

    assert audiodiff.spectral_convergence is metrics.spectral_convergence
    assert codec.model_to_db is spectral.model_to_db and codec.levels_for is spectral.levels_for
    assert vocoders.mel_filterbank is spectral.mel_filterbank
    assert metrics.least_squares_gain is spectral.least_squares_gain
    assert metrics.magnitude_stft is spectral.magnitude_stft
    assert evaluation_artifacts.Fences is artifacts.Fences
    assert evaluation_artifacts.check_seams is artifacts.check_seams
    sys.modules.pop("audiodiff.vocoders.training", None)
    sys.modules.pop("audiodiff.vocoders.losses", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from audiodiff.vocoders.losses import match_gain
        from audiodiff.vocoders.training import VocoderTrainer
    assert VocoderTrainer is trainer.VocoderTrainer and match_gain is losses.match_gain
    messages = [str(warning.message) for warning in caught if warning.category is DeprecationWarning]
    assert any("audiodiff.vocoders.training is deprecated" in message for message in messages)
