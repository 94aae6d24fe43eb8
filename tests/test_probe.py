"""Accuracy probe: soft-label training, Platt on held-out data, ECE/Brier."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtick.alloc import probe as pb
from jaxtick.alloc import strategies as st
from jaxtick.problems import pools


def test_ece_and_brier_match_numpy():
  rng = np.random.default_rng(0)
  pred = rng.random((50, 4)).astype(np.float32)
  out = (rng.random((50, 4)) < pred).astype(np.float32)
  p, o = pred.ravel(), out.ravel()
  b = np.minimum((p * 10).astype(int), 9)
  ref = sum(abs(p[b == k].sum() - o[b == k].sum()) for k in range(10)) / p.size
  assert float(pb.ece(pred, out, 10)) == pytest.approx(ref, rel=1e-5)
  assert float(pb.brier(pred, out)) == pytest.approx(np.mean((p - o) ** 2), rel=1e-5)
  rep = pb.calibration_report(jax.random.key(0), jnp.asarray(pred), jnp.asarray(out), num_boot=200)
  assert rep.ece_ci[0] <= rep.ece_ci[1] and rep.brier_ci[0] <= float(rep.brier) <= rep.brier_ci[1]


def test_platt_lowers_the_probes_held_out_ece():
  pool = pools.query_pool(jax.random.key(1), 900)
  strats = st.make_strategies((1, 4, 16), (), ())
  acc = st.evaluate(pool, strats).acc
  x = st.query_features(jax.random.key(2), pool, noise=1.0)
  g = st.strategy_features(strats)
  y = pb.soft_labels(jax.random.key(3), acc, 4)
  tr, ca, te = slice(0, 300), slice(300, 600), slice(600, 900)
  # A small training split and many steps: the probe overfits (overconfident).
  probe = pb.fit(jax.random.key(4), x[tr], g, y[tr], steps=600, batch_size=256, learning_rate=3e-3)
  before = pb.predict(probe, x[te], g)
  cal = pb.calibrate_platt(probe, x[ca], g, y[ca])
  after = pb.predict(cal, x[te], g)
  e0, e1 = float(pb.ece(before, acc[te])), float(pb.ece(after, acc[te]))
  assert e1 < e0, (e0, e1)
  assert float(pb.brier(after, acc[te])) < float(pb.brier(before, acc[te]))


def test_bad_input():
  x = np.ones((5, 3), np.float32)
  g = np.ones((2, 4), np.float32)
  x[0, 0] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    pb.fit(jax.random.key(0), x, g, np.zeros((5, 2)))
  with pytest.raises(ValueError, match="labels"):
    pb.fit(jax.random.key(0), np.ones((5, 3)), g, np.full((5, 2), 2.0))
