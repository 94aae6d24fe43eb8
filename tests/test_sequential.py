"""Tests for jaxtick.agents.sequential and jaxtick.problems.streams.

Known answers: an independent NumPy per-episode gap test fed the same
observation streams; exact SPRT error rates and ASN by dynamic programming over
(n, successes); gambler's-ruin closed forms where Wald's approximations are
exact; Wald's bounds.
"""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick import rng
from jaxtick.agents import sequential as sq

MAX_TICKS = 32


def _keys(seed, n):
  return jax.random.split(jax.random.key(seed), n)


def _stream(keys, num, model):
  """The documented observation stream: the t-th tick draws from tick_key(k, t)."""
  def one(k):
    ks = jax.vmap(lambda t: jt.tick_key(k, t))(jnp.arange(num))
    if model == "bernoulli":
      return jax.vmap(rng.uniform)(ks)
    return jax.vmap(lambda kk: jax.random.normal(kk, (), jnp.float64))(ks)
  return np.asarray(jax.vmap(one)(keys), np.float64)


def _numpy_gap_test(theta, draws, z, model, min_samples, max_ticks, sigma=1.0):
  """Per-episode reference: returns (ticks, decision)."""
  n = np.zeros(2)
  s1 = np.zeros(2)
  s2 = np.zeros(2)
  t = 0
  while t < max_ticks:
    arm = t % 2
    if model == "bernoulli":
      x = float(draws[t] < theta[arm])
    else:
      x = theta[arm] + sigma * draws[t]
    n[arm] += 1
    s1[arm] += x
    s2[arm] += x * x
    t += 1
    if t < min_samples:
      continue
    mean = s1 / np.maximum(n, 1)
    if model == "bernoulli":
      pt = (s1 + 1) / (n + 2)
      var = pt * (1 - pt)
    else:
      var = (s2 - n * mean ** 2) / np.maximum(n - 1, 1)
    se = math.sqrt(np.sum(var / np.maximum(n, 1)))
    gap = mean[0] - mean[1]
    if gap != 0 and abs(gap) >= z * se:
      break
  mean = s1 / np.maximum(n, 1)
  return t, int(mean[1] > mean[0])


@pytest.mark.parametrize("model", ["bernoulli", "gaussian"])
def test_gap_test_under_vmap_matches_numpy_reference(model):
  n, zs = 200, [0.5, 1.0, 1.7]
  with jax.enable_x64(True):
    if model == "bernoulli":
      theta = jt.problems.bernoulli_pairs(jax.random.key(1), n)
    else:
      theta = jt.problems.gaussian_pairs(jax.random.key(1), n, scale=0.5)
    keys = _keys(2, n)
    agent = sq.gap_test(model)
    draws = _stream(keys, MAX_TICKS, model)
    run = jax.jit(jax.vmap(lambda p, k, pr: jt.run_price(
        agent, p, k, pr, max_ticks=MAX_TICKS), in_axes=(0, 0, None)))
    theta_np = np.asarray(theta)
    for z in zs:
      res = run(theta, keys, jt.price_from_z(z))
      ticks = np.asarray(res.ticks)
      out = np.asarray(jax.vmap(agent.output)(res.state))
      chex.assert_shape(out, (n,))
      ref = [_numpy_gap_test(theta_np[i], draws[i], z, model, 4, MAX_TICKS)
             for i in range(n)]
      np.testing.assert_array_equal(ticks, [r[0] for r in ref])
      np.testing.assert_array_equal(out, [r[1] for r in ref])
      assert len(np.unique(ticks)) > 3  # the test really stops adaptively


def test_fixed_budget_uses_first_ticks_of_the_same_stream():
  """Price 0 never stops early: the decision is the mean gap over ticks 0..31."""
  n = 100
  theta = jt.problems.bernoulli_pairs(jax.random.key(3), n)
  keys = _keys(4, n)
  agent = sq.gap_test()
  res = jax.vmap(lambda p, k: jt.run_price(agent, p, k, 0.0,
                                           max_ticks=MAX_TICKS))(theta, keys)
  np.testing.assert_array_equal(np.asarray(res.ticks), MAX_TICKS)
  x = _stream(keys, MAX_TICKS, "bernoulli") < np.asarray(theta)[:, [0, 1] * 16]
  means = np.stack([x[:, 0::2].mean(1), x[:, 1::2].mean(1)], 1)
  np.testing.assert_array_equal(np.asarray(jax.vmap(agent.output)(res.state)),
                                (means[:, 1] > means[:, 0]).astype(int))


@pytest.mark.parametrize("which", ["gap", "sprt"])
def test_batch_with_different_stopping_ticks_equals_each_alone(which):
  n = 40
  if which == "gap":
    agent = sq.gap_test()
    problems = jt.problems.bernoulli_pairs(jax.random.key(5), n)
    price = jt.price_from_z(1.0)
  else:
    agent = sq.sprt("gaussian", 0.0, 0.5, 0.05, 0.1)
    problems = jt.problems.hypothesis_problems(jax.random.key(5), n, 0.0, 0.5)[0]
    price = 0.0
  keys = _keys(6, n)
  batch = jax.jit(lambda p, k: jt.run_price_batch(
      agent, p, k, price, max_ticks=MAX_TICKS, lanes=7))(problems, keys)
  single = jax.jit(lambda p, k: jt.run_price(agent, p, k, price,
                                             max_ticks=MAX_TICKS))
  vm = jax.jit(jax.vmap(single))(problems, keys)
  ticks = np.asarray(batch.ticks)
  assert len(np.unique(ticks)) > 3
  np.testing.assert_array_equal(ticks, np.asarray(vm.ticks))
  for i in range(0, n, 5):
    alone = single(problems[i], keys[i])
    assert int(alone.ticks) == ticks[i]
    for a, b in zip(jax.tree_util.tree_leaves(alone.state),
                    jax.tree_util.tree_leaves(batch.state)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[i])


# -- SPRT ---------------------------------------------------------------------


def _exact_bernoulli_sprt(theta, p0, p1, alpha, beta, max_n):
  """Exact P(accept H1), E[N] and the min |S_n - boundary| by DP over (n, k)."""
  ln_a = math.log((1 - beta) / alpha)
  ln_b = math.log(beta / (1 - alpha))
  a, b = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
  mass = np.array([1.0])  # over k successes among n continuing observations
  accept1 = en = 0.0
  closest = np.inf
  for n in range(1, max_n + 1):
    new = np.zeros(n + 1)
    new[:-1] += mass * (1 - theta)
    new[1:] += mass * theta
    k = np.arange(n + 1)
    s = k * a + (n - k) * b
    reached = new > 0
    closest = min(closest, np.min(np.abs(s - ln_a)[reached]),
                  np.min(np.abs(s - ln_b)[reached]))
    up, down = s >= ln_a, s <= ln_b
    accept1 += new[up].sum()
    en += n * (new[up].sum() + new[down].sum())
    mass = np.where(up | down, 0.0, new)
  return accept1, en + max_n * mass.sum(), mass.sum(), closest


def _run_sprt(agent, theta, seed, max_ticks, batch=True):
  keys = _keys(seed, theta.shape[0])
  if batch:
    run = lambda th, k: jt.run_price_batch(agent, th, k, 0.0,
                                           max_ticks=max_ticks, lanes=4096)
  else:
    run = jax.vmap(lambda th, k: jt.run_price(agent, th, k, 0.0,
                                              max_ticks=max_ticks))
  res = jax.jit(run)(theta, keys)
  return (np.asarray(jax.vmap(agent.output)(res.state)),
          np.asarray(res.ticks).astype(np.float64))


def test_bernoulli_sprt_matches_exact_dp_and_wald_bounds():
  p0, p1, alpha, beta, max_n, n = 0.3, 0.5, 0.05, 0.1, 600, 20000
  bound_a, bound_b = sq.wald_error_bounds(alpha, beta)
  for h, theta in ((0, p0), (1, p1)):
    acc1, asn, tail, closest = _exact_bernoulli_sprt(theta, p0, p1, alpha, beta,
                                                     max_n)
    assert tail < 1e-11 and closest > 1e-9  # a float64 LLR cannot flip a stop
    with jax.enable_x64(True):
      agent = sq.sprt("bernoulli", p0, p1, alpha, beta)
      out, ticks = _run_sprt(agent, jnp.full(n, theta), 10 + h, max_n,
                              batch=False)
    err = out.mean() if h == 0 else 1 - out.mean()
    exact_err = acc1 if h == 0 else 1 - acc1
    se = math.sqrt(exact_err * (1 - exact_err) / n)
    assert abs(err - exact_err) < 4 * se, (h, err, exact_err)
    assert abs(ticks.mean() - asn) < 4 * ticks.std() / math.sqrt(n), (h, ticks.mean(), asn)
    # Wald's bounds on the error rates, exactly and empirically.
    bound = bound_a if h == 0 else bound_b
    assert exact_err <= bound and err <= bound + 3 * se
    # Wald's ASN ignores the overshoot: the true ASN lies above it, but near.
    wald = float(sq.wald_asn(np.array(theta), "bernoulli", p0, p1, alpha, beta))
    assert wald < asn < 1.3 * wald
    assert ticks.mean() > wald


def test_gaussian_sprt_error_rates_and_asn_near_wald():
  t0, t1, alpha, beta, n = 0.0, 0.5, 0.05, 0.1, 20000
  agent = sq.sprt("gaussian", t0, t1, alpha, beta)
  theta, truth = jt.problems.hypothesis_problems(jax.random.key(20), n, t0, t1)
  out, ticks = _run_sprt(agent, theta, 21, 2000)
  truth = np.asarray(truth)
  assert ticks.max() < 2000  # no episode was cut off
  bounds = sq.wald_error_bounds(alpha, beta)
  ln_a, ln_b = sq.wald_thresholds(alpha, beta)
  drift = (t1 - t0) / 1.0  # sd of one LLR increment (sigma = 1)
  for h in (0, 1):
    sel = truth == h
    m = int(sel.sum())
    err = out[sel].mean() if h == 0 else 1 - out[sel].mean()
    assert err <= bounds[h] + 3 * math.sqrt(bounds[h] * (1 - bounds[h]) / m)
    asn = ticks[sel].mean()
    se = ticks[sel].std() / math.sqrt(m)
    th = np.array(t1 if h else t0)
    wald = float(sq.wald_asn(th, "gaussian", t0, t1, alpha, beta))
    # Siegmund's correction: boundaries pushed out by rho * sd(z), rho = 0.583.
    shift = 0.583 * drift
    mean_z = drift ** 2 / 2 * (1 if h else -1)
    oc = float(sq.wald_oc(th, "gaussian", t0, t1, alpha, beta))
    corrected = (oc * (ln_b - shift) + (1 - oc) * (ln_a + shift)) / mean_z
    assert asn > wald - 3 * se, (h, asn, wald)
    assert asn < corrected * 1.05 + 3 * se, (h, asn, corrected)


def test_wald_formulas_exact_on_a_lattice_without_overshoot():
  """p0 = 1/3, p1 = 2/3: S_n moves by +-ln 2; alpha = beta = 1/9 gives
  ln A = 3 ln 2, so the walk stops exactly on the boundaries and Wald's OC and
  ASN are exact: gambler's ruin from 3 with absorbing 0 and 6."""
  p0, p1, a = 1 / 3, 2 / 3, 1 / 9
  for theta in (p0, 0.45, 0.5, p1, 0.8):
    up, down = theta, 1 - theta  # step probabilities of the walk (units ln 2)
    if up == down:
      ruin_top, dur = 0.5, 9.0
    else:
      r = down / up
      ruin_top = (1 - r ** 3) / (1 - r ** 6)  # P(reach 6 before 0 | start 3)
      dur = 3 / (down - up) - 6 / (down - up) * ruin_top
    oc = float(sq.wald_oc(np.array(theta), "bernoulli", p0, p1, a, a))
    asn = float(sq.wald_asn(np.array(theta), "bernoulli", p0, p1, a, a))
    np.testing.assert_allclose(oc, 1 - ruin_top, rtol=1e-9)
    np.testing.assert_allclose(asn, dur, rtol=1e-9)


def test_wald_oc_at_the_hypotheses_and_gaussian_closed_form():
  for model, t0, t1 in (("bernoulli", 0.2, 0.35), ("bernoulli", 0.7, 0.4),
                        ("gaussian", 1.0, -0.5)):
    oc = sq.wald_oc(np.array([t0, t1]), model, t0, t1, 0.03, 0.2, sigma=2.0)
    np.testing.assert_allclose(oc, [0.97, 0.2], rtol=1e-9)
  # Gaussian: h = (t0 + t1 - 2 theta) / (t1 - t0); the OC at the midpoint
  # (zero drift) is ln A / (ln A - ln B) and the ASN is -ln A ln B / E z^2.
  ln_a, ln_b = sq.wald_thresholds(0.05, 0.1)
  np.testing.assert_allclose(sq.wald_oc(np.array(0.25), "gaussian", 0, 0.5, 0.05, 0.1),
                             ln_a / (ln_a - ln_b), rtol=1e-9)
  np.testing.assert_allclose(sq.wald_asn(np.array(0.25), "gaussian", 0, 0.5, 0.05, 0.1),
                             -ln_a * ln_b / 0.25, rtol=1e-9)
  theta = np.array(0.1)
  h = (0 + 0.5 - 0.2) / 0.5
  want = (math.exp(h * ln_a) - 1) / (math.exp(h * ln_a) - math.exp(h * ln_b))
  np.testing.assert_allclose(sq.wald_oc(theta, "gaussian", 0, 0.5, 0.05, 0.1),
                             want, rtol=1e-9)


# -- problems and bad input ---------------------------------------------------


def test_problem_generators_shapes_and_support():
  p = jt.problems.bernoulli_pairs(jax.random.key(0), 1000, 0.25, 0.75)
  chex.assert_shape(p, (1000, 2))
  assert float(p.min()) >= 0.25 and float(p.max()) <= 0.75
  g = jt.problems.gaussian_pairs(jax.random.key(0), 10)
  chex.assert_shape(g, (10, 2))
  theta, truth = jt.problems.hypothesis_problems(jax.random.key(0), 4000, 0.2, 0.6)
  chex.assert_shape((theta, truth), [(4000,), (4000,)])
  np.testing.assert_allclose(np.asarray(theta), np.where(np.asarray(truth) == 1, 0.6, 0.2),
                             rtol=1e-6)
  assert 0.45 < float(truth.mean()) < 0.55
  np.testing.assert_allclose(np.asarray(jt.problems.parameter_grid([0.1, 0.2], 3)),
                             [0.1] * 3 + [0.2] * 3, rtol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda: jt.price_from_z(0.0), "z"),
    (lambda: jt.price_from_z(-1.0), "z"),
    (lambda: jt.price_from_z([1.0, 0.0]), "z"),
    (lambda: sq.sprt("bernoulli", 0.4, 0.6, alpha=0.0), "alpha"),
    (lambda: sq.sprt("bernoulli", 0.4, 0.6, alpha=1.0), "alpha"),
    (lambda: sq.sprt("gaussian", 0.0, 1.0, beta=1.5), "beta"),
    (lambda: sq.sprt("gaussian", 0.0, 1.0, beta=-0.1), "beta"),
    (lambda: sq.sprt("gaussian", 0.0, 1.0, alpha=0.6, beta=0.5), "alpha \\+ beta"),
    (lambda: sq.sprt("bernoulli", 0.0, 0.6), "theta0"),
    (lambda: sq.sprt("bernoulli", 0.5, 0.5), "differ"),
    (lambda: sq.sprt("gaussian", 0.0, 1.0, sigma=0.0), "sigma"),
    (lambda: sq.sprt("poisson", 0.0, 1.0), "model"),
    (lambda: sq.gap_test(min_samples=1), "min_samples"),
    (lambda: sq.gap_test("gaussian", min_samples=3), "min_samples"),
    (lambda: sq.wald_thresholds(0.05, 1.0), "beta"),
    (lambda: jt.problems.bernoulli_pairs(jax.random.key(0), 0), "n"),
    (lambda: jt.problems.bernoulli_pairs(jax.random.key(0), 5, 0.6, 0.4), "low"),
    (lambda: jt.problems.hypothesis_problems(jax.random.key(0), 5, 0, 1, p1=2.0), "p1"),
])
def test_bad_input_raises_value_error(call, match):
  with pytest.raises(ValueError, match=match):
    call()
