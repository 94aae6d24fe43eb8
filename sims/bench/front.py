"""Fronts: trace-and-read against the flattened batch and P separate calls.

Workloads (one run): 64 prices x 100,000 episodes on the coin (2..32 flips)
and on E3's gap test (4..32 observations), 64 prices x 10,000 episodes on
E4's MCTS (branching 4, depth 4, up to 24 simulations). Prices span the
experiments' z sweeps (z = 0.2..3, price 1/z), so mean ticks range from the
minimum to near the cap.

Subject: :func:`jaxtick.front` with ``method="trace"``. References, same run,
same episodes, all compiled before timing:

* one price: the compiled single-price :func:`jaxtick.run_price_batch` at
  the middle price (the unit the fronts are reported in);
* separate calls: that compiled function called once per price, 64 calls;
* flattened batch: :func:`jaxtick.front` with ``method="batch"`` (all
  (price, episode) pairs in one lane-refilled batch).

Also the coin front sharded over 1, 2 and 4 forced host devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``, each in its own
subprocess): on a machine with fewer cores than devices the "devices" share
cores, so this measures overhead, not speed-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

import jaxtick as jt
from jaxtick.agents import sequential as sq
from sims.bench import Record, register, timeit

NUM_PRICES = 64
PRICES = 1.0 / np.linspace(0.2, 3.0, NUM_PRICES)


def _workloads(quick: bool):
  n_big, n_mcts = (5_000, 1_000) if quick else (100_000, 10_000)
  key = jax.random.key(0)
  coin = jt.problems.coin_problems(jax.random.fold_in(key, 1), n_big)
  pairs = jt.problems.bernoulli_pairs(jax.random.fold_in(key, 2), n_big)
  env = jt.problems.game_tree_env(4, 4, two_player=True)
  mcts = jt.agents.mcts(env, 24, exploration=float(np.sqrt(2.0)),
                        prior_var=jt.problems.game_tree_return_var(4))
  trees = jt.problems.game_tree_problems(jax.random.fold_in(key, 3), n_mcts)
  return [
      ("coin", jt.agents.coin(), coin, coin > 0.5, 32, 2),
      ("gap_test", sq.gap_test("bernoulli", min_samples=4), pairs,
       jnp.argmax(pairs, axis=1), 32, 0),
      ("mcts", mcts, trees, None, 24, 0),
  ]


def _measure(name, agent, problems, labels, max_ticks, min_ticks, reps):
  n = jax.tree_util.tree_leaves(problems)[0].shape[0]
  keys = jax.random.split(jax.random.key(7), n)
  prices = jnp.asarray(PRICES, jnp.float32)
  kw = dict(max_ticks=max_ticks, min_ticks=min_ticks, score=labels)
  single = jax.jit(lambda lam: jt.run_price_batch(
      agent, problems, keys, lam, max_ticks=max_ticks, min_ticks=min_ticks).cost)
  one = timeit(single, prices[NUM_PRICES // 2], reps=reps)

  def separate():
    return [single(p) for p in prices]

  sep = timeit(separate, reps=max(2, reps // 2))
  tr = timeit(lambda: jt.front(agent, problems, keys, prices, method="trace", **kw),
              reps=reps)
  batch = timeit(lambda: jt.front(agent, problems, keys, prices, method="batch",
                                  lanes=16384, **kw), reps=max(2, reps // 2))
  fr = jt.front(agent, problems, keys, prices, method="trace", **kw)
  return n, one, sep, tr, batch, float(jnp.mean(fr.mean_ticks))


SHARD_SCRIPT = textwrap.dedent("""
    import sys, jax, jax.numpy as jnp, numpy as np, jaxtick as jt
    from sims.bench import timeit
    d, n = int(sys.argv[1]), int(sys.argv[2])
    probs = jt.problems.coin_problems(jax.random.key(1), n)
    keys = jax.random.split(jax.random.key(7), n)
    prices = jnp.asarray(1.0 / np.linspace(0.2, 3.0, 64), jnp.float32)
    mesh = jt.episode_mesh(num_devices=d)
    agent = jt.agents.coin()
    t = timeit(lambda: jt.front_sharded(agent, probs, keys, prices,
               max_ticks=32, min_ticks=2, score=probs > 0.5, mesh=mesh, method="trace"),
               reps=3)
    print("SECONDS", t.median)
""")


def _sharded(n: int) -> dict:
  out = {}
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
             JAX_PLATFORMS="cpu", PYTHONPATH=root)
  for d in (1, 2, 4):
    r = subprocess.run([sys.executable, "-c", SHARD_SCRIPT, str(d), str(n)],
                       capture_output=True, text=True, env=env, cwd=root)
    if r.returncode != 0:
      raise RuntimeError(f"sharded front on {d} devices failed:\n{r.stderr[-2000:]}")
    out[d] = float(r.stdout.split("SECONDS")[-1])
  return out


@register("front")
def bench(quick: bool = False) -> Record:
  reps = 2 if quick else 5
  sizes, figures, ratios, targets = {}, {}, {}, {}
  for name, agent, problems, labels, max_ticks, min_ticks in _workloads(quick):
    if labels is None:  # MCTS: score by the exact optimum
      labels = jax.vmap(lambda p: jt.problems.game_tree_solve(
          p, 4, 4, two_player=True).best_action)(problems)
    n, one, sep, tr, batch, mean_ticks = _measure(name, agent, problems, labels,
                                                  max_ticks, min_ticks, reps)
    sizes[name] = {"episodes": n, "prices": NUM_PRICES, "max_ticks": max_ticks,
                   "mean_ticks_over_prices": mean_ticks}
    figures[f"{name}_one_price_s"] = one.median
    figures[f"{name}_64_separate_calls_s"] = sep.median
    figures[f"{name}_flattened_batch_s"] = batch.median
    figures[f"{name}_trace_and_read_s"] = tr.median
    figures[f"{name}_trace_and_read_in_single_runs"] = tr.median / one.median
    figures[f"{name}_flattened_batch_in_single_runs"] = batch.median / one.median
    ratios[f"{name}_trace_vs_separate_calls"] = sep.median / tr.median
    ratios[f"{name}_trace_vs_flattened_batch"] = batch.median / tr.median
    targets[f"{name}_trace_vs_separate_calls"] = 10.0 if name == "mcts" else 3.0
  n_shard = 20_000 if quick else 100_000
  for d, s in _sharded(n_shard).items():
    figures[f"coin_sharded_front_{d}_devices_s"] = s
  sizes["sharded"] = {"episodes": n_shard, "prices": NUM_PRICES,
                      "forced_host_devices": 4}
  return Record("front", sizes, figures, ratios, targets,
                notes="medians; unit of *_in_single_runs: one compiled single-price "
                      "run_price_batch on the same episodes; sharded: forced host "
                      "devices on this machine's cores")
