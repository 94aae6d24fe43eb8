"""Scale-out: the episode axis split over devices (and processes).

Under a fixed price the allocation problem decomposes per episode, so a batch
shards with no communication: :func:`run_price_sharded` gives each device a
contiguous block of episodes and runs :func:`jaxtick.run_price_batch` on it
(each device refills its own lanes), and :func:`front_sharded` computes a
:func:`jaxtick.front` per block and sums the counts (one ``psum``), through
``jax.shard_map`` -- JAX's own SPMD, so the same code runs on one CPU,
several GPUs, or several hosts under ``jax.distributed``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

import functools

from jaxtick import _checks, values
from jaxtick import fronts as _front
from jaxtick.api import Agent, CalibMap, PRNGKey, Problem
from jaxtick.calibrate import Identity
from jaxtick.schedule import PriceResult, run_price_batch

AXIS = "episodes"


def episode_mesh(devices=None, *, num_devices: int | None = None) -> jax.sharding.Mesh:
  """A 1-D mesh named ``"episodes"``.

  Args:
    devices: the devices (default: all, over every process).
    num_devices: use only the first this many of them (default: all).
  """
  devices = jax.devices() if devices is None else list(devices)
  if not devices:
    raise ValueError("need at least one device")
  if num_devices is not None:
    if isinstance(num_devices, bool) or not isinstance(num_devices, int) or num_devices < 1:
      raise ValueError(f"num_devices must be a positive int, got {num_devices!r}")
    if num_devices > len(devices):
      raise ValueError(f"num_devices={num_devices} requested but only {len(devices)} "
                       f"device(s) exist ({devices[0].platform}); on CPU set XLA_FLAGS="
                       f"--xla_force_host_platform_device_count=N before importing jax")
    devices = devices[:num_devices]
  return jax.sharding.Mesh(devices, (AXIS,))


def _check_mesh(mesh):
  mesh = episode_mesh() if mesh is None else mesh
  if mesh.axis_names != (AXIS,):
    raise ValueError(f"mesh must be 1-D with axis name {AXIS!r}, got {mesh.axis_names}")
  return mesh


def _pad_to(n, devices):
  padded = -(-n // devices) * devices
  def pad(x):
    if padded == n:
      return x
    return jnp.concatenate([x, jnp.repeat(x[-1:], padded - n, axis=0)])
  return padded, pad


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
  _checks.check_callable("calib", calib)
  _checks.check_agent(agent, problems, keys, batched=True)
  mesh = _check_mesh(mesh)
  prices = jnp.broadcast_to(jnp.asarray(price, jnp.result_type(float)), (n,))
  return _run_price_sharded(agent, problems, keys, prices, calib, mesh=mesh,
                            max_ticks=max_ticks, min_ticks=min_ticks, lanes=lanes,
                            refill_fraction=refill_fraction)


@functools.partial(values.jit, static_argnames=(
    "mesh", "max_ticks", "min_ticks", "lanes", "refill_fraction"))
def _run_price_sharded(agent, problems, keys, prices, calib, *, mesh, max_ticks,
                       min_ticks, lanes, refill_fraction):
  n = keys.shape[0]
  _, pad = _pad_to(n, mesh.devices.size)
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


def front_sharded(agent: Agent, problems: Problem, keys: PRNGKey, prices, *,
                  max_ticks: int, min_ticks: int = 0, calib: CalibMap = Identity(),
                  score=None, episodes: bool = False, method: str = "auto",
                  chunk: int = _front.DEFAULT_CHUNK, lanes: int = 8192,
                  mesh: jax.sharding.Mesh | None = None) -> _front.Front:
  """:func:`jaxtick.front` with the episode axis split over devices.

  Each device reads its block of episodes (padding by repeating the last
  episode, excluded from the counts); the per-price counts are summed with one
  ``psum``; per-episode results stay sharded along the episode axis. Equal to
  :func:`jaxtick.front` on one device.

  Args:
    agent, problems, keys, prices, max_ticks, min_ticks, calib, score,
      episodes, method, chunk, lanes: as in :func:`jaxtick.front`.
    mesh: a 1-D mesh with axis ``"episodes"`` (default: all devices;
      :func:`episode_mesh` picks a number of them).

  Returns:
    A :class:`jaxtick.Front`.
  """
  n, fn, labels, method = _front.prepare(
      agent, problems, keys, prices, max_ticks=max_ticks, min_ticks=min_ticks, score=score,
      method=method, chunk=chunk, calib=calib, episodes=episodes, lanes=lanes)
  mesh = _check_mesh(mesh)
  prices = jnp.asarray(prices, jnp.result_type(float))
  total, per = _front_sharded(agent, calib, fn, problems, keys, labels, prices, mesh=mesh,
                              max_ticks=max_ticks, min_ticks=min_ticks, method=method,
                              chunk=chunk, lanes=lanes, episodes=episodes)
  return _front.assemble(prices, jnp.asarray(n, jnp.int32), total, per, score is not None)


@functools.partial(values.jit, static_argnames=(
    "mesh", "max_ticks", "min_ticks", "method", "chunk", "lanes", "episodes"))
def _front_sharded(agent, calib, score, problems, keys, labels, prices, *,
                   mesh, max_ticks, min_ticks, method, chunk, lanes, episodes):
  n = keys.shape[0]
  padded, pad = _pad_to(n, mesh.devices.size)
  prices = jnp.asarray(prices, jnp.result_type(float))
  args = jax.tree_util.tree_map(pad, (problems, keys, labels))
  valid = jnp.arange(padded) < n

  def local(problems, keys, labels, valid, prices, calib):
    total, per = _front.read_front(
        agent, calib, score, problems, keys, labels, prices, valid,
        max_ticks=max_ticks, min_ticks=min_ticks, method=method,
        chunk=min(chunk, padded // mesh.devices.size), lanes=lanes, episodes=episodes)
    return jax.lax.psum(total, AXIS), per

  # check_vma=False: the loop carries start from constants and become
  # per-device values; the only communication is the psum of the counts.
  total, per = jax.shard_map(
      local, mesh=mesh, in_specs=(P(AXIS), P(AXIS), P(AXIS), P(AXIS), P(), P()),
      out_specs=(P(), P(AXIS)), check_vma=False)(*args, valid, prices, calib)
  if per is not None and padded > n:
    per = jax.tree_util.tree_map(lambda x: x[:n], per)
  return total, per  # assembled outside by fronts.assemble, as jaxtick.front does
