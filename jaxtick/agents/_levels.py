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
every price of a grid (``episodes=True`` gives the levels, f[P, N]; the
expected accuracy is ``acc[x, level]`` averaged), and
:func:`jaxtick.bisect_price` on :func:`jaxtick.price_cost` (or
:func:`jaxtick.matched_price`) bisects the price for a budget.
:mod:`jaxtick.alloc.lagrangian` runs the same rule in closed form
(:func:`price_choice`, and :func:`first_max` for one fused pass per
bisection halving), equal to this agent under :func:`jaxtick.front`.

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
  """A level agent's state.

  Attributes:
    index: i32[] the instance.
    level: i32[] its current level (-1 before the first tick).
    next: i32[] the next hull vertex (``level`` at the hull's top).
    acc, cost: f[L] the instance's row of the tables (read once, at ``init``).
    level_acc, level_cost: f[] accuracy and cost of ``level`` (0 before the first tick).
    next_acc, next_cost: f[] those of ``next``.
  """

  index: Array
  level: Array
  next: Array
  acc: Array
  cost: Array
  level_acc: Array
  level_cost: Array
  next_acc: Array
  next_cost: Array


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
  return Agent(Partial(_init, acc, cost), Partial(_tick), Partial(_gain), Partial(_output),
               Partial(_cost))


def first_max(key: Array, *payload: Array) -> tuple[Array, ...]:
  """The first index of the largest ``key`` along axis 0, and ``payload`` at it.

  ``jnp.argmax(key, axis=0)`` (the first maximum wins; NaN never does) with
  ``take`` of each payload, unrolled over the small axis 0 (levels): one
  fused elementwise pass over the other axes, where XLA's argmax and gathers
  do not fuse (2x slower on CPU under ``vmap``).

  Args:
    key: f[L, ...] (L static and small), or a sequence of L arrays f[...]
      (rows computed on the fly fuse into the pass).
    payload: arrays f[L, ...] (or sequences of L rows), broadcast against key.

  Returns:
    ``(i32[...] index, payload[0] at it, ...)``.
  """
  best, idx = key[0], jnp.zeros(jnp.shape(key[0]), jnp.int32)
  vals = [p[0] for p in payload]
  for k in range(1, len(key)):
    better = key[k] > best
    best, idx = jnp.where(better, key[k], best), jnp.where(better, k, idx)
    vals = [jnp.where(better, p[k], v) for p, v in zip(payload, vals)]
  return (idx, *vals)


def _first_level(a, c):
  """The hull's first vertex: the most accurate of the cheapest levels (the first of equals)."""
  return first_max(jnp.where(c == jnp.min(c), a, -jnp.inf), a, c)


def _next_level(a, c, j, aj, cj):
  """The hull vertex after level ``j`` (at ``(cj, aj)``) of the points (c f[L], a f[L]).

  The dearer, more accurate level on the steepest line from ``j`` (the
  farthest on that line, the first of equals); ``j`` itself at the top.
  Returns ``(level, its acc, its cost)``.
  """
  up = (c > cj) & (a > aj)
  slope = jnp.where(up, (a - aj) / jnp.where(up, c - cj, 1.0), -jnp.inf)
  on = up & (slope == jnp.max(slope))
  k, ak, ck = first_max(jnp.where(on, c, -jnp.inf), a, c)
  top = ~jnp.any(up)
  return jnp.where(top, j, k), jnp.where(top, aj, ak), jnp.where(top, cj, ck)


def _init(acc, cost, index, key):
  del key
  i = jnp.asarray(index, jnp.int32)
  a, c = acc[i], cost[i]
  nxt, an, cn = _first_level(a, c)
  zero = jnp.zeros((), a.dtype)
  return LevelState(i, jnp.asarray(-1, jnp.int32), nxt, a, c, zero, zero, an, cn)


def _tick(state, key):
  del key
  nxt, an, cn = _next_level(state.acc, state.cost, state.next, state.next_acc, state.next_cost)
  return state._replace(level=state.next, level_acc=state.next_acc,
                        level_cost=state.next_cost, next=nxt, next_acc=an, next_cost=cn)


def _gain(state):
  """The accuracy step of the next tick (+inf for the first: it must be bought)."""
  return jnp.where(state.level < 0, jnp.inf, state.next_acc - state.level_acc)


def _cost(state):
  """The cost step of the next tick (the first level's full cost for the first)."""
  return state.next_cost - state.level_cost  # level_cost is 0 before the first tick


def _output(state):
  return state.level
