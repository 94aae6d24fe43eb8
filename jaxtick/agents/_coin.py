"""A coin flipped until its bias is clear: the smallest useful Tick agent.

The problem is the coin's heads probability ``p`` (f[]); each tick flips it
once. The question is whether ``p > 1/2``. The uncertainty is the Wald-style
``SE / |gap|`` with ``gap = p_hat - 1/2`` and ``SE = sqrt(p_tilde (1 - p_tilde) / n)``,
where ``p_tilde = (heads + 1) / (n + 2)`` keeps the SE positive after a run of
equal flips; the price rule with price ``1/z`` stops when ``|gap| >= z * SE``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax.tree_util import Partial

from jaxtick import _checks, rng, signals
from jaxtick.api import Agent, Array


class CoinState(NamedTuple):
  """Attributes: p (f[]) the coin; flips (i32[]) and heads (i32[]) so far."""

  p: Array
  flips: Array
  heads: Array


def coin(cost: float = 1.0) -> Agent:
  """A Tick agent that flips a coin of bias ``p`` once per tick.

  A NaN bias (traced, so not refused at the runners' boundary) gives a NaN
  uncertainty: the price rule stops at once and counts the episode in its
  result's ``nan``.

  The agent is a value: its functions are module-level, its cost an array
  bound with ``jax.tree_util.Partial``, so every coin agent -- whatever its
  cost -- shares one compiled program in every runner.

  Args:
    cost: the cost of one flip.
  """
  _checks.check_scalar("cost", cost)
  _checks.check_positive("cost", cost)
  c = jnp.asarray(cost, jnp.result_type(float))
  return Agent(Partial(_init), Partial(_tick), Partial(_uncertainty),
               Partial(_output), Partial(_cost, c))


def _init(p, key):
  del key
  zero = jnp.zeros((), jnp.int32)
  return CoinState(jnp.asarray(p, jnp.result_type(float)), zero, zero)


def _tick(state, key):
  flip = rng.bernoulli(key, state.p)  # the episode's bit-stream element t+1
  return state._replace(flips=state.flips + 1,
                        heads=state.heads + flip.astype(jnp.int32))


def _uncertainty(state):
  n = jnp.maximum(state.flips, 1).astype(state.p.dtype)
  p_hat = state.heads / n
  p_tilde = (state.heads + 1) / (n + 2)
  se = jnp.sqrt(p_tilde * (1 - p_tilde) / n)
  u = signals.gap_ratio(p_hat - 0.5, se)
  # A NaN bias flips tails forever: say so with a NaN signal (the runners count it).
  return jnp.where(jnp.isnan(state.p), jnp.nan, jnp.where(state.flips > 0, u, jnp.inf))


def _output(state):
  return 2 * state.heads > state.flips


def _cost(c, state):
  return c.astype(state.p.dtype)
