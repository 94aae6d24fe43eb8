"""A Gaussian-mixture classification task whose difficulty is controllable.

Each of C classes is a mixture of M isotropic Gaussian components in D
dimensions. Component means are drawn once per task, ``mu ~ N(0, separation^2 I)``;
a sample of class ``y`` picks one of its components uniformly and adds
``N(0, noise^2 I)``. The ratio ``separation / noise`` sets the difficulty: the
Bayes-optimal accuracy (computable from :func:`log_posterior`) falls from 1
towards 1/C as it shrinks, and M > 1 makes the classes non-linearly separable,
so depth helps a network.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class MixtureTask(NamedTuple):
  """Attributes: means f[C, M, D] component means; noise f[] component std."""

  means: Array
  noise: Array


def mixture_task(key: jax.Array, *, num_classes: int = 10, dim: int = 16,
                 components: int = 3, separation: float = 1.0,
                 noise: float = 1.0) -> MixtureTask:
  """Draws a task: component means ``N(0, separation^2 I)``, shape [C, M, D]."""
  for name, v, lo in (("num_classes", num_classes, 2), ("dim", dim, 1),
                      ("components", components, 1)):
    if not isinstance(v, int) or v < lo:
      raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
  if not separation > 0 or not noise > 0:
    raise ValueError(
        f"separation and noise must be > 0, got {separation}, {noise}")
  return _task(key, separation, noise, shape=(num_classes, components, dim))


@functools.partial(jax.jit, static_argnames="shape")
def _task(key, separation, noise, *, shape):
  # The barrier keeps XLA from fusing JAX's sampler into the product: fused, its
  # transcendentals round an ulp apart from the sampler's own program (eager calls').
  means = separation * jax.lax.optimization_barrier(jax.random.normal(key, shape))
  return MixtureTask(means, jnp.asarray(noise, means.dtype))


def sample_mixture(key: jax.Array, task: MixtureTask, n: int):
  """Draws ``n`` labelled samples.

  Returns:
    ``(x, y)``: f[n, D] inputs and i32[n] labels (uniform over classes).
  """
  if not isinstance(n, int) or n < 1:
    raise ValueError(f"n must be a positive int, got {n!r}")
  return _sample(key, task, n=n)


@functools.partial(jax.jit, static_argnames="n")
def _sample(key, task, *, n):
  c, m, d = task.means.shape
  ky, km, kn = jax.random.split(key, 3)
  y = jax.random.randint(ky, (n,), 0, c)
  comp = jax.random.randint(km, (n,), 0, m)
  eps = jax.lax.optimization_barrier(jax.random.normal(kn, (n, d)))  # as in _task
  x = task.means[y, comp] + task.noise * eps
  return x, y.astype(jnp.int32)


@jax.jit
def log_posterior(task: MixtureTask, x: Array) -> Array:
  """Bayes class log-posterior ``log p(y | x)`` under the task's true model.

  Args:
    task: the task.
    x: f[..., D] inputs.

  Returns:
    f[..., C] normalised log-posteriors (classes equally likely a priori).
  """
  diff = x[..., None, None, :] - task.means  # [..., C, M, D]
  logk = -0.5 * jnp.sum(diff * diff, axis=-1) / task.noise ** 2  # [..., C, M]
  logc = jax.nn.logsumexp(logk, axis=-1)
  return jax.nn.log_softmax(logc, axis=-1)
