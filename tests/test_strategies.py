"""Strategies: exact success and costs against Monte-Carlo of the procedures.

Best-of-N and majority vote are run on the pool's own responses
(``pools.sample_responses``, the key contract gives independent replicates);
beam search is simulated step by step with its own draws. Every comparison
allows 5 binomial standard errors (plus a 2e-3 floor for the integrals).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtick.alloc import strategies as st
from jaxtick.problems import pools

R = 2000  # replicates per query


def _pool(q=24, seed=0):
  return pools.query_pool(jax.random.key(seed), q)


def _close(freq, exact, reps=R):
  se = np.sqrt(np.maximum(exact * (1 - exact), 1e-4) / reps)
  assert np.all(np.abs(freq - exact) < 5 * se + 2e-3), np.max(np.abs(freq - exact) / se)


def _replicates(pool, n, oracle=pools.GROUND_TRUTH):
  r = pools.sample_responses(pool, n * R, oracle=oracle)
  q = pool.p.shape[0]
  return jax.tree.map(lambda x: np.asarray(x).reshape(q, R, n), r)


@pytest.mark.parametrize("n", [2, 5])
def test_majority_vote_matches_monte_carlo(n):
  pool = _pool()
  r = _replicates(pool, n)
  a = pool.answer_probs.shape[1]
  counts = np.eye(a)[r.answer].sum(axis=2)                     # [Q, R, A]
  winners = counts == counts.max(axis=2, keepdims=True)
  u = np.random.default_rng(n).random(counts.shape)
  choice = np.argmax(np.where(winners, u, -1.0), axis=2)       # uniform among tied
  _close((choice == 0).mean(axis=1), np.asarray(st.majority_success(pool.answer_probs, n)))


@pytest.mark.parametrize("oracle", [pools.GROUND_TRUTH, pools.RewardOracle(corruption=0.2),
                                    pools.prm_oracle(0.0), pools.prm_oracle(0.15)])
def test_best_of_n_matches_monte_carlo(oracle):
  pool = _pool(seed=1)
  n = 6
  r = _replicates(pool, n, oracle)
  pick = np.argmax(r.reward, axis=2)                           # highest score, first on ties
  hit = np.take_along_axis(r.correct, pick[..., None], 2)[..., 0]
  _close(hit.mean(axis=1), np.asarray(st.best_of_n_success(pool.p, n, oracle)))


def _beam_mc(key, p, width, branch, depth, oracle, reps):
  """The procedure itself: expand, score every child with the PRM, keep the top W."""
  g = np.where(p > 0, p ** (1.0 / depth), 0.0)

  def one(key, g):
    good = jnp.ones(width, bool)
    for t in range(depth):
      kg, kc, ks, key = jax.random.split(jax.random.fold_in(key, t), 4)
      parent = jnp.repeat(good, branch)
      child = parent & (jax.random.uniform(kg, parent.shape) < g)
      seen = child ^ (jax.random.uniform(kc, parent.shape) < oracle.corruption)
      score = jnp.where(seen, oracle.mu_correct, oracle.mu_wrong) + oracle.noise * jax.random.normal(ks, parent.shape)
      if t < depth - 1:
        good = child[jax.lax.top_k(score, width)[1]]
    return child[jnp.argmax(score)]

  keys = jax.random.split(key, (p.shape[0], reps))
  return np.asarray(jax.jit(jax.vmap(jax.vmap(one, (0, None))))(keys, jnp.asarray(g))).mean(1)


@pytest.mark.parametrize("width,branch,depth,corr", [(2, 2, 3, 0.0), (3, 2, 2, 0.1)])
def test_beam_search_matches_monte_carlo(width, branch, depth, corr):
  pool = _pool(seed=2)
  oracle = pools.prm_oracle(corr)
  freq = _beam_mc(jax.random.key(3), np.asarray(pool.p), width, branch, depth, oracle, R)
  _close(freq, np.asarray(st.beam_success(pool.p, width, branch, depth, oracle)))


def test_tables_are_distributions_and_depth_one_beam_is_best_of_n():
  o = pools.prm_oracle(0.1)
  sel = st.selection_table(o, 8, 3)
  np.testing.assert_allclose(sel.sum(1), 1.0, atol=1e-9)
  # Mean number of correct children kept: with no wrong ones all kept are correct.
  assert sel[8, 3] == pytest.approx(1.0) and sel[0, 0] == pytest.approx(1.0)
  p = jnp.linspace(0.0, 1.0, 11)
  np.testing.assert_allclose(st.beam_success(p, 4, 2, 1, o), st.best_of_n_success(p, 8, o), atol=1e-5)


def test_costs_latency_is_the_longest_of_n():
  pool = _pool(seed=4)
  n = 8
  r = _replicates(pool, n)
  strats = st.make_strategies((n,), (n,), ())
  cm = st.CostModel(tokens_per_s=50.0, call_s=0.3, prm_s=0.2)
  tab = st.evaluate(pool, strats, pools.GROUND_TRUTH, cm)
  longest = r.tokens.max(axis=2).mean(axis=1)
  sd = r.tokens.max(axis=2).std(axis=1) / np.sqrt(R)
  lat_mc = 0.3 + longest / 50.0
  assert np.all(np.abs(np.asarray(tab.latency[:, 1]) - lat_mc) < 5 * sd / 50.0 + 1e-4)
  assert np.all(np.abs(np.asarray(tab.latency[:, 0]) - lat_mc - 0.2) < 5 * sd / 50.0 + 1e-4)
  tok_mc = r.tokens.sum(axis=2).mean(axis=1)
  np.testing.assert_allclose(tab.tokens[:, 0], tok_mc, rtol=0.02)


def test_bad_input():
  with pytest.raises(ValueError, match="empty"):
    st.make_strategies((), (), ())
  with pytest.raises(ValueError, match="positive int"):
    st.make_strategies((0,), (), ())
  with pytest.raises(ValueError, match="PRM"):
    st.beam_success(jnp.ones(2), 2, 2, 2, pools.GROUND_TRUTH)
  with pytest.raises(ValueError, match="noise"):
    st.query_features(jax.random.key(0), _pool(), noise=float("nan"))


def test_replay_table_of_a_large_log_approaches_the_exact_table():
  from jaxtick.problems import logs
  pool = _pool(q=12, seed=5)
  oracle = pools.prm_oracle(0.1)
  log = logs.from_responses(pools.sample_responses(pool, 4000, oracle=oracle))
  strats = st.make_strategies((1, 4, 16), (3, 8), ())
  rep = st.replay_table(log, strats)
  ex = st.evaluate(pool, strats, oracle)
  # Plug-in estimates from 4000 samples: within ~5 standard errors of sqrt(p(1-p)/4000).
  np.testing.assert_allclose(rep.acc, ex.acc, atol=0.04)
  np.testing.assert_allclose(rep.tokens, ex.tokens, rtol=0.03)
  # Latency: the plug-in mean of the longest of N logged lengths, within 5 bootstrap
  # standard errors of that estimator (the longest of 16 reads the top few percent).
  cm = st.CostModel()
  tok = np.asarray(log.tokens, np.float64)
  boot = np.random.default_rng(0).integers(0, tok.shape[1], (200, tok.shape[1]))
  for s, n in enumerate(strats.n):
    w = np.diff((np.arange(tok.shape[1] + 1) / tok.shape[1]) ** int(n))   # P(rank k is the max)
    longest = np.sort(tok[:, boot], axis=2) @ w                             # [Q, 200]
    se = longest.std(axis=1) / cm.tokens_per_s
    assert np.all(np.abs(np.asarray(rep.latency[:, s]) - np.asarray(ex.latency[:, s]))
                  < 5 * se + 1e-4), s
  with pytest.raises(ValueError, match="beam"):
    st.replay_table(log, st.make_strategies((1,), (), ((2, 2, 2),)))
