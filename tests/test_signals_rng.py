"""Signals against NumPy references; tick keys against jax.random."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from compile_count import programs_of
from jaxtick import rng


def test_entropy_matches_numpy():
  logits = np.random.default_rng(0).normal(size=(64, 10)) * 3
  p = np.exp(logits - logits.max(-1, keepdims=True))
  p /= p.sum(-1, keepdims=True)
  ent = -(p * np.log(p)).sum(-1)
  top = np.sort(p, -1)
  with jax.enable_x64(True):
    np.testing.assert_allclose(jt.signals.entropy(logits), ent, rtol=1e-10)
  assert float(jt.signals.entropy(jnp.zeros(4))) == pytest.approx(np.log(4), rel=1e-6)


def test_gap_ratio():
  np.testing.assert_allclose(jt.signals.gap_ratio(jnp.array([-0.5, 0.25]), jnp.array([0.1, 0.1])), [0.2, 0.4], rtol=1e-6)
  assert float(jt.signals.gap_ratio(0.0, 0.1)) == np.inf


def test_fold_in_is_bit_exact():
  """rng.fold_in (our straight-line threefry) == jax.random.fold_in, bit for bit."""
  keys = jax.random.split(jax.random.key(11), 500)
  data = jnp.arange(500, dtype=jnp.uint32) * 2654435 + 7
  want = jax.vmap(jax.random.fold_in)(keys, data)
  got = jax.vmap(rng.fold_in)(keys, data)
  np.testing.assert_array_equal(jax.random.key_data(got), jax.random.key_data(want))
  raw = jax.random.PRNGKey(3)
  np.testing.assert_array_equal(rng.fold_in(raw, 99), jax.random.fold_in(raw, 99))
  assert jt.tick_key(keys[0], 4) == jax.random.fold_in(keys[0], 5) or np.array_equal(
      jax.random.key_data(jt.tick_key(keys[0], 4)), jax.random.key_data(jax.random.fold_in(keys[0], 5)))


def test_tick_bits_are_the_episode_bit_stream():
  """Tick t's bits == jax.random.bits(episode key, (T,))[t + 1].

  This layout of jax.random.bits holds under jax_threefry_partitionable (on by default
  since JAX 0.5), so the check sets it explicitly rather than rely on the default.
  """
  key = jax.random.key(5)
  with jax.threefry_partitionable(True):
    stream = jax.random.bits(key, (40,), jnp.uint32)
  mine = jax.vmap(lambda t: rng.bits(jt.tick_key(key, t)))(jnp.arange(39))
  np.testing.assert_array_equal(mine, stream[1:])


def test_tick_uniforms_are_uniform():
  keys = jax.random.split(jax.random.key(2), 200_000)
  u = np.asarray(jax.vmap(rng.uniform)(keys))
  assert u.min() >= 0 and u.max() < 1
  counts = np.histogram(u, bins=20, range=(0, 1))[0]
  chi2 = ((counts - 10_000) ** 2 / 10_000).sum()
  assert chi2 < 43.8  # chi-square, 19 dof, 0.999 quantile


def test_coin_flips_follow_the_stream():
  """The coin's t-th flip is uniform(bits(episode stream)[t + 1]) < p (NumPy reference)."""
  agent = jt.agents.coin()
  key = jax.random.key(8)
  p = 0.37
  res = jt.run_price(agent, jnp.float32(p), key, 0.0, max_ticks=30, min_ticks=30)
  with jax.threefry_partitionable(True):  # the layout rng.bits reproduces
    bits = np.asarray(jax.random.bits(key, (31,), jnp.uint32))[1:].astype(np.uint64)
  u = ((bits >> 9) / 2.0 ** 23)
  assert int(res.state.heads) == int(np.sum(u < np.float32(p)))


def test_repeated_rng_calls_build_no_new_program():
  """Outside jit, each of fold_in, bits, uniform and bernoulli is one compiled program
  per key shape: a first call builds at most one, another key, tick or probability
  builds nothing."""
  for key in (jax.random.key(1), jax.random.PRNGKey(1)):
    for k in (key, jax.random.fold_in(key, 3)):
      for fn, args in ((rng.fold_in, (1,)), (rng.bits, ()), (rng.uniform, ()),
                       (rng.bernoulli, (0.5,))):
        assert programs_of(fn, k, *args) <= 1, fn
    k2 = jax.random.fold_in(key, 7)
    assert programs_of(rng.fold_in, k2, 12) == 0
    assert programs_of(rng.bits, k2) == 0
    assert programs_of(rng.uniform, k2) == 0
    assert programs_of(rng.bernoulli, k2, 0.25) == 0
