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

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtick import _checks, values
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
  return _trace(agent, problem, key, max_ticks=max_ticks)


@functools.partial(values.jit, static_argnames=("max_ticks",))
def _trace(agent, problem, key, *, max_ticks):
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


# -- the tuner --------------------------------------------------------------------


def mean_cost(traces: Trace, price, *, tau, min_ticks: int = 0,
              calib: CalibMap = Identity()) -> Array:
  """Soft-rule mean cost over a batch of traces (leading axis N): f[]."""
  sp = jax.vmap(lambda t: stop_probabilities(t, price, tau=tau, min_ticks=min_ticks,
                                             calib=calib))(traces)
  return jnp.mean(jax.vmap(expected_cost)(traces, sp))


def mean_value(traces: Trace, values: Array, price, *, tau, min_ticks: int = 0,
               calib: CalibMap = Identity()) -> Array:
  """Soft-rule mean of ``values`` (f[N, T + 1], e.g. correctness after t ticks): f[]."""
  sp = jax.vmap(lambda t: stop_probabilities(t, price, tau=tau, min_ticks=min_ticks,
                                             calib=calib))(traces)
  return jnp.mean(jnp.sum(sp * values, axis=1))


class TuneParams(NamedTuple):
  """What the tuner moves: ``log_price`` (price = exp) and the calibration map."""

  log_price: Array
  calib: CalibMap


class TuneResult(NamedTuple):
  """Outcome of :func:`tune_price`.

  Attributes:
    price: f[] the tuned price.
    calib: the calibration map (learnt if ``learn_calib``).
    mean_cost: f[] soft-rule mean cost at the end (last temperature).
    accuracy: f[] soft-rule mean of ``correct`` (NaN without it).
    losses: f[stages, num_steps] the objective along the way.
  """

  price: Array
  calib: CalibMap
  mean_cost: Array
  accuracy: Array
  losses: Array


def objective(params: TuneParams, traces: Trace, correct: Array | None, *, tau,
              target=None, mu=None, penalty: float = 100.0,
              min_ticks: int = 0) -> Array:
  """The loss :func:`tune_price` minimises (differentiable in ``params``).

  * ``target`` only: ``((mean_cost - target) / target) ** 2``.
  * ``mu`` (with ``correct``): ``-(accuracy - mu * mean_cost)``.
  * ``target`` and ``correct``: ``-accuracy + penalty * ((mean_cost - target) / target) ** 2``
    (the most accurate rule at that mean cost; use it to learn the map).
  """
  price = jnp.exp(params.log_price)
  cost = mean_cost(traces, price, tau=tau, min_ticks=min_ticks, calib=params.calib)
  if mu is not None:
    acc = mean_value(traces, correct, price, tau=tau, min_ticks=min_ticks, calib=params.calib)
    return -(acc - mu * cost)
  gap = ((cost - target) / target) ** 2
  if correct is None:
    return gap
  acc = mean_value(traces, correct, price, tau=tau, min_ticks=min_ticks, calib=params.calib)
  return -acc + penalty * gap


def _soft_cost_range(traces, min_ticks, calib):
  """Mean cost at price 0 and at price inf (the hard rule's extremes)."""
  spent = jnp.concatenate([jnp.zeros(traces.cost.shape[:1] + (1,), traces.cost.dtype),
                           jnp.cumsum(traces.cost, axis=1)[:, :-1]], axis=1)
  t = traces.cost.shape[1] - 1
  g = calib(traces.uncertainty)
  go = jnp.concatenate([jnp.ones_like(g[:, :min_ticks], bool), g[:, min_ticks:t] > 0,
                        jnp.zeros_like(g[:, :1], bool)], axis=1)[:, :t + 1]
  stop0 = jnp.argmin(go, axis=1)
  return (float(jnp.mean(jnp.take_along_axis(spent, stop0[:, None], 1))),
          float(jnp.mean(spent[:, min_ticks])))


def tune_price(traces: Trace, *, tau: float | Sequence[float], target=None, mu=None,
               correct: Array | None = None, price=1.0, calib: CalibMap = Identity(),
               learn_calib: bool = False, min_ticks: int = 0, num_steps: int = 100,
               penalty: float = 100.0,
               optimizer: optax.GradientTransformation | None = None) -> TuneResult:
  """Tunes the price (and optionally the calibration map) of the soft rule by gradient.

  Reaches a target mean cost (``target``) or maximises accuracy minus
  ``mu`` times mean cost (``mu`` with ``correct``); with ``learn_calib`` the
  calibration map's parameters (e.g. :class:`jaxtick.Platt`'s ``a``, ``b``)
  are learnt jointly with the price (end to end through the soft rule). The
  price is optimised in log space (it stays > 0). ``tau`` may be a sequence
  of temperatures, each run for ``num_steps`` warm-started from the last: a
  large temperature first smooths the step function the hard rule's mean
  cost is, a small one last brings the soft rule close to the hard rule.

  Args:
    traces: a batch of :func:`trace` (leading axis N).
    tau: temperature(s) > 0.
    target: target mean cost per episode (reachable: between the mean cost
      at price inf and at price 0).
    mu: utility weight: maximise ``accuracy - mu * mean_cost``.
    correct: f[N, T + 1] whether the output after t ticks is right (needed
      with ``mu``, and to learn the map at a ``target``).
    price: initial price > 0.
    calib: initial calibration map (a pytree of float leaves if learnt).
    learn_calib: also learn ``calib``'s parameters.
    min_ticks: static.
    num_steps: optimiser steps per temperature.
    penalty: weight of the budget term when ``target`` and ``correct`` are given.
    optimizer: optax transformation (default: ``optax.lbfgs()`` for the price
      alone, ``optax.adam(0.05)`` when the map is learnt).

  Returns:
    A :class:`TuneResult`.
  """
  _check_tune_args(traces, target=target, mu=mu, num_steps=num_steps, penalty=penalty)
  taus = (tau,) if np.ndim(tau) == 0 else tuple(tau)
  if not taus:
    raise ValueError("tau must be a temperature or a non-empty sequence of them")
  for t in taus:
    _checks.check_positive("tau", t)
  _checks.check_positive("price", price)
  if (target is None) == (mu is None):
    raise ValueError("give exactly one of target (a mean cost) or mu (a utility weight)")
  if mu is not None and correct is None:
    raise ValueError("mu (accuracy - mu * cost) needs correct, f[N, T + 1]")
  if learn_calib and correct is None:
    raise ValueError("learning the calibration map needs correct, f[N, T + 1]")
  if correct is not None and jnp.shape(correct) != jnp.shape(traces.cost):
    raise ValueError(f"correct must have the traces' shape {jnp.shape(traces.cost)}, "
                     f"got {jnp.shape(correct)}")
  _checks.check_ticks(min_ticks, traces.cost.shape[1] - 1)
  if target is not None:
    _checks.check_positive("target", target)
    hi, lo = _soft_cost_range(traces, min_ticks, calib)
    if not lo - 1e-9 <= float(target) <= hi + 1e-9:
      raise ValueError(f"target mean cost {float(target)!r} is not reachable: the rule "
                       f"spends between {lo!r} (price inf) and {hi!r} (price 0)")
  dtype = traces.cost.dtype
  correct = None if correct is None else jnp.asarray(correct, dtype)
  from_state = optimizer is None and not learn_calib  # L-BFGS keeps value and grad
  if optimizer is None:
    optimizer = _ADAM if learn_calib else _LBFGS
  params = TuneParams(jnp.log(jnp.asarray(price, dtype)),
                      jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), calib))
  losses = []
  for t in taus:
    params, loss = _tune_stage(params, traces, correct, jnp.asarray(t, dtype),
                               target=None if target is None else jnp.asarray(target, dtype),
                               mu=None if mu is None else jnp.asarray(mu, dtype),
                               penalty=penalty, min_ticks=min_ticks,
                               num_steps=num_steps, optimizer=optimizer,
                               learn_calib=learn_calib, from_state=from_state)
    losses.append(loss)
  price = jnp.exp(params.log_price)
  kw = dict(tau=taus[-1], min_ticks=min_ticks, calib=params.calib)
  acc = (mean_value(traces, correct, price, **kw) if correct is not None
         else jnp.asarray(jnp.nan, dtype))
  return TuneResult(price, params.calib, mean_cost(traces, price, **kw), acc,
                    jnp.stack(losses))


def _check_tune_args(traces, *, target, mu, num_steps, penalty):
  """:func:`tune_price`'s episodes and scalars, checked before anything is computed."""
  shape = np.shape(getattr(traces, "cost", None))
  if not isinstance(traces, Trace) or len(shape) != 2:
    raise ValueError(f"traces must be a batch of trace(...) results (a Trace with cost "
                     f"f[N, T + 1]; vmap trace over the episodes), got cost shape {shape}")
  if shape[0] == 0:
    raise ValueError("traces must hold at least one episode, got 0 (an empty batch)")
  for name, v in (("mu", mu), ("target", target)):
    if v is not None:
      _checks.check_scalar(name, v)
      _checks.check_nonneg(name, v)
  if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
    raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")
  _checks.check_scalar("penalty", penalty)
  _checks.check_nonneg("penalty", penalty)


_LBFGS = optax.lbfgs()
_ADAM = optax.adam(0.05)


def _tune_stage(params, traces, correct, tau, *, target, mu, penalty, min_ticks,
                num_steps, optimizer, learn_calib, from_state):
  return _tune_jit(params, traces, correct, tau, target, mu, penalty=penalty,
                   min_ticks=min_ticks, num_steps=num_steps, optimizer=optimizer,
                   learn_calib=learn_calib, from_state=from_state)


def _tune_impl(params, traces, correct, tau, target, mu, *, penalty, min_ticks,
               num_steps, optimizer, learn_calib, from_state):
  def loss(p):
    if not learn_calib:
      p = p._replace(calib=jax.lax.stop_gradient(p.calib))
    return objective(p, traces, correct, tau=tau, target=target, mu=mu,
                     penalty=penalty, min_ticks=min_ticks)

  if from_state:
    value_and_grad = optax.value_and_grad_from_state(loss)
  else:
    value_and_grad = lambda p, state: jax.value_and_grad(loss)(p)

  def step(carry, _):
    p, st = carry
    value, grad = value_and_grad(p, state=st)
    upd, st = optimizer.update(grad, st, p, value=value, grad=grad, value_fn=loss)
    return (optax.apply_updates(p, upd), st), value

  (params, _), values = jax.lax.scan(step, (params, optimizer.init(params)), None,
                                     length=num_steps)
  return params, values


_tune_jit = values.jit(_tune_impl, static_argnames=(
    "penalty", "min_ticks", "num_steps", "optimizer", "learn_calib", "from_state"))
