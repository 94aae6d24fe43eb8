"""A plain-JAX multilayer perceptron and a full-batch optax fit (probe, imitation)."""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtick import values

Array = jax.Array
Params = list  # [(W f[in, out], b f[out]), ...]


def init(key: Array, sizes: Sequence[int]) -> Params:
  """Glorot-normal weights, zero biases, for layer sizes ``(in, h1, ..., out)``."""
  if len(sizes) < 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                               and v >= 1 for v in sizes):
    raise ValueError(f"sizes must be at least two ints >= 1 (in, ..., out), got {sizes!r}")
  keys = jax.random.split(key, len(sizes) - 1)
  return [(jax.random.normal(k, (a, b)) * np.sqrt(2.0 / (a + b)), jnp.zeros(b))
          for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def apply(params: Params, x: Array) -> Array:
  """f[..., out]: ReLU hidden layers, linear output."""
  for w, b in params[:-1]:
    x = jax.nn.relu(x @ w + b)
  w, b = params[-1]
  return x @ w + b


def fit(loss: Callable[[Params, Array], Array], params: Params, *, steps: int,
        num_rows: int, learning_rate: float = 1e-3, batch_size: int | None = None,
        key: Array | None = None) -> tuple[Params, Array]:
  """Minimises ``loss(params, rows)`` by Adam; returns ``(params, losses f[steps])``.

  ``rows`` is i32[b]: every row (``batch_size=None``, full batch) or a
  uniform minibatch of ``batch_size`` of the ``num_rows`` rows, drawn from
  ``key`` at each step.

  Compiled once per (``loss`` kind, ``num_rows``, ``batch_size``, shapes):
  ``loss`` is a value (:mod:`jaxtick.values`) -- pass a module-level function
  with its data bound by ``jax.tree_util.Partial`` (``Partial(my_loss, x, y)``
  with ``my_loss(x, y, params, rows)``): its arrays and floats are traced, so
  another data set of the same shapes reuses the program. A new lambda or
  closure per call compiles afresh. ``learning_rate`` and the per-step keys
  are traced too (``steps`` is the keys' length: a shape).
  """
  if not isinstance(steps, (int, np.integer)) or steps < 1:
    raise ValueError(f"steps must be a positive int, got {steps!r}")
  if not (np.isfinite(learning_rate) and learning_rate > 0):
    raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate!r}")
  if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
    raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
  keys = jax.random.split(jax.random.key(0) if key is None else key, steps)
  return _fit(loss, params, keys, float(learning_rate), num_rows=int(num_rows),
              batch_size=None if batch_size is None else int(batch_size))


@functools.partial(values.jit, static_argnames=("num_rows", "batch_size"))
def _fit(loss, params, keys, learning_rate, *, num_rows, batch_size):
  """Adam over ``keys`` (key[steps]): ``(params, losses f[steps])``."""
  opt = optax.adam(learning_rate)

  def step(carry, k):
    params, state = carry
    rows = (jnp.arange(num_rows) if batch_size is None
            else jax.random.randint(k, (batch_size,), 0, num_rows))
    value, grad = jax.value_and_grad(loss)(params, rows)
    updates, state = opt.update(grad, state, params)
    return (optax.apply_updates(params, updates), state), value

  (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), keys)
  return params, losses


def check_features(name: str, x) -> np.ndarray:
  """A concrete f[n, d] feature matrix without NaN/inf, or ``ValueError``."""
  a = np.asarray(x)
  if a.ndim != 2 or a.shape[0] < 1:
    raise ValueError(f"{name} must be a non-empty 2-d array [n, d], got shape {a.shape}")
  if not np.all(np.isfinite(a)):
    raise ValueError(f"{name} contains NaN or inf ({int((~np.isfinite(a)).sum())} entries); "
                     "features must be finite")
  return a
