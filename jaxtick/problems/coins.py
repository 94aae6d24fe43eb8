"""Coins with a known bias direction."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick import _checks


def coin_problems(key: jax.Array, n: int, min_gap: float = 0.05,
                  max_gap: float = 0.3) -> jax.Array:
  """Draws n coin biases ``p = 1/2 +- d``, ``d ~ U(min_gap, max_gap)``, random sign.

  Returns:
    f[n] heads probabilities; the right answer is ``p > 1/2``.
  """
  _checks.check_key(key)
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
    raise ValueError(f"n must be a positive int, got {n!r}")
  if not 0 <= min_gap <= max_gap <= 0.5:
    raise ValueError(
        f"need 0 <= min_gap <= max_gap <= 0.5, got {min_gap}, {max_gap}")
  return _coins(key, min_gap, max_gap, n=int(n))


@functools.partial(jax.jit, static_argnames="n")
def _coins(key, min_gap, max_gap, *, n):
  kd, ks = jax.random.split(key)
  d = jax.random.uniform(kd, (n,), minval=min_gap, maxval=max_gap)
  sign = jnp.where(jax.random.bernoulli(ks, 0.5, (n,)), 1.0, -1.0)
  return 0.5 + sign * d
