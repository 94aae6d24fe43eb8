"""The router's two prices by gradient: ``(lam_T, lam_L)`` meeting a token and a latency budget.

The router (:func:`jaxtick.alloc.utility.route`) sends query x to
``argmax_s a_s(x) - lam_T T_s(x) - lam_L L_s(x)``. Its mean tokens and mean
latency are step functions of the two prices, so they are met through a soft
relaxation: a softmax over the strategies at temperature ``tau``,

    p_s(x) = softmax_s((a_s(x) - lam_T T_s(x) - lam_L L_s(x)) / tau),

whose expected mean tokens and latency are smooth in both prices (and tend to
the hard router's as ``tau -> 0``). :func:`tune_router` solves the relative
misses ``(soft mean cost - budget) / budget = 0`` for the log prices with
:func:`jaxtick.newton` (Levenberg-Marquardt for two prices), the way
:func:`jaxtick.soft.tune_price` meets K budgets, one ``tau`` stage after
another (each warm-started from the last). A budget need not bind: where the
router already spends less than it with that price at 0, the price stays 0
(the budgets are upper limits; complementary slackness). So it solves each of
the four cases (both prices free, one of them, neither) and keeps the most
accurate, by the router's own accuracies, that meets its free budgets and
exceeds neither. It then scores the *hard* router at the tuned prices with
:func:`jaxtick.alloc.utility.route_grid` (one cell).

Accuracy lives on [0, 1], so ``tau`` is in accuracy units: at ``tau = 0.003``
two strategies whose utilities differ by 0.02 share a query as 1 : 800.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtick import _checks, values
from jaxtick._newton import newton
from jaxtick.alloc import utility as ut

Array = jax.Array

TAUS = (0.03, 0.01, 0.003)


class RouterTune(NamedTuple):
  """Outcome of :func:`tune_router` (S temperature stages).

  Attributes:
    lam_t, lam_l: f[] the tuned prices of a token and of a second.
    soft_tokens, soft_latency: f[] the soft router's mean tokens and latency
      at the tuned prices (last temperature), on the scoring tables.
    acc, tokens, latency: f[] the hard router's mean true accuracy, tokens and
      latency at the tuned prices.
    miss: f[2] the hard router's relative misses of the two budgets,
      ``(tokens, latency) / (target_tokens, target_latency) - 1``.
    binding: bool[2] which budgets bind (their price is > 0; the other
      price is 0).
    steps: i32[S] Newton steps each stage took.
    converged: bool[S] whether each stage met ``tol`` on the binding budgets;
      ``converged[-1]``: the soft router at the returned prices meets the
      binding budgets within ``tol`` and spends at most ``(1 + tol)`` times
      the others.
  """

  lam_t: Array
  lam_l: Array
  soft_tokens: Array
  soft_latency: Array
  acc: Array
  tokens: Array
  latency: Array
  miss: Array
  binding: Array
  steps: Array
  converged: Array


def soft_route(acc: Array, tokens: Array, latency: Array, lam_t, lam_l, *, tau) -> Array:
  """f[Q, S]: the soft router's share of each query per strategy (rows sum to 1).

  Args:
    acc: f[Q, S] (predicted) success probabilities.
    tokens, latency: f[S] or f[Q, S] (predicted) costs.
    lam_t, lam_l: f[] prices (traced; differentiable).
    tau: f[] > 0, the temperature in accuracy units.
  """
  ut._check_all(acc, tokens, latency)  # concrete values only (a traced table passes)
  _checks.check_positive("tau", tau)
  return jax.nn.softmax((acc - lam_t * tokens - lam_l * latency) / tau, axis=-1)


def soft_costs(acc: Array, tokens: Array, latency: Array, lam_t, lam_l, *, tau,
               true_tokens: Array | None = None, true_latency: Array | None = None) -> Array:
  """f[2]: the soft router's expected mean (tokens, latency) over the Q queries.

  Routes on ``(acc, tokens, latency)`` as :func:`soft_route`; spends
  ``true_tokens``, ``true_latency`` (f[S] or f[Q, S]; default: the priced
  tables). Smooth in ``lam_t`` and ``lam_l``.
  """
  p = soft_route(acc, tokens, latency, lam_t, lam_l, tau=tau)
  for name, t in (("true_tokens", true_tokens), ("true_latency", true_latency)):
    if t is not None:
      ut._check_table(name, t, *np.shape(acc))
  spend = lambda t: jnp.mean(jnp.sum(p * t, axis=-1))
  return jnp.stack([spend(tokens if true_tokens is None else true_tokens),
                    spend(latency if true_latency is None else true_latency)])


def tune_router(acc: Array, tokens: Array, latency: Array, *, target_tokens, target_latency,
                true_acc: Array | None = None, true_tokens: Array | None = None,
                true_latency: Array | None = None, tau: float | Sequence[float] = TAUS,
                lam_t=None, lam_l=None, num_steps: int = 50, tol: float = 1e-4) -> RouterTune:
  """Tunes ``(lam_t, lam_l)`` so that the router spends a token and a latency budget.

  The soft router (:func:`soft_costs`) is brought to the budgets by Newton's
  method on the log prices (:func:`jaxtick.newton`), one stage per
  temperature in ``tau`` (largest first, each warm-started from the last); a
  stage stops when the relative misses of the binding budgets are ``<= tol``
  or after ``num_steps`` steps. Both budgets bind where they can; a budget
  that the router meets with its price at 0 does not bind (its price is 0;
  see the module). The hard router (:func:`~jaxtick.alloc.utility.route`) is
  then scored at the tuned prices on the true tables. Everything up to the
  hard router is one compiled program per shapes (and number of stages).

  The hard router's mean costs are step functions of the prices, so its miss
  is the soft router's plus at most one step (a share of the queries
  switching strategy); it shrinks as the pool grows.

  Args:
    acc: f[Q, S] (predicted) success probabilities the router routes on.
    tokens, latency: f[S] or f[Q, S] (predicted) costs the router prices.
    target_tokens, target_latency: f[] > 0, the budgets: mean tokens and
      mean latency per query (on the true tables). Each must be at least the
      cheapest routing's (every query to its cheapest strategy in that
      cost); a pair that no non-negative prices meet together ends with
      ``converged[-1]`` False (and both prices free).
    true_acc: f[Q, S] the accuracies that score the hard router (default
      ``acc``).
    true_tokens, true_latency: f[S] or f[Q, S] the costs spent (default: the
      priced ones).
    tau: temperature(s) > 0 in accuracy units.
    lam_t, lam_l: initial prices > 0 (default: ``0.1`` over the mean cost of
      a strategy, a tenth of the accuracy scale).
    num_steps: the most Newton steps per temperature.
    tol: the tolerance on the soft router's relative misses, > 0.

  Returns:
    A :class:`RouterTune`.
  """
  ut._check_all(acc, tokens, latency)
  q, s = np.shape(acc)
  true_acc = acc if true_acc is None else true_acc
  true_tokens = tokens if true_tokens is None else true_tokens
  true_latency = latency if true_latency is None else true_latency
  for name, v in (("true_acc", true_acc), ("true_tokens", true_tokens),
                  ("true_latency", true_latency)):
    if np.ndim(v) not in (1, 2) or np.shape(v)[-1] != s or (np.ndim(v) == 2 and np.shape(v)[0] != q):
      raise ValueError(f"{name} must be [{s}] or [{q}, {s}] (strategies as in acc), "
                       f"got shape {np.shape(v)}")
  if np.ndim(true_acc) != 2:
    raise ValueError(f"true_acc must be [{q}, {s}] (queries, strategies), "
                     f"got shape {np.shape(true_acc)}")
  ut._check_all(true_acc, true_tokens, true_latency)
  taus = (tau,) if np.ndim(tau) == 0 else tuple(tau)
  if not taus:
    raise ValueError("tau must be a temperature or a non-empty sequence of them")
  for t in taus:
    _checks.check_scalar("tau", t)
    _checks.check_positive("tau", t)
  if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
    raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")
  _checks.check_scalar("tol", tol)
  _checks.check_positive("tol", tol)
  spend = (np.broadcast_to(np.asarray(true_tokens, float), (q, s)),
           np.broadcast_to(np.asarray(true_latency, float), (q, s)))
  target = []
  for name, v, t in (("target_tokens", target_tokens, spend[0]),
                     ("target_latency", target_latency, spend[1])):
    _checks.check_scalar(name, v)
    _checks.check_positive(name, v)
    lo = float(t.min(1).mean())
    if float(v) < lo:
      raise ValueError(f"{name} {float(v)!r} is not reachable: any routing of these queries "
                       f"spends at least {lo!r} (each query to its cheapest strategy)")
    target.append(float(v))
  init = []
  for name, v, t in (("lam_t", lam_t, spend[0]), ("lam_l", lam_l, spend[1])):
    if v is None:
      v = 0.1 / max(float(t.mean()), 1e-30)
    _checks.check_scalar(name, v)
    _checks.check_positive(name, v)
    init.append(float(v))

  dtype = jnp.zeros(()).dtype  # the library's default float type
  f = lambda x: jnp.asarray(x, dtype)
  lam, binding, st = _tune(jnp.log(f(init)), f(acc), f(tokens), f(latency), f(true_tokens),
                           f(true_latency), f(target), f(taus), f(tol), num_steps=num_steps)
  hard = ut.route_grid(acc, tokens, latency, lam[:1], lam[1:], true_acc, true_tokens,
                       true_latency)
  tok, lat = hard.tokens[0, 0], hard.latency[0, 0]
  miss = jnp.stack([tok, lat]) / jnp.asarray(target, tok.dtype) - 1
  return RouterTune(lam[0], lam[1], st.cost[0], st.cost[1], hard.acc[0, 0], tok, lat, miss,
                    binding, st.steps, st.converged)


class _Stage(NamedTuple):
  """One temperature's outcome: steps i32[], converged bool[], soft mean costs f[2]."""

  steps: Array
  converged: Array
  cost: Array


_NEWTON = newton()
# Which prices are free (> 0) in each candidate: both, the token price only, the latency
# price only, neither. A fixed price is 0 and its budget need only not be exceeded.
_ACTIVE = ((True, True), (True, False), (False, True), (False, False))


def _prices(v, active):
  """f[2] prices: ``exp(v)`` where free, 0 where fixed."""
  return jnp.where(active, jnp.exp(v), 0.0)


def _solve_stage(x, active, acc, tok, lat, t_tok, t_lat, target, tau, tol, num_steps):
  """Newton's steps until the free prices' budgets are met within ``tol`` or ``num_steps``.

  The residual is the relative miss for a free price and ``x`` itself for a
  fixed one (met at once: its price is 0 whatever ``x``).
  """
  optimizer = optax.with_extra_args_support(_NEWTON)

  def residual(v):
    lam = _prices(v, active)
    cost = soft_costs(acc, tok, lat, lam[0], lam[1], tau=tau, true_tokens=t_tok,
                      true_latency=t_lat)
    r = jnp.where(active, cost / target - 1, v)
    return r, (r, cost)

  def cond(c):
    return ~c[3].converged & (c[2] <= num_steps)

  def body(c):
    v, state, i, st = c
    jac, (r, cost) = jax.jacfwd(residual, has_aux=True)(v)
    met = jnp.max(jnp.abs(r)) <= tol
    go = ~met & (i < num_steps)
    upd, state = optimizer.update(jnp.zeros_like(v), state, v, residual=r, jacobian=jac)
    v = jnp.where(go, v + upd, v)
    return v, state, i + 1, _Stage(st.steps + go.astype(jnp.int32), met, cost)

  st = _Stage(jnp.zeros((), jnp.int32), jnp.zeros((), bool), jnp.zeros(2, x.dtype))
  v, _, _, st = jax.lax.while_loop(cond, body, (x, optimizer.init(x), jnp.zeros((), jnp.int32),
                                                st))
  return v, st


def _tune_impl(x, acc, tok, lat, t_tok, t_lat, target, taus, tol, *, num_steps):
  """Every candidate (:data:`_ACTIVE`) through every temperature stage (a scan, each stage
  warm-started from the last); then the most accurate candidate within both budgets."""
  active = jnp.asarray(_ACTIVE)

  def stage(v, tau):
    return jax.vmap(lambda vi, ai: _solve_stage(vi, ai, acc, tok, lat, t_tok, t_lat, target,
                                                tau, tol, num_steps))(v, active)

  v, st = jax.lax.scan(stage, jnp.broadcast_to(x, active.shape), taus)  # st: [stages, 4]
  cost = st.cost[-1]                                                     # f[4, 2]
  within = jnp.all(active | (cost <= target * (1 + tol)), axis=1) & st.converged[-1]
  lam = jax.vmap(_prices)(v, active)
  belief = jax.vmap(lambda p: jnp.mean(jnp.sum(
      soft_route(acc, tok, lat, p[0], p[1], tau=taus[-1]) * acc, axis=-1)))(lam)
  best = jnp.where(jnp.any(within), jnp.argmax(jnp.where(within, belief, -jnp.inf)), 0)
  converged = st.converged[:, best].at[-1].set(within[best])
  return lam[best], active[best], _Stage(st.steps[:, best], converged, cost[best])


_tune = values.jit(_tune_impl, static_argnames=("num_steps",))
