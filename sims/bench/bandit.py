"""Bandit allocation over a pool of 100,000 queries (and 1,000,000), vs NumPy.

Subject: :func:`jaxtick.alloc.allocate`, rule ``elimination``, ground-truth
oracle, K = 1, average budget 32 per query, a per-query cap of 128 samples:
one compiled call that draws every response from the generator pool (the key
contract: one threefry hash per response here, the tick key, whose bits give
the answer and the corruption flip) and runs every round.

References, timed in the same run:

* on the *same* responses, pre-drawn into a [Q, 128] table (drawing the table
  is not timed; that favours the references): the NumPy loop
  (:func:`sims.bench._bandit_numpy.allocate_loop`, a Python loop over rounds
  and queries, the straightforward implementation) and the NumPy vectorised
  reference (:func:`~sims.bench._bandit_numpy.allocate_vectorised`, a Python
  loop over rounds, NumPy arrays over queries). Both must give the subject's
  samples per query exactly (checked);
* drawing their own responses with NumPy's generator when asked for
  (``allocate_loop_drawing``, ``allocate_vectorised_drawing``): what a NumPy
  user would run. Other draws, so equal to the subject only in distribution
  (coverage reported beside the subject's).

Every timing is given as wall-clock seconds (best of the repeats) and as the
process CPU seconds of that same call (the subject's XLA threads included);
ratios are taken both ways.

At 1,000,000 queries only the subject runs (the table would take 1.7 GB),
first, so that the peak resident memory it adds is measured before anything
else raises the peak; XLA's memory analysis of the compiled call gives its
own bytes per query: its state is O(Q x A) (answer counts), never O(Q x B).

Budget sweep: the nine average budgets of ``python -m sims bandit`` (2 ... 48 per
query) read off one run of the round-based rule at the largest
(``allocate(pool, budgets)``), timed beside the single budget-32 run (its
budget-32 row must equal that run's samples: checked).
"""

from __future__ import annotations

import resource
import time

import sys

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


def _rss_bytes() -> int:
  """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak if sys.platform == "darwin" else peak * 1024


def _cpu_timed(fn, sink: list):
  """``fn``, appending each call's process CPU seconds to ``sink`` (ready results)."""
  def run(*args):
    t0 = time.process_time()
    out = jax.block_until_ready(fn(*args))
    sink.append(time.process_time() - t0)
    return out
  return run


def _compiled_bytes(fn, *args) -> dict:
  """XLA's own account of the compiled ``fn(*args)``: argument, output and temporary bytes."""
  m = jax.jit(fn).lower(*args).compile().memory_analysis()
  return {"argument": m.argument_size_in_bytes, "output": m.output_size_in_bytes,
          "temp": m.temp_size_in_bytes}


def _once(fn, *args):
  """One call: (result, wall seconds, process CPU seconds)."""
  w0, c0 = time.perf_counter(), time.process_time()
  out = fn(*args)
  return out, time.perf_counter() - w0, time.process_time() - c0


@register("bandit")
def bench(quick: bool = False) -> Record:
  q = 20_000 if quick else 100_000
  big = 100_000 if quick else 1_000_000
  key = jax.random.key(0)
  elim = lambda p, b: bandit.allocate(p, b, rule="elimination", max_samples=CAP)

  rss0 = _rss_bytes()
  pool_big = pools.query_pool(jax.random.fold_in(key, 2), big)
  cpu_big = []
  big_run = _cpu_timed(lambda p: elim(p, AVG * big), cpu_big)
  rb = big_run(pool_big)
  t_big = timeit(big_run, pool_big, reps=1)
  rss_big = _rss_bytes() - rss0
  mem = _compiled_bytes(lambda p: elim(p, AVG * big), pool_big)
  del pool_big

  pool = pools.query_pool(jax.random.fold_in(key, 1), q)
  budget = AVG * q
  cpu_jax = []
  subject = _cpu_timed(lambda p: elim(p, budget), cpu_jax)
  res = subject(pool)
  t_jax = timeit(subject, pool, reps=3)
  samples = np.asarray(res.samples)
  rounds = int(res.rounds)

  t0 = time.perf_counter()
  reward, correct, answer, tokens = _table(pool, q)
  t_table = time.perf_counter() - t0   # includes compiling sample_responses once
  caps = np.full(q, CAP)
  (s_loop, cov_loop, _, _), t_loop, c_loop = _once(ref.allocate_loop, reward, correct,
                                                   caps, budget)
  vec, t_vec, c_vec = _once(lambda: ref.allocate_vectorised(
      answer, tokens, reward, correct, caps, budget, num_answers=8))
  same = bool((s_loop == samples).all() and (vec["samples"] == samples).all()
              and (cov_loop == np.asarray(res.covered)).all())
  sweep_budgets = np.array([2, 4, 6, 8, 12, 16, 24, 32, 48]) * q
  sweep = lambda p: bandit.allocate(p, sweep_budgets, rule="elimination", max_samples=CAP)
  rs = sweep(pool)
  t_sweep = timeit(sweep, pool, reps=3)
  same = same and bool((np.asarray(rs.samples)[7] == samples).all())
  del reward, correct, answer, tokens
  (s_dl, cov_dl, _, _), t_dloop, c_dloop = _once(lambda: ref.allocate_loop_drawing(
      pool.answer_probs, caps, budget, oracle=pools.GROUND_TRUTH, seed=0))
  dvec, t_dvec, c_dvec = _once(lambda: ref.allocate_vectorised_drawing(
      pool.answer_probs, pool.token_mean, pool.response_sigma, caps, budget,
      oracle=pools.GROUND_TRUTH, seed=0))
  c_jax = min(cpu_jax[1:])   # the timed calls (the first compiles)
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
          "numpy_loop_drawing_seconds": t_dloop,
          "numpy_vectorised_drawing_seconds": t_dvec,
          "jaxtick_cpu_seconds": c_jax,
          "numpy_loop_cpu_seconds": c_loop,
          "numpy_vectorised_cpu_seconds": c_vec,
          "numpy_loop_drawing_cpu_seconds": c_dloop,
          "numpy_vectorised_drawing_cpu_seconds": c_dvec,
          "same_samples_as_references": float(same),
          "jaxtick_sweep9_seconds": t_sweep.best,
          "coverage_numpy_loop_drawing": float(cov_dl.mean()),
          "coverage_numpy_vectorised_drawing": float(dvec["covered"].mean()),
          "samples_numpy_vectorised_drawing": float(dvec["samples"].sum()),
          "jaxtick_seconds_big": t_big.best,
          "jaxtick_cpu_seconds_big": min(cpu_big[1:]),
          "peak_rss_added_mb_big": rss_big / 2 ** 20,
          "xla_bytes_per_query_big": sum(mem.values()) / big,
          "xla_temp_bytes_per_query_big": mem["temp"] / big,
          "jaxtick_samples_per_s_big": np.asarray(rb.samples).sum() / t_big.best,
          "coverage": float(np.asarray(res.covered).mean()),
          "coverage_big": float(np.asarray(rb.covered).mean()),
      },
      ratios={"vs_numpy_loop": t_loop / t_jax.best,
              "sweep9_over_one_budget": t_sweep.best / t_jax.best,
              "vs_numpy_vectorised": t_vec / t_jax.best,
              "vs_numpy_loop_drawing": t_dloop / t_jax.best,
              "vs_numpy_vectorised_drawing": t_dvec / t_jax.best,
              "cpu_vs_numpy_loop": c_loop / c_jax,
              "cpu_vs_numpy_vectorised": c_vec / c_jax,
              "cpu_vs_numpy_loop_drawing": c_dloop / c_jax,
              "cpu_vs_numpy_vectorised_drawing": c_dvec / c_jax},
      targets={"vs_numpy_loop": 20.0, "vs_numpy_vectorised": 20.0},
      notes=("the *_drawing references draw each response with NumPy's generator; the "
             "others read a pre-drawn [Q, 128] table (drawing not timed). The subject draws "
             "every response itself (one threefry hash each: the tick key). cpu_* are "
             "process CPU seconds (XLA's threads included); peak_rss_added_* is the peak "
             "resident memory the 1,000,000-query run added, drawing its pool and compiling "
             "included (run first); xla_*bytes_per_query are the compiled allocation's "
             "arguments, outputs and temporaries (a [Q, 128] table would be 1664)"),
  )
