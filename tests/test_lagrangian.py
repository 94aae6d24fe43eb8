"""Lagrangian allocation against an independent LP solution of the knapsack."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linprog

from jaxtick.alloc import lagrangian as lg


def hull_greedy(acc, cost, budget):
  """LP relaxation of the multiple-choice knapsack by convex-hull greedy (NumPy)."""
  acc = np.asarray(acc, float)
  c = np.broadcast_to(np.asarray(cost, float), acc.shape)
  n = acc.shape[0]
  value, left, segs = 0.0, n * budget, []
  for i in range(n):
    cheapest = np.flatnonzero(c[i] == c[i].min())
    cur = cheapest[np.argmax(acc[i, cheapest])]
    value += acc[i, cur]
    left -= c[i, cur]
    while True:
      dear = np.flatnonzero(c[i] > c[i, cur])
      if dear.size == 0:
        break
      slope = (acc[i, dear] - acc[i, cur]) / (c[i, dear] - c[i, cur])
      best = slope.max()
      if best <= 0:
        break
      nxt = dear[slope == best][np.argmax(c[i, dear[slope == best]])]
      segs.append((best, c[i, nxt] - c[i, cur], acc[i, nxt] - acc[i, cur]))
      cur = nxt
  for slope, dc, da in sorted(segs, key=lambda s: -s[0]):
    if left <= 0:
      break
    f = min(1.0, left / dc)
    value += f * da
    left -= f * dc
  return value / n


def linprog_value(acc, cost, budget):
  n, k = acc.shape
  c = np.broadcast_to(np.asarray(cost, float), acc.shape)
  a_eq = np.kron(np.eye(n), np.ones(k))
  res = linprog(-acc.reshape(-1), A_ub=c.reshape(1, -1), b_ub=[n * budget],
                A_eq=a_eq, b_eq=np.ones(n), bounds=(0, 1), method="highs")
  assert res.status == 0
  return -res.fun / n


def _instances(seed, n, k=5, per_instance=False):
  rng = np.random.default_rng(seed)
  acc = rng.random((n, k))
  cost = np.cumsum(rng.random((n, k) if per_instance else k) + 0.1, axis=-1)
  if not per_instance:
    cost[2] = cost[1]  # a tie in cost
  return acc.astype(np.float32), cost.astype(np.float32)


@pytest.mark.parametrize("seed,per_instance", [(0, False), (1, True), (2, False)])
def test_hull_greedy_equals_linprog(seed, per_instance):
  acc, cost = _instances(seed, 12, per_instance=per_instance)
  lo, hi = lg.cost_range(acc, cost)
  for b in np.linspace(lo, hi, 5):
    assert hull_greedy(acc, cost, b) == pytest.approx(linprog_value(acc, cost, b), abs=1e-7)


@pytest.mark.parametrize("seed,per_instance", [(3, False), (4, True)])
def test_bisected_allocation_is_the_lp_optimum_and_meets_the_budget(seed, per_instance):
  acc, cost = _instances(seed, 400, per_instance=per_instance)
  lo, hi = lg.cost_range(acc, cost)
  # Only targets the price 0 cannot undercut (else the budget does not bind).
  at_zero = float(np.mean(np.take_along_axis(np.broadcast_to(cost, acc.shape),
                                             np.asarray(lg.oracle_actions(acc, cost, 0.0))[:, None], 1)))
  for b in np.linspace(lo, at_zero, 7)[1:-1]:
    al = lg.allocate(acc, cost, b)
    assert float(al.mean_cost) == pytest.approx(b, rel=1e-5)
    lp = hull_greedy(acc, cost, b)
    assert float(al.mean_acc) == pytest.approx(lp, abs=2e-5)
    assert int(np.sum((np.asarray(al.weight) > 0) & (np.asarray(al.weight) < 1))) <= 1
    # Rounded to whole instances: within one instance's worth of the LP.
    act = np.asarray(lg.integral_actions(al))
    acc_int = np.take_along_axis(acc, act[:, None], 1).mean()
    assert lp - 1.0 / acc.shape[0] - 2e-5 <= acc_int <= lp + 2e-5


def test_a_budget_that_does_not_bind_reports_the_price_0_allocation_and_its_cost():
  """Above what the price 0 spends, the allocation is the price-0 one (each instance's most
  accurate level, the cheapest of equals) at its own cost, not the target: dearer levels
  that are no more accurate are never bought. The issue's smallest case first."""
  acc = np.array([[.5, 1, 1], [.2, .6, .9]], np.float32)
  al = lg.allocate(acc, np.array([1, 2, 3], np.float32), 2.9)
  assert float(al.mean_cost) == pytest.approx(2.5, rel=1e-6)
  assert float(al.mean_acc) == pytest.approx(0.95, rel=1e-6)
  for seed, per_instance in ((6, False), (7, True)):
    acc, cost = _instances(seed, 200, per_instance=per_instance)
    acc[:, -1] = acc.max(axis=1)  # the dearest level ties the best: never worth buying
    c = np.broadcast_to(cost, acc.shape)
    best = acc.max(axis=1, keepdims=True)
    cheapest_best = np.argmax(acc >= best, axis=1)  # the price-0 action, ties to the cheapest
    at_zero = np.take_along_axis(c, cheapest_best[:, None], 1).mean()
    _, hi = lg.cost_range(acc, cost)
    assert at_zero < hi
    for b in (at_zero + 0.5 * (hi - at_zero), hi):
      al = lg.allocate(acc, cost, b)
      assert float(al.mean_cost) == pytest.approx(at_zero, rel=1e-5)
      assert float(al.mean_acc) == pytest.approx(best.mean(), abs=2e-6)
      assert float(al.mean_acc) == pytest.approx(linprog_value(acc, cost, b), abs=2e-5)


def test_mean_cost_is_non_increasing_in_price():
  for seed in range(5):
    acc, cost = _instances(10 + seed, 300, per_instance=seed % 2 == 1)
    prices = np.concatenate([[0.0], np.geomspace(1e-3, 10.0, 200)])
    c = np.broadcast_to(cost, acc.shape)
    means = [np.take_along_axis(c, np.asarray(lg.oracle_actions(acc, cost, p))[:, None], 1).mean()
             for p in prices]
    assert np.all(np.diff(means) <= 1e-6)


def test_regret_is_within_the_bound_and_imitation_learns_a_rule():
  rng = np.random.default_rng(5)
  x = rng.normal(size=(600, 3)).astype(np.float32)
  # Accuracy of level k rises with k at a rate set by the first feature.
  rate = 1.0 / (1.0 + np.exp(-x[:, :1]))
  acc = (1 - (1 - 0.5 * rate) ** np.array([1, 2, 4, 8])).astype(np.float32)
  cost = np.array([1, 2, 4, 8], np.float32)
  al = lg.allocate(acc, cost, 3.0)
  pol = lg.fit_imitation(jax.random.key(0), x, np.asarray(al.action), 4, steps=600)
  pred = lg.predict(pol, x)
  chk = lg.regret_check(acc, cost, al.price, al.action, pred)
  assert float(chk.imitation_error) < 0.15
  assert 0 <= float(chk.regret) <= float(chk.bound) + 1e-7
  # A policy that always takes the cheapest level: the bound holds too.
  chk0 = lg.regret_check(acc, cost, al.price, al.action, jnp.zeros(600, jnp.int32))
  assert float(chk0.regret) <= float(chk0.bound) + 1e-7


def test_baselines_meet_the_budget():
  acc, cost = _instances(6, 100)
  cost = np.array([1, 2, 4, 8, 16], np.float32)
  for f in (lg.uniform, lambda a, c, b: lg.difficulty_heuristic(a, c, b, -a[:, 0])):
    _, mc = f(acc, cost, 5.0)
    assert float(mc) == pytest.approx(5.0, rel=1e-6)


def test_bad_input():
  acc, cost = _instances(7, 10)
  with pytest.raises(ValueError, match=">= 0"):
    lg.oracle_actions(acc, cost, -0.1)
  with pytest.raises(ValueError, match="outside"):
    lg.allocate(acc, cost, float(cost[-1]) + 1.0)
  with pytest.raises(ValueError, match="outside"):
    lg.allocate(acc, cost, 0.0)
  with pytest.raises(ValueError, match="ordered"):
    lg.allocate(acc, cost[::-1].copy(), 2.0)
  with pytest.raises(ValueError, match="NaN"):
    lg.allocate(np.where(acc > 0.5, np.nan, acc), cost, 2.0)
  x = np.ones((10, 2), np.float32)
  x[3, 1] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    lg.fit_imitation(jax.random.key(0), x, np.zeros(10, int), 2)
