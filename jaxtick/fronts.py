"""Fronts for any agent: trace each episode once, read off every price exactly.

Under the key contract (:func:`jaxtick.init_key`, :func:`jaxtick.tick_key`) an
episode's trajectory does not depend on the price: the price only decides
where it stops. So :func:`front` can run each episode once to ``max_ticks``
(:func:`jaxtick.soft.trace`), record ``g_t = calib(u_t)``, ``c_t`` and the
output after every tick, and read every price's stopping tick off the
trajectory:

* after ``t`` ticks the price rule ticks again iff ``g_t - p * c_t > 0``,
  i.e. iff ``p < r_t`` where ``r_t`` is the smallest price with
  ``fl(p * c_t) >= g_t`` (``g_t / c_t``, corrected to the last ulp so that the
  floating-point rule is reproduced bit for bit);
* with ``R_t = min(r_min_ticks, ..., r_t)`` (running minimum, non-increasing),
  the episode stops after ``min_ticks + #{t in [min_ticks, max_ticks): R_t > p}``
  ticks: one binary search per (episode, price) into the running minima.

``P`` prices cost one simulation plus ``O(N T + N P log T)`` arithmetic, not
``P`` simulations; nothing of size ``[N, P, T]`` is built, and episodes are
traced ``chunk`` at a time so memory is ``O(chunk T + N P)`` (per-episode
results) or ``O(chunk T + chunk P)`` (counts only).

The other method, ``"batch"``, flattens the (price, episode) pairs into one
:func:`jaxtick.run_price_batch` call (lane refilling): cheaper when
``max_ticks`` is far above the mean ticks. Both give the same :class:`Front`.

The utilities take fronts apart: :func:`pareto_mask` (the non-dominated
prices), :func:`area` (area under the accuracy--compute curve),
:func:`accuracy_at_cost` (interpolated on the front) and
:func:`matched_price` (the hard rule's price for a target mean cost, by
bisection on the front's own trajectories) with :func:`mcnemar_at_cost` for
two arms on the same episodes.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick import _checks, _optional, stats, stream, values
from jaxtick.api import Agent, Array, CalibMap, PRNGKey, Problem
from jaxtick.calibrate import Identity
from jaxtick.schedule import run_price_batch
from jaxtick.soft import trace

METHODS = ("auto", "stream", "trace", "batch")
DEFAULT_CHUNK = 8192
# Bytes of trajectory one traced chunk may hold before "auto" prefers "batch".
TRACE_MEMORY = 1 << 30
# Grids this small go to "batch": P runs cost less than the stream's read-off.
BATCH_PRICES = 4

Score = Callable[[Array, Problem], Array]


class Front(NamedTuple):
  """The price rule's outcome at P prices over the same N episodes.

  Attributes:
    prices: f[P] the prices, in the order given.
    mean_ticks: f[P] mean ticks per episode.
    mean_cost: f[P] mean cost per episode.
    total_ticks: i32[P] ticks summed over episodes (exact).
    num_episodes: i32[] N.
    correct: i32[P] episodes scored correct at each price (``None`` without
      ``score``).
    accuracy: f[P] ``correct / N`` (``None`` without ``score``).
    ci_normal, ci_wilson: :class:`jaxtick.stats.Interval` of f[P], 95%
      (``None`` without ``score``).
    ticks: i32[P, N] per-episode stopping ticks (``episodes=True`` only).
    cost: f[P, N] per-episode cost spent (``episodes=True`` only).
    output: [P, N, ...] per-episode outputs at the stop (``episodes=True`` only).
    episode_correct: bool[P, N] per-episode scores (``episodes=True`` and
      ``score`` only).
    nan: i32[P] episodes that stopped on a NaN signal at each price (NaN
      ``calib(uncertainty)`` or ``cost`` where the price rule stopped them;
      :attr:`jaxtick.PriceResult.nan` summed). 0 where the signals are finite.
  """

  prices: Array
  mean_ticks: Array
  mean_cost: Array
  total_ticks: Array
  num_episodes: Array
  correct: Array | None = None
  accuracy: Array | None = None
  ci_normal: stats.Interval | None = None
  ci_wilson: stats.Interval | None = None
  ticks: Array | None = None
  cost: Array | None = None
  output: Array | None = None
  episode_correct: Array | None = None
  nan: Array | None = None

  def to_dataframe(self):
    """A pandas ``DataFrame``, one row per price, in the grid's order.

    Columns: ``price``, ``mean_ticks``, ``mean_cost``, ``total_ticks``,
    ``episodes`` and, for a scored front, ``correct``, ``accuracy``,
    ``ci_normal_lo``, ``ci_normal_hi``, ``ci_wilson_lo``, ``ci_wilson_hi``
    (NumPy dtypes, on the host). Per-episode fields are left out.

    Raises:
      ImportError: pandas is not installed (``pip install 'jaxtick[pandas]'``).
      ValueError: a batched front (``prices`` not 1-D).
    """
    pd = _optional.require("pandas", "pandas", "Front.to_dataframe")
    prices = np.asarray(self.prices)
    if prices.ndim != 1:
      raise ValueError(f"to_dataframe needs a front over one grid (prices f[P]), got "
                       f"prices of shape {prices.shape}")
    cols = {"price": prices, "mean_ticks": self.mean_ticks, "mean_cost": self.mean_cost,
            "total_ticks": self.total_ticks,
            "episodes": np.full(prices.shape, int(self.num_episodes))}
    if self.correct is not None:
      cols.update(correct=self.correct, accuracy=self.accuracy,
                  ci_normal_lo=self.ci_normal.lo, ci_normal_hi=self.ci_normal.hi,
                  ci_wilson_lo=self.ci_wilson.lo, ci_wilson_hi=self.ci_wilson.hi)
    return pd.DataFrame({k: np.asarray(v) for k, v in cols.items()})


# -- checks ---------------------------------------------------------------------


def check_prices(prices) -> np.ndarray | None:
  """A 1-D, non-empty grid of prices in ``[0, inf]``; ``ValueError`` otherwise."""
  shape = np.shape(prices)
  if len(shape) != 1:
    raise ValueError(f"prices must be a 1-D grid f[P], got shape {shape}")
  if shape[0] == 0:
    raise ValueError("prices must hold at least one price, got an empty grid")
  _checks.check_nonneg("prices", prices, allow_inf=True)
  return _checks.concrete(prices)


def _labels_score(output, label):
  eq = output == label
  return jnp.all(eq) if eq.ndim else eq


def _check_score(score, n):
  """Splits ``score`` into (callable or None, labels or None)."""
  if score is None or callable(score):
    return score, None
  if not hasattr(score, "shape") and not isinstance(score, (list, tuple)):
    raise TypeError(f"score must be a callable score(output, problem) -> bool or a label "
                    f"array [N, ...], got {type(score).__name__}")
  labels = score if isinstance(score, jax.Array) else jax.device_put(np.asarray(score))
  if labels.ndim < 1 or labels.shape[0] != n:
    raise ValueError(
        f"score must be a callable score(output, problem) -> bool or a label "
        f"array with leading axis {n} (one label per episode, as problems and "
        f"keys have {n}), got shape {labels.shape}")
  return None, labels


def choose_method(num_prices: int, *, max_ticks: int, min_ticks: int = 0,
                  bytes_per_tick: int = 16, chunk: int = DEFAULT_CHUNK,
                  episodes: bool = False) -> str:
  """The method ``"auto"`` picks.

  ``"stream"`` runs each episode once, to where the grid's cheapest price
  stops it, reading every price off as it goes; ``"trace"`` runs every
  episode to ``max_ticks`` and reads all prices off the stored trajectory;
  ``"batch"`` runs every (price, episode) pair. So: ``"stream"``, except

  * ``"batch"`` for grids of at most :data:`BATCH_PRICES` prices, where
    running them one by one costs less than the stream's per-tick read-off;
  * ``"trace"`` for ``episodes=True`` when ``max_ticks <= P * max(min_ticks,
    1)`` (the cap is near the mean ticks) and one chunk's trajectory
    (``chunk * (max_ticks + 1) * bytes_per_tick``) fits :data:`TRACE_MEMORY`:
    the stream then writes a row of P prices per lane and tick.

  (``python -m sims.bench front``, 2-core CPU, 64 prices, 100,000 episodes,
  wall time in units of one run at the grid's cheapest price, six runs: the
  stream 1.8-2.6 on the coin (trace 3.8-6.0), 1.1-1.6 on the gap test (trace
  1.8-2.5), 0.85-1.15 on MCTS (10,000 episodes; trace 0.86-1.5), 1.9-2.5 on an
  SPRT capped at 10,000 (trace would store 10,001 ticks per episode). With
  ``episodes=True``, 25,000 episodes, process time: the coin 0.16 s streamed
  against 0.08 s traced, the gap test 0.29 s against 0.09 s.) Pass
  ``method=`` to :func:`front` to force one.
  """
  if num_prices <= BATCH_PRICES:
    return "batch"
  if episodes and max_ticks <= num_prices * max(min_ticks, 1) and (
      chunk * (max_ticks + 1) * bytes_per_tick <= TRACE_MEMORY):
    return "trace"
  return "stream"


# -- the read-off -----------------------------------------------------------------


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


@functools.partial(jax.jit, static_argnames="min_ticks")
def stopping_ticks(thresholds: Array, prices: Array, *, min_ticks: int) -> Array:
  """Stopping tick of each episode at each price, from its tick thresholds.

  ``min_ticks + #{t in [min_ticks, T): R_t > p}`` with ``R`` the running
  minimum of the thresholds: a compare-and-count that XLA fuses into one
  reduction (under ``vmap`` nothing of size [N, P, T] is stored; on CPU it is
  ~30x faster than a batched binary search, whose gathers dominate).

  Args:
    thresholds: f[N, T + 1] :func:`tick_thresholds` after t = 0..T ticks.
    prices: f[P] prices (any order).
    min_ticks: static.

  Returns:
    i32[N, P] in ``[min_ticks, T]``.
  """
  r = thresholds[:, min_ticks:-1]
  if r.shape[1] == 0:
    return jnp.full(thresholds.shape[:1] + prices.shape, min_ticks, jnp.int32)
  running = _running_min(r)  # non-increasing in t
  return min_ticks + jnp.sum(running[:, None, :] > prices[None, :, None], axis=-1,
                             dtype=jnp.int32)


def _running_min(r: Array) -> Array:
  """Running minimum along axis 1 of f[N, L]."""
  if r.shape[1] > _UNROLL:
    return jax.lax.cummin(r, axis=1)
  # Unrolled for short trajectories: XLA fuses the L minima into one loop,
  # where lax.cummin's reduce_window is several times slower on CPU.
  cols = [r[:, 0]]
  for t in range(1, r.shape[1]):
    cols.append(jnp.minimum(cols[-1], r[:, t]))
  return jnp.stack(cols, axis=1)


_UNROLL = 128


def _spent(cost: Array) -> Array:
  """f[N, T + 1] cost of the first t ticks, summed in the scheduler's order."""
  if cost.shape[1] <= _UNROLL:  # unrolled, as in _running_min
    cols = [jnp.zeros(cost.shape[:1], cost.dtype)]
    for t in range(cost.shape[1] - 1):
      cols.append(cols[-1] + cost[:, t])
    return jnp.stack(cols, axis=1)

  def add(s, c):
    s = s + c
    return s, s
  zero = jnp.zeros(cost.shape[:1], cost.dtype)
  _, sums = jax.lax.scan(add, zero, jnp.swapaxes(cost[:, :-1], 0, 1))
  return jnp.concatenate([zero[:, None], jnp.swapaxes(sums, 0, 1)], axis=1)


class _Read(NamedTuple):
  ticks: Array  # i32[c, P]
  cost: Array  # f[c, P]
  output: Array  # [c, P, ...]
  correct: Array  # bool[c, P]
  nan: Array | None = None  # bool[c, P] stopped on a NaN signal (None: not read)


def _read_chunk(agent, calib, score, problems, keys, labels, prices, *,
                max_ticks, min_ticks):
  """Traces a chunk of episodes and reads every price off: :class:`_Read`."""
  tr = jax.vmap(lambda p, k: trace(agent, p, k, max_ticks=max_ticks))(problems, keys)
  gain = calib(tr.uncertainty)
  thr = tick_thresholds(gain, tr.cost)
  ticks = stopping_ticks(thr, prices, min_ticks=min_ticks)
  spent = _spent(tr.cost)
  cost = jnp.take_along_axis(spent, ticks, axis=1)
  output = jax.vmap(lambda o, i: o[i])(tr.output, ticks)
  correct = _score_outputs(score, output, problems, labels)
  nan = jnp.take_along_axis(jnp.isnan(gain) | jnp.isnan(tr.cost), ticks, axis=1)
  return _Read(ticks, cost, output, correct, nan)


def _score_outputs(score, output, problems, labels):
  """bool[c, P] from outputs [c, P, ...] (labels: [c, ...] or None)."""
  if score is not None:
    return jax.vmap(lambda o, p: jax.vmap(lambda oo: jnp.asarray(score(oo, p), bool))(o))(
        output, problems)
  if labels is not None:
    return jax.vmap(lambda o, l: jax.vmap(lambda oo: _labels_score(oo, l))(o))(output, labels)
  return jnp.zeros(output.shape[:2], bool)


class _Sums(NamedTuple):
  ticks: Array  # i32[P]
  cost: Array  # f[P]
  correct: Array  # i32[P]
  nan: Array  # i32[P] episodes stopped on a NaN signal


def _sums(read: _Read, valid: Array) -> _Sums:
  v = valid[:, None]
  return _Sums(jnp.sum(jnp.where(v, read.ticks, 0), axis=0, dtype=jnp.int32),
               jnp.sum(jnp.where(v, read.cost, 0), axis=0),
               jnp.sum(v & read.correct, axis=0, dtype=jnp.int32),
               jnp.sum(v & read.nan, axis=0, dtype=jnp.int32))


def _chunked(x, num_chunks, chunk):
  pad = num_chunks * chunk - x.shape[0]
  if pad:
    x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)])
  return x.reshape((num_chunks, chunk) + x.shape[1:])


def _trace_and_read(agent, calib, score, problems, keys, labels, prices, valid, *,
                    max_ticks, min_ticks, chunk, episodes):
  """The trace-and-read method: (_Sums, per-episode _Read [N, P, ...] or None).

  ``valid``: bool[N], the episodes that count in the sums (padding does not).
  """
  n = keys.shape[0]
  chunk = min(chunk, n)
  num_chunks = -(-n // chunk)
  xs = jax.tree_util.tree_map(lambda x: _chunked(x, num_chunks, chunk),
                              (problems, keys, labels))
  valid = _chunked(valid, num_chunks, chunk)
  valid = valid & (jnp.arange(num_chunks * chunk).reshape(num_chunks, chunk) < n)

  def body(acc, x):
    (p, k, l), v = x
    read = _read_chunk(agent, calib, score, p, k, l, prices,
                       max_ticks=max_ticks, min_ticks=min_ticks)
    acc = jax.tree_util.tree_map(jnp.add, acc, _sums(read, v))
    return acc, (read if episodes else None)

  zero = _Sums(jnp.zeros(prices.shape, jnp.int32), jnp.zeros(prices.shape, prices.dtype),
               jnp.zeros(prices.shape, jnp.int32), jnp.zeros(prices.shape, jnp.int32))
  total, per = jax.lax.scan(body, zero, (xs, valid))
  if episodes:
    per = jax.tree_util.tree_map(
        lambda x: x.reshape((num_chunks * chunk,) + x.shape[2:])[:n], per)
  return total, per


def _batch(agent, calib, score, problems, keys, labels, prices, valid, *, max_ticks,
           min_ticks, lanes, episodes):
  """The flattened-batch method: same outputs as :func:`_trace_and_read`."""
  n, m = keys.shape[0], prices.shape[0]
  tile = lambda x: jnp.tile(x, (m,) + (1,) * (x.ndim - 1))
  res = run_price_batch(agent, jax.tree_util.tree_map(tile, problems), tile(keys),
                        jnp.repeat(prices, n), max_ticks=max_ticks,
                        min_ticks=min_ticks, calib=calib, lanes=lanes)
  out = jax.vmap(agent.output)(res.state)
  to_np = lambda x: jnp.swapaxes(x.reshape((m, n) + x.shape[1:]), 0, 1)  # [n, m, ...]
  read = _Read(to_np(res.ticks), to_np(res.cost), to_np(out), None, to_np(res.nan))
  read = read._replace(correct=_score_outputs(score, read.output, problems, labels))
  total = _sums(read, valid)
  return total, (read if episodes else None)


def read_front(agent, calib, score, problems, keys, labels, prices, valid, *,
               max_ticks, min_ticks, method, chunk, lanes, episodes):
  """Either method on one block of episodes: (sums, per-episode reads or None).

  The building block of :func:`front` and of the sharded front
  (:func:`jaxtick.shard.front_sharded`); ``method`` is ``"trace"`` or
  ``"batch"``; ``valid`` (bool[N]) marks the episodes that count.
  """
  if method == "stream":
    def score_one(output, problem, label):
      if score is not None:
        return jnp.asarray(score(output, problem), bool)
      if labels is not None:
        return _labels_score(output, label)
      return jnp.zeros((), bool)
    sums, rows = stream.read(agent, calib, score_one, problems, keys, labels, prices,
                             valid, max_ticks=max_ticks, min_ticks=min_ticks,
                             lanes=lanes, episodes=episodes)
    return _Sums(*sums), (None if rows is None else _Read(*rows))
  if method == "trace":
    return _trace_and_read(agent, calib, score, problems, keys, labels, prices, valid,
                           max_ticks=max_ticks, min_ticks=min_ticks,
                           chunk=chunk, episodes=episodes)
  return _batch(agent, calib, score, problems, keys, labels, prices, valid,
                max_ticks=max_ticks, min_ticks=min_ticks, lanes=lanes,
                episodes=episodes)


@functools.partial(values.jit, static_argnames=(
    "max_ticks", "min_ticks", "method", "chunk", "lanes", "episodes"))
def _front(agent, calib, score, problems, keys, labels, prices, n, *, max_ticks,
           min_ticks, method, chunk, lanes, episodes):
  """Sums and per-episode reads on episodes padded to a bucket: the first ``n`` count."""
  valid = jnp.arange(keys.shape[0]) < n
  return read_front(agent, calib, score, problems, keys, labels, prices,
                    valid, max_ticks=max_ticks, min_ticks=min_ticks,
                    method=method, chunk=chunk, lanes=lanes, episodes=episodes)


@functools.partial(jax.jit, static_argnums=(2, 3))
def unpad(total: _Sums, per: _Read | None, num_prices: int, n: int):
  """Drops a bucketed read's padding: the first ``num_prices`` prices, ``n`` episodes.

  Compiled (static ``num_prices`` and ``n``), as one program.
  """
  total = _Sums(*(x[:num_prices] for x in total))
  if per is not None:
    per = _Read(*(None if x is None else x[:n, :num_prices] for x in per))
  return total, per


def assemble(prices, n, total: _Sums, per: _Read | None, scored: bool) -> Front:
  """A :class:`Front` from summed counts and optional per-episode reads [N, P, ...].

  Called outside the compiled read by :func:`front` and the sharded front
  alike, and the same for both: the counts (replicated over a mesh by the
  sharded front: one device's copy is read) go through one compiled program
  on one device, ``n`` traced (inside the read, a constant ``n`` may turn a
  division into a multiplication by its reciprocal, an ulp away; spread over
  several devices, the divisions may round differently). The per-episode
  reads are only transposed (another program; sharded reads stay sharded).
  """
  fr = _summary(prices, n, jax.tree_util.tree_map(_one_copy, total), scored)
  if per is not None:
    fr = fr._replace(**_per_episode(per, scored))
  return fr


def _one_copy(x):
  """One device's copy of an array replicated over several devices (else ``x``)."""
  if (isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)
      and len(x.sharding.device_set) > 1 and x.sharding.is_fully_replicated):
    return x.addressable_data(0)
  return x


@functools.partial(jax.jit, static_argnums=3)
def _summary(prices, n, total: _Sums, scored: bool) -> Front:
  dtype = prices.dtype
  fr = Front(prices, total.ticks.astype(dtype) / n, total.cost / n, total.ticks,
             jnp.asarray(n, jnp.int32), nan=total.nan)
  if scored:
    fr = fr._replace(correct=total.correct, accuracy=total.correct.astype(dtype) / n,
                     ci_normal=stats.normal_interval(total.correct, n),
                     ci_wilson=stats.wilson_interval(total.correct, n))
  return fr


@functools.partial(jax.jit, static_argnums=1)
def _per_episode(per: _Read, scored: bool) -> dict:
  """Front's per-episode fields [P, N, ...] from reads [N, P, ...]."""
  t = lambda x: jnp.swapaxes(x, 0, 1)
  return dict(ticks=t(per.ticks), cost=t(per.cost), output=t(per.output),
              episode_correct=t(per.correct) if scored else None)


def front(agent: Agent, problems: Problem, keys: PRNGKey, prices, *,
          max_ticks: int, min_ticks: int = 0, calib: CalibMap = Identity(),
          score: Score | Array | None = None, episodes: bool = False,
          method: str = "auto", chunk: int = DEFAULT_CHUNK,
          lanes: int = 8192) -> Front:
  """The price rule at every price of a grid, over the same episodes.

  Equals :func:`jaxtick.run_price_batch` at each price, episode for episode
  (stopping ticks, cost, output). Compiled once per agent, ``score`` and
  static argument set: another grid or batch of the same shapes reuses it
  (pass the same ``agent`` and ``score`` objects, not new lambdas).

  Args:
    agent: the Tick agent (hashable: a NamedTuple of functions).
    problems: a stacked pytree of N episodes (leading axis N).
    keys: N PRNG keys.
    prices: f[P] prices in ``[0, inf]`` (any order, repeats allowed).
    max_ticks, min_ticks: static tick bounds, as in :func:`jaxtick.run_price`.
    calib: calibration map (a pytree; its parameters are traced).
    score: ``score(output, problem) -> bool[]`` or a label array [N, ...]
      (correct iff the output equals the label), or ``None`` (no counts).
    episodes: also return per-episode ticks, cost, outputs (and scores).
    method: ``"trace"`` (trace once, read every price), ``"batch"``
      (flattened lane-refilled batch) or ``"auto"`` (:func:`choose_method`).
    chunk: episodes traced at once (``"trace"``).
    lanes: lanes of the batch (``"batch"``).

  Returns:
    A :class:`Front`.
  """
  n, fn, labels, method = prepare(agent, problems, keys, prices, max_ticks=max_ticks,
                                  min_ticks=min_ticks, score=score, method=method,
                                  chunk=chunk, calib=calib, episodes=episodes, lanes=lanes)
  num_prices, size = np.shape(prices)[0], values.bucket(n)
  prices = values.device_array(prices, jnp.result_type(float))
  problems, keys, labels = values.pad_rows((problems, keys, labels), size)
  num = jax.device_put(np.int32(n))
  total, per = _front(agent, calib, fn, problems, keys, labels,
                      values.pad_rows(prices, values.bucket(num_prices)), num,
                      max_ticks=max_ticks, min_ticks=min_ticks, method=method,
                      chunk=min(chunk, size), lanes=lanes, episodes=episodes)
  total, per = unpad(total, per, num_prices, n if episodes else 0)
  return assemble(prices, num, total, per, score is not None)



def prepare(agent, problems, keys, prices, *, max_ticks, min_ticks, score, method, chunk,
            calib=Identity(), episodes=False, lanes=1):
  """Checks :func:`front`'s arguments: (n, score fn, labels [N, ...], method)."""
  _checks.check_ticks(min_ticks, max_ticks)
  n = _checks.check_batch(problems, keys)
  check_prices(prices)
  _checks.check_callable("calib", calib)
  _checks.check_agent(agent, problems, keys, batched=True)
  if not isinstance(method, str) or method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
    raise ValueError(f"chunk must be a positive int, got {chunk!r}")
  if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
    raise ValueError(f"lanes must be a positive int, got {lanes!r}")
  if not isinstance(episodes, (bool, np.bool_)):
    raise TypeError(f"episodes must be a bool, got {episodes!r}")
  fn, labels = _check_score(score, n)
  if method == "auto":
    method = choose_method(np.shape(prices)[0], max_ticks=max_ticks, min_ticks=min_ticks,
                           chunk=min(chunk, values.bucket(n)), episodes=bool(episodes))
  return n, fn, jax.device_put(np.zeros(n, bool)) if labels is None else labels, method


# -- utilities --------------------------------------------------------------------


def pareto_mask(cost: Array, value: Array) -> Array:
  """bool[P]: points not dominated by another (less or equal cost, more or equal value).

  Of several identical points only the first is kept. Jit-compatible.

  Args:
    cost: f[P] mean cost (lower is better).
    value: f[P] accuracy or correct counts (higher is better).
  """
  if np.ndim(cost) != 1 or np.shape(cost) != np.shape(value):
    raise ValueError(f"cost and value must be 1-D of the same length, got "
                     f"{np.shape(cost)} and {np.shape(value)}")
  return _pareto_mask(values.host_arg(cost), values.host_arg(value))


@jax.jit
def _pareto_mask(cost, value):
  c, v = jnp.asarray(cost), jnp.asarray(value)
  cj, ci = c[None, :], c[:, None]
  vj, vi = v[None, :], v[:, None]
  better = (cj <= ci) & (vj >= vi) & ((cj < ci) | (vj > vi))
  idx = jnp.arange(c.shape[0])
  same_before = (cj == ci) & (vj == vi) & (idx[None, :] < idx[:, None])
  return ~jnp.any(better | same_before, axis=1)


def pareto_indices(cost, value) -> np.ndarray:
  """Indices of :func:`pareto_mask`'s points, by increasing cost (NumPy; not traceable)."""
  mask = np.asarray(pareto_mask(cost, value))
  idx = np.nonzero(mask)[0]
  return idx[np.argsort(np.asarray(cost)[idx], kind="stable")]


class Matched(NamedTuple):
  """Accuracy at a target mean cost.

  Attributes:
    cost: f[] the mean cost reached (interpolated, or at the price found).
    correct: f[] correct count (interpolated: a mixture of two prices'
      counts; by price: an integer count).
    accuracy: f[] ``correct / N``.
    ci_normal, ci_wilson: 95% intervals.
    price: f[] the price (by price search; interpolated: the weight-mixed
      price pair's lower end).
    weight: f[] weight on the cheaper of the two front points (1 when one
      point meets the target exactly).
  """

  cost: Array
  correct: Array
  accuracy: Array
  ci_normal: stats.Interval
  ci_wilson: stats.Interval
  price: Array
  weight: Array


def _on_front(fr: Front):
  if not isinstance(fr, Front):
    raise TypeError(f"fr must be a jaxtick.Front, got {type(fr).__name__}")
  if fr.correct is None:
    raise ValueError("the front has no counts: call front(..., score=...)")
  idx = pareto_indices(fr.mean_cost, fr.correct)
  return (np.asarray(fr.mean_cost, np.float64)[idx],
          np.asarray(fr.correct, np.float64)[idx], np.asarray(fr.prices)[idx],
          int(fr.num_episodes))


class Area(NamedTuple):
  """Area under a front's accuracy--mean-cost curve (:func:`area`); NumPy, on the host.

  Attributes:
    area: f64[] the area (the mean accuracy over the cost range if normalised).
    wilson_lo, wilson_hi: f64[] the same integral of the pointwise Wilson limits.
    cost_lo, cost_hi: f64[] the cost range of the Pareto points.
    points: int the number of Pareto points.
  """

  area: np.float64
  wilson_lo: np.float64
  wilson_hi: np.float64
  cost_lo: np.float64
  cost_hi: np.float64
  points: int


def area(fr: Front, *, normalise: bool = True) -> Area:
  """Area under the accuracy--mean-cost curve of the front's Pareto points.

  Trapezoids between consecutive Pareto points (by cost); ``normalise``
  divides by the cost range, giving the curve's mean accuracy over it. The
  band integrates the pointwise Wilson limits (a band, not a simultaneous
  confidence interval).

  Returns:
    An :class:`Area`.
  """
  cost, correct, _, n = _on_front(fr)
  lo, hi = (np.asarray(x, np.float64) for x in stats.wilson_interval(correct, n))
  width = cost[-1] - cost[0]
  def integrate(y):
    if len(cost) < 2 or width == 0:
      return np.float64(y[0] if normalise else 0.0)
    a = np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(cost))
    return np.float64(a / width if normalise else a)
  return Area(integrate(correct / n), integrate(lo), integrate(hi), np.float64(cost[0]),
              np.float64(cost[-1]), int(len(cost)))


def accuracy_at_cost(fr: Front, target: float) -> Matched:
  """Accuracy at mean cost ``target``, interpolated between Pareto points.

  Mixing the two Pareto prices around ``target`` (with weight ``w`` on the
  cheaper) spends exactly ``target`` on average and is right on
  ``w k_lo + (1 - w) k_hi`` episodes in expectation; the intervals treat that
  as a count out of N.

  Raises:
    ValueError: ``target`` outside the front's mean costs.
  """
  _checks.check_scalar("target", target)
  _checks.check_nonneg("target", target)
  cost, correct, prices, n = _on_front(fr)
  t = float(target)
  if not cost[0] - 1e-12 <= t <= cost[-1] + 1e-12:
    raise ValueError(f"target mean cost {t!r} is outside the front's range "
                     f"[{cost[0]!r}, {cost[-1]!r}]")
  j = int(np.clip(np.searchsorted(cost, t, side="left"), 0, len(cost) - 1))
  if cost[j] == t or j == 0:
    w, k, price = 1.0, correct[j], prices[j]
  else:
    w = (cost[j] - t) / (cost[j] - cost[j - 1])
    k, price = w * correct[j - 1] + (1 - w) * correct[j], prices[j - 1]
  return _matched(t, k, n, price, w)


def _matched(cost, k, n, price, w) -> Matched:
  with jax.enable_x64(True):
    return Matched(np.float64(cost), np.float64(k), np.float64(k / n),
                   stats.Interval(*map(np.float64, stats.normal_interval(k, n))),
                   stats.Interval(*map(np.float64, stats.wilson_interval(k, n))),
                   np.float64(price), np.float64(w))


class PricePoint(NamedTuple):
  """The hard rule at the price found for a target (:func:`matched_price`).

  Attributes:
    matched: :class:`Matched` at that price (integer counts).
    front: the one-price :class:`Front` with per-episode results, for paired
      tests (:func:`mcnemar_at_cost`).
  """

  matched: Matched
  front: Front


@functools.partial(values.jit, static_argnames=("max_ticks",))
def _trajectories(agent, calib, problems, keys, *, max_ticks):
  """Per-episode tick thresholds f[N, T + 1] and cost spent f[N, T + 1]."""
  tr = jax.vmap(lambda p, k: trace(agent, p, k, max_ticks=max_ticks))(problems, keys)
  return tick_thresholds(calib(tr.uncertainty), tr.cost), _spent(tr.cost)


@functools.partial(jax.jit, static_argnames=("min_ticks", "num_iters"))
def _search(thr, spent, target, *, min_ticks, num_iters):
  """Bisection on the read-off mean cost: (price, mean cost at it)."""
  from jaxtick.schedule import bisect_price
  # An infinite gain's threshold is +inf, or (cost > 1) the largest float p with
  # fl(p * cost) < inf: neither is a price to bracket.
  finite = jnp.where(thr < jnp.finfo(thr.dtype).max / 4, thr, 0.0)
  hi = jnp.nextafter(jnp.maximum(jnp.max(finite), 0.0), jnp.inf) * 2 + 1
  def mean_cost(lam):
    ticks = stopping_ticks(thr, jnp.reshape(lam, (1,)), min_ticks=min_ticks)
    return jnp.mean(jnp.take_along_axis(spent, ticks, axis=1))
  found = bisect_price(mean_cost, target, 0.0, hi, num_iters=num_iters)
  at_inf = mean_cost(jnp.inf)
  use_inf = found.cost > target  # only price inf meets it (thresholds +inf)
  return jnp.where(use_inf, jnp.inf, found.price), jnp.where(use_inf, at_inf, found.cost)


@functools.partial(jax.jit, static_argnames="min_ticks")
def _end_costs(thr, spent, *, min_ticks):
  """f[2] the mean cost at price 0 and at price inf."""
  ends = stopping_ticks(thr, jnp.array([0.0, jnp.inf], thr.dtype), min_ticks=min_ticks)
  return jnp.mean(jnp.take_along_axis(spent, ends, axis=1), axis=0)


def matched_price(agent: Agent, problems: Problem, keys: PRNGKey, target, *,
                  max_ticks: int, min_ticks: int = 0, calib: CalibMap = Identity(),
                  score: Score | Array, num_iters: int = 40) -> PricePoint:
  """The hard rule's price for mean cost ``target`` (bisection), and its accuracy.

  Traces the episodes once and bisects (:func:`jaxtick.bisect_price`, 
  ``num_iters`` halvings) on the mean cost read off the trajectories, which
  is the hard rule's mean cost exactly; returns the smallest price found whose
  mean cost is at most ``target``, with its one-price front (per-episode
  results, for :func:`mcnemar_at_cost`). Memory O(N max_ticks).

  Raises:
    ValueError: ``target`` below the mean cost at price ``inf`` or above the
      one at price 0 (unreachable).
  """
  _checks.check_ticks(min_ticks, max_ticks)
  n = _checks.check_batch(problems, keys)
  _checks.check_scalar("target", target)
  _checks.check_nonneg("target", target)
  _checks.check_callable("calib", calib)
  _checks.check_agent(agent, problems, keys, batched=True)
  if score is None:
    raise ValueError("matched_price needs score (a callable or labels [N, ...]) to "
                     "report accuracy")
  _check_score(score, n)
  if isinstance(num_iters, bool) or not isinstance(num_iters, int) or num_iters < 0:
    raise ValueError(f"num_iters must be a non-negative int, got {num_iters!r}")
  thr, spent = _trajectories(agent, calib, problems, keys, max_ticks=max_ticks)
  c0, cinf = (float(x) for x in _end_costs(thr, spent, min_ticks=min_ticks))
  if not cinf - 1e-9 <= float(target) <= c0 + 1e-9:
    raise ValueError(f"target mean cost {float(target)!r} is not reachable: the "
                     f"price rule spends between {cinf!r} (price inf) and {c0!r} "
                     f"(price 0) per episode")
  price, _ = _search(thr, spent, np.asarray(target, thr.dtype), min_ticks=min_ticks,
                     num_iters=num_iters)
  fr = front(agent, problems, keys, jnp.reshape(price, (1,)), max_ticks=max_ticks,
             min_ticks=min_ticks, calib=calib, score=score, episodes=True,
             method="trace")
  m = _matched(float(np.asarray(fr.mean_cost)[0]), float(np.asarray(fr.correct)[0]), n,
               float(price), 1.0)
  return PricePoint(m, fr)


def mcnemar_at_cost(a: PricePoint | Front, b: PricePoint | Front) -> stats.McNemar:
  """Exact McNemar test of two arms on the same episodes, each at one price.

  Args:
    a, b: :class:`PricePoint` or one-price :class:`Front` with per-episode
      scores (``episodes=True``), over the same episodes in the same order.
  """
  for name, x in (("a", a), ("b", b)):
    if not isinstance(x, (PricePoint, Front)):
      raise TypeError(f"{name} must be a PricePoint (matched_price) or a Front, got "
                      f"{type(x).__name__}")
  ca, cb = (x.front if isinstance(x, PricePoint) else x for x in (a, b))
  for name, c in (("a", ca), ("b", cb)):
    if c.episode_correct is None or c.episode_correct.shape[0] != 1:
      raise ValueError(f"{name} must be one price with per-episode scores "
                       "(front(..., score=..., episodes=True) at one price)")
  if ca.episode_correct.shape != cb.episode_correct.shape:
    raise ValueError("the two arms must cover the same episodes, got "
                     f"{ca.episode_correct.shape[1]} and {cb.episode_correct.shape[1]}")
  with jax.enable_x64(True):
    t = stats.mcnemar(np.asarray(ca.episode_correct[0]), np.asarray(cb.episode_correct[0]))
    return stats.McNemar(*(np.asarray(x) for x in t))  # a host summary: NumPy
