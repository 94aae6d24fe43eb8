"""Agents as values: arrays travel as traced arguments, functions stay static.

An :class:`jaxtick.Agent` (and a calibration map, a ``score``) is a pytree
whose leaves mix *data* (arrays: a pool's tables, a network's weights, costs)
and *code* (functions, Python numbers that fix a shape or a loop count).
:func:`split` separates the two: every array leaf (``jax.Array`` -- tracers
included -- and NumPy arrays) is data; every other leaf is static and is
compared by value (functions: by identity). :func:`jit` is ``jax.jit`` over
that split, so a runner compiles once per *kind* of agent (its functions and
static options), static keyword options and shapes, and two agents of one
kind with different data share one program.

Writing an agent as a value: make its functions module-level and bind its
data with ``jax.tree_util.Partial`` (whose bound arguments are pytree leaves,
whose function is static)::

    def _cost(c, state):                  # module level: one object for every agent
      return c

    def my_agent(cost=1.0):
      c = jnp.asarray(cost, jnp.result_type(float))   # an array: data, traced
      return jt.Agent(Partial(_init), Partial(_tick), Partial(_uncertainty),
                      Partial(_output), Partial(_cost, c))

Python floats are data too; bind what fixes a shape or a Python loop (a
number of heads, of simulations) as a Python ``int`` (static). An agent written as plain closures keeps working:
each new closure is a new static value, so each new agent compiles afresh.

Moving a float from a constant to traced data is not always bit-neutral: XLA
rewrites ``x / constant`` as a multiplication by the reciprocal and folds
constant arrays away, so a converted agent may differ from its closure form in
the last ulp where it divides by its data; compare before and after.

Why a split at the runner's boundary rather than an explicit ``params``
argument in the Tick API (mctx, gymnax): the Tick API stays five plain
functions, agents written before keep working unchanged, and the runners need
no second argument threaded through every call; the split is the same
partition equinox's ``filter_jit`` makes.
"""

from __future__ import annotations

import collections
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def is_data(leaf) -> bool:
  """Whether a leaf is traced data: an array (JAX -- tracers too -- or NumPy) or a float.

  Python ``float`` leaves are data (a cost, a temperature never fixes a shape);
  ``int``, ``bool``, strings and functions are static.
  """
  return isinstance(leaf, (jax.Array, np.ndarray, float, complex, np.floating,
                           np.complexfloating))


class _ById:
  """Wraps an unhashable static leaf: compared by identity."""

  __slots__ = ("value",)

  def __init__(self, value):
    self.value = value

  def __hash__(self):
    return id(self.value)

  def __eq__(self, other):
    return isinstance(other, _ById) and other.value is self.value


class Static(NamedTuple):
  """The static part of a value: its tree structure and non-array leaves.

  Hashable; equal for two values of one kind (same functions, same static
  numbers, same structure) whatever their arrays hold.
  """

  treedef: Any
  leaves: tuple  # (position, type, leaf) of every non-array leaf


def _hashable(leaf):
  try:
    hash(leaf)
  except TypeError:
    return _ById(leaf)
  return leaf


def split(tree) -> tuple[Static, list]:
  """Splits ``tree`` into ``(static, data)``: :class:`Static` and its array leaves."""
  leaves, treedef = jax.tree_util.tree_flatten(tree)
  data = [x for x in leaves if is_data(x)]
  static = tuple((i, type(x), _hashable(x)) for i, x in enumerate(leaves)
                 if not is_data(x))
  return Static(treedef, static), data


def merge(static: Static, data: list):
  """Inverse of :func:`split`."""
  fixed = {i: x for i, _, x in static.leaves}
  it = iter(data)
  unwrap = lambda x: x.value if isinstance(x, _ById) else x
  leaves = [unwrap(fixed[i]) if i in fixed else next(it)
            for i in range(static.treedef.num_leaves)]
  return jax.tree_util.tree_unflatten(static.treedef, leaves)


_TRACES: collections.Counter = collections.Counter()


def trace_count(fun: Callable | str) -> int:
  """How many times the function compiled by :func:`jit` has been traced.

  Args:
    fun: the function (or its qualified name, ``module.name``).
  """
  name = fun if isinstance(fun, str) else _name(fun)
  return _TRACES[name]


def _name(fun) -> str:
  fun = getattr(fun, "__wrapped__", fun)
  return f"{fun.__module__}.{fun.__qualname__}"


def jit(fun: Callable, *, static_argnames: tuple[str, ...] = ()) -> Callable:
  """``jax.jit`` of ``fun`` whose positional arguments may hold functions.

  Every positional argument is :func:`split`: its array leaves are traced,
  the rest (functions, Python ints and bools, strings) is static. Keyword
  arguments named in ``static_argnames`` are static; other keywords are
  traced. An ``int`` that should be traced (a price of 0) must be converted to
  an array first.
  """
  name = _name(fun)

  def compiled(data, static, **kwargs):
    _TRACES[name] += 1
    return fun(*merge(static, data), **kwargs)

  # The program is named after ``fun`` (in JAX's compile logs, profiles and HLO dumps).
  compiled.__name__ = compiled.__qualname__ = getattr(fun, "__name__", "compiled")
  compiled = jax.jit(compiled, static_argnames=("static",) + tuple(static_argnames))

  @functools.wraps(fun)
  def wrapper(*args, **kwargs):
    static, data = split(args)
    return compiled(data, static, **kwargs)

  return wrapper


def bucket(n: int) -> int:
  """The size ``n`` is padded to so that nearby sizes share a program.

  The smallest ``m >= n`` of the form ``k * 2**j`` with ``k`` in 4..7 (sizes
  below 8 are kept): four buckets per octave, so padding adds under 25%.
  """
  if n < 8:
    return n
  j = n.bit_length() - 3  # n < 8 * 2**j
  k = -(-n // (1 << j))
  return k << j


def host_arg(x):
  """``x`` as an argument of a compiled function, converting nothing on the device.

  Arrays (JAX, tracers, NumPy) and scalars pass as they are; sequences become
  NumPy arrays. A compiled function called with it gets ``x``'s values and
  dtype as ``jnp.asarray(x)`` would (``jnp.asarray`` outside ``jit`` compiles
  a copy for each new shape; passing a NumPy array to ``jit`` does not).
  """
  if isinstance(x, (jax.Array, np.ndarray, np.generic, int, float, complex)):
    return x
  return np.asarray(x)


def device_array(x, dtype=None) -> jax.Array:
  """``jnp.asarray(x, dtype)``, a host value converted by NumPy and transferred.

  The same array, without compiling a conversion for each new shape (JAX
  arrays are converted by ``jnp.asarray``, a no-op at their own dtype).
  ``dtype=None``: JAX's canonical dtype of ``x``'s (as ``jnp.asarray(x)``).
  """
  if isinstance(x, jax.Array):
    return jnp.asarray(x, dtype)
  x = np.asarray(x)
  dtype = jax.dtypes.canonicalize_dtype(x.dtype if dtype is None else dtype)
  return jax.device_put(x.astype(dtype, copy=False))


def pad_rows(tree, size: int):
  """Pads every leaf of ``tree`` along axis 0 to ``size`` rows by repeating its last row.

  Scalar leaves (a flag, a count) are left as they are. A padded leaf is a JAX
  array. NumPy leaves and arrays on the (one) CPU device (typed PRNG keys
  too, through their key data) are padded with NumPy and transferred once:
  no program is compiled for a new shape; other leaves (on an accelerator or
  sharded, tracers) go through one compiled program per shape.
  """
  def pad(x):
    if np.ndim(x) == 0:
      return x
    extra = size - np.shape(x)[0]
    if extra == 0:
      return x
    if not _on_host(x):
      return _pad_compiled(x, size)
    typed = jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
    h = np.asarray(jax.random.key_data(x) if typed else x)
    h = np.concatenate([h, np.repeat(h[-1:], extra, axis=0)])
    return (jax.random.wrap_key_data(h, impl=jax.random.key_impl(x)) if typed
            else jax.device_put(h))
  return jax.tree_util.tree_map(pad, tree)


def _on_host(x) -> bool:
  """Whether ``x`` is a NumPy array or a concrete JAX array (PRNG keys too) on one CPU device."""
  if isinstance(x, np.ndarray):
    return True
  if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer):
    return False
  devices = x.sharding.device_set
  return len(devices) == 1 and next(iter(devices)).platform == "cpu"


@functools.partial(jax.jit, static_argnums=1)
def _pad_compiled(x, size: int):
  return jnp.concatenate([x, jnp.repeat(x[-1:], size - x.shape[0], axis=0)])
