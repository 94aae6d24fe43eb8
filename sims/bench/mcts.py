"""MCTS throughput: jaxtick's array-based UCT vs ``mctx.muzero_policy``.

Same batch, actions and simulations, and the same model on both sides: a
trivial model (a step is an index computation, an evaluation is one uniform
draw) and the depth-4 random game tree of E4 (an evaluation is a random
rollout to a leaf). mctx is a benchmark-only dependency, imported here only.
jaxtick additionally runs the adaptive rule (z = 1), where every episode
stops on its own; its simulations per second count the simulations run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import jaxtick as jt
from jaxtick.agents import Environment
from sims.bench import Record, register, timeit

ACTIONS = 4
SIMS = 24
DEPTH = 4


def _trivial_env():
  base = jt.problems.game_tree_env(ACTIONS, DEPTH)
  return base._replace(
      rollout=lambda p, s, key: jax.random.uniform(key, (), jnp.float32, -1.0, 1.0))


def _models():
  return {"trivial": _trivial_env(), "game_tree": jt.problems.game_tree_env(ACTIONS, DEPTH)}


def _jaxtick_fixed(env: Environment, problems, keys):
  agent = jt.agents.mcts(env, SIMS)
  run = jax.vmap(lambda p, k: jt.run_price(agent, p, k, 0.0, max_ticks=SIMS,
                                           min_ticks=SIMS).state.visits[0])
  return jax.jit(run)


def _jaxtick_adaptive(env: Environment, problems, keys, z=1.0):
  agent = jt.agents.mcts(env, SIMS, prior_var=jt.problems.game_tree_return_var(DEPTH))
  price = jt.price_from_z(z)
  run = jax.vmap(lambda p, k: jt.run_price(agent, p, k, price, max_ticks=SIMS).ticks)
  return jax.jit(run)


def _mctx_fixed(env: Environment, problems, keys):
  import mctx  # benchmark-only dependency

  def recurrent_fn(params, rng, action, emb):
    probs, state = emb
    b = action.shape[0]
    nxt = jax.vmap(env.step)(probs, state, action)
    term = jax.vmap(env.is_terminal)(probs, state)
    nxt = jax.tree_util.tree_map(lambda x, y: jnp.where(term, x, y), state, nxt)
    value = jax.vmap(env.rollout)(probs, nxt, jax.random.split(rng, b))
    out = mctx.RecurrentFnOutput(
        reward=jnp.zeros(b, jnp.float32), discount=jnp.ones(b, jnp.float32),
        prior_logits=jnp.zeros((b, ACTIONS), jnp.float32),
        value=value.astype(jnp.float32))
    return out, (probs, nxt)

  def search(problems, keys):
    b = keys.shape[0]
    roots = jax.vmap(env.root)(problems)
    root = mctx.RootFnOutput(prior_logits=jnp.zeros((b, ACTIONS), jnp.float32),
                             value=jnp.zeros(b, jnp.float32),
                             embedding=(problems, roots))
    out = mctx.muzero_policy(None, keys[0], root, recurrent_fn, num_simulations=SIMS)
    return out.search_tree.node_visits[:, 0]

  return jax.jit(search)


@register("mcts")
def bench(quick: bool = False) -> Record:
  batch = 128 if quick else 1024
  reps = 3 if quick else 10
  problems = jt.problems.game_tree_problems(jax.random.key(0), batch)
  keys = jax.random.split(jax.random.key(1), batch)
  figures, ratios, targets = {}, {}, {}
  for name, env in _models().items():
    ours = _jaxtick_fixed(env, problems, keys)
    ref = _mctx_fixed(env, problems, keys)
    assert int(ours(problems, keys)[0]) == SIMS
    assert int(ref(problems, keys)[0]) == SIMS + 1  # mctx counts the root visit
    t_ours = timeit(ours, problems, keys, reps=reps)
    t_ref = timeit(ref, problems, keys, reps=reps)
    figures[f"jaxtick_{name}_sims_per_s"] = batch * SIMS / t_ours.median
    figures[f"mctx_{name}_sims_per_s"] = batch * SIMS / t_ref.median
    ratios[f"{name}_vs_mctx_muzero_policy"] = t_ref.median / t_ours.median
    targets[f"{name}_vs_mctx_muzero_policy"] = 1.0
    adaptive = _jaxtick_adaptive(env, problems, keys)
    sims = float(jnp.sum(adaptive(problems, keys)))
    t_ad = timeit(adaptive, problems, keys, reps=reps)
    figures[f"jaxtick_{name}_adaptive_z1_mean_sims"] = sims / batch
    figures[f"jaxtick_{name}_adaptive_z1_sims_per_s"] = sims / t_ad.median
    figures[f"jaxtick_{name}_adaptive_z1_episodes_per_s"] = batch / t_ad.median
    figures[f"mctx_{name}_episodes_per_s"] = batch / t_ref.median
  return Record(
      name="mcts",
      sizes={"batch": batch, "actions": ACTIONS, "simulations": SIMS, "depth": DEPTH},
      figures=figures, ratios=ratios, targets=targets,
      notes=("median seconds per batch search, compiled; ratio = mctx time / jaxtick "
             "time for 24 simulations per episode (muzero_policy: PUCT with uniform "
             "priors, Dirichlet root noise; jaxtick: UCB1). The adaptive rows stop "
             "each episode on its own (z = 1, cap 24), which mctx cannot do."))
