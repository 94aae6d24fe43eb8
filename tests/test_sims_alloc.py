"""The routing and Lagrangian experiments end to end at a small size (slow)."""

import pytest

from sims import registry


@pytest.mark.slow
@pytest.mark.parametrize("name", ["routing", "lagrangian"])
def test_experiment_runs_and_renders(name, tmp_path):
  exp = registry.load_all()[name]
  m = exp.run(registry.Config(seed=1, n=300, quick=True))
  text = exp.render(m)
  assert "replay of the example log" in text
  assert exp.figures(m, tmp_path)
  if name == "lagrangian":
    assert all(r["regret"]["holds"] for r in m["targets"])


def _routing_metrics(diffs):
  """A routing metrics dict by hand: the probe router minus each static at matched tokens."""
  from sims import routing  # noqa: F401  (the module under test renders it)
  ci = lambda d: [d - 0.01, d + 0.01]
  matched = {v: {f"s{i}": {"tokens": {"diff": d, "ci_normal": ci(d)}, "latency": None}
                 for i, d in enumerate(diffs)}
             for v in ("probe_avg_costs", "oracle_acc_oracle_costs")}
  cal = {"ece": 0.1, "ece_ci": [0.05, 0.15], "brier": 0.2, "brier_ci": [0.1, 0.3]}
  return {"queries": 10, "split": {"train": 5, "calib": 2, "test": 3}, "strategies": ["a"], "oracle": "prm", "cost_model": "x",
          "static": {"a": {"acc": 0.5, "tokens": 100.0, "latency": 1.0}},
          "calibration": {"before_platt": {"vs_one_run": cal, "vs_exact_accuracy": cal},
                          "after_platt": {"vs_one_run": cal, "vs_exact_accuracy": cal},
                          "platt": {"a": 1.0, "b": 0.0}},
          "matched": matched, "lam_l": [0.0], "family_share_vs_lam_l": {"a": [1.0]}}


def test_each_routing_takeaway_quotes_its_own_section():
  """The main pool's takeaway closes the main section with the main pool's counts; the
  example-log replay's closes the replay with its own (it once quoted the replay's as if
  they were the main pool's)."""
  from sims import routing
  m = _routing_metrics([0.1, 0.2, 0.3])          # ahead of 3 statics, behind 0
  m["replay"] = _routing_metrics([0.1, -0.2])    # ahead of 1, behind 1
  text = routing.render(m)
  main, replay = text.split("replay of the example log")
  assert "Takeaway (main pool): the router with the probe and average costs is ahead of 3 " \
         "and behind 0 of 3 " in main
  assert "Takeaway (example-log replay): the router with the probe and average costs is " \
         "ahead of 1 and behind 1 of 2 " in replay
  assert "main pool" not in replay and "example-log replay" not in main


def _budgets(tokens, latency, acc, grid_acc, miss=(0.01, 0.0)):
  """A two-budget section by hand: the tuned hard router misses the budgets by ``miss``."""
  grid = None if grid_acc is None else {"lam_t": 1e-4, "lam_l": 1e-2, "acc": grid_acc,
                                        "tokens": 0.9 * tokens, "latency": latency - 1.0}
  tuned = {"lam_t": 2e-4, "lam_l": 3e-3, "soft_tokens": tokens, "soft_latency": latency,
           "acc": acc, "tokens": (1 + miss[0]) * tokens, "latency": (1 + miss[1]) * latency,
           "miss": list(miss),
           "binding": [True, True], "steps": [3, 2, 1], "converged": [True, True, True]}
  return {"fraction": [1 / 3, 3 / 4], "tokens": tokens, "latency": latency, "grid_best": grid,
          "tuned": tuned, "tau": [0.03, 0.01, 0.003]}


def test_each_budget_takeaway_quotes_its_own_section():
  """The two-budget takeaway of each section quotes that section's budgets, tuned accuracy,
  misses and grid cell."""
  from sims import routing
  m = _routing_metrics([0.1, 0.2, 0.3])
  m["budgets"] = _budgets(4000.0, 21.5, 0.75, 0.74)
  m["replay"] = _routing_metrics([0.1, -0.2])
  m["replay"]["budgets"] = _budgets(250.0, 3.25, 0.61, None, miss=(-0.25, 0.5))
  m["replay"]["split"] = {"train": 20, "calib": 8, "test": 12}
  text = routing.render(m)
  main, replay = text.split("replay of the example log")
  take = [ln for ln in main.splitlines() if ln.startswith("Takeaway (budgets, main pool)")]
  assert take == ["Takeaway (budgets, main pool): prices tuned by gradient to 4000 tokens and "
                  "21.5 s reach accuracy 0.75 with the hard router, missing the budgets by 1% "
                  "and 0%; the grid's best cell within both has accuracy 0.74 at 3600 tokens "
                  "and 20.5 s."]
  assert "Takeaway (budgets, example-log replay): prices tuned by gradient to 250 tokens " \
         "and 3.25 s reach accuracy 0.61 with the hard router, missing the budgets by -25% " \
         "and 50%; no grid cell is within both budgets. The soft router spends 250 tokens " \
         "and 3.25 s there: the hard router's mean costs jump between prices on these 12 " \
         "test queries." in replay
  assert "The soft router spends" not in main  # a 1% miss is not the step function's
  assert "grid's best cell within both: no cell within both budgets" in replay
  assert "binding: tokens and latency" in main
  assert "4000" not in replay and "0.61" not in main
  # Older metrics (without the section) still render.
  del m["budgets"], m["replay"]["budgets"]
  assert "budgets" not in routing.render(m)


def test_budget_section_picks_the_best_cell_within_both_budgets(monkeypatch):
  """The grid's best cell is the most accurate of those within both budgets (found by hand
  over the grid), and the tuned entry is the router tuned to the section's budgets."""
  import numpy as np
  from jaxtick.alloc import utility as ut
  from sims import routing
  from test_router import _pool
  monkeypatch.setattr(routing, "BUDGET_FRACTION", (0.4, 0.4))  # both bind on this pool
  acc, tok, lat, at, al = _pool(600, seed=11)
  fr = ut.route_grid(acc, at, al, routing.LAM_T, routing.LAM_L, acc, tok, lat)
  front = {k: np.asarray(v) for k, v in fr._asdict().items()}
  b = routing._budgets(front, acc, at, al, acc, tok, lat)
  f = routing.BUDGET_FRACTION
  assert b["tokens"] == pytest.approx(f[0] * front["tokens"][0, 0])
  assert b["latency"] == pytest.approx(f[1] * front["latency"][0, 0])
  cells = [(front["acc"][i, j], i, j) for i in range(len(routing.LAM_T))
           for j in range(len(routing.LAM_L))
           if front["tokens"][i, j] <= b["tokens"] and front["latency"][i, j] <= b["latency"]]
  _, i, j = max(cells)
  assert (b["grid_best"]["lam_t"], b["grid_best"]["lam_l"]) == (routing.LAM_T[i], routing.LAM_L[j])
  assert b["grid_best"]["acc"] == pytest.approx(float(front["acc"][i, j]))
  # Either budget alone admits a more accurate cell: both constraints matter here.
  for k in ("tokens", "latency"):
    alone = front["acc"][front[k] <= b[k]].max()
    assert alone > b["grid_best"]["acc"]
  t = b["tuned"]
  assert t["converged"][-1] and abs(t["soft_tokens"] / b["tokens"] - 1) < 1e-3
  assert abs(t["soft_latency"] / b["latency"] - 1) < 1e-3
