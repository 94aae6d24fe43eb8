"""Observation streams with a known per-episode truth, for sequential tests.

Two families:

* **Two alternatives** (the gap test, E3): an episode is a pair of
  alternatives with unknown means ``theta = (theta_A, theta_B)``; the question
  is which is larger. :func:`bernoulli_pairs` draws success probabilities,
  :func:`gaussian_pairs` draws means of unit-noise Gaussians.
* **Simple hypotheses** (the SPRT): an episode is one stream with parameter
  ``theta``; :func:`hypothesis_problems` draws ``theta`` from ``{theta0, theta1}``
  (so that the error rates of a test of ``H0: theta0`` against ``H1: theta1`` are
  known), :func:`parameter_grid` repeats given values (for OC and ASN curves).

The observations themselves are drawn by the agents in
:mod:`jaxtick.agents.sequential`, one per tick, from the tick key.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def _check_n(n) -> int:
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
    raise ValueError(f"n must be a positive int, got {n!r}")
  return int(n)


def bernoulli_pairs(key: Array, n: int, low: float = 0.0,
                    high: float = 1.0) -> Array:
  """Draws n pairs of success probabilities, i.i.d. ``U(low, high)``.

  The default ``U(0, 1)`` is the uniform (Bayes-Laplace) prior on each
  alternative: centred on 1/2 and free of tunable parameters.

  Args:
    key: PRNG key.
    n: number of episodes.
    low, high: ``0 <= low < high <= 1``.

  Returns:
    f[n, 2] probabilities; the better alternative is ``argmax`` (ties have
    probability zero).
  """
  n = _check_n(n)
  if not 0.0 <= low < high <= 1.0:
    raise ValueError(f"need 0 <= low < high <= 1, got low={low!r}, high={high!r}")
  return jax.random.uniform(key, (n, 2), minval=low, maxval=high)


def gaussian_pairs(key: Array, n: int, scale: float = 1.0) -> Array:
  """Draws n pairs of means, i.i.d. ``N(0, scale^2)``.

  Args:
    key: PRNG key.
    n: number of episodes.
    scale: standard deviation of the means, > 0 (the observation noise is set
      on the agent).

  Returns:
    f[n, 2] means; the better alternative is ``argmax``.
  """
  n = _check_n(n)
  if not scale > 0:
    raise ValueError(f"scale must be > 0, got {scale!r}")
  return _gaussian_pairs(key, scale, n=n)


@functools.partial(jax.jit, static_argnames="n")
def _gaussian_pairs(key, scale, *, n):
  # The barrier keeps XLA from fusing JAX's sampler into the product: fused, its
  # transcendentals round an ulp apart from the sampler's own program (eager calls').
  return scale * jax.lax.optimization_barrier(jax.random.normal(key, (n, 2)))


def hypothesis_problems(key: Array, n: int, theta0: float, theta1: float,
                        p1: float = 0.5) -> tuple[Array, Array]:
  """Draws n episodes whose parameter is ``theta1`` w.p. ``p1``, else ``theta0``.

  Args:
    key: PRNG key.
    n: number of episodes.
    theta0, theta1: the two simple hypotheses.
    p1: probability of ``H1``, in [0, 1].

  Returns:
    ``(theta, truth)``: f[n] parameters and i32[n] the true hypothesis (0 or 1).
  """
  n = _check_n(n)
  if not 0.0 <= p1 <= 1.0:
    raise ValueError(f"p1 must lie in [0, 1], got {p1!r}")
  for name, v in (("theta0", theta0), ("theta1", theta1)):
    if np.ndim(v) != 0 or not np.isfinite(v):
      raise ValueError(f"{name} must be a finite scalar, got {v!r}")
  return _hypotheses(key, theta0, theta1, p1, n=n)


@functools.partial(jax.jit, static_argnames="n")
def _hypotheses(key, theta0, theta1, p1, *, n):
  truth = jax.random.bernoulli(key, p1, (n,)).astype(jnp.int32)
  theta = jnp.where(truth == 1, theta1, theta0).astype(jnp.result_type(float))
  return theta, truth


def parameter_grid(thetas, n: int) -> Array:
  """Repeats each parameter n times: f[len(thetas) * n], value-major."""
  n = _check_n(n)
  thetas = jnp.asarray(thetas, jnp.result_type(float))
  if thetas.ndim != 1:
    raise ValueError(f"thetas must be 1-D, got shape {thetas.shape}")
  t = np.asarray(thetas)
  if not np.isfinite(t).all():
    raise ValueError(f"thetas must be finite, got {t.tolist()!r}")
  return jax.device_put(np.repeat(t, n))  # host repeat: no program per shape
