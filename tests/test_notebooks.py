"""Every notebook in notebooks/ runs top to bottom without an error.

Each runs in a fresh `python3` kernel (this virtual environment's Python) with notebooks/ as its working
directory, as Jupyter opens it, so notebooks read the demo data as `../data/...`. A notebook writes its outputs
under `$PROTEIN_NOTEBOOK_OUTPUT` (default `out/`), which the test points at a temporary folder. A new notebook
is picked up by the glob; it must run in well under a minute with the tiny preset and random weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from jupyter_client import KernelManager  # noqa: E402  (installed with nbclient)

NOTEBOOK_DIR = Path(__file__).parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 120


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebook in {NOTEBOOK_DIR}"


def test_the_kernel_is_this_python():
    # jupyter_client runs a kernelspec whose command is `python` with the Python running it.
    command = KernelManager(kernel_name=KERNEL).format_kernel_cmd()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("PROTEIN_NOTEBOOK_OUTPUT", str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells), f"{path.name} is stored with outputs"
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    errors = [output for cell in notebook.cells for output in cell.get("outputs", ())
              if output.output_type == "error"]
    assert not errors
