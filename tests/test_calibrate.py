"""Calibration maps against scikit-learn and known parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt


def _isotonic_regression(**kwargs):
  """scikit-learn's isotonic regression (imported here: the module is slow to import, and
  only the test worker that runs these tests needs it)."""
  from sklearn.isotonic import IsotonicRegression
  return IsotonicRegression(**kwargs)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("increasing", [True, False])
def test_isotonic_equals_sklearn(seed, increasing):
  rng = np.random.default_rng(seed)
  n = 200
  u = rng.normal(size=n)
  y = (1 if increasing else -1) * np.tanh(u) + rng.normal(scale=0.5, size=n)
  w = rng.uniform(0.5, 2.0, n) if seed % 2 else None
  with jax.enable_x64(True):
    fit = jt.fit_isotonic(u, y, w, increasing=increasing)
    got = np.asarray(fit(u))
    grid = np.linspace(u.min(), u.max(), 50)
    got_grid = np.asarray(fit(grid))
  ref = _isotonic_regression(increasing=increasing).fit(u, y, sample_weight=w)
  np.testing.assert_allclose(got, ref.predict(u), rtol=1e-10, atol=1e-10)
  np.testing.assert_allclose(got_grid, ref.predict(grid), rtol=1e-10, atol=1e-10)
  d = np.diff(got_grid)
  assert np.all(d >= -1e-12) if increasing else np.all(d <= 1e-12)


def test_isotonic_pools_ties_like_sklearn():
  rng = np.random.default_rng(7)
  u = rng.integers(0, 12, 150).astype(float)
  y = 0.1 * u + rng.normal(size=150)
  with jax.enable_x64(True):
    got = np.asarray(jt.fit_isotonic(u, y)(u))
  np.testing.assert_allclose(got, _isotonic_regression().fit(u, y).predict(u), atol=1e-10)


def test_isotonic_is_jittable_and_clips_outside():
  u = jnp.linspace(0, 1, 30)
  fit = jax.jit(jt.fit_isotonic)(u, u ** 2)
  assert float(fit(jnp.array(-5.0))) == pytest.approx(0.0, abs=1e-6)
  assert float(fit(jnp.array(5.0))) == pytest.approx(1.0, abs=1e-6)
  # A fitted map is a pytree: it passes through jit as an argument.
  assert float(jax.jit(lambda m, x: m(x))(fit, jnp.array(0.5))) == pytest.approx(
      float(fit(jnp.array(0.5))))


def test_platt_recovers_known_parameters():
  rng = np.random.default_rng(0)
  n = 40_000
  u = rng.normal(1.0, 2.0, n)
  a, b = 1.7, -0.8
  y = (rng.random(n) < 1 / (1 + np.exp(-(a * u + b)))).astype(float)
  with jax.enable_x64(True):
    fit = jt.fit_platt(u, y)
    # Standard errors here are about 0.02 (a) and 0.02 (b).
    assert float(fit.a) == pytest.approx(a, abs=0.08)
    assert float(fit.b) == pytest.approx(b, abs=0.08)
    assert 0 < float(fit(jnp.array(0.0))) < 1


@pytest.mark.parametrize("x64", [True, False])
def test_platt_is_the_likelihood_optimum_to_float_precision(x64):
  """Against scipy's BFGS in float64 on the same data (and an exact gradient): L-BFGS's
  early stop must come at the optimum, not merely near it."""
  from scipy.optimize import minimize
  rng = np.random.default_rng(3)
  u = rng.normal(0.5, 1.5, 5000)
  y = (rng.random(5000) < 1 / (1 + np.exp(-(1.2 * u - 0.4)))).astype(float)

  def nll(p):  # mean log-loss and its gradient, float64
    s = p[0] * u + p[1]
    q = 1 / (1 + np.exp(-s))
    return (np.mean(np.logaddexp(0, s) - y * s),
            np.array([np.mean((q - y) * u), np.mean(q - y)]))
  ref = minimize(nll, np.zeros(2), jac=True, method="BFGS", options={"gtol": 1e-13}).x
  with jax.enable_x64(x64):
    fit = jt.fit_platt(u, y)
    got = np.array([float(fit.a), float(fit.b)])
  np.testing.assert_allclose(got, ref, rtol=1e-9 if x64 else 2e-6)


def test_calibration_inside_the_scheduler():
  agent = jt.agents.coin()
  probs = jt.problems.coin_problems(jax.random.key(0), 50)
  keys = jax.random.split(jax.random.key(1), 50)
  iso = jt.Isotonic(jnp.array([0.0, 1.0]), jnp.array([0.0, 2.0]))  # gain = 2u on [0, 1]
  a = jax.vmap(lambda p, k: jt.run_price(agent, p, k, 1.0, max_ticks=20, calib=iso))(probs, keys)
  b = jax.vmap(lambda p, k: jt.run_price(agent, p, k, 0.5, max_ticks=20))(probs, keys)
  np.testing.assert_array_equal(a.ticks, b.ticks)  # 2u > 1  <=>  u > 0.5


def test_bad_fit_input():
  with pytest.raises(ValueError, match="same length"):
    jt.fit_isotonic(np.zeros(3), np.zeros(4))
  with pytest.raises(ValueError, match="finite"):
    jt.fit_isotonic(np.array([0.0, np.nan]), np.zeros(2))
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    jt.fit_platt(np.zeros(3), np.array([0.0, 2.0, 1.0]))
  with pytest.raises(ValueError, match="at least one"):
    jt.fit_isotonic(np.zeros(0), np.zeros(0))
