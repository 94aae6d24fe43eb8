"""coin: the Tick API end to end on the smallest agent (sequential coin tests).

A batch of coins with known bias direction; the price rule flips each until
``|p_hat - 1/2| >= z SE`` (price 1/z); a dense z sweep in one compiled pass;
bisection for the price meeting a target mean number of flips; and the budget
rule (Algorithm 1) across pools of coins against the price rule at equal
mean compute.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxtick as jt
from sims import registry, report

MAX_TICKS = 32
MIN_TICKS = 2


def run(config: registry.Config) -> dict:
  n = config.size(4000, quick=400)
  key = jax.random.key(config.seed)
  kp, ke, kb = jax.random.split(key, 3)
  agent = jt.agents.coin()
  probs = jt.problems.coin_problems(kp, n)
  truth = np.asarray(probs > 0.5)
  keys = jax.random.split(ke, n)

  zs = np.round(np.linspace(0.25, 3.0, 56), 4)
  config.progress(f"z sweep: {len(zs)} prices x {n} episodes, one front")
  fr = jt.front(agent, probs, keys, jnp.asarray(1.0 / zs), max_ticks=MAX_TICKS,
                min_ticks=MIN_TICKS, score=probs > 0.5)
  total, correct = np.asarray(fr.total_ticks), np.asarray(fr.correct)
  sweep = [{"z": float(z), "mean_ticks": int(total[i]) / n,
            "accuracy": report.proportion(int(correct[i]), n)}
           for i, z in enumerate(zs)]

  target = 8.0
  # price_cost: the batch's mean cost as a value, so the bisection compiles once per
  # agent kind and batch shape (a rerun, another seed or pool reuses the program)
  mean_cost = jt.price_cost(agent, probs, keys, max_ticks=MAX_TICKS, min_ticks=MIN_TICKS)
  found = jt.bisect_price(mean_cost, target, 0.0, 10.0)
  config.progress(f"bisection: price {float(found.price):.5f} for mean cost {target}")

  pool = 16
  pools = n // pool
  budget = float(target * pool)
  pprobs = probs[: pools * pool].reshape(pools, pool)
  pkeys = keys[: pools * pool].reshape(pools, pool)
  budget_run = jax.jit(jax.vmap(lambda p, k: jt.run_budget(
      agent, p, k, budget, 0.0, max_ticks=MAX_TICKS)))
  br = budget_run(pprobs, pkeys)
  b_correct = int((np.asarray(br.output).reshape(-1) == truth[: pools * pool]).sum())
  # Price rule at the same mean compute (bisection on the same episodes).
  sub_probs, sub_keys = probs[: pools * pool], keys[: pools * pool]
  mean_spent = float(np.asarray(br.spent).mean()) / pool
  sub_cost = jt.price_cost(agent, sub_probs, sub_keys, max_ticks=MAX_TICKS)
  eq = jt.bisect_price(sub_cost, mean_spent, 0.0, 10.0)
  pr = jt.run_price_batch(agent, sub_probs, sub_keys, eq.price, max_ticks=MAX_TICKS)
  p_correct = int((np.asarray(jax.vmap(agent.output)(pr.state)) == truth[: pools * pool]).sum())
  return {
      "episodes": n, "max_ticks": MAX_TICKS, "min_ticks": MIN_TICKS,
      "sweep": sweep,
      "bisection": {"target_mean_ticks": target, "price": float(found.price),
                    "z": 1.0 / float(found.price) if float(found.price) > 0 else None,
                    "mean_ticks": float(found.cost)},
      "budget_vs_price": {
          "pool_size": pool, "pools": pools, "budget_per_pool": budget,
          "budget_rule": {"mean_ticks": mean_spent,
                          "accuracy": report.proportion(b_correct, pools * pool)},
          "price_rule": {"price": float(eq.price), "mean_ticks": float(eq.cost),
                         "accuracy": report.proportion(p_correct, pools * pool)},
      },
  }


def figures(metrics: dict, out: Path) -> list:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  s = metrics["sweep"]
  bp = metrics["budget_vs_price"]
  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  report.plot_proportions(ax, [r["mean_ticks"] for r in s], [r["accuracy"] for r in s],
                          label=f"price rule, z sweep ({metrics['episodes']} coins each)")
  for i, (key, label) in enumerate((
      ("budget_rule", f"budget rule (pools of {bp['pool_size']})"),
      ("price_rule", "price rule at the budget rule's mean flips")), start=1):
    r = bp[key]
    report.plot_proportions(ax, [r["mean_ticks"]], [r["accuracy"]], label=label, index=i)
  ax.set_xlabel("mean flips per coin")
  ax.set_ylabel("accuracy (95% Wilson intervals)")
  ax.set_title("coin: accuracy vs compute")
  ax.legend(fontsize=8, loc="lower right")
  return [report.save_figure(fig, Path(out) / "coin_pareto.png")]


def render(m: dict) -> str:
  g4 = report.g4
  lines = [f"episodes {m['episodes']}, flips in [{m['min_ticks']}, {m['max_ticks']}]",
           f"z sweep: {len(m['sweep'])} values of z (price 1/z) in one compiled pass; "
           "summarised here, every point in results.json (experiments.coin.sweep) and "
           "coin_pareto.png. z, mean flips, accuracy:"]
  for r in report.summarise(m["sweep"]):
    lines.append(f"  z={g4(r['z'])} mean flips={g4(r['mean_ticks'])} "
                 f"accuracy={report.format_proportion(r['accuracy'])}")
  b = m["bisection"]
  lines.append(f"bisection: target {g4(b['target_mean_ticks'])} mean flips -> price "
               f"{g4(b['price'])} (z={g4(b['z'])}), mean flips {g4(b['mean_ticks'])}")
  bp = m["budget_vs_price"]
  br, pr = bp["budget_rule"], bp["price_rule"]
  lines.append(f"budget rule ({bp['pools']} pools of {bp['pool_size']}, budget "
               f"{g4(bp['budget_per_pool'])} flips per pool): mean flips {g4(br['mean_ticks'])}, "
               f"accuracy {report.format_proportion(br['accuracy'])}")
  lines.append(f"price rule at equal compute (price {g4(pr['price'])}): mean flips "
               f"{g4(pr['mean_ticks'])}, accuracy {report.format_proportion(pr['accuracy'])}")
  (lo_b, hi_b), (lo_p, hi_p) = br["accuracy"]["ci_wilson"], pr["accuracy"]["ci_wilson"]
  overlap = lo_b <= hi_p and lo_p <= hi_b
  better = "budget" if br["accuracy"]["p"] > pr["accuracy"]["p"] else "price"
  lines.append(
      f"Takeaway: at about {g4(br['mean_ticks'])} flips per coin the {better} rule is ahead "
      f"({g4(br['accuracy']['p'])} budget vs {g4(pr['accuracy']['p'])} price, same coins); "
      + ("the 95% intervals overlap, so the difference is not significant at this size "
         "(no paired test is computed here)." if overlap else
         "the 95% intervals do not overlap (significant)."))
  return "\n".join(lines)


registry.register("coin", "Coin flips under the price and budget rules",
                  render=render, figures=figures,
                  min_n=16)(run)  # one pool of 16 coins for the budget rule
