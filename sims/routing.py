"""routing: latency- and token-aware utility routing with an accuracy probe (seed 001).

A pool of queries (:mod:`jaxtick.problems.pools`), 13 strategies (best-of-N
and majority vote for N = 1..32, two beam searches), a noisy PRM; for every
query and strategy the exact success probability ``a_s(x)``, expected tokens
``T_s(x)`` and latency ``L_s(x)`` (:mod:`jaxtick.alloc.strategies`). Splits:
50% train (probe and average costs), 20% calibration (Platt), 30% test.

* Probe: MLP 200-200-1 on [query features, strategy features], soft labels
  (8 runs per query and strategy), binary cross-entropy; ECE and Brier on the
  test split before/after Platt, against one run's outcome per query and
  strategy and against the exact ``a_s(x)``, with bootstrap intervals.
* Router: ``argmax_s a_s - lam_T T_s - lam_L L_s`` over a 32 x 32 grid, in
  four variants: probe + average costs (the specification's router), probe +
  oracle (per-query) costs, oracle accuracies + average costs, oracle
  accuracies + oracle costs. Scored on the true tables of the test split.
* Against every static strategy at matched tokens (lam_L = 0) and matched
  latency (lam_T = 0): the router's front, linearly interpolated between
  neighbouring grid points (a mixture of two routers spends any cost between
  theirs), minus the static accuracy, with a paired normal interval.
* Two budgets at once (probe + average costs, test split): a token budget and
  a latency budget (``BUDGET_FRACTION`` of the prices-0 router's mean tokens
  and latency); the most accurate grid cell within both, beside
  ``(lam_T, lam_L)`` tuned by gradient to spend both
  (:func:`jaxtick.alloc.router.tune_router`) and the hard router's figures
  there.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick import agents
from jaxtick.alloc import probe as pb
from jaxtick.alloc import router as rt
from jaxtick.alloc import strategies as st
from jaxtick.alloc import utility as ut
from jaxtick.problems import logs, pools
from sims import registry, report

ORACLE = pools.prm_oracle(0.1)
COST_MODEL = st.CostModel(tokens_per_s=60.0, call_s=0.5, prm_s=1.5)
LAM_T = np.concatenate([[0.0], np.geomspace(1e-7, 1e-3, 31)]).astype(np.float32)
LAM_L = np.concatenate([[0.0], np.geomspace(1e-5, 1e-1, 31)]).astype(np.float32)
REPS = 8
# The budgets: these fractions of the mean tokens and mean latency of the router at
# prices 0 (the most accurate routing).
BUDGET_FRACTION = (1 / 3, 3 / 4)
STEP_MISS = 0.02  # a hard-router miss above this is said to be the step function's


def _split(key, q):
  perm = np.asarray(jax.random.permutation(key, q))
  a, b = int(0.5 * q), int(0.7 * q)
  return perm[:a], perm[a:b], perm[b:]


def _calib(key, pred, outcome, acc) -> dict:
  r_out = pb.calibration_report(key, pred, outcome, num_boot=200)
  r_acc = pb.calibration_report(key, pred, acc, num_boot=200)
  f = lambda r: {"ece": float(r.ece), "ece_ci": np.asarray(r.ece_ci).tolist(),
                 "brier": float(r.brier), "brier_ci": np.asarray(r.brier_ci).tolist()}
  return {"vs_one_run": f(r_out), "vs_exact_accuracy": f(r_acc)}


def _reliability(pred, acc, bins=10):
  p, a = np.asarray(pred).ravel(), np.asarray(acc).ravel()
  b = np.minimum((p * bins).astype(int), bins - 1)
  return [[float(p[b == k].mean()), float(a[b == k].mean()), int((b == k).sum())]
          for k in range(bins) if (b == k).any()]


def _matched(cost_front, acc_rows, static_cost, static_acc_rows):
  """Router accuracy interpolated at a static strategy's cost, minus the static's.

  ``cost_front`` f[G] (mean cost along a price line), ``acc_rows`` f[G, Q]
  per-query accuracy of the router's choice at each grid point.
  """
  order = np.argsort(cost_front, kind="stable")
  c = cost_front[order]
  if not c[0] <= static_cost <= c[-1]:
    return None
  i = int(np.clip(np.searchsorted(c, static_cost, side="right") - 1, 0, len(c) - 2))
  lo, hi = order[i], order[i + 1]
  w = 0.0 if c[i + 1] == c[i] else (static_cost - c[i]) / (c[i + 1] - c[i])
  per_q = (1 - w) * acc_rows[lo] + w * acc_rows[hi] - static_acc_rows
  d = report.mean_interval(per_q)
  return {"diff": d["mean"], "ci_normal": d["ci_normal"]}


def _budgets(front, a, tk, lt, t_acc, t_tok, t_lat) -> dict:
  """The grid's most accurate cell within both budgets, and the prices tuned to spend them."""
  acc, tok, lat = (np.asarray(front[k], float) for k in ("acc", "tokens", "latency"))
  target = (BUDGET_FRACTION[0] * tok[0, 0], BUDGET_FRACTION[1] * lat[0, 0])  # LAM[0] = 0
  within = (tok <= target[0]) & (lat <= target[1])
  grid = None
  if within.any():
    i, j = np.unravel_index(np.argmax(np.where(within, acc, -np.inf)), acc.shape)
    grid = {"lam_t": float(LAM_T[i]), "lam_l": float(LAM_L[j]), "acc": float(acc[i, j]),
            "tokens": float(tok[i, j]), "latency": float(lat[i, j])}
  r = rt.tune_router(a, tk, lt, target_tokens=target[0], target_latency=target[1],
                     true_acc=t_acc, true_tokens=t_tok, true_latency=t_lat)
  tuned = {k: np.asarray(v).tolist() for k, v in r._asdict().items()}
  return {"fraction": list(BUDGET_FRACTION), "tokens": float(target[0]),
          "latency": float(target[1]), "grid_best": grid, "tuned": tuned,
          "tau": list(rt.TAUS)}


@jax.jit
def _choices(acc, tok, lat, lam_t, lam_l, t_acc):
  """f[G, Q]: per-query true accuracy of the router's choice along a price line
  (the same argmax as :func:`jaxtick.alloc.utility.route`, for G prices at once)."""
  ch = jax.vmap(lambda a, b: agents.price_choice(acc, (tok, lat), (a, b)))(lam_t, lam_l)
  return jnp.take_along_axis(jnp.broadcast_to(t_acc, (lam_t.shape[0],) + t_acc.shape),
                             ch[..., None], 2)[..., 0]


def experiment(key, tab, strats, feats, config, *, steps) -> dict:
  """Everything after the strategy table and the features (the replay reuses it)."""
  names = strats.names
  acc, tok, lat = (np.asarray(t, np.float32) for t in tab)
  x = np.asarray(feats, np.float32)
  g = st.strategy_features(strats)
  k_split, k_lab, k_probe, k_out, k_boot = jax.random.split(key, 5)
  tr, ca, te = _split(k_split, acc.shape[0])
  labels = np.asarray(pb.soft_labels(k_lab, jnp.asarray(acc), REPS))
  config.progress(f"routing: probe on {tr.size} queries x {len(names)} strategies, {steps} steps")
  probe = pb.fit(k_probe, x[tr], g, labels[tr], steps=steps)
  raw = np.asarray(pb.predict(probe, x[te], g))
  cal_probe = pb.calibrate_platt(probe, x[ca], g, labels[ca])
  cal = np.asarray(pb.predict(cal_probe, x[te], g))
  outcome = np.asarray(jax.random.bernoulli(k_out, jnp.asarray(acc[te]))).astype(np.float32)
  calibration = {"before_platt": _calib(k_boot, jnp.asarray(raw), outcome, jnp.asarray(acc[te])),
                 "after_platt": _calib(k_boot, jnp.asarray(cal), outcome, jnp.asarray(acc[te])),
                 "platt": {"a": float(cal_probe.platt.a), "b": float(cal_probe.platt.b)},
                 "reliability_before": _reliability(raw, acc[te]),
                 "reliability_after": _reliability(cal, acc[te])}

  avg_tok, avg_lat = ut.average_costs(tok[tr], lat[tr])
  avg_tok, avg_lat = np.asarray(avg_tok), np.asarray(avg_lat)
  t_acc, t_tok, t_lat = acc[te], tok[te], lat[te]
  variants = {"probe_avg_costs": (cal, avg_tok, avg_lat),
              "probe_oracle_costs": (cal, t_tok, t_lat),
              "oracle_acc_avg_costs": (t_acc, avg_tok, avg_lat),
              "oracle_acc_oracle_costs": (t_acc, t_tok, t_lat)}
  static = ut.static_baselines(t_acc, t_tok, t_lat)
  fronts, matched = {}, {}
  for name, (a, tk, lt) in variants.items():
    config.progress(f"routing: {name}, {LAM_T.size} x {LAM_L.size} grid in one call")
    fr = ut.route_grid(a, tk, lt, LAM_T, LAM_L, t_acc, t_tok, t_lat)
    fronts[name] = {k: np.asarray(v).tolist() for k, v in fr._asdict().items()}
    # Matched tokens on the lam_L = 0 line, matched latency on the lam_T = 0 line.
    line_t = np.asarray(_choices(a, tk, lt, LAM_T, np.zeros_like(LAM_T), t_acc))
    line_l = np.asarray(_choices(a, tk, lt, np.zeros_like(LAM_L), LAM_L, t_acc))
    ft, fl = np.asarray(fr.tokens[:, 0]), np.asarray(fr.latency[0, :])
    matched[name] = {
        s: {"tokens": _matched(ft, line_t, float(static.tokens[i]), t_acc[:, i]),
            "latency": _matched(fl, line_l, float(static.latency[i]), t_acc[:, i])}
        for i, s in enumerate(names)}
  budgets = _budgets(fronts["probe_avg_costs"], *variants["probe_avg_costs"], t_acc, t_tok, t_lat)
  # Strategy families chosen as lam_L rises (probe router, lam_T = 0).
  share = np.asarray(fronts["probe_avg_costs"]["share"])[0]           # [R, S]
  fam = {m: share[:, strats.method == i].sum(1).tolist() for i, m in enumerate(st.METHOD_NAMES)}
  return {
      "queries": int(acc.shape[0]), "split": {"train": int(tr.size), "calib": int(ca.size), "test": int(te.size)},
      "strategies": names, "soft_label_runs": REPS, "probe_steps": steps,
      "cost_model": dict(COST_MODEL._asdict()), "oracle": dict(ORACLE._asdict()),
      "lam_t": LAM_T.tolist(), "lam_l": LAM_L.tolist(),
      "static": {s: {"acc": float(static.acc[i]), "tokens": float(static.tokens[i]),
                     "latency": float(static.latency[i])} for i, s in enumerate(names)},
      "average_costs": {"tokens": avg_tok.tolist(), "latency": avg_lat.tolist()},
      "calibration": calibration, "fronts": fronts, "matched": matched,
      "family_share_vs_lam_l": fam, "budgets": budgets,
  }


def run(config: registry.Config) -> dict:
  q = config.size(4000, quick=1000)
  key = jax.random.key(config.seed)
  kp, kf, ke = jax.random.split(key, 3)
  pool = pools.query_pool(kp, q)
  feats = st.query_features(kf, pool, noise=0.5)
  strats = st.make_strategies()
  config.progress(f"routing: exact tables for {q} queries x {len(strats.n)} strategies")
  tab = st.evaluate(pool, strats, ORACLE, COST_MODEL)
  out = experiment(ke, tab, strats, feats, config, steps=300 if config.quick else 1500)
  # The example log of the logged-samples loader, replayed: plug-in tables
  # (no beam search: a log of whole completions has no step scores).
  log = logs.example_log()
  config.progress(f"routing: replaying the example log ({log.count.size} queries)")
  rs = st.make_strategies(beams=())
  rt = st.replay_table(log, rs, COST_MODEL)
  feats_log = (np.ones((log.count.size, 1), np.float32) if log.features is None
               else np.asarray(log.features, np.float32))
  out["replay"] = experiment(jax.random.fold_in(ke, 7), rt, rs, feats_log, config, steps=300)
  out["features"] = {"noise": 0.5, "signal_dims": 8, "nuisance_dims": 8}
  return out


def _summary(m):
  """Per variant: how many statics it beats at matched tokens/latency, and the mean diff."""
  out = {}
  for v, rows in m["matched"].items():
    for axis in ("tokens", "latency"):
      d = [r[axis] for r in rows.values() if r[axis] is not None]
      out[(v, axis)] = (sum(x["ci_normal"][0] > 0 for x in d), sum(x["ci_normal"][1] < 0 for x in d),
                        len(d), float(np.mean([x["diff"] for x in d])) if d else float("nan"))
  return out


def _takeaway(m: dict, what: str) -> str:
  """The line that closes a section: the router against the statics of *this* section."""
  win, lose, n, d = _summary(m)[("probe_avg_costs", "tokens")]
  return (f"Takeaway ({what}): the router with the probe and average costs is ahead of {win} "
          f"and behind {lose} of {n} static strategies at matched tokens (95% intervals), mean "
          f"difference {report.g4(d)}. Specification (Latency and Token-Aware Test-Time "
          "Compute): the adaptive router ahead of static strategies, average costs close "
          "to oracle costs.")


def _budget_lines(b: dict, what: str, test: int) -> list:
  """The two-budget section: the grid's best cell, the tuned prices, and its takeaway."""
  g, t = b["grid_best"], b["tuned"]
  miss = [100 * x for x in t["miss"]]
  lines = [f"two budgets at once (probe router, average costs): {report.g4(b['tokens'])} tokens "
           f"and {report.g4(b['latency'])} s per query ({report.g4(b['fraction'][0])} and "
           f"{report.g4(b['fraction'][1])} of the prices-0 router's)"]
  cell = ("no cell within both budgets" if g is None else
          f"lam_T={report.g4(g['lam_t'])} lam_L={report.g4(g['lam_l'])}: accuracy "
          f"{report.g4(g['acc'])}, {report.g4(g['tokens'])} tokens, {report.g4(g['latency'])} s")
  lines.append(f"  grid's best cell within both: {cell}")
  bind = [k for k, on in zip(("tokens", "latency"), t["binding"]) if on]
  lines.append(f"  tuned by gradient (soft router, tau {' -> '.join(map(report.g4, b['tau']))}; "
               f"Newton steps {t['steps']}, converged {t['converged'][-1]}; binding: "
               f"{' and '.join(bind) or 'neither'}): "
               f"lam_T={report.g4(t['lam_t'])} lam_L={report.g4(t['lam_l'])}; soft "
               f"{report.g4(t['soft_tokens'])} tokens, {report.g4(t['soft_latency'])} s; hard "
               f"router: accuracy {report.g4(t['acc'])}, {report.g4(t['tokens'])} tokens, "
               f"{report.g4(t['latency'])} s (miss {report.g4(miss[0])}% tokens, "
               f"{report.g4(miss[1])}% latency)")
  grid = ("no grid cell is within both budgets" if g is None else
          f"the grid's best cell within both has accuracy {report.g4(g['acc'])} at "
          f"{report.g4(g['tokens'])} tokens and {report.g4(g['latency'])} s")
  lines.append(f"Takeaway (budgets, {what}): prices tuned by gradient to "
               f"{report.g4(b['tokens'])} tokens and {report.g4(b['latency'])} s reach accuracy "
               f"{report.g4(t['acc'])} with the hard router, missing the budgets by "
               f"{report.g4(miss[0])}% and {report.g4(miss[1])}%; {grid}.")
  if max(abs(x) for x in miss) > 100 * STEP_MISS:
    lines[-1] += (f" The soft router spends {report.g4(t['soft_tokens'])} tokens and "
                  f"{report.g4(t['soft_latency'])} s there: the hard router's mean costs jump "
                  f"between prices on these {test} test queries.")
  return lines


def render(m: dict, label: str = "main") -> str:
  lines = [f"queries {m['queries']} {m['split']}; {len(m['strategies'])} strategies; "
           f"PRM oracle {m['oracle']}; cost model {m['cost_model']}"]
  lines.append("static strategies on test (acc, tokens, latency s):")
  for s, r in m["static"].items():
    lines.append(f"  {s:<18} {report.g4(r['acc'])} {report.g4(r['tokens'])} {report.g4(r['latency'])}")
  c = m["calibration"]
  for when in ("before_platt", "after_platt"):
    for ref in ("vs_one_run", "vs_exact_accuracy"):
      r = c[when][ref]
      lines.append(f"probe {when} {ref}: ECE {report.g4(r['ece'])} {report.format_interval(r['ece_ci'])}, Brier {report.g4(r['brier'])} {report.format_interval(r['brier_ci'])}")
  lines.append(f"Platt a={report.g4(c['platt']['a'])} b={report.g4(c['platt']['b'])}")
  lines.append("router vs static at matched cost (statics beaten / losing (95% CI) / compared, mean diff):")
  for (v, axis), (win, lose, n, d) in _summary(m).items():
    lines.append(f"  {v:<24} matched {axis:<8}: {win} / {lose} / {n}, mean {report.g4(d)}")
  lines.append("per static, probe_avg_costs minus static at matched tokens [95% CI]:")
  for s, r in m["matched"]["probe_avg_costs"].items():
    t = r["tokens"]
    lines.append(f"  {s:<18} " + ("outside the front" if t is None else f"{report.g4(t['diff'])} {report.format_interval(t['ci_normal'])}"))
  lines.append("share of strategy families as lam_L rises (lam_T = 0, probe router):")
  for i, ll in enumerate(m["lam_l"]):
    if i % 4 == 0 or i == len(m["lam_l"]) - 1:
      lines.append(f"  lam_L={report.g4(ll)}: " + ", ".join(f"{k} {report.g4(v[i])}" for k, v in m["family_share_vs_lam_l"].items()))
  what = "example-log replay" if label == "replay" else "main pool"
  lines.append(_takeaway(m, what))
  if "budgets" in m:
    lines += _budget_lines(m["budgets"], what, m["split"]["test"])
  if "replay" in m:
    lines.append("replay of the example log (plug-in tables from the logged samples; "
                 "the log's one feature is the difficulty level):")
    lines.append(render(m["replay"], label="replay"))
  return "\n".join(lines)


def figures(m: dict, out: Path) -> list:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  paths = []
  st_ = m["static"]
  for axis, name in (("tokens", "routing_front_tokens.png"), ("latency", "routing_front_latency.png")):
    fig, ax = plt.subplots(figsize=(6, 4))
    for v, fr in m["fronts"].items():
      a, c = np.asarray(fr["acc"]), np.asarray(fr[axis])
      line = (a[:, 0], c[:, 0]) if axis == "tokens" else (a[0, :], c[0, :])
      o = np.argsort(line[1])
      ax.plot(line[1][o], line[0][o], ".-", label=v.replace("_", " "))
    ax.scatter([r[axis] for r in st_.values()], [r["acc"] for r in st_.values()], c="k", s=12,
               label="static strategies")
    ax.set_xscale("log")
    ax.set_xlabel(f"mean {axis}" + (" (s)" if axis == "latency" else ""))
    ax.set_ylabel("expected accuracy (test)")
    ax.legend(fontsize=7)
    paths.append(report.save_figure(fig, Path(out) / name))
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for k, v in m["family_share_vs_lam_l"].items():
    ax.plot(np.maximum(m["lam_l"], 1e-6), v, ".-", label=k)
  ax.set_xscale("log")
  ax.set_xlabel("lam_L (per second), lam_T = 0")
  ax.set_ylabel("share of queries")
  ax.legend()
  paths.append(report.save_figure(fig, Path(out) / "routing_share_vs_latency_price.png"))
  fig, ax = plt.subplots(figsize=(4, 4))
  for k in ("before", "after"):
    r = np.asarray(m["calibration"][f"reliability_{k}"])
    ax.plot(r[:, 0], r[:, 1], "o-", label=f"{k} Platt")
  ax.plot([0, 1], [0, 1], "k:")
  ax.set_xlabel("predicted")
  ax.set_ylabel("exact accuracy")
  ax.legend()
  paths.append(report.save_figure(fig, Path(out) / "routing_reliability.png"))
  return paths


registry.register("routing", "Latency- and token-aware utility routing (seed 001)",
                  render=render, figures=figures)(run)
