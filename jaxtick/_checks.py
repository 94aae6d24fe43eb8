"""Argument checks shared by the public entry points.

Checks run only on concrete values: inside ``jit`` or ``vmap`` a traced value
cannot be inspected, and the caller who traces is responsible for it (the sweep
helpers check their price grids before they trace).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def concrete(x):
  """``x`` as a NumPy array, or ``None`` when it is traced."""
  if isinstance(x, jax.core.Tracer):
    return None
  try:
    return np.asarray(x)
  except (jax.errors.TracerArrayConversionError, TypeError):
    return None


def check_nonneg(name: str, value, *, allow_inf: bool = False) -> None:
  """Raises ``ValueError`` if a concrete ``value`` is NaN, negative or infinite."""
  v = concrete(value)
  if v is None:
    return
  if not np.issubdtype(v.dtype, np.number) and v.dtype != bool:
    raise ValueError(f"{name} must be numeric, got dtype {v.dtype}")
  if np.isnan(v).any():
    raise ValueError(f"{name} must not be NaN, got {value!r}")
  if (v < 0).any():
    raise ValueError(f"{name} must be >= 0, got {value!r}")
  if not allow_inf and np.isinf(v).any():
    raise ValueError(f"{name} must be finite, got {value!r}")


def check_positive(name: str, value) -> None:
  """Raises ``ValueError`` unless a concrete ``value`` is finite and > 0 everywhere."""
  v = concrete(value)
  if v is None:
    return
  v = v.astype(float)
  if not (np.isfinite(v) & (v > 0)).all():
    raise ValueError(f"{name} must be finite and > 0, got {value!r}")


def check_scalar(name: str, value, hint: str = "") -> None:
  """Raises ``ValueError`` unless ``value`` is a scalar (Python, NumPy or JAX)."""
  if np.ndim(value) != 0:
    raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}{hint}")


MAX_TICKS = 2 ** 31 - 1  # tick counters are int32


def check_ticks(min_ticks, max_ticks) -> None:
  """``min_ticks`` and ``max_ticks`` are static Python ints, 0 <= min <= max < 2^31."""
  for name, v in (("min_ticks", min_ticks), ("max_ticks", max_ticks)):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
      raise ValueError(f"{name} must be a Python int, got {v!r}")
    if v < 0:
      raise ValueError(f"{name} must be >= 0, got {v}")
    if v > MAX_TICKS:
      raise ValueError(f"{name} must be < 2**31 (tick counts are int32), got {v}")
  if max_ticks < min_ticks:
    raise ValueError(
        f"max_ticks must be >= min_ticks, got max_ticks={max_ticks} < "
        f"min_ticks={min_ticks}")


def batch_size(name: str, tree) -> int:
  """The common leading-axis size of every leaf of ``tree``.

  Raises ``ValueError`` naming ``name`` when a leaf is a scalar or the leading
  sizes disagree.
  """
  leaves = jax.tree_util.tree_leaves_with_path(tree)
  sizes = {}
  for path, leaf in leaves:
    shape = np.shape(leaf)
    if len(shape) == 0:
      raise ValueError(
          f"{name}: every leaf needs a leading batch axis, but leaf "
          f"{jax.tree_util.keystr(path) or '<root>'} is a scalar")
    sizes[jax.tree_util.keystr(path) or "<root>"] = shape[0]
  distinct = set(sizes.values())
  if len(distinct) > 1:
    detail = ", ".join(f"{k}: {v}" for k, v in sizes.items())
    raise ValueError(f"{name}: leaves disagree on the leading (batch) axis: {detail}")
  if not distinct:
    raise ValueError(f"{name}: empty pytree, expected arrays with a batch axis")
  return int(distinct.pop())


def _describe_shapes(tree) -> str:
  """``shape (8,)`` for one array, ``leaf shapes {['a']: (8,), ...}`` for a pytree."""
  leaves = jax.tree_util.tree_leaves_with_path(tree)
  if len(leaves) == 1 and not leaves[0][0]:
    return f"shape {np.shape(leaves[0][1])}"
  return "leaf shapes {" + ", ".join(f"{jax.tree_util.keystr(p)}: {np.shape(x)}"
                                     for p, x in leaves) + "}"


def check_key_dtype(name: str, keys) -> None:
  """Typed PRNG keys, or raw keys of dtype uint32 (``jax.random.PRNGKey``)."""
  dtype = getattr(keys, "dtype", None)
  if dtype is None:
    raise TypeError(f"{name} must be PRNG keys (jax.random.key or jax.random.PRNGKey), "
                    f"got {type(keys).__name__}")
  if not jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key) and dtype != np.uint32:
    raise TypeError(f"{name} must be typed keys (jax.random.key) or raw keys of dtype "
                    f"uint32 (jax.random.PRNGKey), got dtype {dtype} with shape "
                    f"{np.shape(keys)}")


def num_keys(keys) -> int:
  """Number of PRNG keys in a batch of typed or raw (uint32[..., 2]) keys."""
  check_key_dtype("keys", keys)
  shape = np.shape(keys)
  if jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key):
    if len(shape) != 1:
      raise ValueError(f"keys must have shape (n,), got {shape}")
  elif len(shape) != 2 or shape[1] != 2:
    raise ValueError(
        f"keys must be typed keys of shape (n,) or raw keys of shape (n, 2), "
        f"got shape {shape}")
  return int(shape[0])


def check_key(key, name: str = "key", hint: str = "") -> None:
  """One key: a typed key of shape () or a raw uint32 key of shape (2,)."""
  check_key_dtype(name, key)
  typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
  if np.shape(key) != (() if typed else (2,)):
    raise ValueError(f"{name} must be one key: a typed key of shape () or a raw key of "
                     f"shape (2,), got shape {np.shape(key)}{hint}")


def check_no_nan(name: str, tree) -> None:
  """Raises ``ValueError`` naming ``name`` and the leaf if a concrete float leaf holds NaN.

  Reads each concrete float leaf on the host once (``np.asarray``); traced
  leaves are skipped (the runners report NaN signals in their results).
  """
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    if not hasattr(leaf, "dtype") and not isinstance(leaf, float):
      continue
    if hasattr(leaf, "dtype") and not jnp.issubdtype(leaf.dtype, jnp.inexact):
      continue
    if isinstance(leaf, jax.core.Tracer) or not getattr(leaf, "is_fully_addressable", True):
      continue
    v = concrete(leaf)
    if v is not None and np.isnan(v).any():
      where = jax.tree_util.keystr(path)
      raise ValueError(f"{name}{where} must not hold NaN, found {int(np.isnan(v).sum())} "
                       f"NaN value(s) (at index {np.argwhere(np.isnan(v))[0].tolist()})")


def check_batch(problems, keys, price=None) -> int:
  """Checks a batch of episodes; returns its size n.

  ``keys`` must be n keys, every leaf of ``problems`` must have leading axis n
  and hold no NaN, and ``price`` (if given) must be a non-negative scalar or
  have shape (n,); n must be at least 1. A mismatch names both arguments and
  their shapes.
  """
  n = num_keys(keys)
  if n == 0:
    raise ValueError("need at least one episode, got 0 keys (an empty batch)")
  m = batch_size("problems", problems)
  if m != n:
    raise ValueError(
        f"problems and keys must have the same batch size: problems has {m} "
        f"episodes ({_describe_shapes(problems)}), keys has {n} (shape "
        f"{np.shape(keys)})")
  check_no_nan("problems", problems)
  if price is not None:
    check_nonneg("price", price, allow_inf=True)
    shape = np.shape(price)
    if len(shape) > 1 or (len(shape) == 1 and shape[0] != n):
      raise ValueError(f"price must be a scalar or have shape ({n},) (one per episode, as "
                       f"keys {np.shape(keys)}), got shape {shape}")
  return n


def check_callable(name: str, fn) -> None:
  """Raises ``TypeError`` naming ``name`` unless ``fn`` is callable."""
  if not callable(fn):
    raise TypeError(f"{name} must be callable, got {type(fn).__name__}")


_AGENT_CHECKED: dict = {}


def _avals(tree, *, rows: bool = False):
  """``tree``'s structure and its leaves' (shape, dtype); ``rows``: of one row (axis 0 cut)."""
  leaves, treedef = jax.tree_util.tree_flatten(tree)
  return treedef, tuple((np.shape(x)[1:] if rows else np.shape(x),
                         str(getattr(x, "dtype", type(x).__name__))) for x in leaves)


def check_agent(agent, problem, key, *, batched: bool = False) -> None:
  """Checks once per agent kind and shapes that the agent keeps the Tick API.

  With ``jax.eval_shape`` (nothing runs): ``uncertainty`` and ``cost`` return
  scalars, ``tick`` keeps every leaf's shape and dtype. ``problem`` and ``key``
  are one episode's (or, with ``batched``, a batch whose first row is used).
  Raises ``TypeError`` naming the function.
  """
  from jaxtick import values  # values imports nothing of ours; avoid a cycle at import
  fields = ("init", "tick", "uncertainty", "output", "cost")
  if not all(callable(getattr(agent, f, None)) for f in fields):
    raise TypeError(f"agent must be a jaxtick.Agent (five functions: {', '.join(fields)}), "
                    f"got {type(agent).__name__}")
  static, data = values.split(agent)
  # Keyed by one episode's shapes (a batch's rows), read off the leaves: a repeated call
  # traces nothing here.
  cache_key = (static, _avals(data), _avals(problem, rows=batched), _avals(key, rows=batched))
  try:
    if cache_key in _AGENT_CHECKED:
      return
  except TypeError:  # an unhashable static part: check every time
    cache_key = None
  if batched:  # the first row's shapes and dtypes (abstractly: nothing is compiled)
    problem, key = jax.eval_shape(
        lambda p, k: jax.tree_util.tree_map(lambda x: x[0], (p, k)), problem, key)
  state = jax.eval_shape(agent.init, problem, key)
  hint = (" (run_price runs one episode: for a batch use run_price_batch or front)"
          if not batched else "")
  for name in ("uncertainty", "cost"):
    out = jax.eval_shape(getattr(agent, name), state)
    if not hasattr(out, "shape") or out.shape != ():
      raise TypeError(f"agent.{name} must return a scalar f[] for one episode's state, "
                      f"got shape {getattr(out, 'shape', type(out).__name__)}{hint}")
  ticked = jax.eval_shape(agent.tick, state, key)
  if _avals(ticked) != _avals(state):
    before = dict(jax.tree_util.tree_leaves_with_path(state))
    after = dict(jax.tree_util.tree_leaves_with_path(ticked))
    diffs = [f"{jax.tree_util.keystr(p)}: {x.dtype}{list(x.shape)} -> "
             + (f"{after[p].dtype}{list(after[p].shape)}" if p in after else "missing")
             for p, x in before.items()
             if p not in after or (x.shape, x.dtype) != (after[p].shape, after[p].dtype)]
    detail = "; ".join(diffs) or "the pytree structure differs"
    raise TypeError("agent.tick must keep every leaf's shape and dtype (state after "
                    f"agent.init -> after one tick): {detail}{hint}")
  if cache_key is not None:
    _AGENT_CHECKED[cache_key] = True
