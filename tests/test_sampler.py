"""The repeated-sampling Tick agent against the allocation code on the same draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick.agents import answer_entropy as agents_entropy
from jaxtick.agents import majority_vote, output_correct, sampler
from jaxtick.problems import logs, pools


def _ticks(agent, query, n):
  s = agent.init(query, jax.random.key(0))
  for _ in range(n):
    s = agent.tick(s, jax.random.key(1))
  return s


def test_n_ticks_match_uniform_allocation_outputs():
  q, n = 60, 12
  pool = pools.query_pool(jax.random.key(3), q)
  oracle = pools.prm_oracle(0.05)
  res = jt.alloc.allocate(pool, q * n, rule="uniform", oracle=oracle)
  r = pools.sample_responses(pool, n, oracle=oracle)
  for out in ("best", "majority"):
    agent = sampler(pool, oracle=oracle, output=out)
    run = jax.jit(jax.vmap(lambda x: _ticks(agent, x, n)))
    st = run(jnp.arange(q))
    got = np.asarray(jax.vmap(lambda s: output_correct(s, out))(st))
    want = np.asarray(res.best_correct if out == "best" else res.majority_correct)
    np.testing.assert_array_equal(got, want)
  # best answer = answer of the first maximal reward (NumPy on the same draws)
  rew, ans = np.asarray(r.reward), np.asarray(r.answer)
  np.testing.assert_array_equal(np.asarray(st.best_answer), ans[np.arange(q), rew.argmax(1)])
  np.testing.assert_array_equal(np.asarray(st.covered), np.asarray(r.correct).any(1))


def test_price_rule_on_reward_signal_is_elimination():
  # Ground truth: uncertainty 1 - best reward is 0 after the first correct
  # response, so the price rule stops exactly where elimination does.
  q, cap = 200, 16
  pool = pools.query_pool(jax.random.key(4), q)
  agent = sampler(pool)
  res = jax.vmap(lambda x: jt.run_price(agent, x, jax.random.key(0), 0.5,
                                        max_ticks=cap))(jnp.arange(q))
  el = jt.alloc.allocate(pool, 10 ** 7, rule="elimination", max_samples=cap)
  np.testing.assert_array_equal(np.asarray(res.ticks), np.asarray(el.samples))


def test_replay_query_stops_when_its_log_runs_out():
  log = logs.SampleLog(correct=np.array([[False, False, False], [False, True, False]]),
                       reward=np.array([[0.1, 0.2, 0.3], [0.0, 1.0, 0.0]]),
                       answer=np.array([[4, 4, 9], [1, 0, -1]]),
                       tokens=np.array([[10.0, 20.0, 30.0], [5.0, 5.0, 0.0]]),
                       count=np.array([3, 2]))
  agent = sampler(logs.replay_pool(log), signal="entropy", output="majority",
                     cost="tokens")
  s = _ticks(agent, 0, 5)   # 2 ticks past the end: nothing changes, no wrap-around
  assert int(s.n) == 3 and float(s.tokens) == 60.0
  assert float(agent.uncertainty(s)) == 0.0 and np.isinf(float(agent.cost(s)))
  assert int(agent.output(s)) == 0 and not bool(output_correct(s, "majority"))
  by_reward = sampler(logs.replay_pool(log))   # u = 0.9, 0.8, 0.7, then exhausted
  res = jt.run_price(by_reward, 0, jax.random.key(0), 0.0, max_ticks=50)
  assert int(res.ticks) == 3
  s1 = _ticks(agent, 0, 2)
  np.testing.assert_allclose(float(agent.uncertainty(s1)), 0.0)   # answers 4, 4
  np.testing.assert_allclose(float(agent.cost(s1)), 15.0)
  s2 = _ticks(agent, 0, 3)
  assert float(agent.uncertainty(s2)) == 0.0   # exhausted


def test_entropy_signal_and_bad_arguments():
  pool = pools.query_pool(jax.random.key(5), 4)
  agent = sampler(pool, signal="entropy")
  s = agent.init(0, jax.random.key(0))
  np.testing.assert_allclose(float(agent.uncertainty(s)), np.log(8), rtol=1e-6)
  for kw, msg in [(dict(signal="x"), "signal"), (dict(output="x"), "output"),
                  (dict(cost="x"), "cost")]:
    with pytest.raises(ValueError, match=msg):
      sampler(pool, **kw)


def test_front_of_the_sampler_equals_run_price_batch_at_each_price():
  # The sampler's price sweep goes through jt.front: entropy signal, majority
  # output, token cost, a PRM oracle; every price equals the batch runner's.
  q = 48
  pool = pools.query_pool(jax.random.key(8), q)
  agent = sampler(pool, oracle=pools.prm_oracle(0.1), signal="entropy", output="majority",
                  cost="tokens", initial_tokens=400.0)
  keys = jax.random.split(jax.random.key(1), q)
  prices = np.array([0.0005, 0.002, 0.004, 0.01], np.float32)
  fr = jt.front(agent, jnp.arange(q), keys, prices, max_ticks=10, episodes=True)
  for j, p in enumerate(prices):
    r = jt.run_price_batch(agent, jnp.arange(q), keys, p, max_ticks=10)
    np.testing.assert_array_equal(fr.ticks[j], r.ticks, err_msg=str(p))
    np.testing.assert_allclose(fr.cost[j], r.cost, rtol=1e-6, err_msg=str(p))
    np.testing.assert_array_equal(fr.output[j], jax.vmap(agent.output)(r.state))
  assert len(set(np.asarray(fr.ticks).sum(1).tolist())) > 1   # the prices differ


def test_one_entropy_and_one_majority_vote():
  counts = jnp.array([[2, 0, 2, 1], [0, 3, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
  n = counts.sum(1)
  p = np.asarray(counts, np.float64) / np.maximum(np.asarray(n), 1)[:, None]
  want = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), 1)
  np.testing.assert_allclose(agents_entropy(counts, n), want, rtol=1e-6, atol=1e-7)
  # equal multisets of counts give bit-equal entropies, in any order
  assert float(agents_entropy(jnp.array([1, 2, 2]), 5)) == float(
      agents_entropy(jnp.array([2, 1, 2]), 5))
  # majority: most frequent; among ties the answer seen first (answers 0 and 2 have
  # two votes each; 2 was seen at response 0, 0 at response 1)
  st = jax.vmap(lambda c: sampler(pools.query_pool(jax.random.key(0), 1)).init(
      0, jax.random.key(0))._replace(counts=c))(counts)
  st = st._replace(n=n, first_seen=jnp.array([[1, 9, 0, 3], [0, 0, 0, 0], [0] * 4, [3, 2, 1, 0]]),
                   first_correct=jnp.array([[True, False, False, False]] * 4))
  ans, ok = majority_vote(st)
  np.testing.assert_array_equal(ans, [2, 1, -1, 3])
  np.testing.assert_array_equal(ok, [False, False, False, False])
  seen = st.first_seen.at[0].set(jnp.array([0, 9, 1, 3]))   # now answer 0 was seen first
  ans0, ok0 = majority_vote(st._replace(first_seen=seen))
  assert int(ans0[0]) == 0 and bool(ok0[0])
