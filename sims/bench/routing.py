"""Routing benchmarks: the utility router's price grid and the Lagrangian bisection.

Workload 1 (seed 001): a 64 x 64 ``lam_T x lam_L`` grid over 100,000 queries
and 13 strategies -- every cell routes every query
(:func:`jaxtick.alloc.utility.route_grid`, one compiled call) and scores the
choices on true tables (mean accuracy, tokens, latency, strategy shares).
Reference: NumPy, vectorised over queries and strategies, one cell at a time
(argmax, ``take_along_axis``, ``bincount``), timed on a subset of the cells
and scaled to the grid.

Workload 2 (seeds 003/004): the Lagrangian allocation of 1,000,000 instances
over 6 budget levels to a target mean cost (:func:`jaxtick.alloc.lagrangian.allocate`:
:func:`jaxtick.bisect_price`, 48 halvings, then the tie split; one compiled
call). Reference: the same bisection and tie split in NumPy. Both report the
relative budget error they reach (target: 1e-6).

Data: solve rates from :func:`jaxtick.problems.query_pool`; accuracies
``1 - (1 - p)^(e_s N_s)`` (the shape of best-of-N; the timing does not depend
on the values), tokens ``N_s x`` the query's mean length.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick.alloc import lagrangian as lg
from jaxtick.alloc import strategies as st
from jaxtick.alloc import utility as ut
from jaxtick.problems import pools
from sims.bench import Record, register, timeit


def _tables(q, seed=0):
  pool = pools.query_pool(jax.random.key(seed), q)
  strats = st.make_strategies()
  p = np.asarray(pool.p, np.float32)[:, None]
  eff = np.where(strats.method == st.MAJORITY, 0.6, np.where(strats.method == st.BEAM, 1.5, 1.0))
  acc = (1 - (1 - p) ** (eff * strats.n)).astype(np.float32)
  tm = np.asarray(pool.token_mean, np.float32)[:, None]
  tok = (strats.n * tm).astype(np.float32)
  lat = (0.5 + strats.depth * 1.5 + np.log2(strats.n + 1) * tm / 60).astype(np.float32)
  return acc, tok, lat


def _numpy_grid(acc, tok, lat, lam_t, lam_l, t_acc, t_tok, t_lat, cells):
  q, s = acc.shape
  out = []
  for c in cells:
    lt, ll = lam_t[c // lam_l.size], lam_l[c % lam_l.size]
    ch = np.argmax(acc - lt * tok - ll * lat, axis=1)[:, None]
    out.append((np.take_along_axis(t_acc, ch, 1).mean(), np.take_along_axis(t_tok, ch, 1).mean(),
                np.take_along_axis(t_lat, ch, 1).mean(), np.bincount(ch[:, 0], minlength=s) / q))
  return out


def _numpy_allocate(acc, cost, target, num_iters=48):
  c = np.broadcast_to(cost, acc.shape)
  rows = np.arange(acc.shape[0])
  mean_cost = lambda lam: c[rows, np.argmax(acc - lam * c, axis=1)].mean()
  dc = c - c[:, :1]
  lo, hi = 0.0, 2.0 * max(float(np.max(np.where(dc > 0, (acc - acc[:, :1]) / np.where(dc > 0, dc, 1), 0))), 0) + 1e-6
  for _ in range(num_iters):
    mid = 0.5 * (lo + hi)
    if mean_cost(mid) <= target:
      hi = mid
    else:
      lo = mid
  u = acc - hi * c
  tol = 1e-5 * (np.abs(acc).max() + hi * c.max())
  near = u >= u.max(1, keepdims=True) - tol
  action = np.argmax(near, 1)
  alt = acc.shape[1] - 1 - np.argmax(near[:, ::-1], 1)
  base, extra = c[rows, action], c[rows, alt] - c[rows, action]
  slack = max(target * acc.shape[0] - base.sum(), 0.0)
  before = np.cumsum(extra) - extra
  w = np.where(extra > 0, np.clip((slack - before) / np.where(extra > 0, extra, 1), 0, 1), 0)
  return (base + w * extra).mean()


@register("routing")
def bench(quick: bool = False) -> Record:
  q = 10_000 if quick else 100_000
  n_inst = 100_000 if quick else 1_000_000
  grid = 16 if quick else 64
  acc, tok, lat = _tables(q)
  avg_tok, avg_lat = tok.mean(0), lat.mean(0)
  lam_t = np.concatenate([[0.0], np.geomspace(1e-7, 1e-3, grid - 1)]).astype(np.float32)
  lam_l = np.concatenate([[0.0], np.geomspace(1e-5, 1e-1, grid - 1)]).astype(np.float32)
  args = tuple(jnp.asarray(x) for x in (acc, avg_tok, avg_lat, lam_t, lam_l, acc, tok, lat))
  subject = lambda *a: ut.route_grid(*a)
  t_grid = timeit(subject, *args, reps=2 if quick else 3)
  front = subject(*args)
  n_cells = grid * grid
  sub = np.linspace(0, n_cells - 1, 32 if quick else 128).astype(int)
  t0 = time.perf_counter()
  ref = _numpy_grid(acc, avg_tok, avg_lat, lam_t, lam_l, acc, tok, lat, sub)
  t_np_grid = (time.perf_counter() - t0) * n_cells / sub.size
  agree = max(abs(float(np.asarray(front.acc).reshape(-1)[c]) - r[0]) for c, r in zip(sub, ref))

  # Workload 2: bisection over n_inst instances.
  pool = pools.query_pool(jax.random.key(1), n_inst)
  levels = np.array([1, 2, 4, 8, 16, 32], np.float32)
  p = np.asarray(pool.p, np.float32)[:, None]
  acc2 = (1 - (1 - p) ** levels).astype(np.float32)
  target = 5.0
  a2, c2 = jnp.asarray(acc2), jnp.asarray(levels)
  alloc = lambda a, c: lg.allocate(a, c, target)
  t_bis = timeit(alloc, a2, c2, reps=2 if quick else 3)
  res = alloc(a2, c2)
  err = abs(float(res.mean_cost) - target) / target
  t0 = time.perf_counter()
  np_cost = _numpy_allocate(acc2, levels, target)
  t_np_bis = time.perf_counter() - t0
  return Record(
      name="routing",
      sizes={"grid_queries": q, "strategies": acc.shape[1], "lam_t": grid, "lam_l": grid,
             "numpy_grid_cells_timed": int(sub.size), "bisect_instances": n_inst,
             "levels": len(levels), "bisect_halvings": 48},
      figures={
          "grid_jaxtick_seconds": t_grid.best,
          "grid_numpy_seconds_scaled": t_np_grid,
          "grid_cell_queries_per_s": n_cells * q / t_grid.best,
          "grid_max_abs_diff_vs_numpy": agree,
          "bisect_jaxtick_seconds": t_bis.best,
          "bisect_numpy_seconds": t_np_bis,
          "bisect_relative_budget_error": err,
          "bisect_numpy_relative_budget_error": abs(np_cost - target) / target,
      },
      ratios={"grid_vs_numpy": t_np_grid / t_grid.best,
              "bisect_vs_numpy": t_np_bis / t_bis.best},
      targets={"grid_vs_numpy": 10.0, "bisect_vs_numpy": 10.0},
      notes=("grid: one compiled call (lax.map over cells, 8 at a time, argmax over strategies); "
             "NumPy one cell at a time, scaled from a subset of cells. Bisection: "
             "jt.bisect_price inside one jitted allocate call vs the same loop in NumPy."),
  )
