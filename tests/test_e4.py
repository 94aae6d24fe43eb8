"""E4 end to end at a tiny size: every row against an independent tick-by-tick search and
NumPy minimax; rendering."""

import jax
import numpy as np
import pytest

import jaxtick as jt
from sims import registry
from sims.e4_mcts import (BRANCHING, CAP_ALT, DEPTH, EXPLORATION, FIXED, SPEC_TABLE4, figures,
                          render, run)


@pytest.fixture(scope="module")
def metrics():
  return run(registry.Config(seed=3, n=12, quick=True))


def _minimax_best(leaves, A, D):
  """Best root action of a two-player tree by NumPy minimax over its level-ordered leaves."""
  v = np.asarray(leaves, np.float64)
  for depth in range(D - 1, 0, -1):  # back up to the root's children
    v = v.reshape(-1, A)
    v = v.min(-1) if depth % 2 == 1 else v.max(-1)
  return int(np.argmax(v))


@pytest.fixture(scope="module")
def episodes(metrics):
  """Each episode searched tick by tick in a Python loop: the uncertainty and the decision
  after every simulation, and the exact optimum. Same trees and keys as the experiment
  (its documented derivation: seed -> fold_in 4 -> fold_in two_player -> 3 keys)."""
  n = metrics["episodes"]
  key = jax.random.fold_in(jax.random.fold_in(jax.random.key(3), 4), 1)
  kp, ke, _ = jax.random.split(key, 3)
  problems = jt.problems.game_tree_problems(kp, n)
  keys = jax.random.split(ke, n)
  env = jt.problems.game_tree_env(BRANCHING, DEPTH, two_player=True)
  # Room for CAP_ALT simulations; the first 24 are those of a 24-simulation search.
  agent = jt.agents.mcts(env, CAP_ALT, exploration=EXPLORATION,
                         prior_var=jt.problems.game_tree_return_var(DEPTH))
  tick, unc, out = jax.jit(agent.tick), jax.jit(agent.uncertainty), jax.jit(agent.output)
  u, d, exact = np.zeros((n, CAP_ALT), np.float32), np.zeros((n, CAP_ALT), int), []
  for e in range(n):
    p = jax.tree_util.tree_map(lambda x: x[e], problems)
    s = agent.init(p, jt.init_key(keys[e]))
    for t in range(CAP_ALT):
      s = tick(s, jt.tick_key(keys[e], t))
      u[e, t], d[e, t] = float(unc(s)), int(out(s))
    exact.append(_minimax_best(jt.problems.game_tree_leaf_values(p, BRANCHING, DEPTH),
                               BRANCHING, DEPTH))
  return u, d, np.array(exact)


def test_rows_against_a_tick_by_tick_search(metrics, episodes):
  """Stopping ticks, decisions and agreement counts of every adaptive row and every
  fixed budget, recomputed from the Python-loop searches and NumPy minimax."""
  u, d, exact = episodes
  n = metrics["episodes"]
  assert n == 12
  for b, row in enumerate(metrics["fixed_curve"], 1):
    assert row["sims"] == b
    assert row["agreement_exact"]["successes"] == int(np.sum(d[:, b - 1] == exact))
  assert [r["sims"] for r in metrics["table5"]] == [8, 24]
  fixed24 = d[:, FIXED - 1] == exact
  assert {r["z"] for r in metrics["table4"]} == {0.9, 1.0, 1.1}
  rows = [(r, FIXED) for r in metrics["sweep"]]
  rows += [(r, CAP_ALT) for r in metrics["table4_cap_alt"]]
  assert [r["z"] for r, cap in rows if cap == CAP_ALT] == [0.9, 1.0, 1.1]
  for row, cap in rows:
    # Stop after the first simulation whose uncertainty is <= 1/z (gap >= z SE), at the cap.
    thr = np.float32(1.0) / np.float32(row["z"])
    stop = np.array([next((t + 1 for t in range(cap) if u[e, t] <= thr), cap)
                     for e in range(n)])
    assert row["mean_sims"] == pytest.approx(stop.mean(), rel=1e-12)
    if cap == FIXED:
      assert (row["min_sims"], row["max_sims"]) == (stop.min(), stop.max())
    else:
      assert row["beyond_24"] == int(np.sum(stop > FIXED))
    assert row["capped"] == int(np.sum(stop == cap))
    adaptive = d[np.arange(n), stop - 1] == exact
    assert row["agreement_exact"]["successes"] == int(adaptive.sum())
    m = row["mcnemar_vs_fixed24_exact"]
    assert (m["b"], m["c"]) == (int(np.sum(adaptive & ~fixed24)), int(np.sum(~adaptive & fixed24)))
  assert any(r["min_sims"] < r["max_sims"] for r in metrics["sweep"])  # stopping varies


def test_render_and_figures(metrics, tmp_path):
  text = render(metrics)
  for z, row in SPEC_TABLE4.items():
    assert f"{row[4]:8.4f}" in text and f"{row[5]:7.4f}" in text
  assert "0.3667" in text  # Table 5 of the specification beside ours
  assert "Second family" not in text  # --quick runs the main family only
  two = dict(metrics, single_player=dict(metrics, sweep=metrics["table4"]))
  assert "Second family" in render(two)
  paths = figures(metrics, tmp_path)
  assert len(paths) == 2 and all(p.exists() and p.stat().st_size > 0 for p in paths)


@pytest.mark.slow
def test_same_seed_same_metrics(metrics):
  again = run(registry.Config(seed=3, n=12, quick=True))
  assert again == metrics
