"""The round-based budget rule: `allocate` on it equals a NumPy reference, query for query.

`jaxtick.alloc.allocate` is a thin call of :func:`jaxtick.run_rounds` over sampler agents.
Until the pools' draws moved onto the tick keys it was checked here against a frozen copy of
the implementation it replaced (equal in every field, all rules, both costs, k 1 and 3); now
the reference is the NumPy one (`sims/bench/_bandit_numpy.py`) reading the same responses
from a table, at the same edge cases: a budget of 0, one cut inside a round, a binding one,
one above what the caps can use, replay logs with empty logs and zero-token samples.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick.agents import sampler
from jaxtick.alloc import bandit
from jaxtick.problems import logs, pools
from sims.bench import _bandit_numpy as ref

FIELDS = ("samples", "cost", "covered", "best_correct", "majority_correct",
          "best_reward", "eliminated", "exhausted", "spent", "rounds")


@functools.lru_cache(maxsize=None)
def _pool(q, seed):
  return pools.query_pool(jax.random.key(seed), q)


def _same(got, want, label):
  for f in FIELDS:
    a, b = np.asarray(getattr(got, f)), np.asarray(want[f])
    if f == "best_reward":
      np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=f"{label} {f}")
    else:
      np.testing.assert_array_equal(a, b, err_msg=f"{label} {f}")


def _numpy(tab, cap, budget, num_answers, **kw):
  kw.pop("oracle", None)
  kw.pop("max_samples", None)
  return ref.allocate_vectorised(tab["answer"], tab["tokens"], tab["reward"], tab["correct"],
                                 cap, budget, num_answers=num_answers, **kw)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("cost", ["samples", "tokens"])
def test_allocate_equals_the_numpy_reference_for_every_rule_and_budget(k, cost):
  q, cap = 90, 24
  pool, oracle = _pool(q, 11), pools.prm_oracle(0.1)
  r = pools.sample_responses(pool, cap, oracle=oracle)
  tab = {f: np.asarray(getattr(r, f)) for f in ("answer", "tokens", "reward", "correct")}
  unit = 1 if cost == "samples" else 480
  # 0, cut inside a round, binding, and more than the caps can use
  budgets = [0, 5 * q * unit + 1, 11 * q * unit, 40 * q * unit]
  for rule in bandit.RULES:
    kw = dict(rule=rule, k=k, gamma=0.96, oracle=oracle, cost=cost, max_samples=cap,
              select_fraction=0.4, exploration=0.7)
    for b in budgets:
      _same(bandit.allocate(pool, b, **kw),
            _numpy(tab, np.full(q, cap), b, pool.answer_probs.shape[1], **kw),
            f"{rule} k={k} {cost} B={b}")


def test_allocate_under_x64_runs_in_float64_and_equals_the_numpy_reference():
  """Under ``jax_enable_x64`` the pool, the sampler's state and the rules' signals are
  float64 (the library's default float type) and every rule still equals the reference."""
  q, cap = 40, 12
  with jax.enable_x64(True):
    pool, oracle = pools.query_pool(jax.random.key(5), q), pools.prm_oracle(0.1)
    r = pools.sample_responses(pool, cap, oracle=oracle)
    tab = {f: np.asarray(getattr(r, f)) for f in ("answer", "tokens", "reward", "correct")}
    for rule in bandit.RULES:
      for k, cost, b in ((1, "samples", 5 * q + 1), (3, "tokens", 6 * q * 480)):
        kw = dict(rule=rule, k=k, oracle=oracle, cost=cost, max_samples=cap)
        got = bandit.allocate(pool, b, **kw)
        assert got.best_reward.dtype == jnp.float64, rule
        _same(got, _numpy(tab, np.full(q, cap), b, pool.answer_probs.shape[1], **kw),
              f"x64 {rule} k={k} {cost} B={b}")


def test_allocate_equals_the_numpy_reference_on_a_replay_pool_and_the_ground_truth():
  q, n = 70, 9
  rng = np.random.default_rng(3)
  correct = rng.random((q, n)) < 0.25
  log = logs.SampleLog(correct=correct,
                       reward=np.where(correct, 0.9, rng.random((q, n)) * 0.95),
                       answer=np.where(correct, 0, rng.integers(1, 5, (q, n))),
                       tokens=rng.integers(0, 40, (q, n)).astype(float),  # 0 costs too
                       count=rng.integers(0, n + 1, q))
  rp = logs.replay_pool(log)
  tab = {"answer": log.answer, "tokens": log.tokens, "correct": log.correct,
         "reward": log.reward.astype(np.float32)}
  for rule in bandit.RULES:
    for k, cost in ((1, "samples"), (3, "tokens")):
      for b in (0, 100, 257, 10 ** 6):
        kw = dict(rule=rule, k=k, gamma=0.85, cost=cost)
        _same(bandit.allocate(rp, b, **kw), _numpy(tab, log.count, b, 5, **kw),
              f"replay {rule} k={k} {cost} B={b}")
  pool = _pool(80, 12)   # ground truth, no cap: a table wider than the budget can reach
  r = pools.sample_responses(pool, 9 * 80)
  tab = {f: np.asarray(getattr(r, f)) for f in ("answer", "tokens", "reward", "correct")}
  for rule in bandit.RULES:
    _same(bandit.allocate(pool, 9 * 80, rule=rule),
          _numpy(tab, np.full(80, 9 * 80), 9 * 80, pool.answer_probs.shape[1], rule=rule),
          f"ground truth {rule}")


@pytest.mark.parametrize("cost", ["samples", "tokens"])
def test_budget_sweep_from_one_pass_equals_single_budget_runs(cost):
  q = 120
  pool, oracle = _pool(q, 13), pools.prm_oracle(0.05)
  unit = 1 if cost == "samples" else 450
  budgets = np.array([7 * q, 0, 2 * q + 3, 7 * q, 30 * q, q // 2]) * unit
  for rule, k in (("elimination", 1), ("uniform", 2), ("entropy", 1), ("ucb", 3)):
    kw = dict(rule=rule, k=k, gamma=0.97, oracle=oracle, cost=cost, max_samples=20)
    sweep = bandit.allocate(pool, budgets, **kw)
    for i, b in enumerate(budgets):
      one = bandit.allocate(pool, int(b), **kw)._asdict()   # a separate run per budget
      _same(jax.tree_util.tree_map(lambda x: x[i], sweep), one, f"{rule} B={b}")


def test_run_rounds_top_fraction_and_price_rules_on_a_toy_pool():
  # A hand-checkable pool: agent x's signal is x; the rule keeps agents with signal
  # > 1 (the price 1 clears) and serves the top half by signal each round.
  agent = sampler(_pool(6, 0))
  def rule(states, ticks, delivered):
    del ticks, delivered
    sig = states.query.astype(jnp.float32)
    return jt.Selection(active=sig > 1.0, priority=sig)
  res = jt.run_rounds(agent, jnp.arange(6), jax.random.split(jax.random.key(0), 6),
                      np.array([0, 3, 7, 100]), rule, max_ticks=3, fraction=0.5)
  # active: agents 2..5 (4 of them); each round serves ceil(4 / 2) = 2 of highest
  # signal, paid in index order: rounds serve 4, 5 three times (B = 3 stops at 5's
  # second tick); with 4 and 5 capped at 3, ceil(2 / 2) = 1 agent a round: 3 three
  # times (B = 7 stops at its second), then 2 three times: 12 ticks in all.
  want = {0: [0, 0, 0, 0, 0, 0], 3: [0, 0, 0, 0, 2, 1], 7: [0, 0, 0, 1, 3, 3],
          100: [0, 0, 3, 3, 3, 3]}
  for i, b in enumerate((0, 3, 7, 100)):
    np.testing.assert_array_equal(np.asarray(res.ticks)[i], want[b], err_msg=str(b))
  np.testing.assert_array_equal(np.asarray(res.spent), [0, 3, 7, 12])


def test_price_selection_under_an_unlimited_budget_is_the_price_rule():
  # Any Tick agent: the coin, whose ticks read their keys (the key contract).
  n = 200
  p = jax.random.uniform(jax.random.key(5), (n,), minval=0.3, maxval=0.7)
  keys = jax.random.split(jax.random.key(6), n)
  agent = jt.agents.coin(cost=1.0)
  want = jt.run_price_batch(agent, p, keys, 0.5, max_ticks=40)
  got = jt.run_rounds(agent, p, keys, 10.0 ** 9, jt.price_selection(agent, 0.5),
                      max_ticks=40)
  np.testing.assert_array_equal(got.ticks, want.ticks)
  np.testing.assert_allclose(got.cost, want.cost)
  np.testing.assert_array_equal(got.state.heads, want.state.heads)


def test_elimination_under_a_budget_is_a_common_cap_plus_a_prefix_of_the_last_round():
  # Theory: with k = 1 and unit costs, the run at budget B gives query x
  # min(T_x, m) responses, T_x its ticks to elimination (the price rule alone),
  # m the rounds completed, plus one more to the first B - sum_x min(T_x, m)
  # queries (index order) with T_x > m.
  q, cap = 150, 30
  pool = _pool(q, 14)
  t = np.asarray(jt.run_price_batch(sampler(pool), jnp.arange(q), jax.random.split(
      jax.random.key(0), q), 0.0, max_ticks=cap).ticks)
  budgets = np.array([0, 1, q - 1, q, 2 * q + 7, 5 * q, 11 * q + 3, int(t.sum()),
                      int(t.sum()) + 5])
  sweep = bandit.allocate(pool, budgets, rule="elimination", max_samples=cap)
  for i, b in enumerate(budgets):
    m = 0
    while m < cap and np.minimum(t, m + 1).sum() <= b:
      m += 1
    want = np.minimum(t, m)
    extra = np.flatnonzero(t > m)[:b - want.sum()]
    want[extra] += 1
    np.testing.assert_array_equal(np.asarray(sweep.samples)[i], want, err_msg=str(b))
    assert int(sweep.spent[i]) == want.sum()


def test_run_rounds_int_costs_whose_round_total_passes_2_to_the_30():
  # Ticks of 2**29 + 1 each: a round of three costs 3 * 2**29 + 3 (above the
  # saturating 2**30 of the fast "every tick fits" test, below int32's limit), so
  # the budget 2**30 + 5 pays the first two ticks of the first round and stops at
  # the third; 3 * 2**29 + 3 and 2**31 - 1 pay the whole round and stop at the
  # second round's first tick (4 ticks would cost 2**31 + 4).
  agent = jt.agents.coin(cost=1.0)
  big = 2 ** 29 + 1
  charge = jax.tree_util.Partial(_const_charge, jnp.int32(big))
  budgets = np.array([2 ** 30 + 5, 3 * big, 2 ** 31 - 1])
  res = jt.run_rounds(agent, jnp.full(3, 0.5), jax.random.split(jax.random.key(0), 3),
                      budgets, jt.price_selection(agent, 0.0), max_ticks=5, charge=charge)
  np.testing.assert_array_equal(np.asarray(res.ticks), [[1, 1, 0], [1, 1, 1], [1, 1, 1]])
  np.testing.assert_array_equal(np.asarray(res.spent), [2 * big, 3 * big, 3 * big])


def test_a_window_entered_exactly_full_keeps_every_lane():
  # 4,096 logged queries (windows of 4,096 and 1,024 lanes): the first 3,072 score
  # reward 1 on their first response (eliminated after round 1), the last 1,024 never
  # (exhausted after their 3 logged responses). Round 2 starts in the 1,024-lane
  # window with every lane active: each must keep its responses, at an unlimited
  # budget and at one that stops inside round 3.
  q, n, rest = 4096, 3, 1024
  hit = np.zeros((q, n), bool)
  hit[:q - rest, 0] = True
  pool = logs.ReplayPool(answer=jnp.asarray(np.where(hit, 0, 1), jnp.int32),
                         correct=jnp.asarray(hit), reward=jnp.asarray(hit, jnp.float32),
                         tokens=jnp.ones((q, n), jnp.float32),
                         count=jnp.full(q, n, jnp.int32))
  assert jt.rounds.windows(q) == (q, rest)
  for budget, extra in ((10 ** 6, rest), (q + rest + 700, 700)):
    res = bandit.allocate(pool, budget, rule="elimination")
    want = np.r_[np.ones(q - rest, int), np.full(rest, 2)]
    want[q - rest:q - rest + extra] += 1
    np.testing.assert_array_equal(np.asarray(res.samples), want, err_msg=str(budget))
    assert int(res.spent) == want.sum()


def _const_charge(c, before, after):
  del before, after
  return c


@pytest.mark.parametrize("kw, msg", [
    (dict(k=0), "k must"), (dict(fraction=1.5), "fraction"), (dict(budget=-1), "budget"),
    (dict(budget=np.ones((2, 2), int)), "budget"), (dict(max_ticks=-1), "max_ticks"),
    (dict(max_ticks=2.5), "max_ticks"), (dict(rule=3), "rule"),
])
def test_run_rounds_bad_arguments(kw, msg):
  agent = jt.agents.coin()
  args = dict(budget=10, rule=jt.price_selection(agent, 0.5), max_ticks=4)
  args.update(kw)
  with pytest.raises((ValueError, TypeError), match=msg):
    jt.run_rounds(agent, jnp.full(3, 0.5), jax.random.split(jax.random.key(0), 3),
                  args.pop("budget"), args.pop("rule"), **args)


def test_run_rounds_compiles_once_for_other_data_and_prices():
  """A repeated call, another coin agent of other cost, other problems, keys, budget and
  price (same shapes) trace nothing new."""
  from jaxtick import values
  from jaxtick.rounds import _run_rounds
  n = 64

  def call(seed, cost, price, budget):
    p = jax.random.uniform(jax.random.key(seed), (n,), minval=0.3, maxval=0.7)
    keys = jax.random.split(jax.random.key(seed + 1), n)
    agent = jt.agents.coin(cost=cost)
    return jt.run_rounds(agent, p, keys, budget, jt.price_selection(agent, price), max_ticks=20)

  call(0, 1.0, 0.5, 300.0)
  before = values.trace_count(_run_rounds)
  call(0, 1.0, 0.5, 300.0)
  call(7, 2.0, 0.3, 123.0)
  assert values.trace_count(_run_rounds) == before
