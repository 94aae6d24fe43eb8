"""The notebooks run top to bottom (their cells assert what they show), start with a
Colab install cell that does nothing here, and end with a plot."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
  assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, monkeypatch):
  # The kernel imports this checkout's jaxtick (not whichever one is installed).
  monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
      [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
  nb = nbformat.read(path, as_version=4)
  code = [c for c in nb.cells if c.cell_type == "code"]
  first = code[0].source
  assert 'if "google.colab" in sys.modules:' in first
  assert first.count("REPO_URL =") == 1 and "git+{REPO_URL}" in first
  NotebookClient(nb, timeout=300, kernel_name="python3",
                 resources={"metadata": {"path": str(path.parent)}}).execute()
  errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
  assert not errors
  assert code[0].get("outputs", []) == []  # the install cell does nothing outside Colab
  assert any("image/png" in o.get("data", {}) for o in code[-1].get("outputs", [])), \
      "the last code cell should draw a plot"
