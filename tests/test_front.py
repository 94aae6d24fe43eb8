"""jt.front against run_price_batch at every price; utilities against brute force."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick.agents import sequential as sq

PRICES = np.array([0.0, 0.35, 0.8, 0.8, 1.7, 5.0, np.inf], np.float32)


def _coin(n, key=0):
  probs = jt.problems.coin_problems(jax.random.key(key), n)
  return jt.agents.coin(), probs, probs > 0.5, 32


def _gap(n, key=0):
  theta = jt.problems.bernoulli_pairs(jax.random.key(key), n)
  return sq.gap_test("bernoulli", min_samples=4), theta, jnp.argmax(theta, 1), 32


def _sprt(n, key=0):
  theta = jt.problems.parameter_grid(np.array([0.4, 0.5, 0.6]), n // 3)
  agent = sq.sprt("bernoulli", 0.45, 0.55, 0.05, 0.05)
  return agent, theta, (theta > 0.5).astype(jnp.int32), 60


def _heads(n, key=0):
  h = jt.problems.synthetic_heads(jax.random.key(key), n, temperature=0.5)
  agent = jt.agents.exit_heads(jt.agents.logit_table(3, 10), costs=[1.0, 2.0, 0.5])
  return agent, h.logits, h.labels, 3


def _mcts(n, key=0):
  env = jt.problems.game_tree_env(3, 3, two_player=True)
  agent = jt.agents.mcts(env, 16, prior_var=jt.problems.game_tree_return_var(3))
  probs = jt.problems.game_tree_problems(jax.random.key(key), n)
  best = jax.vmap(lambda p: jt.problems.game_tree_solve(p, 3, 3, two_player=True).best_action)(probs)
  return agent, probs, best, 16


AGENTS = {"coin": _coin, "gap": _gap, "sprt": _sprt, "heads": _heads, "mcts": _mcts}


def _price_grid(name):
  if name == "heads":  # entropy thresholds live in [0, log 10]
    return np.array([0.0, 0.1, 0.4, 0.4, 1.0, 2.5, np.inf], np.float32)
  if name == "sprt":  # uncertainty: distance to the nearer boundary
    return np.array([0.0, 0.5, 1.5, 1.5, 2.5, 4.0, np.inf], np.float32)
  return PRICES


@pytest.mark.parametrize("name", list(AGENTS))
@pytest.mark.parametrize("min_ticks,platt", [
    pytest.param(0, False, id="plain"), pytest.param(2, True, id="min2-platt")])
def test_front_equals_run_price_batch_at_every_price(name, min_ticks, platt):
  if name == "mcts" and not platt:
    pytest.skip("MCTS compiles slowly; its min_ticks/Platt case covers it")
  n = 48 if name == "mcts" else 90
  agent, probs, labels, max_ticks = AGENTS[name](n)
  keys = jax.random.split(jax.random.key(11), n)
  prices = _price_grid(name)
  calib = jt.Platt(jnp.float32(-1.3), jnp.float32(2.0)) if platt else jt.Identity()
  fronts = [jt.front(agent, probs, keys, prices, max_ticks=max_ticks,
                     min_ticks=min_ticks, calib=calib, score=labels, episodes=True,
                     method=m, chunk=32)
            for m in (("trace", "batch", "stream") if platt else ("trace", "stream"))]
  run = jax.jit(lambda p: (lambda r: (r, jax.vmap(agent.output)(r.state)))(
      jt.run_price_batch(agent, probs, keys, p, max_ticks=max_ticks,
                         min_ticks=min_ticks, calib=calib, lanes=16)))
  for i, p in enumerate(prices):
    ref, out = run(p)
    out = np.asarray(out)
    ok = out == np.asarray(labels)
    for fr in fronts:
      np.testing.assert_array_equal(fr.ticks[i], ref.ticks, err_msg=f"price {p}")
      np.testing.assert_array_equal(fr.cost[i], ref.cost)
      np.testing.assert_array_equal(fr.output[i], out)
      np.testing.assert_array_equal(fr.episode_correct[i], ok)
      assert int(fr.correct[i]) == ok.sum()
      assert int(fr.total_ticks[i]) == int(np.sum(ref.ticks))
      np.testing.assert_allclose(fr.mean_cost[i], np.mean(ref.cost), rtol=1e-6)
  # Every method gives the same Front, leaf for leaf (the costs here are sums of
  # halves and integers, exact in any order).
  for fr in fronts[1:]:
    chex.assert_trees_all_equal(fronts[0], fr)
  # At price 0 episodes run while their gain is positive; at inf they stop at min_ticks.
  np.testing.assert_array_equal(fronts[0].ticks[-1], min_ticks)


def test_score_callable_equals_labels_and_counts_match_intervals():
  agent, probs, labels, T = _coin(120)
  keys = jax.random.split(jax.random.key(2), 120)
  a = jt.front(agent, probs, keys, PRICES, max_ticks=T, min_ticks=1, score=labels)
  b = jt.front(agent, probs, keys, PRICES, max_ticks=T, min_ticks=1,
               score=lambda out, p: out == (p > 0.5))
  np.testing.assert_array_equal(a.correct, b.correct)
  assert a.ticks is None and a.output is None
  lo, hi = jt.stats.wilson_interval(a.correct, 120)
  np.testing.assert_allclose(a.ci_wilson.lo, lo)
  np.testing.assert_allclose(a.accuracy, np.asarray(a.correct) / 120)
  c = jt.front(agent, probs, keys, PRICES, max_ticks=T, min_ticks=1)
  assert c.correct is None
  np.testing.assert_array_equal(c.total_ticks, a.total_ticks)


def test_front_compiles_once_for_a_new_grid_of_the_same_shape():
  traces = []
  base = jt.agents.coin()
  agent = base._replace(init=lambda p, k: (traces.append(1), base.init(p, k))[1])
  _, probs, labels, T = _coin(64)
  keys = jax.random.split(jax.random.key(0), 64)
  for method in ("trace", "batch"):
    jt.front(agent, probs, keys, PRICES, max_ticks=T, score=labels, method=method)
    before = len(traces)
    jt.front(agent, probs, keys, PRICES * 1.5 + 0.1, max_ticks=T, score=labels, method=method)
    jt.front(agent, probs[::-1], keys, PRICES[::-1], max_ticks=T, score=labels, method=method)
    assert len(traces) == before, method


def test_chunking_does_not_change_the_front():
  agent, probs, labels, T = _gap(77)
  keys = jax.random.split(jax.random.key(5), 77)
  a = jt.front(agent, probs, keys, PRICES, max_ticks=T, score=labels, chunk=10, episodes=True)
  b = jt.front(agent, probs, keys, PRICES, max_ticks=T, score=labels, chunk=1000, episodes=True)
  chex.assert_trees_all_equal(a, b)


def test_tick_thresholds_reproduce_the_float_rule():
  rng = np.random.default_rng(0)
  g = rng.uniform(-1, 3, 4000).astype(np.float32)
  c = rng.choice([0.1, 0.3, 1.0, 3.0, 7.0], 4000).astype(np.float32)
  thr = np.asarray(jt.fronts.tick_thresholds(jnp.asarray(g), jnp.asarray(c)))
  # The tick decision, evaluated at each threshold and one ulp below it.
  for p in (thr, np.nextafter(thr, np.float32(-np.inf))):
    p = np.maximum(p, 0).astype(np.float32)
    want = (g - p * c) > 0
    np.testing.assert_array_equal(p < thr, want)


def _np_pareto(cost, acc):
  keep = []
  for i in range(len(cost)):
    dominated = any((cost[j] <= cost[i] and acc[j] >= acc[i] and
                     (cost[j] < cost[i] or acc[j] > acc[i])) or
                    (j < i and cost[j] == cost[i] and acc[j] == acc[i])
                    for j in range(len(cost)))
    keep.append(not dominated)
  return np.array(keep)


def test_pareto_mask_and_area_match_brute_force():
  rng = np.random.default_rng(3)
  cost = rng.integers(0, 8, 40).astype(float)
  acc = rng.integers(0, 8, 40).astype(float)
  np.testing.assert_array_equal(jt.pareto_mask(cost, acc), _np_pareto(cost, acc))
  idx = jt.pareto_indices(cost, acc)
  assert np.all(np.diff(cost[idx]) > 0) and np.all(np.diff(acc[idx]) > 0)
  # Area: a front whose Pareto points are known by construction.
  fr = jt.Front(prices=jnp.arange(4.0), mean_ticks=None,
                mean_cost=jnp.array([4.0, 1.0, 2.0, 3.0]), total_ticks=None,
                num_episodes=jnp.array(10), correct=jnp.array([9, 2, 6, 5]))
  # Pareto: (1, .2), (2, .6), (4, .9); trapezoids (.4 * 1 + .75 * 2) / 3.
  a = jt.area(fr)
  assert a.points == 3 and isinstance(a.area, np.float64)  # the host convention: NumPy
  assert a.area == pytest.approx((0.4 + 1.5) / 3)
  assert a.wilson_lo < a.area < a.wilson_hi
  m = jt.accuracy_at_cost(fr, 3.0)
  assert float(m.weight) == pytest.approx(0.5)
  assert float(m.accuracy) == pytest.approx(0.75)
  with pytest.raises(ValueError, match="outside"):
    jt.accuracy_at_cost(fr, 4.5)


def test_matched_price_is_bisection_on_the_hard_rule_and_mcnemar_pairs():
  agent, probs, labels, T = _coin(200, key=4)
  keys = jax.random.split(jax.random.key(9), 200)
  pp = jt.matched_price(agent, probs, keys, 9.0, max_ticks=T, min_ticks=2, score=labels)
  # Independent: bisection on run_price_batch's own mean cost.
  ref = jt.bisect_price(lambda lam: jt.run_price_batch(
      agent, probs, keys, lam, max_ticks=T, min_ticks=2).cost.mean(), 9.0, 0.0, 64.0)
  assert float(pp.matched.cost) <= 9.0
  r = jt.run_price_batch(agent, probs, keys, float(pp.matched.price), max_ticks=T, min_ticks=2)
  assert float(pp.matched.cost) == pytest.approx(float(r.cost.mean()))
  assert float(pp.matched.cost) == pytest.approx(float(ref.cost), abs=1e-4)
  ok = np.asarray(jax.vmap(agent.output)(r.state)) == np.asarray(labels)
  assert float(pp.matched.correct) == ok.sum()
  # McNemar against a gap-free arm (fixed 9 flips) on the same episodes.
  fixed = jt.front(agent, probs, keys, jnp.array([0.0]), max_ticks=9, min_ticks=9,
                   score=labels, episodes=True)
  t = jt.mcnemar_at_cost(pp, fixed)
  ok_f = np.asarray(fixed.episode_correct[0])
  assert int(t.b) == np.sum(ok & ~ok_f) and int(t.c) == np.sum(~ok & ok_f)
  with pytest.raises(ValueError, match="not reachable"):
    jt.matched_price(agent, probs, keys, 40.0, max_ticks=T, min_ticks=2, score=labels)
  with pytest.raises(ValueError, match="not reachable"):
    jt.matched_price(agent, probs, keys, 1.0, max_ticks=T, min_ticks=2, score=labels)


@pytest.mark.parametrize("prices,match", [
    (np.array([], np.float32), "empty"),
    (np.array([0.1, np.nan]), "NaN"),
    (np.array([0.1, -1.0]), ">= 0"),
    (np.array([[0.1]]), "1-D"),
])
def test_bad_prices_raise(prices, match):
  agent, probs, labels, T = _coin(8)
  keys = jax.random.split(jax.random.key(0), 8)
  with pytest.raises(ValueError, match=match):
    jt.front(agent, probs, keys, prices, max_ticks=T)


def test_bad_arguments_raise():
  agent, probs, labels, T = _coin(8)
  keys = jax.random.split(jax.random.key(0), 8)
  with pytest.raises(ValueError, match="method"):
    jt.front(agent, probs, keys, PRICES, max_ticks=T, method="fast")
  with pytest.raises(ValueError, match="label array with leading axis 8"):
    jt.front(agent, probs, keys, PRICES, max_ticks=T, score=labels[:5])
  with pytest.raises(ValueError, match="chunk"):
    jt.front(agent, probs, keys, PRICES, max_ticks=T, chunk=0)
  with pytest.raises(ValueError, match="max_ticks"):
    jt.front(agent, probs, keys, PRICES, max_ticks=1, min_ticks=2)
  with pytest.raises(ValueError, match="no counts"):
    jt.area(jt.front(agent, probs, keys, PRICES, max_ticks=T))


def test_auto_method_choice():
  assert jt.fronts.choose_method(64, max_ticks=32, min_ticks=2) == "stream"
  assert jt.fronts.choose_method(64, max_ticks=32, min_ticks=2, episodes=True) == "trace"
  assert jt.fronts.choose_method(64, max_ticks=10_000) == "stream"  # cap far above the mean
  assert jt.fronts.choose_method(1, max_ticks=4000) == "batch"
  assert jt.fronts.choose_method(2, max_ticks=10_000) == "batch"
  assert jt.fronts.choose_method(4, max_ticks=32, episodes=True) == "batch"
  assert jt.fronts.choose_method(64, max_ticks=32, chunk=1 << 30,
                                 episodes=True) == "stream"  # too big to trace
  assert jt.fronts.choose_method(64, max_ticks=4000, episodes=True) == "stream"
