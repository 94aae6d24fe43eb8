"""Synthetic multi-exit classifier: head logits with a latent per-instance difficulty.

The specification's E1/E2 setting (seed 000, section 4.1): N instances, three
equal-cost heads (shallow, deepA, deepB) whose accuracies lie around 0.95-0.97,
with errors concentrated on hard instances so that an uncertainty signal can
find them. Each instance ``i`` has a label ``y_i ~ U{0..C-1}`` and a latent
ease ``z_i ~ N(0, 1)``; head ``k`` sees the true class with margin

  ``m_ik = margins[k] + difficulty_scale * z_i + head_noise * xi_ik``,
  ``xi_ik ~ N(0, 1)``,

and its logits are ``temperature * (m_ik * onehot(y_i) + g_ik)`` with
``g_ikc`` i.i.d. standard Gumbel. With Gumbel noise the head is right with
probability exactly ``e^m / (e^m + C - 1)`` given its margin, so every head's
expected accuracy is a one-dimensional Gaussian integral (the tests check the
sampled accuracies against it). The shared ``z_i`` makes the heads' errors
correlated, as a real network's exits are; ``xi_ik`` makes deeper heads fix
some of the shallow head's mistakes.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

Array = jax.Array

# Margins chosen once so that the expected head accuracies (0.954, 0.969,
# 0.974 for C = 10) lie in the specification's 0.95-0.97 range; they were not
# fitted to any table of the specification.
DEFAULT_MARGINS = (6.5, 7.0, 7.2)


class HeadLogits(NamedTuple):
  """Per-head logits of a batch of instances.

  Attributes:
    logits: f[N, K, C] logits of head k on instance i.
    labels: i32[N] true classes.
    ease: f[N] the latent ease ``z_i`` (higher is easier); NaN when unknown.
  """

  logits: Array
  labels: Array
  ease: Array


def synthetic_heads(key: jax.Array, n: int = 1200, *, num_classes: int = 10,
                    margins: Sequence[float] = DEFAULT_MARGINS,
                    difficulty_scale: float = 1.5, head_noise: float = 1.0,
                    temperature: float = 1.0) -> HeadLogits:
  """Draws ``n`` instances of the synthetic multi-exit classifier.

  Args:
    key: PRNG key.
    n: number of instances N >= 1.
    num_classes: C >= 2.
    margins: K per-head mean margins (K >= 1 heads, shallow first).
    difficulty_scale: weight of the shared latent ease (>= 0).
    head_noise: std of the per-head margin noise (>= 0).
    temperature: positive scale of the logits (changes confidence, never the
      argmax).

  Returns:
    :class:`HeadLogits` with logits f[n, K, C].
  """
  if not isinstance(n, int) or n < 1:
    raise ValueError(f"n must be a positive int, got {n!r}")
  if not isinstance(num_classes, int) or num_classes < 2:
    raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
  margins = tuple(float(m) for m in margins)
  if not margins:
    raise ValueError("margins must name at least one head, got none")
  if difficulty_scale < 0 or head_noise < 0:
    raise ValueError(
        f"difficulty_scale and head_noise must be >= 0, got {difficulty_scale}, "
        f"{head_noise}")
  if not temperature > 0:
    raise ValueError(f"temperature must be > 0, got {temperature}")
  return _heads(key, margins, difficulty_scale, head_noise, temperature, n=n,
                num_classes=num_classes)


@functools.partial(jax.jit, static_argnames=("n", "num_classes", "margins"))
def _heads(key, margins, difficulty_scale, head_noise, temperature, *, n, num_classes):
  k = len(margins)
  ky, kz, kx, kg = jax.random.split(key, 4)
  labels = jax.random.randint(ky, (n,), 0, num_classes)
  ease = jax.random.normal(kz, (n,))
  xi = jax.random.normal(kx, (n, k))
  m = jnp.asarray(margins)[None, :] + difficulty_scale * ease[:, None] + head_noise * xi
  g = jax.random.gumbel(kg, (n, k, num_classes))
  onehot = jax.nn.one_hot(labels, num_classes)[:, None, :]
  logits = temperature * (m[..., None] * onehot + g)
  return HeadLogits(logits, labels.astype(jnp.int32), ease)
