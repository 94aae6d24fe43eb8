"""A plain-JAX multilayer perceptron and the library's one optax fit loop.

:func:`fit` (Adam, or AdamW with a weight decay; full batch or uniform
minibatches; an optional update mask) trains every model of the library: the
MLP of :func:`init`/:func:`apply` in the accuracy probe
(:mod:`jaxtick.alloc.probe`) and the imitation policy
(:func:`jaxtick.alloc.lagrangian.fit_imitation`), and the multi-exit network
(:func:`jaxtick.models.train`), which keeps its own architecture.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

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
  return _init(key, tuple(int(v) for v in sizes))


@functools.partial(jax.jit, static_argnums=1)
def _init(key: Array, sizes: tuple[int, ...]) -> Params:
  """:func:`init` as one program per sizes.

  The barrier keeps each draw apart from its scaling (fused, XLA would fold
  the scale into the draw's last multiply: an ulp off the op-by-op weights).
  """
  keys = jax.random.split(key, len(sizes) - 1)
  draw = lambda k, shape: jax.lax.optimization_barrier(jax.random.normal(k, shape))
  return [(draw(k, (a, b)) * np.sqrt(2.0 / (a + b)), jnp.zeros(b))
          for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def apply(params: Params, x: Array) -> Array:
  """f[..., out]: ReLU hidden layers, linear output."""
  for w, b in params[:-1]:
    x = jax.nn.relu(x @ w + b)
  w, b = params[-1]
  return x @ w + b


def fit(loss: Callable[[Params, Array], Array], params, *, steps: int,
        num_rows: int, learning_rate: float = 1e-3, batch_size: int | None = None,
        key: Array | None = None, weight_decay: float | None = None,
        mask: Callable | None = None) -> tuple[Any, Array]:
  """Minimises ``loss(params, rows)`` by Adam; returns ``(params, losses f[steps])``.

  ``rows`` is i32[b]: every row (``batch_size=None``, full batch) or a
  uniform minibatch of ``batch_size`` of the ``num_rows`` rows, drawn from
  ``key`` at each step. ``losses[t]`` is the loss before step t.

  Compiled once per (``loss`` kind, ``num_rows``, ``batch_size``, shapes):
  ``loss`` is a value (:mod:`jaxtick.values`) -- pass a module-level function
  with its data bound by ``jax.tree_util.Partial`` (``Partial(my_loss, x, y)``
  with ``my_loss(x, y, params, rows)``): its arrays and floats are traced, so
  another data set of the same shapes reuses the program. A new lambda or
  closure per call compiles afresh. ``learning_rate``, ``weight_decay`` and
  the per-step keys are traced too (``steps`` is the keys' length: a shape).

  Args:
    loss: ``loss(params, rows) -> f[]``.
    params: any pytree of arrays.
    steps, num_rows, learning_rate, batch_size, key: as above.
    weight_decay: ``None``: ``optax.adam``; a float: ``optax.adamw`` with that
      decoupled weight decay.
    mask: ``mask(params) -> pytree`` of update multipliers (e.g. 0 for weights
      that must stay put), a value as ``loss`` is; applied after the
      optimiser's update. Build it from shapes only (NumPy constants), so that
      XLA folds it.
  """
  if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
    raise ValueError(f"steps must be a positive int, got {steps!r}")
  if not (np.isfinite(learning_rate) and learning_rate > 0):
    raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate!r}")
  if weight_decay is not None and not (np.isfinite(weight_decay) and weight_decay >= 0):
    raise ValueError(f"weight_decay must be None or finite and >= 0, got {weight_decay!r}")
  if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
    raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
  if mask is not None and not callable(mask):
    raise TypeError(f"mask must be None or a function mask(params) -> pytree, got "
                    f"{type(mask).__name__}")
  keys = jax.random.split(jax.random.key(0) if key is None else key, steps)
  wd = None if weight_decay is None else float(weight_decay)
  return _fit(loss, params, keys, float(learning_rate), wd, mask, num_rows=int(num_rows),
              batch_size=None if batch_size is None else int(batch_size))


@functools.partial(values.jit, static_argnames=("num_rows", "batch_size"))
def _fit(loss, params, keys, learning_rate, weight_decay, mask, *, num_rows, batch_size):
  """Adam(W) over ``keys`` (key[steps]): ``(params, losses f[steps])``."""
  opt = (optax.adam(learning_rate) if weight_decay is None
         else optax.adamw(learning_rate, weight_decay=weight_decay))
  scale = None if mask is None else mask(params)

  def step(carry, k):
    params, state = carry
    rows = (jnp.arange(num_rows) if batch_size is None
            else jax.random.randint(k, (batch_size,), 0, num_rows))
    value, grad = jax.value_and_grad(loss)(params, rows)
    updates, state = opt.update(grad, state, params)
    if scale is not None:
      updates = jax.tree_util.tree_map(lambda u, m: u * m, updates, scale)
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
