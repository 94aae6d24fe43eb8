"""The README's and the documentation's Python examples run exactly as written.

Every fenced ``python`` block of README.md and docs/**/*.md is executed. The blocks of
one section (the text under one heading) run in order in one namespace, each continuing
the one before, as the pages say; a new section starts afresh. A block preceded by the
line ``<!-- docs-test: skip (reason) -->`` is shown but not run (the multi-process
worker, which needs several processes: tests/test_distributed.py runs that code).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
FENCE = re.compile(r"^(`{3,})\s*(\w*)")
SKIP = "<!-- docs-test: skip"


def sections(path: Path) -> list[tuple[str, list[tuple[int, str]]]]:
  """(heading, [(line number, code)]) for each section with python blocks."""
  out, heading, blocks = [], path.name, []
  lines = path.read_text().split("\n")
  i, prev = 0, ""
  while i < len(lines):
    m = FENCE.match(lines[i])
    if m:
      ticks, lang, start = m.group(1), m.group(2), i
      i += 1
      body = []
      while i < len(lines) and not lines[i].startswith(ticks):
        body.append(lines[i])
        i += 1
      if lang == "python" and not prev.startswith(SKIP):
        blocks.append((start + 1, "\n".join(body)))
      prev = ""
    elif lines[i].startswith("#"):
      if blocks:
        out.append((heading, blocks))
      heading, blocks = lines[i].lstrip("#").strip(), []
    elif lines[i].strip():
      prev = lines[i].strip()
    i += 1
  if blocks:
    out.append((heading, blocks))
  return out


CASES = [(p, h, b) for p in PAGES for h, b in sections(p)]


def test_the_readme_has_examples():
  readme = [c for c in CASES if c[0].name == "README.md"]
  assert len(readme) >= 1 and sum(len(b) for _, _, b in readme) >= 3


@pytest.mark.parametrize("page,heading,blocks", CASES,
                         ids=[f"{p.relative_to(ROOT)}::{h}" for p, h, _ in CASES])
def test_examples_run_as_written(page, heading, blocks, monkeypatch, tmp_path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  monkeypatch.chdir(tmp_path)            # examples that write files write them here
  ns = {"__name__": "__docs__"}
  try:
    for line, code in blocks:
      exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), ns)
  finally:
    plt.close("all")
