"""Tests for experiment E3 and its benchmark's references.

Known answers: gambler's-ruin closed forms for the exact SPRT dynamic program,
and the gap test agent on the same observation streams as the benchmark's
NumPy references.
"""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick import rng
from jaxtick.agents import sequential as sq
from sims import e3_sequential as e3
from sims import registry, report
from sims.bench import sequential as bench


def test_exact_dp_equals_gamblers_ruin():
  """p0 = 0.4, p1 = 0.6, alpha = beta = 0.05: S_n moves by +-ln 1.5 and the
  boundaries +-ln 19 are first crossed at +-8 steps: a simple random walk from
  8 absorbed at 0 and 16."""
  for theta in (0.3, 0.4, 0.5, 0.6, 0.7):
    oc, asn = e3._exact_bernoulli(theta, 0.4, 0.6, 0.05, 0.05, 3000)
    up, down = theta, 1 - theta
    if up == down:
      top, dur = 0.5, 64.0
    else:
      r = down / up
      top = (1 - r ** 8) / (1 - r ** 16)
      dur = 8 / (down - up) - 16 / (down - up) * top
    np.testing.assert_allclose(oc, 1 - top, rtol=1e-9)
    np.testing.assert_allclose(asn, dur, rtol=1e-7)


class _Stub:
  """A stand-in for numpy's Generator that replays given uniforms."""

  def __init__(self, flat=None, block=None):
    self.flat, self.pos, self.block = flat, 0, block

  def random(self, size=None, dtype=None):
    if size is None:
      self.pos += 1
      return self.flat[self.pos - 1]
    return self.block[:size[0]].astype(dtype)


def test_benchmark_references_make_the_agents_decisions_on_its_streams():
  n = 300
  theta = jt.problems.bernoulli_pairs(jax.random.key(7), n)
  keys = jax.random.split(jax.random.key(8), n)
  agent = sq.gap_test(min_samples=bench.MIN_SAMPLES)
  res = jax.jit(lambda p, k: jt.run_price_batch(
      agent, p, k, jt.price_from_z(bench.Z), max_ticks=bench.MAX_TICKS))(theta, keys)
  ticks = np.asarray(res.ticks)
  out = np.asarray(jax.vmap(agent.output)(res.state))
  u = np.asarray(jax.vmap(lambda k: jax.vmap(
      lambda t: rng.uniform(jt.tick_key(k, t)))(jnp.arange(bench.MAX_TICKS)))(keys))
  theta_np = np.asarray(theta)
  # The loop consumes each episode's stream up to its stop.
  flat = np.concatenate([u[i, :ticks[i]] for i in range(n)])
  total, dec = bench._numpy_loop(theta_np, _Stub(flat=flat), bench.Z)
  assert total == ticks.sum()
  np.testing.assert_array_equal(dec, out)
  total, dec = bench._numpy_vectorised(theta_np, _Stub(block=u), bench.Z)
  assert total == ticks.sum()
  np.testing.assert_array_equal(dec, out)


def test_e3_runs_small_and_reports_consistently():
  config = registry.Config(seed=3, n=40, quick=True)
  m = e3.run(config)
  json.dumps(report.to_jsonable(m), allow_nan=False)
  assert [r["z"] for r in m["table3"]] == list(e3.ZS)
  for r in m["table3"]:
    assert r["adaptive"]["n"] == r["fixed"]["n"] == 40
    assert e3.MIN_SAMPLES <= r["mean_samples"] <= e3.MAX_TICKS
    assert math.isclose(r["speedup"], e3.FIXED / r["mean_samples"])
    mc = r["mcnemar_adaptive_vs_fixed"]
    diff = r["adaptive"]["successes"] - r["fixed"]["successes"]
    assert mc["b"] - mc["c"] == diff  # discordant pairs explain the difference
  # The second setting (a larger minimum) on the same pairs and streams: fixed-32 is the
  # same, and no episode stops earlier than it did with the smaller minimum.
  for r, a in zip(m["table3"], m["table3_min_samples_alt"]):
    assert a["fixed"] == r["fixed"]
    assert e3.MIN_SAMPLES_ALT <= a["mean_samples"] and a["mean_samples"] >= r["mean_samples"]
    for row, least in ((r, e3.MIN_SAMPLES), (a, e3.MIN_SAMPLES_ALT)):
      am = row["at_minimum"]
      assert 0 <= am["episodes"] <= 40
      # Everyone at the minimum spent exactly it, the rest more: mean >= minimum, with
      # equality iff all stopped there.
      assert (row["mean_samples"] == least) == (am["episodes"] == 40)
  # Mean samples never fall as z rises (same episodes in the sweep).
  samples = [r["mean_samples"] for r in m["sweep"]["adaptive"]]
  assert all(a <= b + 1e-12 for a, b in zip(samples, samples[1:]))
  for s in m["sprt"]:
    assert s["grid"][2]["theta"] == s["theta0"] and s["grid"][6]["theta"] == s["theta1"]
  text = e3.render(m)
  for spec in ("0.7350", "3.0888", "0.8400", "15.27"):
    assert spec in text


@pytest.mark.slow
def test_e3_same_seed_same_metrics():
  config = registry.Config(seed=5, n=20, quick=True)
  assert e3.run(config) == e3.run(config)
