"""Schedulers against plain Python loops and brute force."""

import functools
import itertools
import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick.lanes import first_true, rows_read, rows_set, rows_zeros
from toy_agents import gaussian_agent

MAX_T = 24


def _python_price_loop(agent, problem, key, price, min_ticks, max_ticks, gain=lambda u: u):
  """The price rule written as a plain Python loop, one agent call at a time.

  ``gain`` is the calibration map as plain Python/NumPy (identity by default).
  """
  state = agent.init(problem, jax.random.fold_in(key, 0))
  t, spent = 0, 0.0
  while t < max_ticks and (
      t < min_ticks or gain(float(agent.uncertainty(state))) - price * float(agent.cost(state)) > 0):
    spent += float(agent.cost(state))
    state = agent.tick(state, jax.random.fold_in(key, t + 1))
    t += 1
  return state, t, spent


@pytest.fixture(scope="module")
def coins():
  n = 40
  probs = jt.problems.coin_problems(jax.random.key(0), n)
  keys = jax.random.split(jax.random.key(1), n)
  return probs, keys


@pytest.mark.parametrize("price,min_ticks", [(0.5, 0), (0.8, 2), (0.9, 1)])
def test_run_price_vmap_equals_python_loop(coins, price, min_ticks):
  agent = jt.agents.coin()
  probs, keys = coins
  res = jax.jit(jax.vmap(lambda p, k: jt.run_price(
      agent, p, k, price, max_ticks=MAX_T, min_ticks=min_ticks)))(probs, keys)
  chex.assert_shape(res.ticks, (probs.shape[0],))
  outs = jax.vmap(agent.output)(res.state)
  for i in range(probs.shape[0]):
    state, t, spent = _python_price_loop(agent, probs[i], keys[i], price,
                                         min_ticks, MAX_T)
    assert int(res.ticks[i]) == t
    assert float(res.cost[i]) == pytest.approx(spent)
    assert int(res.state.heads[i]) == int(state.heads)
    assert bool(outs[i]) == bool(agent.output(state))
  assert len(set(np.asarray(res.ticks).tolist())) > 2  # episodes stop at different ticks


@pytest.mark.parametrize("lanes,frac,min_ticks", [
    (1, 0.0, 0), (3, 0.25, 0), (7, 0.5, 2), (16, 1.0, 1), (64, 0.25, 2), (1000, 0.25, 0)])
def test_run_price_batch_equals_each_episode_alone(coins, lanes, frac, min_ticks):
  agent = jt.agents.coin()
  probs, keys = coins
  prices = jnp.linspace(0.3, 1.5, probs.shape[0])  # per-episode prices
  alone = jax.vmap(lambda p, k, lam: jt.run_price(
      agent, p, k, lam, max_ticks=MAX_T, min_ticks=min_ticks))(probs, keys, prices)
  batch = jt.run_price_batch(agent, probs, keys, prices, max_ticks=MAX_T,
                             min_ticks=min_ticks, lanes=lanes, refill_fraction=frac)
  chex.assert_trees_all_equal(batch.state, alone.state)
  chex.assert_trees_all_equal(batch.ticks, alone.ticks)
  chex.assert_trees_all_close(batch.cost, alone.cost)


# A non-linear calibration map, and the same map in NumPy (np.interp; inf -> last knot).
CALIB_X, CALIB_Y = [0.0, 0.4, 0.8, 1.5], [0.0, 0.1, 1.2, 1.6]
CALIB = jt.Isotonic(jnp.array(CALIB_X), jnp.array(CALIB_Y))
calib_np = lambda u: float(np.interp(min(u, 1e30), CALIB_X, CALIB_Y))


def test_run_price_batch_applies_calib_as_the_python_loop_does(coins):
  """Ticks while calib(u) - price * cost > 0: against a Python loop with the map in NumPy."""
  agent = jt.agents.coin()
  probs, keys = coins
  prices = jnp.linspace(0.3, 1.2, probs.shape[0])
  batch = jt.run_price_batch(agent, probs, keys, prices, max_ticks=MAX_T, min_ticks=1,
                             lanes=7, calib=CALIB)
  plain = jt.run_price_batch(agent, probs, keys, prices, max_ticks=MAX_T, min_ticks=1, lanes=7)
  for i in range(probs.shape[0]):
    _, t, _ = _python_price_loop(agent, probs[i], keys[i], float(prices[i]), 1, MAX_T,
                                 gain=calib_np)
    assert int(batch.ticks[i]) == t, i
  # The map matters here: without it most episodes stop elsewhere.
  assert np.mean(np.asarray(batch.ticks) != np.asarray(plain.ticks)) > 0.3


def test_coin_uncertainty_is_the_wald_ratio():
  """SE/|gap| with SE = sqrt(p~(1-p~)/n), p~ = (h+1)/(n+2), gap = h/n - 1/2, in plain Python."""
  agent = jt.agents.coin()
  cases = [(n, h) for n in range(0, 13) for h in range(0, n + 1)] + [(100, 61), (31, 0)]
  with jax.enable_x64(True):
    for n, h in cases:
      s = jt.agents.CoinState(jnp.float64(0.3), jnp.int32(n), jnp.int32(h))
      u = float(agent.uncertainty(s))
      if n == 0 or 2 * h == n:
        assert u == math.inf, (n, h)
        continue
      pt = (h + 1) / (n + 2)
      want = math.sqrt(pt * (1 - pt) / n) / abs(h / n - 0.5)
      assert u == pytest.approx(want, rel=1e-12), (n, h)
      assert bool(agent.output(s)) == (h / n > 0.5)


@pytest.mark.parametrize("size", [1, 5, 13, 20])
def test_first_true_is_nonzero_padded(size):
  """The lanes' index of the first ``size`` True entries: NumPy's nonzero, cut or padded."""
  masks = np.random.default_rng(size).random((64, 13)) < np.linspace(0, 1, 64)[:, None]
  got = jax.jit(jax.vmap(lambda m: first_true(m, size, 99)))(masks)
  assert got.dtype == jnp.int32 and got.shape == (64, size)
  for m, g in zip(masks, np.asarray(got)):
    want = np.nonzero(m)[0][:size]
    np.testing.assert_array_equal(g, np.concatenate([want, np.full(size - want.size, 99)]))


def _bits(x):
  """An array's bytes as unsigned integers (compares NaN payloads and -0.0 exactly)."""
  x = np.asarray(x)
  return x.view(f"u{x.dtype.itemsize}") if x.dtype != bool else x


@pytest.mark.parametrize("x64", [False, True])
def test_rows_store_every_dtype_bit_for_bit(x64):
  """The write-out's packed rows: what NumPy's row assignment gives, for every dtype."""
  rng = np.random.default_rng(3)
  n, lanes = 11, 7
  dtypes = [bool, np.int8, np.uint8, np.int16, jnp.bfloat16, np.float16, np.int32, np.uint32,
            np.float32, np.complex64] + ([np.float64, np.int64, np.uint64] if x64 else [])
  with jax.enable_x64(x64):
    def rand(dt, shape):
      raw = rng.integers(0, 256, size=shape + (np.dtype(dt).itemsize,), dtype=np.uint8)
      return raw.view(np.dtype(dt)).reshape(shape) if dt != bool else raw[..., 0] % 2 == 1
    rows = {f"{np.dtype(dt).name}": rand(dt, (lanes,) + shape)
            for dt, shape in zip(dtypes, itertools.cycle([(), (3,), (2, 2)]))}
    rows["key"] = jax.random.split(jax.random.key(4), lanes)  # a typed key: kept apart
    like = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), rows)
    dests = [np.array([3, 0, 11, 7, 12, 10, 5]), np.array([1, 2, 4, 6, 8, 9, 13])]
    f = jax.jit(lambda r, d: rows_set(r, d, rows))
    got = rows_zeros(n, like)
    want = {k: np.zeros((n,) + v.shape[1:], v.dtype) for k, v in rows.items() if k != "key"}
    want_key = np.zeros((n, 2), np.uint32)
    for d in dests:
      got = f(got, d)
      keep = d < n
      for k in want:
        want[k][d[keep]] = np.asarray(rows[k])[keep]
      want_key[d[keep]] = np.asarray(jax.random.key_data(rows["key"]))[keep]
    assert got.words.dtype == jnp.uint32 and len(got.other) == 2  # complex and key
    out = jax.jit(lambda r: rows_read(r, like))(got)
    for k, v in want.items():
      assert out[k].dtype == v.dtype and out[k].shape == v.shape, k
      np.testing.assert_array_equal(_bits(out[k]), _bits(v), err_msg=k)
    np.testing.assert_array_equal(jax.random.key_data(out["key"]), want_key)


def test_run_price_batch_drains_many_lanes():
  agent = jt.agents.coin()
  n = 3000
  probs = jt.problems.coin_problems(jax.random.key(5), n)
  keys = jax.random.split(jax.random.key(6), n)
  alone = jax.jit(jax.vmap(lambda p, k: jt.run_price(
      agent, p, k, 0.4, max_ticks=MAX_T, min_ticks=1)))(probs, keys)
  batch = jax.jit(lambda p, k: jt.run_price_batch(
      agent, p, k, 0.4, max_ticks=MAX_T, min_ticks=1, lanes=1024))(probs, keys)
  np.testing.assert_array_equal(batch.ticks, alone.ticks)
  np.testing.assert_array_equal(batch.state.heads, alone.state.heads)


def test_price_rule_honours_tick_bounds(coins):
  agent = jt.agents.coin()
  probs, keys = coins
  never = jax.vmap(lambda p, k: jt.run_price(agent, p, k, jnp.inf, max_ticks=9, min_ticks=4))(probs, keys)
  np.testing.assert_array_equal(never.ticks, 4)
  always = jax.vmap(lambda p, k: jt.run_price(agent, p, k, 0.0, max_ticks=9, min_ticks=0))(probs, keys)
  # Price 0 ticks while the uncertainty is positive: only a coin whose flips
  # so far are all equal... never has zero SE (smoothed), so all reach max.
  np.testing.assert_array_equal(always.ticks, 9)


# --- Budget rule ------------------------------------------------------------

class Decay(NamedTuple):
  a: jax.Array
  r: jax.Array
  t: jax.Array
  c: jax.Array


def decaying_agent():
  """Marginal gain of tick t is a * r^t (diminishing); cost c."""
  return jt.Agent(
      init=lambda prob, key: Decay(prob[0], prob[1], jnp.zeros((), jnp.int32), prob[2]),
      tick=lambda s, key: s._replace(t=s.t + 1),
      uncertainty=lambda s: s.a * s.r ** s.t,
      output=lambda s: s.t,
      cost=lambda s: s.c)


def _brute_force(a, r, c, budget, price, max_ticks):
  best = -np.inf
  for alloc in itertools.product(range(max_ticks + 1), repeat=len(a)):
    cost = sum(ti * ci for ti, ci in zip(alloc, c))
    if cost > budget + 1e-9:
      continue
    value = sum(sum(ai * ri ** s - price * ci for s in range(ti))
                for ai, ri, ci, ti in zip(a, r, c, alloc))
    best = max(best, value)
  return best


@pytest.mark.parametrize("seed", range(6))
def test_run_budget_equals_brute_force_with_diminishing_gains(seed):
  rng = np.random.default_rng(seed)
  k, max_ticks = 4, 4
  a = rng.uniform(0.2, 1.0, k)
  r = rng.uniform(0.3, 0.95, k)
  c = np.ones(k)
  budget = float(rng.integers(1, k * max_ticks + 2))
  price = float(rng.uniform(0.0, 0.4))
  probs = jnp.asarray(np.stack([a, r, c], 1), jnp.float32)
  keys = jax.random.split(jax.random.key(seed), k)
  with jax.enable_x64(True):
    res = jt.run_budget(decaying_agent(), jnp.asarray(np.stack([a, r, c], 1)), keys,
                        budget, price, max_ticks=max_ticks)
    ticks = np.asarray(res.ticks)
    value = sum(sum(a[i] * r[i] ** s - price for s in range(ticks[i])) for i in range(k))
  assert float(res.spent) <= budget
  assert value == pytest.approx(_brute_force(a, r, c, budget, price, max_ticks), abs=1e-9)
  del probs


@pytest.mark.parametrize("seed", range(5))
def test_run_budget_never_overspends_with_unequal_costs(seed):
  rng = np.random.default_rng(100 + seed)
  k = 6
  prob = np.stack([rng.uniform(0.5, 1, k), rng.uniform(0.5, 0.99, k),
                   rng.uniform(0.3, 2.0, k)], 1)
  budget = float(rng.uniform(0.5, 6.0))
  keys = jax.random.split(jax.random.key(seed), k)
  res = jt.run_budget(decaying_agent(), jnp.asarray(prob, jnp.float32), keys,
                      budget, 0.0, max_ticks=10)
  assert float(res.spent) <= budget + 1e-6
  np.testing.assert_allclose(float(res.spent), float(np.sum(np.asarray(res.ticks) * prob[:, 2])), rtol=1e-5)
  # Greedy stops only when nothing affordable with positive surplus is left.
  remaining = budget - float(res.spent)
  left = np.asarray(res.ticks) < 10
  assert not np.any(left & (prob[:, 2] <= remaining - 1e-6))


@pytest.mark.parametrize("seed,slack", [(0, True), (1, True), (2, True), (3, False),
                                        (4, False)])
def test_run_budget_applies_calib(seed, slack):
  """Greedy on calibrated gains is optimal for them (the map is increasing): brute force
  over allocations, valued with the map in NumPy. With a slack budget each agent stops
  exactly where its calibrated gain first falls to the price."""
  rng = np.random.default_rng(200 + seed)
  k, max_ticks = 4, 4
  a = rng.uniform(0.5, 1.5, k)
  r = rng.uniform(0.4, 0.9, k)
  c = np.ones(k)
  budget = float(k * max_ticks if slack else rng.integers(4, k * max_ticks))
  price = float(rng.uniform(0.3, 0.6))
  keys = jax.random.split(jax.random.key(seed), k)
  with jax.enable_x64(True):
    res = jt.run_budget(decaying_agent(), jnp.asarray(np.stack([a, r, c], 1)), keys,
                        budget, price, max_ticks=max_ticks, calib=CALIB)
  ticks = np.asarray(res.ticks)
  value = lambda alloc: sum(sum(calib_np(a[i] * r[i] ** s) - price for s in range(alloc[i]))
                            for i in range(k))
  best = max(value(al) for al in itertools.product(range(max_ticks + 1), repeat=k)
             if sum(al) <= budget)
  assert value(ticks) == pytest.approx(best, abs=1e-9)
  if slack:
    for i in range(k):
      g = [calib_np(a[i] * r[i] ** s) for s in range(max_ticks)]
      want = next((s for s in range(max_ticks) if g[s] <= price), max_ticks)
      assert ticks[i] == want, (i, ticks, g, price)


def test_run_budget_fuse_gets_the_outputs_and_the_states():
  agent = jt.agents.coin()
  probs = jt.problems.coin_problems(jax.random.key(11), 9)
  keys = jax.random.split(jax.random.key(12), 9)
  seen = {}

  def fuse(outputs, states):  # flip-weighted vote; records what it was given
    seen["shapes"] = (outputs.shape, states.heads.shape)
    return jnp.sum(jnp.where(outputs, 1, -1) * states.flips)

  res = jt.run_budget(agent, probs, keys, 60.0, 0.2, max_ticks=MAX_T, fuse=fuse)
  plain = jt.run_budget(agent, probs, keys, 60.0, 0.2, max_ticks=MAX_T)
  assert seen["shapes"] == ((9,), (9,))
  heads, flips = np.asarray(plain.state.heads), np.asarray(plain.state.flips)
  votes = 2 * heads > flips  # the coin's output, from the final states
  np.testing.assert_array_equal(np.asarray(plain.output), votes)
  assert int(res.output) == int(np.sum(np.where(votes, 1, -1) * flips))
  np.testing.assert_array_equal(res.ticks, plain.ticks)  # fusing changes no decision


def test_run_budget_agent_ticks_match_running_alone():
  agent = jt.agents.coin()
  probs = jt.problems.coin_problems(jax.random.key(9), 8)
  keys = jax.random.split(jax.random.key(10), 8)
  res = jt.run_budget(agent, probs, keys, 40.0, 0.5, max_ticks=MAX_T)
  for i in range(8):  # agent i's trajectory is its own key's stream
    alone = jt.run_price(agent, probs[i], keys[i], 0.0,
                         max_ticks=int(res.ticks[i]), min_ticks=int(res.ticks[i]))
    assert int(alone.state.heads) == int(res.state.heads[i])


# --- Price search -----------------------------------------------------------

def _gauss_batch(seed, n):
  mu = jax.random.uniform(jax.random.key(seed), (n,), minval=-0.8, maxval=0.8)
  return mu, jax.random.split(jax.random.key(seed + 1000), n)


def _mean_cost_fn(agent, probs, keys, min_ticks=1):
  return lambda lam: jt.run_price_batch(agent, probs, keys, lam, max_ticks=MAX_T,
                                        min_ticks=min_ticks, lanes=256).cost.mean()


@pytest.mark.parametrize("make", [jt.agents.coin, gaussian_agent])
def test_mean_cost_is_monotone_in_price(make):
  agent = make()
  # one program for the three batches (passed as arguments, not baked in as constants)
  f = jax.jit(jax.vmap(lambda lam, probs, keys: _mean_cost_fn(agent, probs, keys)(lam),
                       in_axes=(0, None, None)))
  for seed in range(3):
    if make is gaussian_agent:
      probs, keys = _gauss_batch(seed, 300)
    else:
      probs = jt.problems.coin_problems(jax.random.key(seed), 300)
      keys = jax.random.split(jax.random.key(seed + 50), 300)
    costs = np.asarray(f(jnp.linspace(0.0, 3.0, 61), probs, keys))
    assert np.all(np.diff(costs) <= 1e-6)
    assert costs[0] > costs[-1]


@functools.cache
def _bisection_program():
  """One compiled bisection for every target (the target is an argument)."""
  probs, keys = _gauss_batch(3, 500)
  f = _mean_cost_fn(gaussian_agent(), probs, keys)
  return f, jax.jit(lambda target: jt.bisect_price(f, target, 0.0, 10.0, num_iters=40))


@pytest.mark.parametrize("target", [3.0, 6.5, 12.0])
def test_bisection_meets_target_within_one_tick(target):
  f, bisect = _bisection_program()
  res = bisect(target)
  assert abs(float(res.cost) - target) <= 1.0  # one tick (cost 1) over the batch mean
  assert float(f(res.lo)) > target >= float(f(res.hi))
  assert float(res.hi) - float(res.lo) <= 4 * np.spacing(np.float32(res.hi))  # float32 exhausted


def test_subgradient_settles_near_target():
  agent = jt.agents.coin()
  probs = jt.problems.coin_problems(jax.random.key(7), 400)
  keys = jax.random.split(jax.random.key(8), 400)
  f = _mean_cost_fn(agent, probs, keys)
  tr = jax.jit(lambda: jt.subgradient_price(f, 6.0, 1.0, step_size=0.02, num_steps=150))()
  chex.assert_shape(tr.prices, (150,))
  assert abs(float(np.mean(np.asarray(tr.costs)[-50:])) - 6.0) < 1.0
  assert np.all(np.asarray(tr.prices) >= 0)


# --- Bad input --------------------------------------------------------------

def test_bad_input_is_rejected(coins):
  agent = jt.agents.coin()
  probs, keys = coins
  with pytest.raises(ValueError, match="price"):
    jt.run_price(agent, probs[0], keys[0], -1.0, max_ticks=5)
  with pytest.raises(ValueError, match="price"):
    jt.run_price(agent, probs[0], keys[0], float("nan"), max_ticks=5)
  with pytest.raises(ValueError, match="max_ticks"):
    jt.run_price(agent, probs[0], keys[0], 1.0, max_ticks=2, min_ticks=3)
  with pytest.raises(ValueError, match="budget"):
    jt.run_budget(agent, probs, keys, -3.0, max_ticks=5)
  with pytest.raises(ValueError, match="budget"):
    jt.run_budget(agent, probs, keys, float("nan"), max_ticks=5)
  with pytest.raises(ValueError, match="problems"):
    jt.run_budget(decaying_agent(), (jnp.ones(4), jnp.ones(3)), jax.random.split(keys[0], 4),
                  1.0, max_ticks=5)
  with pytest.raises(ValueError, match="problems"):
    jt.run_price_batch(agent, probs[:5], keys, 1.0, max_ticks=5)
  with pytest.raises(ValueError, match="price"):
    jt.run_price_batch(agent, probs, keys, jnp.ones(3), max_ticks=5)
  with pytest.raises(ValueError, match="keys"):
    jt.run_price_batch(agent, probs, jnp.ones((40, 3), jnp.uint32), 1.0, max_ticks=5)
  with pytest.raises(ValueError, match="at least one episode"):  # n = 0
    jt.run_price_batch(agent, probs[:0], keys[:0], 1.0, max_ticks=5)
  with pytest.raises(ValueError, match="at least one episode"):
    jt.run_budget(agent, probs[:0], keys[:0], 3.0, max_ticks=5)
  with pytest.raises(ValueError, match="at least one episode"):
    jt.run_price_sharded(agent, probs[:0], keys[:0], 1.0, max_ticks=5)
  with pytest.raises(ValueError, match="lo <= hi"):
    jt.bisect_price(lambda lam: lam, 1.0, 2.0, 1.0)
  with pytest.raises(ValueError, match="target"):
    jt.bisect_price(lambda lam: lam, float("nan"))


def test_run_price_batch_under_x64(coins):
  agent = jt.agents.coin()
  probs, keys = coins
  with jax.enable_x64(True):
    alone = jax.vmap(lambda p, k: jt.run_price(agent, p, k, 0.6, max_ticks=MAX_T))(probs, keys)
    batch = jt.run_price_batch(agent, probs, keys, 0.6, max_ticks=MAX_T, lanes=8)
  np.testing.assert_array_equal(batch.ticks, alone.ticks)
