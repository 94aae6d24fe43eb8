"""The level-table agent: the Lagrangian oracle as the price rule, checked by brute force."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linprog

import jaxtick as jt
from jaxtick.alloc import lagrangian as lg


def brute_choice(acc, cost, prices):
  """i[P, N]: argmax_k acc - p cost in float64, the first level on ties (NumPy)."""
  acc = np.asarray(acc, np.float64)
  c = np.broadcast_to(np.asarray(cost, np.float64), acc.shape)
  p = np.asarray(prices, np.float64)[:, None, None]
  return np.argmax(acc[None] - p * c[None], axis=-1)


def lp_value(acc, cost, budget):
  """The multiple-choice knapsack's LP relaxation by scipy's HiGHS: mean accuracy."""
  n, k = acc.shape
  c = np.broadcast_to(np.asarray(cost, float), acc.shape)
  res = linprog(-np.asarray(acc, float).reshape(-1), A_ub=c.reshape(1, -1), b_ub=[n * budget],
                A_eq=np.kron(np.eye(n), np.ones(k)), b_eq=np.ones(n), bounds=(0, 1),
                method="highs")
  assert res.status == 0
  return -res.fun / n


def _table(seed, n, k=6, per_instance=False):
  rng = np.random.default_rng(seed)
  acc = rng.random((n, k)).astype(np.float32)
  cost = np.cumsum(rng.random((n, k) if per_instance else k) + 0.1, axis=-1).astype(np.float32)
  if not per_instance:
    cost[2] = cost[1]  # two levels of one cost
  acc[0] = acc[1]  # two identical instances
  acc[2, 3] = acc[2, 4]  # a dearer level no more accurate
  return acc, cost


def _episodes(n):
  return jnp.arange(n), jax.random.split(jax.random.key(0), n)


@pytest.mark.parametrize("seed,per_instance", [(0, False), (1, True)])
def test_front_on_the_agent_is_the_oracle_at_every_price(seed, per_instance):
  acc, cost = _table(seed, 40, per_instance=per_instance)
  agent = jt.agents.levels(acc, cost)
  rng = np.random.default_rng(seed + 10)
  prices = np.concatenate([[0.0], rng.random(30) * 1.5, rng.random(10) * 0.05]).astype(np.float32)
  idx, keys = _episodes(40)
  fr = jt.front(agent, idx, keys, prices, max_ticks=6, min_ticks=1, episodes=True)
  want = brute_choice(acc, cost, prices)
  np.testing.assert_array_equal(np.asarray(fr.output), want)
  c = np.broadcast_to(cost, acc.shape)
  np.testing.assert_allclose(np.asarray(fr.mean_cost),
                             np.take_along_axis(c[None], want[..., None], -1)[..., 0].mean(1),
                             rtol=1e-6)
  for p, w in zip(prices[::7], want[::7]):
    np.testing.assert_array_equal(np.asarray(lg.oracle_actions(acc, cost, p)), w)
  # the one price -> choice rule gives the same levels
  np.testing.assert_array_equal(np.asarray(jt.agents.price_choice(acc, cost, prices[5])), want[5])


def test_exact_ties_go_to_the_cheaper_level():
  """Dyadic numbers: the utilities tie exactly at a hull slope, and at that price the
  agent stays on the cheaper level, as argmax's first maximum does; collinear levels and
  a duplicate level are skipped."""
  acc = np.array([[0.5, 0.75, 0.75, 1.0, 1.0],      # slopes 0.25 (1 -> 2), 0.125 (2 -> 4)
                  [0.25, 0.5, 0.75, 1.0, 0.875]],   # collinear: one line of slope 0.25
                 np.float32)
  cost = np.array([[1, 2, 2, 4, 8], [1, 2, 3, 4, 8]], np.float32)
  prices = np.array([0.0, 0.1, 0.125, 0.2, 0.25, 0.3], np.float32)
  idx, keys = _episodes(2)
  fr = jt.front(jt.agents.levels(acc, cost), idx, keys, prices, max_ticks=5, min_ticks=1,
                episodes=True)
  np.testing.assert_array_equal(np.asarray(fr.output), brute_choice(acc, cost, prices))
  np.testing.assert_array_equal(np.asarray(fr.output)[:, 1], [3, 3, 3, 3, 0, 0])
  # the collinear hull is climbed in one tick, not three
  assert np.asarray(fr.ticks)[0, 1] == 2


def test_matched_price_on_the_agent_meets_the_budget_at_the_oracle():
  acc, cost = _table(2, 60)
  agent = jt.agents.levels(acc, cost)
  idx, keys = _episodes(60)
  c = np.broadcast_to(cost, acc.shape)
  score = lambda level, i: jnp.asarray(True)  # accuracy is read off the levels below
  pt = jt.matched_price(agent, idx, keys, 2.0, max_ticks=6, min_ticks=1, score=score)
  level = brute_choice(acc, cost, [pt.matched.price])[0]
  np.testing.assert_array_equal(np.asarray(pt.front.output)[0], level)
  assert float(pt.matched.cost) == pytest.approx(c[np.arange(60), level].mean(), rel=1e-6)
  assert float(pt.matched.cost) <= 2.0 + 1e-6


@pytest.mark.parametrize("seed,per_instance", [(3, False), (4, True)])
def test_allocate_is_the_lp_optimum_when_binding_and_the_price_0_cost_otherwise(seed, per_instance):
  acc, cost = _table(seed, 30, per_instance=per_instance)
  c = np.broadcast_to(cost, acc.shape)
  at_zero = c[np.arange(30), brute_choice(acc, cost, [0.0])[0]].mean()
  lo, hi = lg.cost_range(acc, cost)
  for b in np.linspace(lo, at_zero, 5)[1:-1]:  # binding
    al = lg.allocate(acc, cost, b)
    assert float(al.mean_cost) == pytest.approx(b, rel=1e-5)
    assert float(al.mean_acc) == pytest.approx(lp_value(acc, cost, b), abs=2e-5)
  for b in (0.5 * (at_zero + hi), hi):  # not binding: the price-0 levels at their cost
    al = lg.allocate(acc, cost, b)
    assert float(al.mean_cost) == pytest.approx(at_zero, rel=1e-5)
    assert float(al.mean_acc) == pytest.approx(acc.max(1).mean(), abs=2e-6)
    assert float(al.mean_acc) == pytest.approx(lp_value(acc, cost, b), abs=2e-5)


def test_route_is_the_price_choice_bit_for_bit():
  rng = np.random.default_rng(9)
  acc = rng.random((200, 7)).astype(np.float32)
  tok, lat = rng.random(7).astype(np.float32) * 1e3, rng.random((200, 7)).astype(np.float32)
  for lt, ll in ((1e-3, 0.5), (3e-4, 0.0), (0.0, 0.0)):
    want = np.argmax(acc - np.float32(lt) * tok - np.float32(ll) * lat, axis=1)
    got = np.asarray(jt.alloc.route(acc, tok, lat, lt, ll))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        np.asarray(jt.agents.price_choice(acc, (tok, lat), (lt, ll))), want)


def test_two_tables_share_one_program():
  from jaxtick import values
  from jaxtick.schedule import _run_price_batch
  a1, c1 = _table(5, 16)
  a2, c2 = _table(6, 16)
  idx, keys = _episodes(16)
  jt.run_price_batch(jt.agents.levels(a1, c1), idx, keys, 0.1, max_ticks=6, min_ticks=1)
  before = values.trace_count(_run_price_batch)
  res = jt.run_price_batch(jt.agents.levels(a2, c2), idx, keys, 0.1, max_ticks=6, min_ticks=1)
  assert values.trace_count(_run_price_batch) == before
  np.testing.assert_array_equal(np.asarray(res.state.level), brute_choice(a2, c2, [0.1])[0])


def test_bad_input():
  acc, cost = _table(7, 5)
  with pytest.raises(ValueError, match="acc must be f\\[N, L\\]"):
    jt.agents.levels(acc[0], cost)
  with pytest.raises(ValueError, match="cost must be f\\[L\\] or f\\[N, L\\]"):
    jt.agents.levels(acc, cost[:3])
  with pytest.raises(ValueError, match="acc must be finite"):
    jt.agents.levels(np.where(acc > 0.5, np.nan, acc), cost)
  with pytest.raises(ValueError, match="cost must be finite and >= 0"):
    jt.agents.levels(acc, -cost)
