"""Utility router: the grid against a loop, the oracle router against statics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtick.alloc import lagrangian as lg
from jaxtick.alloc import strategies as st
from jaxtick.alloc import utility as ut
from jaxtick.problems import pools


@pytest.mark.parametrize("per_query", [False, True])
def test_grid_equals_a_loop_element_for_element(per_query):
  rng = np.random.default_rng(int(per_query))
  q, s = 300, 6
  acc = rng.random((q, s)).astype(np.float32)
  shape = (q, s) if per_query else (s,)
  tok = (rng.random(shape) * 1000).astype(np.float32)
  lat = (rng.random(shape) * 10).astype(np.float32)
  t_acc, t_tok, t_lat = (rng.random((q, s)).astype(np.float32) for _ in range(3))
  lam_t = np.array([0.0, 1e-4, 3e-4, 1e-3], np.float32)
  lam_l = np.array([0.0, 0.01, 0.05], np.float32)
  front = ut.route_grid(acc, tok, lat, lam_t, lam_l, t_acc, t_tok, t_lat)
  for i, lt in enumerate(lam_t):
    for j, ll in enumerate(lam_l):
      ch = np.asarray(ut.route(acc, tok, lat, lt, ll))
      # An independent NumPy argmax of the same utilities.
      np.testing.assert_array_equal(ch, np.argmax(acc - lt * tok - ll * lat, axis=1))
      rows = np.arange(q)
      np.testing.assert_allclose(front.acc[i, j], t_acc[rows, ch].mean(), rtol=1e-5)
      np.testing.assert_allclose(front.tokens[i, j], t_tok[rows, ch].mean(), rtol=1e-5)
      np.testing.assert_allclose(front.latency[i, j], t_lat[rows, ch].mean(), rtol=1e-5)
      np.testing.assert_allclose(front.share[i, j], np.bincount(ch, minlength=s) / q, atol=1e-7)


def test_oracle_router_is_never_worse_than_a_static_strategy_at_equal_cost():
  strats = st.make_strategies((1, 2, 4, 8), (2, 4, 8), ())
  order = np.argsort(strats.n, kind="stable")          # levels by token cost
  oracle = pools.prm_oracle(0.1)
  for seed in range(8):
    pool = pools.query_pool(jax.random.key(seed), 200)
    tab = st.evaluate(pool, strats, oracle)
    acc, tok = np.asarray(tab.acc)[:, order], np.asarray(tab.tokens)[:, order]
    static = ut.static_baselines(acc, tok, tok)
    for s in range(acc.shape[1]):
      target = float(static.tokens[s])
      lo_c, hi_c = lg.cost_range(acc, tok)
      if not lo_c < target < hi_c:
        continue
      al = lg.allocate(acc, tok, target)
      # The router at the bracketing prices, mixed to spend exactly the target.
      rows = np.arange(acc.shape[0])
      out = []
      for lam in (al.price, al.lo):
        ch = np.asarray(ut.route(acc, tok, tok, lam, 0.0))
        out.append((acc[rows, ch].mean(), tok[rows, ch].mean()))
      (a_hi, t_hi), (a_lo, t_lo) = out
      w = 0.0 if t_lo <= t_hi else np.clip((target - t_hi) / (t_lo - t_hi), 0, 1)
      mixed = (1 - w) * a_hi + w * a_lo
      if target >= t_hi:   # the budget binds (else the router spends less)
        assert mixed >= float(static.acc[s]) - 1e-5, (seed, s, mixed, static.acc[s])


def test_average_costs_are_per_strategy_means():
  x = np.arange(12.0).reshape(4, 3)
  t, l = ut.average_costs(x, 2 * x)
  np.testing.assert_allclose(t, x.mean(0))
  np.testing.assert_allclose(l, 2 * x.mean(0))


def test_bad_input():
  acc = np.full((4, 3), 0.5, np.float32)
  c = np.ones(3, np.float32)
  with pytest.raises(ValueError, match="lam_t"):
    ut.route(acc, c, c, -1.0, 0.0)
  with pytest.raises(ValueError, match="lam_l"):
    ut.route_grid(acc, c, c, np.array([0.0]), np.array([-1.0]), acc, c, c)
  with pytest.raises(ValueError, match="empty"):
    ut.route(np.zeros((4, 0)), np.zeros(0), np.zeros(0), 0.0, 0.0)
  with pytest.raises(ValueError, match="NaN"):
    ut.route(np.where(acc > 0, np.nan, acc), c, c, 0.0, 0.0)
  with pytest.raises(ValueError, match="strategies"):
    ut.route(acc, np.ones(2), c, 0.0, 0.0)
