"""The benchmark's NumPy references that draw their own responses: theory, and agreement
in distribution with the jitted bandit (their draws are NumPy's, not the key contract's)."""

import jax
import numpy as np
import pytest

from jaxtick.alloc import bandit
from jaxtick.problems import pools
from sims.bench import _bandit_numpy as ref


def _pool(q, seed):
  return pools.query_pool(jax.random.key(seed), q)


def _truncated_geometric(p, cap):
  """Mean and variance of min(Geometric(p), cap) summed over queries with p > 0."""
  p = p[p > 0]
  t = np.arange(1, cap + 1)[None, :]
  pt = p[:, None] * (1 - p[:, None]) ** (t - 1)
  pt[:, -1] = (1 - p) ** (cap - 1)
  mean = (pt * t).sum(1)
  return mean.sum(), ((pt * t ** 2).sum(1) - mean ** 2).sum()


@pytest.mark.parametrize("which", ["loop", "vectorised"])
def test_elimination_samples_follow_the_truncated_geometric(which):
  q, cap = 3000, 20
  pool = _pool(q, 4)
  p = np.asarray(pool.p, np.float64)
  if which == "loop":
    s, cov, _, spent = ref.allocate_loop_drawing(pool.answer_probs, np.full(q, cap), 10 ** 8,
                                                 oracle=pools.GROUND_TRUTH, seed=1)
  else:
    r = ref.allocate_vectorised_drawing(pool.answer_probs, pool.token_mean,
                                        pool.response_sigma, np.full(q, cap), 10 ** 8,
                                        oracle=pools.GROUND_TRUTH, seed=1)
    s, cov, spent = r["samples"], r["covered"], r["spent"]
  mean, var = _truncated_geometric(p, cap)
  assert abs(s[p > 0].sum() - mean) < 5 * np.sqrt(var)
  assert (s[p == 0] == cap).all() and not cov[p == 0].any()
  assert spent == s.sum()


def test_uniform_coverage_and_answer_ids_match_theory():
  """Uniform, n responses each: coverage 1 - (1 - p)^n; answer ids by inverse CDF follow
  the pool's answer distribution (total variation per query)."""
  q, n = 2000, 5
  pool = _pool(q, 7)
  r = ref.allocate_vectorised_drawing(pool.answer_probs, pool.token_mean, pool.response_sigma,
                                      np.full(q, n), q * n, oracle=pools.GROUND_TRUTH,
                                      seed=2, rule="uniform")
  assert (r["samples"] == n).all()
  p = np.asarray(pool.p, np.float64)
  want = 1 - (1 - p) ** n
  assert abs(r["covered"].sum() - want.sum()) < 5 * np.sqrt((want * (1 - want)).sum())
  probs = np.asarray(pool.answer_probs, np.float64)[:20]
  d = ref._Drawer(probs, pool.token_mean[:20], pool.response_sigma, pools.GROUND_TRUTH, 0)
  m = 4000
  a = d.answers(np.repeat(np.arange(20), m)).reshape(20, m)
  freq = np.stack([(a == k).mean(1) for k in range(probs.shape[1])], 1)
  assert np.abs(freq - probs).sum(1).max() < 0.08   # E[TV] <= sum sqrt(p(1-p)/m)/2 ~ 0.02


def test_drawing_references_agree_with_the_jitted_bandit_in_distribution():
  """Same pool, a binding budget, tokens as cost and a corrupted PRM: total coverage and
  samples of eliminated queries agree within 5 standard errors of the difference."""
  q, cap = 3000, 32
  pool = _pool(q, 9)
  o = pools.prm_oracle(0.1)
  budget = 6 * q * 500
  jit = bandit.allocate(pool, budget, rule="elimination", gamma=0.97, oracle=o, cost="tokens",
                        max_samples=cap)
  npy = ref.allocate_vectorised_drawing(pool.answer_probs, pool.token_mean, pool.response_sigma,
                                        np.full(q, cap), budget, oracle=o, seed=3,
                                        gamma=0.97, cost="tokens")
  for f in ("covered", "best_correct", "eliminated"):
    a, b = np.asarray(getattr(jit, f)).mean(), npy[f].mean()
    se = np.sqrt((a * (1 - a) + b * (1 - b)) / q)
    assert abs(a - b) < 5 * se + 1e-3, (f, a, b)
  assert 0.9 * budget < npy["spent"] <= budget and 0.9 * budget < int(jit.spent) <= budget


def test_drawer_tokens_and_flips_follow_the_pool():
  """Lognormal lengths with mean token_mean; ground truth flipped with the corruption rate."""
  pool = _pool(10, 11)
  c = 0.2
  d = ref._Drawer(pool.answer_probs, pool.token_mean, pool.response_sigma,
                  pools.RewardOracle(corruption=c), 0)
  m = 20000
  x = np.repeat(np.arange(10), m)
  ratio = (d.tokens(x) / np.asarray(pool.token_mean, np.float64)[x]).reshape(10, m).mean(1)
  s = float(pool.response_sigma)
  assert np.all(np.abs(ratio - 1) < 5 * np.sqrt((np.exp(s * s) - 1) / m))
  correct = np.arange(x.size) % 2 == 0
  flipped = (d.rewards(correct) == 1) != correct
  assert abs(flipped.mean() - c) < 5 * np.sqrt(c * (1 - c) / x.size)
