"""Difficulty signals: cheap online proxies for how much more compute could help.

All functions are elementwise over leading axes and jit/vmap-compatible.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def entropy(logits: Array, axis: int = -1) -> Array:
  """Softmax entropy ``H(softmax(logits))`` in nats.

  Args:
    logits: f[..., C].
    axis: the class axis.

  Returns:
    f[...] in ``[0, log C]``.
  """
  logp = jax.nn.log_softmax(logits, axis=axis)
  return -jnp.sum(jnp.exp(logp) * logp, axis=axis)


def margin(logits: Array, axis: int = -1) -> Array:
  """Top-2 probability margin ``p_(1) - p_(2)`` of ``softmax(logits)``.

  Args:
    logits: f[..., C] with C >= 2.

  Returns:
    f[...] in ``[0, 1]``; large when confident.
  """
  p = jax.nn.softmax(logits, axis=axis)
  top2 = jax.lax.top_k(jnp.moveaxis(p, axis, -1), 2)[0]
  return top2[..., 0] - top2[..., 1]


def gap_ratio(gap: Array, se: Array) -> Array:
  """Wald-style uncertainty ``SE / |gap|``; ``inf`` where the gap is 0.

  Stopping when ``gap_ratio <= 1 / z`` is stopping when ``|gap| >= z * SE``.

  Args:
    gap: f[...] empirical gap between two alternatives.
    se: f[...] its standard-error proxy (>= 0).
  """
  absgap = jnp.abs(gap)
  safe = jnp.where(absgap > 0, absgap, 1.0)
  return jnp.where(absgap > 0, se / safe, jnp.inf)


def q_gap(q: Array, axis: int = -1) -> Array:
  """Gap between the best and second-best action values ``Q_(1) - Q_(2)``.

  Args:
    q: f[..., A] action values, A >= 2 (mask unvisited actions with -inf
      beforehand if they should not count).

  Returns:
    f[...] >= 0.
  """
  top2 = jax.lax.top_k(jnp.moveaxis(q, axis, -1), 2)[0]
  return top2[..., 0] - top2[..., 1]
