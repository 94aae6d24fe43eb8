"""The soft rule: hard-rule limit, finite-difference gradients, tuning with optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxtick as jt
from jaxtick import soft
from toy_agents import gaussian_agent, two_cost_agent

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


# -- several prices at once ---------------------------------------------------------


def _two_cost_traces(n, seed=0):
  mu = jax.random.uniform(jax.random.key(seed), (n,), minval=-0.6, maxval=0.6)
  sec = jax.random.uniform(jax.random.key(seed + 1), (n,), minval=0.2, maxval=2.0)
  keys = jax.random.split(jax.random.key(seed + 2), n)
  agent = two_cost_agent()
  return jax.vmap(lambda p, k: soft.trace(agent, p, k, max_ticks=T))(jnp.stack([mu, sec], 1), keys)


def test_two_prices_small_tau_is_the_hard_rule():
  with jax.enable_x64(True):
    trs = _two_cost_traces(80, seed=1)
    assert trs.cost.shape == (80, T + 1, 2)
    lam = jnp.array([0.3, 0.25])
    sp = jax.vmap(lambda t: soft.stop_probabilities(t, lam, tau=1e-9, min_ticks=1))(trs)
    # The hard rule by hand: the first t >= 1 with u_t - lam . c_t <= 0, else T.
    u, c = np.asarray(trs.uncertainty), np.asarray(trs.cost)
    stop_here = u - c @ np.asarray(lam) <= 0
    stop_here[:, 0] = False
    stop_here[:, T] = True
    ticks = np.argmax(stop_here, axis=1)
    np.testing.assert_array_equal(np.argmax(np.asarray(sp), 1), ticks)
    spent = np.array([c[i, :t].sum(0) for i, t in enumerate(ticks)])  # [N, 2]
    np.testing.assert_allclose(jax.vmap(soft.expected_cost)(trs, sp), spent, atol=1e-6)
    np.testing.assert_allclose(soft.mean_cost(trs, lam, tau=1e-9, min_ticks=1), spent.mean(0),
                               atol=1e-6)


def test_two_prices_gradients_match_finite_differences():
  with jax.enable_x64(True):
    trs = _two_cost_traces(150, seed=2)
    f = lambda lam: soft.mean_cost(trs, lam, tau=0.2, min_ticks=1)
    lam = jnp.array([0.4, 0.3])
    jac = jax.jacobian(f)(lam)
    assert jac.shape == (2, 2) and (np.asarray(jac) < 0).all()  # either price spends less of both
    target = jnp.array([6.0, 5.0])
    g = lambda x: soft.objective(soft.TuneParams(x, jt.Identity()), trs, None, tau=0.2,
                                 target=target, min_ticks=1)
    grad = jax.grad(g)(jnp.log(lam))
    right = trs.output.astype(float)  # any per-tick values will do for a utility's gradient
    h = lambda x: soft.objective(soft.TuneParams(x, jt.Identity()), trs, right, tau=0.2,
                                 mu=jnp.array([0.01, 0.03]), min_ticks=1)
    grad_mu = jax.grad(h)(jnp.log(lam))
    for j in range(2):
      e = jnp.zeros(2).at[j].set(1e-6)
      fd = (f(lam + e) - f(lam - e)) / 2e-6
      np.testing.assert_allclose(jac[:, j], fd, rtol=1e-6)
      for fun, gr in ((g, grad), (h, grad_mu)):
        fd = (fun(jnp.log(lam) + e) - fun(jnp.log(lam) - e)) / 2e-6
        assert float(gr[j]) == pytest.approx(float(fd), rel=1e-5, abs=1e-10)


def test_tuner_meets_two_budgets_together():
  trs = _two_cost_traces(400, seed=3)
  known = jnp.array([0.45, 0.2])  # the answer: the targets are its mean costs
  taus = (0.1, 0.03, 0.01)
  target = soft.mean_cost(trs, known, tau=taus[-1], min_ticks=1)
  res = soft.tune_price(trs, tau=taus, target=target, min_ticks=1)
  assert res.price.shape == (2,) and res.mean_cost.shape == (2,)
  assert bool(res.converged[-1])
  cost = soft.mean_cost(trs, res.price, tau=taus[-1], min_ticks=1)  # independent check
  np.testing.assert_array_less(np.abs(np.asarray(cost) / np.asarray(target) - 1), 0.01)
  np.testing.assert_allclose(res.price, known, rtol=0.02)
  # One price alone cannot: the best single price misses one of the two budgets.
  one = soft.tune_price(soft.Trace(trs.uncertainty, trs.cost[..., 0], trs.output), tau=taus,
                        target=float(target[0]), min_ticks=1)
  sec = soft.mean_cost(trs, jnp.array([float(one.price), 0.0]), tau=taus[-1], min_ticks=1)[1]
  assert abs(float(sec) / float(target[1]) - 1) > 0.05


def test_one_cost_kind_as_a_vector_is_the_scalar_tuner():
  _, _, _, trs, _ = _traces(200, seed=6)
  vec = soft.Trace(trs.uncertainty, trs.cost[..., None], trs.output)
  a = soft.tune_price(trs, tau=(0.1, 0.01), target=7.0, min_ticks=1)
  b = soft.tune_price(vec, tau=(0.1, 0.01), target=[7.0], min_ticks=1)
  assert b.price.shape == (1,)
  np.testing.assert_allclose(b.price[0], a.price, rtol=1e-5)
  np.testing.assert_array_equal(a.steps, b.steps)


def test_tuner_stops_at_its_tolerance_and_reports_it(capsys):
  _, _, _, trs, _ = _traces(200, seed=7)
  res = soft.tune_price(trs, tau=(0.1, 0.03), target=7.0, min_ticks=1, tol=1e-3)
  assert capsys.readouterr().out == ""  # silent unless asked
  assert res.steps.shape == (2,) and res.converged.tolist() == [True, True]
  for s, losses in zip(np.asarray(res.steps), np.asarray(res.losses)):
    assert 0 < s < 100  # stopped early
    assert np.isfinite(losses[:s + 1]).all() and np.isnan(losses[s + 1:]).all()
    assert np.sqrt(losses[s]) <= 1e-3 < np.sqrt(losses[s - 1])  # the miss met tol there, not before
  # A repeat at the met price takes no step; too few steps do not meet a tight tol.
  again = soft.tune_price(trs, tau=0.03, target=7.0, min_ticks=1, tol=1e-3, price=res.price)
  assert int(again.steps[0]) == 0 and bool(again.converged[0])
  short = soft.tune_price(trs, tau=0.03, target=7.0, min_ticks=1, tol=1e-9, num_steps=1,
                          price=5.0)
  assert int(short.steps[0]) == 1 and not bool(short.converged[0])
  soft.tune_price(trs, tau=(0.1, 0.03), target=7.0, min_ticks=1, progress=True)
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 2 and lines[1].startswith("tune_price stage 2/2 (tau 0.03)")
  assert "met" in lines[1] and "target 7" in lines[1]


@pytest.mark.parametrize("opt", [optax.lbfgs(), optax.adam(0.05)])
def test_tuner_other_optimisers_still_reach_the_target(opt):
  _, _, _, trs, _ = _traces(200, seed=8)
  res = soft.tune_price(trs, tau=(0.1, 0.03), target=6.0, min_ticks=1, optimizer=opt,
                        tol=1e-3)
  assert abs(float(res.mean_cost) / 6.0 - 1) <= 1e-3 or not bool(res.converged[-1])
  assert abs(float(res.mean_cost) / 6.0 - 1) <= 0.01


def test_two_prices_bad_input():
  trs = _two_cost_traces(30)
  with pytest.raises(ValueError, match=r"target must be shape \(2,\)"):
    soft.tune_price(trs, tau=0.1, target=5.0, min_ticks=1)
  with pytest.raises(ValueError, match="price must be"):
    soft.stop_probabilities(jax.tree_util.tree_map(lambda x: x[0], trs), 0.5, tau=0.1)
  with pytest.raises(ValueError, match="price must be a scalar"):
    soft.mean_cost(_traces(20)[3], jnp.ones(2), tau=0.1)
  with pytest.raises(ValueError, match="not reachable"):
    soft.tune_price(trs, tau=0.1, target=[5.0, 1e3], min_ticks=1)
  with pytest.raises(ValueError, match="tol"):
    soft.tune_price(trs, tau=0.1, target=[5.0, 5.0], min_ticks=1, tol=0.0)
  with pytest.raises(ValueError, match="num_steps"):
    soft.tune_price(trs, tau=0.1, target=[5.0, 5.0], min_ticks=1, num_steps=0)
