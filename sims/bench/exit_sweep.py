"""exit_sweep: a dense early-exit threshold sweep as one compiled call vs NumPy.

Workload: 1,024 exit thresholds x 100,000 instances x 3 heads (quick: 256 x
10,000). Subject: :func:`jaxtick.agents.sweep` under one ``jax.jit`` (the
prefix-min breakpoints, then one fused compare-and-reduce per threshold,
nothing of size [T, N] materialised). Reference: the same algorithm in NumPy
(breakpoints with ``np.minimum.accumulate``, thresholds in chunks of 16
broadcast against all instances), timed in the same run. Both are checked to
give identical counts before timing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxtick as jt
from sims.bench import Record, register, timeit


def numpy_sweep(u, correct, prices, chunk: int = 16):
  """NumPy reference of :func:`jaxtick.agents.sweep` (unit costs).

  Returns:
    ``(correct_count i64[T], total_heads i64[T])``.
  """
  n, k = u.shape
  m = np.minimum.accumulate(u[:, :-1], axis=1)
  corr = correct.astype(np.int32)
  d = corr[:, :-1] - corr[:, 1:]
  base = corr[:, -1].sum()
  out_c, out_h = [], []
  for s in range(0, len(prices), chunk):
    stop = prices[s:s + chunk, None, None] >= m[None]
    out_c.append(base + np.where(stop, d[None], 0).sum(axis=(1, 2)))
    out_h.append(n * k - stop.sum(axis=(1, 2)))
  return np.concatenate(out_c), np.concatenate(out_h)


@register("exit_sweep")
def bench(quick: bool = False) -> Record:
  n = 10_000 if quick else 100_000
  t = 256 if quick else 1024
  h = jt.problems.synthetic_heads(jax.random.key(0), n)
  hs = jt.agents.head_signals(h.logits)
  u = jax.block_until_ready(hs.u)
  correct = jax.block_until_ready(hs.pred == h.labels[:, None])
  prices = jnp.linspace(0.0, float(np.log(10.0)), t, dtype=jnp.float32)
  run = jax.jit(lambda u, c, p: jt.agents.sweep(u, c, p))
  u_np, c_np, p_np = np.asarray(u), np.asarray(correct), np.asarray(prices)

  res = run(u, correct, prices)
  ref_c, ref_h = numpy_sweep(u_np, c_np, p_np)
  if not (np.array_equal(np.asarray(res.correct), ref_c)
          and np.array_equal(np.asarray(res.total_heads), ref_h)):
    raise AssertionError("JAX and NumPy sweeps disagree")

  reps = 3 if quick else 5
  tj = timeit(run, u, correct, prices, reps=reps)
  tn = timeit(lambda: numpy_sweep(u_np, c_np, p_np), reps=reps)
  work = n * t
  return Record(
      name="exit_sweep",
      sizes={"instances": n, "thresholds": t, "heads": 3},
      figures={"jax_one_call_s": tj.best, "numpy_s": tn.best,
               "jax_instance_thresholds_per_s": work / tj.best,
               "numpy_instance_thresholds_per_s": work / tn.best},
      ratios={"jax_vs_numpy": tn.best / tj.best},
      targets={"jax_vs_numpy": 5.0},
      notes=("same closed-form algorithm in both (prefix-min breakpoints, dense "
             "compare-and-reduce per threshold); counts checked equal; best of "
             f"{reps} after a compile/warm-up call"),
  )
