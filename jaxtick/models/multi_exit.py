"""A multi-exit MLP: K blocks, each followed by an exit head, trained with optax.

Block k maps the cached features to ``h_k = relu(feats @ w[k] + b[k])`` and its
head reads ``logits_k = h_k @ v[k] + c[k]``. To keep every block the same
shape (so that a tick can index the k-th block with a traced ``k`` and compute
*only* that block), features live in a buffer of width ``P = max(D, H)``: the
input is zero-padded to ``P`` and so is each ``h_k``; the rows of ``w[k]``
beyond the real input width are zero and receive zero gradient.

Training minimises the mean over heads of the cross-entropy (deep supervision,
as in BranchyNet / MSDNet), full batch, with ``optax.adamw``, in the library's
one fit loop (:func:`jaxtick.models.mlp.fit`: a jitted ``lax.scan``, compiled
once per shapes) and deterministic given the key.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jax.tree_util import Partial

from jaxtick.models import mlp

Array = jax.Array


class MultiExitParams(NamedTuple):
  """Parameters of a K-exit MLP.

  Attributes:
    w: f[K, P, H] block weights (block 0 reads the padded input).
    b: f[K, H] block biases.
    v: f[K, H, C] head weights.
    c: f[K, C] head biases.
  """

  w: Array
  b: Array
  v: Array
  c: Array


def init_params(key: jax.Array, in_dim: int, hidden: int, num_classes: int,
                num_heads: int = 3) -> MultiExitParams:
  """He-initialised parameters; padded rows of the blocks are zero."""
  for name, v, lo in (("in_dim", in_dim, 1), ("hidden", hidden, 1),
                      ("num_classes", num_classes, 2), ("num_heads", num_heads, 1)):
    if not isinstance(v, (int, np.integer)) or v < lo:
      raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
  return _init_params(key, int(in_dim), int(hidden), int(num_classes), int(num_heads))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _init_params(key, in_dim, hidden, num_classes, num_heads):
  """:func:`init_params` as one program per sizes.

  The barriers keep each draw apart from its scaling: fused, XLA folds the
  scale into the draw's last multiply and the weights move by an ulp.
  """
  draw = lambda k, shape: jax.lax.optimization_barrier(jax.random.normal(k, shape))
  p = max(in_dim, hidden)
  kw, kv = jax.random.split(key)
  ws = []
  for k, kk in enumerate(jax.random.split(kw, num_heads)):
    fan_in = in_dim if k == 0 else hidden
    w = draw(kk, (fan_in, hidden)) * jnp.sqrt(2.0 / fan_in)
    ws.append(jnp.zeros((p, hidden)).at[:fan_in].set(w))
  v = draw(kv, (num_heads, hidden, num_classes)) * jnp.sqrt(1.0 / hidden)
  return MultiExitParams(jnp.stack(ws), jnp.zeros((num_heads, hidden)), v,
                         jnp.zeros((num_heads, num_classes)))


def _pad(x: Array, width: int) -> Array:
  return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, width - x.shape[-1])])


def block(params: MultiExitParams, feats: Array, k) -> tuple[Array, Array]:
  """Runs block ``k`` and its head on cached features.

  Args:
    params: the model.
    feats: f[..., P] cached features (the padded input before block 0).
    k: i32[] block index (may be traced).

  Returns:
    ``(feats, logits)``: f[..., P] the next cached features, f[..., C] head k's logits.
  """
  h = jax.nn.relu(feats @ params.w[k] + params.b[k])
  logits = h @ params.v[k] + params.c[k]
  return _pad(h, params.w.shape[1]), logits


def forward(params: MultiExitParams, x: Array) -> Array:
  """The direct forward pass through all heads.

  Args:
    x: f[..., D] inputs, D <= P.

  Returns:
    f[..., K, C] logits of every head.
  """
  p = params.w.shape[1]
  if x.shape[-1] > p:
    raise ValueError(f"x has {x.shape[-1]} features, the model takes at most {p}")
  return _forward(params, x)


@jax.jit
def _forward(params: MultiExitParams, x: Array) -> Array:
  """:func:`forward` as one program per shapes."""
  feats = _pad(x, params.w.shape[1])
  out = []
  for k in range(params.w.shape[0]):
    feats, logits = block(params, feats, k)
    out.append(logits)
  return jnp.stack(out, axis=-2)


def loss(params: MultiExitParams, x: Array, y: Array, head_weights=None) -> Array:
  """Weighted mean over heads of the mean cross-entropy; f[]."""
  logits = forward(params, x)  # [n, K, C]
  ce = optax.softmax_cross_entropy_with_integer_labels(
      logits, y[:, None].astype(jnp.int32))  # [n, K]
  k = logits.shape[-2]
  w = jnp.full((k,), 1.0 / k) if head_weights is None else jnp.asarray(head_weights)
  return jnp.sum(jnp.mean(ce, axis=0) * w)


class TrainResult(NamedTuple):
  """Attributes: params (the trained model); losses f[steps] loss before each step."""

  params: MultiExitParams
  losses: Array


def train(key: jax.Array, x, y, *, num_classes: int | None = None,
          hidden: int = 64, num_heads: int = 3, steps: int = 400,
          learning_rate: float = 1e-2, weight_decay: float = 1e-4,
          head_weights=None) -> TrainResult:
  """Trains a multi-exit MLP by full-batch AdamW on ``(x, y)``.

  Args:
    key: PRNG key of the initialisation (the only randomness).
    x: f[n, D] inputs.
    y: i32[n] labels in ``[0, num_classes)``.
    num_classes: C (default ``max(y) + 1``).
    hidden: width H of every block.
    num_heads: K exits.
    steps: optimiser steps.
    learning_rate, weight_decay: AdamW settings.
    head_weights: optional f[K] weights of the heads' losses (default equal).

  Returns:
    :class:`TrainResult`.
  """
  x = jnp.asarray(x, jnp.float32)
  y = jnp.asarray(y, jnp.int32)
  if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
    raise ValueError(
        f"need x of shape [n, D] and y of shape [n], got {x.shape} and {y.shape}")
  if not isinstance(steps, int) or steps < 1:
    raise ValueError(f"steps must be a positive int, got {steps!r}")
  if not np.isfinite(np.asarray(x)).all():
    raise ValueError("x must be finite")
  c = int(np.asarray(y).max()) + 1 if num_classes is None else num_classes
  params = init_params(key, x.shape[1], hidden, c, num_heads)
  if head_weights is not None:
    head_weights = jnp.asarray(head_weights)
  params, losses = mlp.fit(Partial(_fit_loss, x, y, head_weights), params, steps=steps,
                           num_rows=x.shape[0], learning_rate=learning_rate,
                           weight_decay=float(weight_decay),
                           mask=Partial(_update_mask, int(x.shape[1])))
  return TrainResult(params, losses)


def _fit_loss(x, y, head_weights, params, rows):
  """:func:`loss` on the whole batch (full batch: ``rows`` is every row, unused)."""
  del rows
  return loss(params, x, y, head_weights)


def _update_mask(in_dim, params):
  """Update multipliers: 1, but 0 on block 0's padded input rows (they stay zero).

  NumPy constants of the shapes (``in_dim`` is a static int), so that XLA folds
  the all-ones leaves away.
  """
  num_heads, width, hidden = params.w.shape
  mask = jax.tree_util.tree_map(lambda a: np.ones(a.shape, a.dtype), params)
  row = np.arange(width)[:, None]
  real = np.asarray([in_dim] + [hidden] * (num_heads - 1))
  return mask._replace(w=(row[None] < real[:, None, None]).astype(params.w.dtype)
                       * np.ones(params.w.shape, params.w.dtype))
