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
