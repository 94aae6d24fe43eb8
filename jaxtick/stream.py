"""The streaming front: every price of a grid from one run at its cheapest price.

Under the key contract an episode's trajectory does not depend on the price;
the price only decides where it stops, and no price of a grid ticks an
episode further than the grid's smallest. So each episode runs, lane-refilled
(:mod:`jaxtick.lanes`), until it stops at the smallest price (or
``max_ticks``), and on the way every price's stopping tick is read off:

* after ``t`` ticks, price ``p`` ticks again iff it ticked so far and its
  rule ``gain - p * cost > 0`` holds (from ``min_ticks`` on) -- on the sorted
  grid a prefix, of length ``k_t`` (:func:`count_ticking`: one branch-free
  binary search with the rule's own floating-point comparison, so the stops
  are the scheduler's bit for bit); ``k_t`` never grows, and the prices that
  stop after exactly ``t`` ticks are the index range ``[k_t, k_{t-1})``.

What every price sums is read in *prefix* form: each observation after a
tick counts for exactly the prices that took that tick, the first
``k_{t-1}`` of the sorted grid. So at one index per lane and tick, ``k_{t-1}``,
it adds the tick, its cost and the change in (correct, NaN signal) since the
last observation; a price's sum over the entries above its index is its
total ticks, cost, and -- the changes telescoping -- its score and NaN flag at
its own stopping tick. Three scatter-adds of one value per lane and tick,
one reversed cumulative sum at the end. Cost: one run at the cheapest price
plus O(log P) per tick; memory O(lanes + P), no trajectory stored. With
``episodes=True`` each lane also keeps its episode's row over the P prices and
writes it when the episode retires (O(P) per tick per lane).

The counts (ticks, correct, NaN) equal :func:`jaxtick.run_price_batch` at
every price exactly; the cost sums are taken in another order (tick by tick),
so mean costs agree to float rounding.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxtick import lanes as _lanes
from jaxtick.api import Array
from jaxtick.schedule import init_key, tick_key


# Levels of :func:`count_prefix`'s search done by selects among the grid's values
# (2**SELECT_LEVELS - 1 selects; grids of up to 2**SELECT_LEVELS prices need no gather).
SELECT_LEVELS = 6


def count_ticking(grid: Array, gain: Array, cost: Array) -> Array:
  """``#{j : gain - grid[j] * cost > 0}``: the prices of the grid that tick again.

  The price rule's own comparison (:func:`jaxtick.run_price`), written as
  ``grid[j] * cost < gain`` (the same in floating point: ``a - b > 0`` iff
  ``a > b``), which holds on a prefix of the sorted grid for ``cost >= 0``.
  NaN gains and costs tick at no price.

  Args:
    grid: f[P] sorted ascending (P >= 1; +inf allowed, no NaN).
    gain, cost: f[...] ``calib(u)`` and the next tick's cost.

  Returns:
    i32[...] the count, in ``[0, P]``.
  """
  return count_prefix(grid, lambda value: value * cost < gain, jnp.broadcast_shapes(
      jnp.shape(gain), jnp.shape(cost)))


def count_prefix(grid: Array, holds, shape) -> Array:
  """The length of the prefix of ``grid`` on which ``holds`` is true: a binary search.

  Branch-free: the first :data:`SELECT_LEVELS` levels pick the value to test
  from the grid by a tree of selects (elementwise, vectorised; no gather);
  deeper levels, for grids of more than ``2**SELECT_LEVELS`` prices, gather.
  On CPU (64 prices, 8,192 lanes, process time in a loop) 3.5-4.5 ns per
  lane, where a compare-and-count over all P prices costs 22-33 ns (its row
  reduction is not vectorised), ``jnp.searchsorted``'s ``scan_unrolled``
  38-47 ns and a gathered binary search 16-20 ns.

  Args:
    grid: f[P] sorted ascending (P >= 1; +inf allowed, no NaN).
    holds: ``holds(value) -> bool[shape]`` for values f[shape] taken from the
      grid: true on a prefix of the sorted grid (false on +inf padding).
    shape: the shape of the answer.

  Returns:
    i32[shape] the prefix's length, in ``[0, P]``.
  """
  num_prices = grid.shape[0]
  levels = max(num_prices - 1, 0).bit_length()
  size = 1 << levels
  padded = jnp.concatenate([grid, jnp.full(size - num_prices, jnp.inf, grid.dtype)])
  k = jnp.zeros(shape, jnp.int32)
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
    b = holds(value)
    below.append(b)
    k = k + jnp.where(b, step, 0)
  # k <= size - 1 so far; the last value decides size itself.
  return k + ((k == size - 1) & holds(padded[size - 1])).astype(jnp.int32)


class _Lanes(NamedTuple):
  """Episodes in flight (leading axis: lanes)."""

  state: Any
  key: Array
  problem: Any
  label: Array
  ep: Array  # episode index; ``empty`` marks an empty lane
  t: Array  # ticks so far
  spent: Array | None  # cost of those ticks (episodes=True only: read by the rows)
  k: Array  # the prices still ticking: a prefix of the sorted grid
  go: Array  # the cheapest price ticks again
  scored: Array  # i32: correct + 2 * nan at the last observation
  row: Any  # episodes=True: this episode's (ticks, cost, output, correct) per price


class _Acc(NamedTuple):
  """Prefix-difference arrays on the sorted grid: entry ``j`` is added to every price below ``j``."""

  ticks: Array  # i32[P + 1]
  cost: Array  # f[P + 1]
  scored: Array  # i32[P + 1, 2]: correct, stopped on a NaN signal


def _add(acc: Array, idx: Array, v: Array) -> Array:
  """``acc`` plus ``v`` summed by ``idx`` (every index must lie in ``[0, len(acc))``)."""
  # segment_sum into fresh zeros, indices promised in bounds: on CPU a third of
  # ``acc.at[idx].add(v, mode="drop")`` (no wrapping of negative indices, no bounds
  # branch; 8,192 lanes: ~4 us against ~30 us).
  return acc + jax.ops.segment_sum(v, idx, num_segments=acc.shape[0], mode="promise_in_bounds")


# Two changes in {-1, 0, 1} (correct, NaN) travel in one int32, ``a + b * 2**PACK_SHIFT``:
# one scatter of one column instead of two (8,192 lanes on CPU: ~8 us against ~22 us a tick).
# Exact while a tick's sum of ``a`` over the lanes stays within +-(2**(PACK_SHIFT-1) - 1):
# up to PACK_MAX_LANES lanes; more lanes scatter the two columns.
PACK_SHIFT = 15
PACK_MAX_LANES = (1 << (PACK_SHIFT - 1)) - 1


def _add_pair(acc: Array, idx: Array, a: Array, b: Array, packed: bool) -> Array:
  """``acc`` (i32[B, 2]) plus the columns ``(a, b)`` summed by ``idx``."""
  if not packed:
    return _add(acc, idx, jnp.stack([a, b], 1))
  s = jax.ops.segment_sum(a + (b << PACK_SHIFT), idx, num_segments=acc.shape[0],
                          mode="promise_in_bounds")
  half = 1 << (PACK_SHIFT - 1)
  lo = ((s + half) & ((1 << PACK_SHIFT) - 1)) - half  # sum of a: |.| < 2**(PACK_SHIFT-1)
  return acc + jnp.stack([lo, (s - lo) >> PACK_SHIFT], 1)


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

  def observe(state, t, k_prev, problem, label, live):
    """One lane after ``t`` ticks: the prices still ticking and what it scores."""
    gain, cost = calib(agent.uncertainty(state)), agent.cost(state)
    # A price ticks again iff it ticked so far and its rule says so now (from
    # min_ticks on): a prefix of the sorted grid, found by a select-tree search.
    k = jnp.where(t >= min_ticks, jnp.minimum(count_ticking(grid, gain, cost), k_prev),
                  k_prev)
    k = jnp.where((t >= max_ticks) | ~live, 0, k).astype(jnp.int32)
    output = agent.output(state)
    correct = score_one(output, problem, label)
    return k, output, correct, jnp.isnan(gain) | jnp.isnan(cost)

  def observe_lanes(ln, fresh, acc, tick_cost):
    """Updates ``k``/``go`` of the lanes in ``fresh``; adds what they read to ``acc``.

    ``tick_cost``: f[L], the cost of the tick the lanes just took (0 at a load).
    """
    live = fresh & (ln.ep != n)
    k, output, correct, nan = jax.vmap(observe)(
        ln.state, ln.t, ln.k, ln.problem, ln.label, live)
    k = jnp.where(fresh, k, ln.k)
    scored = jnp.where(live, correct.astype(jnp.int32) + 2 * nan.astype(jnp.int32), ln.scored)

    # Every price below ``k_{t-1}`` (ln.k; P at a load) took the tick just taken
    # and sees this observation: one index per lane. Its tick and cost are added
    # there, and the change in (correct, nan) since the last observation, so that
    # the sums over j > p telescope to the values at price p's stopping tick.
    # Lanes that read nothing add into entry 0, which no price reads (an index
    # out of range would cost a mispredicted branch per lane in the scatter).
    idx = jnp.where(live, ln.k, 0)
    acc = _Acc(_add(acc.ticks, idx, (ln.t > 0).astype(jnp.int32)),
               _add(acc.cost, idx, tick_cost),
               _add_pair(acc.scored, idx, (scored & 1) - (ln.scored & 1),
                         (scored >> 1) - (ln.scored >> 1), num_lanes <= PACK_MAX_LANES))
    row = ln.row
    if episodes:
      # The prices that stop here, [k_t, k_{t-1}), read this episode's row.
      lo = jnp.where(live, k, num_prices)
      hi = jnp.where(live, ln.k, num_prices)
      idx = jnp.arange(num_prices)
      here = live[:, None] & (idx[None, :] >= lo[:, None]) & (idx[None, :] < hi[:, None])
      put = lambda buf, v: jnp.where(
          here.reshape(here.shape + (1,) * (buf.ndim - 2)), v[:, None], buf)
      row = (put(row[0], ln.t), put(row[1], ln.spent), put(row[2], output),
             put(row[3], correct))
    go = (ln.ep != n) & (k > 0)
    return ln._replace(k=k, go=go, scored=scored, row=row), acc

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
                jnp.zeros(m, dtype) if episodes else None,
                jnp.full(m, num_prices, jnp.int32), jnp.zeros(m, bool),
                jnp.zeros(m, jnp.int32), row)
    return observe_lanes(ln, jnp.ones(m, bool), acc, jnp.zeros(m, dtype))

  def step(ln, acc):
    cost = jnp.where(ln.go, jax.vmap(agent.cost)(ln.state), 0)
    ticked = jax.vmap(agent.tick)(ln.state, jax.vmap(tick_key)(ln.key, ln.t))
    ln = ln._replace(state=_lanes.select(ln.go, ticked, ln.state),
                     t=jnp.where(ln.go, ln.t + 1, ln.t),
                     spent=ln.spent + cost if episodes else None)
    return observe_lanes(ln, ln.go, acc, cost)

  def write(out, ln, mask):
    if out is None:
      return None
    return _lanes.rows_set(out, jnp.where(mask, ln.ep, n), ln.row)  # n: dropped

  acc = _Acc(jnp.zeros(num_prices + 1, jnp.int32), jnp.zeros(num_prices + 1, dtype),
             jnp.zeros((num_prices + 1, 2), jnp.int32))
  out = like = None
  if episodes:  # one episode's row, as written out
    like = _lanes.row_like(jax.eval_shape(lambda: load(jnp.zeros(1, jnp.int32), acc)[0].row))
    out = _lanes.rows_zeros(n, like)
  # Run up to the last valid episode only: the padding that front adds to a
  # bucket size (up to 25%) is never loaded.
  last = jnp.max(jnp.where(valid, jnp.arange(1, n + 1, dtype=jnp.int32), 0))
  out, acc = _lanes.run(load, step, write, out, acc, num_episodes=last, empty=n,
                        num_lanes=num_lanes, min_idle=min_idle)
  # Back to the order of ``prices``: one scatter for the inverse permutation, a gather each.
  inverse = jnp.zeros_like(order).at[order].set(
      jnp.arange(num_prices, dtype=order.dtype), unique_indices=True)
  unsort = lambda x: x[..., inverse]
  above = lambda d: jnp.cumsum(d[::-1], axis=0)[::-1][1:]  # price p: the sum of d[p + 1:]
  scored = above(acc.scored)
  sums = Sums(unsort(above(acc.ticks)), unsort(above(acc.cost)),
              unsort(scored[:, 0]), unsort(scored[:, 1]))
  if out is not None:
    out = tuple(x[:, inverse] for x in _lanes.rows_read(out, like))
  return sums, out
