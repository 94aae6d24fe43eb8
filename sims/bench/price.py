"""run_price on the coin agent: jaxtick vs the random draws it consumes and NumPy.

Workload: n coins (bias 1/2 +- U(0.05, 0.3)), price rule with price 0.6
(stop when |p_hat - 1/2| >= SE / 0.6), 2 to 32 flips. Throughput counts only
the flips episodes actually make ("useful samples").

Subjects: ``run_price_batch`` (lane refilling; the targets apply to it) and
plain ``vmap(run_price)``. References, all in the same run: the raw
throughput of ``jax.random.bernoulli`` for the same number of draws in one
call; a NumPy/Python per-episode loop (run on a subset, rate per useful
sample); and a vectorised NumPy implementation that draws all 32 samples of
every episode up front. All rates use the median over repeats (the best-of
figure of a 1 M-draw bulk call swings by 3x with allocation and cache state).

A second workload raises the cap to 256 ticks on the same episodes (same mean
ticks, longer tail): there a vmapped ``while_loop`` keeps every lane running
until the slowest of 100,000 episodes stops, and lane refilling pays off.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxtick as jt
from sims.bench import Record, register, timeit

PRICE = 0.6
MIN_TICKS, MAX_TICKS = 2, 32


def _numpy_loop(p, seed):
  """One episode at a time, one flip at a time, as plain Python would."""
  rng = np.random.default_rng(seed)
  ticks = np.empty(len(p), np.int64)
  for i, pi in enumerate(p):
    n = heads = 0
    while n < MAX_TICKS:
      if n >= MIN_TICKS:
        p_hat = heads / n
        p_tilde = (heads + 1) / (n + 2)
        se = np.sqrt(p_tilde * (1 - p_tilde) / n)
        gap = abs(p_hat - 0.5)
        if gap > 0 and se / gap - PRICE <= 0:
          break
      heads += rng.random() < pi
      n += 1
    ticks[i] = n
  return ticks


def _numpy_vectorised(p, seed):
  """All episodes' 32 flips drawn up front; stopping times found by masks."""
  rng = np.random.default_rng(seed)
  flips = rng.random((len(p), MAX_TICKS), dtype=np.float32) < p[:, None]
  heads = np.cumsum(flips, axis=1, dtype=np.int32)
  n = np.arange(1, MAX_TICKS + 1, dtype=np.float32)
  p_hat = heads / n
  p_tilde = (heads + 1) / (n + 2)
  se = np.sqrt(p_tilde * (1 - p_tilde) / n)
  gap = np.abs(p_hat - 0.5)
  with np.errstate(divide="ignore", invalid="ignore"):
    stop = (gap > 0) & (se / gap - PRICE <= 0) & (n >= MIN_TICKS)
  stop[:, -1] = True
  return np.argmax(stop, axis=1) + 1


@register("price")
def bench_price(quick: bool = False) -> Record:
  n = 5_000 if quick else 100_000
  loop_n = 500 if quick else 5_000
  agent = jt.agents.coin()
  probs = jt.problems.coin_problems(jax.random.key(0), n)
  keys = jax.random.split(jax.random.key(1), n)

  batch = jax.jit(lambda p, k: jt.run_price_batch(
      agent, p, k, PRICE, max_ticks=MAX_TICKS, min_ticks=MIN_TICKS))
  plain = jax.jit(jax.vmap(lambda p, k: jt.run_price(
      agent, p, k, PRICE, max_ticks=MAX_TICKS, min_ticks=MIN_TICKS)))
  rb, rp = batch(probs, keys), plain(probs, keys)
  if not np.array_equal(np.asarray(rb.ticks), np.asarray(rp.ticks)) or not np.array_equal(
      np.asarray(rb.state.heads), np.asarray(rp.state.heads)):
    raise AssertionError("run_price_batch disagrees with vmap(run_price)")
  useful = int(np.asarray(rb.ticks).sum())

  t_batch = timeit(batch, probs, keys, reps=11)
  t_plain = timeit(plain, probs, keys, reps=11)
  raw = jax.jit(lambda k: jax.random.bernoulli(k, 0.5, (useful,)))
  t_raw = timeit(raw, jax.random.key(2), reps=21)

  # Long tail: cap 256 instead of 32.
  long_cap = 256
  batch_long = jax.jit(lambda p, k: jt.run_price_batch(
      agent, p, k, PRICE, max_ticks=long_cap, min_ticks=MIN_TICKS))
  plain_long = jax.jit(jax.vmap(lambda p, k: jt.run_price(
      agent, p, k, PRICE, max_ticks=long_cap, min_ticks=MIN_TICKS)))
  rbl = batch_long(probs, keys)
  if not np.array_equal(np.asarray(rbl.ticks), np.asarray(plain_long(probs, keys).ticks)):
    raise AssertionError("run_price_batch disagrees with vmap(run_price) (cap 256)")
  useful_long = int(np.asarray(rbl.ticks).sum())
  t_batch_long = timeit(batch_long, probs, keys, reps=5)
  t_plain_long = timeit(plain_long, probs, keys, reps=5)

  p_np = np.asarray(probs, np.float64)
  t0 = time.perf_counter()
  loop_ticks = _numpy_loop(p_np[:loop_n], 0)
  t_loop = time.perf_counter() - t0
  vec = lambda: _numpy_vectorised(p_np.astype(np.float32), 0)
  t_vec = timeit(vec, reps=7)
  vec_useful = int(vec().sum())

  rate = lambda count, t: count / t
  figures = {
      "mean_ticks": useful / n,
      "useful_samples": useful,
      "jaxtick_vmap_samples_per_s": rate(useful, t_plain.median),
      "jaxtick_batch_samples_per_s": rate(useful, t_batch.median),
      "raw_jax_random_draws_per_s": rate(useful, t_raw.median),
      "raw_jax_random_draws_per_s_best": rate(useful, t_raw.best),
      "numpy_loop_samples_per_s": rate(int(loop_ticks.sum()), t_loop),
      "numpy_vectorised_useful_samples_per_s": rate(vec_useful, t_vec.median),
      "cap256_mean_ticks": useful_long / n,
      "cap256_jaxtick_vmap_samples_per_s": rate(useful_long, t_plain_long.median),
      "cap256_jaxtick_batch_samples_per_s": rate(useful_long, t_batch_long.median),
  }
  v = figures["jaxtick_vmap_samples_per_s"]
  b = figures["jaxtick_batch_samples_per_s"]
  ratios = {
      "vmap_vs_raw_draws": v / figures["raw_jax_random_draws_per_s"],
      "vmap_vs_numpy_loop": v / figures["numpy_loop_samples_per_s"],
      "vmap_vs_numpy_vectorised": v / figures["numpy_vectorised_useful_samples_per_s"],
      "batch_vs_raw_draws": b / figures["raw_jax_random_draws_per_s"],
      "batch_vs_numpy_loop": b / figures["numpy_loop_samples_per_s"],
      "batch_vs_numpy_vectorised": b / figures["numpy_vectorised_useful_samples_per_s"],
      "cap256_batch_vs_vmap": (figures["cap256_jaxtick_batch_samples_per_s"]
                               / figures["cap256_jaxtick_vmap_samples_per_s"]),
  }
  return Record(
      name="price", sizes={"episodes": n, "max_ticks": MAX_TICKS, "min_ticks": MIN_TICKS,
                           "price": PRICE, "numpy_loop_episodes": loop_n},
      figures=figures, ratios=ratios,
      targets={"batch_vs_raw_draws": 0.4, "batch_vs_numpy_loop": 30.0,
               "batch_vs_numpy_vectorised": 2.0},
      notes="median wall-clock seconds after compilation; the NumPy loop runs on "
            "a subset and is reported per useful sample; batch and vmap results "
            "checked equal episode by episode")
