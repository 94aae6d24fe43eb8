"""tune_price against a hand-written optax Adam scan on the same soft objective.

Workloads (2,000 episodes each, ``--quick``: 500): the README's coin
(``jt.agents.coin()``, ``max_ticks=32``, ``min_ticks=1``, target mean cost 6)
and E3's gap test (``jt.agents.gap_test("bernoulli")`` on Bernoulli pairs,
``max_ticks=32``, target 10). Both anneal tau = 0.1, 0.03, 0.01 and start from
price 1. The traces are recorded once, outside every timing.

Subjects, all on the same traces and the same objective
``((soft mean cost - target) / target) ** 2``:

* ``tune_price`` with its default optimiser (Newton on log lambda, stopping at
  a relative miss of 1e-4), and with ``optimizer=`` L-BFGS and Adam (the
  candidates; each stops at the same tolerance or ``num_steps`` = 100 per
  stage);
* the reference: a hand-written ``lax.scan`` of 300 optax Adam steps on log
  lambda (100 per temperature, learning rate 0.05), one compiled program.

Figures per subject: wall clock of the first call (compile included) and of
a later call (compile excluded; the fastest of the repeats), and the process
CPU time of each (on a shared machine the CPU time is the steadier figure), optimiser steps, the price found and its final relative
miss of the target (soft rule, tau = 0.01). Ratios: the hand loop's wall
clock over tune_price's (its speed relative to the hand loop), compile
included and excluded, by wall clock and by CPU time; the target, "within 2x
of the hand loop", is >= 0.5.

Two more problems have no root to find, so there the candidates are Adam(0.05)
and L-BFGS, each up to 300 steps, stopping at a gradient norm of 1e-4, on the
coin at tau = 0.05: the utility ``accuracy - 0.02 mean cost`` (1 parameter)
and the price with Platt's (a, b) learnt jointly at the budget (3
parameters). Figures: time, steps, the final objective (lower is better),
accuracy and mean cost.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxtick as jt
from sims.bench import Record, register

TAUS = (0.1, 0.03, 0.01)
HAND_STEPS, HAND_LR = 300, 0.05
MU = 0.02
MAX_TICKS, MIN_TICKS = 32, 1


def _timed(fn, reps):
  """(result, first call's (wall s, CPU s), best later call's wall s, its CPU s)."""
  t0, c0 = time.perf_counter(), time.process_time()
  out = jax.block_until_ready(fn())
  first = (time.perf_counter() - t0, time.process_time() - c0)
  best, cpu = np.inf, np.inf
  for _ in range(reps):
    t0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    wall, c = time.perf_counter() - t0, time.process_time() - c0
    if wall < best:
      best, cpu = wall, c
  return out, first, best, cpu


def _hand_loop(trs, target, *, min_ticks):
  """300 Adam steps on log lambda, tau annealed in thirds: the reference."""
  opt = optax.adam(HAND_LR)
  taus = jnp.repeat(jnp.asarray(TAUS, trs.cost.dtype), HAND_STEPS // len(TAUS))

  def loss(x, tau):
    cost = jt.soft.mean_cost(trs, jnp.exp(x), tau=tau, min_ticks=min_ticks)
    return ((cost - target) / target) ** 2

  def step(carry, tau):
    x, st = carry
    g = jax.grad(loss)(x, tau)
    upd, st = opt.update(g, st)
    return (optax.apply_updates(x, upd), st), None

  x0 = jnp.zeros((), trs.cost.dtype)
  (x, _), _ = jax.lax.scan(step, (x0, opt.init(x0)), taus)
  return jnp.exp(x)


def _miss(trs, price, target, min_ticks):
  cost = float(jt.soft.mean_cost(trs, price, tau=TAUS[-1], min_ticks=min_ticks))
  return (cost - target) / target


def _workloads(n):
  coin = jt.agents.coin()
  probs = jt.problems.coin_problems(jax.random.key(0), n)
  keys = jax.random.split(jax.random.key(1), n)
  gap = jt.agents.gap_test("bernoulli", min_samples=4)
  theta = jt.problems.bernoulli_pairs(jax.random.key(2), n)
  gkeys = jax.random.split(jax.random.key(3), n)
  return {"coin": (coin, probs, keys, 6.0), "gap_test": (gap, theta, gkeys, 10.0)}


@register("tune")
def bench_tune(quick: bool = False) -> Record:
  n = 500 if quick else 2_000
  reps = 2 if quick else 3
  figures, ratios, targets = {}, {}, {}
  candidates = {"newton": None, "lbfgs": optax.lbfgs(), "adam": optax.adam(HAND_LR)}
  for name, (agent, probs, keys, target) in _workloads(n).items():
    trace = jax.jit(jax.vmap(lambda p, k, a=agent: jt.soft.trace(a, p, k, max_ticks=MAX_TICKS)))
    trs = jax.block_until_ready(trace(probs, keys))
    hand = jax.jit(lambda t, g: _hand_loop(t, g, min_ticks=MIN_TICKS))
    price, first, best, cpu = _timed(lambda: hand(trs, jnp.float32(target)), reps)
    figures.update({f"{name}_hand_adam_wall_first_s": first[0],
                    f"{name}_hand_adam_cpu_first_s": first[1], f"{name}_hand_adam_wall_s": best,
                    f"{name}_hand_adam_cpu_s": cpu, f"{name}_hand_adam_price": float(price),
                    f"{name}_hand_adam_miss": _miss(trs, price, target, MIN_TICKS)})
    hand_first, hand_best, hand_cpu = first, best, cpu
    for cand, opt in candidates.items():
      run = lambda: jt.soft.tune_price(trs, tau=TAUS, target=target, min_ticks=MIN_TICKS,
                                       optimizer=opt)
      res, first, best, cpu = _timed(run, reps)
      key = f"{name}_tune_{cand}"
      figures.update({f"{key}_wall_first_s": first[0], f"{key}_cpu_first_s": first[1],
                      f"{key}_wall_s": best, f"{key}_cpu_s": cpu,
                      f"{key}_steps": int(np.sum(res.steps)),
                      f"{key}_converged": float(bool(res.converged[-1])),
                      f"{key}_price": float(res.price),
                      f"{key}_miss": _miss(trs, res.price, target, MIN_TICKS)})
      ratios[f"{name}_{cand}_speed_vs_hand_compiled"] = hand_best / best
      ratios[f"{name}_{cand}_speed_vs_hand_with_compile"] = hand_first[0] / first[0]
      ratios[f"{name}_{cand}_cpu_speed_vs_hand_with_compile"] = hand_first[1] / first[1]
      ratios[f"{name}_{cand}_cpu_speed_vs_hand_compiled"] = hand_cpu / cpu
    for k in ("compiled", "with_compile"):
      targets[f"{name}_newton_speed_vs_hand_{k}"] = 0.5
      targets[f"{name}_newton_cpu_speed_vs_hand_{k}"] = 0.5

  # No root to find: the utility (1 parameter) and the price with Platt's (a, b)
  # at the coin's budget (3 parameters).
  agent, probs, keys, target = _workloads(n)["coin"]
  trs = jax.vmap(lambda p, k: jt.soft.trace(agent, p, k, max_ticks=MAX_TICKS))(probs, keys)
  correct = (trs.output == (probs > 0.5)[:, None]).astype(trs.cost.dtype)
  problems = {"utility": (dict(mu=MU), jt.Identity()),
              "platt": (dict(target=target, learn_calib=True), jt.Platt(1.0, 0.0))}
  for prob, (kw, calib) in problems.items():
    for cand, opt in (("adam", optax.adam(0.05)), ("lbfgs", optax.lbfgs())):
      run = lambda: jt.soft.tune_price(trs, tau=0.05, correct=correct, calib=calib,
                                       min_ticks=MIN_TICKS, num_steps=300, optimizer=opt, **kw)
      res, first, best, cpu = _timed(run, reps)
      key = f"{prob}_{cand}"
      kw_obj = {k: v for k, v in kw.items() if k != "learn_calib"}
      figures.update({f"{key}_wall_first_s": first[0], f"{key}_cpu_first_s": first[1],
                      f"{key}_wall_s": best, f"{key}_cpu_s": cpu,
                      f"{key}_steps": int(np.sum(res.steps)),
                      f"{key}_converged": float(bool(res.converged[-1])),
                      f"{key}_final_loss": float(jt.soft.objective(
                          jt.soft.TuneParams(jnp.log(res.price), res.calib), trs, correct,
                          tau=0.05, min_ticks=MIN_TICKS, **kw_obj)),
                      f"{key}_accuracy": float(res.accuracy),
                      f"{key}_mean_cost": float(res.mean_cost)})
  return Record(
      name="tune", sizes={"episodes": n, "max_ticks": MAX_TICKS, "min_ticks": MIN_TICKS,
                          "taus": TAUS, "hand_steps": HAND_STEPS, "hand_lr": HAND_LR},
      figures=figures, ratios=ratios, targets=targets,
      notes="wall seconds: first call (compile included) and the best of later calls "
            "(compile excluded); cpu_s: process CPU time of that call; miss: soft mean "
            "cost at tau 0.01 vs target, relative. Ratios: hand-loop time / tune_price "
            "time (>= 0.5: within 2x of the hand loop).")
