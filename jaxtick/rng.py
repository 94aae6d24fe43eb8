"""Fast tick keys and cheap single draws from them.

:func:`fold_in` equals ``jax.random.fold_in`` bit for bit, but evaluates the
threefry hash as straight-line code: on CPU, JAX lowers threefry as a rolled
five-step loop, which inside a tick loop costs a dozen small kernels per tick
instead of fusing with the tick.

A tick key is ``fold_in(episode_key, t + 1)``. Under JAX's default threefry
PRNG, ``fold_in`` *is* one evaluation of the threefry hash on counter
``(0, t + 1)``: the key's two words are already uniformly distributed random
bits, and XOR-ing them gives exactly ``jax.random.bits(episode_key, (T,))[t + 1]``
when ``jax_threefry_partitionable`` is on (JAX's default since 0.5; with it off,
``jax.random.bits`` lays out its counters differently and the streams differ,
though every draw here is still a threefry hash of the episode key and ``t + 1``).
:func:`uniform` and :func:`bernoulli` use those bits directly, so a tick that
needs one random number costs one hash instead of two. Under any other PRNG
implementation they fall back to ``jax.random``.

These functions are our own code, not a JAX API: their results do not change when
JAX does. ``tests/test_signals_rng.py`` checks them bit for bit against
``jax.random`` (``fold_in``; ``bits`` under ``jax_threefry_partitionable``), so a
JAX release that changes its PRNG is seen there.

Use them for the *one* draw a tick makes from its key; for more draws, split or
use ``jax.random`` on the key as usual.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def _is_typed(key) -> bool:
  return jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)


def _is_threefry(key) -> bool:
  if _is_typed(key):
    return str(jax.random.key_impl(key)) == "threefry2x32"
  return key.shape[-1:] == (2,) and jax.config.jax_default_prng_impl == "threefry2x32"


def _rotl(x, r):
  return (x << jnp.uint32(r)) | (x >> jnp.uint32(32 - r))


def threefry2x32(k1, k2, x1, x2):
  """The Threefry-2x32 block function (20 rounds), unrolled.

  Args:
    k1, k2: u32[...] the key words.
    x1, x2: u32[...] the counter words.

  Returns:
    ``(y1, y2)``, u32[...] each -- identical to JAX's ``threefry2x32`` primitive.
  """
  rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
  ks = (k1, k2, k1 ^ k2 ^ jnp.uint32(0x1BD11BDA))
  x1, x2 = x1 + ks[0], x2 + ks[1]
  for i in range(5):
    for r in rotations[i % 2]:
      x1 = x1 + x2
      x2 = _rotl(x2, r) ^ x1
    x1 = x1 + ks[(i + 1) % 3]
    x2 = x2 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
  return x1, x2


def fold_in(key, data) -> jax.Array:
  """``jax.random.fold_in(key, data)``, bit for bit, as fusible straight-line code.

  Args:
    key: a typed key or a raw ``u32[2]`` key (threefry; other implementations
      fall back to ``jax.random.fold_in``).
    data: an integer scalar (taken modulo 2^32, as JAX does).
  """
  if not _is_threefry(key):
    return jax.random.fold_in(key, data)
  return _fold_in_threefry(key, data)


def bits(key) -> Array:
  """u32[]: 32 random bits carried by a freshly derived key."""
  if not _is_threefry(key):
    return jax.random.bits(key, (), jnp.uint32)
  return _xor_words(key)


def uniform(key) -> Array:
  """f32[] in [0, 1) from a freshly derived key (23 random mantissa bits)."""
  return _unit_float(bits(key))


def bernoulli(key, p: Array) -> Array:
  """bool[]: True with probability ``p`` (to 2^-23), from a freshly derived key."""
  return _below(bits(key), p)


# The compiled cores (module level: one program per input shape and dtype, so a
# call outside ``jit`` runs one program, not a dozen eager ops). Which PRNG
# implementation a key uses is decided before them, on the host.


@jax.jit
def _fold_in_threefry(key, data):
  typed = _is_typed(key)
  words = jax.random.key_data(key) if typed else key
  count = jnp.asarray(data).astype(jnp.uint32)
  y1, y2 = threefry2x32(words[..., 0], words[..., 1],
                        jnp.zeros_like(count), count)
  out = jnp.stack([y1, y2], axis=-1)
  return jax.random.wrap_key_data(out, impl="threefry2x32") if typed else out


@jax.jit
def _xor_words(key):
  words = jax.random.key_data(key) if _is_typed(key) else key
  return words[..., 0] ^ words[..., 1]


def _unit_float_core(b):
  mantissa = (b >> jnp.uint32(9)) | jnp.uint32(0x3F800000)
  return jax.lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0


_unit_float = jax.jit(_unit_float_core)


@jax.jit
def _below(b, p):
  return _unit_float_core(b) < p
