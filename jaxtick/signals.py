"""Difficulty signals: cheap online proxies for how much more compute could help.

All functions are elementwise over leading axes and jit/vmap-compatible; each
is compiled (once per shapes and dtypes), so a call outside ``jit`` runs one
program rather than an op at a time.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

Array = jax.Array


@functools.partial(jax.jit, static_argnames="axis")
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


@jax.jit
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
