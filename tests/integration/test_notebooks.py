"""Execute the notebooks end to end with the real models: a walkthrough that errors is a broken doc."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.real

# What each notebook must print: the claim its prose makes.
EXPECTED = {
    "walkthrough.ipynb": "lookalike_brand_text",  # the Adibas photo is flagged, as the walkthrough says
    "calibrate.ipynb": "8 from the cache",  # the second eval rescans nothing
}
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="notebook tests need the dev extra (nbformat, nbclient)")
    nbclient = pytest.importorskip("nbclient", reason="notebook tests need the dev extra (nbformat, nbclient)")
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert EXPECTED[path.name] in text
