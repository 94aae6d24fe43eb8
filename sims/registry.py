"""The experiment registry.

An experiment is a module ``sims/e<k>_<topic>.py`` (any module in ``sims`` whose
name starts with ``e`` and a digit, or listed in ``EXTRA_MODULES``) that calls
:func:`register` on a pure function ``run(config) -> metrics``. ``metrics`` is a
JSON-ready dict (Python ints, floats, strings, lists, dicts; proportions made
with :func:`sims.report.proportion`). It must depend only on the config, so
that the same seed gives the same metrics.

Example::

    @registry.register("e9", "My experiment", render=my_text, figures=my_plots)
    def run(config: registry.Config) -> dict:
      n = config.size(1200, quick=200)
      ...
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import time
from pathlib import Path
from typing import Callable, NamedTuple

import sims


class Config(NamedTuple):
  """What every experiment receives.

  Attributes:
    seed: the master seed (derive experiment keys from it).
    n: episodes/instances override from ``--n`` (None: the experiment's default).
    quick: smaller, faster runs (``--quick``).
    progress: ``progress(message)`` prints a progress line on the terminal.
    train_time: ``train_time(seconds)`` records time spent training models
      (reported as ``train_time_sec`` beside the wall clock, not in the metrics,
      which must depend on the config alone).
  """

  seed: int = 0
  n: int | None = None
  quick: bool = False
  progress: Callable[[str], None] = lambda msg: None
  train_time: Callable[[float], None] = lambda seconds: None

  def timed_training(self, fn, *args):
    """``fn(*args)``, recording its wall-clock time with :attr:`train_time`."""
    t0 = time.perf_counter()
    out = fn(*args)
    self.train_time(time.perf_counter() - t0)
    return out

  def size(self, default: int, quick: int | None = None) -> int:
    """The episode count to use: ``--n`` if given, else the (quick) default."""
    if self.n is not None:
      return self.n
    return quick if (self.quick and quick is not None) else default

  def as_dict(self) -> dict:
    return {"seed": self.seed, "n": self.n, "quick": self.quick}


class Experiment(NamedTuple):
  """A registered experiment.

  Attributes:
    name: short name used on the command line (``e1``).
    title: one-line title for results.txt.
    run: ``run(config) -> metrics`` (JSON-ready dict).
    render: ``render(metrics) -> str`` for results.txt (None: generic dump).
    figures: ``figures(metrics, out_dir) -> list of written paths`` (or None).
    requires: modules the experiment imports beyond jaxtick's own dependencies
      (checked before anything runs; see :data:`PIP_NAMES`).
    min_n: the smallest ``--n`` it can run with (e.g. one pool of the budget rule).
  """

  name: str
  title: str
  run: Callable[[Config], dict]
  render: Callable[[dict], str] | None = None
  figures: Callable[[dict, Path], list] | None = None
  requires: tuple[str, ...] = ()
  min_n: int = 1


EXPERIMENTS: dict[str, Experiment] = {}
EXTRA_MODULES = ("sims.coin", "sims.bandit", "sims.routing", "sims.lagrangian")


# Module -> the distribution that provides it (all in the package's ``sims`` extra).
PIP_NAMES = {"matplotlib": "matplotlib", "sklearn": "scikit-learn"}
# sims/ runs from a checkout only (it is not in the wheel); the extra brings its dependencies.
INSTALL_HINT = ("pip install 'jaxtick[sims]' (from a checkout: pip install '.[sims]'; "
                "or make run)")


def register(name: str, title: str, *, render=None, figures=None, requires=None,
             min_n: int = 1):
  """Decorator registering ``run`` as experiment ``name``.

  ``requires`` defaults to ``("matplotlib",)`` when ``figures`` is given.
  """
  if requires is None:
    requires = ("matplotlib",) if figures is not None else ()
  unknown = set(requires) - set(PIP_NAMES)
  if unknown:
    raise ValueError(f"experiment {name!r}: requires {sorted(unknown)}, expected modules "
                     f"of the sims extra: {sorted(PIP_NAMES)}")
  if not (isinstance(min_n, int) and min_n >= 1):
    raise ValueError(f"experiment {name!r}: min_n must be an int >= 1, got {min_n!r}")

  def wrap(run):
    if name in EXPERIMENTS and EXPERIMENTS[name].run is not run:
      raise ValueError(f"experiment {name!r} registered twice")
    EXPERIMENTS[name] = Experiment(name, title, run, render, figures,
                                   tuple(requires), min_n)
    return run
  return wrap


def _importable(module: str) -> bool:
  try:
    return importlib.util.find_spec(module) is not None
  except (ImportError, ValueError):
    return False


def missing_requirements(experiments) -> dict[str, list[str]]:
  """``{distribution: [experiment names]}`` for every required module not importable.

  Looks the modules up without importing them (fast: run before any compute).
  """
  missing: dict[str, list[str]] = {}
  for exp in experiments:
    for module in exp.requires:
      if not _importable(module):
        missing.setdefault(PIP_NAMES[module], []).append(exp.name)
  return missing


def _sort_key(name: str):
  m = re.match(r"e(\d+)$", name)
  return (0, int(m.group(1)), name) if m else (1, 0, name)


def load_all() -> dict[str, Experiment]:
  """Imports every experiment module; returns the registry in run order."""
  for mod in EXTRA_MODULES:
    importlib.import_module(mod)
  for info in pkgutil.iter_modules(sims.__path__):
    if re.match(r"e\d", info.name):
      importlib.import_module(f"sims.{info.name}")
  return {k: EXPERIMENTS[k] for k in sorted(EXPERIMENTS, key=_sort_key)}
