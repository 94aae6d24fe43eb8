"""Benchmarks: ``python -m sims.bench [names...]``.

A benchmark is a function registered with :func:`register` in a module of this
package. It returns a :class:`Record`: the figures it measured (name -> value,
with units in the name) and the ratios of its subject against references
measured in the same run. Use :func:`timeit` for every timing so that all
figures are taken the same way (compiled first, then the minimum and median
over repeats, with ``block_until_ready``), and :func:`timeit_interleaved` for
the two sides of a ratio that a target is set on.
"""

from __future__ import annotations

import importlib
import pkgutil
import statistics
import time
from typing import Callable, NamedTuple

import jax


class Timing(NamedTuple):
  """Seconds per call: minimum and median over ``reps`` calls after warm-up."""

  best: float
  median: float
  reps: int


def timeit(fn: Callable, *args, reps: int = 5, min_time: float = 0.0) -> Timing:
  """Times ``fn(*args)``: one warm-up (compile) call, then ``reps`` timed calls.

  Each call's outputs are waited for with ``jax.block_until_ready``. If
  ``min_time`` > 0, keeps repeating until that many seconds have been timed.
  """
  return timeit_interleaved({"fn": lambda: fn(*args)}, reps=reps, min_time=min_time)["fn"]


def timeit_interleaved(fns: dict, reps: int = 5, min_time: float = 0.0) -> dict:
  """Times several calls in alternation: ``{name: Timing}`` for ``{name: fn}``.

  Each ``fn()`` is called once (compiled), then the calls take turns ``reps``
  times (and on, while any has been timed for less than ``min_time`` seconds),
  so that a burst of load on the machine falls on all of them rather than on
  whichever was being timed: the way to take a *ratio* of two timings.
  """
  for fn in fns.values():
    jax.block_until_ready(fn())
  times = {name: [] for name in fns}
  while (min(map(len, times.values())) < reps
         or min(map(sum, times.values())) < min_time):
    for name, fn in fns.items():
      t0 = time.perf_counter()
      jax.block_until_ready(fn())
      times[name].append(time.perf_counter() - t0)
  return {name: Timing(min(t), statistics.median(t), len(t)) for name, t in times.items()}


class Record(NamedTuple):
  """One benchmark's results.

  Attributes:
    name: benchmark name.
    sizes: workload sizes (episodes, ticks, ...).
    figures: measured figures, e.g. ``{"jaxtick_samples_per_s": 1.2e8}``.
    ratios: subject / reference ratios, e.g. ``{"vs_numpy_loop": 41.0}``.
    targets: the ratio each target asks for (same keys as ``ratios``).
    notes: free text (method, caveats).
  """

  name: str
  sizes: dict
  figures: dict
  ratios: dict
  targets: dict = {}
  notes: str = ""


BENCHMARKS: dict[str, Callable[..., Record]] = {}


def register(name: str):
  """Decorator: registers ``fn(quick: bool) -> Record`` as benchmark ``name``."""
  def wrap(fn):
    BENCHMARKS[name] = fn
    return fn
  return wrap


def load_all() -> dict[str, Callable[..., Record]]:
  """Imports every benchmark module in this package."""
  import sims.bench as pkg
  for info in pkgutil.iter_modules(pkg.__path__):
    if not info.name.startswith("_"):
      importlib.import_module(f"sims.bench.{info.name}")
  return dict(BENCHMARKS)
