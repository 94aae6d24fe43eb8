"""The streaming front: every price of a grid from one run at its cheapest price.

Under the key contract an episode's trajectory does not depend on the price;
the price only decides where it stops, and no price of a grid ticks an
episode further than the grid's smallest. So each episode runs, lane-refilled
(:mod:`jaxtick.lanes`), until it stops at the smallest price (or
``max_ticks``), and on the way every price's stopping tick is read off:

* after ``t`` ticks the price rule ticks again iff ``p < r_t``, where ``r_t``
  is :func:`tick_thresholds` (``g_t / c_t`` corrected to the last ulp, so that
  the floating-point rule is reproduced bit for bit);
* with ``R_t = min(r_min_ticks, ..., r_t)`` (running minimum), the prices that
  stop the episode after exactly ``t`` ticks are ``R_t <= p < R_{t-1}``: on the
  sorted grid, the index range ``[k_t, k_{t-1})`` with ``k_t`` the number of
  prices below ``R_t`` (one binary search); at ``max_ticks`` every price left.

Each tick adds the episode's tick count, cost spent, score and whether its
signal is NaN (:attr:`jaxtick.Front.nan`) into per-price
*difference* arrays at ``k_t`` and ``k_{t-1}`` (a few scatter-adds per lane),
summed by one cumulative sum at the end. Cost: one run at the cheapest price
plus O(log P) per tick; memory O(lanes + P), no trajectory stored. With
``episodes=True`` each lane also keeps its episode's row over the P prices and
writes it when the episode retires (O(P) per tick per lane).

The counts (ticks, correct) equal :func:`jaxtick.run_price_batch` at every
price exactly; the cost sums are taken in another order, so mean costs agree
to float rounding.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxtick import lanes as _lanes
from jaxtick.api import Array
from jaxtick.schedule import init_key, tick_key


@jax.jit
def tick_thresholds(gain: Array, cost: Array) -> Array:
  """``r`` with ``gain - p * cost > 0  <=>  p < r`` for every price ``p >= 0``.

  ``r`` is the smallest float ``p`` with ``fl(p * cost) >= gain`` (so the
  read-off reproduces the scheduler's floating-point comparison exactly):
  ``gain / cost`` moved by at most two ulps. NaN gains never tick (-inf).

  Args:
    gain: f[...] ``calib(u)``.
    cost: f[...] the next tick's cost (> 0).

  Returns:
    f[...] thresholds.
  """
  r = gain / cost
  down1 = jnp.nextafter(r, -jnp.inf)
  down2 = jnp.nextafter(down1, -jnp.inf)
  up1 = jnp.nextafter(r, jnp.inf)
  meets = lambda p: p * cost >= gain
  r = jnp.where(meets(down2), down2, jnp.where(meets(down1), down1,
                                               jnp.where(meets(r), r, up1)))
  stops_always = jnp.isnan(gain) | jnp.isnan(r)
  return jnp.where(stops_always, -jnp.inf, r)


# Levels of :func:`count_below`'s search done by selects among the grid's values
# (2**SELECT_LEVELS - 1 selects; grids of up to 2**SELECT_LEVELS prices need no gather).
SELECT_LEVELS = 6


def count_below(grid: Array, r: Array) -> Array:
  """``#{j : grid[j] < r}`` for each ``r``: a branch-free binary search.

  The first :data:`SELECT_LEVELS` levels pick the value to compare with from
  the grid by a tree of selects (elementwise, vectorised; no gather); deeper
  levels, for grids of more than ``2**SELECT_LEVELS`` prices, gather. On CPU
  (64 prices, 8,192 lanes, process time in a loop) 3.5-4.5 ns per lane, where
  a compare-and-count over all P prices costs 22-33 ns (its row reduction is
  not vectorised), ``jnp.searchsorted``'s ``scan_unrolled`` 38-47 ns and a
  gathered binary search 16-20 ns.

  Args:
    grid: f[P] sorted ascending (P >= 1; +inf allowed, no NaN).
    r: f[...] values (NaN counts nothing).

  Returns:
    i32[...] the count, in ``[0, P]``; equals
    ``jnp.searchsorted(grid, r, side="left")``.
  """
  num_prices = grid.shape[0]
  levels = max(num_prices - 1, 0).bit_length()
  size = 1 << levels
  padded = jnp.concatenate([grid, jnp.full(size - num_prices, jnp.inf, grid.dtype)])
  k = jnp.zeros(r.shape, jnp.int32)
  below = []  # the answers so far, most significant first
  for level in range(levels):
    step = size >> (level + 1)
    if level < SELECT_LEVELS:
      cands = [padded[b + step - 1] for b in range(0, size, 2 * step)]
      for bit in reversed(below):
        cands = [jnp.where(bit, hi, lo) for lo, hi in zip(cands[::2], cands[1::2])]
      value = cands[0]
    else:
      value = padded[k + step - 1]
    b = value < r
    below.append(b)
    k = k + jnp.where(b, step, 0)
  # k <= size - 1 so far; the last value decides size itself.
  return k + ((k == size - 1) & (padded[size - 1] < r)).astype(jnp.int32)


class _Lanes(NamedTuple):
  """Episodes in flight (leading axis: lanes)."""

  state: Any
  key: Array
  problem: Any
  label: Array
  ep: Array  # episode index; ``empty`` marks an empty lane
  t: Array  # ticks so far
  spent: Array  # cost of those ticks
  run_min: Array  # R_t: running minimum of the thresholds from min_ticks on
  k: Array  # prices below R_t (on the sorted grid): those still ticking
  go: Array  # the cheapest price ticks again
  row: Any  # episodes=True: this episode's (ticks, cost, output, correct) per price


class _Acc(NamedTuple):
  """Per-price difference arrays on the sorted grid (index P: nothing stops)."""

  ints: Array  # i32[P + 1, 3]: ticks, correct, stopped on a NaN signal
  cost: Array  # f[P + 1]


class Sums(NamedTuple):
  ticks: Array  # i32[P]
  cost: Array  # f[P]
  correct: Array  # i32[P]
  nan: Array  # i32[P] episodes stopped on a NaN signal


def read(agent, calib, score_one, problems, keys, labels, prices, valid, *,
         max_ticks: int, min_ticks: int, lanes: int, episodes: bool):
  """Streams the episodes: ``(Sums, per-episode rows or None)``.

  Args:
    agent, calib: the Tick agent and calibration map.
    score_one: ``score_one(output, problem, label) -> bool[]``.
    problems, keys, labels: N episodes (labels: [N, ...], any placeholder).
    prices: f[P] in any order (repeats, 0 and +inf allowed).
    valid: bool[N], the episodes that count (the others are never run).
    max_ticks, min_ticks: static tick bounds.
    lanes: static lanes in flight (clipped to N).
    episodes: static; also return per-episode rows
      ``(ticks i32[N, P], cost f[N, P], output [N, P, ...], correct bool[N, P])``.

  Returns:
    :class:`Sums` over the valid episodes, in the order of ``prices``.
  """
  n = keys.shape[0]
  num_prices = prices.shape[0]
  num_lanes = min(lanes, n)
  min_idle = max(1, num_lanes // 2)
  order = jnp.argsort(prices, stable=True)
  grid = prices[order]  # sorted
  dtype = prices.dtype

  def observe(state, t, run_min, k_prev, problem, label, live):
    """One lane after ``t`` ticks: the prices that stop here and what they score."""
    gain, cost = calib(agent.uncertainty(state)), agent.cost(state)
    r = tick_thresholds(gain, cost)
    counted = t >= min_ticks
    run_min = jnp.where(counted, jnp.minimum(run_min, r), run_min)
    # The search: a select tree, vectorised (see count_below); it was the
    # stream's largest per-tick cost as a compare-and-count.
    k = jnp.where(counted, count_below(grid, run_min), num_prices)
    k = jnp.where((t >= max_ticks) | ~live, 0, k).astype(jnp.int32)
    k = jnp.minimum(k, k_prev)
    output = agent.output(state)
    correct = score_one(output, problem, label)
    return run_min, k, output, correct, jnp.isnan(gain) | jnp.isnan(cost)

  def observe_lanes(ln, fresh, acc):
    """Updates ``k``/``go`` of the lanes in ``fresh``; adds their stops to ``acc``."""
    run_min, k, output, correct, nan = jax.vmap(observe)(
        ln.state, ln.t, ln.run_min, ln.k, ln.problem, ln.label,
        fresh & (ln.ep != n))
    k = jnp.where(fresh, k, ln.k)
    run_min = jnp.where(fresh, run_min, ln.run_min)
    live = fresh & (ln.ep != n)
    lo = jnp.where(live, k, num_prices)  # the range [k, k_prev) stops here
    hi = jnp.where(live, ln.k, num_prices)

    # Two scatter-adds per tick: +v at k, -v at k_prev, for (ticks, correct, nan) as
    # one int32 row and the cost; nothing is added where nothing stops (not +v - v).
    stops = (lo < hi)[:, None]
    idx = jnp.concatenate([lo, hi])
    ints = jnp.where(stops, jnp.stack([ln.t, correct.astype(jnp.int32),
                                       nan.astype(jnp.int32)], axis=1), 0)
    cost = jnp.where(stops[:, 0], ln.spent, 0)
    acc = _Acc(acc.ints.at[idx].add(jnp.concatenate([ints, -ints]), mode="drop"),
               acc.cost.at[idx].add(jnp.concatenate([cost, -cost]), mode="drop"))
    row = ln.row
    if episodes:
      idx = jnp.arange(num_prices)
      here = live[:, None] & (idx[None, :] >= lo[:, None]) & (idx[None, :] < hi[:, None])
      put = lambda buf, v: jnp.where(
          here.reshape(here.shape + (1,) * (buf.ndim - 2)), v[:, None], buf)
      row = (put(row[0], ln.t), put(row[1], ln.spent), put(row[2], output),
             put(row[3], correct))
    go = (ln.ep != n) & (k > 0)
    return ln._replace(run_min=run_min, k=k, go=go, row=row), acc

  def load(idx, acc):
    safe = jnp.clip(idx, 0, n - 1)
    k = keys[safe]
    problem = _lanes.take(problems, safe)
    state = jax.vmap(agent.init)(problem, jax.vmap(init_key)(k))
    ep = jnp.where((idx < n) & valid[safe], idx, n)
    m = idx.shape[0]
    row = None
    if episodes:
      out_shape = jax.eval_shape(agent.output, jax.tree_util.tree_map(lambda x: x[0], state))
      row = (jnp.zeros((m, num_prices), jnp.int32), jnp.zeros((m, num_prices), dtype),
             jnp.zeros((m, num_prices) + out_shape.shape, out_shape.dtype),
             jnp.zeros((m, num_prices), bool))
    ln = _Lanes(state, k, problem, labels[safe], ep, jnp.zeros(m, jnp.int32),
                jnp.zeros(m, dtype), jnp.full(m, jnp.inf, dtype),
                jnp.full(m, num_prices, jnp.int32), jnp.zeros(m, bool), row)
    return observe_lanes(ln, jnp.ones(m, bool), acc)

  def step(ln, acc):
    cost = jax.vmap(agent.cost)(ln.state)
    ticked = jax.vmap(agent.tick)(ln.state, jax.vmap(tick_key)(ln.key, ln.t))
    ln = ln._replace(state=_lanes.select(ln.go, ticked, ln.state),
                     t=jnp.where(ln.go, ln.t + 1, ln.t),
                     spent=jnp.where(ln.go, ln.spent + cost, ln.spent))
    return observe_lanes(ln, ln.go, acc)

  def write(out, ln, mask):
    if out is None:
      return None
    dest = jnp.where(mask, ln.ep, n)  # n: dropped
    return jax.tree_util.tree_map(
        lambda o, x: o.at[dest].set(x, mode="drop", unique_indices=True), out, ln.row)

  acc = _Acc(jnp.zeros((num_prices + 1, 3), jnp.int32), jnp.zeros(num_prices + 1, dtype))
  out = None
  if episodes:
    rows = jax.eval_shape(lambda: load(jnp.zeros(1, jnp.int32), acc)[0].row)
    out = jax.tree_util.tree_map(lambda x: jnp.zeros((n,) + x.shape[1:], x.dtype), rows)
  # Run up to the last valid episode only: the padding that front adds to a
  # bucket size (up to 25%) is never loaded.
  last = jnp.max(jnp.where(valid, jnp.arange(1, n + 1, dtype=jnp.int32), 0))
  out, acc = _lanes.run(load, step, write, out, acc, num_episodes=last, empty=n,
                        num_lanes=num_lanes, min_idle=min_idle)
  unsort = lambda x: jnp.zeros_like(x).at[..., order].set(x)
  ints = jnp.cumsum(acc.ints, axis=0)[:num_prices]
  sums = Sums(unsort(ints[:, 0]), unsort(jnp.cumsum(acc.cost)[:num_prices]),
              unsort(ints[:, 1]), unsort(ints[:, 2]))
  if out is not None:
    out = tuple(jnp.zeros_like(x).at[:, order].set(x) for x in out)
  return sums, out
