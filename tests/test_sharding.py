"""The episode axis over several (simulated) devices gives each episode its own result."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np

import jaxtick as jt

SCRIPT = textwrap.dedent("""
    import jax, numpy as np, jaxtick as jt
    assert jax.device_count() == 4, jax.devices()
    agent = jt.agents.coin()
    n = 1003  # not a multiple of 4: padded, then dropped
    probs = jt.problems.coin_problems(jax.random.key(0), n)
    keys = jax.random.split(jax.random.key(1), n)
    prices = np.linspace(0.3, 1.2, n)
    alone = jax.vmap(lambda p, k, lam: jt.run_price(agent, p, k, lam, max_ticks=24, min_ticks=1))(probs, keys, prices)
    res = jax.jit(lambda p, k, lam: jt.run_price_sharded(agent, p, k, lam, max_ticks=24, min_ticks=1, lanes=64))(probs, keys, prices)
    np.testing.assert_array_equal(res.ticks, alone.ticks)
    np.testing.assert_array_equal(res.state.heads, alone.state.heads)
    np.testing.assert_allclose(res.cost, alone.cost)
    print("OK", res.ticks.shape)
""")


def test_sharded_over_four_cpu_devices_equals_each_episode_alone():
  # the suite's XLA flags (tests/conftest.py) plus the fake devices
  env = dict(os.environ,
             XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4",
             JAX_PLATFORMS="cpu")
  r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
  assert r.returncode == 0, r.stderr[-2000:]
  assert "OK (1003,)" in r.stdout


def test_sharded_on_one_device_and_bad_mesh():
  agent = jt.agents.coin()
  probs = jt.problems.coin_problems(jax.random.key(0), 50)
  keys = jax.random.split(jax.random.key(1), 50)
  a = jt.run_price_sharded(agent, probs, keys, 0.7, max_ticks=16)
  b = jt.run_price_batch(agent, probs, keys, 0.7, max_ticks=16)
  np.testing.assert_array_equal(a.ticks, b.ticks)
  bad = jax.sharding.Mesh(jax.devices(), ("x",))
  try:
    jt.run_price_sharded(agent, probs, keys, 0.7, max_ticks=16, mesh=bad)
  except ValueError as e:
    assert "episodes" in str(e)
  else:
    raise AssertionError("expected ValueError")


FRONT_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np, chex, jaxtick as jt
    assert jax.device_count() == 4, jax.devices()
    agent = jt.agents.coin()
    prices = jnp.array([0.0, 0.4, 0.4, 1.1, jnp.inf])
    for n in (1003, 1000):  # padded, and an exact multiple of 4
      probs = jt.problems.coin_problems(jax.random.key(0), n)
      keys = jax.random.split(jax.random.key(1), n)
      for method in ("trace", "batch"):
        kw = dict(max_ticks=24, min_ticks=1, score=probs > 0.5, episodes=True, method=method)
        one = jt.front(agent, probs, keys, prices, chunk=100, **kw)
        sharded = jt.front_sharded(agent, probs, keys, prices, chunk=100, lanes=64, **kw)
        chex.assert_trees_all_equal(jax.device_get(one), jax.device_get(sharded))
        if n == 1000:  # per-episode results really live on four devices
          assert len(sharded.ticks.sharding.device_set) == 4, sharded.ticks.sharding
          assert not sharded.ticks.sharding.is_fully_replicated
    two = jt.front_sharded(agent, probs, keys, prices, max_ticks=24, min_ticks=1,
                           mesh=jt.episode_mesh(num_devices=2), score=probs > 0.5)
    np.testing.assert_array_equal(two.correct, one.correct)
    try:
      jt.episode_mesh(num_devices=5)
    except ValueError as e:
      assert "only 4 device" in str(e), e
    else:
      raise AssertionError("expected ValueError")
    print("FRONT OK")
""")


def test_sharded_front_over_four_cpu_devices_equals_the_single_device_front():
  # the suite's XLA flags (tests/conftest.py) plus the fake devices
  env = dict(os.environ,
             XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4",
             JAX_PLATFORMS="cpu")
  r = subprocess.run([sys.executable, "-c", FRONT_SCRIPT], capture_output=True,
                     text=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
  assert r.returncode == 0, r.stderr[-3000:]
  assert "FRONT OK" in r.stdout


def test_more_devices_than_exist_is_a_value_error():
  import pytest
  with pytest.raises(ValueError, match="device"):
    jt.episode_mesh(num_devices=jax.device_count() + 1)
  with pytest.raises(ValueError, match="positive int"):
    jt.episode_mesh(num_devices=0)
