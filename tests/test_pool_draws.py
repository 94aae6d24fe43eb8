"""Responses under the core's key contract: tick keys, the draws made from their bits, dtypes.

The distributions themselves are checked in test_pools.py; here: which key a
response comes from, that the draws sharing one hash are independent, and the
float type of a pool and its responses under ``jax_enable_x64``.
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

import jaxtick as jt
from jaxtick.alloc import strategies as st
from jaxtick.problems import pools


def _pool(q, seed=0):
  return pools.query_pool(jax.random.key(seed), q)


def test_response_j_is_drawn_from_tick_j_of_the_query_key():
  """Response j of query x comes from ``jt.tick_key(keys[x], j)`` (= jax.random.fold_in(keys[x],
  j + 1)), the key tick j of a sampler episode with key ``keys[x]`` receives."""
  pool = _pool(6)
  o = pools.prm_oracle(0.2)
  for x, j in ((0, 0), (3, 5), (5, 17)):
    key = jax.random.fold_in(pool.keys[x], j + 1)
    np.testing.assert_array_equal(jax.random.key_data(jt.tick_key(pool.keys[x], j)),
                                  jax.random.key_data(key))
    want = pools.draw_response(pool, x, key, o)
    got = pools.response(pool, x, j, o)
    for g, w in zip(got, want):
      assert g.dtype == w.dtype and g == w
  # a different key is a different response (tokens are continuous)
  assert pools.response(pool, 1, 2)[1] != pools.response(pool, 1, 3)[1]


def test_response_uses_the_tick_key_bits_as_documented():
  """The answer is the inverse CDF at the tick key's ``w0 ^ w1`` (jt.rng's bits) and the
  flip compares its ``w0`` with the corruption rate, both as 24-bit uniforms."""
  pool = _pool(40, seed=3)
  o = pools.RewardOracle(corruption=0.3)
  probs = np.asarray(pool.answer_probs, np.float64)
  for x in range(40):
    for j in range(5):
      w = np.asarray(jax.random.key_data(jax.random.fold_in(pool.keys[x], j + 1)))
      u_a = ((w[0] ^ w[1]) >> 8) / 2 ** 24
      u_c = (w[0] >> 8) / 2 ** 24
      cdf = np.cumsum(probs[x])
      want = int(np.searchsorted(cdf[:-1], u_a, side="right"))
      a, _, r = pools.response(pool, x, j, o)
      if np.min(np.abs(cdf[:-1] - u_a)) > 1e-6:   # away from float32 rounding of the table
        assert int(a) == want, (x, j)
      assert float(r) == float((int(a) == 0) != (u_c < 0.3)), (x, j)


def test_answer_and_flip_from_one_hash_are_independent():
  """The flip shares the answer's hash: P(correct and flipped) must be p * c exactly,
  not depend on the answer."""
  pool = pools.query_pool(jax.random.key(1), 40, pools.PoolMixture(unsolvable=(0.0,) * 5))
  c = 0.3
  n = 3000
  r = pools.sample_responses(pool, n, oracle=pools.RewardOracle(corruption=c))
  correct = np.asarray(r.correct)
  flipped = np.asarray(r.reward) != correct
  p = np.asarray(pool.p, np.float64)[:, None]
  for cell, want in (((correct & flipped), p * c), ((~correct & flipped), (1 - p) * c)):
    got = cell.sum()
    w = want.sum() * n
    assert abs(got - w) < 5 * np.sqrt(w), (got, w)
  # the flip is independent of which wrong answer was drawn as well
  a = np.asarray(r.answer)
  for k in range(1, 8):
    sel = a == k
    if sel.sum() > 2000:
      f = flipped[sel].mean()
      assert abs(f - c) < 5 * np.sqrt(c * (1 - c) / sel.sum()), (k, f)


def test_token_and_score_normals_are_standard_and_independent():
  """Box-Muller's two normals: log tokens and PRM logits are N(.,.) with the documented
  means and spreads, and uncorrelated (also in their squares: independent, not just
  orthogonal), and independent of correctness."""
  pool = _pool(8, seed=2)
  o = pools.prm_oracle(0.0, noise=1.5)
  n = 6000
  r = pools.sample_responses(pool, n, oracle=o)
  s = float(pool.response_sigma)
  z_tok = (np.log(np.asarray(r.tokens, np.float64))
           - np.log(np.asarray(pool.token_mean, np.float64))[:, None] + 0.5 * s * s) / s
  rew = np.asarray(r.reward, np.float64)
  correct = np.asarray(r.correct)
  with np.errstate(divide="ignore"):
    logit = np.log(rew) - np.log1p(-rew)
  z_rew = (logit - np.where(correct, o.mu_correct, o.mu_wrong)) / o.noise
  ok = np.isfinite(z_rew)          # a float32 score can round to exactly 0 or 1
  assert ok.mean() > 0.99
  zt, zr = z_tok[ok], z_rew[ok]
  assert stats.kstest(z_tok.ravel(), "norm").pvalue > 1e-4
  assert stats.kstest(zr[np.abs(zr) < 3], stats.truncnorm(-3, 3).cdf).pvalue > 1e-4
  m = zt.size
  for a, b in ((zt, zr), (zt ** 2, zr ** 2)):
    rho = np.corrcoef(a, b)[0, 1]
    assert abs(rho) < 5 / np.sqrt(m), rho
  for sel in (correct, ~correct):
    if sel.sum() > 500:
      assert abs(z_tok[sel].mean()) < 5 / np.sqrt(sel.sum())


def test_under_x64_pools_responses_and_strategies_use_float64():
  with jax.enable_x64(True):
    pool = _pool(20)
    for name in ("p", "answer_probs", "token_mean", "response_sigma"):
      assert getattr(pool, name).dtype == jnp.float64, name
    r = pools.sample_responses(pool, 3, oracle=pools.prm_oracle(0.1))
    assert r.tokens.dtype == jnp.float64 and r.reward.dtype == jnp.float64
    assert r.answer.dtype == jnp.int32
    gt = pools.sample_responses(pool, 3)
    assert gt.reward.dtype == jnp.float64
    tab = st.evaluate(pool, st.make_strategies((1, 2), (2,), ()))
    for name in tab._fields:
      assert getattr(tab, name).dtype == jnp.float64, name
    assert st.beam_success(pool.p, 2, 2, 2, pools.prm_oracle()).dtype == jnp.float64
  pool = _pool(20)
  assert pool.token_mean.dtype == jnp.float32
  assert pools.sample_responses(pool, 2).reward.dtype == jnp.float32


def test_answers_and_flips_do_not_depend_on_the_float_type():
  """Uniforms have 24 bits whatever the float type: given the same table, x64 draws the
  same answers and flips."""
  pool = _pool(3)
  o = pools.RewardOracle(corruption=0.25)
  r32 = pools.sample_responses(pool, 50, oracle=o)
  with jax.enable_x64(True):
    pool64 = pool._replace(answer_probs=jnp.asarray(np.asarray(pool.answer_probs), jnp.float64),
                           token_mean=jnp.asarray(np.asarray(pool.token_mean), jnp.float64),
                           response_sigma=jnp.asarray(np.asarray(pool.response_sigma),
                                                      jnp.float64))
    r64 = pools.sample_responses(pool64, 50, oracle=o)
    np.testing.assert_array_equal(np.asarray(r64.answer), np.asarray(r32.answer))
    np.testing.assert_array_equal(np.asarray(r64.reward), np.asarray(r32.reward))
    np.testing.assert_allclose(np.asarray(r64.tokens), np.asarray(r32.tokens), rtol=1e-4)
