"""Bandit allocation: theory, invariants, and a NumPy reference on the same draws."""

import functools

import jax
import numpy as np
import pytest

from jaxtick.alloc import bandit
from jaxtick.problems import logs, pools
from sims.bench import _bandit_numpy as ref

FIELDS = ("samples", "cost", "covered", "best_correct", "majority_correct",
          "best_reward", "eliminated", "exhausted")


@functools.lru_cache(maxsize=None)
def _pool(q=300, seed=0):
  return pools.query_pool(jax.random.key(seed), q)


@functools.lru_cache(maxsize=None)
def _table(q, seed, n, prm):
  oracle = pools.prm_oracle(0.1) if prm else pools.GROUND_TRUTH
  r = pools.sample_responses(_pool(q, seed), n, oracle=oracle)
  return oracle, {k: np.asarray(getattr(r, k)) for k in ("answer", "tokens", "reward", "correct")}


def test_uniform_coverage_matches_theory_over_pools():
  for seed in range(3):
    pool = _pool(2000, 10 + seed)
    p = np.asarray(pool.p, np.float64)
    for n in (4, 16):
      res = bandit.allocate(pool, 2000 * n, rule="uniform")
      assert (np.asarray(res.samples) == n).all()
      want = 1 - (1 - p) ** n
      got = int(np.asarray(res.covered).sum())
      se = np.sqrt(np.sum(want * (1 - want)))
      assert abs(got - want.sum()) < 5 * se, (seed, n, got, want.sum())


def test_samples_until_elimination_follow_the_truncated_geometric():
  cap = 20
  pool = _pool(3000, 4)
  res = bandit.allocate(pool, 10 ** 8, rule="elimination", max_samples=cap)
  p = np.asarray(pool.p, np.float64)
  s = np.asarray(res.samples)
  solv = p > 0
  mean = (1 - (1 - p[solv]) ** cap) / p[solv]
  # exact variance of min(Geometric(p), cap) by enumeration
  t = np.arange(1, cap + 1)[None, :]
  pt = p[solv, None] * (1 - p[solv, None]) ** (t - 1)
  pt[:, -1] = (1 - p[solv]) ** (cap - 1)
  var = (pt * t ** 2).sum(1) - (pt * t).sum(1) ** 2
  np.testing.assert_allclose((pt * t).sum(1), mean, rtol=1e-9)
  assert abs(s[solv].sum() - mean.sum()) < 5 * np.sqrt(var.sum())
  # unsolvable queries are never eliminated under the ground truth: they use the cap
  assert not np.asarray(res.eliminated)[~solv].any()
  assert (s[~solv] == cap).all() and np.asarray(res.exhausted)[~solv].all()


@pytest.mark.parametrize("rule", bandit.RULES)
@pytest.mark.parametrize("cost", ["samples", "tokens"])
def test_budget_and_elimination_invariants(rule, cost):
  q, n = 200, 40
  oracle, tab = _table(q, 1, n, True)
  budget = 16 * q if cost == "samples" else 16 * q * 500
  res = bandit.allocate(_pool(q, 1), budget, rule=rule, k=2, gamma=0.97, oracle=oracle,
                        cost=cost, max_samples=n)
  spent, s = int(res.spent), np.asarray(res.samples)
  assert spent <= budget and spent == int(np.asarray(res.cost).sum())
  # an eliminated query got nothing after the response that eliminated it
  hit = tab["reward"] >= np.float32(0.97)
  first = np.where(hit.any(1), hit.argmax(1) + 1, n + 1)
  el = np.asarray(res.eliminated)
  if rule == "uniform":
    assert not el.any()
  else:
    assert el.any()
    assert (s[el] <= first[el] + 1).all()  # k = 2: the round's second response
    assert (s[~el] < first[~el]).all() or (s[~el] <= n).all()
  gt = bandit.allocate(_pool(q, 1), budget, rule=rule, cost=cost, max_samples=n)
  p0 = np.asarray(_pool(q, 1).p) == 0
  assert not np.asarray(gt.eliminated)[p0].any()


def _equal(got, want, f):
  # Rewards are float32 computed inside different compiled programs: the same
  # key gives the same draw, but the sigmoid may round 1 ulp apart.
  if f.endswith("best_reward"):
    np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f)
  else:
    np.testing.assert_array_equal(got, want, err_msg=f)


def _compare(res, want):
  for f in FIELDS:
    _equal(np.asarray(getattr(res, f)), want[f], f)
  assert int(res.spent) == want["spent"] and int(res.rounds) == want["rounds"]


@pytest.mark.parametrize("rule", bandit.RULES)
@pytest.mark.parametrize("k, prm, cost", [(1, False, "samples"), (3, True, "tokens")])
def test_jitted_rules_equal_numpy_reference(rule, k, prm, cost):
  q, n = 300, 48
  oracle, tab = _table(q, 2, n, prm)
  budget = 12 * q if cost == "samples" else 12 * q * 450
  gamma = 1.0 if not prm else 0.98
  res = bandit.allocate(_pool(q, 2), budget, rule=rule, k=k, gamma=gamma, oracle=oracle,
                        cost=cost, max_samples=n)
  want = ref.allocate_vectorised(tab["answer"], tab["tokens"], tab["reward"], tab["correct"],
                                 np.full(q, n), budget, rule=rule, k=k, gamma=gamma,
                                 cost=cost, num_answers=8)
  _compare(res, want)
  if k == 1 and rule in ("uniform", "elimination"):
    s, cov, bc, spent = ref.allocate_loop(tab["reward"], tab["correct"], np.full(q, n),
                                          budget, rule=rule, gamma=gamma)
    np.testing.assert_array_equal(np.asarray(res.samples), s)
    np.testing.assert_array_equal(np.asarray(res.covered), cov)
    np.testing.assert_array_equal(np.asarray(res.best_correct), bc)


def test_window_levels_equal_reference_on_a_larger_pool():
  # Q = 3000 runs on windows 3000 -> 375 -> 256: the gathers must not change anything.
  q, n = 3000, 40
  oracle, tab = _table(q, 3, n, True)
  for rule in ("elimination", "entropy"):
    res = bandit.allocate(_pool(q, 3), 10 * q, rule=rule, gamma=0.97, oracle=oracle,
                          max_samples=n)
    want = ref.allocate_vectorised(tab["answer"], tab["tokens"], tab["reward"],
                                   tab["correct"], np.full(q, n), 10 * q, rule=rule,
                                   gamma=0.97, num_answers=8)
    _compare(res, want)


@pytest.mark.parametrize("fmt", ["npz", "jsonl"])
def test_pool_written_and_replayed_gives_the_same_results(tmp_path, fmt):
  q, n = 300, 40
  oracle, _ = _table(q, 5, n, True)
  pool = _pool(q, 5)
  log = logs.from_responses(pools.sample_responses(pool, n, oracle=oracle))
  path = tmp_path / f"log.{fmt}"
  (logs.save_npz if fmt == "npz" else logs.save_jsonl)(path, log)
  replay = logs.replay_pool(logs.load(path))
  for rule in ("uniform", "elimination", "entropy"):
    a = bandit.allocate(pool, 14 * q, rule=rule, k=2, gamma=0.97, oracle=oracle,
                        max_samples=n)
    b = bandit.allocate(replay, 14 * q, rule=rule, k=2, gamma=0.97)
    for f in FIELDS:
      _equal(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)), f"{rule} {f}")


def test_replay_exhaustion_stops_the_query():
  log = logs.SampleLog(correct=np.array([[False, False, False], [False, True, False]]),
                       reward=np.array([[0.1, 0.2, 0.3], [0.0, 1.0, 0.0]]),
                       answer=np.array([[4, 4, 9], [1, 0, -1]]),
                       tokens=np.ones((2, 3)), count=np.array([3, 2]))
  res = bandit.allocate(logs.replay_pool(log), 100, rule="elimination")
  np.testing.assert_array_equal(np.asarray(res.samples), [3, 2])
  np.testing.assert_array_equal(np.asarray(res.exhausted), [True, False])
  np.testing.assert_array_equal(np.asarray(res.eliminated), [False, True])
  assert int(res.spent) == 5
  uni = bandit.allocate(logs.replay_pool(log), 100, rule="uniform")
  np.testing.assert_array_equal(np.asarray(uni.samples), [3, 2])   # no wrap-around
  np.testing.assert_array_equal(np.asarray(uni.majority_correct), [False, False])


def test_budget_array_equals_separate_runs():
  pool = _pool(300, 6)
  budgets = np.array([0, 300, 2400, 4801])
  many = bandit.allocate(pool, budgets, rule="ucb")
  for i, b in enumerate(budgets):
    one = bandit.allocate(pool, int(b), rule="ucb")
    for f in FIELDS:
      np.testing.assert_array_equal(np.asarray(getattr(many, f))[i],
                                    np.asarray(getattr(one, f)), err_msg=f)
  assert int(many.spent[0]) == 0 and int(many.spent[3]) <= 4801


@pytest.mark.parametrize("kw, msg", [
    (dict(rule="thompson"), "rule"), (dict(k=0), "k must"), (dict(cost="flops"), "cost"),
    (dict(select_fraction=0.0), "select_fraction"), (dict(gamma=float("nan")), "gamma"),
    (dict(max_samples=0), "max_samples"), (dict(exploration=-1.0), "exploration"),
])
def test_bad_arguments(kw, msg):
  with pytest.raises(ValueError, match=msg):
    bandit.allocate(_pool(10, 0), 40, **kw)
  with pytest.raises(ValueError, match="budget"):
    bandit.allocate(_pool(10, 0), -1)
  with pytest.raises(ValueError, match="pool"):
    bandit.allocate(object(), 10)
