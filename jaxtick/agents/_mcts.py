"""UCT on an array-based tree held in the tick state (seed 000, section 4.3).

One tick is one simulation: from the root, select children by UCB1 until a node
with an unexpanded action (or a terminal node) is reached, expand that one
action as a new node, run one rollout from it, and back the return up the path.
The tree lives in fixed-size arrays of ``capacity`` nodes (at least the number
of simulations + 1), so the state is O(capacity x actions) per episode, keeps
its shapes across ticks, and the search can be continued by further ticks.

Uncertainty (seed 000, section 2.2 and Appendix A) is the root Q-gap as a
Wald-style ratio ``SE / gap``: ``gap = Q_(1) - Q_(2)`` between the two best root
actions and ``SE`` the standard error of that difference. Under the price rule
with price ``1 / z`` (see :func:`jaxtick.price_from_z`) the search stops as soon as
``gap >= z * SE`` -- and every episode of a batch stops on its own tick.
The output is the most-visited root action.

The model the search plans with is an :class:`Environment`: pure functions for
the root, the transition, terminality, who is to play, and a rollout (one
sampled return). Values are always from the maximising player's point of view;
in a node where the minimiser is to play UCB1 is applied to ``-Q``.

Randomness. The only random step is the rollout; the t-th tick passes its tick
key (``jaxtick.tick_key(key, t)``) unchanged to ``env.rollout``. Selection is
deterministic: ties in the UCB1 score go to the lowest action index, and
unexpanded actions are expanded in index order (their score is +inf).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from jaxtick import _checks, signals
from jaxtick.api import Agent, Array, PRNGKey, Problem

EnvState = Any  # a pytree of arrays: one node's state in the environment


class Environment(NamedTuple):
  """A model to plan with (the counterpart of mctx's ``RecurrentFn``).

  Attributes:
    num_actions: A >= 2, the number of actions in every non-terminal state.
    max_depth: an upper bound on the number of actions from the root to a
      terminal state (bounds the selection loop; a static int >= 1).
    root: ``root(problem) -> env_state``.
    step: ``step(problem, env_state, action) -> env_state`` (action: i32[]).
    is_terminal: ``is_terminal(problem, env_state) -> bool[]``.
    to_play: ``to_play(problem, env_state) -> f[]``: +1 where the maximiser
      chooses, -1 where the minimiser does.
    rollout: ``rollout(problem, env_state, key) -> f[]``: one sampled return
      from ``env_state`` (the maximiser's point of view). For a terminal state
      it is that state's (possibly random) value.

  Plain functions work; an environment is a value (two of one kind share the
  :func:`mcts` agent's compiled program) when its functions are
  ``jax.tree_util.Partial`` over module-level functions, with its arrays bound
  as data, as :func:`jaxtick.problems.game_tree_env` does.
  """

  num_actions: int
  max_depth: int
  root: Callable[[Problem], EnvState]
  step: Callable[[Problem, EnvState, Array], EnvState]
  is_terminal: Callable[[Problem, EnvState], Array]
  to_play: Callable[[Problem, EnvState], Array]
  rollout: Callable[[Problem, EnvState, PRNGKey], Array]


class MctsState(NamedTuple):
  """The search tree of one episode, in arrays of C = capacity nodes.

  Node 0 is the root; nodes are numbered in the order they were expanded.

  Attributes:
    problem: the episode's problem (a pytree).
    node_state: the environment state of every node, leaves [C, ...].
    visits: i32[C] simulations that passed through each node.
    value_sum: f[C] sum of the returns backed up through each node.
    value_sq: f[C] sum of their squares (for the standard error).
    children: i32[C, A] child node of each action, -1 if not expanded.
    parent: i32[C] parent node (-1 for the root and unused slots).
    action: i32[C] action that leads from the parent (-1 for the root).
    depth: i32[C] depth of each node (root 0).
    num_nodes: i32[] nodes in use.
    sims: i32[] simulations run so far.
  """

  problem: Problem
  node_state: EnvState
  visits: Array
  value_sum: Array
  value_sq: Array
  children: Array
  parent: Array
  action: Array
  depth: Array
  num_nodes: Array
  sims: Array


def mcts(env: Environment, num_simulations: int, *, capacity: int | None = None,
         exploration: float = math.sqrt(2.0), prior_var: float = 1.0,
         cost: float = 1.0) -> Agent:
  """A Tick agent running one UCT simulation per tick.

  Args:
    env: the model to plan with.
    num_simulations: the most simulations the search is meant to run (the
      ``max_ticks`` given to the scheduler); sets the default capacity.
    capacity: nodes in the tree, >= ``num_simulations + 1`` (each simulation
      adds at most one node). Default ``num_simulations + 1``. Ticks beyond
      ``capacity - 1`` still run simulations but no longer expand.
    exploration: c in the UCB1 score ``Q + c sqrt(ln N / n)``; sqrt(2) is
      Auer et al.'s UCB1 for returns in [0, 1].
    prior_var: variance of one pseudo-return added to the pooled variance of
      the two best root actions, so that the SE is positive while their
      returns so far coincide (the role ``p_tilde`` plays in the coin agent).
      A natural choice is the prior variance of one return.
    cost: the cost of one simulation.

  Returns:
    An :class:`~jaxtick.Agent` whose state is an :class:`MctsState`.

  The agent is a value: its functions are module-level, its floats arrays
  bound with ``jax.tree_util.Partial``, so mcts agents of one env kind and
  capacity share one compiled program whatever their exploration, prior_var
  and cost.
  """
  if not isinstance(env, Environment):
    raise TypeError(f"env must be a jaxtick.agents.Environment (e.g. "
                    f"jaxtick.problems.game_tree_env), got {type(env).__name__}")
  num_actions = env.num_actions
  if isinstance(num_actions, bool) or not isinstance(num_actions, int) or num_actions < 2:
    raise ValueError(f"env.num_actions (branching) must be an int >= 2, got {num_actions!r}")
  if isinstance(env.max_depth, bool) or not isinstance(env.max_depth, int) or env.max_depth < 1:
    raise ValueError(f"env.max_depth must be an int >= 1, got {env.max_depth!r}")
  if (isinstance(num_simulations, bool) or not isinstance(num_simulations, int)
      or num_simulations < 1):
    raise ValueError(f"num_simulations must be an int >= 1, got {num_simulations!r}")
  if capacity is None:
    capacity = num_simulations + 1
  if isinstance(capacity, bool) or not isinstance(capacity, int):
    raise ValueError(f"capacity must be an int, got {capacity!r}")
  if capacity < num_simulations + 1:
    raise ValueError(
        f"capacity must be >= num_simulations + 1 = {num_simulations + 1} "
        f"(one node per simulation plus the root), got {capacity}")
  if not exploration >= 0:
    raise ValueError(f"exploration must be >= 0, got {exploration!r}")
  if not prior_var > 0:
    raise ValueError(f"prior_var must be > 0, got {prior_var!r}")
  _checks.check_positive("cost", cost)
  _checks.check_nonneg("exploration", exploration)
  A, C = num_actions, capacity
  max_path = min(env.max_depth, C - 1) + 1  # nodes on a root-to-leaf path
  dtype = jnp.result_type(float)
  data = lambda x: jnp.asarray(x, dtype)
  return Agent(Partial(_init, env, A, C),
               Partial(_tick, env, C, max_path, data(exploration)),
               Partial(_uncertainty, env, data(prior_var)), Partial(_output, env),
               Partial(_cost, data(cost)))


# The agent's functions. Static: ``env``'s functions and sizes, ``A`` (actions),
# ``C`` (capacity), ``max_path`` (Python ints); data: ``exploration``,
# ``prior_var``, ``cost`` (f[] arrays) -- bound by :func:`mcts` with ``Partial``.


def _init(env, A, C, problem, key):
  """The tree of one episode: the root alone (node 0)."""
  del key
  dtype = jnp.result_type(float)
  root = env.root(problem)
  node_state = jax.tree_util.tree_map(
      lambda x: jnp.zeros((C,) + jnp.shape(x), jnp.asarray(x).dtype).at[0].set(x),
      root)
  minus = -jnp.ones(C, jnp.int32)
  return MctsState(
      problem=problem, node_state=node_state,
      visits=jnp.zeros(C, jnp.int32), value_sum=jnp.zeros(C, dtype),
      value_sq=jnp.zeros(C, dtype), children=-jnp.ones((C, A), jnp.int32),
      parent=minus, action=minus, depth=jnp.zeros(C, jnp.int32),
      num_nodes=jnp.ones((), jnp.int32), sims=jnp.zeros((), jnp.int32))


def _node(s, i):
  """The environment state of node ``i`` (i32[])."""
  return jax.tree_util.tree_map(lambda x: x[i], s.node_state)


def _ucb_action(env, exploration, s, i):
  """UCB1 choice at node i (i32[]): unexpanded actions first (lowest index)."""
  kids = s.children[i]
  expanded = kids >= 0
  safe = jnp.maximum(kids, 0)
  n = jnp.maximum(s.visits[safe], 1).astype(s.value_sum.dtype)
  q = s.value_sum[safe] / n
  sign = env.to_play(s.problem, _node(s, i)).astype(q.dtype)
  log_n = jnp.log(jnp.maximum(s.visits[i], 1).astype(q.dtype))
  score = sign * q + exploration.astype(q.dtype) * jnp.sqrt(log_n / n)
  return jnp.argmax(jnp.where(expanded, score, jnp.inf)).astype(jnp.int32)


def _tick(env, C, max_path, exploration, s, key):
  """One simulation: select, expand one action, roll out, back up."""
  # 1. Selection: descend while the chosen action is already expanded.
  path0 = jnp.full(max_path + 1, C, jnp.int32).at[0].set(0)

  def cond(c):
    return c[3]

  def body(c):
    i, path, k, _, _ = c
    term = env.is_terminal(s.problem, _node(s, i))
    a = _ucb_action(env, exploration, s, i)
    child = s.children[i, a]
    down = ~term & (child >= 0) & (k < max_path - 1)
    nxt = jnp.where(down, child, i)
    path = jnp.where(down, path.at[k + 1].set(child), path)
    # a >= 0 marks an action to expand at the node where the descent ends.
    return (nxt, path, k + down.astype(jnp.int32), down,
            jnp.where(term | (child >= 0), -1, a))

  leaf, path, k, _, a = jax.lax.while_loop(
      cond, body, (jnp.zeros((), jnp.int32), path0, jnp.zeros((), jnp.int32),
                   jnp.array(True), jnp.zeros((), jnp.int32)))
  # 2. Expansion of one action (none at a terminal node or a full tree).
  new = s.num_nodes
  grow = (a >= 0) & (new < C)
  a = jnp.maximum(a, 0)
  child_state = env.step(s.problem, _node(s, leaf), a)
  slot = jnp.where(grow, new, C)  # C: dropped
  put = lambda arr, v: arr.at[slot].set(v, mode="drop")
  node_state = jax.tree_util.tree_map(put, s.node_state, child_state)
  children = s.children.at[jnp.where(grow, leaf, C), a].set(new, mode="drop")
  parent, action = put(s.parent, leaf), put(s.action, a)
  depth = put(s.depth, s.depth[leaf] + 1)
  path = jnp.where(grow, path.at[k + 1].set(new), path)
  leaf = jnp.where(grow, new, leaf)
  # 3. Rollout from the new (or terminal) node.
  leaf_state = jax.tree_util.tree_map(lambda x: x[leaf], node_state)
  v = env.rollout(s.problem, leaf_state, key).astype(s.value_sum.dtype)
  # 4. Backup along the path (padding entries C are dropped).
  add = lambda arr, x: arr.at[path].add(x, mode="drop")
  return s._replace(
      node_state=node_state, visits=add(s.visits, 1),
      value_sum=add(s.value_sum, v), value_sq=add(s.value_sq, v * v),
      children=children, parent=parent, action=action, depth=depth,
      num_nodes=s.num_nodes + grow.astype(jnp.int32), sims=s.sims + 1)


def _root_stats(env, s):
  """Visits n (f[A]), root-player values q (f[A]) and M2 (f[A]) per action."""
  kids = s.children[0]
  safe = jnp.maximum(kids, 0)
  n = jnp.where(kids >= 0, s.visits[safe], 0).astype(s.value_sum.dtype)
  total = jnp.where(kids >= 0, s.value_sum[safe], 0.0)
  sq = jnp.where(kids >= 0, s.value_sq[safe], 0.0)
  sign = env.to_play(s.problem, _node(s, 0)).astype(total.dtype)
  n1 = jnp.maximum(n, 1)
  q = sign * total / n1
  m2 = jnp.maximum(sq - total * total / n1, 0.0)
  return n, q, m2


def _uncertainty(env, prior_var, s):
  """The root Q-gap ratio ``SE / gap`` (f[]; inf until every root action is tried)."""
  n, q, m2 = _root_stats(env, s)
  (q1, q2), (i1, i2) = jax.lax.top_k(q, 2)
  n1, n2 = n[i1], n[i2]
  pooled = (m2[i1] + m2[i2] + prior_var.astype(q.dtype)) / (n1 + n2)
  se = jnp.sqrt(pooled * (1 / jnp.maximum(n1, 1) + 1 / jnp.maximum(n2, 1)))
  u = signals.gap_ratio(q1 - q2, se)
  return jnp.where(jnp.all(n > 0), u, jnp.inf)


def _output(env, s):
  """The most-visited root action (i32[]; ties to the higher value)."""
  n, q, _ = _root_stats(env, s)
  best = n == jnp.max(n)
  return jnp.argmax(jnp.where(best, q, -jnp.inf)).astype(jnp.int32)


def _cost(cost, s):
  return cost.astype(s.value_sum.dtype)


def root_visits(state: MctsState) -> Array:
  """Visit counts of the root actions, i32[A] (0 for unexpanded actions)."""
  kids = state.children[..., 0, :]
  safe = jnp.maximum(kids, 0)
  v = jnp.take_along_axis(state.visits, safe, axis=-1)
  return jnp.where(kids >= 0, v, 0)
