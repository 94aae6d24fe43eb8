"""Random game trees with a known optimum (incremental "P-game" trees).

A tree has branching ``A`` and depth ``D``; every edge carries a value drawn
``U(-1, 1)`` from the episode's key and the index of the node it leads to, and
a leaf's value is the mean of the ``D`` edge values on its path -- the
incremental random trees of Kocsis & Szepesvari's UCT paper (2006), with
correlated sibling values as in real games. Nothing is stored: the problem is
a key, and any value is recomputed from it on demand.

Nodes are numbered in level order: the root is 0 and the children of node ``i``
are ``A i + 1, ..., A i + A``. A leaf value has mean 0 and variance
``1 / (3 D)`` (:func:`game_tree_return_var`).

Single-player trees maximise at every node; two-player (minimax) trees
alternate, the maximiser choosing at even depths (the root) and the minimiser
at odd depths. Values are always the maximiser's. The rollout model is the
uniformly random policy down to a leaf, so a rollout from a node returns the
value of a uniformly random leaf below it. :func:`game_tree_solve` enumerates
all ``A^D`` leaves and backs up max (and min) exactly.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from jaxtick.agents._mcts import Environment
from jaxtick.api import Array


class GameTree(NamedTuple):
  """One episode's tree. Attributes: key (u32[2]) raw PRNG key data."""

  key: Array


class GameNode(NamedTuple):
  """A node. Attributes: index (i32[]) level-order index; depth (i32[])."""

  index: Array
  depth: Array


class GameTreeSolution(NamedTuple):
  """Exact values. Attributes: action_values f[A] minimax value of each root
  action (the maximiser's); best_action i32[] their argmax."""

  action_values: Array
  best_action: Array


def _check(branching, depth):
  if isinstance(branching, bool) or not isinstance(branching, int) or branching < 2:
    raise ValueError(f"branching must be an int >= 2, got {branching!r}")
  if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
    raise ValueError(f"depth must be an int >= 1, got {depth!r}")
  nodes = (branching ** (depth + 1) - 1) // (branching - 1)
  if nodes >= 2 ** 31:
    raise ValueError(
        f"branching ** depth too large: the tree has {nodes} nodes, more than "
        f"int32 indices allow (need < 2**31)")


def _edge(key, index):
  """Value U(-1, 1) of the edge into node ``index`` (i32[...])."""
  k = jax.random.wrap_key_data(key)
  draw = lambda i: jax.random.uniform(jax.random.fold_in(k, i), (),
                                      jnp.result_type(float), -1.0, 1.0)
  flat = jnp.reshape(index, (-1,))
  return jax.vmap(draw)(flat).reshape(jnp.shape(index))


def game_tree_problems(key: jax.Array, n: int) -> GameTree:
  """Draws ``n`` trees: a GameTree whose key is u32[n, 2]."""
  if isinstance(n, bool) or not isinstance(n, int) or n < 1:
    raise ValueError(f"n must be a positive int, got {n!r}")
  return _problems(key, n=n)


@functools.partial(jax.jit, static_argnames="n")
def _problems(key, *, n):
  return GameTree(jax.random.key_data(jax.random.split(key, n)))


def game_tree_return_var(depth: int) -> float:
  """Variance of one leaf value (a mean of ``depth`` U(-1, 1) draws)."""
  if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
    raise ValueError(f"depth must be an int >= 1, got {depth!r}")
  return 1.0 / (3.0 * depth)


def game_tree_env(branching: int, depth: int, *,
                  two_player: bool = False) -> Environment:
  """The MCTS model of a random game tree with a random rollout policy.

  Args:
    branching: A >= 2 actions per internal node.
    depth: D >= 1 moves from the root to every leaf.
    two_player: minimax (alternating max/min) instead of single-player max.

  Returns:
    An :class:`~jaxtick.agents.Environment` over :class:`GameNode`
    states for :class:`GameTree` problems. It is a value: its functions are
    ``jax.tree_util.Partial`` over module-level functions and its sizes static,
    so two environments with equal arguments are equal static values.
  """
  _check(branching, depth)
  A, D, two = branching, depth, bool(two_player)
  return Environment(num_actions=A, max_depth=D, root=Partial(_root),
                     step=Partial(_step, A), is_terminal=Partial(_is_terminal, D),
                     to_play=Partial(_to_play, two), rollout=Partial(_rollout, A, D))


# The environment's functions; A (branching), D (depth) and two_player are
# static Python ints and bools bound by :func:`game_tree_env`.


def _root(problem):
  del problem
  return GameNode(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def _step(A, problem, s, action):
  del problem
  return GameNode(A * s.index + 1 + action.astype(jnp.int32), s.depth + 1)


def _is_terminal(D, problem, s):
  del problem
  return s.depth >= D


def _to_play(two_player, problem, s):
  del problem
  if not two_player:
    return jnp.ones((), jnp.result_type(float))
  return jnp.where(s.depth % 2 == 0, 1.0, -1.0).astype(jnp.result_type(float))


def _rollout(A, D, problem, s, key):
  """Mean edge value on the path to a uniformly random leaf below ``s`` (f[])."""
  actions = jax.random.randint(key, (D,), 0, A, jnp.int32)

  def down(index, a):
    child = A * index + 1 + a
    return child, child

  _, ids = jax.lax.scan(down, s.index, actions)  # ids[k]: depth s.depth+k+1
  below = jnp.sum(jnp.where(jnp.arange(D) < D - s.depth, _edge(problem.key, ids), 0.0))
  # Edges above s: walk up from s (at most D steps).
  def up(index, k):
    parent = (index - 1) // A
    keep = k < s.depth
    return jnp.where(keep, parent, index), jnp.where(keep, index, -1)

  _, anc = jax.lax.scan(up, s.index, jnp.arange(D))
  above = jnp.sum(jnp.where(anc >= 0, _edge(problem.key, jnp.maximum(anc, 0)), 0.0))
  return (above + below) / D


def game_tree_leaf_values(problem: GameTree, branching: int, depth: int) -> Array:
  """All leaf values of one tree, f[A^D], leaves in level order."""
  _check(branching, depth)
  return _leaf_values(problem, A=branching, D=depth)


def game_tree_solve(problem: GameTree, branching: int, depth: int, *,
                    two_player: bool = False) -> GameTreeSolution:
  """Exact root action values by full enumeration (``A^D`` leaves).

  Args:
    problem: one tree (key u32[2]); vmap for a batch.
    branching, depth, two_player: as in :func:`game_tree_env`.

  Returns:
    A :class:`GameTreeSolution`.
  """
  _check(branching, depth)
  return _solve(problem, A=branching, D=depth, two_player=bool(two_player))


# The compiled cores: one program per (A, D, two_player) and batch shape.


@functools.partial(jax.jit, static_argnames=("A", "D"))
def _leaf_values(problem, *, A, D):
  g = jnp.zeros((1,), jnp.result_type(float))
  offset = 0
  for level in range(1, D + 1):
    offset = A * offset + 1
    ids = offset + jnp.arange(A ** level, dtype=jnp.int32)
    g = jnp.repeat(g, A) + _edge(problem.key, ids)
  return g / D


@functools.partial(jax.jit, static_argnames=("A", "D", "two_player"))
def _solve(problem, *, A, D, two_player):
  v = _leaf_values(problem, A=A, D=D)
  for level in range(D - 1, 0, -1):  # the player at ``level`` chooses
    v = v.reshape(A ** level, A)
    minimise = two_player and level % 2 == 1
    v = v.min(axis=1) if minimise else v.max(axis=1)
  return GameTreeSolution(v, jnp.argmax(v).astype(jnp.int32))
