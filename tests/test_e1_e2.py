"""Tests of the E1/E2 experiment code: McNemar from correctness vectors, fronts, domination."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick.models import multi_exit
from sims import e1_early_exit as e1
from sims import e2_multi_head as e2
from sims import registry


def _vec(bits):
  return np.array([ch == "1" for ch in bits])


def test_e2_mcnemar_counts_equal_direct_counts():
  logits, labels = e1.synthetic_source(0, 300)
  agent = jt.agents.exit_heads(jt.agents.logit_table(3, 10))
  t = e2.table(agent, jnp.asarray(logits), logits, labels)
  vecs = {k: _vec(v) for k, v in t["per_instance_correct"].items()}
  # Baselines: each head's own correctness, recomputed here.
  for j, name in enumerate(("early", "deepA", "full")):
    np.testing.assert_array_equal(vecs[name], logits[:, j].argmax(-1) == labels)
  np.testing.assert_array_equal(vecs["budget1"], vecs["early"])
  # A budget-2 dynamic run is right where the head it stopped at is right.
  for name, thr in e2.THRESHOLDS.items():
    p = np.exp(logits[:, 0] - logits[:, 0].max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ent = -(p * np.log(p)).sum(-1)
    refine = ent > thr
    np.testing.assert_array_equal(vecs[name], np.where(refine, vecs["deepA"], vecs["early"]))
    d = t["derived"][name]
    assert d["refined"] == refine.sum()
    assert d["p_sel"]["successes"] == vecs["deepA"][refine].sum()
  for row_name, row in t["rows"].items():
    assert row["accuracy"]["successes"] == vecs[row_name].sum()
  for test in t["mcnemar"]:
    a, b = vecs[test["a"]], vecs[test["b_name"]]
    assert test["b"] == int(np.sum(a & ~b)) and test["c"] == int(np.sum(~a & b))
    assert test["n"] == test["b"] + test["c"]
    # Exact two-sided binomial p-value, by direct summation.
    from math import comb
    k, n = min(test["b"], test["c"]), test["n"]
    p = 1.0 if n == 0 else min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2 ** n)
    assert test["p"] == pytest.approx(p, rel=1e-9)


def test_pareto_indices_brute_force():
  rng = np.random.default_rng(0)
  compute = rng.integers(0, 20, 200) / 20
  acc = rng.integers(0, 30, 200) / 30
  front = set(jt.pareto_indices(compute, acc))
  for i in range(200):
    dominated = np.any((compute <= compute[i]) & (acc >= acc[i]) &
                       ((compute < compute[i]) | (acc > acc[i])))
    # On the front iff not dominated (one representative per duplicate point).
    if dominated:
      assert i not in front
  reps = {(compute[i], acc[i]) for i in front}
  undominated = {(compute[i], acc[i]) for i in range(200)
                 if not np.any((compute <= compute[i]) & (acc >= acc[i]) &
                               ((compute < compute[i]) | (acc > acc[i])))}
  assert reps == undominated


def _numpy_exit_sweep(logits, labels, thresholds, signal):
  """Exit at the first head whose signal (of its own softmax) is <= thr, else the last;
  returns (relative compute, correct count) per threshold. Plain NumPy loops."""
  n, k, _ = logits.shape
  z = logits.astype(np.float64)
  p = np.exp(z - z.max(-1, keepdims=True))
  p /= p.sum(-1, keepdims=True)
  if signal == "entropy":
    u = -(p * np.log(np.maximum(p, 1e-300))).sum(-1)
  else:
    top = np.sort(p, -1)
    u = 1 - (top[..., -1] - top[..., -2])
  compute, correct = [], []
  for thr in thresholds:
    heads, right = 0, 0
    for i in range(n):
      j = next((j for j in range(k) if u[i, j] <= thr), k - 1)
      heads += j + 1
      right += int(logits[i, j].argmax() == labels[i])
    compute.append(heads / (n * k))
    correct.append(right)
  return np.array(compute), np.array(correct)


@pytest.mark.parametrize("signal", ["entropy", "margin"])
def test_sweep_and_domination_against_a_numpy_loop(signal):
  """Each threshold's compute and accuracy, and for each fixed depth the best adaptive
  accuracy at no more compute, against a brute-force NumPy loop."""
  logits, labels = e1.synthetic_source(1, 150)
  out = e1.sweep_source(logits, labels, num_thresholds=24)
  st = out["signals"][signal]
  thr = np.asarray(st["thresholds"], np.float32)
  compute, correct = _numpy_exit_sweep(logits, labels, thr.astype(np.float64), signal)
  np.testing.assert_allclose(st["relative_compute"], compute, rtol=1e-12)
  np.testing.assert_array_equal(st["correct"], correct)
  for j, d in enumerate(st["domination"]):
    fixed = int(np.sum(logits[:, j].argmax(-1) == labels))
    assert d["fixed_correct"] == fixed
    best = max(c for x, c in zip(compute, correct) if x <= (j + 1) / 3 + 1e-12)
    assert d["best_adaptive_correct"] == best and d["gap_correct"] == best - fixed
  assert st["extremes"]["thr_max_equals_shallow"] == (correct[-1] == out["fixed_depth"][0]["accuracy"]["successes"])
  assert st["extremes"]["thr_zero_equals_full"] == (correct[0] == out["fixed_depth"][-1]["accuracy"]["successes"])


@pytest.mark.slow
def test_experiments_quick_are_deterministic_and_render():
  exps = registry.load_all()
  for name in ("e1", "e2"):
    cfg = registry.Config(seed=3, quick=True)
    m1 = exps[name].run(cfg)
    text = exps[name].render(m1)
    assert "spec" in text and "0.9583" in text
    e1.digits_model.cache_clear()
    assert exps[name].run(cfg) == m1
