"""Figures a reader can use: fronts with their intervals, matched compute, coverage.

Optional: needs matplotlib (``pip install 'jaxtick[plot]'``), imported on first
use, so ``import jaxtick`` never loads it. Every function draws onto ``ax`` (a
new figure's axes when ``None``) and returns the axes; nothing is shown or
saved here.

Series never hide each other: series ``i`` gets :func:`style` ``(i)`` -- its
own colour, dash pattern and marker, with markers drawn larger and hollow for
earlier series -- so two curves that coincide stay visible as two. Proportions
carry their 95% Wilson intervals (:func:`jaxtick.stats.wilson_interval`) as a
shaded band (or error bars for single points).

* :func:`curve`: accuracy (successes out of ``n``) against compute, any data.
* :func:`front`: one :class:`jaxtick.Front`.
* :func:`fronts`: several fronts on one axis, with markers at matched compute
  (:func:`jaxtick.accuracy_at_cost`).
* :func:`coverage`: coverage against budget, one series per rule.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from jaxtick import _optional, stats
from jaxtick.fronts import Front, accuracy_at_cost

COLORS = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")
DASHES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _pyplot():
  _optional.require("matplotlib", "plot", "jaxtick.plot")
  import matplotlib.pyplot as plt
  return plt


def _axes(ax):
  return _pyplot().subplots(figsize=(5.5, 3.8))[1] if ax is None else ax


def style(i: int) -> dict:
  """Line keywords of series ``i``: colour, dash pattern, marker (hollow for even ``i``).

  Marker sizes fall with ``i`` so that markers of coinciding series nest.
  """
  return {"color": COLORS[i % len(COLORS)], "linestyle": DASHES[i % len(DASHES)],
          "marker": MARKERS[i % len(MARKERS)], "markersize": max(7.0 - 1.2 * (i % 4), 3.0),
          "markerfacecolor": "none" if i % 2 == 0 else COLORS[i % len(COLORS)],
          "linewidth": 1.3}


def _wilson(successes, n):
  lo, hi = stats.wilson_interval(np.asarray(successes, np.float64), np.asarray(n, np.float64))
  return np.asarray(lo, np.float64), np.asarray(hi, np.float64)


def curve(x, successes, n, *, ax=None, label: str | None = None, intervals: bool = True,
          index: int = 0, markevery=None, **kwargs):
  """Proportion ``successes / n`` against ``x`` with 95% Wilson intervals.

  Args:
    x: f[P] compute (mean ticks, mean cost, budget); points are drawn in
      increasing ``x``.
    successes: f[P] successes (correct episodes, covered queries).
    n: scalar or f[P] trials.
    ax: axes to draw on (default: a new figure's).
    label: legend label.
    intervals: shade the Wilson band (error bars when ``P == 1``).
    index: the series' number, choosing its :func:`style`.
    markevery: as matplotlib's (default: about 12 markers per line).
    **kwargs: override :func:`style`'s keywords.

  Returns:
    The axes.
  """
  ax = _axes(ax)
  x = np.asarray(x, np.float64).reshape(-1)
  k = np.broadcast_to(np.asarray(successes, np.float64).reshape(-1), x.shape)
  n = np.broadcast_to(np.asarray(n, np.float64), x.shape)
  order = np.argsort(x, kind="stable")
  x, k, n = x[order], k[order], n[order]
  p = k / n
  kw = {**style(index), **kwargs}
  if markevery is None:
    markevery = max(1, len(x) // 12)
  if len(x) == 1:
    lo, hi = _wilson(k, n)
    yerr = np.stack([p - lo, hi - p]) if intervals else None
    kw.pop("linestyle")
    ax.errorbar(x, p, yerr=yerr, capsize=3, label=label, linestyle="none", **kw)
    return ax
  ax.plot(x, p, label=label, markevery=markevery, **kw)
  if intervals:
    lo, hi = _wilson(k, n)
    ax.fill_between(x, lo, hi, color=kw["color"], alpha=0.15, linewidth=0)
  return ax


def front(fr: Front, *, ax=None, label: str | None = None, x: str = "mean_cost",
          intervals: bool = True, index: int = 0, **kwargs):
  """A scored :class:`jaxtick.Front`: accuracy against ``x`` with its Wilson band.

  Args:
    fr: a front computed with ``score`` (1-D prices).
    x: ``"mean_cost"`` or ``"mean_ticks"``.
    ax, label, intervals, index, kwargs: as in :func:`curve`.

  Returns:
    The axes.

  Raises:
    ValueError: the front has no counts, or ``x`` is not a front field.
  """
  if fr.correct is None:
    raise ValueError("fr has no counts: compute it with front(..., score=...)")
  if x not in ("mean_cost", "mean_ticks"):
    raise ValueError(f"x must be 'mean_cost' or 'mean_ticks', got {x!r}")
  ax = curve(getattr(fr, x), fr.correct, int(fr.num_episodes), ax=ax, label=label,
             intervals=intervals, index=index, **kwargs)
  ax.set_xlabel("mean cost per episode" if x == "mean_cost" else "mean ticks per episode")
  ax.set_ylabel("accuracy (95% Wilson band)")
  return ax


def fronts(frs: Mapping[str, Front], *, ax=None, matched_cost: float | Sequence[float] = (),
           intervals: bool = True, x: str = "mean_cost"):
  """Several fronts on one axis, and their accuracies at matched compute.

  At each cost in ``matched_cost``, every front whose cost range covers it
  gets a marker at :func:`jaxtick.accuracy_at_cost` (interpolated between its
  Pareto points) with Wilson error bars, on a dotted vertical line: the
  comparison at equal compute.

  Args:
    frs: label -> scored :class:`jaxtick.Front`.
    matched_cost: one target mean cost or several.
    intervals, x: as in :func:`front`.

  Returns:
    The axes.
  """
  ax = _axes(ax)
  targets = np.atleast_1d(np.asarray(matched_cost, np.float64))
  for i, (label, fr) in enumerate(frs.items()):
    front(fr, ax=ax, label=label, x=x, intervals=intervals, index=i)
  for t in targets:
    ax.axvline(t, color="0.4", linestyle=":", linewidth=0.8, zorder=0)
    for i, fr in enumerate(frs.values()):
      cost = np.asarray(fr.mean_cost)
      if not cost.min() <= t <= cost.max():
        continue
      m = accuracy_at_cost(fr, float(t))
      s = style(i)
      ax.errorbar([m.cost], [m.accuracy],
                  yerr=[[m.accuracy - m.ci_wilson.lo], [m.ci_wilson.hi - m.accuracy]],
                  color=s["color"], marker=s["marker"], markersize=s["markersize"] + 3,
                  markerfacecolor="white", markeredgewidth=1.5, capsize=4, linestyle="none",
                  zorder=5)
  if len(targets):
    ax.set_title("markers: accuracy at matched mean cost " +
                 ", ".join(f"{t:g}" for t in targets), fontsize=9)
  ax.legend(fontsize=8, loc="lower right")
  return ax


def coverage(budgets, successes: Mapping[str, object], n, *, ax=None, intervals: bool = True,
             log2: bool = True):
  """Coverage (queries solved, out of ``n``) against budget, one series per rule.

  Args:
    budgets: f[B] budgets (e.g. average samples per query).
    successes: rule name -> f[B] covered queries at each budget.
    n: the number of queries (scalar or f[B]).
    intervals: Wilson bands.
    log2: a base-2 logarithmic budget axis.

  Returns:
    The axes.
  """
  ax = _axes(ax)
  for i, (label, k) in enumerate(successes.items()):
    curve(budgets, k, n, ax=ax, label=label, intervals=intervals, index=i, markevery=1)
  if log2:
    ax.set_xscale("log", base=2)
  ax.set_xlabel("budget")
  ax.set_ylabel("coverage (95% Wilson band)")
  ax.legend(fontsize=8, loc="lower right")
  return ax
