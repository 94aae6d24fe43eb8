"""Utility router (seed 001): ``s*(x) = argmax_s a_s(x) - lam_T T_s(x) - lam_L L_s(x)``.

The router sees *predicted* accuracies (the probe) and *predicted* costs (per
strategy averages over a training split, f[S], or per query, f[Q, S]); it is
scored on the *true* accuracies and costs of the strategies it picks. A
``lam_T x lam_L`` grid runs as one compiled call (``lax.map`` over
``lam_T``, ``vmap`` over ``lam_L``) and returns the accuracy-tokens-latency
front (a :class:`RouteGrid`) and which strategies are chosen where. The choice is
:func:`jaxtick.agents.price_choice`, the library's one price -> choice rule.
"""

from __future__ import annotations

from typing import NamedTuple

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick import _checks, values
from jaxtick.agents import price_choice

Array = jax.Array


def _check_table(name, x, q=None, s=None):
  a = _checks.concrete(x)
  if a is None:
    return
  if a.ndim not in (1, 2) or a.shape[-1] == 0:
    raise ValueError(f"{name} must be [strategies] or [queries, strategies] with at least "
                     f"one strategy, got shape {a.shape}")
  if s is not None and a.shape[-1] != s:
    raise ValueError(f"{name} has {a.shape[-1]} strategies, expected {s}")
  if q is not None and a.ndim == 2 and a.shape[0] != q:
    raise ValueError(f"{name} has {a.shape[0]} queries, expected {q}")
  if not np.all(np.isfinite(a)):
    raise ValueError(f"{name} contains NaN or inf")


def _check_all(acc, tokens, latency):
  a = _checks.concrete(acc)
  if a is not None and (a.ndim != 2 or a.shape[1] == 0 or a.shape[0] == 0):
    raise ValueError(f"accuracies must be [queries, strategies] with at least one "
                     f"strategy (the strategy set is empty?), got shape {np.shape(acc)}")
  q, s = np.shape(acc)
  _check_table("accuracies", acc, q, s)
  _check_table("tokens", tokens, q, s)
  _check_table("latency", latency, q, s)


def route(acc: Array, tokens: Array, latency: Array, lam_t, lam_l) -> Array:
  """i32[Q]: each query's utility-maximising strategy (first on ties).

  Args:
    acc: f[Q, S] (predicted) success probabilities.
    tokens, latency: f[S] or f[Q, S] (predicted) costs.
    lam_t, lam_l: f[] prices of a token and of a second, >= 0 (scalars: for
      grids of them use :func:`route_grid`).
  """
  for name, v in (("lam_t", lam_t), ("lam_l", lam_l)):
    _checks.check_scalar(name, v, " (for a grid of prices use route_grid)")
    _checks.check_nonneg(name, v)
  _check_all(acc, tokens, latency)
  return price_choice(acc, (tokens, latency), (lam_t, lam_l))


class RouteGrid(NamedTuple):
  """Scores of the router over a ``P x R`` price grid (true values).

  (Not a :class:`jaxtick.Front`: that is the price rule's front over one price
  axis; this is a router's choices scored over a grid of two prices.)

  Attributes:
    acc, tokens, latency: f[P, R] means over queries of the chosen strategies'.
    share: f[P, R, S] fraction of queries routed to each strategy.
  """

  acc: Array
  tokens: Array
  latency: Array
  share: Array


def route_grid(acc: Array, tokens: Array, latency: Array, lam_t: Array, lam_l: Array,
               true_acc: Array, true_tokens: Array, true_latency: Array) -> RouteGrid:
  """Routes with predicted ``(acc, tokens, latency)`` at every ``(lam_t[i], lam_l[j])``.

  One compiled call, compiled once per shapes: every table and price grid is
  traced. Scores the choices with the true tables f[Q, S].
  """
  for name, v in (("lam_t", lam_t), ("lam_l", lam_l)):
    _checks.check_nonneg(name, v)
    if np.ndim(v) != 1 or np.shape(v)[0] == 0:
      raise ValueError(f"{name} must be a non-empty 1-d grid, got shape {np.shape(v)}")
  _check_all(acc, tokens, latency)
  _check_all(true_acc, true_tokens, true_latency)
  if np.shape(true_acc) != np.shape(acc):
    raise ValueError(f"true_acc shape {np.shape(true_acc)} != acc shape {np.shape(acc)}")
  f = lambda x: jnp.asarray(x, jnp.result_type(float))
  return _grid(f(acc), f(tokens), f(latency), f(lam_t), f(lam_l),
               f(true_acc), f(true_tokens), f(true_latency))


@functools.partial(values.jit, static_argnames=("chunk",))
def _grid(acc, tok, lat, lam_t, lam_l, t_acc, t_tok, t_lat, chunk=8192):
  """Query chunks (scan, so that a chunk's tables stay in cache) x price cells
  (``lax.map``, 8 cells at a time); sums accumulated over chunks."""
  q, s = acc.shape
  n_chunks = -(-q // chunk)
  pad = n_chunks * chunk - q

  def rows(x):                                  # [Q, S] -> [chunks, chunk, S]; [S] kept
    if x.ndim == 1:
      return jnp.broadcast_to(x, (n_chunks, 1, s))
    return jnp.pad(x, ((0, pad), (0, 0))).reshape(n_chunks, chunk, s)

  valid = jnp.pad(jnp.ones(q, bool), (0, pad)).reshape(n_chunks, chunk)
  xs = tuple(rows(x) for x in (acc, tok, lat, t_acc, jnp.broadcast_to(t_tok, (q, s)),
                               jnp.broadcast_to(t_lat, (q, s)))) + (valid,)
  lt = jnp.repeat(lam_t, lam_l.shape[0])
  ll = jnp.tile(lam_l, lam_t.shape[0])

  def per_chunk(total, x):
    a, tk, la, ta, tt, tl, ok = x

    def cell(prices):
      choice = price_choice(a, (tk, la), (prices[0], prices[1]))
      pick = lambda t: jnp.sum(jnp.where(ok, jnp.take_along_axis(t, choice[:, None], 1)[:, 0], 0.0))
      counts = jnp.bincount(jnp.where(ok, choice, s), length=s + 1)[:s]
      return jnp.stack([pick(ta), pick(tt), pick(tl)]), counts

    sums, counts = jax.lax.map(cell, (lt, ll), batch_size=8)
    return (total[0] + sums, total[1] + counts), None

  init = (jnp.zeros((lt.shape[0], 3)), jnp.zeros((lt.shape[0], s), jnp.int32))
  (sums, counts), _ = jax.lax.scan(per_chunk, init, xs)
  shape = (lam_t.shape[0], lam_l.shape[0])
  return RouteGrid(sums[:, 0].reshape(shape) / q, sums[:, 1].reshape(shape) / q,
               sums[:, 2].reshape(shape) / q, counts.reshape(*shape, s) / q)


class Static(NamedTuple):
  """Every static strategy's mean true accuracy and costs, f[S] each."""

  acc: Array
  tokens: Array
  latency: Array


def static_baselines(true_acc: Array, true_tokens: Array, true_latency: Array) -> Static:
  """Each strategy applied to every query."""
  _check_all(true_acc, true_tokens, true_latency)
  q, s = np.shape(true_acc)
  m = lambda x: jnp.mean(jnp.broadcast_to(x, (q, s)), axis=0)
  return Static(m(true_acc), m(true_tokens), m(true_latency))


def average_costs(tokens: Array, latency: Array) -> tuple[Array, Array]:
  """The router's cost model: per-strategy means over a training split, f[S] each."""
  _check_table("tokens", tokens)
  _check_table("latency", latency)
  return jnp.mean(jnp.atleast_2d(tokens), 0), jnp.mean(jnp.atleast_2d(latency), 0)
