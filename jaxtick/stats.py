"""Interval estimates and paired tests for reported proportions.

Vectorised over any leading shape and jit-compatible. For full double
precision, call them with 64-bit types enabled (``with jax.enable_x64():``).
Each function checks its concrete arguments on the host, then runs one
compiled program (compiled once per shapes and dtypes; a Python ``z`` is a
constant of it, as it was op by op).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick import _checks, values

Array = jax.Array

Z95 = 1.959963984540054  # standard normal 0.975 quantile


class Interval(NamedTuple):
  """A confidence interval ``[lo, hi]``."""

  lo: Array
  hi: Array


def _check_counts(successes, n):
  """Concrete counts must satisfy ``0 <= successes <= n``, finite, ``n`` whole.

  ``successes`` may be fractional (an interpolated count); traced counts are
  the caller's.
  """
  s, m = _checks.concrete(successes), _checks.concrete(n)
  if s is not None and (np.isnan(s).any() or (s < 0).any()):
    raise ValueError(f"successes must be >= 0 (and not NaN), got {successes!r}")
  if m is not None and (np.isnan(m).any() or (m < 0).any()):
    raise ValueError(f"n must be >= 0 (and not NaN), got {n!r}")
  if m is not None and not (np.isfinite(m) & (m == np.round(m))).all():
    raise ValueError(f"n must be a finite whole number of trials, got {n!r}")
  if s is not None and m is not None and (s > m).any():
    raise ValueError(f"successes must be <= n, got successes={successes!r}, n={n!r}")


def _check_z(z):
  _checks.check_scalar("z", z)
  _checks.check_positive("z", z)
  top = math.sqrt(float(np.finfo(jnp.result_type(float)).max))
  zc = _checks.concrete(z)
  if zc is not None and float(zc) >= top:
    raise ValueError(f"z must be below {top:.3g} (its square must be a finite float), "
                     f"got {z!r}")


def _with_z(core):
  """Runs ``core(successes, n, z)`` compiled: a Python ``z`` static, any other traced."""
  static = jax.jit(core, static_argnames="z")
  traced = jax.jit(core)

  @functools.wraps(core)
  def run(successes, n, z):
    _check_z(z)
    _check_counts(successes, n)
    fn = static if isinstance(z, (int, float)) else traced
    return fn(values.host_arg(successes), values.host_arg(n), z=z)
  return run


def _pn(successes, n):
  s = jnp.asarray(successes)
  n = jnp.asarray(n)
  dtype = jnp.result_type(float)
  s, n = s.astype(dtype), n.astype(dtype)
  p = jnp.where(n > 0, s / jnp.where(n > 0, n, 1.0), jnp.nan)
  return p, n


@jax.jit
def _proportion(successes, n):
  return _pn(successes, n)[0]


def proportion(successes, n) -> Array:
  """``successes / n`` (NaN where n = 0)."""
  _check_counts(successes, n)
  return _proportion(values.host_arg(successes), values.host_arg(n))


def _normal(successes, n, z):
  p, n = _pn(successes, n)
  half = z * jnp.sqrt(p * (1 - p) / n)
  return Interval(jnp.clip(p - half, 0.0, 1.0), jnp.clip(p + half, 0.0, 1.0))


def _wilson(successes, n, z):
  p, n = _pn(successes, n)
  z2 = z * z
  denom = 1 + z2 / n
  centre = (p + z2 / (2 * n)) / denom
  half = z * jnp.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
  # At p = 0 (p = 1) the lower (upper) endpoint is exactly 0 (1); rounding
  # would otherwise leave p itself just outside the interval.
  lo = jnp.where(p == 0, 0.0, jnp.clip(centre - half, 0.0, 1.0))
  hi = jnp.where(p == 1, 1.0, jnp.clip(centre + half, 0.0, 1.0))
  return Interval(lo, hi)


_normal_compiled = _with_z(_normal)
_wilson_compiled = _with_z(_wilson)


def normal_interval(successes, n, z: float = Z95) -> Interval:
  """Normal-approximation (Wald) interval ``p +- z sqrt(p(1-p)/n)``, clipped to [0, 1]."""
  return _normal_compiled(successes, n, z)


def wilson_interval(successes, n, z: float = Z95) -> Interval:
  """Wilson score interval: the ``p0`` with ``|p - p0| <= z sqrt(p0(1-p0)/n)``."""
  return _wilson_compiled(successes, n, z)


def binom_cdf_half(k, n) -> Array:
  """``P(X <= k)`` for ``X ~ Binomial(n, 1/2)`` (k, n integer arrays, n >= 0).

  Any integer ``k`` is valid: 0 below 0, 1 at and above ``n``.
  """
  m = _checks.concrete(n)
  if m is not None and (np.isnan(m).any() or (m < 0).any()):
    raise ValueError(f"n must be >= 0 (and not NaN), got {n!r}")
  return _binom_cdf_half(values.host_arg(k), values.host_arg(n))


@jax.jit
def _binom_cdf_half(k, n):
  dtype = jnp.result_type(float)
  k = jnp.asarray(k).astype(dtype)
  n = jnp.asarray(n).astype(dtype)
  full = k >= n
  a = jnp.where(full, 1.0, n - k)
  cdf = jax.scipy.special.betainc(a, k + 1, jnp.asarray(0.5, dtype))
  return jnp.where(k < 0, 0.0, jnp.where(full, 1.0, cdf))


class McNemar(NamedTuple):
  """Exact two-sided McNemar test of paired correctness.

  Attributes:
    b: i32[...] pairs where A is right and B wrong.
    c: i32[...] pairs where A is wrong and B right.
    n: i32[...] discordant pairs ``b + c``.
    p: f[...] exact two-sided p-value ``min(1, 2 P(X <= min(b, c)))``,
      ``X ~ Binomial(n, 1/2)``; 1 when ``n = 0``.
  """

  b: Array
  c: Array
  n: Array
  p: Array


def mcnemar_counts(b, c) -> McNemar:
  """Exact McNemar test from discordant counts ``b`` and ``c`` (each >= 0)."""
  for name, v in (("b", b), ("c", c)):
    x = _checks.concrete(v)
    if x is not None and (np.isnan(x).any() or (x < 0).any()):
      raise ValueError(f"{name} (a count of discordant pairs) must be >= 0, got {v!r}")
    if x is not None and not (np.isfinite(x) & (x == np.round(x)) & (x < 2 ** 31)).all():
      raise ValueError(f"{name} (a count of discordant pairs) must be a whole number "
                       f"below 2**31, got {v!r}")
  return _mcnemar_counts(*(_int32(v) for v in (b, c)))


def _int32(v):
  """A concrete count as int32 on the host (as ``jnp.asarray`` converts it); JAX arrays as they are."""
  return v if isinstance(v, jax.Array) else np.asarray(v, np.int32)


@jax.jit
def _mcnemar_counts(b, c) -> McNemar:
  b = jnp.asarray(b, jnp.int32)
  c = jnp.asarray(c, jnp.int32)
  n = b + c
  p = jnp.minimum(1.0, 2.0 * _binom_cdf_half(jnp.minimum(b, c), n))
  return McNemar(b, c, n, jnp.where(n > 0, p, 1.0))


def mcnemar(correct_a: Array, correct_b: Array, axis: int = -1) -> McNemar:
  """Exact McNemar test from two paired correctness vectors.

  Args:
    correct_a: bool[..., N] whether A was right on each instance.
    correct_b: bool[..., N] whether B was right on each instance.

  Returns:
    :class:`McNemar` with ``b`` = #(A right, B wrong), ``c`` = #(A wrong, B right).
  """
  for name, v in (("correct_a", correct_a), ("correct_b", correct_b)):
    x = _checks.concrete(v)
    if x is not None and x.dtype != bool and not np.isin(x, (0, 1)).all():
      raise ValueError(f"{name} must be bool (or 0/1) per instance, got values other "
                       f"than 0 and 1")
  if np.shape(correct_a) != np.shape(correct_b):
    raise ValueError(f"correctness vectors must have the same shape, got "
                     f"{np.shape(correct_a)} and {np.shape(correct_b)}")
  return _mcnemar(values.host_arg(correct_a), values.host_arg(correct_b), axis=axis)


@functools.partial(jax.jit, static_argnames="axis")
def _mcnemar(correct_a, correct_b, *, axis):
  a = jnp.asarray(correct_a, bool)
  bb = jnp.asarray(correct_b, bool)
  b = jnp.sum(a & ~bb, axis=axis)
  c = jnp.sum(~a & bb, axis=axis)
  return _mcnemar_counts(b, c)
