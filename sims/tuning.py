"""Price search three ways at one target budget (shared by E3 and E4).

* tuned: :func:`jaxtick.soft.tune_price` on the soft rule (its default:
  Newton's method on log lambda, each temperature stopping at a relative miss
  of 1e-4 or after ``TUNE_STEPS`` steps; temperatures annealed), from one
  trace per episode;
* bisection: :func:`jaxtick.bisect_price` on the hard rule's mean cost
  (:func:`jaxtick.run_price_batch` at each step);
* subgradient: :func:`jaxtick.subgradient_price` on the same mean cost.

Each is then scored by the hard rule at the price it found (one
:func:`jaxtick.front` over the same episodes): mean cost, its relative miss
of the target, and accuracy. Wall-clock: the first call (with compilation)
and a second call of the same compiled search.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxtick as jt
from sims import report

TAUS = (0.3, 0.1, 0.03, 0.01)
BISECT_ITERS = 30
SUBGRAD_STEPS = 100
TUNE_STEPS = 20


def _timed(fn):
  t0 = time.perf_counter()
  out = jax.block_until_ready(fn())
  first = time.perf_counter() - t0
  t0 = time.perf_counter()
  jax.block_until_ready(fn())
  return out, first, time.perf_counter() - t0


def compare(agent, problems, keys, labels, *, targets, max_ticks: int,
            min_ticks: int = 0, hi: float = 20.0, step_size: float = 0.02) -> dict:
  """The three searches for each mean cost in ``targets``; a JSON-ready dict."""
  n = keys.shape[0]
  trace = jax.jit(jax.vmap(lambda p, k: jt.soft.trace(agent, p, k, max_ticks=max_ticks)))

  def tune(target):
    tr = trace(problems, keys)
    return jt.soft.tune_price(tr, tau=TAUS, target=target, min_ticks=min_ticks,
                              num_steps=TUNE_STEPS)

  tuned = lambda target: tune(target).price

  run_cost = lambda lam: jt.run_price_batch(
      agent, problems, keys, lam, max_ticks=max_ticks, min_ticks=min_ticks).cost.mean()
  bisect = jax.jit(lambda target: jt.bisect_price(run_cost, target, 0.0, hi,
                                                  num_iters=BISECT_ITERS))
  subgrad = jax.jit(lambda target: jt.subgradient_price(
      run_cost, target, 1.0, step_size=step_size, num_steps=SUBGRAD_STEPS).price)
  out = []
  for target in targets:
    target = float(target)
    rows = {}
    for name, fn in (("tuned", tuned), ("bisection", lambda t: bisect(t).price),
                     ("subgradient", subgrad)):
      price, first, second = _timed(lambda: fn(jnp.float32(target)))
      rows[name] = {"price": float(price), "wall_first_s": first,
                    "wall_compiled_s": second}
    bracket = bisect(jnp.float32(target))
    prices = jnp.array([r["price"] for r in rows.values()] + [bracket.lo])
    fr = jt.front(agent, problems, keys, prices, max_ticks=max_ticks,
                  min_ticks=min_ticks, score=labels)
    for i, r in enumerate(rows.values()):
      cost = float(fr.mean_cost[i])
      r.update(hard_mean_cost=cost, miss=(cost - target) / target,
               accuracy=report.proportion(int(fr.correct[i]), n))
    res = tune(jnp.float32(target))
    rows["tuned"].update(steps=[int(k) for k in res.steps],
                         converged=bool(res.converged[-1]))
    rows["tuned"]["soft_mean_cost"] = float(jt.soft.mean_cost(
        trace(problems, keys), rows["tuned"]["price"], tau=TAUS[-1], min_ticks=min_ticks))
    out.append({"target_mean_cost": target, "methods": rows,
                "step": {"price_lo": float(bracket.lo), "cost_at_lo": float(fr.mean_cost[-1]),
                         "price_hi": float(bracket.hi),
                         "cost_at_hi": float(fr.mean_cost[1])}})
  return {"episodes": n, "taus": list(TAUS), "tuner_steps_per_tau": TUNE_STEPS,
          "bisection_iters": BISECT_ITERS, "subgradient_steps": SUBGRAD_STEPS,
          "subgradient_step_size": step_size, "targets": out}


def render(t: dict) -> list[str]:
  lines = [f"Price search ({t['episodes']} episodes): lambda found, the hard rule's mean "
           "cost there (relative miss of the target), accuracy, wall-clock (first call "
           "incl. compile / compiled)",
           f"  tuned: soft rule, Newton on log lambda, tau {t['taus']} x at most "
           f"{t['tuner_steps_per_tau']} steps; bisection: {t['bisection_iters']} halvings; "
           f"subgradient: {t['subgradient_steps']} steps of {report.g4(t['subgradient_step_size'])}"]
  for tg in t["targets"]:
    st = tg["step"]
    lines.append(f"  target {report.g4(tg['target_mean_cost'])}: the hard rule's mean cost steps from "
                 f"{report.g4(st['cost_at_lo'])} (lambda {report.g4(st['price_lo'])}) to {report.g4(st['cost_at_hi'])} "
                 f"(lambda {report.g4(st['price_hi'])}) -- no price lands between")
    for name, r in tg["methods"].items():
      extra = (f"; soft-rule mean cost {report.g4(r['soft_mean_cost'])}" if "soft_mean_cost" in r else "")
      if "steps" in r:
        extra += (f"; steps per tau {r['steps']}, tolerance "
                  f"{'met' if r['converged'] else 'NOT met'}")
      lines.append(f"    {name:<11} lambda {report.g4(r['price'])}: mean cost {report.g4(r['hard_mean_cost'])} "
                   f"({100 * r['miss']:+.3f}%), accuracy "
                   f"{report.format_proportion(r['accuracy'])}; "
                   f"{r['wall_first_s']:.3f} s / {r['wall_compiled_s']:.3f} s{extra}")
  return lines


def figure(t: dict, path: Path, title: str) -> Path:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
  names = list(t["targets"][0]["methods"])
  targets = [tg["target_mean_cost"] for tg in t["targets"]]
  width = 0.8 / len(names)
  x = np.arange(len(targets))
  for j, name in enumerate(names):
    rs = [tg["methods"][name] for tg in t["targets"]]
    axes[0].bar(x + j * width, [100 * r["miss"] for r in rs], width, label=name)
    axes[1].bar(x + j * width, [r["wall_compiled_s"] for r in rs], width, label=name)
  for ax in axes:
    ax.set_xticks(x + width * (len(names) - 1) / 2, [f"{v:g}" for v in targets])
    ax.set_xlabel("target mean cost")
  axes[0].axhline(0, color="k", lw=0.8)
  axes[0].set_ylabel("hard-rule mean cost vs target (%)")
  axes[1].set_ylabel("wall-clock, compiled (s)")
  axes[1].set_yscale("log")
  axes[0].legend(fontsize=7)
  fig.suptitle(f"{title}: price search, tuned vs bisection vs subgradient")
  fig.subplots_adjust(wspace=0.35)  # room for the right panel's y label
  return report.save_figure(fig, path)
