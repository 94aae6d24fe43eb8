"""Schedulers: the price rule, the budget rule (Algorithm 1) and price search.

Keys. Every scheduler derives an episode's randomness the same way, so that an
episode gives the same result however it is batched: ``init`` receives
``fold_in(key, 0)`` and the t-th tick (t = 0, 1, ...) receives
``fold_in(key, t + 1)``, where ``key`` is the episode's key.

Price rule. Tick while ``calib(uncertainty(s)) - price * cost(s) > 0``, never
fewer than ``min_ticks`` and never more than ``max_ticks`` ticks. Under a fixed
price the allocation problem decomposes per episode (seed 000, section 3).

Budget rule. Algorithm 1 of the specification over a pool of agents: bid
``calib(u_i) - price * c_i``, tick the bidder with the largest positive surplus,
until the budget is spent or no bid is positive.

NaN signals. A NaN gain ``calib(uncertainty(s))`` or cost ``cost(s)`` makes
the surplus NaN, which is not positive: the rule stops there (the price rule
after ``min_ticks``; the budget rule never picks that bidder). That is not
silent: every result says which episodes stopped on a NaN signal
(:attr:`PriceResult.nan`, :attr:`BudgetResult.nan`, :attr:`jaxtick.Front.nan`),
read inside the compiled run (no host sync, no error under ``jit``); check it
where NaN can arise (``assert not res.nan.any()``). NaN that is already in the
arguments (problems, prices, budgets) is refused with a ``ValueError`` before
anything is compiled.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick import _checks, rng, values
from jaxtick import lanes as _lanes
from jaxtick.api import Agent, Array, CalibMap, PRNGKey, Problem, State
from jaxtick.calibrate import Identity


def init_key(key: PRNGKey) -> PRNGKey:
  """The key an episode's ``init`` receives: ``fold_in(key, 0)``."""
  _checks.check_key_dtype("key", key)
  return _init_key(key)


@jax.jit
def _init_key(key):
  return rng.fold_in(key, 0)


def tick_key(key: PRNGKey, t: Array) -> PRNGKey:
  """The key the ``t``-th tick (from 0) of an episode receives: ``fold_in(key, t + 1)``."""
  return rng.fold_in(key, t + 1)


def price_from_z(z) -> Array:
  """The price under which ``u = SE / |gap|`` stops at ``|gap| >= z * SE``: ``1 / z``.

  Args:
    z: f[] or f[m] thresholds, each finite and > 0.

  Returns:
    f[] or f[m] prices.
  """
  _checks.check_positive("z", z)
  return _reciprocal(values.device_array(z, jnp.result_type(float)))


@jax.jit
def _reciprocal(z):
  return 1.0 / z


class PriceResult(NamedTuple):
  """Outcome of the price rule.

  Attributes:
    state: the final agent state.
    ticks: i32[] ticks spent.
    cost: f[] cost spent (the sum of ``cost(s)`` before each tick).
    nan: bool[] the episode stopped on a NaN signal: ``calib(uncertainty)`` or
      ``cost`` was NaN in the final state (the price rule reads a NaN surplus
      as "stop"). False for every episode whose signals are finite.
  """

  state: State
  ticks: Array
  cost: Array
  nan: Array


def _wants_tick(agent, calib, state, t, price, min_ticks, max_ticks):
  """``(ticks again, the signal is NaN)`` for one episode after ``t`` ticks."""
  gain, cost = calib(agent.uncertainty(state)), agent.cost(state)
  surplus = gain - price * cost
  return ((t < max_ticks) & ((t < min_ticks) | (surplus > 0)),
          jnp.isnan(gain) | jnp.isnan(cost))


def run_price(agent: Agent, problem: Problem, key: PRNGKey, price, *,
              max_ticks: int, min_ticks: int = 0,
              calib: CalibMap = Identity()) -> PriceResult:
  """Runs one episode under the price rule.

  Ticks while ``calib(uncertainty) - price * cost > 0``, between ``min_ticks``
  and ``max_ticks``. Jit- and vmap-compatible; a vmapped call keeps every lane
  looping until the slowest episode stops (see :func:`run_price_batch` for
  a batch runner that does not).

  Args:
    agent: the Tick agent.
    problem: one episode's instance (no batch axis, no NaN).
    key: the episode's PRNG key (typed ``()`` or raw ``uint32[2]``).
    price: f[] the price lambda >= 0.
    max_ticks: static upper bound on ticks.
    min_ticks: static lower bound on ticks.
    calib: calibration map from uncertainty to expected gain.

  Returns:
    A :class:`PriceResult`.
  """
  _checks.check_ticks(min_ticks, max_ticks)
  _checks.check_nonneg("price", price, allow_inf=True)
  _checks.check_scalar("price", price)
  _checks.check_key(key, hint=" (for a batch use run_price_batch)")
  _checks.check_no_nan("problem", problem)
  _checks.check_callable("calib", calib)
  _checks.check_agent(agent, problem, key)
  price = jnp.asarray(price, jnp.result_type(float))
  return _run_price(agent, problem, key, price, calib, max_ticks=max_ticks,
                    min_ticks=min_ticks)


@functools.partial(values.jit, static_argnames=("max_ticks", "min_ticks"))
def _run_price(agent, problem, key, price, calib, *, max_ticks, min_ticks):
  state = agent.init(problem, init_key(key))
  dtype = jnp.result_type(float)

  def wants(state, t):
    return _wants_tick(agent, calib, state, t, price, min_ticks, max_ticks)

  def body(carry):
    state, t, spent, _ = carry
    spent = spent + agent.cost(state)
    state = agent.tick(state, tick_key(key, t))
    t = t + 1
    return state, t, spent, wants(state, t)[0]

  t0 = jnp.zeros((), jnp.int32)
  carry = (state, t0, jnp.zeros((), dtype), wants(state, t0)[0])
  state, t, spent, _ = jax.lax.while_loop(lambda c: c[3], body, carry)
  return PriceResult(state, t, spent, wants(state, t)[1])  # NaN read once, at the stop


def run_price_batch(agent: Agent, problems: Problem, keys: PRNGKey, price, *,
                    max_ticks: int, min_ticks: int = 0,
                    calib: CalibMap = Identity(), lanes: int = 8192,
                    refill_fraction: float = 0.5) -> PriceResult:
  """Runs a batch of episodes under the price rule with lane refilling.

  Same results as ``jax.vmap(run_price)`` -- every episode ends exactly as it
  does alone -- but instead of keeping all ``n`` episodes in flight until the
  slowest stops, it keeps ``lanes`` episodes in flight and refills finished
  lanes with the next episodes, as continuous batching does in LLM serving.
  When mean ticks are far below ``max_ticks`` this spends the hardware on
  ticks that episodes actually use. Ticks run in an inner loop that only
  tests the price rule; once ``refill_fraction`` of the lanes have finished,
  exactly that many are swapped (results written out, the next episodes
  loaded), so the swap's cost is shared by several ticks and scales with the
  lanes swapped. When no episode is left, the lanes still running are packed
  into ever fewer lanes as they drain (from 1,024 lanes up). Memory is
  O(n + lanes) states.

  Args:
    agent: the Tick agent.
    problems: a stacked pytree of n episodes (leading axis n on every leaf;
      no NaN).
    keys: n PRNG keys (typed ``(n,)`` or raw ``uint32[n, 2]``).
    price: f[] or f[n] prices (one per episode, e.g. for a flattened sweep).
    max_ticks, min_ticks: static tick bounds, as in :func:`run_price`.
    calib: calibration map.
    lanes: episodes in flight at once (clipped to n).
    refill_fraction: swap lanes once this fraction of them is idle (at least
      one lane).

  Returns:
    A :class:`PriceResult` whose leaves have a leading axis n.
  """
  _checks.check_ticks(min_ticks, max_ticks)
  n = _checks.check_batch(problems, keys, price)
  if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
    raise ValueError(f"lanes must be a positive int, got {lanes!r}")
  _checks.check_scalar("refill_fraction", refill_fraction)
  _checks.check_callable("calib", calib)
  if not 0 <= refill_fraction <= 1:
    raise ValueError(f"refill_fraction must lie in [0, 1], got {refill_fraction!r}")
  _checks.check_agent(agent, problems, keys, batched=True)
  num_lanes = min(lanes, n)
  min_idle = max(1, int(refill_fraction * num_lanes))
  dtype = jnp.result_type(float)
  prices = (jnp.broadcast_to(jnp.asarray(price, dtype), (n,)) if isinstance(price, jax.Array)
            else jax.device_put(np.broadcast_to(np.asarray(price, dtype), (n,))))
  return _run_price_batch(agent, problems, keys, prices, calib, max_ticks=max_ticks,
                          min_ticks=min_ticks, num_lanes=num_lanes, min_idle=min_idle)


@functools.partial(values.jit, static_argnames=("max_ticks", "min_ticks", "num_lanes",
                                                "min_idle"))
def _run_price_batch(agent, problems, keys, prices, calib, *, max_ticks, min_ticks,
                     num_lanes, min_idle):
  n = keys.shape[0]
  dtype = prices.dtype

  def wants(state, t, p):
    """(bool[lanes] ticks again, bool[lanes] the signal is NaN)."""
    return jax.vmap(lambda s, t, p: _wants_tick(
        agent, calib, s, t, p, min_ticks, max_ticks))(state, t, p)

  def load(idx, acc):
    """Lanes loaded with episodes ``idx`` (out-of-range ones marked empty)."""
    safe = jnp.clip(idx, 0, n - 1)
    k = keys[safe]
    state = jax.vmap(agent.init)(_lanes.take(problems, safe), jax.vmap(init_key)(k))
    ep = jnp.where(idx < n, idx, n)
    t = jnp.zeros(idx.shape, jnp.int32)
    go = (ep < n) & wants(state, t, prices[safe])[0]
    return _Lanes(state, k, prices[safe], ep, t, jnp.zeros(idx.shape, dtype), go), acc

  def step(ln, acc):
    cost = jax.vmap(agent.cost)(ln.state)
    ticked = jax.vmap(agent.tick)(ln.state, jax.vmap(tick_key)(ln.key, ln.t))
    t = jnp.where(ln.go, ln.t + 1, ln.t)
    state = _lanes.select(ln.go, ticked, ln.state)
    return ln._replace(state=state, t=t, spent=jnp.where(ln.go, ln.spent + cost, ln.spent),
                       go=ln.go & wants(state, t, ln.price)[0]), acc

  def write(rows, ln, mask):
    """Writes the episodes of the lanes in ``mask`` (final state, ticks, cost) into ``rows``."""
    return _lanes.rows_set(rows, jnp.where(mask, ln.ep, n),  # n: dropped
                           (ln.state, ln.t, ln.spent))

  # One episode's (state, ticks, cost), as written out.
  like = _lanes.row_like(jax.eval_shape(lambda: (lambda ln: (ln.state, ln.t, ln.spent))(
      load(jnp.zeros(1, jnp.int32), None)[0])))
  rows, _ = _lanes.run(load, step, write, _lanes.rows_zeros(n, like), None, num_episodes=n,
                       empty=n, num_lanes=num_lanes, min_idle=min_idle)
  state, ticks, cost = _lanes.rows_read(rows, like)
  # NaN signals read once, from the final states, outside the loop.
  return PriceResult(state, ticks, cost, wants(state, ticks, prices)[1])


class _Lanes(NamedTuple):
  """Episodes in flight in :func:`run_price_batch` (leading axis: lanes)."""

  state: State
  key: PRNGKey
  price: Array
  ep: Array  # episode index; n marks an empty lane
  t: Array
  spent: Array
  go: Array  # wants its next tick


def price_cost(agent: Agent, problems: Problem, keys: PRNGKey, *, max_ticks: int,
               min_ticks: int = 0, calib: CalibMap = Identity(),
               lanes: int = 8192) -> Callable[[Array], Array]:
  """The batch's mean cost as a function of the price, for the price searches.

  ``price_cost(...)(price)`` is ``run_price_batch(..., price).cost.mean()``.
  The function is a value (a ``jax.tree_util.Partial`` holding the agent and
  the batch), so :func:`bisect_price` and :func:`subgradient_price` compile
  once for every agent of one kind and batch shape, where a new lambda each
  time would compile anew.

  Args:
    agent, problems, keys, max_ticks, min_ticks, calib, lanes: as in
      :func:`run_price_batch`.

  Returns:
    ``price (f[]) -> f[]`` mean cost per episode.
  """
  _checks.check_ticks(min_ticks, max_ticks)
  n = _checks.check_batch(problems, keys)
  if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
    raise ValueError(f"lanes must be a positive int, got {lanes!r}")
  _checks.check_callable("calib", calib)
  _checks.check_agent(agent, problems, keys, batched=True)
  num_lanes = min(lanes, n)
  return jax.tree_util.Partial(_price_cost, agent, problems, keys, calib, max_ticks,
                               min_ticks, num_lanes, max(1, num_lanes // 2))


def _price_cost(agent, problems, keys, calib, max_ticks, min_ticks, num_lanes,
                min_idle, price):
  n = keys.shape[0]
  prices = jnp.broadcast_to(jnp.asarray(price, jnp.result_type(float)), (n,))
  res = _run_price_batch(agent, problems, keys, prices, calib, max_ticks=max_ticks,
                         min_ticks=min_ticks, num_lanes=num_lanes, min_idle=min_idle)
  return jnp.mean(res.cost)


class BudgetResult(NamedTuple):
  """Outcome of the budget rule over a pool of k agents.

  Attributes:
    state: the final states, stacked (leading axis k).
    ticks: i32[k] ticks each agent received.
    spent: f[] total cost spent (never more than the budget).
    output: the fused output (by default the stacked outputs, [k, ...]).
    nan: bool[k] the agent's signal (``calib(uncertainty)`` or ``cost``) is
      NaN in its final state, so it bid nothing at the end. False for every
      agent whose signals are finite.
  """

  state: State
  ticks: Array
  spent: Array
  output: Array
  nan: Array


def run_budget(agent: Agent, problems: Problem, keys: PRNGKey, budget,
               price=0.0, *, max_ticks: int, calib: CalibMap = Identity(),
               fuse: Callable[[Array, State], Array] | None = None
               ) -> BudgetResult:
  """Algorithm 1: greedy allocation of a budget across a pool of agents.

  Repeatedly computes every agent's bid ``calib(u_i) - price * c_i`` and ticks
  the agent with the largest positive surplus (the lowest index on ties),
  until no bid is positive or the budget is spent. A bid is only admissible if
  its cost still fits in the remaining budget and the agent has ticks left
  (``max_ticks`` per agent), so the spent cost never exceeds ``budget``; with
  equal costs that divide the budget this is exactly the specification's loop.
  With equal costs and gains that diminish per agent, greedy is optimal.

  Args:
    agent: the Tick agent (all pool members are of this kind).
    problems: stacked pytree of k instances (leading axis k on every leaf).
    keys: k PRNG keys; agent i's ticks use its key as in :func:`run_price`.
    budget: f[] total budget B >= 0.
    price: f[] price lambda >= 0 (0: spend while any gain is positive).
    max_ticks: static per-agent tick cap.
    calib: calibration map from uncertainty to expected gain.
    fuse: ``fuse(outputs, states) -> output``, with ``outputs`` the stacked
      per-agent outputs [k, ...]; default returns ``outputs``.

  Returns:
    A :class:`BudgetResult`.
  """
  _checks.check_ticks(0, max_ticks)
  for name, v in (("budget", budget), ("price", price)):
    _checks.check_scalar(name, v)
    _checks.check_nonneg(name, v, allow_inf=True)
  _checks.check_batch(problems, keys)
  _checks.check_callable("calib", calib)
  if fuse is not None:
    _checks.check_callable("fuse", fuse)
  _checks.check_agent(agent, problems, keys, batched=True)
  dtype = jnp.result_type(float)
  return _run_budget(agent, problems, keys, jnp.asarray(budget, dtype),
                     jnp.asarray(price, dtype), calib, fuse, max_ticks=max_ticks)


@functools.partial(values.jit, static_argnames=("max_ticks",))
def _run_budget(agent, problems, keys, budget, price, calib, fuse, *, max_ticks):
  k = keys.shape[0]
  dtype = budget.dtype
  states = jax.vmap(agent.init)(problems, jax.vmap(init_key)(keys))

  def bids(states, ticks, spent):
    u = jax.vmap(agent.uncertainty)(states)
    c = jax.vmap(agent.cost)(states)
    surplus = calib(u) - price * c
    ok = (surplus > 0) & (c <= budget - spent) & (ticks < max_ticks)
    return jnp.where(ok, surplus, -jnp.inf), c

  def body(carry):
    states, ticks, spent, surplus, c = carry
    i = jnp.argmax(surplus)
    one = jax.tree_util.tree_map(lambda x: x[i], states)
    one = agent.tick(one, tick_key(keys[i], ticks[i]))
    states = jax.tree_util.tree_map(lambda x, y: x.at[i].set(y), states, one)
    ticks = ticks.at[i].add(1)
    spent = spent + c[i]
    return (states, ticks, spent) + bids(states, ticks, spent)

  ticks = jnp.zeros(k, jnp.int32)
  spent = jnp.zeros((), dtype)
  carry = (states, ticks, spent) + bids(states, ticks, spent)
  states, ticks, spent, _, _ = jax.lax.while_loop(
      lambda c: jnp.max(c[3]) > -jnp.inf, body, carry)
  outputs = jax.vmap(agent.output)(states)
  output = outputs if fuse is None else fuse(outputs, states)
  nan = (jnp.isnan(calib(jax.vmap(agent.uncertainty)(states)))
         | jnp.isnan(jax.vmap(agent.cost)(states)))
  return BudgetResult(states, ticks, spent, output, nan)


class PriceSearchResult(NamedTuple):
  """Outcome of a price search.

  Attributes:
    price: f[] the price found.
    cost: f[] mean cost at that price.
    lo, hi: f[] the final bracket (bisection) -- cost(lo) > target >= cost(hi).
    reached: bool[] whether ``cost <= target``. False when even the initial
      ``hi`` overspends (the target is below the mean cost reachable in the
      bracket): ``price`` is then the bracket's end, not a solution.
  """

  price: Array
  cost: Array
  lo: Array
  hi: Array
  reached: Array


def bisect_price(mean_cost: Callable[[Array], Array], target, lo=0.0,
                 hi=1.0, *, num_iters: int = 40) -> PriceSearchResult:
  """Finds the price whose mean cost meets ``target`` by bisection.

  Mean cost is non-increasing in the price (a higher price stops every
  episode no later), so bisection on the bracket ``[lo, hi]`` converges to the
  smallest price whose mean cost is at most ``target``. Jit-compatible.
  Mean cost is a step function of the price; where many episodes share an
  uncertainty value (discrete signals) a single step can be larger than one
  tick per episode, and then no price meets the target closely: the bracket
  ``[lo, hi]`` tells where the step is.

  Args:
    mean_cost: ``price -> f[]`` mean cost over a batch at that price.
    target: f[] target mean cost.
    lo, hi: initial bracket, ``0 <= lo <= hi``.
    num_iters: static number of halvings.

  Returns:
    A :class:`PriceSearchResult` with ``price = hi``; ``reached`` says whether
    it meets the target (it does if the initial ``hi`` did). Under ``jit`` the
    caller checks ``reached``; :func:`jaxtick.matched_price` raises instead.
  """
  for name, v in (("target", target), ("lo", lo), ("hi", hi)):
    _checks.check_scalar(name, v)
    _checks.check_nonneg(name, v)
  clo, chi = _checks.concrete(lo), _checks.concrete(hi)
  if clo is not None and chi is not None and clo > chi:
    raise ValueError(f"need lo <= hi, got lo={lo}, hi={hi}")
  _checks.check_callable("mean_cost", mean_cost)
  if isinstance(num_iters, bool) or not isinstance(num_iters, int) or num_iters < 0:
    raise ValueError(f"num_iters must be a non-negative int, got {num_iters!r}")
  dtype = jnp.result_type(float)
  return _bisect(mean_cost, jnp.asarray(target, dtype), jnp.asarray(lo, dtype),
                 jnp.asarray(hi, dtype), num_iters=num_iters)


@functools.partial(values.jit, static_argnames=("num_iters",))
def _bisect(mean_cost, target, lo, hi, *, num_iters):
  def step(_, bracket):
    lo, hi = bracket
    mid = 0.5 * (lo + hi)
    meets = mean_cost(mid) <= target
    return jnp.where(meets, lo, mid), jnp.where(meets, mid, hi)

  lo, hi = jax.lax.fori_loop(0, num_iters, step, (lo, hi))
  cost = mean_cost(hi)
  return PriceSearchResult(hi, cost, lo, hi, cost <= target)


class SubgradientTrace(NamedTuple):
  """Prices and mean costs along the subgradient iteration.

  Attributes:
    price: f[] the last price.
    prices: f[num_steps] the price before each step.
    costs: f[num_steps] the mean cost at each of those prices.
    reached: bool[] whether some price tried met the target (``costs <=
      target`` somewhere). False when every one overspent: the target is
      below the mean cost reachable at any price, or the steps were too few
      or too small to get there; ``price`` is then not a solution.
  """

  price: Array
  prices: Array
  costs: Array
  reached: Array


def subgradient_price(mean_cost: Callable[[Array], Array], target, price=0.0,
                      *, step_size: float, num_steps: int) -> SubgradientTrace:
  """Projected subgradient ascent on the dual (seed 000, section 3).

  ``price <- max(0, price + step_size * (mean_cost(price) - target))``: the
  price rises while the batch overspends and falls while it underspends.

  Args:
    mean_cost: ``price -> f[]`` mean cost over a batch at that price.
    target: f[] the budget per episode.
    price: initial price >= 0.
    step_size: the step eta > 0.
    num_steps: static number of steps.

  Returns:
    A :class:`SubgradientTrace`; ``reached`` says whether some price tried
    met the target (as :func:`bisect_price`'s ``reached``). Under ``jit`` the
    caller checks it.
  """
  for name, v in (("target", target), ("price", price), ("step_size", step_size)):
    _checks.check_scalar(name, v)
    _checks.check_nonneg(name, v)
  _checks.check_positive("step_size", step_size)
  _checks.check_callable("mean_cost", mean_cost)
  if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
    raise ValueError(f"num_steps must be a non-negative int, got {num_steps!r}")
  dtype = jnp.result_type(float)
  return _subgradient(mean_cost, jnp.asarray(target, dtype), jnp.asarray(price, dtype),
                      jnp.asarray(step_size, dtype), num_steps=num_steps)


@functools.partial(values.jit, static_argnames=("num_steps",))
def _subgradient(mean_cost, target, price, step_size, *, num_steps):
  def step(p, _):
    c = mean_cost(p)
    return jnp.maximum(0.0, p + step_size * (c - target)), (p, c)

  p, (prices, costs) = jax.lax.scan(step, price, None, length=num_steps)
  return SubgradientTrace(p, prices, costs, jnp.any(costs <= target))
