"""The streaming front against run_price_batch at every price, at the edges of the read-off."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick import stream
from jaxtick.agents import sequential as sq


def _check_against_batch(agent, probs, keys, prices, labels, *, max_ticks, min_ticks=0,
                         lanes=32):
  fr = jt.front(agent, probs, keys, prices, max_ticks=max_ticks, min_ticks=min_ticks,
                score=labels, episodes=True, method="stream", lanes=lanes)
  for i, p in enumerate(prices):
    ref = jt.run_price_batch(agent, probs, keys, p, max_ticks=max_ticks,
                             min_ticks=min_ticks, lanes=lanes)
    np.testing.assert_array_equal(fr.ticks[i], ref.ticks, err_msg=f"price {p}")
    np.testing.assert_array_equal(fr.cost[i], ref.cost, err_msg=f"price {p}")
    out = jax.vmap(agent.output)(ref.state)
    np.testing.assert_array_equal(fr.output[i], out)
    assert int(fr.total_ticks[i]) == int(ref.ticks.sum())
    assert int(fr.correct[i]) == int(np.sum(np.asarray(out) == np.asarray(labels)))
  return fr


def test_prices_on_the_thresholds_themselves():
  """Grid prices equal to episodes' own tick thresholds: the tie goes to stopping."""
  n = 60
  probs = jt.problems.coin_problems(jax.random.key(3), n)
  keys = jax.random.split(jax.random.key(4), n)
  agent = jt.agents.coin()
  tr = jax.vmap(lambda p, k: jt.soft.trace(agent, p, k, max_ticks=16))(probs, keys)
  thr = np.asarray(jt.fronts.tick_thresholds(tr.uncertainty, tr.cost))
  on = np.unique(thr[np.isfinite(thr) & (thr > 0)])[::7][:9].astype(np.float32)
  prices = np.concatenate([on, [0.0, np.inf], on[:2]]).astype(np.float32)
  _check_against_batch(agent, probs, keys, prices, probs > 0.5, max_ticks=16, min_ticks=1)


def test_sprt_capped_at_ten_thousand():
  """A cap far above the mean ticks: one run at the cheapest price, not 10,000 ticks each."""
  theta = jt.problems.parameter_grid(np.array([0.4, 0.5, 0.6]), 20)
  agent = sq.sprt("bernoulli", 0.45, 0.55, 0.05, 0.05)
  keys = jax.random.split(jax.random.key(9), theta.shape[0])
  prices = np.array([0.0, 0.5, 1.5, 2.5, np.inf], np.float32)
  fr = _check_against_batch(agent, theta, keys, prices, (theta > 0.5).astype(jnp.int32),
                            max_ticks=10_000, lanes=16)
  assert int(fr.ticks.max()) > 60  # episodes really run long at price 0


@pytest.mark.parametrize("lanes", [1, 7, 64])
def test_lane_count_does_not_change_the_front(lanes):
  n = 50
  probs = jt.problems.coin_problems(jax.random.key(5), n)
  keys = jax.random.split(jax.random.key(6), n)
  prices = np.array([0.3, 0.9, 2.0], np.float32)
  kw = dict(max_ticks=20, min_ticks=2, score=probs > 0.5, episodes=True)
  a = jt.front(jt.agents.coin(), probs, keys, prices, method="stream", lanes=lanes, **kw)
  b = jt.front(jt.agents.coin(), probs, keys, prices, method="trace", **kw)
  for f in ("ticks", "cost", "output", "episode_correct", "total_ticks", "correct"):
    np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


@pytest.mark.parametrize("num_prices", [1, 2, 3, 64, 65, 200])
def test_count_prefix_is_a_left_search(num_prices):
  """The select-tree search (and its gathered levels past 64 prices) equals searchsorted."""
  rng = np.random.default_rng(num_prices)
  pool = np.r_[rng.uniform(0.1, 5.0, num_prices), [0.0, np.inf, 1.0, 1.0]]
  grid = np.sort(rng.choice(pool, num_prices)).astype(np.float32)
  # Every grid value, its float neighbours, values between and beyond, +-inf and NaN
  # (no subnormals: XLA's CPU flushes them to zero).
  r = np.r_[grid, np.nextafter(grid, np.float32(-np.inf)), np.nextafter(grid, np.float32(np.inf)),
            rng.uniform(-1.0, 6.0, 100), [-np.inf, np.inf, np.nan, 0.0]].astype(np.float32)
  r = r[~((np.abs(r) < np.finfo(np.float32).tiny) & (r != 0))]
  want = np.searchsorted(grid, r, side="left")
  want[np.isnan(r)] = 0
  got = jax.jit(lambda g, r: stream.count_prefix(g, lambda v: v < r, r.shape))(
      jnp.asarray(grid), jnp.asarray(r))
  np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("num_prices", [2, 3, 64, 65, 200])
def test_count_ticking_is_the_price_rule(num_prices):
  """The prices that tick again: exactly those whose rule ``gain - p * cost > 0`` holds."""
  rng = np.random.default_rng(100 + num_prices)
  grid = np.r_[rng.uniform(0.0, 5.0, num_prices - 1), [np.inf]]
  grid[: min(3, num_prices - 1)] = [0.0, 1.0, 1.0][: min(3, num_prices - 1)]  # 0 and a repeat
  grid = np.sort(grid).astype(np.float32)
  cost = rng.choice(np.r_[rng.uniform(0.1, 3.0, 50), [1.0, 0.0, np.inf, np.nan]], 2000)
  cost = cost.astype(np.float32)
  # Gains on the products themselves (ties stop), their neighbours, +-inf and NaN.
  with np.errstate(invalid="ignore"):
    on = (rng.choice(grid[np.isfinite(grid)], 2000) * cost).astype(np.float32)
  gain = np.where(rng.uniform(size=2000) < 0.5, on, np.nextafter(
      on, np.where(rng.uniform(size=2000) < 0.5, np.inf, -np.inf).astype(np.float32)))
  gain[:6] = [np.inf, -np.inf, np.nan, 0.0, 1.0, 2.0]
  gain = gain.astype(np.float32)
  keep = ~((np.abs(gain) < np.finfo(np.float32).tiny) & (gain != 0))  # XLA's CPU flushes subnormals
  gain, cost = gain[keep], cost[keep]
  with np.errstate(invalid="ignore"):
    want = np.sum(gain[:, None] - grid[None, :] * cost[:, None] > 0, axis=1)
  got = jax.jit(stream.count_ticking)(jnp.asarray(grid), jnp.asarray(gain), jnp.asarray(cost))
  np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fill", [-1, 1, None])
def test_packed_changes_sum_exactly_up_to_the_lane_limit(fill):
  """(correct, NaN) changes packed in one int32 sum like the two columns, at the lane limit."""
  lanes = stream.PACK_MAX_LANES
  rng = np.random.default_rng(0)
  a = rng.integers(-1, 2, lanes) if fill is None else np.full(lanes, fill)
  b = rng.integers(-1, 2, lanes) if fill is None else np.full(lanes, -fill)
  idx = rng.integers(0, 5, lanes) if fill is None else np.zeros(lanes, int)
  acc = jnp.zeros((6, 2), jnp.int32)
  args = (jnp.asarray(idx, jnp.int32), jnp.asarray(a, jnp.int32), jnp.asarray(b, jnp.int32))
  packed = jax.jit(lambda *x: stream._add_pair(acc, *x, packed=True))(*args)
  want = np.zeros((6, 2), np.int64)
  np.add.at(want, idx, np.stack([a, b], 1))
  np.testing.assert_array_equal(packed, want)


def test_the_unpacked_columns_past_the_lane_limit(monkeypatch):
  """Past PACK_MAX_LANES lanes the two columns are scattered apart: the same front."""
  monkeypatch.setattr(stream, "PACK_MAX_LANES", 0)
  n = 40
  probs = jt.problems.coin_problems(jax.random.key(11), n)
  keys = jax.random.split(jax.random.key(12), n)
  prices = np.array([0.0, 0.4, 1.1, 2.5], np.float32)
  _check_against_batch(jt.agents.coin(), probs, keys, prices, probs > 0.5, max_ticks=12,
                       min_ticks=1, lanes=13)
