"""Intervals and McNemar against exact computations."""

import math
from fractions import Fraction

import jax
import numpy as np
import pytest

from jaxtick import stats

Z = stats.Z95


def _exact_mcnemar_p(b, c):
  n = b + c
  if n == 0:
    return 1.0
  tail = sum(Fraction(math.comb(n, k), 2 ** n) for k in range(min(b, c) + 1))
  return float(min(Fraction(1), 2 * tail))


@pytest.mark.parametrize("b,c,p", [(16, 12, 0.5716), (9, 9, 1.0000), (10, 12, 0.8318)])
def test_mcnemar_appendix_c(b, c, p):
  with jax.enable_x64(True):
    t = stats.mcnemar_counts(b, c)
    assert int(t.n) == b + c
    assert round(float(t.p), 4) == p


def test_mcnemar_matches_exact_binomial_sums_on_a_grid():
  grid = [(b, c) for b in range(0, 31, 3) for c in range(0, 31, 4)] + [(0, 0), (0, 1), (1, 0), (200, 170)]
  b = np.array([g[0] for g in grid])
  c = np.array([g[1] for g in grid])
  with jax.enable_x64(True):
    t = stats.mcnemar_counts(b, c)
    got = np.asarray(t.p)
  want = np.array([_exact_mcnemar_p(*g) for g in grid])
  np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
  assert float(got[grid.index((0, 0))]) == 1.0


def test_mcnemar_from_vectors_counts_discordant_pairs():
  rng = np.random.default_rng(0)
  a = rng.random(500) < 0.8
  bb = rng.random(500) < 0.75
  t = stats.mcnemar(a, bb)
  assert int(t.b) == int(np.sum(a & ~bb)) and int(t.c) == int(np.sum(~a & bb))
  with pytest.raises(ValueError, match="same shape"):
    stats.mcnemar(a, bb[:10])


CASES = [(0, 10), (10, 10), (1, 1), (0, 1), (5, 17), (1150, 1200), (1, 1200), (600, 1200), (37, 40)]


@pytest.mark.parametrize("s,n", CASES)
def test_normal_interval_matches_formula(s, n):
  p = s / n
  half = Z * math.sqrt(p * (1 - p) / n)
  with jax.enable_x64(True):
    lo, hi = stats.normal_interval(s, n)
    assert float(lo) == pytest.approx(max(0.0, p - half), abs=1e-14)
    assert float(hi) == pytest.approx(min(1.0, p + half), abs=1e-14)


@pytest.mark.parametrize("s,n", CASES)
def test_wilson_interval_inverts_the_score_test(s, n):
  """Each finite endpoint p0 solves |p - p0| = z sqrt(p0 (1 - p0) / n) exactly."""
  p = s / n
  with jax.enable_x64(True):
    lo, hi = (float(x) for x in stats.wilson_interval(s, n))
  for p0 in (lo, hi):
    if 1e-12 < p0 < 1.0 - 1e-12:  # endpoints at 0 or 1 are exact roots
      assert abs(p - p0) == pytest.approx(Z * math.sqrt(p0 * (1 - p0) / n), rel=1e-9)
  assert 0.0 <= lo <= p <= hi <= 1.0
  if s == 0:
    assert lo == 0.0 and hi > 0.0
  if s == n:
    assert hi == pytest.approx(1.0) and lo < 1.0


def test_wilson_coverage_matches_exact_binomial_sum():
  """Coverage of the Wilson interval computed by exact enumeration is near 95%."""
  n, p_true = 60, 0.3
  with jax.enable_x64(True):
    lo, hi = stats.wilson_interval(np.arange(n + 1), n)
  lo, hi = np.asarray(lo), np.asarray(hi)
  cover = sum(math.comb(n, k) * p_true ** k * (1 - p_true) ** (n - k)
              for k in range(n + 1) if lo[k] <= p_true <= hi[k])
  assert 0.92 < cover < 0.98


def test_spec_table_1_interval():
  """Spec Table 1: 1150/1200 = 0.9583, normal CI [0.9470, 0.9696]."""
  with jax.enable_x64(True):
    lo, hi = stats.normal_interval(1150, 1200)
  assert (round(float(lo), 4), round(float(hi), 4)) == (0.9470, 0.9696)


def test_vectorised_shapes():
  s = np.array([[1, 2, 3], [4, 5, 6]])
  lo, hi = stats.wilson_interval(s, 10)
  assert lo.shape == (2, 3) and hi.shape == (2, 3)
