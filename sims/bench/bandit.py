"""Bandit allocation over a pool of 100,000 queries (and 1,000,000), vs NumPy.

Subject: :func:`jaxtick.alloc.allocate`, rule ``elimination``, ground-truth
oracle, K = 1, average budget 32 per query, a per-query cap of 128 samples:
one compiled call that draws every response from the generator pool (the key
contract) and runs every round.

References, timed in the same run, on the *same* responses, pre-drawn into a
[Q, 128] table (drawing the table is not timed; that favours the references):

* NumPy loop: :func:`sims.bench._bandit_numpy.allocate_loop`, a Python loop
  over rounds and queries (the straightforward implementation);
* NumPy vectorised: :func:`sims.bench._bandit_numpy.allocate_vectorised`, a
  Python loop over rounds with NumPy arrays over queries.

Both must give the subject's samples per query exactly (checked). At
1,000,000 queries only the subject runs (the table would take 1.7 GB); its
state is O(Q x A) (answer counts), never O(Q x B).

Budget sweep: the nine average budgets of ``python -m sims bandit`` (2 ... 48 per
query) read off one run of the round-based rule at the largest
(``allocate(pool, budgets)``), timed beside the single budget-32 run (its
budget-32 row must equal that run's samples: checked).
"""

from __future__ import annotations

import time

import jax
import numpy as np

from jaxtick.alloc import bandit
from jaxtick.problems import pools
from sims.bench import Record, _bandit_numpy as ref, register, timeit

AVG = 32
CAP = 128


def _table(pool, q):
  chunks = []
  for lo in range(0, q, 20_000):
    sub = jax.tree_util.tree_map(lambda a: a[lo:lo + 20_000] if a.ndim else a, pool)
    r = pools.sample_responses(sub, CAP)
    chunks.append((np.asarray(r.reward), np.asarray(r.correct), np.asarray(r.answer),
                   np.asarray(r.tokens)))
  return [np.concatenate(c) for c in zip(*chunks)]


@register("bandit")
def bench(quick: bool = False) -> Record:
  q = 20_000 if quick else 100_000
  big = 100_000 if quick else 1_000_000
  key = jax.random.key(0)
  pool = pools.query_pool(jax.random.fold_in(key, 1), q)
  budget = AVG * q

  def subject(pool):
    return bandit.allocate(pool, budget, rule="elimination", max_samples=CAP)

  res = subject(pool)
  t_jax = timeit(subject, pool, reps=3)
  samples = np.asarray(res.samples)
  rounds = int(res.rounds)

  t0 = time.perf_counter()
  reward, correct, answer, tokens = _table(pool, q)
  t_table = time.perf_counter() - t0   # includes compiling sample_responses once
  t0 = time.perf_counter()
  s_loop, cov_loop, _, spent_loop = ref.allocate_loop(reward, correct, np.full(q, CAP),
                                                      budget)
  t_loop = time.perf_counter() - t0
  t0 = time.perf_counter()
  vec = ref.allocate_vectorised(answer, tokens, reward, correct, np.full(q, CAP), budget,
                                num_answers=8)
  t_vec = time.perf_counter() - t0
  same = bool((s_loop == samples).all() and (vec["samples"] == samples).all()
              and (cov_loop == np.asarray(res.covered)).all())

  sweep_budgets = np.array([2, 4, 6, 8, 12, 16, 24, 32, 48]) * q
  sweep = lambda p: bandit.allocate(p, sweep_budgets, rule="elimination", max_samples=CAP)
  rs = sweep(pool)
  t_sweep = timeit(sweep, pool, reps=3)
  same = same and bool((np.asarray(rs.samples)[7] == samples).all())

  pool_big = pools.query_pool(jax.random.fold_in(key, 2), big)
  big_run = lambda p: bandit.allocate(p, AVG * big, rule="elimination", max_samples=CAP)
  rb = big_run(pool_big)
  t_big = timeit(big_run, pool_big, reps=1)
  return Record(
      name="bandit",
      sizes={"queries": q, "avg_budget": AVG, "k": 1, "cap": CAP, "rule": "elimination",
             "rounds": rounds, "samples": int(samples.sum()), "queries_big": big,
             "rounds_big": int(rb.rounds), "samples_big": int(np.asarray(rb.samples).sum())},
      figures={
          "jaxtick_seconds": t_jax.best,
          "jaxtick_seconds_median": t_jax.median,
          "jaxtick_samples_per_s": samples.sum() / t_jax.best,
          "table_draws_per_s_incl_compile": q * CAP / t_table,
          "numpy_loop_seconds": t_loop,
          "numpy_vectorised_seconds": t_vec,
          "same_samples_as_references": float(same),
          "jaxtick_sweep9_seconds": t_sweep.best,
          "jaxtick_seconds_big": t_big.best,
          "jaxtick_samples_per_s_big": np.asarray(rb.samples).sum() / t_big.best,
          "coverage": float(np.asarray(res.covered).mean()),
          "coverage_big": float(np.asarray(rb.covered).mean()),
      },
      ratios={"vs_numpy_loop": t_loop / t_jax.best,
              "sweep9_over_one_budget": t_sweep.best / t_jax.best,
              "vs_numpy_vectorised": t_vec / t_jax.best},
      targets={"vs_numpy_loop": 20.0},
      notes=("references read a pre-drawn [Q, 128] table (drawing not timed); the "
             "subject draws every response itself (about 11 threefry hashes each), so "
             "its rate is bounded by jax.random's, cf. table_draws_per_s"),
  )
