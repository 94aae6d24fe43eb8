"""Lagrangian solve-then-learn (seeds 003/004).

Each instance ``x`` picks a budget level ``k`` (an action) with accuracy
``acc[x, k]`` and cost ``cost[k]`` (or ``cost[x, k]``). The budgeted problem
(maximise mean accuracy subject to mean cost <= B) is a multiple-choice
knapsack. Pricing the budget constraint at ``lambda`` decouples it: the
per-instance oracle is ``a*(x; lambda) = argmax_k acc[x, k] - lambda cost[k]``
(ties go to the cheapest level, so levels must be ordered by cost). That
oracle is the price rule on the level-table agent
(:func:`jaxtick.agents.levels`: a tick climbs the instance's upper concave
hull of accuracy vs cost, its threshold the hull slope): :func:`jaxtick.front`
on the agent is the cost--accuracy curve at every price and
:func:`jaxtick.matched_price` on it bisects the price for a budget.
:func:`oracle_actions` and :func:`allocate` are that rule in closed form (the
argmax, :func:`jaxtick.agents.price_choice`: no hull to trace, so the
bisection stays one fused pass per halving), equal to the agent under
:func:`jaxtick.front` at every price (tests/test_levels.py).
:func:`allocate` bisects (:func:`jaxtick.bisect_price`; mean cost is
non-increasing in ``lambda``, seed 003) for the smallest price whose mean
cost is at most ``B``. At that price the
instances with two optimal levels (within 1e-5 of the best utility: float
rounding can flip an exact tie) are tied; giving them the dearer level in
order, the last one fractionally, spends ``B``
exactly, and the result is an optimum of the LP relaxation (one fractional
instance at most: rounding it down costs at most one instance's worth).

The learn stage (:func:`fit_imitation`) trains a small MLP with optax to
predict the oracle's action from cheap features; :func:`regret_check` reports
the Lagrangian regret of any policy beside the bound
``imitation error x largest per-instance gap`` (seed 003's reduction).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.tree_util import Partial

from jaxtick import _checks, agents, schedule, values
from jaxtick.models import mlp

Array = jax.Array


class Allocation(NamedTuple):
  """A budgeted allocation at the bisected price.

  Attributes:
    price: f[] the price ``lambda*`` (bisection's ``hi``: mean cost <= target).
    action: i32[N] the oracle action at ``price`` (the cheapest of the levels
      within 1e-5 of the best Lagrangian utility).
    alt: i32[N] the dearest of those levels (the action just below ``price``).
    weight: f[N] probability of taking ``alt`` instead of ``action`` (the
      tie split; non-zero only for instances whose action changes across the
      bracket, fractional for at most one of them).
    mean_cost: f[] expected mean cost (the target where it binds; below it
      where even the price 0 spends less).
    mean_acc: f[] expected mean accuracy.
    lo: f[] the bracket's lower end.
  """

  price: Array
  action: Array
  alt: Array
  weight: Array
  mean_cost: Array
  mean_acc: Array
  lo: Array


def _check(acc, cost, *, features=None):
  a = _checks.concrete(acc)
  if a is not None:
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
      raise ValueError(f"acc must be [instances, levels] with at least one of each, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
      raise ValueError("acc contains NaN or inf")
  c = _checks.concrete(cost)
  if c is not None:
    if c.ndim not in (1, 2) or c.shape[-1] < 1:
      raise ValueError(f"cost must be [levels] or [instances, levels], got shape {c.shape}")
    if a is not None and c.shape[-1] != a.shape[1]:
      raise ValueError(f"cost has {c.shape[-1]} levels but acc has {a.shape[1]}")
    if not np.all(np.isfinite(c)) or np.any(c < 0):
      raise ValueError("cost must be finite and >= 0")
    if np.any(np.diff(c, axis=-1) < 0):
      raise ValueError("levels must be ordered by non-decreasing cost (ties go to the cheapest)")


def oracle_actions(acc: Array, cost: Array, price) -> Array:
  """i32[N]: ``argmax_k acc[x, k] - price * cost[k]``, ties to the cheapest level.

  The price rule on :func:`jaxtick.agents.levels` at ``price``, in closed form
  (:func:`jaxtick.agents.price_choice`; equal to the agent run by
  :func:`jaxtick.run_price_batch` or :func:`jaxtick.front`, tested).

  Args:
    acc: f[N, K] accuracy of each level.
    cost: f[K] or f[N, K] cost of each level, non-decreasing along K.
    price: f[] ``lambda >= 0``.
  """
  _checks.check_scalar("price", price)
  _checks.check_nonneg("price", price)
  _check(acc, cost)
  return agents.price_choice(acc, jnp.broadcast_to(cost, np.shape(acc)), price)


def _take(x, idx):
  return jnp.take_along_axis(x, idx[:, None], axis=1)[:, 0]


def cost_range(acc: Array, cost: Array) -> tuple[float, float]:
  """The feasible mean-cost targets: mean cheapest and mean dearest level."""
  c = np.broadcast_to(np.asarray(cost, float), np.shape(acc))
  return float(c[:, 0].mean()), float(c[:, -1].mean())


def allocate(acc: Array, cost: Array, target, *, num_iters: int = 48) -> Allocation:
  """Bisects the price for mean cost ``target`` and splits the ties to meet it.

  Args:
    acc: f[N, K] per-instance accuracy of each level.
    cost: f[K] or f[N, K] level costs, non-decreasing along K.
    target: mean-cost budget, within :func:`cost_range`.
    num_iters: bisection halvings.

  Returns:
    An :class:`Allocation`. If ``target`` exceeds what the price 0 spends,
    the budget does not bind: the allocation is the price-0 one (each
    instance's most accurate level, the cheapest of equals) and ``mean_cost``
    is what it spends, below ``target``.

  The bisection is :func:`jaxtick.bisect_price` on the mean cost of the price
  rule on :func:`jaxtick.agents.levels`, in closed form (the first level of
  largest utility, :func:`jaxtick.agents.first_max`: one fused pass per
  halving; equal to :func:`jaxtick.matched_price` on the agent, tested), then
  the tie split at the price found. Compiled once per (shapes,
  ``num_iters``): ``acc``, ``cost`` and ``target`` are traced.
  """
  _check(acc, cost)
  t = _checks.concrete(target)
  if t is not None:
    if t.ndim != 0 or not np.isfinite(t):
      raise ValueError(f"target must be a finite scalar, got {target!r}")
    lo_c, hi_c = cost_range(acc, cost)
    if not lo_c * (1 - 1e-6) <= float(t) <= hi_c * (1 + 1e-6):
      raise ValueError(f"target budget {float(t)!r} is outside [min cost, max cost] = "
                       f"[{lo_c!r}, {hi_c!r}]")
  dtype = jnp.result_type(float)
  return _allocate(*(jnp.asarray(x, dtype) for x in (acc, cost, target)), num_iters)


@jax.jit
def _price_cap(acc, cost):
  """A price at which every instance takes its cheapest level."""
  c = jnp.broadcast_to(cost, acc.shape)
  dc = c - c[:, :1]
  slope = jnp.where(dc > 0, (acc - acc[:, :1]) / jnp.where(dc > 0, dc, 1.0), 0.0)
  return 2.0 * jnp.maximum(jnp.max(slope), 0.0) + 1e-6


@values.jit
def _allocate(acc, cost, target, num_iters):
  """The compiled solve: one program per (shapes, ``num_iters``: a static int)."""
  acc_t = acc.T                                   # [K, N]: one contiguous row per level
  c_t = cost[:, None] if cost.ndim == 1 else cost.T  # [K, 1] or [K, N]

  def mean_cost(price):
    # The price rule on the level agent in closed form: the first level of largest
    # utility, its cost carried along (one fused pass).
    utility = [acc_t[k] - price * c_t[k] for k in range(acc_t.shape[0])]
    _, spent = agents.first_max(utility, c_t)
    return jnp.mean(spent)

  found = schedule.bisect_price(mean_cost, target, 0.0, _price_cap(acc, cost),
                                num_iters=num_iters)
  price = found.price
  c = jnp.broadcast_to(cost, acc.shape)
  n = acc.shape[0]
  # Near-ties at the final price (float rounding can flip an exact tie between
  # two evaluations): the cheapest near-optimal level, and the dearest.
  u = acc - price * c
  tol = 1e-5 * (jnp.max(jnp.abs(acc)) + price * jnp.max(c))
  near = u >= jnp.max(u, axis=1, keepdims=True) - tol
  action = jnp.argmax(near, axis=1)
  alt = acc.shape[1] - 1 - jnp.argmax(near[:, ::-1], axis=1)
  # A dearer tied level is worth buying only if it is more accurate: at a binding
  # price it is (equal utility, higher cost), but when the budget does not bind the
  # price is ~0 and the tie is between equally accurate levels; the allocation is
  # then the price-0 one, at its own (lower) cost.
  alt = jnp.where(_take(acc, alt) - _take(acc, action) > tol, alt, action)
  base = _take(c, action)
  extra = _take(c, alt) - base                  # > 0 only where the action changes
  slack = jnp.maximum(target * n - jnp.sum(base), 0.0)
  before = jnp.cumsum(extra) - extra
  weight = jnp.where(extra > 0, jnp.clip((slack - before) / jnp.where(extra > 0, extra, 1.0), 0.0, 1.0), 0.0)
  mc = jnp.mean(base + weight * extra)
  ma = jnp.mean(_take(acc, action) + weight * (_take(acc, alt) - _take(acc, action)))
  return Allocation(price, action, alt, weight, mc, ma, found.lo)


def integral_actions(alloc: Allocation) -> Array:
  """i32[N]: the allocation with the fractional instance rounded down (cost <= target)."""
  return jnp.where(alloc.weight >= 1.0, alloc.alt, alloc.action)


# --------------------------------------------------------------- baselines

def _bracket(cost, budget):
  """The two levels whose costs bracket ``budget`` and the dearer one's share."""
  cost = np.asarray(cost, float)
  if cost.ndim != 1 or len(cost) < 2 or np.any(np.diff(cost) <= 0):
    raise ValueError("baselines need >= 2 strictly increasing per-level costs f[K]")
  b = float(budget)
  if not cost[0] <= b <= cost[-1]:
    raise ValueError(f"budget {b!r} outside [{cost[0]!r}, {cost[-1]!r}]")
  k = int(np.clip(np.searchsorted(cost, b, side="right") - 1, 0, len(cost) - 2))
  return cost, k, (b - cost[k]) / (cost[k + 1] - cost[k])


def uniform(acc: Array, cost: Array, budget) -> tuple[Array, Array]:
  """Every instance gets the same mixture of the two levels bracketing ``budget``.

  Needs one cost per level (``cost`` f[K], strictly increasing). Returns
  ``(mean_acc, mean_cost)``.
  """
  cost, k, f = _bracket(cost, budget)
  return (jnp.mean((1 - f) * acc[:, k] + f * acc[:, k + 1]),
          jnp.asarray((1 - f) * cost[k] + f * cost[k + 1]))


def difficulty_heuristic(acc: Array, cost: Array, budget, difficulty: Array) -> tuple[Array, Array]:
  """Levels bracketing ``budget``: the hardest instances (by ``difficulty``) get the dearer one.

  The fraction given the dearer level makes the mean cost equal ``budget``
  (one instance is split). Returns ``(mean_acc, mean_cost)``.
  """
  cost, k, f = _bracket(cost, budget)
  f = f * acc.shape[0]                                           # instances upgraded
  rank = jnp.argsort(jnp.argsort(-jnp.asarray(difficulty)))     # 0 = hardest
  w = jnp.clip(f - rank, 0.0, 1.0)
  return jnp.mean((1 - w) * acc[:, k] + w * acc[:, k + 1]), jnp.mean((1 - w) * cost[k] + w * cost[k + 1])


# ------------------------------------------------------------------ learn

def fit_imitation(key: Array, features: Array, actions: Array, num_actions: int, *,
                  hidden: int = 64, steps: int = 1500, learning_rate: float = 3e-3,
                  weight_decay: float = 1e-4) -> mlp.Params:
  """An MLP (one hidden layer) imitating the oracle's actions by cross-entropy.

  Args:
    key: PRNG key for the initial weights.
    features: f[N, F] cheap per-instance features (finite).
    actions: i32[N] oracle actions in ``0..num_actions-1``.

  Returns:
    MLP parameters; :func:`predict` gives actions.

  Compiled once per shapes (and ``hidden``): other features, actions,
  learning rate or weight decay of the same shapes reuse the program.
  """
  x = mlp.check_features("features", features)
  a = np.asarray(actions)
  if a.shape != (x.shape[0],) or a.min() < 0 or a.max() >= num_actions:
    raise ValueError(f"actions must be ints in [0, {num_actions}) with one per feature row")
  mu, sd = x.mean(0), x.std(0) + 1e-6
  params = mlp.init(key, (x.shape[1], hidden, num_actions))
  xs, ys = jnp.asarray((x - mu) / sd), jnp.asarray(a)

  loss = Partial(_imitation_loss, xs, ys, float(weight_decay))
  params, _ = mlp.fit(loss, params, steps=steps, num_rows=x.shape[0],
                      learning_rate=learning_rate)
  return {"mlp": params, "mu": jnp.asarray(mu), "sd": jnp.asarray(sd)}


def _imitation_loss(xs, ys, weight_decay, p, rows):
  """Cross-entropy of the MLP's logits on rows i32[b] of xs f[N, F] against ys i32[N], + L2."""
  logits = mlp.apply(p, xs[rows])
  l2 = sum(jnp.sum(w ** 2) for w, _ in p)
  return optax.softmax_cross_entropy_with_integer_labels(logits, ys[rows]).mean() + weight_decay * l2


def predict(policy, features: Array) -> Array:
  """i32[N]: the imitation policy's actions."""
  x = mlp.check_features("features", features)
  return jnp.argmax(mlp.apply(policy["mlp"], (jnp.asarray(x) - policy["mu"]) / policy["sd"]), axis=1)


class RegretCheck(NamedTuple):
  """Seed 003's reduction on a policy's actions at price ``lambda``.

  Attributes:
    regret: f[] mean of ``u(oracle) - u(policy)``, ``u = acc - lambda cost``.
    imitation_error: f[] fraction of instances where the actions differ.
    max_gap: f[] largest ``max_k u - min_k u`` over instances.
    bound: f[] ``imitation_error * max_gap`` (regret never exceeds it).
  """

  regret: Array
  imitation_error: Array
  max_gap: Array
  bound: Array


def regret_check(acc: Array, cost: Array, price, oracle: Array, policy: Array) -> RegretCheck:
  """The regret of ``policy`` against ``oracle`` actions and its bound."""
  u = acc - price * jnp.broadcast_to(cost, acc.shape)
  regret = jnp.mean(_take(u, oracle) - _take(u, policy))
  err = jnp.mean(oracle != policy)
  gap = jnp.max(u.max(1) - u.min(1))
  return RegretCheck(regret, err, gap, err * gap)
