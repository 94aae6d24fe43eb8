"""E4 end to end at a tiny size: table structure, derived numbers, rendering."""

import pytest

from sims import registry
from sims.e4_mcts import FIXED, SPEC_TABLE4, figures, render, run


@pytest.fixture(scope="module")
def metrics():
  return run(registry.Config(seed=3, n=12, quick=True))


def test_tables_and_derived_numbers(metrics):
  n = metrics["episodes"]
  assert n == 12
  assert [r["z"] for r in metrics["table4"]] == [0.9, 1.0, 1.1]
  for r in metrics["sweep"]:
    assert 4 <= r["min_sims"] <= r["mean_sims"] <= r["max_sims"] <= FIXED
    assert r["speedup"] == pytest.approx(FIXED / r["mean_sims"])
    for key in ("agreement_oracle", "agreement_exact"):
      assert r[key]["n"] == n
      assert r[key]["p"] == r[key]["successes"] / n
  # A larger z never stops earlier on the same episodes: mean sims is monotone.
  sims = [r["mean_sims"] for r in metrics["sweep"]]
  assert all(b >= a for a, b in zip(sims, sims[1:]))
  assert [r["sims"] for r in metrics["table5"]] == [8, 24]
  assert metrics["table5"][0]["compute"] == pytest.approx(1 / 3)
  assert len(metrics["fixed_curve"]) == FIXED
  assert metrics["table5"][1] == metrics["fixed_curve"][FIXED - 1]
  assert metrics["chance_agreement"] == 0.25


def test_render_and_figures(metrics, tmp_path):
  text = render(metrics)
  for z, row in SPEC_TABLE4.items():
    assert f"{row[4]:8.4f}" in text and f"{row[5]:7.4f}" in text
  assert "0.3667" in text  # Table 5 of the specification beside ours
  assert "Second family" not in text  # --quick runs the main family only
  two = dict(metrics, single_player=dict(metrics, sweep=metrics["table4"]))
  assert "Second family" in render(two)
  paths = figures(metrics, tmp_path)
  assert len(paths) == 3 and all(p.exists() and p.stat().st_size > 0 for p in paths)


@pytest.mark.slow
def test_same_seed_same_metrics(metrics):
  again = run(registry.Config(seed=3, n=12, quick=True))
  assert again == metrics
