"""bandit: allocating repeated LLM samples across a pool of queries (seed 002).

A synthetic MATH-500-like pool (jaxtick.problems.query_pool, default
mixture: an assumption, not fitted to a model's log) is served by uniform
allocation and the four exploration rules of jaxtick.alloc.bandit, every
configuration on the same responses (the key contract). Reported: coverage
and best-of-N accuracy over a dense sweep of average budgets per query (every
budget read off one run per rule: the round-based rule's budget sweep) for the ground-truth oracle and the noisy PRM
oracle at corruption 0, 5, 10, 15%; the efficiency ratio at uniform budgets 8,
16, 32; samples per difficulty level at budget 32; K and gamma sweeps; Entropy
vs Elimination on a hard subset mixing solvable and unsolvable queries; the
budget to cover every solvable query against Theorem 1's sums; token costs;
and a pool replayed from the shipped example log.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

import jaxtick as jt
from jaxtick.alloc import bandit
from jaxtick.problems import logs, pools
from sims import registry, report

RULES = bandit.RULES
AVG_BUDGETS = (2, 4, 6, 8, 12, 16, 24, 32, 48)
CORRUPTIONS = (0.0, 0.05, 0.10, 0.15)
PRM_GAMMA = 0.97
MATCH_AT = (8, 16, 32)


def _prop(mask):
  m = np.asarray(mask)
  return report.proportion(int(m.sum()), m.size)


def _oracles():
  out = [("ground_truth", pools.GROUND_TRUTH, 1.0)]
  out += [(f"prm_{int(round(c * 100))}pct", pools.prm_oracle(c), PRM_GAMMA) for c in CORRUPTIONS]
  return out


def _needed(budgets, cov, target):
  """Smallest average budget reaching ``target`` coverage (linear interpolation)."""
  for i, c in enumerate(cov):
    if c >= target:
      if i == 0:
        return float(budgets[0])
      b0, b1, c0 = budgets[i - 1], budgets[i], cov[i - 1]
      return float(b0 + (b1 - b0) * (target - c0) / (c - c0))
  return None


def _sweep(pool, q, oracle, gamma, rules=RULES, k=1):
  budgets = np.asarray(AVG_BUDGETS) * q
  return {r: bandit.allocate(pool, budgets, rule=r, k=k, gamma=gamma, oracle=oracle)
          for r in rules}


def run(config: registry.Config) -> dict:
  q = config.size(2000, quick=500)
  key = jax.random.key(config.seed)
  k_pool, k_hard, k_thm = jax.random.split(key, 3)
  pool = pools.query_pool(k_pool, q)
  level = np.asarray(pool.level)
  p = np.asarray(pool.p, np.float64)
  out = {"queries": q, "avg_budgets": list(AVG_BUDGETS), "prm_gamma": PRM_GAMMA,
         "mixture": pools.PoolMixture()._asdict(),
         "pool": {"solvable": _prop(p > 0), "mean_p": float(p.mean()),
                  "per_level_queries": np.bincount(level, minlength=5).tolist()}}

  # 1. coverage / accuracy vs budget, all rules, all oracles; efficiency.
  oracles = _oracles() if not config.quick else _oracles()[:1]
  curves, eff, per_level, runs = {}, {}, {}, {}
  for name, oracle, gamma in oracles:
    config.progress(f"budget sweep, oracle {name}")
    # the ranked rules (a sort per round) on two oracles; corruption levels
    # run uniform and elimination only, to keep the experiment fast.
    rules = RULES if name in ("ground_truth", "prm_0pct") else ("uniform", "elimination")
    res = runs[name] = _sweep(pool, q, oracle, gamma, rules=rules)
    curves[name] = {r: {"coverage": [_prop(c) for c in np.asarray(v.covered)],
                        "accuracy": [_prop(c) for c in np.asarray(v.best_correct)],
                        "majority": [_prop(c) for c in np.asarray(v.majority_correct)],
                        "spent_per_query": (np.asarray(v.spent) / q).tolist()}
                    for r, v in res.items()}
    e = {}
    for metric in ("coverage", "accuracy"):
      uni = [d["p"] for d in curves[name]["uniform"][metric]]
      for n in MATCH_AT:
        target = uni[AVG_BUDGETS.index(n)]
        row = {"uniform_budget": n, "target": target}
        for r in [x for x in RULES[1:] if x in curves[name]]:
          need = _needed(AVG_BUDGETS, [d["p"] for d in curves[name][r][metric]], target)
          row[r] = {"budget": need, "ratio": None if need is None else n / need,
                    "gain_at_same_budget": curves[name][r][metric][AVG_BUDGETS.index(n)]["p"]
                    - target}
        e[f"{metric}@{n}"] = row
    eff[name] = e
    i32 = AVG_BUDGETS.index(32)
    per_level[name] = {r: {f"level_{lv + 1}": {
        "mean_samples": float(np.asarray(v.samples)[i32][level == lv].mean()),
        "coverage": _prop(np.asarray(v.covered)[i32][level == lv])}
        for lv in range(5)} for r, v in res.items()}
  out.update(curves=curves, efficiency=eff, per_level_at_32=per_level)
  i16 = AVG_BUDGETS.index(16)

  # 2. K and gamma at average budget 16 (PRM oracle, no corruption); uniform
  # and elimination (the gaps the specification says persist across settings).
  if not config.quick:
    config.progress("K and gamma sweeps")
    prm = pools.prm_oracle(0.0)
    sweep_k = {"K=1": {r: {"coverage": curves["prm_0pct"][r]["coverage"][i16],
                           "accuracy": curves["prm_0pct"][r]["accuracy"][i16]}
                       for r in ("uniform", "elimination")}}
    for kk in (2, 4, 8):
      row = {}
      for r in ("uniform", "elimination"):
        v = bandit.allocate(pool, 16 * q, rule=r, k=kk, gamma=PRM_GAMMA, oracle=prm)
        row[r] = {"coverage": _prop(v.covered), "accuracy": _prop(v.best_correct)}
      sweep_k[f"K={kk}"] = row
    sweep_g = {}
    for g in (0.97, 0.98, 0.99, 1.0):
      res = _sweep(pool, q, prm, g, rules=("uniform", "elimination"))
      sweep_g[f"gamma={g}"] = {r: {
          "coverage": _prop(np.asarray(v.covered)[i16]),
          "accuracy": _prop(np.asarray(v.best_correct)[i16]),
          "eliminated": _prop(np.asarray(v.eliminated)[i16])} for r, v in res.items()}
    out.update(k_sweep=sweep_k, gamma_sweep=sweep_g)

  # 3. Entropy vs Elimination on a hard subset (levels 4-5, solvable + unsolvable).
  config.progress("hard subset: entropy vs elimination")
  hard_mix = pools.PoolMixture(weights=(0, 0, 0, 1, 1), unsolvable=(0, 0, 0, 0.3, 0.5))
  hard = pools.query_pool(k_hard, q, hard_mix)
  hs = np.asarray(hard.solvable)
  hard_out = {"solvable": _prop(hs)}
  for name, oracle, gamma in oracles[:2]:
    res = _sweep(hard, q, oracle, gamma, rules=("uniform", "elimination", "entropy"))
    hard_out[name] = {r: {f"B={b}": {
        "coverage": _prop(np.asarray(v.covered)[i]),
        "share_of_samples_on_unsolvable": float(np.asarray(v.samples)[i][~hs].sum()
                                                / max(np.asarray(v.samples)[i].sum(), 1))}
        for i, b in enumerate(AVG_BUDGETS) if b in (8, 16, 32)} for r, v in res.items()}
  out["hard_subset"] = hard_out

  # 4. Theorem 1: budget to cover every solvable query as Q grows. With an
  # unlimited budget a query's samples under elimination do not depend on the
  # other queries, so the first Q queries of one run give every Q.
  if config.quick:
    out["theorem1"] = []
    return _replay(out)
  config.progress("Theorem 1 scaling")
  thm_mix = pools.PoolMixture(weights=(1.0,), mean=(0.3,), unsolvable=(0.0,),
                              concentration=20.0)
  big = 4 * q
  tp = pools.query_pool(k_thm, big, thm_mix)
  el = bandit.allocate(tp, 2 ** 31 - 2, rule="elimination")
  t_all, p_all = np.asarray(el.samples), np.asarray(tp.p, np.float64)
  thm = []
  for qq in (big // 16, big // 4, big):
    t, pp = t_all[:qq], p_all[:qq]
    thm.append({"Q": qq, "elimination_budget": int(t.sum()),
                "sum_inv_p": float((1 / pp).sum()),
                "uniform_budget": int(qq * t.max()),
                "Q_over_min_p": float(qq / pp.min()),
                "Q_log_Q_over_min_p": float(qq * np.log(qq) / pp.min()),
                "ratio_uniform_over_elimination": float(qq * t.max() / t.sum())})
  out["theorem1"] = thm

  # 5. Token costs (Open Question 3): same pool, budget in tokens.
  if not config.quick:
    config.progress("token costs")
    mean_tok = float(np.asarray(pools.sample_responses(pool, 4).tokens).mean())
    tok = {"mean_tokens_per_response": mean_tok}
    ns = (8, 16, 32)
    for r in ("uniform", "elimination"):
      v = bandit.allocate(pool, np.array([int(n * q * mean_tok) for n in ns]), rule=r,
                          cost="tokens")
      for i, n in enumerate(ns):
        g = runs["ground_truth"][r]
        tok.setdefault(f"budget={n}x", {}).update({
            f"{r}_samples": {"coverage": _prop(np.asarray(g.covered)[AVG_BUDGETS.index(n)]),
                             "samples_per_query": float(np.asarray(g.samples)[
                                 AVG_BUDGETS.index(n)].mean()), "tokens_spent": None},
            f"{r}_tokens": {"coverage": _prop(np.asarray(v.covered)[i]),
                            "samples_per_query": float(np.asarray(v.samples)[i].mean()),
                            "tokens_spent": float(np.asarray(v.spent)[i])}})
    out["token_costs"] = tok

  return _replay(out)


def _replay(out: dict) -> dict:
  """6. Replay of the shipped example log."""
  log = logs.example_log()
  rp = logs.replay_pool(log)
  nq = log.count.shape[0]
  rep = {"queries": nq, "samples_logged": int(log.count.sum()),
         "oracle": "logged PRM rewards", "gamma": PRM_GAMMA}
  budgets = np.array([2, 4, 8, 16]) * nq
  for r in RULES:
    v = bandit.allocate(rp, budgets, rule=r, gamma=PRM_GAMMA)
    rep[r] = {f"B={b // nq}": {"coverage": _prop(np.asarray(v.covered)[i]),
                               "accuracy": _prop(np.asarray(v.best_correct)[i])}
              for i, b in enumerate(budgets)}
  out["replay_example_log"] = rep
  return out


def _fmt(d):
  return report.format_proportion(d)


def render(m: dict) -> str:
  lines = [f"queries {m['queries']}; solvable {_fmt(m['pool']['solvable'])}; "
           f"mean p {report.g4(m['pool']['mean_p'])}; per level {m['pool']['per_level_queries']}"]
  lines.append("coverage vs average budget per query (p only; counts and intervals in results.json):")
  for name, c in m["curves"].items():
    lines.append(f"  oracle {name}:")
    for r, v in c.items():
      lines.append(f"    {r:<12} " + " ".join(f"{b}:{d['p']:.4f}" for b, d in
                                                zip(m["avg_budgets"], v["coverage"])))
  lines.append("efficiency (uniform budget / budget the rule needs for the same coverage or accuracy):")
  for name, e in m["efficiency"].items():
    for key, row in e.items():
      cells = []
      for r in [x for x in RULES[1:] if x in row]:
        x = row[r]
        ratio = "n/a" if x["ratio"] is None else f"{x['ratio']:.3f}x"
        cells.append(f"{r} {ratio} ({100 * x['gain_at_same_budget']:+.2f} pts)")
      lines.append(f"  {name} {key} target {row['target']:.4f}: " + "; ".join(cells))
  for name in list(m["curves"])[:2]:
    lines.append(f"samples per query by level at budget 32 ({name}):")
    for r, v in m["per_level_at_32"][name].items():
      lines.append(f"    {r:<12} " + " ".join(
          f"L{i + 1}:{v[f'level_{i + 1}']['mean_samples']:.2f}" for i in range(5)))
  if "k_sweep" not in m:
    lines.append("(quick run: ground truth only; no K/gamma sweeps, Theorem 1 or token costs)")
  else:
    lines.append("K sweep (budget 16, PRM, gamma 0.97):")
    for kk, row in m.get("k_sweep", {}).items():
      lines.append(f"  {kk}: " + "; ".join(f"{r} coverage {_fmt(v['coverage'])}" for r, v in row.items()))
    lines.append("gamma sweep (budget 16, PRM; coverage):")
    for g, row in m.get("gamma_sweep", {}).items():
      lines.append(f"  {g}: " + " ".join(f"{r}:{v['coverage']['p']:.4f}" for r, v in row.items()))
  lines.append(f"hard subset (levels 4-5; solvable {_fmt(m['hard_subset']['solvable'])}):")
  for name in [n for n in ("ground_truth", "prm_0pct") if n in m["hard_subset"]]:
    for r, v in m["hard_subset"][name].items():
      lines.append(f"  {name} {r:<12} " + "; ".join(
          f"{b} coverage {_fmt(x['coverage'])} unsolvable share "
          f"{x['share_of_samples_on_unsolvable']:.3f}" for b, x in v.items()))
  if "k_sweep" in m:
    lines.append("Theorem 1 (cover every solvable query; ground truth, K=1):")
    for t in m["theorem1"]:
      lines.append(f"  Q={t['Q']}: elimination {t['elimination_budget']} (sum 1/p "
                   f"{t['sum_inv_p']:.1f}); uniform {t['uniform_budget']} (Q/min p "
                   f"{t['Q_over_min_p']:.1f}, Q log Q/min p {t['Q_log_Q_over_min_p']:.1f}); "
                   f"ratio {t['ratio_uniform_over_elimination']:.3f}")
    tc = m["token_costs"]
    lines.append(f"token costs (mean {tc['mean_tokens_per_response']:.1f} tokens/response):")
    for b, row in tc.items():
      if b.startswith("budget"):
        lines.append(f"  {b}: " + "; ".join(f"{k} {v['coverage']['p']:.4f}" for k, v in row.items()))
  lines.append(_takeaway(m))  # closes the main pool's section, before the replay's
  rp = m["replay_example_log"]
  lines.append(f"replay of the example log ({rp['queries']} queries, {rp['samples_logged']} samples):")
  for r in RULES:
    lines.append(f"  {r:<12} " + "; ".join(f"{b} cov {_fmt(v['coverage'])}" for b, v in rp[r].items()))
  return "\n".join(lines)


def _takeaway(m: dict) -> str:
  """One line: the best rule against uniform at the smallest table budget, ground truth."""
  budgets = list(m["avg_budgets"])
  b = min(x for x in budgets if x >= 8) if any(x >= 8 for x in budgets) else budgets[0]
  i = budgets.index(b)
  curves = m["curves"]["ground_truth"]
  uni = curves["uniform"]["coverage"][i]
  best = max((r for r in curves if r != "uniform"), key=lambda r: curves[r]["coverage"][i]["p"])
  cov = curves[best]["coverage"][i]
  return (f"Takeaway (main pool): with the ground-truth oracle at {b} samples per query, {best} covers "
          f"{cov['successes']}/{cov['n']} queries against uniform's {uni['successes']}/{uni['n']} "
          f"({report.g4(100 * (cov['p'] - uni['p']))} points; Wilson intervals "
          f"{report.format_interval(cov['ci_wilson'])} vs {report.format_interval(uni['ci_wilson'])}). "
          "Specification (Strategic Scaling of Test-Time Compute: A Bandit Learning Approach): "
          "1.82-3.93x efficiency, up to +11.10 points on MATH-500.")


def figures(m: dict, out: Path) -> list:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  paths = []
  names = list(m["curves"])[:2]
  fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
  for ax, name in zip(axes[0], names):
    curves = m["curves"][name]
    jt.plot.coverage(m["avg_budgets"],
                     {r: [d["successes"] for d in v["coverage"]] for r, v in curves.items()},
                     [d["n"] for d in next(iter(curves.values()))["coverage"]], ax=ax)
    ax.set_xlabel("average budget per query")
    ax.set_title(f"bandit: coverage ({name})")
    ax.legend(fontsize=7)
  paths.append(report.save_figure(fig, Path(out) / "bandit_coverage.png"))
  fig, ax = plt.subplots(figsize=(5, 3.5))
  lv = np.arange(5)
  pl = m["per_level_at_32"][names[-1]]
  for i, r in enumerate(RULES):
    ax.bar(lv + 0.16 * (i - 2), [pl[r][f"level_{j + 1}"]["mean_samples"] for j in lv],
           width=0.16, label=r)
  ax.set_xticks(lv, [f"L{j + 1}" for j in lv])
  ax.set_ylabel("samples per query")
  ax.set_title(f"samples by difficulty at budget 32 ({names[-1]})")
  ax.legend(fontsize=7)
  paths.append(report.save_figure(fig, Path(out) / "bandit_per_level.png"))
  t = m["theorem1"]
  if not t:   # quick runs skip Theorem 1
    return paths
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot([x["Q"] for x in t], [x["elimination_budget"] for x in t], "o-", label="elimination")
  ax.plot([x["Q"] for x in t], [x["sum_inv_p"] for x in t], "--", label="sum 1/p")
  ax.plot([x["Q"] for x in t], [x["uniform_budget"] for x in t], "s-", label="uniform")
  ax.plot([x["Q"] for x in t], [x["Q_over_min_p"] for x in t], ":", label="Q / min p")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xticks([x["Q"] for x in t], [str(x["Q"]) for x in t])
  ax.minorticks_off()
  ax.set_xlabel("queries Q")
  ax.set_ylabel("budget to cover all")
  ax.legend(fontsize=7)
  paths.append(report.save_figure(fig, Path(out) / "bandit_theorem1.png"))
  return paths


registry.register("bandit", "LLM query pools: bandit allocation of repeated samples (seed 002)",
                  render=render, figures=figures, min_n=16)(run)
