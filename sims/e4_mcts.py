"""E4: MCTS (UCT) under the Tick API with an adaptive stopping rule.

The specification's E4 (seed 000, sections 4.3, 6.4; Tables 4-5): one tick is
one UCT simulation, the uncertainty is the root Q-gap ratio SE / gap, and the
search stops when ``gap >= z SE`` (price 1 / z), at most 24 simulations.
Decisions are scored by agreement with a near-oracle -- a large fixed budget
on the same rollout model -- and, beyond the specification, with the exact
optimum, which our environments make available by full enumeration.

Environment (chosen a priori, not fitted to the specification's numbers, which
come from an environment the specification does not describe): two-player
incremental random game trees (Kocsis & Szepesvari's P-games, the setting UCT
was introduced on) with branching 4 and depth 4 -- 4 root actions like the
benchmark, 256 leaves, so exact minimax is cheap and the near-oracle's 1024
simulations can expand the whole tree (341 nodes). Edge values U(-1, 1), leaf
value = mean edge value on the path; random-policy rollouts; UCB1 with
c = sqrt(2); the SE's pseudo-variance is the prior variance of one return,
1 / (3 D). Every row uses the same trees and the same rollout keys (paired);
the oracle uses its own, independent rollout keys.
"""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxtick as jt
from sims import registry, report, tuning

BRANCHING = 4
DEPTH = 4
TWO_PLAYER = True
EXPLORATION = math.sqrt(2.0)
FIXED = 24  # the fixed baseline and the adaptive rule's cap
SMALL = 8  # the small fixed budget of Table 5
ORACLE = 1024  # near-oracle budget
# A second setting: the adaptive rule capped at 96 simulations instead of 24, everything
# else equal. The cap of 24 (= the fixed baseline) is our choice, not the specification's.
CAP_ALT = 96
TABLE_Z = (0.9, 1.0, 1.1)
TUNE_TARGETS = (6.0, 8.0, 12.0)  # mean simulations, price-search comparison
SWEEP_Z = tuple(float(z) for z in np.round(np.linspace(0.2, 3.0, 57), 4))

SPEC_TABLE4 = {  # z: (adaptive acc, CI, fixed acc, CI, avg sims, speedup)
    0.9: (0.4167, (0.3543, 0.4790), 0.3000, (0.2421, 0.3580), 9.7000, 2.4742),
    1.0: (0.3500, (0.2897, 0.4103), 0.3000, (0.2421, 0.3580), 10.7667, 2.2291),
    1.1: (0.4500, (0.3870, 0.5130), 0.3000, (0.2421, 0.3580), 11.7667, 2.0397),
}
SPEC_TABLE5 = ((0.3333, 0.3500, 8), (1.0, 0.3667, 24))  # compute, accuracy, sims


def _agent(sims, two_player=TWO_PLAYER):
  env = jt.problems.game_tree_env(BRANCHING, DEPTH, two_player=two_player)
  return jt.agents.mcts(env, sims, exploration=EXPLORATION,
                        prior_var=jt.problems.game_tree_return_var(DEPTH))


def _fixed_trace(agent, problems, keys, sims):
  """Output after every simulation 1..sims (the tree persists): i32[sims, n]."""
  tr = jax.jit(jax.vmap(lambda p, k: jt.soft.trace(agent, p, k, max_ticks=sims)))(
      problems, keys)
  return tr.output[:, 1:].T


def _fixed(agent, problems, keys, sims):
  run = jax.vmap(lambda p, k: agent.output(jt.run_price(
      agent, p, k, 0.0, max_ticks=sims, min_ticks=sims).state))
  return jax.jit(run)(problems, keys)


def run(config: registry.Config) -> dict:
  main = _evaluate(config, TWO_PLAYER)
  if not config.quick:  # --quick: the main family only
    config.progress("second family: the same protocol on single-player trees")
    main["single_player"] = _evaluate(config, not TWO_PLAYER, dense=False)
  return main


def _evaluate(config: registry.Config, two_player: bool, dense: bool = True) -> dict:
  """The whole protocol on one tree family (``dense``: with the dense z sweep)."""
  n = config.size(240, quick=48)
  oracle_sims = 256 if config.quick else ORACLE  # --quick: a smoke test
  sweep_z = SWEEP_Z[::4] if config.quick else SWEEP_Z
  if not dense:
    sweep_z = ()
  key = jax.random.fold_in(jax.random.key(config.seed), 4)
  kp, ke, ko = jax.random.split(jax.random.fold_in(key, int(two_player)), 3)
  problems = jt.problems.game_tree_problems(kp, n)
  keys = jax.random.split(ke, n)
  oracle_keys = jax.random.split(ko, n)

  exact = np.asarray(jax.jit(jax.vmap(lambda p: jt.problems.game_tree_solve(
      p, BRANCHING, DEPTH, two_player=two_player).best_action))(problems))
  config.progress(f"near-oracle: {oracle_sims} simulations x {n} episodes")
  oracle = np.asarray(_fixed(_agent(oracle_sims, two_player), problems, oracle_keys,
                            oracle_sims))
  agent = _agent(FIXED, two_player)
  config.progress(f"fixed budgets 1..{FIXED} (one persistent search per episode)")
  trace = np.asarray(_fixed_trace(agent, problems, keys, FIXED))
  zs = sorted(set(sweep_z) | set(TABLE_Z))
  config.progress(f"adaptive z sweep: {len(zs)} values x {n} episodes in one pass")
  fr = jt.front(agent, problems, keys, jt.price_from_z(np.array(zs)),
                max_ticks=FIXED, episodes=True)
  ticks, outs = np.asarray(fr.ticks), np.asarray(fr.output)

  def score(decisions):
    return {"agreement_oracle": report.proportion(int((decisions == oracle).sum()), n),
            "agreement_exact": report.proportion(int((decisions == exact).sum()), n)}

  fixed_curve = []
  for b in range(1, FIXED + 1):
    fixed_curve.append(dict(sims=b, compute=b / FIXED, **score(trace[b - 1])))
  fixed24 = trace[FIXED - 1]

  def adaptive_row(i, z):
    mean = float(ticks[i].mean())
    same = int(np.clip(round(mean), 1, FIXED))  # fixed budget at equal compute
    row = dict(z=float(z), mean_sims=mean, speedup=FIXED / mean,
               compute=mean / FIXED, min_sims=int(ticks[i].min()),
               max_sims=int(ticks[i].max()),
               capped=int((ticks[i] == FIXED).sum()), **score(outs[i]))
    row["mcnemar_vs_fixed24_oracle"] = report.mcnemar(outs[i] == oracle, fixed24 == oracle)
    row["mcnemar_vs_fixed24_exact"] = report.mcnemar(outs[i] == exact, fixed24 == exact)
    row["fixed_at_equal_compute"] = dict(sims=same, **score(trace[same - 1]))
    row["mcnemar_vs_equal_compute_oracle"] = report.mcnemar(
        outs[i] == oracle, trace[same - 1] == oracle)
    return row

  sweep = [adaptive_row(i, z) for i, z in enumerate(zs)]
  search = None
  if dense:
    config.progress(f"price search at mean sims {TUNE_TARGETS}: tuned, bisection, subgradient")
    search = tuning.compare(agent, problems, keys, jnp.asarray(exact), targets=TUNE_TARGETS,
                            max_ticks=FIXED)
  table4 = [r for r in sweep if any(abs(r["z"] - z) < 1e-9 for z in TABLE_Z)]
  alt = None
  if dense:
    config.progress(f"adaptive rule capped at {CAP_ALT} simulations (Table 4's z values)")
    agent_alt = _agent(CAP_ALT, two_player)
    fr_alt = jt.front(agent_alt, problems, keys, jt.price_from_z(np.array(TABLE_Z)),
                      max_ticks=CAP_ALT, episodes=True)
    t_alt, o_alt = np.asarray(fr_alt.ticks), np.asarray(fr_alt.output)
    alt = []
    for i, z in enumerate(TABLE_Z):
      mean = float(t_alt[i].mean())
      alt.append(dict(
          z=z, cap=CAP_ALT, mean_sims=mean, speedup_vs_fixed24=FIXED / mean,
          capped=int((t_alt[i] == CAP_ALT).sum()), beyond_24=int((t_alt[i] > FIXED).sum()),
          **score(o_alt[i]),
          mcnemar_vs_fixed24_oracle=report.mcnemar(o_alt[i] == oracle, fixed24 == oracle),
          mcnemar_vs_fixed24_exact=report.mcnemar(o_alt[i] == exact, fixed24 == exact)))
  return {
      "episodes": n,
      "environment": {
          "family": "incremental random game tree (P-game), minimax" if two_player
                    else "incremental random game tree, single-player max",
          "branching": BRANCHING, "depth": DEPTH, "two_player": two_player,
          "leaf_value": "mean of U(-1,1) edge values on the path",
          "rollout": "uniformly random actions to a leaf",
          "exploration_c": EXPLORATION,
          "prior_var": jt.problems.game_tree_return_var(DEPTH)},
      "budgets": {"fixed": FIXED, "small": SMALL, "oracle": oracle_sims, "adaptive_cap": FIXED},
      "oracle_vs_exact": report.proportion(int((oracle == exact).sum()), n),
      "chance_agreement": 1.0 / BRANCHING,
      "table4": table4,
      "table5": [fixed_curve[SMALL - 1], fixed_curve[FIXED - 1]],
      "fixed_curve": fixed_curve,
      "sweep": sweep,
      **({"table4_cap_alt": alt} if alt is not None else {}),
      **({"price_search": search} if search else {}),
  }


def _ci(d):
  lo, hi = d["ci_normal"]
  return f"[{lo:.4f}, {hi:.4f}]"


def render(m: dict) -> str:
  g4 = report.g4
  mc = report.format_mcnemar
  env, b = m["environment"], m["budgets"]
  n = m["episodes"]
  lines = [
      f"environment: {env['family']}, branching {env['branching']}, depth "
      f"{env['depth']}; {env['leaf_value']}; rollout: {env['rollout']}; "
      f"UCB1 c={g4(env['exploration_c'])}; SE pseudo-variance {g4(env['prior_var'])}",
      f"episodes per row: {n} (same trees and rollout keys in every row); adaptive "
      f"cap {b['adaptive_cap']} sims; near-oracle {b['oracle']} sims (independent keys); "
      f"chance agreement {g4(m['chance_agreement'])}",
      f"near-oracle vs exact optimum: {report.format_proportion(m['oracle_vs_exact'])}",
      "",
      "Table 4 (ours | specification). Agreement with the near-oracle, normal 95% CI;",
      "fixed = 24 simulations on the same episodes; speedup = 24 / adaptive avg sims.",
      f"{'z':>4}  {'adaptive':>8} {'CI':>18}  {'fixed':>7} {'CI':>18}  {'avg sims':>8} "
      f"{'speedup':>7} || spec: {'adaptive':>8} {'CI':>18} {'fixed':>7} {'avg sims':>8} {'speedup':>7}",
  ]
  f24 = m["table5"][1]
  for r in m["table4"]:
    s = SPEC_TABLE4.get(round(r["z"], 4))
    a = r["agreement_oracle"]
    spec = (f"{s[0]:8.4f} [{s[1][0]:.4f}, {s[1][1]:.4f}] {s[2]:7.4f} {s[4]:8.4f} {s[5]:7.4f}"
            if s else "")
    lines.append(
        f"{r['z']:4.1f}  {a['p']:8.4f} {_ci(a):>18}  {f24['agreement_oracle']['p']:7.4f} "
        f"{_ci(f24['agreement_oracle']):>18}  {r['mean_sims']:8.4f} {r['speedup']:7.4f} || "
        f"spec: {spec}")
  lines.append("Table 4 in detail (agreement with the near-oracle and with the exact optimum):")
  for r in m["table4"]:
    lines += [
        f"  z={g4(r['z'])}: avg sims {g4(r['mean_sims'])} (min {r['min_sims']}, max "
        f"{r['max_sims']}, {r['capped']} of {n} hit the cap), speedup {g4(r['speedup'])}",
        f"    adaptive vs oracle: {report.format_proportion(r['agreement_oracle'])}",
        f"    adaptive vs exact:  {report.format_proportion(r['agreement_exact'])}",
        f"    vs fixed-24, oracle agreement: {mc(r['mcnemar_vs_fixed24_oracle'], 'adaptive', 'fixed-24')}",
        f"    vs fixed-24, exact agreement:  {mc(r['mcnemar_vs_fixed24_exact'], 'adaptive', 'fixed-24')}",
        f"    fixed {r['fixed_at_equal_compute']['sims']} sims (equal compute): oracle "
        f"{report.format_proportion(r['fixed_at_equal_compute']['agreement_oracle'])}; exact "
        f"{report.format_proportion(r['fixed_at_equal_compute']['agreement_exact'])}",
        f"    vs fixed {r['fixed_at_equal_compute']['sims']} sims, oracle agreement: "
        f"{mc(r['mcnemar_vs_equal_compute_oracle'], 'adaptive', 'fixed')}"]
  alt = m.get("table4_cap_alt")
  if alt:
    lines += ["", f"Table 4 with the adaptive cap at {alt[0]['cap']} simulations instead of 24 "
              "(same trees, rollout keys and rule; fixed-24 unchanged):"]
    for r in alt:
      lines += [
          f"  z={g4(r['z'])}: avg sims {g4(r['mean_sims'])} ({r['beyond_24']} of {n} go "
          f"beyond 24, {r['capped']} hit {r['cap']}), compute vs fixed-24 "
          f"{g4(1 / r['speedup_vs_fixed24'])}x",
          f"    vs oracle: {report.format_proportion(r['agreement_oracle'])}; fixed-24 "
          f"{g4(f24['agreement_oracle']['p'])}; "
          f"{mc(r['mcnemar_vs_fixed24_oracle'], 'adaptive', 'fixed-24')}",
          f"    vs exact:  {report.format_proportion(r['agreement_exact'])}; fixed-24 "
          f"{g4(f24['agreement_exact']['p'])}; "
          f"{mc(r['mcnemar_vs_fixed24_exact'], 'adaptive', 'fixed-24')}"]
  lines += ["", "Table 5, fixed-budget Pareto (ours | specification):",
            f"{'compute':>8} {'agree oracle':>12} {'agree exact':>12} {'sims':>5} || spec: "
            f"{'compute':>8} {'accuracy':>8} {'sims':>5}"]
  for r, s in zip(m["table5"], SPEC_TABLE5):
    lines.append(f"{r['compute']:8.4f} {r['agreement_oracle']['p']:12.4f} "
                 f"{r['agreement_exact']['p']:12.4f} {r['sims']:5d} || spec: "
                 f"{s[0]:8.4f} {s[1]:8.4f} {s[2]:5d}")
  for r in m["table5"]:
    lines += [f"  fixed {r['sims']} sims vs oracle: {report.format_proportion(r['agreement_oracle'])}",
              f"  fixed {r['sims']} sims vs exact:  {report.format_proportion(r['agreement_exact'])}"]
  lines.append("Fixed budgets 1..24 (sims, agreement oracle, agreement exact), summarised; "
               "all 24 in results.json (experiments.e4.fixed_curve) and e4_pareto.png:")
  for r in report.summarise(m["fixed_curve"]):
    lines.append(f"  {r['sims']:2d} {g4(r['agreement_oracle']['p'])} {g4(r['agreement_exact']['p'])}")
  lines.append(f"Dense z sweep, one pass ({len(m['sweep'])} values; z, avg sims, speedup, "
               "agreement oracle, agreement exact), summarised; every point in results.json "
               "(experiments.e4.sweep) and the figures:")
  for r in report.summarise(m["sweep"]):
    lines.append(f"  z={g4(r['z'])} avg_sims={g4(r['mean_sims'])} speedup={g4(r['speedup'])} "
                 f"oracle={g4(r['agreement_oracle']['p'])} exact={g4(r['agreement_exact']['p'])}")
  if "price_search" in m:
    lines += ["", "Accuracy below: agreement with the exact optimum."] + tuning.render(m["price_search"])
  lines += ["", _discussion(m)]
  sp = m.get("single_player")
  if sp:
    lines += ["", f"Second family, same protocol (no counterpart in the specification): "
              f"{sp['environment']['family']}, branching {sp['environment']['branching']}, "
              f"depth {sp['environment']['depth']}, {sp['episodes']} episodes.",
              f"  near-oracle ({sp['budgets']['oracle']} sims) vs exact: "
              f"{report.format_proportion(sp['oracle_vs_exact'])}"]
    for r in sp["table4"]:
      lines += [f"  z={g4(r['z'])}: avg sims {g4(r['mean_sims'])}, speedup {g4(r['speedup'])}",
                f"    vs oracle: {report.format_proportion(r['agreement_oracle'])}",
                f"    vs exact:  {report.format_proportion(r['agreement_exact'])}",
                f"    vs fixed-24, oracle agreement: {mc(r['mcnemar_vs_fixed24_oracle'], 'adaptive', 'fixed-24')}"]
    for r in sp["table5"]:
      lines += [f"  fixed {r['sims']} sims vs oracle: {report.format_proportion(r['agreement_oracle'])}",
                f"  fixed {r['sims']} sims vs exact:  {report.format_proportion(r['agreement_exact'])}"]
  lines.append(_takeaway(m))
  return "\n".join(lines)


def _takeaway(m: dict) -> str:
  g4 = report.g4
  t4, f24 = m["table4"], m["table5"][1]
  r = min(t4, key=lambda r: abs(r["z"] - 1.0))
  txt = (f"Takeaway: at z = {g4(r['z'])} the adaptive rule (cap 24) uses {g4(r['mean_sims'])} "
         f"simulations on average and agrees with the exact optimum in "
         f"{g4(r['agreement_exact']['p'])} of episodes vs {g4(f24['agreement_exact']['p'])} for "
         f"fixed-24 ({report.significance(r['mcnemar_vs_fixed24_exact']['p'])})")
  alt = [a for a in m.get("table4_cap_alt", []) if abs(a["z"] - r["z"]) < 1e-9]
  if alt:
    a = alt[0]
    txt += (f"; with cap {a['cap']}: {g4(a['mean_sims'])} simulations, "
            f"{g4(a['agreement_exact']['p'])} "
            f"({report.significance(a['mcnemar_vs_fixed24_exact']['p'])})")
  return txt + "."


def _discussion(m: dict) -> str:
  t4, f24 = m["table4"], m["table5"][1]
  lo_s, hi_s = min(r["speedup"] for r in t4), max(r["speedup"] for r in t4)
  worse = [r for r in t4 if r["agreement_oracle"]["p"] < f24["agreement_oracle"]["p"]]
  sig = [r for r in t4 if r["mcnemar_vs_fixed24_oracle"]["p"] < 0.05]
  txt = [
      "Reading the comparison. The specification does not define its E4 environment "
      "(actions, depth, value model), so its absolute agreement levels cannot be "
      "reproduced and we did not try; our environment was fixed beforehand (module "
      "docstring). What carries over is the protocol: the same z values, N, cap, "
      "near-oracle and fixed 8/24 baselines. Two parts of our rule are our choices, not "
      "the specification's: the signal SE/gap between the two best root actions (it says "
      "'inverse gap' and a threshold z) and the adaptive cap of 24 simulations (equal to "
      "the fixed baseline; it states no cap).",
      f"Speedups at z in {{0.9, 1.0, 1.1}}: {report.g4(lo_s)} to {report.g4(hi_s)} "
      f"(specification: 2.0397 to 2.4742).",
  ]
  if worse:
    txt.append(
        f"Unlike the specification, which reports the adaptive rule above the fixed-24 "
        f"baseline, here the adaptive rule agrees with the near-oracle less often than "
        f"fixed-24 at {len(worse)} of {len(t4)} z values ({len(sig)} of them significant "
        f"by exact McNemar at 0.05): each adaptive search is a prefix of the same "
        f"episode's 24-simulation search, so stopping early trades agreement for compute; "
        f"the Pareto figure compares it with fixed budgets at equal compute.")
  else:
    txt.append(f"The adaptive rule is at or above fixed-24 at every tabulated z "
               f"({len(sig)} significant by exact McNemar at 0.05).")
  alt = m.get("table4_cap_alt")
  if alt:
    g4 = report.g4
    at_least = [a for a in alt
                if a["agreement_exact"]["p"] >= f24["agreement_exact"]["p"]]
    txt.append(
        f"That conclusion depends on the cap. A search stopped at 24 can only be a prefix "
        f"of fixed-24; with the cap at {alt[0]['cap']} (everything else equal) the episodes "
        f"whose root gap is still unclear keep searching, and the adaptive rule's agreement "
        f"with the exact optimum is " + ", ".join(
            f"{g4(a['agreement_exact']['p'])} at z = {g4(a['z'])}" for a in alt) +
        f" vs {g4(f24['agreement_exact']['p'])} for fixed-24 (at or above it at "
        f"{len(at_least)} of {len(alt)} z values; McNemar p = " + ", ".join(
            g4(a["mcnemar_vs_fixed24_exact"]["p"]) for a in alt) +
        f"), at " + ", ".join(g4(a["mean_sims"]) for a in alt) + " simulations on average "
        "(so the speedups shrink too).")
  ahead = [r for r in t4 if r["agreement_oracle"]["p"]
           > r["fixed_at_equal_compute"]["agreement_oracle"]["p"]]
  sig_eq = [r for r in ahead if r["mcnemar_vs_equal_compute_oracle"]["p"] < 0.05]
  txt.append(
      f"At equal compute (the fixed budget nearest the adaptive mean) the adaptive rule "
      f"agrees with the near-oracle more often at {len(ahead)} of {len(t4)} tabulated z "
      f"({len(sig_eq)} significant by exact McNemar at 0.05)"
      + (": where that holds, spending simulations on episodes whose root gap is still "
         "unclear beats spreading them evenly." if ahead else "."))
  txt.append(
      f"The near-oracle ({m['budgets']['oracle']} sims) agrees with the exact optimum in "
      f"{report.g4(m['oracle_vs_exact']['p'])} of episodes, so agreement with it is an imperfect "
      f"proxy, as the specification's section 8 warns; the exact-optimum columns are the "
      f"validation it asks for.")
  return "\n".join(txt)


def figures(metrics: dict, out: Path) -> list:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  s = metrics["sweep"]
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot([r["z"] for r in s], [r["speedup"] for r in s], ".-", label="ours (dense sweep)")
  t4 = metrics["table4"]
  ax.plot([r["z"] for r in t4], [r["speedup"] for r in t4], "o", label="ours (Table 4 z)")
  ax.plot(list(SPEC_TABLE4), [v[5] for v in SPEC_TABLE4.values()], "x",
          label="specification Table 4")
  ax.set_xlabel("z (stop when gap >= z SE)")
  ax.set_ylabel("speedup vs 24 simulations")
  ax.set_title("E4 (MCTS): speedup vs z")
  ax.legend()
  paths = [report.save_figure(fig, Path(out) / "e4_speedup.png")]

  fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
  fc = metrics["fixed_curve"]
  for ax, (key, name) in zip(axes, (("agreement_oracle", "near-oracle"),
                                    ("agreement_exact", "exact optimum"))):
    report.plot_proportions(ax, [r["compute"] for r in fc], [r[key] for r in fc],
                            label="fixed budgets 1..24")
    report.plot_proportions(ax, [r["compute"] for r in s], [r[key] for r in s],
                            label="adaptive z sweep", index=1)
    if key == "agreement_oracle":   # Table 5 reports agreement with its oracle
      ax.plot([c for c, _, _ in SPEC_TABLE5], [a for _, a, _ in SPEC_TABLE5], "kx",
              label="specification Table 5")
    ax.set_xlabel("compute (mean simulations / 24)")
    ax.set_title(f"E4 (MCTS): agreement with the {name}", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
  axes[0].set_ylabel("agreement (95% Wilson bands)")
  paths.append(report.save_figure(fig, Path(out) / "e4_pareto.png"))
  if "price_search" in metrics:
    paths.append(tuning.figure(metrics["price_search"], Path(out) / "e4_price_search.png",
                               "E4 MCTS"))
  return paths


registry.register("e4", "E4: MCTS (UCT) with an adaptive Q-gap stopping rule",
                  render=render, figures=figures)(run)
