"""The router's two prices by gradient (jaxtick/alloc/router.py).

A synthetic pool: six strategies, some parallel (many tokens, little latency),
some sequential (fewer tokens, more latency), so that a token price and a
latency price pull the router in different directions; per-query lengths and
accuracies make the hard router's mean costs close to continuous in the prices.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtick import values
from jaxtick.alloc import router as rt
from jaxtick.alloc import utility as ut

from test_compile import Traces

TAUS = (0.03, 0.01, 0.003)


def _pool(q=2000, seed=0):
  """acc, true tokens, true latency (f[Q, 6] each) and the average costs f[6] the router prices."""
  rng = np.random.default_rng(seed)
  tok_s = np.array([200.0, 800.0, 500.0, 3200.0, 1500.0, 5000.0])
  lat_s = np.array([4.0, 5.0, 12.0, 7.0, 30.0, 40.0])
  skill = np.array([-0.5, 0.4, 0.5, 1.0, 1.3, 1.6])
  d = rng.normal(0, 1.5, (q, 1))
  style = rng.normal(0, 0.5, (q, 1)) * np.array([0, 1, -1, 1, -1, 0.3])
  acc = 1 / (1 + np.exp(-(skill - d + style + rng.normal(0, 0.3, (q, 6)))))
  length = rng.lognormal(0, 0.4, (q, 1))
  tok, lat = tok_s * length, lat_s * (0.5 + 0.5 * length)
  f = lambda x: np.asarray(x, np.float32)
  return f(acc), f(tok), f(lat), f(tok.mean(0)), f(lat.mean(0))


def _hard_by_hand(acc, tok, lat, true_acc, true_tok, true_lat, lam_t, lam_l):
  """Mean true (accuracy, tokens, latency) of the hard router, in NumPy float64."""
  u = acc.astype(float) - lam_t * tok.astype(float) - lam_l * lat.astype(float)
  c = np.argmax(u, axis=1)[:, None]
  pick = lambda t: float(np.take_along_axis(np.broadcast_to(t, acc.shape), c, 1).mean())
  return pick(true_acc), pick(true_tok), pick(true_lat)


def test_small_tau_is_the_hard_router():
  acc, tok, lat, at, al = _pool(300, seed=1)
  for lam_t, lam_l in ((0.0, 0.0), (1e-4, 0.0), (0.0, 1e-2), (3e-5, 6e-3)):
    p = rt.soft_route(acc, at, al, lam_t, lam_l, tau=1e-7)
    np.testing.assert_array_equal(np.argmax(np.asarray(p), 1), ut.route(acc, at, al, lam_t, lam_l))
    np.testing.assert_allclose(np.asarray(p).sum(1), 1.0, rtol=1e-6)
    _, want_t, want_l = _hard_by_hand(acc, at, al, acc, tok, lat, lam_t, lam_l)
    got = rt.soft_costs(acc, at, al, lam_t, lam_l, tau=1e-7, true_tokens=tok, true_latency=lat)
    np.testing.assert_allclose(got, [want_t, want_l], rtol=1e-5)


def test_soft_cost_gradients_in_both_prices_match_finite_differences():
  with jax.enable_x64(True):
    acc, tok, lat, at, al = (np.asarray(x, float) for x in _pool(200, seed=2))
    f = jax.jit(lambda lam: rt.soft_costs(acc, at, al, lam[0], lam[1], tau=0.02,
                                          true_tokens=tok, true_latency=lat))
    lam = jnp.array([3e-5, 6e-3])
    jac = jax.jacobian(f)(lam)
    assert jac.shape == (2, 2)
    # Each price spends less of its own cost kind.
    assert float(jac[0, 0]) < 0 and float(jac[1, 1]) < 0
    for j in range(2):
      h = float(lam[j]) * 1e-5
      e = jnp.zeros(2).at[j].set(h)
      fd = (f(lam + e) - f(lam - e)) / (2 * h)
      np.testing.assert_allclose(jac[:, j], fd, rtol=1e-5)


def test_soft_router_meets_both_targets_and_recovers_the_prices():
  acc, tok, lat, at, al = _pool(2000, seed=3)
  known = (4e-5, 5e-3)  # the answer: the targets are the soft router's spend at these prices
  target = np.asarray(rt.soft_costs(acc, at, al, *known, tau=TAUS[-1], true_tokens=tok,
                                    true_latency=lat), float)
  res = rt.tune_router(acc, at, al, target_tokens=target[0], target_latency=target[1],
                       true_tokens=tok, true_latency=lat, tau=TAUS)
  assert res.steps.shape == res.converged.shape == (3,) and bool(res.converged[-1])
  got = rt.soft_costs(acc, at, al, res.lam_t, res.lam_l, tau=TAUS[-1], true_tokens=tok,
                      true_latency=lat)  # an independent check of the reported soft costs
  np.testing.assert_array_less(np.abs(np.asarray(got, float) / target - 1), 0.01)
  np.testing.assert_allclose([res.soft_tokens, res.soft_latency], got, rtol=1e-5)
  np.testing.assert_allclose([res.lam_t, res.lam_l], known, rtol=0.02)
  # One price alone cannot: the token price that meets the token budget (lam_L = 0)
  # misses the latency budget.
  grid = np.geomspace(1e-6, 1e-3, 400)
  spent = np.asarray(jax.vmap(lambda g: rt.soft_costs(
      acc, at, al, g, 0.0, tau=TAUS[-1], true_tokens=tok, true_latency=lat))(grid))
  best = np.argmin(np.abs(spent[:, 0] / target[0] - 1))
  assert abs(spent[best, 0] / target[0] - 1) < 0.01
  assert abs(spent[best, 1] / target[1] - 1) > 0.05


def test_hard_router_at_the_tuned_prices_is_within_the_grid_resolution():
  acc, tok, lat, at, al = _pool(4000, seed=4)
  t_tok, t_lat = 1500.0, 12.0
  res = rt.tune_router(acc, at, al, target_tokens=t_tok, target_latency=t_lat,
                       true_tokens=tok, true_latency=lat)
  assert bool(res.converged[-1])
  # The hard figures are the hard router's (scored by hand in float64).
  want = _hard_by_hand(acc, at, al, acc, tok, lat, float(res.lam_t), float(res.lam_l))
  np.testing.assert_allclose([res.acc, res.tokens, res.latency], want, rtol=1e-5)
  np.testing.assert_allclose(res.miss, np.array(want[1:]) / [t_tok, t_lat] - 1, atol=1e-5)
  # The resolution of the sims' grid (31 geometric steps over 4 decades): moving either
  # price one grid step changes the hard mean costs by at least as much as the miss.
  ratio = 10 ** (4 / 31)
  steps = []
  for mt, ml in ((ratio, 1), (1 / ratio, 1), (1, ratio), (1, 1 / ratio)):
    h = _hard_by_hand(acc, at, al, acc, tok, lat, float(res.lam_t) * mt, float(res.lam_l) * ml)
    steps.append(np.abs(np.array(h[1:]) / want[1:] - 1))
  resolution = np.max(steps, axis=0)
  assert (resolution > 0.01).all()
  np.testing.assert_array_less(np.abs(np.asarray(res.miss)), resolution)
  np.testing.assert_array_less(np.abs(np.asarray(res.miss)), 0.02)


def test_a_budget_that_does_not_bind_keeps_its_price_at_zero():
  """Budgets are upper limits: a budget the router meets with its price at 0 gets price 0,
  the other is met; with both loose, both prices are 0 (the most accurate routing)."""
  acc, tok, lat, at, al = _pool(2000, seed=9)
  kw = dict(true_tokens=tok, true_latency=lat)
  lat_only = 8.0  # the latency price alone meeting 8 s spends few tokens ...
  alone = rt.soft_costs(acc, at, al, 0.0, 0.0, tau=TAUS[-1], **kw)
  res = rt.tune_router(acc, at, al, target_tokens=float(alone[0]), target_latency=lat_only, **kw)
  assert bool(res.converged[-1]) and res.binding.tolist() == [False, True]
  assert float(res.lam_t) == 0.0 and float(res.lam_l) > 0
  assert abs(float(res.soft_latency) / lat_only - 1) <= 1e-4
  assert float(res.soft_tokens) < float(alone[0])  # ... well under the token budget
  # Both budgets too loose to bind: both prices 0, the prices-0 router.
  loose = rt.tune_router(acc, at, al, target_tokens=1e6, target_latency=1e3, **kw)
  assert loose.binding.tolist() == [False, False] and bool(loose.converged[-1])
  assert float(loose.lam_t) == float(loose.lam_l) == 0.0
  np.testing.assert_allclose([loose.soft_tokens, loose.soft_latency], alone, rtol=1e-5)
  # Both bind where each alone would overspend the other: both prices > 0.
  both = rt.tune_router(acc, at, al, target_tokens=1500.0, target_latency=12.0, **kw)
  assert both.binding.tolist() == [True, True] and bool(both.converged[-1])
  assert float(both.lam_t) > 0 and float(both.lam_l) > 0


def test_a_repeated_call_traces_zero_times():
  acc, tok, lat, at, al = _pool(500, seed=5)
  kw = dict(target_tokens=1500.0, target_latency=12.0, true_tokens=tok, true_latency=lat)
  t, g = Traces(rt._tune_impl), Traces(ut._grid)  # the solve; the hard router's one cell
  a = rt.tune_router(acc, at, al, **kw)
  assert t.new() <= 1 and g.new() <= 1
  b = rt.tune_router(acc, at, al, **kw)
  assert t.new() == 0 and g.new() == 0
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  # Other data and targets of the same shapes: the same program, the other data's answer.
  acc2, tok2, lat2, at2, al2 = _pool(500, seed=6)
  c = rt.tune_router(acc2, at2, al2, target_tokens=1400.0, target_latency=11.0,
                     true_tokens=tok2, true_latency=lat2)
  assert t.new() == 0 and g.new() == 0 and bool(c.converged[-1])
  got = rt.soft_costs(acc2, at2, al2, c.lam_t, c.lam_l, tau=TAUS[-1], true_tokens=tok2,
                      true_latency=lat2)
  np.testing.assert_array_less(np.abs(np.asarray(got) / [1400.0, 11.0] - 1), 1e-3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(target_tokens=-100.0), "target_tokens must be finite and > 0"),
    (dict(target_latency=0.0), "target_latency must be finite and > 0"),
    (dict(target_latency=float("nan")), "target_latency must be finite and > 0"),
    (dict(target_tokens=[1500.0, 1400.0]), "target_tokens must be a scalar"),
    (dict(target_tokens=10.0), "target_tokens 10.0 is not reachable"),
    (dict(target_latency=1.0), "target_latency 1.0 is not reachable"),
    (dict(tau=()), "tau must be"),
    (dict(tau=(0.01, -0.1)), "tau must be finite and > 0"),
    (dict(lam_t=0.0), "lam_t must be finite and > 0"),
    (dict(lam_l=[1e-3]), "lam_l must be a scalar"),
    (dict(num_steps=0), "num_steps must be an int >= 1"),
    (dict(tol=0.0), "tol must be finite and > 0"),
    (dict(true_tokens=np.ones((10, 6))), "true_tokens must be"),
    (dict(true_latency=np.ones(5)), "true_latency must be"),
    (dict(true_acc=np.ones(6)), "true_acc must be"),
])
def test_bad_inputs_name_the_argument_before_compiling(kwargs, match):
  acc, tok, lat, at, al = _pool(50, seed=7)
  args = dict(target_tokens=1500.0, target_latency=12.0, true_tokens=tok, true_latency=lat)
  args.update(kwargs)
  t = Traces(rt._tune_impl)
  with pytest.raises(ValueError, match=match) as e:
    rt.tune_router(acc, at, al, **args)
  assert "\n" not in str(e.value)
  assert t.new() == 0


def test_bad_tables_name_the_argument():
  acc, tok, lat, at, al = _pool(50, seed=8)
  kw = dict(target_tokens=1500.0, target_latency=12.0)
  with pytest.raises(ValueError, match="accuracies must be"):
    rt.tune_router(acc[0], at, al, **kw)
  with pytest.raises(ValueError, match="tokens has 5 strategies, expected 6"):
    rt.tune_router(acc, at[:5], al, **kw)
  with pytest.raises(ValueError, match="latency has 40 queries, expected 50"):
    rt.tune_router(acc, at, lat[:40], **kw)
  with pytest.raises(ValueError, match="latency contains NaN"):
    rt.tune_router(acc, at, np.full_like(al, np.nan), **kw)


def test_soft_router_bad_inputs():
  acc, tok, lat, at, al = _pool(20, seed=10)
  with pytest.raises(ValueError, match="tau must be finite and > 0"):
    rt.soft_route(acc, at, al, 1e-4, 1e-2, tau=0.0)
  with pytest.raises(ValueError, match="latency has 5 strategies, expected 6"):
    rt.soft_costs(acc, at, al[:5], 1e-4, 1e-2, tau=0.01)
  with pytest.raises(ValueError, match="true_tokens has 7 queries, expected 20"):
    rt.soft_costs(acc, at, al, 1e-4, 1e-2, tau=0.01, true_tokens=tok[:7])
