"""Random game trees: values, rollout model and exact solver vs brute force."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from compile_count import programs_of
from jaxtick.problems import game_trees as gt


def _leaves_by_walking(env, problem, paths):
  """Leaf values reached by env.step along each path (i32[L, D]), read by a
  rollout (which, at a leaf, is the leaf's value)."""
  def one(path):
    s = env.root(problem)
    for a in path:
      s = env.step(problem, s, a)
    return env.is_terminal(problem, s), env.rollout(problem, s, jax.random.key(123))
  term, v = jax.jit(jax.vmap(one))(jnp.asarray(paths, jnp.int32))
  assert np.all(np.asarray(term))
  return np.asarray(v)


def _minimax(values, A, D, two_player, depth=0):
  """Recursive NumPy minimax over a level-ordered leaf array; value at a node."""
  if depth == D:
    return values[0]
  size = len(values) // A
  kids = [_minimax(values[i * size:(i + 1) * size], A, D, two_player, depth + 1)
          for i in range(A)]
  return min(kids) if (two_player and depth % 2 == 1) else max(kids)


@pytest.mark.parametrize("two_player", [False, True])
def test_solver_matches_brute_force(two_player):
  A, D = 3, 3
  env = jt.problems.game_tree_env(A, D, two_player=two_player)
  probs = jt.problems.game_tree_problems(jax.random.key(0), 4)
  paths = np.array(list(itertools.product(range(A), repeat=D)))
  for i in range(4):
    p = jax.tree_util.tree_map(lambda x: x[i], probs)
    leaves = _leaves_by_walking(env, p, paths)
    np.testing.assert_allclose(
        np.asarray(jt.problems.game_tree_leaf_values(p, A, D)), leaves, rtol=1e-6)
    size = A ** (D - 1)
    want = [_minimax(leaves[a * size:(a + 1) * size], A, D, two_player, 1)
            for a in range(A)]
    sol = jt.problems.game_tree_solve(p, A, D, two_player=two_player)
    np.testing.assert_allclose(np.asarray(sol.action_values), want, rtol=1e-6)
    assert int(sol.best_action) == int(np.argmax(want))


def test_leaf_values_are_means_of_uniform_edges():
  A, D, T = 4, 5, 400
  probs = jt.problems.game_tree_problems(jax.random.key(1), T)
  v = np.asarray(jax.vmap(lambda p: jt.problems.game_tree_leaf_values(p, A, D))(probs))
  assert v.shape == (T, A ** D)
  assert np.all(np.abs(v) <= 1)
  var = jt.problems.game_tree_return_var(D)
  assert var == pytest.approx(1 / 15)
  # A tree's mean leaf is (1/D) sum_d (mean of the A^d edges at level d): its variance is
  # (1/D^2) sum_d (1/3) / A^d, exactly. T independent trees: mean within 4 SE of 0, and
  # the sample variance within 4 SE (sd of a sample variance of normals: var sqrt(2/(T-1))).
  tree_means = v.mean(axis=1)
  var_tm = sum((1 / 3) / A ** d for d in range(1, D + 1)) / D ** 2
  assert abs(tree_means.mean()) < 4 * np.sqrt(var_tm / T)
  assert abs(tree_means.var(ddof=1) - var_tm) < 4 * var_tm * np.sqrt(2 / (T - 1))
  # One leaf per tree: variance 1/(3D), within 4 SE.
  first = v[:, 0]
  assert abs(first.var(ddof=1) - var) < 4 * np.sqrt((np.mean((first - first.mean()) ** 4)
                                                     - first.var() ** 2) / T)
  # Differences of sibling leaves only differ in the last edge: var 2/(3 D^2); N independent
  # triangular differences (kurtosis 2.4): the sample variance's relative SE is sqrt(1.4/N).
  sib = v.reshape(T, -1, A)[:, :, 0] - v.reshape(T, -1, A)[:, :, 1]
  assert np.var(sib) == pytest.approx(2 / (3 * D * D), rel=4 * np.sqrt(1.4 / sib.size))


def test_rollout_is_a_uniform_leaf_below():
  A, D = 2, 3
  env = jt.problems.game_tree_env(A, D)
  p = jax.tree_util.tree_map(lambda x: x[0],
                             jt.problems.game_tree_problems(jax.random.key(2), 1))
  s = env.step(p, env.root(p), jnp.int32(1))  # node 2; leaves 3..6 of level 3
  leaves = np.asarray(jt.problems.game_tree_leaf_values(p, A, D))[4:8]
  n = 4000
  r = np.asarray(jax.vmap(lambda k: env.rollout(p, s, k))(
      jax.random.split(jax.random.key(3), n)))
  counts = np.array([np.sum(np.isclose(r, x)) for x in leaves])
  assert counts.sum() == n  # every rollout lands on one of these leaves
  sd = np.sqrt(n * 0.25 * 0.75)
  assert np.all(np.abs(counts - n / 4) < 4.5 * sd)


def test_two_player_turns():
  env = jt.problems.game_tree_env(3, 4, two_player=True)
  p = jt.problems.GameTree(jax.random.key_data(jax.random.key(0)))
  s = env.root(p)
  signs = []
  for _ in range(4):
    signs.append(float(env.to_play(p, s)))
    s = env.step(p, s, jnp.int32(0))
  assert signs == [1.0, -1.0, 1.0, -1.0]
  single = jt.problems.game_tree_env(3, 4)
  assert float(single.to_play(p, env.step(p, env.root(p), jnp.int32(0)))) == 1.0


def test_bad_input():
  with pytest.raises(ValueError, match="branching"):
    jt.problems.game_tree_env(1, 3)
  with pytest.raises(ValueError, match="depth"):
    jt.problems.game_tree_env(3, 0)
  with pytest.raises(ValueError, match="branching"):
    jt.problems.game_tree_env(10, 12)
  with pytest.raises(ValueError, match="n must be"):
    jt.problems.game_tree_problems(jax.random.key(0), 0)
  with pytest.raises(ValueError, match="branching"):
    gt.game_tree_solve(jt.problems.GameTree(jnp.zeros(2, jnp.uint32)), 1, 2)


def test_repeated_solve_builds_no_new_program():
  """Outside jit, problems, leaf values and the solver are one compiled program each
  per (A, D, two_player) and batch shape: a first call builds at most one, another
  tree builds nothing."""
  trees = jt.problems.game_tree_problems(jax.random.key(0), 3)
  one = gt.GameTree(trees.key[0])
  assert programs_of(jt.problems.game_tree_solve, one, 3, 2, two_player=True) <= 1
  assert programs_of(jt.problems.game_tree_leaf_values, one, 3, 2) <= 1
  other = gt.GameTree(trees.key[1])
  assert programs_of(jt.problems.game_tree_problems, jax.random.key(1), 3) == 0
  assert programs_of(jt.problems.game_tree_solve, other, 3, 2, two_player=True) == 0
  assert programs_of(jt.problems.game_tree_leaf_values, other, 3, 2) == 0
