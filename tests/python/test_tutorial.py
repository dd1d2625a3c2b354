"""docs/tutorial.ipynb runs from top to bottom in a Jupyter kernel (nbclient, Debian's python3-nbclient) on the
interpreter running the tests (/usr/bin/python3), in under two minutes, and shows what it says it shows."""
import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"

nbformat = pytest.importorskip("nbformat", reason="python3-nbformat not installed (scripts/install-deps.sh)")
nbclient = pytest.importorskip("nbclient", reason="python3-nbclient not installed (scripts/install-deps.sh)")
pytest.importorskip("ipykernel", reason="python3-ipykernel not installed (scripts/install-deps.sh)")


def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o["text"])
        elif "data" in o:
            out.append(o["data"].get("text/plain", ""))
    return "".join(out)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the compare step's loopback needs 2 CPUs")
def test_tutorial_notebook_runs(tmp_path, monkeypatch):
    # A kernel spec of this very interpreter, first on JUPYTER_PATH: the kernel imports the same
    # packages as the tests, whatever "python3" a user-level kernel spec would start.
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "python"), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("FASTWAKE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    import time

    t = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - t
    assert wall < 120, f"the tutorial took {wall:.0f} s"
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    text = "\n".join(_text(c) for c in code)
    assert "fastwake " in text and "strategies:" in text
    assert "p50 vs interrupt" in text                       # the run's table
    assert "points," in text and "simulated" in text        # the sweep
    assert "(predicted - measured) / measured" in text      # the compare table
    images = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "the plot and the compare figure are shown"
    # nothing of the run landed in the source tree: the sweep's cache is where FASTWAKE_CACHE_DIR says
    assert list((tmp_path / "cache").glob("*/*.json"))
