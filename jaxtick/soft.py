"""The soft price rule: a differentiable relaxation of :func:`run_price`.

The hard rule ticks at step t iff ``g_t = calib(u_t) - price * c_t > 0``. The
soft rule ticks with probability ``sigmoid(g_t / tau)`` instead, so the
probability that an episode stops after exactly t ticks,

    P(stop at t) = (prod_{s < t} q_s) (1 - q_t),   q_t = sigmoid(g_t / tau),

and every expectation over it (mean cost, accuracy) is smooth in the price and
in the calibration map's parameters: ``jax.grad`` and optax can tune them. As
``tau -> 0`` the stop distribution collapses onto the hard rule's stopping
tick (ties at ``g_t = 0`` aside).

The relaxation needs the whole trajectory: :func:`trace` runs an episode for
``max_ticks`` ticks with the schedulers' keys and records what the rule reads,
so memory is O(episodes x max_ticks) here, by request.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxtick import _checks
from jaxtick.api import Agent, Array, CalibMap, PRNGKey, Problem
from jaxtick.calibrate import Identity
from jaxtick.schedule import init_key, tick_key


class Trace(NamedTuple):
  """An episode's trajectory over ``max_ticks`` ticks (T = max_ticks).

  Attributes:
    uncertainty: f[T + 1] ``uncertainty`` after t ticks, t = 0..T.
    cost: f[T + 1] ``cost`` of the next tick after t ticks.
    output: [T + 1, ...] ``output`` after t ticks.
  """

  uncertainty: Array
  cost: Array
  output: Array


def trace(agent: Agent, problem: Problem, key: PRNGKey, *, max_ticks: int) -> Trace:
  """Runs ``max_ticks`` ticks of one episode and records its trajectory.

  Uses the same keys as the schedulers, so the first t entries are what
  :func:`jaxtick.run_price` sees on the same episode.
  """
  _checks.check_ticks(0, max_ticks)
  state = agent.init(problem, init_key(key))

  def read(s):
    return agent.uncertainty(s), agent.cost(s), agent.output(s)

  def step(s, t):
    s2 = agent.tick(s, tick_key(key, t))
    return s2, read(s2)

  _, rest = jax.lax.scan(step, state, jnp.arange(max_ticks))
  first = read(state)
  return Trace(*(jnp.concatenate([jnp.expand_dims(f, 0), r]) for f, r in zip(first, rest)))


def stop_probabilities(tr: Trace, price, *, tau, min_ticks: int = 0,
                       calib: CalibMap = Identity()) -> Array:
  """P(the episode stops after exactly t ticks), t = 0..T, under the soft rule.

  Args:
    tr: a :class:`Trace` (no batch axis; vmap for batches).
    price: f[] the price lambda.
    tau: f[] > 0, the temperature; smaller is closer to the hard rule.
    min_ticks: static; ticks below it are always taken.
    calib: calibration map (its parameters may be differentiated).

  Returns:
    f[T + 1], non-negative, summing to 1.
  """
  _checks.check_nonneg("price", price, allow_inf=True)
  _checks.check_positive("tau", tau)
  num = tr.uncertainty.shape[0]
  _checks.check_ticks(min_ticks, num - 1)
  t = jnp.arange(num)
  u = tr.uncertainty
  finite = jnp.isfinite(u)
  # Differentiate the map only where u is finite (u = inf before a first
  # observation would turn a zero cotangent into inf * 0 = NaN).
  g = jnp.where(finite, calib(jnp.where(finite, u, 0.0)),
                jax.lax.stop_gradient(calib(u)))
  gain = g - price * tr.cost
  # Guard inf - inf and inf / tau: an infinite gain ticks for sure.
  q = jnp.where(jnp.isposinf(gain), 1.0, jax.nn.sigmoid(jnp.where(jnp.isfinite(gain), gain, -1.0) / tau))
  q = jnp.where(jnp.isneginf(gain) | jnp.isnan(gain), 0.0, q)
  q = jnp.where(t < min_ticks, 1.0, q)
  q = jnp.where(t == num - 1, 0.0, q)  # the cap
  alive = jnp.concatenate([jnp.ones(1, q.dtype), jnp.cumprod(q)[:-1]])
  return alive * (1 - q)


def expected_cost(tr: Trace, stop_probs: Array) -> Array:
  """Expected cost spent: ``sum_t P(stop at t) * (cost of the first t ticks)``."""
  spent = jnp.concatenate([jnp.zeros(1, tr.cost.dtype), jnp.cumsum(tr.cost)[:-1]])
  return jnp.sum(stop_probs * spent)


def expected_value(stop_probs: Array, values: Array) -> Array:
  """``sum_t P(stop at t) * values[t]`` (e.g. values = output is correct)."""
  return jnp.sum(stop_probs * values)
