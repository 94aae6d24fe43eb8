"""A multi-exit classifier as a Tick agent: one tick computes one more exit head.

Heads run shallow -> deepA -> deepB (K heads in general). Where the logits
come from is a :class:`HeadSource`:

* :func:`logit_table` -- the problem is a precomputed table f[K, C] of every
  head's logits (the synthetic generator of :mod:`jaxtick.problems.heads`, or
  logged outputs of a real network); a tick reveals the next row.
* :func:`mlp_source` -- the problem is an input f[D] of a
  :mod:`jaxtick.models.multi_exit` MLP; the state caches the features and a
  tick really computes the next block and its head (seed 000, section 7).

``uncertainty`` is the softmax entropy (nats, in ``[0, log C]``) or
``1 - margin`` (in ``[0, 1]``) of the distribution that ``output`` reads: the
current head (``fuse="last"``) or the mean of the softmax of the heads seen so
far (``fuse="mean"``). Before the first tick it is ``+inf`` (a prediction
needs a head); once every head has run it is 0 (nothing left to buy).

Exiting when the signal is at most ``thr`` is the price rule with price
``thr`` and unit costs: the agent takes head k + 1 while ``u_k > thr * c_{k+1}``.
:func:`exit_heads_sweep` evaluates that rule for many prices at once from the per-head
signals, in closed form (no per-episode loop; binary search and a cumulative
sum over the sorted prices), and :func:`exit_heads_used` gives the
per-instance exit points it implies.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from jaxtick import _checks, signals, values
from jaxtick.fronts import stopping_ticks
from jaxtick.api import Agent, Array

SIGNALS = ("entropy", "margin")
FUSIONS = ("last", "mean")


class HeadSource(NamedTuple):
  """Where head logits come from.

  Attributes:
    num_heads: K >= 1.
    num_classes: C >= 2.
    init: ``init(problem) -> carry``; the carry is any pytree (cached features).
    step: ``step(carry, k) -> (carry, logits)``: runs head ``k`` (i32[],
      traced), returns the next carry and f[C] logits.
  """

  num_heads: int
  num_classes: int
  init: Callable[[Any], Any]
  step: Callable[[Any, Array], tuple[Any, Array]]


def _check_heads_classes(num_heads, num_classes):
  if isinstance(num_heads, bool) or not isinstance(num_heads, (int, np.integer)) or num_heads < 1:
    raise ValueError(f"num_heads must be an int >= 1 (at least one head), got {num_heads!r}")
  if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
    raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")


def logit_table(num_heads: int, num_classes: int) -> HeadSource:
  """Heads read from a precomputed table; the problem is f[K, C] logits.

  A value: module-level functions bound with ``jax.tree_util.Partial``.
  """
  _check_heads_classes(num_heads, num_classes)
  return HeadSource(num_heads, num_classes,
                    Partial(_table_init, int(num_heads), int(num_classes)),
                    Partial(_table_step))


def _table_init(num_heads, num_classes, logits):
  if jnp.shape(logits) != (num_heads, num_classes):
    raise ValueError(
        f"problem must be logits of shape ({num_heads}, {num_classes}), "
        f"got {jnp.shape(logits)}")
  return jnp.asarray(logits, jnp.result_type(float))


def _table_step(table, k):
  return table, table[k]


def mlp_source(params) -> HeadSource:
  """Heads computed by a :class:`jaxtick.models.MultiExitParams` MLP, one block per tick.

  The problem is one input f[D]; the carry is the padded feature buffer f[P].
  A value: the weights are bound as data with ``jax.tree_util.Partial``, so two
  sources with weights of the same shapes share one compiled program.
  """
  num_heads, _, _ = params.w.shape
  num_classes = params.v.shape[-1]
  _check_heads_classes(num_heads, num_classes)
  return HeadSource(int(num_heads), int(num_classes), Partial(_mlp_init, params),
                    Partial(_mlp_step, params))


def _mlp_init(params, x):
  """The padded input f[P] (the features block 0 reads)."""
  p = params.w.shape[1]
  x = jnp.asarray(x, params.w.dtype)
  if x.ndim != 1 or x.shape[0] > p:
    raise ValueError(f"problem must be one input of shape (D,) with D <= {p}, "
                     f"got {x.shape}")
  return jnp.pad(x, (0, p - x.shape[0]))


def _mlp_step(params, feats, k):
  from jaxtick.models import multi_exit
  return multi_exit.block(params, feats, k)


def signal_max(signal: str, num_classes: int) -> float:
  """The upper end of a signal's range: ``log C`` (entropy) or 1 (margin)."""
  _check_signal(signal)
  return math.log(num_classes) if signal == "entropy" else 1.0


def _check_signal(signal):
  if signal not in SIGNALS:
    raise ValueError(f"signal must be one of {SIGNALS}, got {signal!r}")


def uncertainty_signal(logits: Array, signal: str = "entropy") -> Array:
  """Uncertainty of ``softmax(logits)``: entropy or ``1 - margin``.

  ``1 - margin`` is computed as ``(1 - p_(1)) + p_(2)`` with ``1 - p_(1)`` the
  sum of the other probabilities, so it keeps full relative precision when the
  softmax is nearly one-hot (``1 - (p_(1) - p_(2))`` would round to 0).

  Args:
    logits: f[..., C].
    signal: ``"entropy"`` or ``"margin"``.

  Returns:
    f[...] in ``[0, log C]`` (entropy) or ``[0, 1]`` (margin).
  """
  _check_signal(signal)
  c = logits.shape[-1]
  if signal == "entropy":
    return jnp.clip(signals.entropy(logits), 0.0, math.log(c))
  p = jax.nn.softmax(logits, axis=-1)
  top, idx = jax.lax.top_k(p, 2)
  rest = jnp.sum(jnp.where(jax.nn.one_hot(idx[..., 0], c, dtype=bool), 0.0, p), axis=-1)
  return jnp.clip(rest + top[..., 1], 0.0, 1.0)


class ExitState(NamedTuple):
  """State of the exit-heads agent.

  Attributes:
    carry: the head source's carry (cached features or the logit table).
    heads: i32[] heads computed so far (0..K).
    logits: f[C] the last head's logits (zeros before the first tick).
    prob_sum: f[C] sum of the softmax of the heads computed so far.
  """

  carry: Any
  heads: Array
  logits: Array
  prob_sum: Array


def _check_costs(costs, num_heads):
  if costs is None:
    return np.ones(num_heads)
  c = np.asarray(costs, float)
  if c.shape != (num_heads,):
    raise ValueError(f"costs must have shape ({num_heads},), one per head, got {c.shape}")
  if not (np.isfinite(c).all() and (c > 0).all()):
    raise ValueError(f"costs must be finite and > 0, got {costs!r}")
  return c


def _fused_logits(logits, prob_sum, heads, fuse):
  """Logits whose softmax is the fused distribution (heads >= 1)."""
  if fuse == "last":
    return logits
  return jnp.log(prob_sum / jnp.maximum(heads, 1).astype(prob_sum.dtype))


def exit_heads(source: HeadSource, *, signal: str = "entropy",
               fuse: str = "last", costs: Sequence[float] | None = None) -> Agent:
  """A Tick agent over a multi-exit classifier: one tick per head.

  Args:
    source: where the logits come from (:func:`logit_table`, :func:`mlp_source`).
    signal: ``"entropy"`` or ``"margin"`` (uses ``1 - margin``).
    fuse: ``"last"`` (predict with the last head) or ``"mean"`` (average the
      softmax of the heads seen so far).
    costs: K positive per-head costs (default 1 each: relative compute 1/K).

  Returns:
    An :class:`~jaxtick.Agent` whose ``output`` is the predicted class i32[].
    It is a value (module-level functions, costs and the source's arrays bound
    with ``jax.tree_util.Partial``): agents of one source kind, signal and fuse
    share one compiled program whatever their costs, weights or tables.
  """
  _check_signal(signal)
  if fuse not in FUSIONS:
    raise ValueError(f"fuse must be one of {FUSIONS}, got {fuse!r}")
  k_heads, c = source.num_heads, source.num_classes
  cost_vec = jnp.asarray(_check_costs(costs, k_heads), jnp.result_type(float))
  return Agent(Partial(_exit_init, source, c), Partial(_exit_tick, source),
               Partial(_exit_uncertainty, k_heads, signal, fuse),
               Partial(_exit_output, fuse), Partial(_exit_cost, cost_vec))


# The agent's functions: ``source``'s functions and sizes, the number of heads
# and classes, ``signal`` and ``fuse`` are static; the per-head costs f[K] and
# the source's arrays (MLP weights) are data.


def _exit_init(source, num_classes, problem, key):
  del key
  carry = source.init(problem)
  dtype = jnp.result_type(float)
  zeros = jnp.zeros((num_classes,), dtype)
  return ExitState(carry, jnp.zeros((), jnp.int32), zeros, zeros)


def _exit_tick(source, state, key):
  """Runs the next head (none once all K have run)."""
  del key
  k_heads = source.num_heads
  k = jnp.minimum(state.heads, k_heads - 1)
  carry, logits = source.step(state.carry, k)
  logits = logits.astype(state.logits.dtype)
  live = state.heads < k_heads
  new = ExitState(carry, state.heads + 1, logits,
                  state.prob_sum + jax.nn.softmax(logits))
  return jax.tree_util.tree_map(lambda a, b: jnp.where(live, a, b), new, state)


def _exit_uncertainty(k_heads, signal, fuse, state):
  u = uncertainty_signal(
      _fused_logits(state.logits, state.prob_sum, state.heads, fuse), signal)
  return jnp.where(state.heads == 0, jnp.inf,
                   jnp.where(state.heads >= k_heads, 0.0, u))


def _exit_output(fuse, state):
  return jnp.argmax(_fused_logits(state.logits, state.prob_sum, state.heads, fuse)
                    ).astype(jnp.int32)


def _exit_cost(costs, state):
  """The cost f[] of the next head: ``costs[min(heads, K - 1)]``."""
  return costs[jnp.minimum(state.heads, costs.shape[0] - 1)]


# ----------------------------------------------------------------------------
# Whole sweeps from per-head signals.


class HeadSignals(NamedTuple):
  """Per-head signal and prediction of a batch, as the agent sees them.

  Attributes:
    u: f[N, K] the uncertainty after head k (fused as the agent fuses).
    pred: i32[N, K] the agent's output after head k.
  """

  u: Array
  pred: Array


def _check_logits(logits, labels=None):
  shape = np.shape(logits)
  if len(shape) != 3:
    raise ValueError(f"logits must have shape [N, K, C], got {shape}")
  n, k, c = shape
  if k < 1:
    raise ValueError(f"logits must have at least one head (K >= 1), got shape {shape}")
  if c < 2:
    raise ValueError(f"logits need C >= 2 classes, got shape {shape}")
  v = _checks.concrete(logits)
  if v is not None and not np.isfinite(v).all():
    raise ValueError("logits must be finite (found NaN or inf)")
  if labels is not None and np.shape(labels) != (n,):
    raise ValueError(
        f"labels must have shape ({n},) to match logits' {n} instances, got "
        f"{np.shape(labels)}")


def head_signals(logits: Array, *, signal: str = "entropy",
                 fuse: str = "last") -> HeadSignals:
  """The agent's uncertainty and output after each head, for a whole batch.

  Args:
    logits: f[N, K, C] every head's logits.
    signal, fuse: as in :func:`exit_heads`.

  Returns:
    :class:`HeadSignals`.
  """
  _check_logits(logits)
  _check_signal(signal)
  if fuse not in FUSIONS:
    raise ValueError(f"fuse must be one of {FUSIONS}, got {fuse!r}")
  # The arithmetic op by op, on purpose: under one jit XLA fuses exp into the
  # entropy's sum and the signals move by an ulp; each op is compiled once per
  # shape. The slicing and stacking of concrete logits run in NumPy (exact,
  # and no program of their own).
  xp = jnp if _checks.concrete(logits) is None else np
  logits = xp.asarray(logits, jnp.result_type(float))
  k_heads = logits.shape[1]
  prob_sum = xp.zeros_like(logits[:, 0])
  us, preds = [], []
  for k in range(k_heads):  # the agent's sums, in the agent's order
    prob_sum = prob_sum + jax.nn.softmax(logits[:, k])
    fl = _fused_logits(logits[:, k], prob_sum, jnp.asarray(k + 1), fuse)
    us.append(xp.asarray(uncertainty_signal(fl, signal)))
    preds.append(xp.asarray(jnp.argmax(fl, axis=-1).astype(jnp.int32)))
  u = xp.stack(us[:-1] + [xp.zeros_like(us[-1])], axis=1)  # after the last head nothing is left to buy
  return HeadSignals(jnp.asarray(u), jnp.asarray(xp.stack(preds, axis=1)))


def _breakpoints(u, costs):
  """``m[:, k] = min_{j <= k} u_j / c_{j+1}``: the agent stops by head k+1 iff price >= m_k.

  A NaN signal stops the agent at every price (as the price rule reads a NaN
  surplus): its ratio counts as ``-inf``.

  Args:
    u: f[N, K]; costs: f[K]. Returns f[N, K-1].
  """
  ratio = u[:, :-1] / costs[1:]
  return jax.lax.cummin(jnp.where(jnp.isnan(ratio), -jnp.inf, ratio), axis=1)


def _check_u(u):
  """u: f[N, K] with K >= 1; a concrete u must hold no NaN."""
  u = jnp.asarray(u)
  if u.ndim != 2 or u.shape[1] < 1:
    raise ValueError(f"u must have shape [N, K] with K >= 1, got {u.shape}")
  _checks.check_no_nan("u", u)
  return u


def _check_prices(prices, max_price):
  p = _checks.concrete(prices)
  if p is None:
    return
  if p.ndim != 1:
    raise ValueError(f"prices must be a 1-D array of thresholds, got shape {p.shape}")
  # Allow the top of the range rounded up to the prices' precision (f32 log C).
  top = None if max_price is None else max_price * (1 + 4 * np.finfo(np.float32).eps)
  if np.isnan(p).any() or (p < 0).any() or (top is not None and (p > top).any()):
    rng = f"[0, {max_price!r}]" if max_price is not None else "[0, inf)"
    raise ValueError(
        f"prices (exit thresholds) must lie in the signal's range {rng}, got "
        f"min {np.min(p)!r}, max {np.max(p)!r}")


def exit_heads_used(u: Array, prices: Array, costs=None) -> Array:
  """Heads each instance uses under each price (the price rule, in closed form).

  After head k the agent takes head k + 1 iff ``u_k > price * c_{k+1}``; so it
  has stopped by head k + 1 iff ``price >= min_{j <= k} u_j / c_{j+1}``.

  Args:
    u: f[N, K] per-head uncertainty (:func:`head_signals`).
    prices: f[T] prices (thresholds, for unit costs).
    costs: optional f[K] per-head costs (default 1).

  Returns:
    i32[T, N] heads used, in ``1..K``.
  """
  u = _check_u(u)
  _check_prices(prices, None)
  costs = jnp.asarray(_check_costs(costs, u.shape[1]), u.dtype)
  prices = jnp.asarray(prices, u.dtype)
  return _used(u, prices, costs)


@jax.jit
def _used(u, prices, costs):
  """The heads used i32[T, N] of :func:`exit_heads_used`, one program per shapes."""
  # The price rule's stop read off its tick thresholds, as jaxtick.front reads
  # every agent: after t >= 1 heads the threshold is u_{t-1} / c_t (min_ticks = 1).
  thr = _pad_thresholds(u, costs)
  return jnp.swapaxes(stopping_ticks(thr, prices, min_ticks=1), 0, 1)


def _pad_thresholds(u, costs):
  """f[N, K + 1]: tick thresholds after 0..K heads (the ends unread by ``min_ticks=1``)."""
  ratio = u[:, :-1] / costs[1:]
  ratio = jnp.where(jnp.isnan(ratio), -jnp.inf, ratio)  # a NaN signal stops the agent
  pad = jnp.full(u.shape[:1] + (1,), jnp.inf, u.dtype)
  return jnp.concatenate([pad, ratio, pad], axis=1)


class Sweep(NamedTuple):
  """Aggregate outcome of a price sweep.

  Attributes:
    cost: f[T] mean cost per instance (``/ sum(costs)`` is the relative compute).
    heads: f[T] mean heads used.
    total_heads: i32[T] heads used, summed over instances (exact).
    correct: i32[T] instances predicted correctly.
    nan: i32[T] instances that stopped on a NaN signal at each price (a
      traced ``u`` only: a concrete one with NaN is refused), as
      :attr:`jaxtick.Front.nan` counts them.
  """

  cost: Array
  heads: Array
  total_heads: Array
  correct: Array
  nan: Array


def exit_heads_sweep(u: Array, correct: Array, prices: Array, costs=None) -> Sweep:
  """The exit-heads fast path of :func:`jaxtick.front`: a closed-form price sweep.

  Accuracy and compute of the price rule at many prices, in one pass, from
  the per-head signals (no agent run; equal to ``jt.front`` on the exit-heads
  agent, count for count).

  For any per-head quantity ``q`` (correctness, cumulative cost) at the exit
  head ``e``, ``q(e) = q_K + sum_{k<K} (q_k - q_{k+1}) [e <= k]``, and
  ``e <= k`` iff ``price >= m_k`` (:func:`exit_heads_used`). So each
  breakpoint ``m_ik`` adds its term to every price at or above it: the prices
  are sorted, each breakpoint is binned by binary search (``searchsorted``)
  and a cumulative sum over the bins gives all prices at once. Cost
  ``O(N K log T + T)``; nothing of size [T, N] is built; the counts are exact
  (integer) and equal a direct evaluation of the rule at every price.
  Jit-compatible; compiled once per shapes.

  A NaN signal stops the instance there (as the price rule does) and is
  counted in :attr:`Sweep.nan`; a concrete ``u`` holding NaN is refused.

  Args:
    u: f[N, K] per-head uncertainty (no NaN).
    correct: bool[N, K] whether the output after head k is right.
    prices: f[T] (any order).
    costs: optional f[K] per-head costs.

  Returns:
    :class:`Sweep`.
  """
  u = _check_u(u)
  if jnp.shape(correct) != u.shape:
    raise ValueError(f"correct must have the shape of u {u.shape}, got {jnp.shape(correct)}")
  _check_prices(prices, None)
  n, k_heads = u.shape
  costs = jnp.asarray(_check_costs(costs, k_heads), u.dtype)
  prices = jnp.asarray(prices, u.dtype)
  stopped, correct_count, nan = _sweep(u, jnp.asarray(correct), prices, costs)
  # The means op by op, outside the program: fused, XLA would contract the
  # products into the subtraction and move them by an ulp.
  total_heads = n * k_heads - jnp.sum(stopped, axis=1)
  cost = jnp.sum(costs) - jnp.sum(stopped.astype(u.dtype) * costs[1:], axis=1) / n
  heads = total_heads.astype(u.dtype) / n
  return Sweep(cost, heads, total_heads.astype(jnp.int32), correct_count, nan)


@values.jit
def _sweep(u, correct, prices, costs):
  """The counts of :func:`exit_heads_sweep`, compiled once per shapes.

  Returns:
    ``(stopped, correct, nan)``: i32[T, K-1] instances stopped by head k + 1
    at each price, i32[T] instances correct at each price, i32[T] instances
    stopped on a NaN signal at each price.
  """
  k_heads = u.shape[1]
  t = prices.shape[0]
  corr = correct.astype(jnp.int32)
  m = _breakpoints(u, costs)  # [N, K-1]
  dcorr = corr[:, :-1] - corr[:, 1:]  # [N, K-1]
  order = jnp.argsort(prices)
  # Bin b = #prices below m: the breakpoint counts for sorted prices b..T-1.
  b = jnp.searchsorted(prices[order], m, side="left", method="scan_unrolled")
  seg = (b * (k_heads - 1) + jnp.arange(k_heads - 1)).reshape(-1)
  nseg = (t + 1) * (k_heads - 1)
  hist_stop = jax.ops.segment_sum(jnp.ones_like(seg), seg, num_segments=nseg)
  hist_corr = jax.ops.segment_sum(dcorr.reshape(-1), seg, num_segments=nseg)
  stopped = jnp.cumsum(hist_stop.reshape(t + 1, k_heads - 1), axis=0)[:t]  # [T, K-1]
  dsum = jnp.cumsum(jnp.sum(hist_corr.reshape(t + 1, k_heads - 1), axis=1))[:t]
  nan = _nan_stops(u, m, prices[order])
  unsort = lambda x: jnp.zeros_like(x).at[order].set(x)
  stopped, dsum, nan = unsort(stopped), unsort(dsum), unsort(nan)
  return stopped, (jnp.sum(corr[:, -1]) + dsum).astype(jnp.int32), nan


def _nan_stops(u, m, grid):
  """i32[T]: instances stopped on a NaN signal at each sorted price of ``grid``.

  An instance whose first NaN signal is ``u_j`` (j < K - 1) stops there at the
  prices below its breakpoint before it (``m_{j-1}``; every price for j = 0).
  """
  t = grid.shape[0]
  if u.shape[1] == 1:  # one head: nothing to stop on
    return jnp.zeros(t, jnp.int32)
  is_nan = jnp.isnan(u[:, :-1])
  j = jnp.argmax(is_nan, axis=1)
  before = jnp.take_along_axis(m, jnp.maximum(j - 1, 0)[:, None], axis=1)[:, 0]
  before = jnp.where(j > 0, before, jnp.inf)
  b = jnp.searchsorted(grid, before, side="left", method="scan_unrolled")
  hist = jax.ops.segment_sum(jnp.any(is_nan, axis=1).astype(jnp.int32), b,
                             num_segments=t + 1)
  return (jnp.sum(hist) - jnp.cumsum(hist)[:t]).astype(jnp.int32)  # #{b > index}


def threshold_sweep(logits: Array, labels: Array, thresholds: Array, *,
                    signal: str = "entropy", fuse: str = "last",
                    costs=None) -> Sweep:
  """Early-exit sweep straight from logits: exit once the signal is <= threshold.

  Args:
    logits: f[N, K, C].
    labels: i32[N].
    thresholds: f[T] in the signal's range (``[0, log C]`` or ``[0, 1]``; with
      costs, prices up to that over the smallest cost).
    signal, fuse, costs: as in :func:`exit_heads`.

  Returns:
    :class:`Sweep` (``correct`` counts out of N).
  """
  _check_logits(logits, labels)
  c = np.shape(logits)[2]
  cost_vec = _check_costs(costs, np.shape(logits)[1])
  _check_prices(thresholds, signal_max(signal, c) / float(cost_vec.min()))
  hs = head_signals(logits, signal=signal, fuse=fuse)
  correct = hs.pred == jnp.asarray(labels)[:, None]
  return exit_heads_sweep(hs.u, correct, thresholds, cost_vec)
