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
  return {"queries": 10, "split": "test", "strategies": ["a"], "oracle": "prm", "cost_model": "x",
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
