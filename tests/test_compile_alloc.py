"""The LLM half as values: every allocation runner compiles once per (kind, static options, shapes).

As tests/test_compile.py, with a trace counter (:func:`jaxtick.values.trace_count`)
per runner: a second call with the same shapes, a second pool (sampler, data set)
of the same shapes with other data, and a bandit over another number of queries
in the same bucket each trace 0 times -- and the results are the second data's
(checked against a fresh compile, the reference code paths or NumPy).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick import values
from jaxtick.agents import output_correct, sampler
from jaxtick.alloc import bandit, lagrangian as lg, mlp, probe, utility as ut
from jaxtick.problems import logs, pools

from test_compile import Traces
from compile_count import count_programs


def _rows(pool, n):
  """The first n queries of a QueryPool (response_sigma has no query axis)."""
  return pool._replace(**{f: getattr(pool, f)[:n] for f in pool._fields
                          if f != "response_sigma"})


def _assert_same(a, b):
  for f in a._fields:
    np.testing.assert_array_equal(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)),
                                  err_msg=f)


@pytest.fixture
def unbucketed(monkeypatch):
  """Runs the body with sizes unpadded (a fresh program per exact shape): the reference."""
  def run(fun, *args, **kw):
    with monkeypatch.context() as m:
      m.setattr(values, "bucket", lambda n: n)
      return fun(*args, **kw)
  return run


# -- the bandit -------------------------------------------------------------------


def test_bandit_queries_in_one_bucket_share_a_program_and_padding_gets_nothing(unbucketed):
  pool = pools.query_pool(jax.random.key(0), 1010)
  sub = _rows(pool, 1000)     # the first 1000 queries of the same pool
  oracle = pools.prm_oracle(0.05)
  kw = dict(rule="ucb", k=2, gamma=0.9, oracle=oracle, exploration=0.5)
  t = Traces(bandit._run_one)
  a = bandit.allocate(sub, 6 * 1000, **kw)
  assert t.new() <= 1
  b = bandit.allocate(pool, 6 * 1010, **kw)
  assert t.new() == 0   # 1000 and 1010 share the bucket 1024
  assert values.bucket(1000) == values.bucket(1010) == 1024
  ref_a = unbucketed(bandit.allocate, sub, 6 * 1000, **kw)
  ref_b = unbucketed(bandit.allocate, pool, 6 * 1010, **kw)
  assert t.new() == 2   # the references: one fresh program per exact size
  _assert_same(a, ref_a)
  _assert_same(b, ref_b)
  # the padded queries got no response and no budget: every sample is a real query's
  for r, q in ((a, 1000), (b, 1010)):
    assert r.samples.shape == (q,)
    assert int(r.spent) == int(np.sum(r.samples)) == int(np.sum(r.cost))
  # a second call with the same shapes, and the same call again: nothing traced
  bandit.allocate(sub, 6 * 1000, **kw)
  assert t.new() == 0


def test_bandit_other_pool_and_options_trace_nothing(unbucketed):
  q, n = 300, 6
  p1 = pools.query_pool(jax.random.key(1), q)
  p2 = pools.query_pool(jax.random.key(2), q)
  t = Traces(bandit._run_one)
  bandit.allocate(p1, n * q, rule="uniform", oracle=pools.prm_oracle(0.0))
  assert t.new() <= 1  # 0 if an earlier test of this process compiled it
  o2 = pools.prm_oracle(0.2, noise=0.7, mu_correct=2.0)
  u2 = bandit.allocate(p2, n * q, rule="uniform", oracle=o2, gamma=0.5)
  assert t.new() == 0   # another pool, oracle noise and gamma: data
  # the second pool's draws (NumPy on its responses): uniform gives every query n
  r = pools.sample_responses(p2, n, oracle=o2)
  np.testing.assert_array_equal(u2.samples, np.full(q, n))
  np.testing.assert_array_equal(u2.covered, np.asarray(r.correct).any(1))
  rew = np.asarray(r.reward)
  np.testing.assert_array_equal(u2.best_correct,
                                np.asarray(r.correct)[np.arange(q), rew.argmax(1)])
  # a ranked rule: gamma, select_fraction, exploration and the budget are traced
  kw1 = dict(rule="gap", gamma=0.97, select_fraction=0.5, exploration=1.0)
  kw2 = dict(rule="ucb", gamma=0.8, select_fraction=0.3, exploration=0.25)
  bandit.allocate(p1, 5 * q, **kw1)
  assert t.new() <= 1
  g2 = bandit.allocate(p2, 7 * q, **kw2)
  assert t.new() == 0   # ucb and gap are one kind (ranked); the rule id is traced
  _assert_same(g2, unbucketed(bandit.allocate, p2, 7 * q, **kw2))
  # a budget grid: one vmapped program
  tm = Traces(bandit._run_many)
  bandit.allocate(p1, np.array([2 * q, 4 * q]), rule="elimination")
  many = bandit.allocate(p2, np.array([3 * q, 5 * q]), rule="elimination")
  assert tm.new() <= 1
  one = bandit.allocate(p2, 5 * q, rule="elimination")
  _assert_same(jax.tree_util.tree_map(lambda x: x[1], many), one)


def test_bandit_host_side_is_two_programs_per_number_of_queries():
  """The padding and the cut to Q queries are a program each; a repeat traces nothing."""
  bandit.allocate(pools.query_pool(jax.random.key(21), 29), 90, rule="ucb")  # Q 29 -> 32 lanes
  p30 = pools.query_pool(jax.random.key(22), 30)
  with count_programs() as new_q:
    r30 = bandit.allocate(p30, 90, rule="ucb")
  assert new_q[0] <= 2  # the run over 32 lanes is shared; op by op: 27 programs
  assert r30.samples.shape == (30,) and int(r30.spent) == 90
  with count_programs() as again:
    r = bandit.allocate(pools.query_pool(jax.random.key(23), 30), 90, rule="ucb", gamma=0.5)
  assert again[0] == 0
  assert not np.array_equal(r.best_reward, r30.best_reward)
  # a replay pool (its caps are its logged counts) over a budget grid
  bandit.allocate(_replay(3, q=29), np.array([40, 60]), rule="gap")
  with count_programs() as replay:
    rp = _replay(4, q=29)
    res = bandit.allocate(rp, np.array([40, 60]), rule="gap", max_samples=3)
  assert replay[0] == 0
  assert res.samples.shape == (2, 29)
  assert (np.asarray(res.samples) <= np.minimum(np.asarray(rp.count), 3)).all()


# -- the sampler agent --------------------------------------------------------------


def test_samplers_over_other_pools_share_run_price_batch():
  q, cap = 200, 12
  t = Traces(jt.schedule._run_price_batch)
  got = []
  for seed in (4, 5):
    pool = pools.query_pool(jax.random.key(seed), q)
    res = jt.run_price_batch(sampler(pool), jnp.arange(q), jax.random.split(
        jax.random.key(0), q), 0.5, max_ticks=cap)
    got.append(res.ticks)
    # ground truth: the price rule on 1 - best reward stops where elimination does
    el = bandit.allocate(pool, 10 ** 7, rule="elimination", max_samples=cap)
    np.testing.assert_array_equal(res.ticks, el.samples)
  assert t.new() <= 1
  assert not np.array_equal(got[0], got[1])   # the second pool's data was used


def test_sampler_oracle_and_tokens_are_data():
  q, n = 60, 8
  keys = jax.random.split(jax.random.key(0), q)
  t = Traces(jt.schedule._run_price_batch)
  for seed, oracle, tok in ((3, pools.prm_oracle(0.05), 500.0),
                            (6, pools.prm_oracle(0.2, noise=0.5), 300.0)):
    pool = pools.query_pool(jax.random.key(seed), q)
    agent = sampler(pool, oracle=oracle, cost="tokens", initial_tokens=tok)
    res = jt.run_price_batch(agent, jnp.arange(q), keys, 0.0, max_ticks=n, min_ticks=n)
    want = bandit.allocate(pool, q * n, rule="uniform", oracle=oracle)
    np.testing.assert_array_equal(jax.vmap(output_correct)(res.state), want.best_correct)
    np.testing.assert_array_equal(res.state.covered, want.covered)
  assert t.new() <= 1


def _replay(seed, q=40, n=6):
  rng = np.random.default_rng(seed)
  correct = rng.random((q, n)) < 0.3
  return logs.replay_pool(logs.SampleLog(
      correct=correct, reward=np.where(correct, 1.0, rng.random((q, n)) * 0.5),
      answer=np.where(correct, 0, rng.integers(1, 4, (q, n))),
      tokens=rng.integers(50, 500, (q, n)).astype(float),
      count=rng.integers(1, n + 1, q)))


def test_samplers_over_other_replay_pools_share_front():
  q = 40
  prices = np.array([0.05, 0.3, 0.6], np.float32)
  keys = jax.random.split(jax.random.key(0), q)
  t = Traces(jt.fronts._front)
  fronts = []
  for seed in (0, 1):
    rp = _replay(seed, q)
    fr = jt.front(sampler(rp), jnp.arange(q), keys, prices, max_ticks=8, episodes=True)
    fronts.append(fr)
    for j, p in enumerate(prices):   # the reference: the batch runner, price by price
      r = jt.run_price_batch(sampler(rp), jnp.arange(q), keys, p, max_ticks=8)
      np.testing.assert_array_equal(fr.ticks[j], r.ticks)
  assert t.new() <= 1
  assert not np.array_equal(fronts[0].ticks, fronts[1].ticks)


# -- the fits, the Lagrangian solve and the router grid ------------------------------


def test_probe_fit_compiles_once():
  def data(seed, q=30, s=3):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return (jax.random.normal(k1, (q, 4)), jax.random.normal(k2, (s, 2)),
            jax.random.uniform(k3, (q, s)))
  t = Traces(mlp._fit)
  kw = dict(hidden=(8, 8), steps=20, batch_size=16)
  p1 = probe.fit(jax.random.key(0), *data(0), **kw)
  assert t.new() <= 1
  x, g, y = data(1)
  p2 = probe.fit(jax.random.key(0), x, g, y, learning_rate=3e-3, **kw)
  assert t.new() == 0   # other data, another learning rate
  # the reference: the same fit with a fresh closure over the second data
  z = (np.asarray(probe.inputs(x, g)).reshape(-1, 6) - np.asarray(p2.mu)) / np.asarray(p2.sd)
  zs, ys = jnp.asarray(z), jnp.asarray(y, jnp.float32).reshape(-1)
  ki, kb = jax.random.split(jax.random.key(0))
  ref, _ = mlp.fit(lambda p, rows: probe._loss(zs, ys, p, rows), mlp.init(ki, (6, 8, 8, 1)),
                   steps=20, num_rows=z.shape[0], batch_size=16, learning_rate=3e-3, key=kb)
  assert t.new() == 1   # a new lambda: a new program
  jax.tree_util.tree_map(np.testing.assert_array_equal, p2.params, ref)
  assert not np.array_equal(p1.params[0][0], p2.params[0][0])


def _instances(seed, n=64, k=4):
  rng = np.random.default_rng(seed)
  acc = np.sort(rng.random((n, k)), axis=1).astype(np.float32)
  return acc, rng.random((n, 3)).astype(np.float32)


def test_imitation_fit_compiles_once():
  cost = np.array([1.0, 2.0, 4.0, 8.0], np.float32)
  t = Traces(mlp._fit)
  pols = []
  for seed, wd in ((0, 1e-4), (1, 1e-3)):
    acc, x = _instances(seed)
    act = np.asarray(lg.oracle_actions(acc, cost, 0.05))
    pols.append(lg.fit_imitation(jax.random.key(0), x, act, 4, hidden=8, steps=30,
                                 weight_decay=wd))
  assert t.new() <= 1
  # the reference for the second: a fresh closure over its data
  mu, sd = x.mean(0), x.std(0) + 1e-6
  xs, ys = jnp.asarray((x - mu) / sd), jnp.asarray(act)
  ref, _ = mlp.fit(lambda p, rows: lg._imitation_loss(xs, ys, 1e-3, p, rows),
                   mlp.init(jax.random.key(0), (3, 8, 4)), steps=30, num_rows=64,
                   learning_rate=3e-3)
  jax.tree_util.tree_map(np.testing.assert_array_equal, pols[1]["mlp"], ref)


def test_lagrangian_allocate_compiles_once():
  cost = np.array([1.0, 2.0, 4.0, 8.0], np.float32)
  t = Traces(lg._allocate)
  allocs = [lg.allocate(*_instances(s)[:1], c, tg)
            for s, c, tg in ((0, cost, 3.0), (1, 2 * cost, 5.0))]
  assert t.new() <= 1   # other accuracies, costs and target: data
  al = allocs[1]
  acc = _instances(1)[0]
  # NumPy: the oracle action at the price found, and the target met
  u = acc - float(al.price) * 2 * cost
  near = u >= u.max(1, keepdims=True) - 1e-5 * (np.abs(acc).max() + float(al.price) * 16)
  np.testing.assert_array_equal(al.action, near.argmax(1))
  assert float(al.mean_cost) == pytest.approx(5.0, rel=1e-5)
  lg.allocate(acc, 2 * cost, 4.0, num_iters=20)
  assert t.new() == 1   # num_iters is static


def test_route_grid_compiles_once():
  def tables(seed, q=50, s=3):
    rng = np.random.default_rng(seed)
    return [rng.random((q, s)).astype(np.float32) for _ in range(6)]
  lam_t, lam_l = np.array([0.0, 0.5, 1.0], np.float32), np.array([0.0, 0.2], np.float32)
  t = Traces(ut._grid)
  ut.route_grid(*tables(0)[:3], lam_t, lam_l, *tables(0)[3:])
  assert t.new() <= 1
  a, tk, lt, ta, tt, tl = tables(1)
  fr = ut.route_grid(a, tk, lt, lam_t + 0.1, lam_l, ta, tt, tl)
  assert t.new() == 0
  for i, x in enumerate(lam_t + 0.1):   # NumPy: route, then score on the true tables
    for j, y in enumerate(lam_l):
      c = np.argmax(a - np.float32(x) * tk - y * lt, axis=1)
      pick = lambda tab: tab[np.arange(50), c].mean()
      np.testing.assert_allclose(fr.acc[i, j], pick(ta), rtol=1e-6)
      np.testing.assert_allclose(fr.tokens[i, j], pick(tt), rtol=1e-6)
      np.testing.assert_allclose(fr.share[i, j], np.bincount(c, minlength=3) / 50)
