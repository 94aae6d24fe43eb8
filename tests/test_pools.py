"""Query pools: the generator's draws against the distributions it documents."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compile_count import programs_of
from jaxtick.problems import pools


def _pool(q=4000, seed=0, **kw):
  return pools.query_pool(jax.random.key(seed), q, pools.PoolMixture(**kw))


def test_levels_and_unsolvable_fractions_follow_the_mixture():
  m = pools.PoolMixture()
  pool = _pool(20000)
  level, solv = np.asarray(pool.level), np.asarray(pool.solvable)
  w = np.asarray(m.weights) / np.sum(m.weights)
  for lv in range(len(w)):
    sel = level == lv
    # 5 standard errors: a binomial proportion test, not a tuned tolerance.
    assert abs(sel.mean() - w[lv]) < 5 * np.sqrt(w[lv] * (1 - w[lv]) / level.size)
    u = m.unsolvable[lv]
    se = np.sqrt(max(u * (1 - u), 1e-4) / sel.sum())
    assert abs((~solv[sel]).mean() - u) < 5 * se + 1e-9
    # Solvable queries' mean solve rate is the level's Beta mean.
    p = np.asarray(pool.p)[sel & solv]
    var = m.mean[lv] * (1 - m.mean[lv]) / (m.concentration + 1)
    assert abs(p.mean() - m.mean[lv]) < 5 * np.sqrt(var / p.size)
  assert np.all(np.asarray(pool.p)[~solv] == 0)


def test_responses_are_correct_with_probability_p():
  pool = _pool(400)
  r = pools.sample_responses(pool, 2000)
  freq = np.asarray(r.correct).mean(axis=1)
  p = np.asarray(pool.p)
  se = np.sqrt(np.maximum(p * (1 - p), 1e-6) / 2000)
  assert np.all(np.abs(freq - p) < 5 * se + 1e-9)
  assert not np.asarray(r.correct)[p == 0].any()
  # The whole answer distribution, not just id 0: total variation per query.
  a = np.asarray(r.answer)
  counts = np.stack([(a == k).mean(axis=1) for k in range(pool.answer_probs.shape[1])], 1)
  assert np.abs(counts - np.asarray(pool.answer_probs)).sum(1).max() < 0.12
  np.testing.assert_allclose(np.asarray(pool.answer_probs).sum(1), 1.0, atol=1e-5)


def test_response_key_contract_and_token_mean():
  pool = _pool(50)
  whole = pools.sample_responses(pool, 8)
  tail = pools.sample_responses(pool, 3, start=5)
  np.testing.assert_array_equal(whole.answer[:, 5:], tail.answer)
  np.testing.assert_array_equal(whole.tokens[:, 5:], tail.tokens)
  a, t, r = pools.response(pool, 7, 2)
  assert int(a) == int(whole.answer[7, 2]) and float(t) == float(whole.tokens[7, 2])
  assert float(r) == float(whole.reward[7, 2])
  many = pools.sample_responses(pool, 4000)
  ratio = np.asarray(many.tokens).mean(1) / np.asarray(pool.token_mean)
  s = float(pool.response_sigma)
  se = np.sqrt((np.exp(s * s) - 1) / 4000)   # lognormal coefficient of variation
  assert np.all(np.abs(ratio - 1) < 5 * se)


def test_rewards_follow_the_oracle():
  from scipy.stats import norm
  pool = _pool(300)
  gt = pools.sample_responses(pool, 400)
  np.testing.assert_array_equal(np.asarray(gt.reward), np.asarray(gt.correct, np.float32))
  for corruption in (0.0, 0.1):
    o = pools.prm_oracle(corruption)
    r = pools.sample_responses(pool, 400, oracle=o)
    c = np.asarray(r.correct)
    hi = np.asarray(r.reward) >= 0.97
    # P(score >= g | correct) = (1-rho) P(N(mu_c, s) >= logit g) + rho P(N(mu_w, s) >= logit g).
    t = np.log(0.97 / 0.03)
    pc = norm.sf((t - o.mu_correct) / o.noise)
    pw = norm.sf((t - o.mu_wrong) / o.noise)
    want_c = (1 - corruption) * pc + corruption * pw
    want_w = (1 - corruption) * pw + corruption * pc
    for sel, want in ((c, want_c), (~c, want_w)):
      got = hi[sel].mean()
      assert abs(got - want) < 5 * np.sqrt(want * (1 - want) / sel.sum()) + 1e-3
  with pytest.raises(ValueError, match="corruption"):
    pools.sample_responses(pool, 2, oracle=pools.prm_oracle(1.5))


def test_unsolvable_answers_are_less_diverse():
  pool = _pool(4000)
  probs = np.asarray(pool.answer_probs)
  h = -(probs * np.log(np.maximum(probs, 1e-30))).sum(1)
  solv = np.asarray(pool.solvable)
  assert h[~solv].mean() < h[solv].mean()


@pytest.mark.parametrize("kw, msg", [
    (dict(weights=(1.0, 1.0), mean=(0.5,), unsolvable=(0.0,)), "one entry per level"),
    (dict(mean=(0.85, 0.7, 0.55, 0.4, 1.0)), "mean solve rates"),
    (dict(unsolvable=(0.0, 0.0, 0.0, 0.0, 1.5)), "unsolvable"),
    (dict(concentration=0.0), "concentration"),
    (dict(token_sigma=float("nan")), "token_sigma"),
])
def test_bad_mixture_is_refused(kw, msg):
  with pytest.raises(ValueError, match=msg):
    pools.query_pool(jax.random.key(0), 10, pools.PoolMixture(**kw))


def test_bad_sizes_are_refused():
  with pytest.raises(ValueError, match="num_queries"):
    pools.query_pool(jax.random.key(0), 0)
  with pytest.raises(ValueError, match="num_answers"):
    pools.query_pool(jax.random.key(0), 5, num_answers=1)
  with pytest.raises(ValueError, match="n must be"):
    pools.sample_responses(_pool(5), 0)


def test_a_pool_is_the_first_rows_of_a_larger_one_and_shares_its_program():
  """Pools are drawn in power-of-two blocks and cut (compiling the Beta and Gamma samplers
  takes seconds): every draw is per query, so a pool of q queries is the first q rows of a
  pool of more, with the same key; and sizes within a block compile nothing new."""
  key = jax.random.key(7)
  big = pools.query_pool(key, 300)
  for q in (1, 5, 37, 256):
    small = pools.query_pool(key, q)
    for name in pools.QueryPool._fields:
      a, b = getattr(small, name), getattr(big, name)
      if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        a, b = jax.random.key_data(a), jax.random.key_data(b)
      want = np.asarray(b if name == "response_sigma" else b[:q])
      if np.issubdtype(want.dtype, np.floating):
        # Per query the same math, but in a program of another size; XLA's classic CPU
        # emitters (the test suite's, tests/conftest.py) may round a transcendental of the
        # Beta sampler a few ulps apart there. A broken prefix draws other values altogether.
        np.testing.assert_allclose(np.asarray(a), want, rtol=2e-6, atol=0, err_msg=f"{name}, q={q}")
      else:
        np.testing.assert_array_equal(np.asarray(a), want, err_msg=f"{name}, q={q}")
  before = pools._draw_pool._cache_size()
  pools.query_pool(jax.random.key(8), 290)  # same block as 300: no new program
  pools.query_pool(jax.random.key(9), 3)  # same block as 1..256
  assert pools._draw_pool._cache_size() == before


def test_repeated_pool_and_response_calls_build_no_new_program():
  """Outside jit, the generator runs compiled programs, one per shape and oracle kind
  (eager ops would build one program per op and shape): a first call builds at most
  one, and another key, query count in the same block, start, query, tick or oracle
  number builds nothing."""
  key = jax.random.key(3)
  pool = pools.query_pool(key, 20)
  prm = pools.prm_oracle(0.1)
  assert programs_of(pools.sample_responses, pool, 6, oracle=prm) <= 1
  assert programs_of(pools.response, pool, 1, 2, prm) <= 1
  assert programs_of(pools.draw_response, pool, 1, jax.random.key(4), prm) <= 1
  assert programs_of(pools.query_pool, jax.random.key(5), 20) == 0
  assert programs_of(pools.sample_responses, pool, 6, 3, pools.prm_oracle(0.3, noise=2.0)) == 0
  assert programs_of(pools.response, pool, 7, 11, pools.prm_oracle(0.2)) == 0
  assert programs_of(pools.draw_response, pool, 3, jax.random.key(9), prm) == 0
