"""e2: multi-head dynamic allocation, with derived parameters and McNemar tests.

The specification's Table 2 on its synthetic setting (N = 1200 instances,
three equal-cost heads), and the same table on the digits multi-exit MLP.

Reading of the thresholds. The specification does not define "thr = 0.9 /
0.7". We read them as entropy prices: after the shallow head, refine (tick
deepA) while the head's softmax entropy in nats exceeds ``thr``; "budget 2"
caps each instance at two heads. This is the only reading under which a lower
threshold refines more, as the specification's compute (0.4422 at 0.9 <
0.4644 at 0.7) requires.

Every dynamic condition is run by the Tick agent under the price rule
(:func:`jaxtick.run_price_batch`), and every accuracy and McNemar test is
computed from the per-instance correctness vectors that run produced. f is
the fraction of instances that took the second head and p_sel the accuracy of
the final prediction on that refined subset.

Algorithm 1. The pool of instances is cut into pools of 40; each pool gets a
budget equal to 40 x (dynA's mean heads, rounded to whole ticks) and the
budget rule (:func:`jaxtick.run_budget`, price 0, up to three heads) spends
it greedily on the most uncertain instances. The per-instance price rule is
then run at the price bisection finds for the same mean compute.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxtick as jt
from jaxtick.models import multi_exit
from sims import registry, report
from sims import e1_early_exit as e1

THRESHOLDS = {"dynA": 0.9, "dynB": 0.7}
POOL = 40
SPEC_TABLE2 = {  # condition: (compute, accuracy, normal CI)
    "budget1": (0.3333, 0.9583, (0.9470, 0.9696)),
    "dynA": (0.4422, 0.9617, (0.9508, 0.9725)),
    "dynB": (0.4644, 0.9633, (0.9527, 0.9739)),
    "early": (None, 0.9583, (0.9470, 0.9696)),
    "deepA": (None, 0.9633, (0.9527, 0.9739)),
    "full": (None, 0.9600, (0.9489, 0.9711)),
}
SPEC_DERIVED = {"dynA": (0.3266666666666667, 0.9685374149659864),
                "dynB": (0.3933333333333333, 0.9710451977401129)}
SPEC_MCNEMAR = {("dynA", "early"): (16, 12, 0.5716), ("dynB", "deepA"): (9, 9, 1.0),
                ("dynA", "deepA"): (10, 12, 0.8318)}
PAIRS = (("dynA", "early"), ("dynB", "deepA"), ("dynA", "deepA"),
         ("dynB", "early"), ("full", "deepA"))
LABELS = {"budget1": "Budget 1 (shallow)", "dynA": "Budget 2 (thr=0.9)",
          "dynB": "Budget 2 (thr=0.7)", "early": "Baseline early",
          "deepA": "Baseline deepA", "full": "Baseline full"}


@functools.partial(jax.jit, static_argnames=("agent", "max_ticks"))
def _run_agent(agent, problems, price, max_ticks):
  n = jax.tree_util.tree_leaves(problems)[0].shape[0]
  keys = jax.random.split(jax.random.key(0), n)  # the agent is deterministic
  res = jt.run_price_batch(agent, problems, keys, price, max_ticks=max_ticks)
  return res.ticks, jax.vmap(agent.output)(res.state)


def run_agent(agent, problems, price, max_ticks):
  """Runs the agent on every instance under one price; returns (ticks, outputs)."""
  t, o = _run_agent(agent, problems, jnp.asarray(price, jnp.float32), max_ticks)
  return np.asarray(t), np.asarray(o)


def bits(v) -> str:
  return "".join("1" if x else "0" for x in np.asarray(v, bool))


def table(agent, problems, logits, labels) -> dict:
  """Table 2, derived parameters and McNemar tests for one source.

  Args:
    agent: exit-heads Tick agent over ``problems`` (entropy signal, fuse last).
    problems: the agent's per-instance problems (leading axis N).
    logits: f[N, K, C] the same heads' logits (for the fixed baselines and
      the closed-form cross-check).
    labels: i32[N].
  """
  n, k, _ = logits.shape
  correct, compute, ticks_of = {}, {}, {}
  for j, name in enumerate(("early", "deepA", "full")):
    correct[name] = logits[:, j].argmax(-1) == labels
    compute[name] = (j + 1) / k
  t1, o1 = run_agent(agent, problems, 0.0, 1)
  correct["budget1"], compute["budget1"], ticks_of["budget1"] = o1 == labels, t1.mean() / k, t1
  hs = jt.agents.head_signals(jnp.asarray(logits))
  check = {}
  for name, thr in THRESHOLDS.items():
    t, o = run_agent(agent, problems, thr, 2)
    correct[name], compute[name], ticks_of[name] = o == labels, t.mean() / k, t
    used = np.asarray(jt.agents.exit_heads_used(hs.u[:, :2], jnp.asarray([thr])))[0]
    check[name] = int(np.sum(used != t))
  rows = {name: {"relative_compute": float(compute[name]),
                 "accuracy": report.proportion(int(correct[name].sum()), n)}
          for name in LABELS}
  derived = {}
  for name in THRESHOLDS:
    ref = ticks_of[name] == 2
    derived[name] = {
        "threshold": THRESHOLDS[name], "refined": int(ref.sum()),
        "f": float(ref.mean()),
        "p_sel": report.proportion(int(correct[name][ref].sum()), int(ref.sum()))
                 if ref.any() else None,
        "shallow_on_selected": report.proportion(int(correct["early"][ref].sum()), int(ref.sum()))
                               if ref.any() else None,
        "unrefined_accuracy": report.proportion(int(correct[name][~ref].sum()), int((~ref).sum()))
                              if (~ref).any() else None,
    }
  tests = [{"a": a, "b_name": b, **report.mcnemar(correct[a], correct[b])} for a, b in PAIRS]
  return {"instances": n, "rows": rows, "derived": derived, "mcnemar": tests,
          "closed_form_tick_mismatches": check,
          "per_instance_correct": {name: bits(v) for name, v in correct.items()}}


def budget_vs_price(agent, problems, logits, labels, mean_heads) -> dict:
  """Algorithm 1 over pools vs the per-instance price rule at equal mean compute."""
  n, k, _ = logits.shape
  pools = n // POOL
  m = pools * POOL
  budget = float(round(POOL * mean_heads))
  take = lambda x: x[:m].reshape((pools, POOL) + x.shape[1:])
  pp = jax.tree_util.tree_map(take, problems)
  keys = jax.random.split(jax.random.key(0), m).reshape(pools, POOL)
  br = jax.jit(jax.vmap(lambda p, kk: jt.run_budget(agent, p, kk, budget, 0.0,
                                                    max_ticks=k)))(pp, keys)
  b_correct = np.asarray(br.output).reshape(-1) == labels[:m]
  b_mean = float(np.asarray(br.spent).sum()) / m
  hs = jt.agents.head_signals(jnp.asarray(logits[:m]))
  corr = hs.pred == jnp.asarray(labels[:m])[:, None]
  mean_cost = lambda lam: jt.agents.exit_heads_sweep(hs.u, corr, lam[None]).cost[0]
  found = jax.jit(lambda: jt.bisect_price(mean_cost, b_mean, 0.0, float(np.log(10.0))))()
  sub = jax.tree_util.tree_map(lambda x: x[:m], problems)
  t, o = run_agent(agent, sub, float(found.price), k)
  p_correct = o == labels[:m]
  return {
      "pool_size": POOL, "pools": pools, "budget_per_pool": budget, "max_heads": k,
      "budget_rule": {"relative_compute": b_mean / k,
                      "heads_histogram": np.bincount(np.asarray(br.ticks).reshape(-1),
                                                     minlength=k + 1).tolist(),
                      "accuracy": report.proportion(int(b_correct.sum()), m)},
      "price_rule": {"price": float(found.price), "relative_compute": float(t.mean()) / k,
                     "heads_histogram": np.bincount(t, minlength=k + 1).tolist(),
                     "accuracy": report.proportion(int(p_correct.sum()), m)},
      "mcnemar_budget_vs_price": report.mcnemar(b_correct, p_correct),
  }


def pareto(logits, labels, num=256) -> dict:
  """Dynamic-scheduler points at budget 2 and 3 over entropy thresholds (for the figure)."""
  n, k, c = logits.shape
  thr = jnp.linspace(0.0, float(np.log(c)), num, dtype=jnp.float32)
  out = {}
  for heads in (2, 3):
    sw = jt.agents.threshold_sweep(jnp.asarray(logits[:, :heads]), jnp.asarray(labels),
                                   jnp.minimum(thr, float(np.log(c))))
    out[f"budget{heads}"] = {"relative_compute": (np.asarray(sw.total_heads, np.float64)
                                                  / (n * k)).tolist(),
                             "correct": np.asarray(sw.correct).tolist()}
  return out


def run(config: registry.Config) -> dict:
  n = config.size(1200, quick=300)
  steps = 150 if config.quick else 300
  out = {"thresholds": THRESHOLDS}
  config.progress(f"synthetic heads: N={n}")
  logits, labels = e1.synthetic_source(config.seed, n)
  agent = jt.agents.exit_heads(jt.agents.logit_table(logits.shape[1], logits.shape[2]))
  syn = table(agent, jnp.asarray(logits), logits, labels)
  config.progress("synthetic: budget rule over pools vs price rule")
  syn["budget_vs_price"] = budget_vs_price(
      agent, jnp.asarray(logits), logits, labels, 3 * syn["rows"]["dynA"]["relative_compute"])
  syn["pareto"] = pareto(logits, labels)
  out["synthetic"] = syn

  if config.quick:  # quick runs use the synthetic source only
    return out
  n_digits = min(n, 1200)
  config.progress("digits: multi-exit MLP agent (one block per tick)")
  params, xte, yte, _ = e1.digits_model(config.seed, n_digits, steps)
  dlogits = np.asarray(multi_exit.forward(params, jnp.asarray(xte)))
  magent = jt.agents.exit_heads(jt.agents.mlp_source(params))
  dig = table(magent, jnp.asarray(xte), dlogits, yte)
  dig["budget_vs_price"] = budget_vs_price(
      magent, jnp.asarray(xte), dlogits, yte, 3 * dig["rows"]["dynA"]["relative_compute"])
  dig["pareto"] = pareto(dlogits, yte)
  out["digits"] = dig
  return out


def figures(metrics: dict, out: Path) -> list:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  names = [s for s in ("synthetic", "digits") if s in metrics]
  fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4))
  for ax, name in zip(np.atleast_1d(axes), names):
    s = metrics[name]
    n = s["instances"]
    for b, pts in s["pareto"].items():
      ax.plot(pts["relative_compute"], np.asarray(pts["correct"]) / n, ".-", ms=2, lw=0.8,
              label=f"dynamic, {b} (entropy thresholds)")
    for key, row in s["rows"].items():
      ax.plot(row["relative_compute"], row["accuracy"]["p"],
              "o" if key.startswith(("dyn", "budget")) else "s", label=LABELS[key])
    bv = s["budget_vs_price"]
    ax.plot(bv["budget_rule"]["relative_compute"], bv["budget_rule"]["accuracy"]["p"], "*",
            ms=10, label="Algorithm 1 (pools of 40)")
    ax.set_xlabel("relative compute")
    ax.set_ylabel("accuracy")
    ax.set_title(f"E2 {name} (N={n})")
    ax.legend(fontsize=6)
  return [report.save_figure(fig, Path(out) / "e2_pareto.png")]


def _spec_fmt(x, d=4):
  return "   —  " if x is None else f"{x:.{d}f}"


def render(m: dict) -> str:
  lines = [
      "Threshold reading: after the shallow head, refine (tick deepA) while the "
      "shallow head's softmax entropy (nats) > thr; budget 2 = at most two heads. "
      "(The specification leaves thr undefined; this is the reading under which "
      "a lower thr refines more, as its compute column requires.)",
      "All accuracies and McNemar tests below come from per-instance correctness "
      "vectors of the simulated runs (results.json: per_instance_correct).", ""]
  for name in ("synthetic", "digits"):
    if name not in m:
      continue
    s = m[name]
    lines.append(f"[{name}] N={s['instances']}")
    lines.append("  Table 2: condition | spec compute, acc, CI | ours compute, accuracy (counts) normal, wilson")
    for key, label in LABELS.items():
      sc, sa, sci = SPEC_TABLE2[key]
      r = s["rows"][key]
      lines.append(f"  {label:<20} | spec {_spec_fmt(sc)} {sa:.4f} [{sci[0]:.4f}, {sci[1]:.4f}] "
                   f"| ours {r['relative_compute']!r} {report.format_proportion(r['accuracy'])}")
    lines.append("  Derived parameters (Appendix B): f, p_sel; spec vs ours")
    for key, d in s["derived"].items():
      sf, sp = SPEC_DERIVED[key]
      psel = report.format_proportion(d["p_sel"]) if d["p_sel"] else "n/a"
      sh = report.format_proportion(d["shallow_on_selected"]) if d["shallow_on_selected"] else "n/a"
      lines.append(f"    {LABELS[key]}: spec f={sf!r} p_sel={sp!r} | ours f={d['f']!r} "
                   f"({d['refined']}/{s['instances']}) p_sel={psel}; shallow head on the same "
                   f"subset {sh}")
    lines.append("  McNemar (exact two-sided; b = A right & B wrong, c = A wrong & B right):")
    for t in s["mcnemar"]:
      spec = SPEC_MCNEMAR.get((t["a"], t["b_name"]))
      sp = f"spec b={spec[0]} c={spec[1]} n={spec[0] + spec[1]} p={spec[2]}" if spec else "spec —"
      lines.append(f"    {t['a']} vs {t['b_name']}: {sp} | ours b={t['b']} c={t['c']} "
                   f"n={t['n']} p={t['p']!r}")
    lines.append(f"  agent run vs closed-form sweep, tick mismatches: {s['closed_form_tick_mismatches']!r}")
    bv = s["budget_vs_price"]
    lines.append(f"  Algorithm 1: {bv['pools']} pools of {bv['pool_size']}, budget "
                 f"{bv['budget_per_pool']!r} ticks per pool, up to {bv['max_heads']} heads")
    for rule in ("budget_rule", "price_rule"):
      r = bv[rule]
      extra = f" price {r['price']!r}" if "price" in r else ""
      lines.append(f"    {rule}:{extra} compute {r['relative_compute']!r} heads histogram "
                   f"{r['heads_histogram']} accuracy {report.format_proportion(r['accuracy'])}")
    t = bv["mcnemar_budget_vs_price"]
    lines.append(f"    McNemar budget vs price: b={t['b']} c={t['c']} n={t['n']} p={t['p']!r}")
    lines.append("")
  sig = [f"{name}: {t['a']} vs {t['b_name']} (p={t['p']:.4g})"
         for name in ("synthetic", "digits") if name in m for t in m[name]["mcnemar"]
         if t["p"] < 0.05]
  lines += [
      "Differences from the specification. Its aggregate accuracies are computed "
      "analytically from a refined-vs-unrefined split (its section 4.1 and "
      "Appendix D) and its McNemar counts from per-instance error sets "
      "constructed to match those aggregates (its Appendix C). Ours are counted "
      "from simulated runs: heads with a latent per-instance difficulty, and a "
      "trained network. So head accuracies, the refined fractions f (set by how "
      "our heads' entropies are distributed; the trained MLP is confident, so "
      "the same entropy thresholds refine far fewer digits) and the McNemar "
      "counts differ; we do not tune the generator to its numbers.",
      "The specification reports every E2 p-value above 0.2. Here, tests with "
      "p < 0.05: " + ("; ".join(sig) if sig else "none") + ".",
      "Algorithm 1 and the price rule at equal mean compute: with equal costs "
      "the greedy budget rule and the per-instance price rule buy nearly the "
      "same ticks; the difference is where the shared budget moves ticks "
      "between instances of one pool."]
  return "\n".join(lines)


registry.register("e2", "E2: multi-head dynamic allocation (Table 2, Appendices B-C)",
                  render=render, figures=figures)(run)
