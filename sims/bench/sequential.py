"""E3 throughput: the gap test on 1,000,000 episodes, against three references.

Subject: :func:`jaxtick.run_price_batch` (lane refilling) running
:func:`jaxtick.agents.gap_test` at z = 1 on two-Bernoulli episodes, max 32
observations. Its rate is observations (ticks) per second.

References, timed in the same run:

* raw: ``jax.random.uniform`` drawing as many variates as the subject made
  observations, in one call (an upper bound for any sampler);
* NumPy loop: the same test written per episode in Python + NumPy, one draw per
  observation, timed on a subset of episodes and scaled per episode;
* NumPy vectorised: every episode's 32 uniforms drawn up front, cumulative
  sums over the observation axis, first stopping index by ``argmax`` (in
  chunks of episodes, so that its O(chunk x 32) arrays fit in memory).
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxtick as jt
from jaxtick.agents import sequential as sq
from sims.bench import Record, register, timeit

Z = 1.0
MAX_TICKS = 32
MIN_SAMPLES = 4
LANES = 16384
CHUNK = 125_000


def _numpy_loop(theta, rng, z):
  """Per-episode Python loop; returns (total observations, decisions)."""
  total = 0
  out = np.empty(theta.shape[0], np.int32)
  for i in range(theta.shape[0]):
    p = theta[i]
    n = [0, 0]
    k = [0, 0]
    t = 0
    while t < MAX_TICKS:
      arm = t & 1
      n[arm] += 1
      k[arm] += rng.random() < p[arm]
      t += 1
      if t < MIN_SAMPLES:
        continue
      gap = k[0] / n[0] - k[1] / n[1]
      pa, pb = (k[0] + 1) / (n[0] + 2), (k[1] + 1) / (n[1] + 2)
      se = math.sqrt(pa * (1 - pa) / n[0] + pb * (1 - pb) / n[1])
      if gap != 0 and abs(gap) >= z * se:
        break
    total += t
    out[i] = k[1] / n[1] > k[0] / n[0]
  return total, out


def _numpy_vectorised(theta, rng, z):
  """All samples up front, in chunks; returns (total observations, decisions)."""
  total = 0
  outs = []
  t = np.arange(1, MAX_TICKS + 1)
  n_a = ((t + 1) // 2).astype(np.float32)  # observations of A after t ticks
  n_b = (t // 2).astype(np.float32)
  for lo in range(0, theta.shape[0], CHUNK):
    p = theta[lo:lo + CHUNK].astype(np.float32)
    u = rng.random((p.shape[0], MAX_TICKS), dtype=np.float32)
    x = u < np.tile(p, MAX_TICKS // 2)
    k_a = np.cumsum(x[:, 0::2], axis=1, dtype=np.float32).repeat(2, axis=1)
    k_b = np.cumsum(x[:, 1::2], axis=1, dtype=np.float32).repeat(2, axis=1)
    k_b = np.concatenate([np.zeros_like(k_b[:, :1]), k_b[:, :-1]], axis=1)
    nb = np.maximum(n_b, 1)
    gap = k_a / n_a - k_b / nb
    pa, pb = (k_a + 1) / (n_a + 2), (k_b + 1) / (n_b + 2)
    se = np.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / nb)
    stop = (np.abs(gap) >= z * se) & (gap != 0) & (t >= MIN_SAMPLES)
    stop[:, -1] = True
    first = np.argmax(stop, axis=1)
    total += int(first.sum()) + p.shape[0]
    g = gap[np.arange(p.shape[0]), first]
    outs.append((g < 0).astype(np.int32))
  return total, np.concatenate(outs)


@register("sequential")
def bench(quick: bool = False) -> Record:
  n = 20_000 if quick else 1_000_000
  n_loop = 200 if quick else 4_000
  key = jax.random.key(0)
  theta = jt.problems.bernoulli_pairs(jax.random.fold_in(key, 1), n)
  keys = jax.random.split(jax.random.fold_in(key, 2), n)
  agent = sq.gap_test(min_samples=MIN_SAMPLES)
  price = jt.price_from_z(Z)

  @jax.jit
  def subject(theta, keys):
    res = jt.run_price_batch(agent, theta, keys, price, max_ticks=MAX_TICKS,
                             lanes=LANES)
    return res.ticks, jax.vmap(agent.output)(res.state)

  ticks, _ = subject(theta, keys)
  samples = int(np.asarray(ticks, np.int64).sum())
  t_jax = timeit(subject, theta, keys, reps=3 if quick else 5)

  raw = jax.jit(lambda k: jax.random.uniform(k, (samples,)))
  t_raw = timeit(raw, key, reps=3 if quick else 5)

  theta_np = np.asarray(theta)
  rng = np.random.default_rng(0)
  t0 = time.perf_counter()
  loop_samples, _ = _numpy_loop(theta_np[:n_loop], rng, Z)
  t_loop = (time.perf_counter() - t0) * n / n_loop  # scaled per episode

  vec = lambda: _numpy_vectorised(theta_np, rng, Z)
  t_vec = timeit(vec, reps=2 if quick else 3)
  vec_samples = vec()[0]

  state_bytes = sum(x.dtype.itemsize * math.prod(x.shape) for x in
                    jax.tree_util.tree_leaves(jax.eval_shape(
                        agent.init, theta[0], jt.init_key(keys[0]))))
  jax_rate = samples / t_jax.best
  return Record(
      name="sequential",
      sizes={"episodes": n, "z": Z, "max_samples": MAX_TICKS,
             "min_samples": MIN_SAMPLES, "lanes": LANES,
             "observations": samples,
             "mean_observations": samples / n,
             "numpy_loop_episodes_timed": n_loop,
             "numpy_vectorised_chunk": CHUNK},
      figures={
          "jaxtick_seconds": t_jax.best,
          "jaxtick_samples_per_s": jax_rate,
          "raw_jax_random_variates_per_s": samples / t_raw.best,
          "numpy_loop_samples_per_s": loop_samples / (t_loop * n_loop / n),
          "numpy_loop_seconds_scaled": t_loop,
          "numpy_vectorised_seconds": t_vec.best,
          "numpy_vectorised_samples_per_s": vec_samples / t_vec.best,
          "numpy_vectorised_variates_drawn": n * MAX_TICKS,
          "state_bytes_per_episode": state_bytes,
      },
      ratios={
          "vs_raw_jax_random": jax_rate / (samples / t_raw.best),
          "vs_numpy_loop": t_loop / t_jax.best,
          "vs_numpy_vectorised": t_vec.best / t_jax.best,
      },
      targets={"vs_raw_jax_random": 0.4, "vs_numpy_loop": 50.0,
               "vs_numpy_vectorised": 2.0},
      notes=(
          "ratios: vs_raw_jax_random = subject observations/s over raw "
          "jax.random.uniform variates/s for the same count; vs_numpy_loop and "
          "vs_numpy_vectorised = reference seconds over subject seconds for the "
          f"same {n} episodes. The NumPy loop is timed once on the first "
          f"{n_loop} episodes and scaled by n / {n_loop} (per-episode cost). "
          "The vectorised NumPy reference draws all 32 uniforms of every "
          f"episode up front (chunks of {CHUNK} episodes) and then finds the "
          "first stop; it makes the same decisions on its own streams but "
          "draws 32 variates per episode whatever the stopping time. Memory: "
          "the subject keeps lanes in flight plus one final state per episode "
          "(state_bytes_per_episode), O(episodes); the vectorised reference "
          "holds O(chunk x 32) arrays."),
  )
