"""The bandit experiment: its budget-matching helper, and a quick run end to end."""

import math

import pytest

from sims import bandit as exp
from sims import registry


def test_needed_budget_interpolates_the_curve():
  b = (2, 4, 8)
  cov = (0.5, 0.7, 0.9)
  assert exp._needed(b, cov, 0.5) == 2.0
  assert math.isclose(exp._needed(b, cov, 0.6), 3.0)
  assert math.isclose(exp._needed(b, cov, 0.85), 7.0)
  assert exp._needed(b, cov, 0.95) is None
  assert exp._needed(b, cov, 0.1) == 2.0


def test_registered_as_bandit():
  assert "bandit" in registry.load_all()


@pytest.mark.slow
def test_quick_run_renders(tmp_path):
  m = exp.run(registry.Config(n=300, quick=True))
  text = exp.render(m)
  assert "elimination" in text and m["queries"] == 300
  assert exp.figures(m, tmp_path)


def _prop(s, n):
  ci = [s / n - 0.01, s / n + 0.01]
  return {"successes": s, "n": n, "p": s / n, "ci_wilson": ci, "ci_normal": ci}


def test_the_takeaway_closes_the_main_pool_and_quotes_its_counts():
  """The takeaway quotes the main pool's coverage counts and comes before the example-log
  replay's section (it once closed the replay while quoting the main pool)."""
  budgets = [4, 8, 16]
  cov = {"uniform": [30, 40, 50], "elimination": [35, 47, 55], "ucb": [34, 45, 55],
         "gap": [33, 44, 54], "entropy": [32, 43, 52]}
  m = {"queries": 60, "avg_budgets": budgets, "efficiency": {},
       "pool": {"solvable": _prop(55, 60), "mean_p": 0.4, "per_level_queries": [12] * 5},
       "curves": {"ground_truth": {r: {"coverage": [_prop(s, 60) for s in c]}
                                   for r, c in cov.items()}},
       "per_level_at_32": {"ground_truth": {}}, "hard_subset": {"solvable": _prop(20, 24)},
       "replay_example_log": {"queries": 9, "samples_logged": 90, **{
           r: {"8": {"coverage": _prop(7 if r == "uniform" else 2, 9)}} for r in exp.RULES}}}
  text = exp.render(m)
  main, replay = text.split("replay of the example log")
  assert "Takeaway" not in replay
  (line,) = [l for l in main.splitlines() if l.startswith("Takeaway")]
  assert line.startswith("Takeaway (main pool): with the ground-truth oracle at 8 samples "
                         "per query, elimination covers 47/60 queries against uniform's 40/60")
