"""Compile time as a measured figure: first call, repeat call, another agent's call.

Subjects (each in a fresh Python process, so that the first call really
compiles): the README's first taste (``run_price_batch`` on 2,000 coins), a
64-price coin front, E4's MCTS front, the bandit (elimination) and the router
grid. For each: the first call (tracing + compiling + running), a repeat call
with the same arguments, a call with a *new* agent or pool of the same kind
and shapes but other data (the notebook cell run again), and the steady-state
run time (median of repeats). ``traces_on_repeat`` counts the traces of
jaxtick's compiled runners (:func:`jaxtick.values.trace_count`) during the
repeat and other-data calls: 0 when nothing recompiles.

Reference: the README's ``run_price_batch`` call wrapped in ``jax.jit`` by hand
(the fastest a user could call it); the target is a repeat of the unjitted
call within 3x of that (ratio ``handjit_over_repeat`` >= 1/3).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from sims.bench import Record, register

CASES = ("first_taste", "coin_front", "mcts_front", "bandit", "router")


def _setup(case: str, variant: int):
  """``(call, hand_jitted or None)`` for one case; ``variant`` picks the data."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  import jaxtick as jt

  if case in ("first_taste", "coin_front"):
    agent = jt.agents.coin(cost=1.0 + variant)  # a rebuilt agent, other data
    probs = jt.problems.coin_problems(jax.random.key(0), 2000)
    keys = jax.random.split(jax.random.key(1), 2000)
    if case == "first_taste":
      call = lambda: jt.run_price_batch(agent, probs, keys, 0.7, max_ticks=32, min_ticks=2)
      hand = jax.jit(lambda p, k: jt.run_price_batch(agent, p, k, 0.7, max_ticks=32,
                                                     min_ticks=2))
      return call, lambda: hand(probs, keys)
    prices = np.geomspace(0.05, 5.0, 64).astype(np.float32)
    return (lambda: jt.front(agent, probs, keys, prices, max_ticks=32, min_ticks=2,
                             score=probs > 0.5)), None
  if case == "mcts_front":
    from sims import e4_mcts as e4
    env = jt.problems.game_tree_env(e4.BRANCHING, e4.DEPTH, two_player=True)
    agent = jt.agents.mcts(env, e4.FIXED, exploration=e4.EXPLORATION + 0.1 * variant,
                           prior_var=jt.problems.game_tree_return_var(e4.DEPTH))
    problems = jt.problems.game_tree_problems(jax.random.key(variant), 240)
    keys = jax.random.split(jax.random.key(7), 240)
    prices = jt.price_from_z(np.array(sorted(set(e4.SWEEP_Z) | set(e4.TABLE_Z))))
    return (lambda: jt.front(agent, problems, keys, prices, max_ticks=e4.FIXED,
                             episodes=True)), None
  if case == "bandit":
    from jaxtick.alloc import bandit
    from jaxtick.problems import pools
    pool = pools.query_pool(jax.random.key(variant), 20_000)
    return (lambda: bandit.allocate(pool, 32 * 20_000, rule="elimination",
                                    max_samples=128)), None
  if case == "router":
    from jaxtick.alloc import utility as ut
    from sims.bench.routing import _tables
    acc, tok, lat = _tables(10_000, seed=variant)
    lam_t = np.concatenate([[0.0], np.geomspace(1e-7, 1e-3, 15)]).astype(np.float32)
    lam_l = np.concatenate([[0.0], np.geomspace(1e-5, 1e-1, 15)]).astype(np.float32)
    args = tuple(jnp.asarray(x) for x in (acc, tok.mean(0), lat.mean(0), lam_t, lam_l,
                                          acc, tok, lat))
    return (lambda: ut.route_grid(*args)), None
  raise ValueError(f"unknown case {case!r}; expected one of {CASES}")


def _timed(fn) -> float:
  import jax
  t0 = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - t0


def measure(case: str, reps: int = 5) -> dict:
  """Runs one case in this process (call it in a fresh one): seconds per call."""
  from jaxtick import values
  call, hand = _setup(case, 0)
  first = _timed(call)
  traced = sum(values._TRACES.values())
  repeat = _timed(call)
  other_call, _ = _setup(case, 1)
  other = _timed(other_call)
  traces_on_repeat = sum(values._TRACES.values()) - traced
  steady = statistics.median(_timed(call) for _ in range(reps))
  out = dict(first_s=first, repeat_s=repeat, other_data_s=other, steady_s=steady,
             traces_on_repeat=traces_on_repeat)
  if hand is not None:
    _timed(hand)
    out["hand_jit_s"] = statistics.median(_timed(hand) for _ in range(reps))
  return out


@register("compile")
def bench(quick: bool = False) -> Record:
  cases = ("first_taste", "coin_front") if quick else CASES
  figures, ratios, targets = {}, {}, {}
  for case in cases:
    r = subprocess.run([sys.executable, "-c",
                        f"import json; from sims.bench.compile import measure; "
                        f"print(json.dumps(measure({case!r})))"],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
      raise RuntimeError(f"compile bench {case} failed:\n{r.stderr[-2000:]}")
    m = json.loads(r.stdout.strip().splitlines()[-1])
    for k, v in m.items():
      figures[f"{case}_{k}"] = v
    if "hand_jit_s" in m:
      ratios[f"{case}_handjit_over_repeat"] = m["hand_jit_s"] / m["repeat_s"]
      targets[f"{case}_handjit_over_repeat"] = 1 / 3
  return Record("compile", {"cases": list(cases)}, figures, ratios, targets,
                notes="each case in a fresh process; first = trace + compile + run; "
                      "repeat = same arguments; other_data = a rebuilt agent or pool of "
                      "the same kind and shapes; steady = median of 5 repeats")
