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
