"""Calibration maps: uncertainty -> expected marginal gain of one more tick.

A calibration map is any callable ``f[...] -> f[...]``. The maps here are
``NamedTuple`` pytrees, so a fitted map can be passed as an argument to a
jitted function (its knots or coefficients are array leaves), and applied
inside ``jit``/``vmap``:

* :class:`Identity` -- the specification's default: the signal is the gain.
* :class:`Isotonic` -- a monotone piecewise-linear map fitted by
  pool-adjacent-violators (:func:`fit_isotonic`), as scikit-learn's
  ``IsotonicRegression`` (clipped outside the fitted range).
* :class:`Platt` -- ``sigmoid(a * u + b)``, fitted with optax
  (:func:`fit_platt`).

Fit on held-out (uncertainty, realised gain) pairs, never on the episodes you
evaluate.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtick import values
from jaxtick._checks import concrete

Array = jax.Array


class Identity(NamedTuple):
  """``gain = u``."""

  def __call__(self, u: Array) -> Array:
    return u


class Isotonic(NamedTuple):
  """Monotone piecewise-linear map through knots ``(x, y)``.

  Attributes:
    x: f[m] non-decreasing knot positions (padded by repeating the last one).
    y: f[m] fitted values at the knots.
  """

  x: Array
  y: Array

  def __call__(self, u: Array) -> Array:
    return _interp(u, self.x, self.y)


class Platt(NamedTuple):
  """``gain = sigmoid(a * u + b)``."""

  a: Array
  b: Array

  def __call__(self, u: Array) -> Array:
    return _platt(self.a, self.b, u)


# The maps' formulas, compiled: one program per shapes when called outside jit.
_interp = jax.jit(jnp.interp)


@jax.jit
def _platt(a, b, u):
  return jax.nn.sigmoid(a * u + b)


def _check_pairs(u, gain, weights):
  for name, v in (("u", u), ("gain", gain), ("weights", weights)):
    c = concrete(v) if v is not None else None
    if c is not None and not np.isfinite(c).all():
      raise ValueError(f"{name} must be finite (no NaN or inf)")
  if jnp.ndim(u) != 1 or jnp.shape(u) != jnp.shape(gain):
    raise ValueError(
        f"u and gain must be 1-D of the same length, got {jnp.shape(u)} and "
        f"{jnp.shape(gain)}")
  if jnp.shape(u)[0] == 0:
    raise ValueError("need at least one (u, gain) pair to fit, got none")
  if weights is not None and jnp.shape(weights) != jnp.shape(u):
    raise ValueError(
        f"weights must match u's shape {jnp.shape(u)}, got {jnp.shape(weights)}")
  w = concrete(weights) if weights is not None else None
  if w is not None and ((w < 0).any() or not w.sum() > 0):
    raise ValueError("weights must be >= 0 with a positive sum, got "
                     f"min {w.min()!r} and sum {w.sum()!r}")


def _pav(y: Array, w: Array, m: Array) -> Array:
  """Pool-adjacent-violators on the first ``m`` of ``y`` (weights ``w``).

  Returns f[n]: the non-decreasing weighted least-squares fit (entries past
  ``m`` are left as they are).
  """
  n = y.shape[0]

  def push(carry, i):
    vals, wts, cnts, top = carry

    def do_push(carry):
      vals, wts, cnts, top = carry
      top = top + 1
      vals, wts, cnts = vals.at[top].set(y[i]), wts.at[top].set(w[i]), cnts.at[top].set(1)

      def violated(c):
        vals, _, _, top = c
        return (top > 0) & (vals[top - 1] > vals[top])

      def merge(c):
        vals, wts, cnts, top = c
        wsum = wts[top - 1] + wts[top]
        v = (vals[top - 1] * wts[top - 1] + vals[top] * wts[top]) / wsum
        return (vals.at[top - 1].set(v), wts.at[top - 1].set(wsum),
                cnts.at[top - 1].add(cnts[top]), top - 1)

      return jax.lax.while_loop(violated, merge, (vals, wts, cnts, top))

    carry = jax.lax.cond(i < m, do_push, lambda c: c, carry)
    return carry, None

  init = (jnp.zeros_like(y), jnp.zeros_like(w), jnp.zeros(n, jnp.int32),
          jnp.array(-1, jnp.int32))
  (vals, _, cnts, top), _ = jax.lax.scan(push, init, jnp.arange(n))
  # Expand blocks: point j belongs to the block whose cumulative count exceeds j.
  cnts = jnp.where(jnp.arange(n) <= top, cnts, 0)
  block = jnp.searchsorted(jnp.cumsum(cnts), jnp.arange(n), side="right")
  fitted = vals[jnp.clip(block, 0, n - 1)]
  return jnp.where(jnp.arange(n) < m, fitted, y)


def fit_isotonic(u: Array, gain: Array, weights: Array | None = None, *,
                 increasing: bool = True) -> Isotonic:
  """Fits a monotone map ``u -> gain`` by pool-adjacent-violators.

  Equal ``u`` values are pooled first (weighted mean of their gains), as in
  scikit-learn. Jit-compatible.

  Args:
    u: f[n] uncertainty signals.
    gain: f[n] realised marginal gains (e.g. 1 if the extra tick fixed the
      prediction, 0 otherwise).
    weights: optional f[n] sample weights, >= 0 with a positive sum (a point of
      weight 0 is ignored).
    increasing: fit a non-decreasing (default) or non-increasing map.

  Returns:
    An :class:`Isotonic` map with n knots (padded by repeating the last).
  """
  _check_pairs(u, gain, weights)
  return _fit_isotonic(*(None if v is None else values.host_arg(v) for v in (u, gain, weights)),
                       increasing=increasing)


@functools.partial(jax.jit, static_argnames="increasing")
def _fit_isotonic(u, gain, weights, *, increasing):
  u = jnp.asarray(u, jnp.result_type(float))
  gain = jnp.asarray(gain, u.dtype)
  w = jnp.ones_like(u) if weights is None else jnp.asarray(weights, u.dtype)
  sign = 1.0 if increasing else -1.0
  n = u.shape[0]
  order = jnp.argsort(u)
  xs, ys, ws = u[order], sign * gain[order], w[order]
  new = jnp.concatenate([jnp.array([True]), xs[1:] != xs[:-1]])
  seg = jnp.cumsum(new) - 1
  m = seg[-1] + 1
  wsum = jax.ops.segment_sum(ws, seg, n)
  ymean = jax.ops.segment_sum(ws * ys, seg, n) / jnp.where(wsum > 0, wsum, 1.0)
  xu = jnp.zeros_like(xs).at[seg].set(xs)
  fitted = _pav(ymean, wsum, m)
  idx = jnp.minimum(jnp.arange(n), m - 1)
  return Isotonic(x=xu[idx], y=sign * fitted[idx])


def fit_platt(u: Array, gain: Array, *, num_steps: int = 100) -> Platt:
  """Fits ``gain ~ sigmoid(a u + b)`` by maximum likelihood (optax L-BFGS).

  The iterations stop once the log-loss's gradient (in the standardised
  signal) is no larger than the float epsilon of its dtype, i.e. at the
  optimum to float precision (about ten iterations on well-posed data); at
  most ``num_steps``.

  Args:
    u: f[n] uncertainty signals.
    gain: f[n] realised gains in [0, 1] (binary or soft labels).
    num_steps: the most L-BFGS iterations.

  Returns:
    A :class:`Platt` map.
  """
  _check_pairs(u, gain, None)
  if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
    raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")
  g = concrete(gain)
  if g is not None and ((g < 0) | (g > 1)).any():
    raise ValueError("gain must lie in [0, 1] for Platt scaling")
  return _fit_platt(values.host_arg(u), values.host_arg(gain), num_steps=int(num_steps))


@functools.partial(jax.jit, static_argnames="num_steps")
def _fit_platt(u, gain, *, num_steps):
  u = jnp.asarray(u, jnp.result_type(float))
  gain = jnp.asarray(gain, u.dtype)
  # Standardise u for conditioning; map the coefficients back at the end.
  mu, sd = jnp.mean(u), jnp.std(u)
  sd = jnp.where(sd > 0, sd, 1.0)
  z = (u - mu) / sd

  def loss(params):
    logits = params[0] * z + params[1]
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, gain))

  opt = optax.lbfgs()
  value_and_grad = optax.value_and_grad_from_state(loss)

  def step(carry):
    params, state, i = carry
    value, grad = value_and_grad(params, state=state)
    updates, state = opt.update(grad, state, params, value=value, grad=grad,
                                value_fn=loss)
    return optax.apply_updates(params, updates), state, i + 1

  def running(carry):
    _, state, i = carry  # the state holds the gradient at the current parameters
    grad = optax.tree_utils.tree_get(state, "grad")
    done = jnp.sqrt(jnp.sum(grad ** 2)) <= jnp.finfo(u.dtype).eps
    return (i < num_steps) & ((i == 0) | ~done)
  # (at the optimum a float32 fit can alternate between two neighbours in the last
  # ulp forever: running all num_steps only picked one by the parity of num_steps)

  params = jnp.zeros(2, u.dtype)
  params, _, _ = jax.lax.while_loop(running, step, (params, opt.init(params), 0))
  a = params[0] / sd
  return Platt(a=a, b=params[1] - a * mu)
