"""Bandit allocation of repeated samples across a pool of queries (seed 002).

The algorithm (the bandit seed's Algorithm 1): every query starts in the
active set; in each round an *exploration rule* selects active queries, each
selected query gets ``k`` more responses, every response is scored by the
reward oracle, and a query leaves the active set (is *eliminated*) once its
best reward reaches ``gamma``. The run ends when the total budget ``B`` is
spent, or no query is active. A query also leaves the active set, without
being eliminated, once it has ``max_samples`` responses, or (replay) once its
logged samples are used up: it is *exhausted*; nothing is ever wrapped around.

Rules (``rule=``). The seed names the rules but this module fixes their exact
form (our reading; the seed gives no formulas). ``n_x`` is the number of
responses query ``x`` has, ``T`` the number of responses delivered so far + 1,
``c = exploration``:

* ``"uniform"``: the baseline. Every query is served every round, nobody is
  eliminated: with ``B = N * Q`` and ``k = 1`` each query gets exactly N.
* ``"elimination"``: every active query is served every round (uniform over
  the active set).
* ``"ucb"``: priority ``mean reward_x + c sqrt(log T / n_x)``.
* ``"gap"``: priority ``(gamma - best reward_x) + c sqrt(log T / n_x)``: the
  queries furthest from elimination first.
* ``"entropy"``: priority = entropy (nats) of the answers ``x`` gave so far,
  rounded to a grid of 1/4096 nats (:func:`jaxtick.agents.answer_entropy`).

For ucb/gap/entropy each round serves the ``ceil(select_fraction * |A|)``
active queries of highest priority (ties: fewer responses first, then lower
index; a query with no response has priority +inf).

Budget. ``cost="samples"``: a response costs 1. ``cost="tokens"``: a response
costs its token count rounded to an integer (the seed's Open Question 3).
Responses are delivered in query-index order within a round; the first one
whose cost would overdraw ``B`` is not delivered and ends the run, so the
spent budget never exceeds ``B``.

Outputs: coverage (some response correct), best-of-N accuracy (the response
with the highest reward, the earliest one among ties, is correct) and majority
vote accuracy (the most frequent answer, the earliest-seen among ties, is
correct).

Implementation: a thin call of the round-based budget rule
(:func:`jaxtick.rounds.rounds`) over a pool of sampler agents
(:func:`jaxtick.agents.sampler`, one tick = one response of one query): the
rules are selection rules over the samplers' signals (best reward, mean
reward, answer entropy, samples so far), a response's cost is its ``charge``,
and the per-query outputs are each sampler's ``record``. One jitted program
per (rule kind -- uniform/elimination or ranked --, ``k``, ``cost``, the
oracle's kind, the number of answer ids, the query bucket, one budget or an
array): the pool's tables, the budget and every float option (gamma,
select_fraction, exploration, the oracle's numbers) are traced, so another
pool of the same shapes, or another budget or threshold, reuses the program.
The queries are padded to :func:`jaxtick.values.bucket` sizes (a padded query
has cap 0: it receives no response and no budget, and is cut from the
result). The rule's shrinking windows of still-active queries make a round
cost O(active queries); state is O(Q x A) (answer counts), never O(Q x B).
An array of budgets is read off one run at the largest (the rule's budget
sweep), equal budget for budget to separate runs.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from jaxtick import rounds as rounds_lib
from jaxtick import values
from jaxtick.agents import answer_entropy, majority_vote, sampler
from jaxtick.problems import logs, pools

Array = jax.Array

RULES = ("uniform", "elimination", "ucb", "gap", "entropy")
COSTS = ("samples", "tokens")
NO_CAP = 2 ** 30
TOKEN_BUDGET_CAP = 2 ** 30
ENTROPY_GRID = 4096.0


class BanditResult(NamedTuple):
  """The outcome of one allocation run (arrays over the Q queries).

  Attributes:
    samples: i32[Q] responses each query received.
    cost: i32[Q] budget each query used (= samples when cost="samples").
    covered: bool[Q] some response is correct (coverage).
    best_correct: bool[Q] the best-reward response is correct (accuracy).
    majority_correct: bool[Q] the majority answer is correct.
    best_reward: f[Q] highest reward seen, -inf if none (the default float type).
    eliminated: bool[Q] the best reward reached gamma.
    exhausted: bool[Q] stopped at ``max_samples`` or the end of its log.
    spent: i32[] budget spent in all.
    rounds: i32[] rounds run.
  """

  samples: Array
  cost: Array
  covered: Array
  best_correct: Array
  majority_correct: Array
  best_reward: Array
  eliminated: Array
  exhausted: Array
  spent: Array
  rounds: Array


class _Static(NamedTuple):
  ranked: bool      # ucb, gap, entropy: serve the top of a priority order
  rounds: rounds_lib.Static


def _selection_all(rule_id, gamma, states, ticks, delivered):
  """Uniform and elimination: every query still active (elimination: best < gamma)."""
  del ticks, delivered
  return rounds_lib.Selection(active=~_eliminated(rule_id, gamma, states))


def _selection_ranked(rule_id, gamma, exploration, states, ticks, delivered):
  """UCB, gap, entropy: the active queries with their priority (module docstring)."""
  del ticks
  s = states
  nf = jnp.maximum(s.n, 1).astype(s.sum_reward.dtype)
  t = (delivered + 1).astype(s.sum_reward.dtype)
  bonus = exploration * jnp.sqrt(jnp.log(t) / nf)
  ent = answer_entropy(s.counts, s.n)
  ent = jnp.round(ent * ENTROPY_GRID) / ENTROPY_GRID   # equal entropies compare equal
  pr = jnp.where(rule_id == RULES.index("ucb"), s.sum_reward / nf + bonus,
                 jnp.where(rule_id == RULES.index("gap"), (gamma - s.best_reward) + bonus,
                           ent))
  return rounds_lib.Selection(active=~_eliminated(rule_id, gamma, s),
                              priority=jnp.where(s.n == 0, jnp.inf, pr))


def _eliminated(rule_id, gamma, s):
  return (s.best_reward >= gamma) & (rule_id != RULES.index("uniform"))


def _charge_samples(before, after):
  return (after.n > before.n).astype(jnp.int32)


def _charge_tokens(before, after):
  """A response costs its token count rounded to an integer."""
  return jnp.where(after.n > before.n, jnp.round(after.last_tokens).astype(jnp.int32), 0)


def _record(rule_id, gamma, s):
  """A query's outputs: (covered, best_correct, majority_correct, best_reward, eliminated)."""
  return (s.covered, s.best_correct, majority_vote(s)[1], s.best_reward,
          _eliminated(rule_id, gamma, s))


def _num_queries(pool):
  if isinstance(pool, logs.ReplayPool):
    return pool.count.shape[0]
  if isinstance(pool, pools.QueryPool):
    return pool.p.shape[0]
  raise ValueError(f"pool must be a QueryPool or a ReplayPool, got {type(pool).__name__}")


def _is_real(x) -> bool:
  """A real scalar: a Python, NumPy or JAX int or float (not a bool)."""
  return (not isinstance(x, bool) and np.ndim(x) == 0
          and np.asarray(x).dtype.kind in "iuf")


def allocate(pool, budget, *, rule: str = "elimination", k: int = 1, gamma: float = 1.0,
             oracle: pools.RewardOracle = pools.GROUND_TRUTH, cost: str = "samples",
             max_samples: int | None = None, select_fraction: float = 0.5,
             exploration: float = 1.0) -> BanditResult:
  """Allocates a total budget across a pool of queries (see the module docstring).

  Args:
    pool: a :class:`jaxtick.problems.QueryPool` (responses from the generator,
      scored by ``oracle``) or a :class:`jaxtick.problems.ReplayPool` (logged
      samples in order; ``oracle`` is ignored).
    budget: total budget B (int >= 0; responses, or tokens when
      ``cost="tokens"``), or an int array [S] of budgets: then every field of
      the result gains a leading axis S (one compiled program, vmapped).
    rule: one of :data:`RULES`.
    k: responses per selected query per round (>= 1).
    gamma: elimination threshold on the best reward.
    oracle: reward oracle of a generator pool.
    cost: ``"samples"`` or ``"tokens"``.
    max_samples: per-query cap (None: none for a generator pool; a replay
      pool's cap is always its logged count).
    select_fraction: fraction of the active set served per round by ucb, gap
      and entropy, in (0, 1].
    exploration: weight ``c`` of the confidence bonus (>= 0).

  Returns:
    a :class:`BanditResult`.
  """
  q = _num_queries(pool)
  if q == 0:
    raise ValueError("pool must hold at least one query, got an empty pool")
  if rule not in RULES:
    raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
  if cost not in COSTS:
    raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
    raise ValueError(f"k must be an int >= 1, got {k!r}")
  if not (_is_real(gamma) and math.isfinite(gamma)):
    raise ValueError(f"gamma must be a finite number, got {gamma!r}")
  if not (_is_real(select_fraction) and 0 < select_fraction <= 1):
    raise ValueError(f"select_fraction must lie in (0, 1], got {select_fraction!r}")
  if not (_is_real(exploration) and math.isfinite(exploration) and exploration >= 0):
    raise ValueError(f"exploration must be a finite number >= 0, got {exploration!r}")
  if cost == "tokens" and isinstance(pool, logs.ReplayPool):
    logs.require_tokens(pool, "a token budget")
  if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(
      max_samples, (int, np.integer)) or max_samples < 1):
    raise ValueError(f"max_samples must be None or an int >= 1, got {max_samples!r}")
  b = np.asarray(budget)
  limit = TOKEN_BUDGET_CAP if cost == "tokens" else 2 ** 31 - 1
  if b.ndim > 1 or b.dtype.kind not in "iu" or (b < 0).any() or (b >= limit).any():
    got = f"{b.dtype} of shape {b.shape}" if b.ndim else repr(budget)
    raise ValueError(f"budget must be an int >= 0 below {limit} (or a 1-d int array), "
                     f"got {got}")
  if q * k >= 2 ** 31 - 1:
    raise ValueError(f"num_queries * k must stay below 2**31, got {q} * {k}")
  cap_max = NO_CAP if max_samples is None else min(int(max_samples), NO_CAP)
  if isinstance(pool, logs.ReplayPool):
    count = pool.count
    oracle = pools.GROUND_TRUTH
  else:
    pools._check_oracle(oracle)
    count = None
  return _allocate(pool, count, cap_max, b, values.bucket(q), rule=rule, k=int(k), gamma=gamma,
                   oracle=oracle, cost=cost, select_fraction=select_fraction,
                   exploration=exploration)


def _allocate(pool, count, cap_max: int, budget: np.ndarray, size: int, *, rule, k, gamma,
              oracle, cost, select_fraction, exploration) -> BanditResult:
  """Runs the checked allocation with the Q queries padded to ``size`` >= Q lanes.

  ``count`` is a replay pool's logged counts i32[Q] (None for a generator
  pool); each query's cap is ``min(count, cap_max)``. The padded queries (the
  pool's last row repeated, cap 0) are never active, and are cut from the
  result: any ``size`` gives the same result.
  """
  q = _num_queries(pool)
  ranked = rule in ("ucb", "gap", "entropy")
  st = _Static(ranked, rounds_lib.Static(k, ranked, TOKEN_BUDGET_CAP if cost == "tokens"
                                         else None, rounds_lib.windows(size)))
  cap = np.full(q, cap_max, np.int32) if count is None else np.minimum(np.asarray(count), cap_max)
  cap = np.concatenate([cap.astype(np.int32), np.zeros(size - q, np.int32)])
  agent = sampler(_pad_pool(pool, size), oracle=oracle)   # padded on the host: no program
  # Host scalars as 0-d NumPy arrays: data to the compiled run, and no eager op.
  dtype = jnp.result_type(float)
  rule_id, g = np.asarray(RULES.index(rule), np.int32), np.asarray(gamma, dtype)
  select = (Partial(_selection_ranked, rule_id, g, np.asarray(exploration, dtype)) if ranked
            else Partial(_selection_all, rule_id, g))
  charge = Partial(_charge_samples if cost == "samples" else _charge_tokens)
  run = _run_one if budget.ndim == 0 else _run_many
  res = run(st, agent, cap, np.atleast_1d(np.asarray(budget, np.int32)),
            np.asarray(select_fraction, dtype), select, charge, Partial(_record, rule_id, g))
  return _cut(res, q, budget.ndim == 0)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _cut(res: BanditResult, q: int, one: bool) -> BanditResult:
  """The result cut to the Q real queries (and to the one budget when ``one``)."""
  res = jax.tree_util.tree_map(lambda x: x[..., :q] if x.ndim > 1 else x, res)
  return jax.tree_util.tree_map(lambda x: x[0], res) if one else res


def _pad_pool(pool, size: int):
  """The pool with its query axis padded to ``size`` (the last query repeated)."""
  if isinstance(pool, logs.ReplayPool):
    return values.pad_rows(pool, size)
  # a QueryPool: response_sigma f[] has no query axis
  return values.pad_rows(pool._replace(response_sigma=None), size)._replace(
      response_sigma=pool.response_sigma)


def _run(st, agent, cap, budgets, fraction, select, charge, record) -> BanditResult:
  """The rounds over the padded pool at budgets i32[S]: fields [S, size] (and [S])."""
  size = cap.shape[0]
  keys = jnp.zeros((size, 2), jnp.uint32)   # unused: responses follow the pools' contract
  res = rounds_lib.rounds(st.rounds, agent, jnp.arange(size, dtype=jnp.int32), keys, cap,
                          budgets, fraction, select, charge, record)
  covered, best_correct, majority_correct, best_reward, eliminated = res.record
  return BanditResult(samples=res.ticks, cost=res.cost, covered=covered,
                      best_correct=best_correct, majority_correct=majority_correct,
                      best_reward=best_reward, eliminated=eliminated,
                      exhausted=~eliminated & (res.ticks >= cap),
                      spent=res.spent, rounds=res.rounds)


@values.jit
def _run_one(st, agent, cap, budgets, *args) -> BanditResult:
  """The compiled allocation at one budget (budgets i32[1]; arguments as :func:`_run`)."""
  return _run(st, agent, cap, budgets, *args)


@values.jit
def _run_many(st, agent, cap, budgets, *args) -> BanditResult:
  """The compiled allocation at every budget i32[S], read off one run."""
  return _run(st, agent, cap, budgets, *args)
