"""Lane refilling: continuous batching of episodes, as in LLM serving.

``lanes`` episodes are in flight at once. Ticks run in an inner loop; once
``min_idle`` lanes have finished, exactly that many are swapped (their
episodes written out, the next episodes loaded), so a swap's cost is shared by
several ticks and scales with the lanes swapped. When no episode is left to
load, the lanes still running are packed into ever fewer lanes as they drain
(from :data:`DRAIN_FROM_LANES` lanes up; fewer lanes tick on to their end).

:func:`run` is the engine behind :func:`jaxtick.run_price_batch` (write each
episode's final state) and the streaming front (accumulate every price's
counts as the episode ticks); what a lane holds, how it ticks and what is
written out are the caller's, given as three functions.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Lanes = Any  # a pytree with leading axis L and fields ``ep`` (i32[L]) and ``go`` (bool[L])
Acc = Any  # accumulators carried through every tick (any pytree)
Out = Any  # per-episode outputs (any pytree)

DRAIN_SHRINK = 4
DRAIN_MIN_LANES = 64
# Fewer lanes than this run in one loop that swaps and then ticks every lane to its end,
# with no drain phase: each drain level is another copy of the agent's tick in the
# program, hundreds of milliseconds of compile time, where compaction saves little at
# run time with so few lanes.
DRAIN_FROM_LANES = 1024


def take(tree, idx):
  """Rows ``idx`` of every leaf of ``tree``."""
  return jax.tree_util.tree_map(lambda x: x[idx], tree)


def first_true(mask, size: int, fill_value) -> jax.Array:
  """The indices of the first ``size`` True entries of ``mask`` (bool[L]), in order.

  ``jnp.nonzero(mask, size=size, fill_value=fill_value)[0]`` as int32[size]
  (padded with ``fill_value``), from one prefix count and one scatter where
  ``jnp.nonzero`` takes two prefix counts and a histogram: the same indices,
  and a program that XLA compiles in less time (a prefix count over L lanes
  is several kernels on the CPU).
  """
  n = mask.shape[0]
  rank = jnp.cumsum(mask, dtype=jnp.int32) - 1  # position among the True entries
  # Entries not taken get distinct out-of-range targets (dropped): indices stay unique.
  spill = size + jnp.arange(n, dtype=jnp.int32)
  target = jnp.where(mask & (rank < size), rank, spill)
  return jnp.full((size,), fill_value, jnp.int32).at[target].set(
      jnp.arange(n, dtype=jnp.int32), mode="drop", unique_indices=True)


def select(mask, a, b):
  """Per-lane select over pytrees: ``mask`` is bool[L], leaves are [L, ...]."""
  def sel(x, y):
    m = mask.reshape(mask.shape + (1,) * (x.ndim - 1))
    return jnp.where(m, x, y)
  return jax.tree_util.tree_map(sel, a, b)


def run(load: Callable[[jax.Array, Acc], tuple[Lanes, Acc]],
        step: Callable[[Lanes, Acc], tuple[Lanes, Acc]],
        write: Callable[[Out, Lanes, jax.Array], Out], out: Out, acc: Acc, *,
        num_episodes, empty: int, num_lanes: int, min_idle: int) -> tuple[Out, Acc]:
  """Runs episodes ``0 .. num_episodes - 1`` through ``num_lanes`` refilled lanes.

  Args:
    load: ``load(idx, acc) -> (lanes, acc)`` -- lanes holding episodes ``idx``
      (i32[m]); an index ``>= num_episodes`` must give ``ep = empty`` and
      ``go = False``. ``go`` says whether the episode wants another tick.
    step: ``step(lanes, acc) -> (lanes, acc)`` -- one tick of every lane with
      ``go`` (the others unchanged), updating ``go``.
    write: ``write(out, lanes, mask) -> out`` -- records the episodes of the
      lanes in ``mask`` (bool[L]), which have ended.
    out, acc: initial outputs and accumulators.
    num_episodes: i32[] or int, episodes to run (may be traced).
    empty: static int, the ``ep`` of an empty lane (``>=`` every episode index).
    num_lanes: static lanes in flight.
    min_idle: static, swap once this many lanes are idle (>= 1).

  Returns:
    ``(out, acc)`` after every episode has ended.
  """

  def advance(lanes, acc, keep_above: int):
    """Ticks every lane that wants a tick while more than ``keep_above`` do."""
    # One reduction per tick decides both "anyone left?" and "time to swap?".
    return jax.lax.while_loop(
        lambda c: jnp.sum(c[0].go, dtype=jnp.int32) > keep_above,
        lambda c: step(*c), (lanes, acc))

  def retire(lanes, out):
    """Writes lanes whose episode has ended into ``out``; empties them."""
    done = (lanes.ep != empty) & ~lanes.go
    return lanes._replace(ep=jnp.where(done, empty, lanes.ep)), write(out, lanes, done)

  def compact(lanes, size):
    """Packs the lanes still running into ``size`` lanes."""
    idx = first_true(lanes.ep != empty, size, 0)
    live = jnp.arange(size) < jnp.sum(lanes.ep != empty)
    packed = take(lanes, idx)
    return packed._replace(ep=jnp.where(live, packed.ep, empty), go=live & packed.go)

  # Main phase: tick until ``min_idle`` lanes are idle, then swap exactly that
  # many: write their episodes out and load the next ones (writes and loads
  # ~ min_idle; the refill is one select over the lanes, as a tick is).
  def swap(lanes, out, acc, next_ep):
    slots = first_true(~lanes.go, min_idle, num_lanes)
    valid = slots < num_lanes  # a prefix: fewer only when episodes run out
    leaving = take(lanes, jnp.minimum(slots, num_lanes - 1))
    out = write(out, leaving, valid & (leaving.ep != empty))
    fresh, acc = load(next_ep + jnp.arange(min_idle, dtype=jnp.int32), acc)
    # Slots past the valid prefix are num_lanes: dropped.
    return put(lanes, slots, fresh), out, acc, next_ep + jnp.sum(valid, dtype=jnp.int32)

  def main_step(carry):
    lanes, out, acc, next_ep = carry
    lanes, acc = advance(lanes, acc, num_lanes - min_idle)  # until min_idle are idle
    return swap(lanes, out, acc, next_ep)

  lanes, acc = load(jnp.arange(num_lanes, dtype=jnp.int32), acc)
  first = (lanes, out, acc, jnp.array(num_lanes, jnp.int32))
  if num_lanes < DRAIN_FROM_LANES:
    # Too few lanes to shrink: one loop both swaps and, once no episode is left,
    # ticks every lane to its end (the same ticks in the same order as the two
    # phases below), so the program holds one copy of ``step``, not several.
    def step_or_finish(carry):
      lanes, out, acc, next_ep = carry
      more = next_ep < num_episodes
      lanes, acc = advance(lanes, acc, jnp.where(more, num_lanes - min_idle, 0))
      finish = lambda lanes, out, acc, next_ep: (*retire(lanes, out), acc, next_ep)
      return jax.lax.cond(more, swap, finish, lanes, out, acc, next_ep)

    _, out, acc, _ = jax.lax.while_loop(
        lambda c: (c[3] < num_episodes) | jnp.any(c[0].ep != empty), step_or_finish, first)
    return out, acc
  lanes, out, acc, _ = jax.lax.while_loop(
      lambda carry: carry[3] < num_episodes, main_step, first)
  # Drain: no episode is left to load; shrink the lanes as episodes end.
  size = num_lanes // DRAIN_SHRINK
  while size >= DRAIN_MIN_LANES:
    lanes, acc = advance(lanes, acc, size)
    lanes, out = retire(lanes, out)
    lanes = compact(lanes, size)
    size //= DRAIN_SHRINK
  lanes, acc = advance(lanes, acc, 0)
  _, out = retire(lanes, out)
  return out, acc


def put(tree, idx, rows, axis: int = 0):
  """``tree`` with entries ``idx`` along ``axis`` replaced by those of ``rows``.

  ``idx``: i32[m], non-negative and distinct where below the size ``n`` of
  ``axis``; an index ``>= n`` is dropped. Like ``x.at[idx].set(y, mode="drop")``
  on every leaf, from one scatter of indices (which entry of ``rows`` lands
  where) and a gather and select per leaf, which XLA fuses; a scatter per leaf
  would be a loop per leaf on the CPU, each compiled on its own.
  """
  n = jax.tree_util.tree_leaves(tree)[0].shape[axis]
  m = idx.shape[0]
  # Indices dropped get distinct out-of-range targets, so the scatter's indices are unique.
  dest = jnp.where(idx < n, idx, n + jnp.arange(m, dtype=idx.dtype))
  src = jnp.full((n,), m, jnp.int32).at[dest].set(
      jnp.arange(m, dtype=jnp.int32), mode="drop", unique_indices=True)
  got = jnp.minimum(src, m - 1)

  def one(x, y):
    shape = [1] * x.ndim
    shape[axis] = n
    return jnp.where((src < m).reshape(shape), jnp.take(y, got, axis=axis, mode="clip"), x)
  return jax.tree_util.tree_map(one, tree, rows)


class Rows(NamedTuple):
  """Per-episode rows of a pytree, stored for one scatter per write (see :func:`rows_set`).

  XLA's CPU backend compiles every scatter as a loop of its own; a write-out
  of a pytree's rows, one scatter per leaf, is a program that compiles
  slower the more fields an agent's state has. Here the leaves that fit
  32-bit words (every bool, integer and real float dtype; 64-bit ones take
  two words, narrower ones one) are bit-cast side by side into one
  ``u32[n, W]`` array, so a write is one scatter; other leaves (typed PRNG
  keys, complex numbers) are kept and scattered as they are.

  Attributes:
    words: u32[n, W], the packed leaves.
    other: the leaves that do not pack, each [n, ...], in leaf order.
  """

  words: jax.Array
  other: tuple


def _packs(dtype) -> bool:
  """Whether leaves of ``dtype`` are stored as words: bool, and integers and real floats
  of 8 to 64 bits (not typed keys, complex numbers or sub-byte types)."""
  if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):
    return False
  dtype = np.dtype(dtype)
  if dtype == bool:
    return True
  if jnp.issubdtype(dtype, jnp.integer):
    bits = jnp.iinfo(dtype).bits
  elif jnp.issubdtype(dtype, jnp.floating):
    bits = jnp.finfo(dtype).bits
  else:
    return False
  return bits == 8 * dtype.itemsize and dtype.itemsize in (1, 2, 4, 8)


def _width(leaf) -> int:
  """Words a row of ``leaf`` (a ShapeDtypeStruct for one row) takes."""
  return int(np.prod(leaf.shape, dtype=int)) * max(1, np.dtype(leaf.dtype).itemsize // 4)


def _to_words(x):
  """[L, ...] -> u32[L, w], bit for bit."""
  size = x.dtype.itemsize
  if x.dtype == bool:
    w = x.astype(jnp.uint32)
  elif size >= 4:
    w = jax.lax.bitcast_convert_type(x, jnp.uint32)  # 8 bytes: a trailing axis of 2
  else:
    w = jax.lax.bitcast_convert_type(x, jnp.dtype(f"uint{8 * size}")).astype(jnp.uint32)
  return w.reshape(x.shape[0], -1)


def _from_words(w, leaf):
  """u32[n, w] -> [n, *leaf.shape] of ``leaf.dtype``: the inverse of :func:`_to_words`."""
  dtype = np.dtype(leaf.dtype)
  n = w.shape[0]
  if dtype == bool:
    return (w != 0).reshape((n,) + tuple(leaf.shape))
  if dtype.itemsize == 8:
    return jax.lax.bitcast_convert_type(w.reshape((n,) + tuple(leaf.shape) + (2,)), dtype)
  w = w.reshape((n,) + tuple(leaf.shape))
  if dtype.itemsize == 4:
    return jax.lax.bitcast_convert_type(w, dtype)
  return jax.lax.bitcast_convert_type(w.astype(f"uint{8 * dtype.itemsize}"), dtype)


def row_like(tree):
  """One row of ``tree`` (arrays or shapes with a leading axis): ShapeDtypeStructs without it."""
  return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), tree)


def _split(leaves):
  """(the leaves that pack into words, the others), each in leaf order."""
  return ([x for x in leaves if _packs(x.dtype)], [x for x in leaves if not _packs(x.dtype)])


def rows_zeros(n: int, like) -> Rows:
  """Zero rows for ``n`` episodes of a pytree shaped like ``like`` (one row: :func:`row_like`)."""
  packed, other = _split(jax.tree_util.tree_leaves(like))
  return Rows(jnp.zeros((n, sum(_width(x) for x in packed)), jnp.uint32),
              tuple(jnp.zeros((n,) + tuple(x.shape), x.dtype) for x in other))


def rows_set(rows: Rows, dest, tree) -> Rows:
  """``rows`` with row ``dest[i]`` set to row ``i`` of ``tree`` (leading axis L).

  ``dest``: i32[L], distinct where in range; a destination ``>= n`` is dropped.
  One scatter for every leaf that packs into words, and one per leaf that does not.
  """
  scatter = lambda o, x: o.at[dest].set(x, mode="drop", unique_indices=True)
  packed, other = _split(jax.tree_util.tree_leaves(tree))
  words = rows.words
  if packed:
    words = scatter(words, jnp.concatenate([_to_words(x) for x in packed], axis=1))
  return Rows(words, tuple(scatter(o, x) for o, x in zip(rows.other, other)))


def rows_read(rows: Rows, like):
  """The pytree that ``rows`` stores (leading axis n), shaped like ``like`` (one row)."""
  leaves, treedef = jax.tree_util.tree_flatten(like)
  out, start, other = [], 0, iter(rows.other)
  for leaf in leaves:
    if _packs(leaf.dtype):
      width = _width(leaf)
      out.append(_from_words(rows.words[:, start:start + width], leaf))
      start += width
    else:
      out.append(next(other))
  return jax.tree_util.tree_unflatten(treedef, out)
