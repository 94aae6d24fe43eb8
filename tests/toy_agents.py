"""Small Tick agents shared by the tests."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

import jaxtick as jt


class Gauss(NamedTuple):
  mu: jax.Array
  n: jax.Array
  total: jax.Array


def gaussian_agent():
  """Observes N(mu, 1) once per tick; uncertainty SE/|mean| (continuous, no ties).

  Output: whether the running mean is positive. Cost 1 per tick.
  """
  return jt.Agent(
      init=lambda mu, key: Gauss(mu, jnp.zeros((), jnp.int32), jnp.zeros_like(mu)),
      tick=lambda s, key: s._replace(
          n=s.n + 1, total=s.total + s.mu + jax.random.normal(key, dtype=s.mu.dtype)),
      uncertainty=lambda s: jnp.where(s.n > 0, jt.signals.gap_ratio(
          s.total / jnp.maximum(s.n, 1),
          1.0 / jnp.sqrt(jnp.maximum(s.n, 1).astype(s.mu.dtype))), jnp.inf),
      output=lambda s: s.total > 0,
      cost=lambda s: jnp.ones((), s.mu.dtype))


class TwoCost(NamedTuple):
  mu: jax.Array
  seconds: jax.Array
  n: jax.Array
  total: jax.Array


def two_cost_agent():
  """The Gaussian agent with two cost kinds: 1 token and ``seconds`` seconds per tick.

  Problem: f[2] ``(mu, seconds)``; ``seconds`` varies by episode, so the token
  and the latency budgets are not proportional and two prices can meet both.
  Ticks, uncertainty and output are :func:`gaussian_agent`'s.
  """
  def init(problem, key):
    del key
    return TwoCost(problem[0], problem[1], jnp.zeros((), jnp.int32), jnp.zeros_like(problem[0]))

  return gaussian_agent()._replace(
      init=init, cost=lambda s: jnp.stack([jnp.ones((), s.mu.dtype), s.seconds]))
