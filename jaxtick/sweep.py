"""Scale-out: the episode axis split over devices.

Under a fixed price the allocation problem decomposes per episode, so a batch
shards with no communication: :func:`run_price_sharded` gives each device a
contiguous block of episodes and runs :func:`jaxtick.run_price_batch` on it
(each device refills its own lanes), through ``jax.shard_map`` -- JAX's own
SPMD, so the same code runs on one CPU, several GPUs, or several hosts under
``jax.distributed``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from jaxtick import _checks
from jaxtick.api import Agent, CalibMap, PRNGKey, Problem
from jaxtick.calibrate import Identity
from jaxtick.schedule import PriceResult, run_price_batch

AXIS = "episodes"


def episode_mesh(devices=None) -> jax.sharding.Mesh:
  """A 1-D mesh named ``"episodes"`` over ``devices`` (default: all)."""
  devices = jax.devices() if devices is None else list(devices)
  if not devices:
    raise ValueError("need at least one device")
  return jax.sharding.Mesh(devices, (AXIS,))


def run_price_sharded(agent: Agent, problems: Problem, keys: PRNGKey, price, *,
                      max_ticks: int, min_ticks: int = 0,
                      calib: CalibMap = Identity(), lanes: int = 8192,
                      refill_fraction: float = 0.5,
                      mesh: jax.sharding.Mesh | None = None) -> PriceResult:
  """:func:`jaxtick.run_price_batch` with the episode axis split over devices.

  Episodes are padded (by repeating the last one) to a multiple of the device
  count, each device runs its block with up to ``lanes`` lanes, and the
  padding is dropped: every episode's result equals running it alone.

  Args:
    agent, problems, keys, price, max_ticks, min_ticks, calib, lanes,
      refill_fraction: as in :func:`jaxtick.run_price_batch`.
    mesh: a 1-D mesh with axis ``"episodes"`` (default: all devices).

  Returns:
    A :class:`jaxtick.PriceResult` with leading axis n.
  """
  _checks.check_ticks(min_ticks, max_ticks)
  n = _checks.check_batch(problems, keys, price)
  mesh = episode_mesh() if mesh is None else mesh
  if mesh.axis_names != (AXIS,):
    raise ValueError(f"mesh must be 1-D with axis name {AXIS!r}, got {mesh.axis_names}")
  devices = mesh.devices.size
  padded = -(-n // devices) * devices
  pad = lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], padded - n, axis=0)]) if padded > n else x
  prices = jnp.broadcast_to(jnp.asarray(price, jnp.result_type(float)), (n,))
  args = jax.tree_util.tree_map(pad, (problems, keys, prices))

  def local(problems, keys, prices):
    return run_price_batch(agent, problems, keys, prices, max_ticks=max_ticks,
                           min_ticks=min_ticks, calib=calib, lanes=lanes,
                           refill_fraction=refill_fraction)

  # check_vma=False: the loop carries start from constants and become
  # per-device values; nothing is communicated, so there is nothing to check.
  out = jax.shard_map(local, mesh=mesh, in_specs=P(AXIS), out_specs=P(AXIS),
                      check_vma=False)(*args)
  return jax.tree_util.tree_map(lambda x: x[:n], out)
