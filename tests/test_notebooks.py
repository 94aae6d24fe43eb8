"""The notebooks run top to bottom (their cells assert what they show), start with a
Colab install cell that does nothing here, and end with a plot. The install cell, run as
if in Colab, installs from its one setting (package name, repository URL or uploaded
wheel) and, with none set, says in one line which to set."""

import contextlib
import io
import os
import subprocess
import sys
import types
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
  assert first.count('SOURCE = ""') == 1
  NotebookClient(nb, timeout=300, kernel_name="python3",
                 resources={"metadata": {"path": str(path.parent)}}).execute()
  errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
  assert not errors
  assert code[0].get("outputs", []) == []  # the install cell does nothing outside Colab
  assert any("image/png" in o.get("data", {}) for o in code[-1].get("outputs", [])), \
      "the last code cell should draw a plot"


def _install(cell: str, source: str, monkeypatch) -> tuple[list, str]:
  """Runs the install cell as Colab would with ``SOURCE = source``: (pip commands, printed)."""
  calls = []
  monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
  monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(cell.replace('SOURCE = ""', f"SOURCE = {source!r}", 1), {})
  return calls, out.getvalue()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_install_cell_works_from_one_setting(path, monkeypatch, tmp_path):
  cell = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"][0].source
  calls, said = _install(cell, "", monkeypatch)
  assert calls == [] and said.count("\n") == 1 and "SOURCE" in said   # one line, no traceback
  pip = [sys.executable, "-m", "pip", "install", "-q"]
  calls, _ = _install(cell, "jaxtick", monkeypatch)
  assert len(calls) == 1 and calls[0][:5] == pip and calls[0][5].startswith("jaxtick[")
  calls, _ = _install(cell, "https://github.com/someone/jaxtick", monkeypatch)
  assert calls[0][5].endswith(" @ git+https://github.com/someone/jaxtick")   # pip's direct URL
  assert "#egg=" not in calls[0][5]
  monkeypatch.chdir(tmp_path)
  calls, _ = _install(cell, "jaxtick-0.1.0-py3-none-any.whl", monkeypatch)
  assert calls[0][5].endswith(f" @ file://{tmp_path}/jaxtick-0.1.0-py3-none-any.whl")
