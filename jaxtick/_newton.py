"""Newton's method on a residual, as an optax transformation.

:func:`jaxtick.soft.tune_price` meets a budget by solving ``r(x) = 0`` for the
log prices ``x`` (f[] or f[K]), where ``r_k = (mean_cost_k - target_k) /
target_k`` is smooth and, for one price, monotone in ``x``. Newton's step
``-J^{-1} r`` (``J = dr/dx``, K x K) reaches the root in a handful of
evaluations where a first-order method takes hundreds; the tuner passes ``r``
and ``J`` (from ``jax.jacfwd``, K forward tangents) as the extra arguments
``residual`` and ``jacobian`` of ``update``.

Safeguards. Every step is clipped to ``max_step`` in the max norm (the soft
mean cost flattens at very low and very high prices, where a raw Newton step
would fly off).

* One price: the residual's sign brackets the root. The transformation keeps
  the last ``x`` with ``r > 0`` and the last with ``r < 0`` and bisects between
  them whenever the Newton step leaves that bracket (as in Numerical Recipes'
  ``rtsafe``), so a cliff in the curve (a low temperature on a discrete
  signal) costs a few halvings, never a cycle.
* Several prices: no bracket exists, and where the cost kinds move together
  (tokens and seconds of episodes that stop at the same tick) ``J`` is nearly
  singular. The step is Levenberg-Marquardt's,
  ``-(J'J + m diag(J'J))^{-1} J' r``: a step that does not lower ``|r|^2`` is
  undone (the next step starts again from the best point, with ``m`` x 4),
  one that does lowers ``m`` / 3 (towards Newton's step).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtick.api import Array


class NewtonState(NamedTuple):
  """What the safeguards remember.

  Attributes:
    above, below: f[] one price: the last ``x`` whose residual was > 0 (< 0);
      NaN until seen.
    damping: f[] several prices: Levenberg-Marquardt's ``m``.
    best_value: f[] several prices: ``|r|^2`` at ``best_x`` (inf at first).
    best_x, best_residual, best_jacobian: several prices: the best point so
      far and ``r``, ``J`` there.
  """

  above: Array
  below: Array
  damping: Array
  best_value: Array
  best_x: Array
  best_residual: Array
  best_jacobian: Array


def newton(max_step: float = 2.0, damping: float = 1e-3) -> optax.GradientTransformationExtraArgs:
  """Newton's step on a residual, clipped to ``max_step`` and safeguarded (see the module).

  ``update(updates, state, params, *, residual, jacobian)``: ``params`` is an
  array x (f[] or f[K]); ``residual`` r has x's size; ``jacobian`` is dr/dx
  (``r.shape + x.shape``). ``updates`` (the gradient) is not used. A singular
  Jacobian with one price gives a zero step (the tuner then stops at
  ``num_steps``).

  Args:
    max_step: the largest step in any coordinate (in log price: a factor
      ``exp(max_step)``), > 0.
    damping: Levenberg-Marquardt's initial ``m`` (several prices), > 0.
  """
  if not max_step > 0:
    raise ValueError(f"max_step must be > 0, got {max_step!r}")
  if not damping > 0:
    raise ValueError(f"damping must be > 0, got {damping!r}")

  def init(params):
    return _init(params, damping)

  def update(updates, state, params=None, *, residual=None, jacobian=None, **extra):
    del updates, extra
    if params is None or residual is None or jacobian is None:
      raise ValueError("newton's update needs params, residual and jacobian "
                       "(jaxtick.soft.tune_price passes them for a target-only objective)")
    if np.size(residual) != np.size(params):
      raise ValueError(f"newton needs as many residuals as parameters, got "
                       f"{np.size(residual)} residuals for {np.size(params)} parameters")
    return _update(params, residual, jacobian, state, max_step)

  return optax.GradientTransformationExtraArgs(init, update)




# The transformation's arithmetic, compiled once per shapes (``init`` and ``update``
# are also called outside jit, one step at a time).


@jax.jit
def _init(params, damping):
  x = jnp.reshape(jnp.asarray(params), (-1,))
  dtype = x.dtype
  nan = jnp.full((), jnp.nan, dtype)
  return NewtonState(nan, nan, jnp.asarray(damping, dtype), jnp.full((), jnp.inf, dtype),
                     x, jnp.zeros_like(x), jnp.zeros((x.size, x.size), dtype))


def _clip(step, max_step):
  step = jnp.where(jnp.isfinite(step), step, 0.0)
  return step * jnp.minimum(1.0, max_step / jnp.maximum(jnp.max(jnp.abs(step)), 1e-30))


def _one_price(x, r, jac, state, max_step):
  x0, r0 = x[0], r[0]
  step = _clip(-r / jac[0], max_step)[0]
  above = jnp.where(r0 > 0, x0, state.above)
  below = jnp.where(r0 < 0, x0, state.below)
  lo, hi = jnp.minimum(above, below), jnp.maximum(above, below)
  new = x0 + step
  outside = jnp.isfinite(lo) & jnp.isfinite(hi) & ~((new > lo) & (new < hi))
  step = jnp.where(outside, 0.5 * (lo + hi) - x0, step)
  return jnp.reshape(step, (1,)), state._replace(above=above, below=below)


def _several_prices(x, r, jac, state, max_step):
  value = jnp.sum(r ** 2)
  better = value < state.best_value
  m = jnp.where(better, state.damping / 3, state.damping * 4)
  bx = jnp.where(better, x, state.best_x)
  br = jnp.where(better, r, state.best_residual)
  bj = jnp.where(better, jac, state.best_jacobian)
  jtj = bj.T @ bj
  diag = jnp.diag(jtj)
  lhs = jtj + jnp.diag(m * diag + 1e-12 * jnp.max(diag) + 1e-30)
  step = _clip(-jnp.linalg.solve(lhs, bj.T @ br), max_step)
  state = state._replace(damping=m, best_value=jnp.where(better, value, state.best_value),
                         best_x=bx, best_residual=br, best_jacobian=bj)
  return bx + step - x, state


@jax.jit
def _update(params, residual, jacobian, state, max_step):
  shape = jnp.shape(params)
  x = jnp.reshape(jnp.asarray(params), (-1,))
  r = jnp.reshape(residual, (-1,))
  jac = jnp.reshape(jacobian, (r.size, x.size))
  step, state = (_one_price if x.size == 1 else _several_prices)(x, r, jac, state, max_step)
  return jnp.reshape(step, shape).astype(x.dtype), state
