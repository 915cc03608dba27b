"""examples/check_a_layer.ipynb runs top to bottom (executed with nbclient), so it cannot rot."""

from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="the dev extra (pip install -e .[dev]) runs the notebook")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = Path(__file__).parent.parent / "examples" / "check_a_layer.ipynb"


def test_the_check_a_layer_notebook_runs_top_to_bottom():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # Each cell asserts its own verdict (a correct layer passes, the planted bug fails, ...): a failing
    # cell raises CellExecutionError here with its traceback.
    nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )
    assert "affine: FAILED 1 of 2 checks (gradients)" in printed
    assert "affine db: backward differs from finite differences at b[" in printed
    shown = [
        output["data"]["text/html"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "execute_result" and "text/html" in output.get("data", {})
    ]
    assert len(shown) == 4
    assert all("passed" in html for html in shown)
