"""Agents as values: every runner compiles once per (agent kind, static options, shapes).

A trace counter (:func:`jaxtick.values.trace_count`) counts how often each
runner's compiled body is traced. A first call traces at most once (not at all
if another test in the same worker process compiled the same program first). For each runner: a second call with the same
shapes, a second agent of the same factory with other data, and (where sizes
are bucketed) a size in the same bucket each trace 0 times -- and the second
agent's results show that its data, not the first agent's, was used.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick import values

from compile_count import count_programs
from toy_agents import gaussian_agent


def _coins(n, seed=0):
  probs = jt.problems.coin_problems(jax.random.key(seed), n)
  return probs, jax.random.split(jax.random.key(seed + 1), n)


class Traces:
  """Counts the traces of one runner's compiled body between checkpoints."""

  def __init__(self, fun):
    self.fun = fun
    self.last = values.trace_count(fun)

  def new(self) -> int:
    now = values.trace_count(self.fun)
    out, self.last = now - self.last, now
    return out


# -- the split ----------------------------------------------------------------------


def test_split_keeps_functions_static_and_arrays_traced():
  a, b = jt.agents.coin(cost=1.0), jt.agents.coin(cost=3.0)
  (sa, da), (sb, db) = values.split(a), values.split(b)
  assert sa == sb and hash(sa) == hash(sb)  # one kind: one program
  assert [float(x) for x in da] == [1.0] and [float(x) for x in db] == [3.0]
  back = values.merge(sb, db)
  assert back.tick is not None and float(back.cost(jt.agents.CoinState(
      jnp.float32(0.5), jnp.int32(0), jnp.int32(0)))) == 3.0


def test_split_python_numbers():
  static, data = values.split((1.5, 2, True, "x", np.float32(0.5)))
  assert data == [1.5, np.float32(0.5)]  # floats are data
  assert [x for _, _, x in static.leaves] == [2, True, "x"]
  # 1 and True hash alike but are different static values
  assert values.split((1,))[0] != values.split((True,))[0]


def test_closure_agent_compiles_per_object():
  probs, keys = _coins(64)
  t = Traces(jt.schedule._run_price_batch)
  a = gaussian_agent()
  jt.run_price_batch(a, probs, keys, 1.0, max_ticks=8)
  jt.run_price_batch(a, probs, keys, 1.0, max_ticks=8)
  assert t.new() == 1  # the same closures: one program
  jt.run_price_batch(gaussian_agent(), probs, keys, 1.0, max_ticks=8)
  assert t.new() == 1  # new closures: a new program (today's cost), still right


@pytest.mark.parametrize("n,expected", [(1, 1), (7, 7), (8, 8), (9, 10), (17, 20),
                                        (1000, 1024), (1025, 1280), (1281, 1536)])
def test_bucket(n, expected):
  assert values.bucket(n) == expected
  assert n <= values.bucket(n) < 1.25 * n + 1


# -- the runners ----------------------------------------------------------------------


def test_run_price_compiles_once():
  probs, keys = _coins(4)
  t = Traces(jt.schedule._run_price)
  r1 = jt.run_price(jt.agents.coin(), probs[0], keys[0], 0.5, max_ticks=16)
  jt.run_price(jt.agents.coin(), probs[1], keys[1], 0.9, max_ticks=16)
  r3 = jt.run_price(jt.agents.coin(cost=2.0), probs[0], keys[0], 0.5, max_ticks=16)
  assert t.new() <= 1  # 0 if this process compiled it before
  # cost 2 at price 0.5 is the rule of cost 1 at price 1
  r4 = jt.run_price(jt.agents.coin(), probs[0], keys[0], 1.0, max_ticks=16)
  assert int(r3.ticks) == int(r4.ticks) and float(r3.cost) == 2 * float(r4.cost)
  assert int(r1.ticks) >= int(r4.ticks)
  jt.run_price(jt.agents.coin(), probs[0], keys[0], 0.5, max_ticks=17)
  assert t.new() == 1  # a static option: a new program


def test_run_price_batch_compiles_once():
  probs, keys = _coins(256)
  t = Traces(jt.schedule._run_price_batch)
  a = jt.run_price_batch(jt.agents.coin(), probs, keys, 0.5, max_ticks=32)
  b = jt.run_price_batch(jt.agents.coin(cost=2.0), probs, keys, 0.25, max_ticks=32)
  assert t.new() <= 1  # 0 if this process compiled it before
  np.testing.assert_array_equal(a.ticks, b.ticks)
  np.testing.assert_allclose(b.cost, 2 * a.cost)


def test_run_budget_compiles_once():
  probs, keys = _coins(6)
  t = Traces(jt.schedule._run_budget)
  a = jt.run_budget(jt.agents.coin(), probs, keys, 12.0, max_ticks=8)
  b = jt.run_budget(jt.agents.coin(cost=2.0), probs, keys, 24.0, max_ticks=8)
  assert t.new() <= 1  # 0 if this process compiled it before
  np.testing.assert_array_equal(a.ticks, b.ticks)
  assert float(b.spent) == 2 * float(a.spent)


def _labels_front(agent, probs, keys, prices, **kw):
  return jt.front(agent, probs, keys, prices, max_ticks=24, min_ticks=1,
                  score=probs > 0.5, **kw)


@pytest.mark.parametrize("method", ["trace", "batch"])
def test_front_compiles_once_per_bucket(method):
  probs, keys = _coins(300)
  prices = np.linspace(0.2, 2.0, 6).astype(np.float32)
  t = Traces(jt.fronts._front)
  f1 = _labels_front(jt.agents.coin(), probs, keys, prices, method=method)
  assert t.new() <= 1  # 0 if this process compiled it before
  f2 = _labels_front(jt.agents.coin(cost=2.0), probs, keys, prices / 2, method=method)
  assert t.new() == 0
  np.testing.assert_array_equal(f1.total_ticks, f2.total_ticks)
  np.testing.assert_allclose(f2.mean_cost, 2 * f1.mean_cost, rtol=1e-6)
  # 290 episodes and 7 prices fall in the buckets of 300 and 6 (320, 7 -> 8? no: 6, 7)
  f3 = _labels_front(jt.agents.coin(), probs[:290], keys[:290], prices[:5],
                     method=method, episodes=True)
  assert t.new() == 1  # episodes=True is a static option
  f4 = _labels_front(jt.agents.coin(), probs[:299], keys[:299], prices[:5],
                     method=method, episodes=True)
  assert t.new() == 0  # 290 and 299 share the bucket 320
  assert f3.ticks.shape == (5, 290) and f4.ticks.shape == (5, 299)
  assert int(f4.num_episodes) == 299
  # padding is not counted: the first 290 episodes agree, and the sums are theirs
  np.testing.assert_array_equal(f4.ticks[:, :290], f3.ticks)
  np.testing.assert_array_equal(f3.total_ticks, f3.ticks.sum(axis=1))
  np.testing.assert_array_equal(f4.correct, f4.episode_correct.sum(axis=1))
  # and they equal the batch runner, price by price
  for j, p in enumerate(prices[:5]):
    r = jt.run_price_batch(jt.agents.coin(), probs[:299], keys[:299], p,
                           max_ticks=24, min_ticks=1)
    np.testing.assert_array_equal(f4.ticks[j], r.ticks)


def test_front_sharded_and_run_price_sharded_compile_once():
  probs, keys = _coins(64)
  prices = np.array([0.3, 1.0], np.float32)
  t = Traces(jt.shard._front_sharded)
  a = jt.front_sharded(jt.agents.coin(), probs, keys, prices, max_ticks=16)
  b = jt.front_sharded(jt.agents.coin(cost=2.0), probs, keys, prices / 2, max_ticks=16)
  assert t.new() <= 1  # 0 if this process compiled it before
  np.testing.assert_array_equal(a.total_ticks, b.total_ticks)
  t = Traces(jt.shard._run_price_sharded)
  a = jt.run_price_sharded(jt.agents.coin(), probs, keys, 0.5, max_ticks=16)
  b = jt.run_price_sharded(jt.agents.coin(cost=4.0), probs, keys, 0.125, max_ticks=16)
  assert t.new() <= 1  # 0 if this process compiled it before
  np.testing.assert_array_equal(a.ticks, b.ticks)


def test_matched_price_compiles_once():
  probs, keys = _coins(200)
  t = Traces(jt.fronts._trajectories)
  a = jt.matched_price(jt.agents.coin(), probs, keys, 6.0, max_ticks=24, score=probs > 0.5)
  b = jt.matched_price(jt.agents.coin(cost=2.0), probs, keys, 12.0, max_ticks=24,
                       score=probs > 0.5)
  assert t.new() <= 1  # 0 if this process compiled it before
  assert float(b.matched.price) == pytest.approx(float(a.matched.price) / 2, rel=1e-5)


def test_price_search_on_a_runner_compiles_once():
  probs, keys = _coins(128)
  tb, ts = Traces(jt.schedule._bisect), Traces(jt.schedule._subgradient)
  found = []
  for cost in (1.0, 2.0):
    f = jt.price_cost(jt.agents.coin(cost=cost), probs, keys, max_ticks=24)
    found.append(jt.bisect_price(f, 5.0 * cost, 0.0, 10.0))
    jt.subgradient_price(f, 5.0 * cost, 1.0, step_size=0.05, num_steps=5)
  assert tb.new() <= 1 and ts.new() <= 1  # first calls: 0 if compiled before
  assert float(found[1].price) == pytest.approx(float(found[0].price) / 2, rel=1e-4)
  assert float(found[1].cost) == pytest.approx(2 * float(found[0].cost), rel=1e-5)


def test_soft_trace_and_tune_compile_once():
  probs, keys = _coins(64)
  t = Traces(jt.soft._trace)
  tr = [jax.vmap(lambda p, k: jt.soft.trace(jt.agents.coin(cost=c), p, k, max_ticks=16))(
      probs, keys) for c in (1.0, 3.0)]
  assert t.new() <= 1  # 0 if this process compiled it before
  np.testing.assert_allclose(tr[1].cost, 3 * tr[0].cost)
  t = Traces(jt.soft._tune_impl)
  jt.soft.tune_price(tr[0], tau=0.1, target=4.0, num_steps=5)
  assert t.new() <= 1  # 0 if this process compiled it before
  jt.soft.tune_price(tr[0], tau=(0.2, 0.1), target=5.0, num_steps=5)  # every stage: one program
  assert t.new() == 0


def test_vector_price_tune_compiles_once():
  """Two cost kinds (tokens, seconds): a repeat tune with other targets traces 0 times."""
  from toy_agents import two_cost_agent
  n = 64
  problems = jnp.stack([jax.random.uniform(jax.random.key(0), (n,), minval=-0.6, maxval=0.6),
                        jax.random.uniform(jax.random.key(1), (n,), minval=0.2, maxval=2.0)], 1)
  keys = jax.random.split(jax.random.key(2), n)
  agent = two_cost_agent()
  tr = jax.vmap(lambda p, k: jt.soft.trace(agent, p, k, max_ticks=16))(problems, keys)
  t = Traces(jt.soft._tune_impl)
  first = jt.soft.tune_price(tr, tau=0.1, target=[5.0, 5.0], min_ticks=1, num_steps=5)
  assert t.new() <= 1  # 0 if this process compiled it before
  again = jt.soft.tune_price(tr, tau=(0.1, 0.05), target=[4.0, 4.5], min_ticks=1, num_steps=5)
  assert t.new() == 0
  assert first.price.shape == again.price.shape == (2,)
  assert not np.allclose(first.price, again.price)  # the new targets were used


# -- host code: one program per shapes, nothing on a repeat -----------------------------
#
# Outside ``jit``, every jnp/lax op on a new shape is a program of its own, lowered and
# compiled (and ``jnp.asarray`` of a NumPy array is one too). The library's host code
# (padding, checks, summaries, the public helpers) runs its arithmetic as one compiled
# program, or in NumPy. ``compile_count.count_programs`` counts the programs JAX lowers
# in a block (a persistent-cache hit is lowered too, so it counts).

def test_pad_rows_compiles_nothing():
  """Host arrays are padded with NumPy: no program at all, even for a new shape."""
  tree = (np.arange(37 * 3, dtype=np.float32).reshape(37, 3), jnp.arange(37),
          jnp.float32(2.0))
  with count_programs() as p:
    out = values.pad_rows(tree, 41)
  assert p[0] == 0
  assert isinstance(out[0], jax.Array) and out[0].shape == (41, 3)
  np.testing.assert_array_equal(out[0][37:], np.repeat(tree[0][-1:], 4, axis=0))
  np.testing.assert_array_equal(out[1], np.r_[np.arange(37), [36] * 4])
  keys = jax.random.split(jax.random.key(0), 37)
  with count_programs() as p:  # typed keys: padded through their key data
    padded = values.pad_rows(keys, 41)
  assert p[0] == 0 and padded.dtype == keys.dtype and padded.shape == (41,)
  np.testing.assert_array_equal(jax.random.key_data(padded[40]), jax.random.key_data(keys[36]))


def test_check_agent_compiles_nothing():
  """The Tick API check is abstract (eval_shape): no program, even for new shapes."""
  probs, keys = _coins(43)
  with count_programs() as p:
    jt._checks.check_agent(jt.agents.coin(cost=1.5), probs, keys, batched=True)
  assert p[0] == 0


def test_check_agent_repeat_traces_nothing(monkeypatch):
  """A repeated batched call is checked from its leaves' shapes: no abstract trace at all
  (a repeat of an unjitted runner costs its dispatch, not a trace of the check)."""
  probs, keys = _coins(45)
  agent = jt.agents.coin(cost=1.25)
  jt._checks.check_agent(agent, probs, keys, batched=True)
  calls = []
  real = jax.eval_shape
  monkeypatch.setattr(jax, "eval_shape", lambda *a, **k: calls.append(1) or real(*a, **k))
  jt._checks.check_agent(agent, probs, keys, batched=True)
  jt._checks.check_agent(jt.agents.coin(cost=3.0), probs[:40], keys[:40], batched=True)
  assert calls == []
  jt._checks.check_agent(agent, probs.astype(jnp.bfloat16), keys, batched=True)  # another dtype
  assert calls


def test_stats_one_program_per_shape():
  k, n = np.arange(29) % 7, np.full(29, 9)
  calls = [lambda: jt.stats.proportion(k, n), lambda: jt.stats.normal_interval(k, n),
           lambda: jt.stats.wilson_interval(k, n), lambda: jt.stats.binom_cdf_half(k, n),
           lambda: jt.stats.mcnemar_counts(k, n - k),
           lambda: jt.stats.mcnemar(k > 2, k > 4)]
  for call in calls:
    with count_programs() as p:
      call()
    assert p[0] <= 1  # a new shape: one program (0 if this process compiled it before)
    with count_programs() as p:
      call()
    assert p[0] == 0


def test_front_summary_one_program_per_shape():
  """unpad and assemble (run after the compiled read): a program or two for new shapes."""
  fronts = jt.fronts
  p, n = 13, 11
  total = fronts._Sums(np.arange(p + 3, dtype=np.int32) * 3, np.linspace(0, 9, p + 3, dtype=np.float32),
                       np.arange(p + 3, dtype=np.int32) % n, np.zeros(p + 3, np.int32))
  per = fronts._Read(np.ones((n + 2, p + 3), np.int32), np.ones((n + 2, p + 3), np.float32),
                     np.zeros((n + 2, p + 3), np.int32), np.ones((n + 2, p + 3), bool),
                     np.zeros((n + 2, p + 3), bool))
  total, per = jax.device_put((total, per))  # as the compiled read returns them
  prices, num = jax.device_put(np.linspace(0, 1, p, dtype=np.float32)), jax.device_put(np.int32(n))
  for _ in range(2):
    with count_programs() as c:
      total_p, per_p = fronts.unpad(total, per, p, n)
    assert c[0] <= 1  # 0 if this process compiled it before, then 0 on the repeat
    with count_programs() as c:
      fr = fronts.assemble(prices, num, total_p, per_p, True)
    assert c[0] <= 2  # the counts' summary and the per-episode transposes
  assert fr.ticks.shape == (p, n) and fr.ci_wilson.hi.shape == (p,)
  np.testing.assert_allclose(fr.accuracy, (np.arange(p) % n) / n, rtol=1e-6)


def test_front_repeat_compiles_nothing():
  """Another grid of the same size and another N in the same bucket: nothing compiles."""
  probs, keys = _coins(300)
  prices = np.linspace(0.2, 2.0, 6).astype(np.float32)
  agent = jt.agents.coin()
  _labels_front(agent, probs, keys, prices, method="trace")
  probs, keys = probs[:297], keys[:297]  # (slicing is a program of its own)
  labels = probs > 0.5
  with count_programs() as p:
    f = jt.front(agent, probs, keys, prices / 2, max_ticks=24, min_ticks=1, score=labels,
                 method="trace")
  assert p[0] == 0
  assert int(f.num_episodes) == 297 and f.ci_wilson.lo.shape == (6,)


def test_soft_and_calibrate_repeat_compile_nothing():
  probs, keys = _coins(24)
  tr = jax.vmap(lambda p, k: jt.soft.trace(jt.agents.coin(), p, k, max_ticks=11))(probs, keys)
  one = jax.tree_util.tree_map(lambda x: x[0], tr)
  correct = jnp.asarray(tr.output == (probs > 0.5)[:, None], jnp.float32)
  platt = jt.Platt(1.0, 0.0)
  params = jt.soft.TuneParams(jnp.float32(0.0), platt)
  u, gain = np.asarray(tr.uncertainty[:, 3]), np.asarray(correct[:, 3])
  calls = [
      lambda price: jt.soft.stop_probabilities(one, price, tau=0.3, min_ticks=1, calib=platt),
      lambda price: jt.soft.mean_cost(tr, price, tau=0.3, calib=platt),
      lambda price: jt.soft.mean_value(tr, correct, price, tau=0.3),
      lambda price: jt.soft.objective(params, tr, correct, tau=0.3, mu=price),
      lambda price: jt.soft.tune_price(tr, tau=0.3, mu=price, correct=correct, num_steps=3),
      lambda price: jt.fit_isotonic(u * price, gain),
      lambda price: jt.fit_platt(u * price, gain, num_steps=3),
  ]
  for call in calls:
    call(0.5)
    with count_programs() as p:
      call(0.25)  # other values, same shapes
    assert p[0] == 0
