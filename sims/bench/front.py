"""Fronts: the streaming front against trace-and-read, the flattened batch and P calls.

Workloads (one run): 64 prices x 100,000 episodes on the coin (2..32 flips),
on E3's gap test (4..32 observations) and on an SPRT capped at 10,000
observations, 64 prices x 10,000 episodes on E4's MCTS (branching 4, depth 4,
up to 24 simulations). Prices span the experiments' z sweeps (z = 0.2..3,
price 1/z), so mean ticks range from the minimum to near the cap.

Subjects: :func:`jaxtick.front` with ``method="stream"`` and
``method="trace"``. References, same run, same episodes, all compiled before
timing:

* one price: the compiled single-price :func:`jaxtick.run_price_batch` at
  the grid's *cheapest* price (the longest run; the stream's floor) and at the
  middle price -- the units the fronts are reported in. The run at the
  cheapest price and the stream, the two sides of the target, are timed in
  alternation (:func:`sims.bench.timeit_interleaved`, 10 of each; medians);
* separate calls: that compiled function called once per price, 64 calls;
* flattened batch: :func:`jaxtick.front` with ``method="batch"`` (all
  (price, episode) pairs in one lane-refilled batch).

The SPRT's cap is far above its mean ticks: trace-and-read would store 10,001
ticks per episode (not run), the flattened batch is 64 runs (not run; the
separate calls stand for it).

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
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxtick as jt
from jaxtick.agents import sequential as sq
from sims.bench import Record, register, timeit, timeit_interleaved

NUM_PRICES = 64
PRICES = 1.0 / np.linspace(0.2, 3.0, NUM_PRICES)


def _workloads(quick: bool):
  n_big, n_mcts = (5_000, 1_000) if quick else (100_000, 10_000)
  key = jax.random.key(0)
  coin = jt.problems.coin_problems(jax.random.fold_in(key, 1), n_big)
  pairs = jt.problems.bernoulli_pairs(jax.random.fold_in(key, 2), n_big)
  theta = jt.problems.parameter_grid(np.array([0.4, 0.45, 0.5, 0.55, 0.6]), n_big // 5)
  env = jt.problems.game_tree_env(4, 4, two_player=True)
  mcts = jt.agents.mcts(env, 24, exploration=float(np.sqrt(2.0)),
                        prior_var=jt.problems.game_tree_return_var(4))
  trees = jt.problems.game_tree_problems(jax.random.fold_in(key, 3), n_mcts)
  return [
      ("coin", jt.agents.coin(), coin, coin > 0.5, 32, 2),
      ("gap_test", sq.gap_test("bernoulli", min_samples=4), pairs,
       jnp.argmax(pairs, axis=1), 32, 0),
      ("mcts", mcts, trees, None, 24, 0),
      ("sprt", sq.sprt("bernoulli", 0.45, 0.55, 0.05, 0.05), theta,
       (theta > 0.5).astype(jnp.int32), 10_000, 0),
  ]


def _cpu(fn, *args, reps: int) -> float:
  """Least process CPU time of ``reps`` calls after a warm-up (robust on a shared machine)."""
  jax.block_until_ready(fn(*args))
  best = float("inf")
  for _ in range(reps):
    c = time.process_time()
    jax.block_until_ready(fn(*args))
    best = min(best, time.process_time() - c)
  return best


def _measure(name, agent, problems, labels, max_ticks, min_ticks, reps):
  n = jax.tree_util.tree_leaves(problems)[0].shape[0]
  keys = jax.random.split(jax.random.key(7), n)
  prices = jnp.asarray(PRICES, jnp.float32)
  kw = dict(max_ticks=max_ticks, min_ticks=min_ticks, score=labels)
  single = jax.jit(lambda lam: jt.run_price_batch(
      agent, problems, keys, lam, max_ticks=max_ticks, min_ticks=min_ticks).cost)
  stream = lambda: jt.front(agent, problems, keys, prices, method="stream", **kw)
  cheapest = jnp.min(prices)
  # the target's two sides, in alternation (a burst of load falls on both)
  t = timeit_interleaved({"cheapest_price": lambda: single(cheapest), "stream": stream},
                         reps=2 * reps)
  t["one_price"] = timeit(single, prices[NUM_PRICES // 2], reps=reps)
  long_cap = name == "sprt"

  def separate():
    return [single(p) for p in prices]

  t["64_separate_calls"] = timeit(separate, reps=1 if long_cap else max(2, reps // 2))
  if not long_cap:
    t["trace_and_read"] = timeit(lambda: jt.front(agent, problems, keys, prices,
                                                  method="trace", **kw), reps=reps)
    t["flattened_batch"] = timeit(lambda: jt.front(agent, problems, keys, prices,
                                                   method="batch", lanes=16384, **kw),
                                  reps=max(2, reps // 2))
  cpu = {"cheapest_price": _cpu(single, cheapest, reps=reps),
         "stream": _cpu(stream, reps=reps)}
  if not long_cap:
    cpu["trace_and_read"] = _cpu(lambda: jt.front(agent, problems, keys, prices,
                                                  method="trace", **kw), reps=reps)
  fr = stream()
  return n, t, cpu, float(jnp.mean(fr.mean_ticks))


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
               max_ticks=32, min_ticks=2, score=probs > 0.5, mesh=mesh),
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
    n, t, cpu, mean_ticks = _measure(name, agent, problems, labels, max_ticks, min_ticks,
                                     reps)
    sizes[name] = {"episodes": n, "prices": NUM_PRICES, "max_ticks": max_ticks,
                   "mean_ticks_over_prices": mean_ticks}
    for k, v in t.items():
      figures[f"{name}_{k}_s"] = v.median
    for k in ("stream", "trace_and_read", "flattened_batch", "64_separate_calls"):
      if k in t:
        figures[f"{name}_{k}_in_cheapest_runs"] = t[k].median / t["cheapest_price"].median
        figures[f"{name}_{k}_in_median_price_runs"] = t[k].median / t["one_price"].median
    for k in ("stream", "trace_and_read"):
      if k in cpu:
        figures[f"{name}_{k}_cpu_in_cheapest_runs"] = cpu[k] / cpu["cheapest_price"]
    # Targets: the stream in units of one run at the cheapest price (ratio = 1 / that).
    ratios[f"{name}_cheapest_run_over_stream"] = t["cheapest_price"].median / t["stream"].median
    targets[f"{name}_cheapest_run_over_stream"] = (
        1 / 1.3 if name in ("mcts", "sprt") else 1 / 2.0)
    ratios[f"{name}_stream_vs_separate_calls"] = t["64_separate_calls"].median / t["stream"].median
    if "trace_and_read" in t:
      ratios[f"{name}_stream_vs_trace"] = t["trace_and_read"].median / t["stream"].median
  n_shard = 20_000 if quick else 100_000
  for d, s in _sharded(n_shard).items():
    figures[f"coin_sharded_front_{d}_devices_s"] = s
  sizes["sharded"] = {"episodes": n_shard, "prices": NUM_PRICES,
                      "forced_host_devices": 4}
  return Record("front", sizes, figures, ratios, targets,
                notes="medians of wall time (the cheapest run and the stream in alternation), "
                      "and *_cpu_in_cheapest_runs: least process "
                      "CPU time over the repeats, same units; units of *_in_cheapest_runs / *_in_median_price_runs: "
                      "one compiled single-price run_price_batch on the same episodes at "
                      "the grid's cheapest / middle price; target: the stream within "
                      "2.0 cheapest runs (coin, gap test), 1.3 (MCTS, SPRT); sharded: "
                      "forced host devices on this machine's cores")
