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
would fly off). With one price the residual's sign brackets the root: the
transformation keeps the last ``x`` with ``r > 0`` and the last with ``r < 0``
and bisects between them whenever the Newton step leaves that bracket (as in
Numerical Recipes' ``rtsafe``), so a cliff in the curve (a low temperature on a
discrete signal) costs a few halvings, never a cycle.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxtick.api import Array


class NewtonState(NamedTuple):
  """The bracket (one price only; NaN until a side is seen).

  Attributes:
    above: f[] the last ``x`` whose residual was > 0.
    below: f[] the last ``x`` whose residual was < 0.
  """

  above: Array
  below: Array


def newton(max_step: float = 2.0) -> optax.GradientTransformationExtraArgs:
  """Newton's step on a residual, clipped to ``max_step``, bisection-safeguarded for one price.

  ``update(updates, state, params, *, residual, jacobian)``: ``params`` is an
  array x (f[] or f[K]); ``residual`` r has x's size; ``jacobian`` is dr/dx
  (``r.shape + x.shape``). ``updates`` (the gradient) is not used. A singular
  Jacobian gives a zero step (the tuner then stops at ``num_steps``).

  Args:
    max_step: the largest step in any coordinate (in log price: a factor
      ``exp(max_step)``), > 0.
  """
  if not max_step > 0:
    raise ValueError(f"max_step must be > 0, got {max_step!r}")

  def init(params):
    nan = jnp.full((), jnp.nan, jnp.result_type(params))
    return NewtonState(nan, nan)

  def update(updates, state, params=None, *, residual=None, jacobian=None, **extra):
    del updates, extra
    if params is None or residual is None or jacobian is None:
      raise ValueError("newton's update needs params, residual and jacobian "
                       "(jaxtick.soft.tune_price passes them for a target-only objective)")
    x = jnp.asarray(params)
    r = jnp.reshape(residual, (-1,))
    jac = jnp.reshape(jacobian, (r.size, x.size))
    if r.size != x.size:
      raise ValueError(f"newton needs as many residuals as parameters, got {r.size} "
                       f"residuals for {x.size} parameters")
    if x.size == 1:
      step = -r / jac[0]
    else:
      step = -jnp.linalg.solve(jac, r)
    step = jnp.where(jnp.isfinite(step), step, 0.0)
    step = step * jnp.minimum(1.0, max_step / jnp.maximum(jnp.max(jnp.abs(step)), 1e-30))
    if x.size == 1:
      x0, r0 = jnp.reshape(x, ()), r[0]
      above = jnp.where(r0 > 0, x0, state.above)
      below = jnp.where(r0 < 0, x0, state.below)
      lo, hi = jnp.minimum(above, below), jnp.maximum(above, below)
      new = x0 + step[0]
      bracketed = jnp.isfinite(lo) & jnp.isfinite(hi)
      outside = bracketed & ~((new > lo) & (new < hi))
      step = jnp.reshape(jnp.where(outside, 0.5 * (lo + hi) - x0, step[0]), (1,))
      state = NewtonState(above, below)
    return jnp.reshape(step, x.shape).astype(x.dtype), state

  return optax.GradientTransformationExtraArgs(init, update)
