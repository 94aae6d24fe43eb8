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

Several prices at once. An agent whose ``cost`` returns f[K] (K cost kinds,
e.g. tokens and seconds) is priced by a vector ``price`` f[K]: the rule ticks
while ``calib(u_t) - price . c_t > 0`` (a dot product), mean costs are f[K],
and :func:`tune_price` meets K mean-cost targets together. Scalar costs keep
the scalar formulas (``price * c_t``) exactly.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtick import _checks, _newton, values
from jaxtick.api import Agent, Array, CalibMap, PRNGKey, Problem
from jaxtick.calibrate import Identity
from jaxtick.schedule import init_key, tick_key


class Trace(NamedTuple):
  """An episode's trajectory over ``max_ticks`` ticks (T = max_ticks).

  Attributes:
    uncertainty: f[T + 1] ``uncertainty`` after t ticks, t = 0..T.
    cost: f[T + 1] (or f[T + 1, K] for K cost kinds) ``cost`` of the next
      tick after t ticks.
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
    price: f[] the price lambda; f[K] when ``tr.cost`` is f[T + 1, K].
    tau: f[] > 0, the temperature; smaller is closer to the hard rule.
    min_ticks: static; ticks below it are always taken.
    calib: calibration map (its parameters may be differentiated).

  Returns:
    f[T + 1], non-negative, summing to 1.
  """
  _check_rule(price, tau, tr.cost.shape[1:], tr.uncertainty.shape[0], min_ticks)
  return _stop_probabilities(tr, _data(price), _data(tau), calib, min_ticks)


def _data(x):
  """A Python or NumPy integer as a float, so that the compiled rule traces it.

  (:func:`jaxtick.values.jit` keeps ints static: a constant divisor may
  become a multiplication by its reciprocal, and each value would compile.)
  """
  if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
    return float(x)
  return x


def _check_rule(price, tau, kinds, num, min_ticks):
  """The soft rule's price f[] (f[K]) >= 0 and temperature > 0, for ``num`` = T + 1 ticks."""
  _checks.check_nonneg("price", price, allow_inf=True)
  _checks.check_positive("tau", tau)
  _check_price_shape("price", price, kinds)
  _checks.check_ticks(min_ticks, num - 1)


def _stop_probs(tr, price, tau, calib, min_ticks):
  """:func:`stop_probabilities` of checked arguments (``min_ticks`` a Python int)."""
  num = tr.uncertainty.shape[0]
  t = jnp.arange(num)
  u = tr.uncertainty
  finite = jnp.isfinite(u)
  # Differentiate the map only where u is finite (u = inf before a first
  # observation would turn a zero cotangent into inf * 0 = NaN).
  g = jnp.where(finite, calib(jnp.where(finite, u, 0.0)),
                jax.lax.stop_gradient(calib(u)))
  gain = g - _priced(price, tr.cost)
  # Guard inf - inf and inf / tau: an infinite gain ticks for sure.
  q = jnp.where(jnp.isposinf(gain), 1.0, jax.nn.sigmoid(jnp.where(jnp.isfinite(gain), gain, -1.0) / tau))
  q = jnp.where(jnp.isneginf(gain) | jnp.isnan(gain), 0.0, q)
  q = jnp.where(t < min_ticks, 1.0, q)
  q = jnp.where(t == num - 1, 0.0, q)  # the cap
  alive = jnp.concatenate([jnp.ones(1, q.dtype), jnp.cumprod(q)[:-1]])
  return alive * (1 - q)


_stop_probabilities = values.jit(_stop_probs)  # min_ticks, an int, is static


def _priced(price, cost):
  """``price * cost`` for a scalar price; ``cost @ price`` (over the K kinds) for f[K]."""
  return price * cost if jnp.ndim(price) == 0 else cost @ price


def _check_price_shape(name, value, kinds):
  """``value`` must be f[] for scalar costs (``kinds == ()``) and f[K] for K kinds."""
  if np.shape(value) != tuple(kinds):
    what = "a scalar (the agent's cost is a scalar)" if not kinds else (
        f"shape {tuple(kinds)} (one per cost kind)")
    raise ValueError(f"{name} must be {what}, got shape {np.shape(value)}")


@jax.jit
def expected_cost(tr: Trace, stop_probs: Array) -> Array:
  """Expected cost spent: ``sum_t P(stop at t) * (cost of the first t ticks)``.

  Returns f[], or f[K] when ``tr.cost`` is f[T + 1, K].
  """
  spent = jnp.concatenate([jnp.zeros((1,) + tr.cost.shape[1:], tr.cost.dtype),
                           jnp.cumsum(tr.cost, axis=0)[:-1]])
  return jnp.sum(jnp.reshape(stop_probs, stop_probs.shape + (1,) * (spent.ndim - 1)) * spent,
                 axis=0)


@jax.jit
def expected_value(stop_probs: Array, values: Array) -> Array:
  """``sum_t P(stop at t) * values[t]`` (e.g. values = output is correct)."""
  return jnp.sum(stop_probs * values)


# -- the tuner --------------------------------------------------------------------


def mean_cost(traces: Trace, price, *, tau, min_ticks: int = 0,
              calib: CalibMap = Identity()) -> Array:
  """Soft-rule mean cost over a batch of traces (leading axis N): f[] (f[K] for K cost kinds)."""
  _check_rule(price, tau, traces.cost.shape[2:], traces.uncertainty.shape[1], min_ticks)
  return _mean_cost(traces, _data(price), _data(tau), calib, min_ticks)


def _mean_cost_impl(traces, price, tau, calib, min_ticks):
  sp = jax.vmap(lambda t: _stop_probs(t, price, tau, calib, min_ticks))(traces)
  return jnp.mean(jax.vmap(expected_cost)(traces, sp), axis=0)


def _mean_value_impl(traces, values, price, tau, calib, min_ticks):
  sp = jax.vmap(lambda t: _stop_probs(t, price, tau, calib, min_ticks))(traces)
  return jnp.mean(jnp.sum(sp * values, axis=1))


_mean_cost = values.jit(_mean_cost_impl)
_mean_value = values.jit(_mean_value_impl)


def mean_value(traces: Trace, values: Array, price, *, tau, min_ticks: int = 0,
               calib: CalibMap = Identity()) -> Array:
  """Soft-rule mean of ``values`` (f[N, T + 1], e.g. correctness after t ticks): f[]."""
  _check_rule(price, tau, traces.cost.shape[2:], traces.uncertainty.shape[1], min_ticks)
  return _mean_value(traces, values, _data(price), _data(tau), calib, min_ticks)


class TuneParams(NamedTuple):
  """What the tuner moves: ``log_price`` (price = exp; f[] or f[K]) and the calibration map."""

  log_price: Array
  calib: CalibMap


class TuneResult(NamedTuple):
  """Outcome of :func:`tune_price` (S temperature stages, K cost kinds).

  Attributes:
    price: f[] (f[K]) the tuned price(s).
    calib: the calibration map (learnt if ``learn_calib``).
    mean_cost: f[] (f[K]) soft-rule mean cost at the end (last temperature).
    accuracy: f[] soft-rule mean of ``correct`` (NaN without it).
    losses: f[S, num_steps] the objective after i steps of each stage (NaN
      past where the stage stopped; the value after a stage's last allowed
      step is not kept).
    steps: i32[S] optimiser steps each stage took.
    converged: bool[S] whether each stage met ``tol`` (``converged[-1]``: the
      result does).
  """

  price: Array
  calib: CalibMap
  mean_cost: Array
  accuracy: Array
  losses: Array
  steps: Array
  converged: Array


def _budget_miss(cost, target):
  """Relative miss of the target mean cost(s): ``(cost - target) / target``."""
  return (cost - target) / target


def _objective_parts(params, traces, correct, *, tau, target, mu, penalty, min_ticks):
  """The objective and what it read: ``(loss, (mean_cost, accuracy))``."""
  price = jnp.exp(params.log_price)
  cost = _mean_cost_impl(traces, price, tau, params.calib, min_ticks)
  acc = jnp.asarray(jnp.nan, cost.dtype)
  if correct is not None:
    acc = _mean_value_impl(traces, correct, price, tau, params.calib, min_ticks)
  if mu is not None:
    return -(acc - _priced(mu, cost)), (cost, acc)
  gap = jnp.sum(_budget_miss(cost, target) ** 2)
  if correct is None:
    return gap, (cost, acc)
  return -acc + penalty * gap, (cost, acc)


def objective(params: TuneParams, traces: Trace, correct: Array | None, *, tau,
              target=None, mu=None, penalty: float = 100.0,
              min_ticks: int = 0) -> Array:
  """The loss :func:`tune_price` minimises (differentiable in ``params``).

  With ``miss = sum_k ((mean_cost_k - target_k) / target_k) ** 2`` (one term
  for scalar costs):

  * ``target`` only: ``miss``.
  * ``mu`` (with ``correct``): ``-(accuracy - mu . mean_cost)``.
  * ``target`` and ``correct``: ``-accuracy + penalty * miss``
    (the most accurate rule at that mean cost; use it to learn the map).
  """
  return _objective(params, traces, correct, *map(_data, (tau, target, mu, penalty)),
                    min_ticks)


def _objective_impl(params, traces, correct, tau, target, mu, penalty, min_ticks):
  return _objective_parts(params, traces, correct, tau=tau, target=target, mu=mu,
                          penalty=penalty, min_ticks=min_ticks)[0]


_objective = values.jit(_objective_impl)  # min_ticks, an int, is static


def _soft_cost_range(traces, min_ticks, calib):
  """Mean cost at price 0 and at price inf (the hard rule's extremes): f[] or f[K] each."""
  hi, lo = _cost_range(traces, calib, min_ticks=min_ticks)
  return np.asarray(hi), np.asarray(lo)


@functools.partial(values.jit, static_argnames=("min_ticks",))
def _cost_range(traces, calib, *, min_ticks):
  cost = traces.cost
  spent = jnp.concatenate([jnp.zeros(cost.shape[:1] + (1,) + cost.shape[2:], cost.dtype),
                           jnp.cumsum(cost, axis=1)[:, :-1]], axis=1)
  t = cost.shape[1] - 1
  g = calib(traces.uncertainty)
  go = jnp.concatenate([jnp.ones_like(g[:, :min_ticks], bool), g[:, min_ticks:t] > 0,
                        jnp.zeros_like(g[:, :1], bool)], axis=1)[:, :t + 1]
  stop0 = jnp.argmin(go, axis=1)
  at0 = jax.vmap(lambda s, i: s[i])(spent, stop0)
  return jnp.mean(at0, axis=0), jnp.mean(spent[:, min_ticks], axis=0)


def tune_price(traces: Trace, *, tau: float | Sequence[float], target=None, mu=None,
               correct: Array | None = None, price=1.0, calib: CalibMap = Identity(),
               learn_calib: bool = False, min_ticks: int = 0, num_steps: int = 100,
               penalty: float = 100.0, tol: float = 1e-4,
               optimizer: optax.GradientTransformation | None = None,
               progress: bool = False) -> TuneResult:
  """Tunes the price(s) (and optionally the calibration map) of the soft rule by gradient.

  Reaches a target mean cost (``target``) or maximises accuracy minus
  ``mu`` times mean cost (``mu`` with ``correct``); with ``learn_calib`` the
  calibration map's parameters (e.g. :class:`jaxtick.Platt`'s ``a``, ``b``)
  are learnt jointly with the price (end to end through the soft rule). The
  price is optimised in log space (it stays > 0). ``tau`` may be a sequence
  of temperatures, each stage warm-started from the last: a large
  temperature first smooths the step function the hard rule's mean cost is,
  a small one last brings the soft rule close to the hard rule.

  With K cost kinds (``traces.cost`` f[N, T + 1, K]) the price is f[K] and
  ``target`` (or ``mu``) f[K]: the K prices are tuned together to meet the K
  mean-cost targets at once.

  Each stage is one compiled ``lax.while_loop`` of optimiser steps (one
  program for every stage and every call with the same shapes), which stops
  as soon as the tolerance is met or after ``num_steps`` steps:

  * ``target`` only (a budget): every relative miss
    ``|mean_cost_k - target_k| / target_k <= tol`` (soft rule, this stage's
    temperature).
  * otherwise (``mu``, or a budget with ``correct``): the Euclidean norm of
    the objective's gradient in the tuned parameters (log prices and, if
    learnt, the map's parameters) ``<= tol``.

  Default optimisers (``python -m sims.bench tune`` measures them): for a
  budget, Newton's method on the residual ``(mean_cost - target) / target``
  in log price (:func:`jaxtick.newton`; the soft mean cost is smooth
  and monotone in the price, so it takes a handful of steps where Adam takes
  hundreds); otherwise (``mu``, or learning the map) ``optax.lbfgs()``, which
  meets the gradient tolerance in tens of steps where ``optax.adam(0.05)``
  has not after 300.

  Args:
    traces: a batch of :func:`trace` (leading axis N; ``cost`` f[N, T + 1]
      or f[N, T + 1, K]).
    tau: temperature(s) > 0.
    target: target mean cost per episode, f[] (f[K]) (each reachable:
      between the mean cost at price inf and at price 0).
    mu: utility weight(s): maximise ``accuracy - mu . mean_cost``.
    correct: f[N, T + 1] whether the output after t ticks is right (needed
      with ``mu``, and to learn the map at a ``target``).
    price: initial price(s) > 0 (a scalar is broadcast to the K kinds).
    calib: initial calibration map (a pytree of float leaves if learnt).
    learn_calib: also learn ``calib``'s parameters.
    min_ticks: static.
    num_steps: the most optimiser steps per temperature (static).
    penalty: weight of the budget term when ``target`` and ``correct`` are given.
    tol: the tolerance above, > 0.
    optimizer: an optax transformation. Its ``update`` receives the extra
      arguments ``value``, ``grad`` and ``value_fn`` (as ``optax.lbfgs``
      wants) and, for a budget, ``residual`` and ``jacobian`` (as
      :func:`jaxtick.newton` wants).
    progress: print one line per stage (steps, tolerance met, price, mean
      cost). Nothing is printed otherwise.

  Returns:
    A :class:`TuneResult`.
  """
  _check_tune_args(traces, target=target, mu=mu, num_steps=num_steps, penalty=penalty)
  taus = (tau,) if np.ndim(tau) == 0 else tuple(tau)
  if not taus:
    raise ValueError("tau must be a temperature or a non-empty sequence of them")
  for t in taus:
    _checks.check_positive("tau", t)
  cost = traces.cost  # f[N, T + 1] or f[N, T + 1, K]: checked by _check_tune_args
  kinds = cost.shape[2:]
  _checks.check_positive("price", price)
  if np.shape(price) not in ((), kinds):
    _check_price_shape("price", price, kinds)
  if (target is None) == (mu is None):
    raise ValueError("give exactly one of target (a mean cost) or mu (a utility weight)")
  if mu is not None and correct is None:
    raise ValueError("mu (accuracy - mu * cost) needs correct, f[N, T + 1]")
  if learn_calib and correct is None:
    raise ValueError("learning the calibration map needs correct, f[N, T + 1]")
  if correct is not None and np.shape(correct) != cost.shape[:2]:
    raise ValueError(f"correct must have shape {cost.shape[:2]} (episodes, ticks + 1), "
                     f"got {np.shape(correct)}")
  _checks.check_positive("tol", tol)
  _checks.check_ticks(min_ticks, cost.shape[1] - 1)
  if mu is not None:
    _check_price_shape("mu", mu, kinds)  # (NaN and < 0: _check_tune_args)
  if target is not None:
    _check_price_shape("target", target, kinds)
    _checks.check_positive("target", target)
    hi, lo = _soft_cost_range(traces, min_ticks, calib)
    tg = np.asarray(target, float)
    if not np.all((lo - 1e-9 <= tg) & (tg <= hi + 1e-9)):
      raise ValueError(f"target mean cost {tg.tolist()!r} is not reachable: the rule "
                       f"spends between {lo.tolist()!r} (price inf) and {hi.tolist()!r} "
                       "(price 0)")
  dtype = cost.dtype
  correct = None if correct is None else values.device_array(correct, dtype)
  budget = target is not None and correct is None
  if optimizer is None:
    optimizer = _NEWTON if budget else _LBFGS
  calib = jax.tree_util.tree_map(lambda x: values.device_array(x, dtype), calib)
  log_price = _log_price(values.device_array(price, dtype), kinds=kinds)
  x = TuneParams(log_price, calib) if learn_calib else log_price
  as_array = lambda v: None if v is None else values.device_array(v, dtype)
  stages = []
  for i, t in enumerate(taus):
    x, stage = _tune_jit(x, calib, traces, correct, as_array(t), as_array(target),
                         as_array(mu), as_array(tol), penalty=penalty,
                         min_ticks=min_ticks, num_steps=num_steps, optimizer=optimizer,
                         learn_calib=learn_calib, budget=budget)
    stages.append(stage)
    if progress:
      print(_progress_line(i, len(taus), t, stage, x, target, tol), flush=True)
  params = x if learn_calib else TuneParams(x, calib)
  last = stages[-1]
  price, losses, steps, converged = _finish(params.log_price, stages)
  return TuneResult(price, params.calib, last.mean_cost, last.accuracy, losses, steps,
                    converged)


@functools.partial(jax.jit, static_argnames="kinds")
def _log_price(price, *, kinds):
  return jnp.log(jnp.broadcast_to(price, kinds))


@jax.jit
def _finish(log_price, stages):
  """The tuned price(s) and the stages' losses f[S, num_steps], steps i32[S], converged bool[S]."""
  stack = lambda name: jnp.stack([getattr(s, name) for s in stages])
  return jnp.exp(log_price), stack("losses"), stack("steps"), stack("converged")


def _check_tune_args(traces, *, target, mu, num_steps, penalty):
  """:func:`tune_price`'s episodes and scalars, checked before anything is computed."""
  shape = np.shape(getattr(traces, "cost", None))
  if not isinstance(traces, Trace) or len(shape) not in (2, 3):
    raise ValueError(f"traces must be a batch of trace(...) results (a Trace with cost "
                     f"f[N, T + 1] or f[N, T + 1, K]; vmap trace over the episodes), "
                     f"got cost shape {shape}")
  if shape[0] == 0:
    raise ValueError("traces must hold at least one episode, got 0 (an empty batch)")
  for name, v in (("mu", mu), ("target", target)):
    if v is not None:  # f[] or f[K]: the shape is checked against the cost kinds below
      _checks.check_nonneg(name, v)
  if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
    raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")
  _checks.check_scalar("penalty", penalty)
  _checks.check_nonneg("penalty", penalty)


def _progress_line(i, num, tau, stage, x, target, tol) -> str:
  log_price = x.log_price if isinstance(x, TuneParams) else x
  fmt = lambda v: np.array2string(np.asarray(v), precision=6) if np.ndim(v) else f"{float(v):.6g}"
  line = (f"tune_price stage {i + 1}/{num} (tau {float(tau):g}): {int(stage.steps)} steps, "
          f"tolerance {tol:g} {'met' if bool(stage.converged) else 'NOT met'}; "
          f"price {fmt(np.exp(np.asarray(log_price)))}, mean cost {fmt(stage.mean_cost)}")
  if target is not None:
    miss = 100 * (np.asarray(stage.mean_cost) - np.asarray(target)) / np.asarray(target)
    line += f" (target {fmt(target)}, miss {fmt(miss)} %)"
  if not np.isnan(np.asarray(stage.accuracy)):
    line += f", accuracy {float(stage.accuracy):.6g}"
  return line


_NEWTON = _newton.newton()
_LBFGS = optax.lbfgs()


class _Stage(NamedTuple):
  """One temperature's loop: its losses f[num_steps], steps i32[], converged bool[],
  and the mean cost and accuracy at the parameters it returns."""

  losses: Array
  steps: Array
  converged: Array
  mean_cost: Array
  accuracy: Array


def _tune_impl(x, calib, traces, correct, tau, target, mu, tol, *, penalty, min_ticks,
               num_steps, optimizer, learn_calib, budget):
  optimizer = optax.with_extra_args_support(optimizer)
  params_of = (lambda v: v) if learn_calib else (lambda v: TuneParams(v, calib))

  def loss_aux(v):
    return _objective_parts(params_of(v), traces, correct, tau=tau, target=target, mu=mu,
                            penalty=penalty, min_ticks=min_ticks)

  def value_fn(v, residual=None, jacobian=None):  # a line search hands it the extra args
    del residual, jacobian
    return loss_aux(v)[0]

  if budget:
    def residual(v):  # the relative misses, f[] or f[K]
      cost = loss_aux(v)[1][0]
      r = _budget_miss(cost, target)
      return r, (r, cost)

    def evaluate(v):
      jac, (r, cost) = jax.jacfwd(residual, has_aux=True)(v)
      value = jnp.sum(r ** 2)
      grad = 2 * jnp.tensordot(r, jac, axes=r.ndim)
      extra = dict(value=value, grad=grad, value_fn=value_fn, residual=r, jacobian=jac)
      return value, grad, jnp.max(jnp.abs(r)) <= tol, (cost, jnp.asarray(jnp.nan, cost.dtype)), extra
  else:
    def evaluate(v):
      (value, aux), grad = jax.value_and_grad(loss_aux, has_aux=True)(v)
      norm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in jax.tree_util.tree_leaves(grad)))
      met = norm <= tol
      return value, grad, met, aux, dict(value=value, grad=grad, value_fn=value_fn)

  dtype = tau.dtype

  def cond(c):
    return ~c[4].converged & (c[2] <= num_steps)

  def body(c):
    v, state, i, _, st = c
    value, grad, met, (cost, acc), extra = evaluate(v)
    go = ~met & (i < num_steps)
    upd, state = optimizer.update(grad, state, v, **extra)
    new = optax.apply_updates(v, upd)
    v = jax.tree_util.tree_map(lambda a, b: jnp.where(go, a, b), new, v)
    st = _Stage(st.losses.at[i].set(value, mode="drop"), st.steps + go.astype(jnp.int32),
                met, cost, acc)
    return v, state, i + 1, None, st

  cost0 = jnp.zeros(traces.cost.shape[2:], dtype)
  st = _Stage(jnp.full((num_steps,), jnp.nan, dtype), jnp.zeros((), jnp.int32),
              jnp.zeros((), bool), cost0, jnp.asarray(jnp.nan, dtype))
  v, _, _, _, st = jax.lax.while_loop(
      cond, body, (x, optimizer.init(x), jnp.zeros((), jnp.int32), None, st))
  return v, st


_tune_jit = values.jit(_tune_impl, static_argnames=(
    "penalty", "min_ticks", "num_steps", "optimizer", "learn_calib", "budget"))
