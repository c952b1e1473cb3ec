"""The notebooks run top to bottom (QUICK settings, fewer training steps) so they never rot.

Each notebook's first code cell is tagged `parameters` (papermill's convention) and sets the QUICK run's training
steps; the test runs them with `SHORT_RUNS` injected right after that cell: the notebooks' code paths, plots and
players are the same, in a fraction of the time (the full QUICK runs take a few minutes each on a CPU)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
SHORT_RUNS = {
    "01_ddim_inversion_audio": "TRAIN_STEPS, DDIM_STEPS = 40, 10",
    "02_diffusion_for_audio": "BASE_STEPS, FINETUNE_STEPS, DISTILL_STEPS = 40, 10, 10",
}


def with_parameters(notebook, source: str):
    """`notebook` with a code cell of `source` right after the cell tagged `parameters` (which must exist, and must
    define every name `source` sets)."""
    cells = notebook.cells
    tagged = [index for index, cell in enumerate(cells) if "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    for name in source.split("=")[0].replace(",", " ").split():
        assert f"{name} =" in cells[tagged[0]].source or f"{name}," in cells[tagged[0]].source, name
    cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(source))
    return notebook


def test_every_notebook_has_short_runs():
    assert sorted(SHORT_RUNS) == [path.stem for path in NOTEBOOKS]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    notebook = with_parameters(nbformat.read(path, as_version=4), SHORT_RUNS[path.stem])
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs)  # the plots were drawn
    assert any("audio" in str(output.get("data", {}).get("text/html", "")) for output in outputs)  # and the players
