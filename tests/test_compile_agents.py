"""The library's agents are values: two agents of one factory share one program.

For each agent kind (MCTS on a game tree, the gap test, the SPRT, exit heads
over a logit table and over an MLP) a second agent with other data (cost,
exploration, prior variance, sigma, hypotheses and error rates, per-head costs,
MLP weights) traces :func:`jaxtick.schedule._run_price_batch` and
:func:`jaxtick.fronts._front` 0 times -- and its results are the ones its own
data imply: cost scaling, a property of the data that the first agent lacks,
a closed-form or direct computation, or the same agent compiled on its own
with its data baked in as constants (:func:`_closed`). The sweeps and
``multi_exit.train`` trace nothing when repeated with the same shapes. The host
code of the models and sweeps runs as a few compiled programs, not an eager op
(a program of its own per op and shape) each: ``compile_count.count_programs`` counts them.
"""

import jax
import jax.numpy as jnp
import numpy as np

import jaxtick as jt
from jaxtick import values
from jaxtick.agents import _exit_heads as eh
from jaxtick.agents import sequential as sq
from jaxtick.models import mlp, multi_exit

from compile_count import count_programs
from test_compile import Traces


def _closed(agent):
  """The same agent written as closures: its data are constants of a program of its own."""
  return jt.Agent(*[(lambda f: lambda *a: f(*a))(f) for f in agent])


def _keys(seed, n):
  return jax.random.split(jax.random.key(seed), n)


def _equal(a, b):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# -- MCTS on a game tree --------------------------------------------------------------

A, D, SIMS = 3, 3, 16


def _mcts(**kw):
  return jt.agents.mcts(jt.problems.game_tree_env(A, D), SIMS, **kw)


def test_game_tree_env_is_a_value():
  s1, d1 = values.split(jt.problems.game_tree_env(A, D))
  s2, d2 = values.split(jt.problems.game_tree_env(A, D))
  assert s1 == s2 and hash(s1) == hash(s2) and d1 == d2 == []
  assert s1 != values.split(jt.problems.game_tree_env(A, D, two_player=True))[0]
  assert s1 != values.split(jt.problems.game_tree_env(A, D + 1))[0]
  a, b = _mcts(), _mcts(exploration=0.5, prior_var=0.25, cost=3.0)
  (sa, _), (sb, db) = values.split(a), values.split(b)
  assert sa == sb
  assert [float(x) for x in db] == [0.5, 0.25, 3.0]  # exploration, prior_var, cost
  assert sa != values.split(jt.agents.mcts(jt.problems.game_tree_env(A, D), SIMS,
                                           capacity=SIMS + 2))[0]


def test_mcts_agents_share_one_program():
  n = 48
  trees = jt.problems.game_tree_problems(jax.random.key(0), n)
  keys = _keys(1, n)
  labels = jax.vmap(lambda p: jt.problems.game_tree_solve(p, A, D).best_action)(trees)
  run = lambda agent, price: jt.run_price_batch(agent, trees, keys, price, max_ticks=SIMS)
  t = Traces(jt.schedule._run_price_batch)
  a = run(_mcts(), 0.5)
  assert t.new() <= 1
  c = run(_mcts(cost=2.0), 0.25)
  b = run(_mcts(exploration=0.3, prior_var=0.2), 0.5)
  low, high = run(_mcts(exploration=0.05), 0.0), run(_mcts(exploration=4.0), 0.0)
  assert t.new() == 0
  # cost 2 at price 1/4 is the rule of cost 1 at price 1/2
  np.testing.assert_array_equal(c.ticks, a.ticks)
  np.testing.assert_allclose(c.cost, 2 * a.cost, rtol=1e-6)
  # exploration is the second agent's own: little exploration concentrates the visits
  share = lambda r: np.mean(np.max(np.asarray(jt.agents.root_visits(r.state)), -1))
  assert (low.ticks == SIMS).all() and share(low) > share(high) + 2
  # prior_var too: a smaller prior variance stops sooner
  assert int(b.ticks.sum()) < int(a.ticks.sum())
  # and everything equals the agent compiled on its own with its floats as constants
  ref = run(_closed(_mcts(exploration=0.3, prior_var=0.2)), 0.5)
  assert t.new() <= 1
  _equal(b, ref)
  # the front: one program for every mcts agent of the kind
  prices = np.array([0.25, 0.5, 1.0], np.float32)
  tf = Traces(jt.fronts._front)
  f1 = jt.front(_mcts(), trees, keys, prices, max_ticks=SIMS, score=labels, method="batch")
  f2 = jt.front(_mcts(cost=2.0), trees, keys, prices / 2, max_ticks=SIMS, score=labels,
                method="batch")
  f3 = jt.front(_mcts(exploration=0.3, prior_var=0.2), trees, keys, prices,
                max_ticks=SIMS, score=labels, method="batch")
  assert tf.new() <= 1
  np.testing.assert_array_equal(f2.total_ticks, f1.total_ticks)
  np.testing.assert_allclose(f2.mean_cost, 2 * f1.mean_cost, rtol=1e-6)
  assert int(f1.total_ticks[1]) == int(a.ticks.sum())
  assert int(f3.total_ticks[1]) == int(b.ticks.sum())
  out = jax.vmap(_mcts().output)(b.state)
  assert int(f3.correct[1]) == int((out == labels).sum())


# -- sequential tests -----------------------------------------------------------------


def test_gap_test_agents_share_one_program():
  n = 256
  theta = jt.problems.bernoulli_pairs(jax.random.key(2), n)
  keys = _keys(3, n)
  price = jt.price_from_z(1.0)
  t = Traces(jt.schedule._run_price_batch)
  a = jt.run_price_batch(sq.gap_test(), theta, keys, price, max_ticks=32)
  b = jt.run_price_batch(sq.gap_test(cost=2.0), theta, keys, price / 2, max_ticks=32)
  assert t.new() <= 1
  np.testing.assert_array_equal(b.ticks, a.ticks)
  np.testing.assert_allclose(b.cost, 2 * a.cost, rtol=1e-6)
  # Gaussian, sigma as data: on equal arms gap / SE does not depend on sigma, and
  # sigma = 2 doubles every observation exactly.
  zero = jnp.zeros((n, 2))
  g1 = jt.run_price_batch(sq.gap_test("gaussian"), zero, keys, price, max_ticks=32)
  assert t.new() == 1  # another model: another kind
  g2 = jt.run_price_batch(sq.gap_test("gaussian", sigma=2.0, cost=0.5), zero, keys,
                          2 * price, max_ticks=32)
  assert t.new() == 0
  np.testing.assert_array_equal(g2.ticks, g1.ticks)
  np.testing.assert_array_equal(g2.state.total, 2 * g1.state.total)
  np.testing.assert_array_equal(g2.state.m2, 4 * g1.state.m2)
  np.testing.assert_allclose(g2.cost, g1.cost / 2, rtol=1e-6)
  # the front
  labels = (theta[:, 1] > theta[:, 0]).astype(jnp.int32)
  prices = np.array([0.5, 1.0, 2.0], np.float32)
  tf = Traces(jt.fronts._front)
  f1 = jt.front(sq.gap_test(), theta, keys, prices, max_ticks=32, score=labels)
  f2 = jt.front(sq.gap_test(cost=4.0), theta, keys, prices / 4, max_ticks=32, score=labels)
  assert tf.new() <= 1
  np.testing.assert_array_equal(f2.total_ticks, f1.total_ticks)
  np.testing.assert_array_equal(f2.correct, f1.correct)
  np.testing.assert_allclose(f2.mean_cost, 4 * f1.mean_cost, rtol=1e-6)


def test_sprt_agents_share_one_program():
  n, max_ticks = 256, 64
  theta = jax.random.uniform(jax.random.key(4), (n,), minval=0.25, maxval=0.75)
  keys = _keys(5, n)
  run = lambda agent: jt.run_price_batch(agent, theta, keys, 0.0, max_ticks=max_ticks)
  t = Traces(jt.schedule._run_price_batch)
  a = run(sq.sprt("bernoulli", 0.4, 0.6))
  assert t.new() <= 1
  hyp = ("bernoulli", 0.3, 0.65, 0.01, 0.2)
  b = run(sq.sprt(*hyp, cost=3.0))
  assert t.new() == 0
  assert not np.array_equal(b.ticks, a.ticks)
  np.testing.assert_allclose(b.cost, 3.0 * b.ticks, rtol=1e-6)
  # b's LLR is its own: S_n = c1 * heads + c0 * n with an integer number of heads ...
  c1, c0 = sq._increments(*hyp[:3], 1.0)
  count, llr = np.asarray(b.state.count, float), np.asarray(b.state.llr, float)
  heads = (llr - c0 * count) / c1
  np.testing.assert_allclose(heads, np.round(heads), atol=1e-3)
  assert ((heads > 0.5) & (heads < count - 0.5)).any()
  # ... and it stopped at its own boundaries, not before
  ln_a, ln_b = sq.wald_thresholds(*hyp[3:])
  stopped = np.asarray(b.ticks) < max_ticks
  assert stopped.mean() > 0.9
  assert ((llr >= ln_a - 1e-5) | (llr <= ln_b + 1e-5))[stopped].all()
  # equal to the agent compiled on its own
  ref = run(_closed(sq.sprt(*hyp, cost=3.0)))
  _equal(b, ref)
  # the front
  labels = (theta > 0.5).astype(jnp.int32)
  prices = np.array([0.0, 0.5, 1.0], np.float32)
  tf = Traces(jt.fronts._front)
  f1 = jt.front(sq.sprt("bernoulli", 0.4, 0.6), theta, keys, prices, max_ticks=max_ticks,
                score=labels)
  f2 = jt.front(sq.sprt(*hyp, cost=3.0), theta, keys, prices, max_ticks=max_ticks,
                score=labels)
  assert tf.new() <= 1
  assert int(f2.total_ticks[0]) == int(b.ticks.sum())
  out = (np.asarray(b.state.llr) > 0).astype(np.int32)
  assert int(f2.correct[0]) == int((out == np.asarray(labels)).sum())


# -- exit heads -----------------------------------------------------------------------

K, C = 3, 5


def _table(seed, n):
  logits = 2.0 * jax.random.normal(jax.random.key(seed), (n, K, C))
  labels = jax.random.randint(jax.random.key(seed + 1), (n,), 0, C)
  return logits, labels


def test_exit_heads_on_a_logit_table_share_one_program():
  n = 300
  logits, labels = _table(6, n)
  keys = _keys(7, n)
  agent = lambda costs=None: eh.exit_heads(eh.logit_table(K, C), costs=costs)
  t = Traces(jt.schedule._run_price_batch)
  a = jt.run_price_batch(agent(), logits, keys, 0.8, max_ticks=K)
  costs = np.array([1.0, 0.5, 2.0])
  b = jt.run_price_batch(agent(costs), logits, keys, 0.8, max_ticks=K)
  assert t.new() <= 1
  assert not np.array_equal(b.ticks, a.ticks)
  # the costs are b's own: the closed-form rule with those costs gives its ticks
  hs = eh.head_signals(logits)
  np.testing.assert_array_equal(b.ticks, eh.exit_heads_used(hs.u, jnp.array([0.8]), costs)[0])
  np.testing.assert_allclose(b.cost, np.cumsum(costs)[np.asarray(b.ticks) - 1], rtol=1e-6)
  # the front equals the closed-form sweep, count for count
  prices = np.array([0.2, 0.5, 0.8, 1.2], np.float32)
  tf = Traces(jt.fronts._front)
  f1 = jt.front(agent(), logits, keys, prices, max_ticks=K, score=labels)
  f2 = jt.front(agent(costs), logits, keys, prices, max_ticks=K, score=labels)
  assert tf.new() <= 1
  for fr, c in ((f1, None), (f2, costs)):
    sweep = eh.threshold_sweep(logits, labels, prices, costs=c)
    np.testing.assert_array_equal(fr.total_ticks, sweep.total_heads)
    np.testing.assert_array_equal(fr.correct, sweep.correct)
    np.testing.assert_allclose(fr.mean_cost, sweep.cost, rtol=1e-6)


def test_exit_heads_on_mlps_share_one_program():
  n, in_dim, hidden = 200, 6, 16
  p1 = multi_exit.init_params(jax.random.key(8), in_dim, hidden, C, K)
  p2 = multi_exit.init_params(jax.random.key(9), in_dim, hidden, C, K)
  x = jax.random.normal(jax.random.key(10), (n, in_dim))
  keys = _keys(11, n)
  agent = lambda p: eh.exit_heads(eh.mlp_source(p))
  assert values.split(agent(p1))[0] == values.split(agent(p2))[0]
  t = Traces(jt.schedule._run_price_batch)
  a = jt.run_price_batch(agent(p1), x, keys, 1.0, max_ticks=K)
  b = jt.run_price_batch(agent(p2), x, keys, 1.0, max_ticks=K)
  assert t.new() <= 1
  # b computed p2's heads: its last logits are p2's head (ticks - 1) on each input
  for r, p in ((a, p1), (b, p2)):
    direct = np.asarray(multi_exit.forward(p, x))[np.arange(n), np.asarray(r.ticks) - 1]
    np.testing.assert_allclose(r.state.logits, direct, rtol=1e-5, atol=1e-5)
  assert not np.allclose(a.state.logits, b.state.logits)
  ref = jt.run_price_batch(_closed(agent(p2)), x, keys, 1.0, max_ticks=K)
  np.testing.assert_array_equal(b.ticks, ref.ticks)
  np.testing.assert_allclose(b.state.logits, ref.state.logits, rtol=1e-6, atol=1e-6)
  # the front
  labels = jnp.argmax(multi_exit.forward(p2, x)[:, -1], -1)
  prices = np.array([0.5, 1.0, 1.5], np.float32)
  tf = Traces(jt.fronts._front)
  jt.front(agent(p1), x, keys, prices, max_ticks=K, score=labels)
  f2 = jt.front(agent(p2), x, keys, prices, max_ticks=K, score=labels)
  assert tf.new() <= 1
  assert int(f2.total_ticks[1]) == int(b.ticks.sum())


def test_sweeps_compile_once_per_shapes():
  logits, labels = _table(12, 400)
  prices = np.linspace(0.0, 1.5, 9).astype(np.float32)
  t = Traces(eh._sweep)
  s1 = eh.threshold_sweep(logits, labels, prices)
  logits2, labels2 = _table(14, 400)
  s2 = eh.threshold_sweep(logits2, labels2, prices[::-1].copy(), costs=[1.0, 2.0, 3.0])
  hs = eh.head_signals(logits2)
  s3 = eh.exit_heads_sweep(hs.u, hs.pred == labels2[:, None], prices[::-1].copy(),
                           [1.0, 2.0, 3.0])
  assert t.new() <= 1
  _equal(s2, s3)
  # the second sweep used its own logits and costs: a direct evaluation of the rule
  used = np.asarray(eh.exit_heads_used(hs.u, prices[::-1].copy(), [1.0, 2.0, 3.0]))
  np.testing.assert_array_equal(s2.total_heads, used.sum(axis=1))
  pred = np.take_along_axis(np.asarray(hs.pred)[None], used[..., None] - 1, -1)[..., 0]
  np.testing.assert_array_equal(s2.correct, (pred == np.asarray(labels2)).sum(axis=1))
  np.testing.assert_allclose(s2.cost, np.cumsum([1.0, 2.0, 3.0])[used - 1].mean(axis=1),
                             rtol=1e-6)
  assert not np.array_equal(s1.total_heads, s2.total_heads[::-1])
  eh.threshold_sweep(logits[:300], labels[:300], prices)
  assert t.new() == 1  # another number of instances: another program


def test_multi_exit_train_compiles_once_per_shapes():
  rng = np.random.default_rng(0)
  x1, x2 = rng.normal(size=(2, 120, 5)).astype(np.float32)
  y1, y2 = rng.integers(0, 3, (2, 120))
  t = Traces(mlp._fit)  # the one fit loop
  r1 = multi_exit.train(jax.random.key(0), x1, y1, num_classes=3, hidden=8, steps=20)
  assert t.new() <= 1
  r2 = multi_exit.train(jax.random.key(1), x2, y2, num_classes=3, hidden=8, steps=20)
  assert t.new() == 0
  # the second run trained on its own data from its own initialisation
  p0 = multi_exit.init_params(jax.random.key(1), 5, 8, 3, 3)
  np.testing.assert_allclose(r2.losses[0], multi_exit.loss(p0, jnp.asarray(x2),
                                                           jnp.asarray(y2)), rtol=1e-6)
  assert float(r2.losses[-1]) < float(r2.losses[0])
  assert not np.allclose(r1.losses, r2.losses)
  # padded input rows stay zero
  assert not np.asarray(r2.params.w[0, 5:]).any()
  multi_exit.train(jax.random.key(0), x1, y1, num_classes=3, hidden=8, steps=21)
  assert t.new() == 1  # steps is a shape (the keys' length)


# -- host code: a few programs, none on a repeat ---------------------------------------
# Sizes used nowhere else in the suite, so the first call's programs are new.


def test_model_setup_is_one_program_per_shapes():
  key = jax.random.key(3)
  x = np.random.default_rng(3).normal(size=(17, 13)).astype(np.float32)
  with count_programs() as first:
    params = multi_exit.init_params(key, 13, 11, 5, 3)
    logits = multi_exit.forward(params, x)
    layers = mlp.init(key, (13, 9, 5))
  assert first[0] <= 3  # op by op: 45 programs
  with count_programs() as again:
    multi_exit.init_params(jax.random.key(4), 13, 11, 5, 3)
    multi_exit.forward(params, x + 1)
    mlp.init(jax.random.key(4), (13, 9, 5))
  assert again[0] == 0
  # the program computes what the model's own block does, head by head
  feats = jnp.asarray(x)  # D = P = max(13, 11): no padding
  for k in range(3):
    feats, head = multi_exit.block(params, feats, k)
    np.testing.assert_allclose(logits[:, k], head, rtol=1e-6, atol=1e-6)
  assert [w.shape for w, _ in layers] == [(13, 9), (9, 5)]
  assert not np.asarray(params.w[1, 11:]).any()  # padded rows stay zero (P = 13 > H = 11)


def test_exit_heads_used_is_one_program_per_shapes():
  rng = np.random.default_rng(5)
  u = rng.uniform(size=(23, 4)).astype(np.float32)
  prices = np.array([0.1, 0.4, 0.9], np.float32)
  with count_programs() as first:
    used = eh.exit_heads_used(u, prices, [1.0, 2.0, 1.0, 0.5])
  assert first[0] <= 4  # op by op: 21 programs
  with count_programs() as again:
    eh.exit_heads_used(u[::-1].copy(), prices, [1.0, 2.0, 1.0, 0.5])
  assert again[0] == 0
  # the price rule, read directly: take head k + 1 while u_k > price * c_{k+1}
  c = np.array([1.0, 2.0, 1.0, 0.5])
  for a, p in enumerate(prices):
    for i in range(23):
      h = 1
      while h < 4 and u[i, h - 1] > p * c[h]:
        h += 1
      assert used[a, i] == h
