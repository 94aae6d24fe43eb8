"""Budget levels as ticks (seeds 003/004): one instance choosing its level.

Each instance ``x`` has ``L`` levels (budget settings: samples, depths) with
accuracy ``acc[x, k]`` and cost ``cost[x, k]``. At a price ``lambda`` the
per-instance Lagrangian oracle takes ``argmax_k acc[x, k] - lambda cost[x, k]``
(:func:`price_choice`). Only the vertices of the upper concave hull of the
points ``(cost, acc)`` can win that argmax, and along the hull the slopes
fall, so the oracle is a stopping rule: starting from the cheapest level,
move to the next hull vertex while ``d_acc - lambda d_cost > 0``. That is the
price rule on the :func:`levels` agent:

* the problem is an instance index (i32[]); the state starts *before* any
  level (``level = -1``), and the first tick buys the hull's first vertex (the
  most accurate of the cheapest levels) at its full cost, with an infinite
  gain: run the agent with ``min_ticks=1`` so that every instance gets a level
  at every price (the multiple-choice knapsack picks one per instance);
* each later tick moves to the next hull vertex; its gain (the uncertainty,
  read through the identity calibration) is the accuracy step ``d_acc`` and
  its cost the cost step ``d_cost``, so the price rule's tick threshold
  ``gain / cost`` is the hull slope of that step;
* at the hull's top (no dearer level is more accurate) gain and cost are 0:
  the rule stops at every price;
* the output is the current level.

So the cost spent is the chosen level's cost (summed as steps),
:func:`jaxtick.front` on the agent is the oracle's cost--accuracy curve at
every price of a grid, and :func:`jaxtick.bisect_price` on
:func:`jaxtick.price_cost` (or :func:`jaxtick.matched_price`) bisects the
price for a budget; :mod:`jaxtick.alloc.lagrangian` is built on it.

Ties go to the cheaper level, as :func:`price_choice` gives them to the first
of levels ordered by cost: at a price equal to a step's slope the rule does
not tick. Collinear hull points are skipped (a tick goes to the farthest
level on the steepest line), levels of equal cost and accuracy to the first.
Up to float rounding at prices within an ulp of a slope the agent's choice is
``price_choice``'s (tested against a brute-force argmax on price grids).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from jaxtick import _checks
from jaxtick.api import Agent, Array


class LevelState(NamedTuple):
  """Attributes: index (i32[]) the instance; level (i32[]) its current level
  (-1 before the first tick); next (i32[]) the next hull vertex (``level`` at
  the hull's top)."""

  index: Array
  level: Array
  next: Array


def price_choice(value: Array, cost: Array | Sequence[Array], price) -> Array:
  """i32[...]: ``argmax_k value[..., k] - price * cost[..., k]``, the first on ties.

  The one price -> choice rule of the library: the Lagrangian oracle's level,
  the router's strategy (two prices: ``cost`` and ``price`` as sequences, the
  products subtracted in order). Jit-compatible; no checks (callers check).

  Args:
    value: f[..., K] the value of each option (accuracy).
    cost: f[..., K] (broadcast against ``value``) or a sequence of M of them.
    price: f[] (traced or not), or a sequence of M.

  Returns:
    i32[...] the chosen option along the last axis.
  """
  if isinstance(cost, (list, tuple)):
    u = value
    for c, p in zip(cost, price, strict=True):
      u = u - p * c
  else:
    u = value - price * cost
  return jnp.argmax(u, axis=-1)


def levels(acc, cost) -> Agent:
  """A Tick agent whose ticks climb one instance's upper concave hull of levels.

  The agent is a value: ``acc`` and ``cost`` are bound as data with
  ``jax.tree_util.Partial`` (traced), so two tables of the same shapes share
  one compiled program in every runner.

  Args:
    acc: f[N, L] accuracy of each instance's levels (finite).
    cost: f[L] or f[N, L] cost of each level (finite, >= 0; any order).

  Returns:
    An :class:`jaxtick.Agent` whose problem is an instance index i32[] in
    ``[0, N)``; run it with ``min_ticks=1`` and ``max_ticks=L`` (the hull has
    at most ``L`` vertices).

  Raises:
    ValueError: ``acc`` not 2-D, ``cost`` of the wrong shape, NaN/inf, or a
      negative cost.
  """
  a = _checks.concrete(acc)
  if a is not None and (a.ndim != 2 or 0 in a.shape):
    raise ValueError(f"acc must be f[N, L] with at least one instance and level, got "
                     f"shape {a.shape}")
  if a is not None and not np.all(np.isfinite(a)):
    raise ValueError("acc must be finite (no NaN or inf)")
  n, num = np.shape(acc)
  c = _checks.concrete(cost)
  if np.shape(cost) not in ((num,), (n, num)):
    raise ValueError(f"cost must be f[L] or f[N, L] with L = {num} levels (acc is "
                     f"{(n, num)}), got shape {np.shape(cost)}")
  if c is not None and not (np.all(np.isfinite(c)) and np.all(c >= 0)):
    raise ValueError("cost must be finite and >= 0")
  dtype = jnp.result_type(float)
  acc = jnp.asarray(acc, dtype)
  cost = jnp.broadcast_to(jnp.asarray(cost, dtype), (n, num))
  return Agent(Partial(_init, acc, cost), Partial(_tick, acc, cost),
               Partial(_gain, acc), Partial(_output), Partial(_cost, cost))


def _next_level(a, c, level):
  """i32[]: the hull vertex after ``level`` of the points (c f[L], a f[L]).

  ``level = -1``: the first vertex (the most accurate of the cheapest levels).
  Otherwise the dearer, more accurate level on the steepest line from it (the
  farthest on that line, the first of equals); ``level`` itself at the top.
  """
  first = jnp.argmax(jnp.where(c == jnp.min(c), a, -jnp.inf))
  j = jnp.maximum(level, 0)
  up = (c > c[j]) & (a > a[j])
  slope = jnp.where(up, (a - a[j]) / jnp.where(up, c - c[j], 1.0), -jnp.inf)
  on = up & (slope == jnp.max(slope))
  far = jnp.argmax(jnp.where(on, c, -jnp.inf))
  nxt = jnp.where(jnp.any(up), far, level)
  return jnp.where(level < 0, first, nxt).astype(jnp.int32)


def _init(acc, cost, index, key):
  del key
  i = jnp.asarray(index, jnp.int32)
  none = jnp.asarray(-1, jnp.int32)
  return LevelState(i, none, _next_level(acc[i], cost[i], none))


def _tick(acc, cost, state, key):
  del key
  level = state.next
  return state._replace(level=level, next=_next_level(acc[state.index], cost[state.index], level))


def _gain(acc, state):
  """The accuracy step of the next tick (+inf for the first: it must be bought)."""
  a = acc[state.index]
  step = a[state.next] - a[jnp.maximum(state.level, 0)]
  return jnp.where(state.level < 0, jnp.inf, step)


def _cost(cost, state):
  """The cost step of the next tick (the first level's full cost for the first)."""
  c = cost[state.index]
  return jnp.where(state.level < 0, c[state.next], c[state.next] - c[jnp.maximum(state.level, 0)])


def _output(state):
  return state.level
