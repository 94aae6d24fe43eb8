"""The soft rule: hard-rule limit, finite-difference gradients, tuning with optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxtick as jt
from jaxtick import soft
from toy_agents import gaussian_agent

T = 24


def _episodes(n, seed=0):
  mu = jax.random.uniform(jax.random.key(seed), (n,), minval=-0.6, maxval=0.6)
  return mu, jax.random.split(jax.random.key(seed + 1), n)


@pytest.mark.parametrize("make,min_ticks", [(jt.agents.coin, 2), (gaussian_agent, 0)])
def test_small_tau_is_the_hard_rule(make, min_ticks):
  agent = make()
  with jax.enable_x64(True):
    if make is gaussian_agent:
      probs, keys = _episodes(60)
    else:
      probs = jt.problems.coin_problems(jax.random.key(3), 60)
      keys = jax.random.split(jax.random.key(4), 60)
    hard = jax.vmap(lambda p, k: jt.run_price(agent, p, k, 0.55, max_ticks=T, min_ticks=min_ticks))(probs, keys)
    tr = jax.vmap(lambda p, k: soft.trace(agent, p, k, max_ticks=T))(probs, keys)
    sp = jax.vmap(lambda t: soft.stop_probabilities(t, 0.55, tau=1e-9, min_ticks=min_ticks))(tr)
    np.testing.assert_allclose(np.asarray(sp).sum(1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(np.argmax(np.asarray(sp), 1), np.asarray(hard.ticks))
    assert np.asarray(sp).max(1).min() > 1 - 1e-6
    np.testing.assert_allclose(jax.vmap(soft.expected_cost)(tr, sp), hard.cost, atol=1e-5)
    # Expected output at the stop equals the hard rule's output.
    hard_out = jax.vmap(agent.output)(hard.state).astype(float)
    soft_out = jax.vmap(soft.expected_value)(sp, tr.output.astype(float))
    np.testing.assert_allclose(soft_out, hard_out, atol=1e-5)


def test_trace_matches_the_schedulers_states():
  agent = jt.agents.coin()
  probs = jt.problems.coin_problems(jax.random.key(0), 10)
  keys = jax.random.split(jax.random.key(1), 10)
  tr = jax.vmap(lambda p, k: soft.trace(agent, p, k, max_ticks=T))(probs, keys)
  for t in (0, 5, T):
    res = jax.vmap(lambda p, k: jt.run_price(agent, p, k, 0.0, max_ticks=t, min_ticks=t))(probs, keys)
    np.testing.assert_array_equal(tr.output[:, t], jax.vmap(agent.output)(res.state))
    np.testing.assert_allclose(tr.uncertainty[:, t], jax.vmap(agent.uncertainty)(res.state), rtol=1e-6)


def _mean_cost(trs, price, tau, calib=jt.Identity()):
  sp = jax.vmap(lambda t: soft.stop_probabilities(t, price, tau=tau, min_ticks=1, calib=calib))(trs)
  return jnp.mean(jax.vmap(soft.expected_cost)(trs, sp))


def test_gradients_match_finite_differences():
  agent = gaussian_agent()
  with jax.enable_x64(True):
    probs, keys = _episodes(200, seed=5)
    trs = jax.vmap(lambda p, k: soft.trace(agent, p, k, max_ticks=T))(probs, keys)
    f = lambda lam: _mean_cost(trs, lam, 0.2)
    for lam in (0.3, 0.6, 1.0):
      h = 1e-5
      fd = (f(lam + h) - f(lam - h)) / (2 * h)
      assert float(jax.grad(f)(lam)) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)
      assert float(jax.grad(f)(lam)) < 0  # a higher price spends less
    # ... and in a calibration map's parameters.
    g = lambda ab: _mean_cost(trs, 0.5, 0.2, jt.Platt(ab[0], ab[1]))
    ab = jnp.array([1.5, -0.5])
    grad = jax.grad(g)(ab)
    for i in range(2):
      e = jnp.zeros(2).at[i].set(1e-5)
      fd = (g(ab + e) - g(ab - e)) / 2e-5
      assert float(grad[i]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)


def test_optax_tunes_the_price_to_a_budget():
  agent = gaussian_agent()
  probs, keys = _episodes(400, seed=9)
  trs = jax.vmap(lambda p, k: soft.trace(agent, p, k, max_ticks=T))(probs, keys)
  target, tau = 6.0, 0.02
  loss = lambda lam: (_mean_cost(trs, lam, tau) - target) ** 2
  opt = optax.adam(0.02)

  def step(carry, _):
    lam, st = carry
    g = jax.grad(loss)(lam)
    upd, st = opt.update(g, st)
    return (optax.apply_updates(lam, upd), st), None

  lam0 = jnp.asarray(1.0)
  (lam, _), _ = jax.jit(lambda: jax.lax.scan(step, (lam0, opt.init(lam0)), None, length=400))()
  assert abs(float(_mean_cost(trs, lam, tau)) - target) < 0.05
  hard = jax.vmap(lambda p, k: jt.run_price(agent, p, k, lam, max_ticks=T, min_ticks=1))(probs, keys)
  assert abs(float(hard.cost.mean()) - target) < 1.0


def test_bad_input():
  tr = soft.Trace(jnp.ones(5), jnp.ones(5), jnp.zeros(5))
  with pytest.raises(ValueError, match="tau"):
    soft.stop_probabilities(tr, 0.5, tau=0.0)
  with pytest.raises(ValueError, match="price"):
    soft.stop_probabilities(tr, -1.0, tau=0.1)
  with pytest.raises(ValueError, match="max_ticks"):
    soft.stop_probabilities(tr, 0.5, tau=0.1, min_ticks=9)


def _traces(n=300, seed=9):
  agent = gaussian_agent()
  probs, keys = _episodes(n, seed=seed)
  trs = jax.vmap(lambda p, k: soft.trace(agent, p, k, max_ticks=T))(probs, keys)
  correct = (trs.output == (probs > 0)[:, None]).astype(trs.cost.dtype)
  return agent, probs, keys, trs, correct


def test_tuner_objective_gradients_match_finite_differences():
  with jax.enable_x64(True):
    _, _, _, trs, correct = _traces(200, seed=3)
    for kw in (dict(target=7.0), dict(target=7.0, penalty=10.0), dict(mu=0.03)):
      c = None if list(kw) == ["target"] else correct
      f = lambda v: soft.objective(soft.TuneParams(v[0], jt.Platt(v[1], v[2])), trs, c,
                                   tau=0.15, min_ticks=1, **kw)
      v = jnp.array([np.log(0.7), 1.2, -0.4])
      grad = jax.grad(f)(v)
      for i in range(3):
        e = jnp.zeros(3).at[i].set(1e-6)
        fd = (f(v + e) - f(v - e)) / 2e-6
        assert float(grad[i]) == pytest.approx(float(fd), rel=1e-5, abs=1e-10), (kw, i)


def test_tuner_reaches_a_target_and_the_hard_rule_follows():
  agent, probs, keys, trs, _ = _traces(400)
  for target in (5.0, 9.0):
    res = soft.tune_price(trs, tau=(0.1, 0.03, 0.01), target=target, min_ticks=1)
    assert abs(float(res.mean_cost) - target) <= 0.01 * target
    # Independent check of the soft cost the tuner reports.
    assert float(res.mean_cost) == pytest.approx(float(soft.mean_cost(
        trs, res.price, tau=0.01, min_ticks=1)), rel=1e-5)
    hard = jt.front(agent, probs, keys, jnp.reshape(res.price, (1,)), max_ticks=T, min_ticks=1)
    assert abs(float(hard.mean_cost[0]) - target) <= 0.02 * target


def test_tuner_utility_and_joint_platt_beat_a_grid():
  _, _, _, trs, correct = _traces(300, seed=4)
  mu, tau = 0.02, 0.05
  res = soft.tune_price(trs, tau=tau, mu=mu, correct=correct, min_ticks=1, num_steps=60)
  util = lambda lam, cal=jt.Identity(): float(
      soft.mean_value(trs, correct, lam, tau=tau, min_ticks=1, calib=cal)
      - mu * soft.mean_cost(trs, lam, tau=tau, min_ticks=1, calib=cal))
  grid = max(util(l) for l in np.geomspace(0.05, 20, 200))
  assert util(res.price) >= grid - 1e-4
  # Joint Platt + price at a budget: at least as accurate as the price alone there.
  alone = soft.tune_price(trs, tau=tau, target=6.0, min_ticks=1)
  joint = soft.tune_price(trs, tau=tau, target=6.0, correct=correct, learn_calib=True,
                          calib=jt.Platt(jnp.float32(1.0), jnp.float32(0.0)),
                          min_ticks=1, num_steps=300)
  assert abs(float(joint.mean_cost) - 6.0) < 0.1
  acc_alone = float(soft.mean_value(trs, correct, alone.price, tau=tau, min_ticks=1))
  assert float(joint.accuracy) >= acc_alone - 0.005
  assert not np.allclose([joint.calib.a, joint.calib.b], [1.0, 0.0])


def test_tuner_bad_input():
  _, _, _, trs, correct = _traces(50)
  with pytest.raises(ValueError, match="tau"):
    soft.tune_price(trs, tau=0.0, target=5.0)
  with pytest.raises(ValueError, match="tau"):
    soft.tune_price(trs, tau=(0.1, -1.0), target=5.0)
  with pytest.raises(ValueError, match="not reachable"):
    soft.tune_price(trs, tau=0.1, target=100.0, min_ticks=1)
  with pytest.raises(ValueError, match="not reachable"):
    soft.tune_price(trs, tau=0.1, target=0.5, min_ticks=1)
  with pytest.raises(ValueError, match="exactly one"):
    soft.tune_price(trs, tau=0.1, target=5.0, mu=0.1, correct=correct)
  with pytest.raises(ValueError, match="needs correct"):
    soft.tune_price(trs, tau=0.1, mu=0.1)
