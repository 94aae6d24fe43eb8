"""Results files: results.txt, results.json, figures; proportions with intervals."""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import jax
import numpy as np

from jaxtick import stats

RESULTS_JSON = "results.json"
RESULTS_TXT = "results.txt"


def results_version() -> str:
  """UTC ISO-8601 timestamp identifying one run's results."""
  now = datetime.datetime.now(datetime.timezone.utc)
  return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def proportion(successes, n) -> dict:
  """A proportion with exact counts and both 95% intervals (double precision).

  Returns:
    ``{"successes", "n", "p", "ci_normal": [lo, hi], "ci_wilson": [lo, hi]}``.
  """
  s, n = int(successes), int(n)
  if n <= 0 or not 0 <= s <= n:
    raise ValueError(f"need 0 <= successes <= n and n > 0, got {s}/{n}")
  with jax.enable_x64(True):
    lo_n, hi_n = stats.normal_interval(s, n)
    lo_w, hi_w = stats.wilson_interval(s, n)
    return {"successes": s, "n": n, "p": s / n,
            "ci_normal": [float(lo_n), float(hi_n)],
            "ci_wilson": [float(lo_w), float(hi_w)]}


def mean_interval(x) -> dict:
  """Mean of per-item values with its normal 95% interval (mean +- 1.96 SE),
  computed in the precision of ``x``.

  Returns:
    ``{"mean", "ci_normal": [lo, hi], "n"}``.
  """
  x = np.asarray(x)
  x = x if np.issubdtype(x.dtype, np.floating) else x.astype(float)
  m, se = x.mean(), x.std(ddof=1) / np.sqrt(x.size)  # in x's own precision
  return {"mean": float(m), "ci_normal": [float(m - 1.96 * se), float(m + 1.96 * se)],
          "n": int(x.size)}


def mcnemar(correct_a, correct_b) -> dict:
  """Exact McNemar test of two paired correctness vectors, as a dict."""
  with jax.enable_x64(True):
    t = stats.mcnemar(np.asarray(correct_a, bool), np.asarray(correct_b, bool))
    return {"b": int(t.b), "c": int(t.c), "n": int(t.n), "p": float(t.p)}


def to_jsonable(x):
  """Converts NumPy/JAX scalars and arrays inside ``x`` to plain Python."""
  if isinstance(x, dict):
    return {str(k): to_jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [to_jsonable(v) for v in x]
  if isinstance(x, (np.ndarray, jax.Array)):
    return to_jsonable(np.asarray(x).tolist())
  if isinstance(x, np.generic):
    return x.item()
  if isinstance(x, float) and not math.isfinite(x):
    return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
  return x


SPEC_TITLE = ("Dynamic Test-Time Compute Allocation with a Uniform Tick API Across "
              "Neural Modules and MCTS")
TEXT_NOTE = ("Numbers below have 4 significant digits; results.json has every number at "
             "full precision, including every point of every figure and every sweep that "
             "the text summarises.")


def g4(x) -> str:
  """A number with 4 significant digits (ints whole; None as n/a)."""
  if x is None:
    return "n/a"
  if isinstance(x, str):
    return x
  if isinstance(x, (bool, np.bool_)):
    return str(bool(x))
  if isinstance(x, (int, np.integer)):
    return str(int(x))
  x = float(x)
  if not math.isfinite(x):
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
  return f"{x:.4g}"


def format_interval(lo_hi) -> str:
  return f"[{g4(lo_hi[0])}, {g4(lo_hi[1])}]"


def format_proportion(d: dict) -> str:
  """One line: ``p (s/n) normal [lo, hi] Wilson [lo, hi]``, 4 significant digits."""
  return (f"{g4(d['p'])} ({d['successes']}/{d['n']}) normal "
          f"{format_interval(d['ci_normal'])} Wilson {format_interval(d['ci_wilson'])}")


def format_mcnemar(t: dict, a: str = "A", b: str = "B") -> str:
  """``McNemar b=.. (A right, B wrong) c=.. p=..`` (exact two-sided)."""
  return (f"McNemar b={t['b']} ({a} right, {b} wrong), c={t['c']}, "
          f"exact two-sided p={g4(t['p'])}")


def significance(p: float, level: float = 0.05) -> str:
  return f"significant, p={g4(p)}" if p < level else f"not significant, p={g4(p)}"


def summarise(rows: list, keep: int = 8) -> list:
  """About ``keep`` evenly spaced rows of a dense sweep (first and last included)."""
  if len(rows) <= keep:
    return list(rows)
  idx = sorted(set(np.round(np.linspace(0, len(rows) - 1, keep)).astype(int).tolist()))
  return [rows[i] for i in idx]


def render_generic(metrics, indent: int = 0) -> str:
  """A readable dump of a metrics dict (4 significant digits)."""
  pad = "  " * indent
  lines = []
  for key, v in metrics.items():
    if isinstance(v, dict) and {"successes", "n", "ci_wilson"} <= set(v):
      lines.append(f"{pad}{key}: {format_proportion(v)}")
    elif isinstance(v, float):
      lines.append(f"{pad}{key}: {g4(v)}")
    elif isinstance(v, dict):
      lines.append(f"{pad}{key}:")
      lines.append(render_generic(v, indent + 1))
    elif isinstance(v, list) and len(v) > 12:
      lines.append(f"{pad}{key}: [{len(v)} values; see results.json]")
    else:
      lines.append(f"{pad}{key}: {v!r}")
  return "\n".join(lines)


def file_mode() -> int:
  """0666 less the process umask (what ``open(path, "w")`` would give; 0644 usually)."""
  mask = os.umask(0)
  os.umask(mask)
  return 0o666 & ~mask


def atomic_write(files: dict[Path, bytes]) -> None:
  """Writes every file whole or none: temporaries first, then renames.

  Files get the mode a plain ``open`` would give (0666 less the umask), not
  ``mkstemp``'s 0600.
  """
  temps = []
  mode = file_mode()
  try:
    for path, data in files.items():
      path.parent.mkdir(parents=True, exist_ok=True)
      fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
      with os.fdopen(fd, "wb") as f:
        f.write(data)
        os.fchmod(f.fileno(), mode)
      temps.append((tmp, path))
    for tmp, path in temps:
      os.replace(tmp, path)
  finally:
    for tmp, _ in temps:
      if os.path.exists(tmp):
        os.unlink(tmp)


def plot_proportions(ax, x, props: list, **kwargs):
  """:func:`jaxtick.plot.curve` over :func:`proportion` dicts: the curve with Wilson bands.

  Args:
    ax: matplotlib axes.
    x: the compute of each point.
    props: one :func:`proportion` dict per point.
    **kwargs: passed on (``label``, ``index`` picks the series' style, ...).
  """
  from jaxtick import plot
  return plot.curve(x, [p["successes"] for p in props], [p["n"] for p in props], ax=ax,
                    **kwargs)


def save_figure(fig, path: Path) -> Path:
  """Saves a matplotlib figure atomically as PNG and closes it."""
  import io
  import matplotlib.pyplot as plt
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
  plt.close(fig)
  atomic_write({Path(path): buf.getvalue()})
  return Path(path)


def write_results(out: Path, payload: dict, text: str,
                  staged: Path | None = None) -> list[Path]:
  """Writes results.json, results.txt and the figures into ``out`` (all or none).

  Args:
    out: the output directory.
    payload: results.json's content; ``payload["figures"]`` maps each experiment
      to its figure paths relative to ``out``.
    text: results.txt's content.
    staged: a directory holding the figures already drawn, under the same
      relative paths (see :func:`staging`); they are moved into ``out``.

  Figures that the previous results.json in ``out`` listed and this run does not
  write are removed, so ``out`` never mixes two runs.
  """
  out = Path(out)
  data = json.dumps(to_jsonable(payload), indent=2, allow_nan=False) + "\n"
  figures = [Path(p) for ps in payload.get("figures", {}).values() for p in ps]
  stale = [p for p in _listed_figures(out) if p not in figures]
  files = {out / RESULTS_JSON: data.encode(), out / RESULTS_TXT: text.encode()}
  atomic_write(files)
  for rel in figures:
    os.replace(Path(staged) / rel, out / rel)
  for rel in stale:
    (out / rel).unlink(missing_ok=True)
  return list(files) + [out / rel for rel in figures]


def _listed_figures(out: Path) -> list[Path]:
  """The figures (relative paths) listed by a previous results.json in ``out``."""
  try:
    old = json.loads((out / RESULTS_JSON).read_text())
    paths = [Path(p) for ps in old["figures"].values() for p in ps]
  except (OSError, ValueError, KeyError, TypeError, AttributeError):
    return []
  return [p for p in paths if not p.is_absolute() and ".." not in p.parts
          and p.suffix == ".png"]


@contextlib.contextmanager
def staging(out: Path):
  """A temporary directory next to the results for drawing figures; removed on exit.

  Creates ``out`` if needed (and removes it again if the run fails and it is
  still empty).
  """
  out = Path(out)
  created = not out.exists()
  out.mkdir(parents=True, exist_ok=True)
  tmp = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
  try:
    yield tmp
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    if created and not any(out.iterdir()):
      out.rmdir()
    raise
  shutil.rmtree(tmp, ignore_errors=True)


def check_writable(out: Path) -> str | None:
  """None if results can be written into ``out``; else what is wrong (one line).

  Probes by creating (and removing) a file in ``out`` or in its nearest existing
  parent, so it also works where permission bits do not tell (root, read-only
  mounts). Creates nothing that stays.
  """
  out = Path(out)
  probe = out
  while not probe.exists():
    if probe.parent == probe:
      break
    probe = probe.parent
  if not probe.is_dir():
    what = "exists and is not a directory" if probe == out else \
        f"cannot be created: {str(probe)!r} is not a directory"
    return f"--out {str(out)!r} {what}"
  try:
    fd, tmp = tempfile.mkstemp(dir=probe, prefix=".write-test-")
    os.close(fd)
    os.unlink(tmp)
  except OSError as e:
    return f"--out {str(out)!r} is not writable ({e.strerror or e} in {str(probe)!r})"
  return None
