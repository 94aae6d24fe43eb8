"""Array-based UCT: UCB1 at depth 1, tree invariants, convergence to the exact
optimum, per-episode stopping in a batch, bad input."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick.agents import Environment, root_visits


def _bandit(rewards, player=1.0):
  """A depth-1 tree: the root's children are arms; ``rewards(problem, arm, key)``.

  ``player``: +1 if the maximiser chooses at the root, -1 if the minimiser does.
  """
  A = 4
  return Environment(
      num_actions=A, max_depth=1,
      root=lambda p: jnp.array(-1, jnp.int32),
      step=lambda p, s, a: a.astype(jnp.int32),
      is_terminal=lambda p, s: s >= 0,
      to_play=lambda p, s: jnp.full((), player, jnp.result_type(float)),
      rollout=rewards)


def _ucb1_numpy(reward, A, T, c):
  """Independent UCB1 (Auer et al. 2002): each arm once in index order, then
  argmax mean + c sqrt(ln t / n) (lowest index on ties). Returns counts per step."""
  n, total, hist = np.zeros(A), np.zeros(A), []
  for t in range(T):
    if np.any(n == 0):
      arm = int(np.argmax(n == 0))
    else:
      arm = int(np.argmax(total / n + c * np.sqrt(np.log(t) / n)))
    n[arm] += 1
    total[arm] += reward(arm, t)
    hist.append(n.copy())
  return np.array(hist)


@pytest.mark.parametrize("kind,c,player", [
    ("bernoulli", math.sqrt(2.0), 1.0), ("gaussian", math.sqrt(2.0), 1.0),
    ("bernoulli", 0.5, 1.0), ("gaussian", 3.0, 1.0),   # exploration is honoured
    ("bernoulli", math.sqrt(2.0), -1.0), ("gaussian", 0.5, -1.0)])  # the minimiser
def test_depth_one_is_ucb1(kind, c, player):
  """Root visit counts after every simulation == an independent NumPy UCB1 on the
  returns of the player to move (the minimiser maximises -return)."""
  with jax.enable_x64(True):
    mu = jnp.array([0.3, 0.5, 0.45, 0.1])
    if kind == "bernoulli":
      draw = lambda p, arm, key: jax.random.bernoulli(key, p[arm]).astype(jnp.float64)
    else:
      draw = lambda p, arm, key: p[arm] + jax.random.normal(key, (), jnp.float64)
    env = _bandit(lambda p, s, key: draw(p, s, key), player)
    T = 60
    agent = jt.agents.mcts(env, T, exploration=c)
    key = jax.random.key(7)
    tick = jax.jit(agent.tick)
    state = agent.init(mu, jt.init_key(key))
    got = []
    for t in range(T):
      state = tick(state, jt.tick_key(key, t))
      got.append(np.asarray(root_visits(state)))
    draw_j = jax.jit(draw)
    want = _ucb1_numpy(lambda arm, t: player * float(draw_j(mu, arm, jt.tick_key(key, t))),
                       4, T, c)
    np.testing.assert_array_equal(np.array(got), want)
    assert int(state.visits[0]) == T
    assert len(set(np.array(got)[-1])) > 1  # arms were not visited uniformly


def _run_fixed(agent, probs, keys, sims):
  f = jax.vmap(lambda p, k: jt.run_price(agent, p, k, 0.0, max_ticks=sims,
                                         min_ticks=sims))
  return jax.jit(f)(probs, keys)


@pytest.mark.parametrize("two_player", [False, True])
def test_tree_invariants(two_player):
  A, D, sims = 3, 3, 30
  env = jt.problems.game_tree_env(A, D, two_player=two_player)
  agent = jt.agents.mcts(env, sims)
  probs = jt.problems.game_tree_problems(jax.random.key(0), 3)
  keys = jax.random.split(jax.random.key(1), 3)
  st = _run_fixed(agent, probs, keys, sims).state
  chex.assert_shape(st.children, (3, sims + 1, A))
  chex.assert_shape(st.visits, (3, sims + 1))
  for e in range(3):
    s = jax.tree_util.tree_map(lambda x: np.asarray(x[e]), st)
    m = int(s.num_nodes)
    assert int(s.visits[0]) == sims
    assert 1 < m <= sims + 1
    owns = []
    for i in range(m):
      kids = s.children[i][s.children[i] >= 0]
      own = s.visits[i] - s.visits[kids].sum()
      terminal = s.node_state.depth[i] == D
      if i > 0:
        assert own >= 1 and (terminal or own == 1)
      owns.append(own)
      for a, k in enumerate(s.children[i]):
        if k >= 0:
          assert s.parent[k] == i and s.action[k] == a
          assert s.depth[k] == s.depth[i] + 1
          assert s.node_state.index[k] == A * s.node_state.index[i] + 1 + a
    # Each simulation ends at one node: a new one, or a revisited terminal one.
    assert sum(owns[1:]) == sims and owns[0] == 0
    assert np.all(s.visits[m:] == 0) and np.all(s.children[m:] == -1)
    # Expansion order: unexpanded actions in index order.
    for i in range(m):
      row = s.children[i]
      assert np.all(np.diff((row >= 0).astype(int)) <= 0)


def test_uncertainty_and_output_from_root_statistics():
  A, D, sims, pv = 4, 3, 25, 0.1
  env = jt.problems.game_tree_env(A, D, two_player=True)
  agent = jt.agents.mcts(env, sims, prior_var=pv)
  probs = jt.problems.game_tree_problems(jax.random.key(3), 5)
  keys = jax.random.split(jax.random.key(4), 5)
  st = _run_fixed(agent, probs, keys, sims).state
  u = np.asarray(jax.jit(jax.vmap(agent.uncertainty))(st))
  out = np.asarray(jax.jit(jax.vmap(agent.output))(st))
  st = jax.tree_util.tree_map(np.asarray, st)  # indexed on the host below
  for e in range(5):
    kids = st.children[e, 0]
    n = st.visits[e][kids].astype(float)
    tot = st.value_sum[e][kids]
    sq = st.value_sq[e][kids]
    q = tot / n
    i1, i2 = np.argsort(-q)[:2]
    m2 = sq - tot ** 2 / n
    s2 = (m2[i1] + m2[i2] + pv) / (n[i1] + n[i2])
    se = math.sqrt(s2 * (1 / n[i1] + 1 / n[i2]))
    assert u[e] == pytest.approx(se / (q[i1] - q[i2]), rel=1e-4)
    best = np.flatnonzero(n == n.max())
    assert out[e] == best[np.argmax(q[best])]
  # Before every root action has a visit the uncertainty is infinite.
  s0 = jax.jit(agent.init)(jax.tree_util.tree_map(lambda x: x[0], probs), jax.random.key(0))
  s1 = jax.jit(agent.tick)(s0, jax.random.key(1))
  u0, u1 = jax.jit(lambda a, b: (agent.uncertainty(a), agent.uncertainty(b)))(s0, s1)
  assert np.isinf(u0) and np.isinf(u1)


@pytest.mark.parametrize("two_player,floor", [(False, 0.9), (True, 0.85)])
def test_agreement_with_exact_optimum_rises_with_budget(two_player, floor):
  """The most-visited action agrees more often with the exact (enumerated; minimax for
  two players) optimum as simulations grow. UCT converges to it; the floors leave a few
  binomial SEs below what a correct search reaches at 240 simulations."""
  A, D, n = 3, 3, 300
  env = jt.problems.game_tree_env(A, D, two_player=two_player)
  probs = jt.problems.game_tree_problems(jax.random.key(5), n)
  keys = jax.random.split(jax.random.key(6), n)
  best = np.asarray(jax.vmap(lambda p: jt.problems.game_tree_solve(
      p, A, D, two_player=two_player).best_action)(probs))
  budgets = (3, 12, 48, 240)
  agent = jt.agents.mcts(env, budgets[-1])

  def trace(p, k):  # the decision after every simulation of one search
    def step(s, t):
      s = agent.tick(s, jt.tick_key(k, t))
      return s, agent.output(s)
    return jax.lax.scan(step, agent.init(p, jt.init_key(k)), jnp.arange(budgets[-1]))[1]

  outs = np.asarray(jax.jit(jax.vmap(trace))(probs, keys))
  acc = [float(np.mean(outs[:, b - 1] == best)) for b in budgets]
  # Rises (allowing one binomial SE of noise between neighbours) and is > 0.9.
  se = math.sqrt(0.25 / n)
  assert all(b >= a - se for a, b in zip(acc, acc[1:])), acc
  assert acc[-1] > acc[0] + 0.1, acc
  assert acc[-1] > floor, acc


def test_batch_stopping_matches_single_episodes():
  A, D, sims, n = 4, 4, 24, 10
  env = jt.problems.game_tree_env(A, D, two_player=True)
  agent = jt.agents.mcts(env, sims, prior_var=jt.problems.game_tree_return_var(D))
  probs = jt.problems.game_tree_problems(jax.random.key(8), n)
  keys = jax.random.split(jax.random.key(9), n)
  prices = jnp.linspace(0.3, 2.0, n)
  batch = jt.run_price_batch(agent, probs, keys, prices, max_ticks=sims, lanes=3)
  vm = jax.jit(jax.vmap(lambda p, k, l: jt.run_price(agent, p, k, l, max_ticks=sims)))(
      probs, keys, prices)
  single = jax.jit(lambda p, k, l: jt.run_price(agent, p, k, l, max_ticks=sims))
  ticks = np.asarray(batch.ticks)
  assert len(set(ticks.tolist())) >= 3, ticks  # they do stop at different ticks
  outputs = jax.jit(jax.vmap(agent.output))
  outs = [np.asarray(outputs(r.state)) for r in (batch, vm)]
  host = lambda tree: jax.tree_util.tree_map(np.asarray, tree)  # indexed on the host
  batch, vm, probs, prices = host(batch), host(vm), host(probs), np.asarray(prices)
  keys = np.asarray(jax.random.key_data(keys))
  output = jax.jit(agent.output)
  for e in range(n):
    one = single(jax.tree_util.tree_map(lambda x: x[e], probs),
                 jax.random.wrap_key_data(keys[e]), prices[e])
    for res, out in zip((batch, vm), outs):
      assert int(res.ticks[e]) == int(one.ticks)
      for name in ("visits", "children", "parent", "num_nodes"):
        np.testing.assert_array_equal(getattr(res.state, name)[e],
                                      np.asarray(getattr(one.state, name)))
      np.testing.assert_allclose(res.state.value_sum[e],
                                 np.asarray(one.state.value_sum), rtol=1e-6, atol=1e-7)
      assert int(out[e]) == int(output(one.state))


def test_search_continues_across_calls():
  """Ticks 0..9 then 10..19 give the tree of ticks 0..19 (the tree persists)."""
  env = jt.problems.game_tree_env(3, 3)
  agent = jt.agents.mcts(env, 20)
  p = jax.tree_util.tree_map(lambda x: x[0],
                             jt.problems.game_tree_problems(jax.random.key(0), 1))
  key = jax.random.key(1)
  tick = jax.jit(agent.tick)
  uncertainty = jax.jit(agent.uncertainty)
  s = jax.jit(agent.init)(p, jt.init_key(key))
  for t in range(10):
    s = tick(s, jt.tick_key(key, t))
  whole = jt.run_price(agent, p, key, 0.0, max_ticks=20, min_ticks=20).state
  u = [float(uncertainty(s))]
  for t in range(10, 20):
    s = tick(s, jt.tick_key(key, t))
    u.append(float(uncertainty(s)))
  np.testing.assert_array_equal(np.asarray(s.visits), np.asarray(whole.visits))
  np.testing.assert_array_equal(np.asarray(s.children), np.asarray(whole.children))
  # The price rule with price 1/z stops at the first tick with gap >= z SE.
  for z in (0.5, 1.0, 3.0):
    stops = [10 + i for i, x in enumerate(u) if x <= 1 / z]
    want = stops[0] if stops else 20
    got = jt.run_price(agent, p, key, jt.price_from_z(z), max_ticks=20, min_ticks=10)
    assert int(got.ticks) == want, (z, u)


def test_bad_input():
  env = jt.problems.game_tree_env(3, 3)
  with pytest.raises(ValueError, match="capacity"):
    jt.agents.mcts(env, 24, capacity=24)
  jt.agents.mcts(env, 24, capacity=25)
  with pytest.raises(ValueError, match="num_simulations"):
    jt.agents.mcts(env, 0)
  with pytest.raises(ValueError, match="branching"):
    jt.agents.mcts(env._replace(num_actions=1), 24)
  with pytest.raises(ValueError, match="prior_var"):
    jt.agents.mcts(env, 24, prior_var=0.0)
  for z in (0.0, -1.0, [1.0, 0.0]):
    with pytest.raises(ValueError, match="z must be finite and > 0"):
      jt.price_from_z(z)
  assert float(jt.price_from_z(2.0)) == 0.5
