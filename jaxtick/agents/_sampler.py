"""Repeated sampling of one LLM query as a Tick agent: best-of-N or majority vote.

The agent holds a pool of queries as data (a generator
:class:`jaxtick.problems.QueryPool` with its reward oracle, or a logged
:class:`jaxtick.problems.ReplayPool`); the *problem* is a query index
(i32[]). One tick draws the query's next response, response ``j = ticks so
far``, under the pools' key contract (so the tick key is not used, and the
agent sees the same responses as :func:`jaxtick.alloc.allocate`).

* ``uncertainty``: ``signal="reward"``: ``1 - best reward so far`` (1 before
  any response); ``signal="entropy"``: :func:`answer_entropy` of the answers
  so far (``log A`` before any response).
* ``output``: ``"best"``: the answer of the highest-reward response (earliest
  among ties); ``"majority"``: :func:`majority_vote`, the most frequent answer
  (earliest seen among ties). :func:`output_correct` says whether it is correct.
* signals for the allocation rules, read from the state (:class:`SamplerState`):
  best reward, mean reward (``sum_reward / n``), answer counts and their
  entropy, samples so far ``n``, the last response's tokens.
* ``cost``: 1 per response, or (``cost="tokens"``) the mean tokens of the
  responses so far (``initial_tokens`` before the first).

A replay query whose log is used up is *exhausted*: a tick then changes
nothing, uncertainty is 0 and cost is +inf, so the price rule stops it; it is
never handed an earlier sample again.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from jaxtick.api import Agent, Array
from jaxtick.problems import logs, pools


class SamplerState(NamedTuple):
  """One query's responses so far.

  Attributes:
    query: i32[] the query index.
    n: i32[] responses drawn.
    tokens: f[] tokens used.
    last_tokens: f[] tokens of the latest response (0 before any).
    sum_reward: f[] sum of the rewards (mean reward = sum_reward / n).
    best_reward: f[] highest reward (-inf before any response).
    best_answer: i32[] answer of that response (-1 before any).
    best_correct: bool[] that response is correct.
    covered: bool[] some response was correct.
    counts: i32[A] answers seen, per answer id.
    first_seen: i32[A] response index where each answer first appeared.
    first_correct: bool[A] whether that answer is correct.
    limit: i32[] responses available (replay: the logged count; else 2**30).
  """

  query: Array
  n: Array
  tokens: Array
  last_tokens: Array
  sum_reward: Array
  best_reward: Array
  best_answer: Array
  best_correct: Array
  covered: Array
  counts: Array
  first_seen: Array
  first_correct: Array
  limit: Array


def majority_vote(state: SamplerState) -> tuple[Array, Array]:
  """The majority answer and whether it is correct (any leading batch axes).

  The most frequent answer; among ties, the one seen first. The one majority
  vote of the LLM half: the sampler's output and the bandit's
  ``majority_correct`` both read it.

  Returns:
    ``(answer i32[...], correct bool[...])``: answer -1 and wrong before any
    response.
  """
  counts = state.counts
  top = jnp.max(counts, axis=-1, keepdims=True)
  fs = jnp.where((counts == top) & (counts > 0), state.first_seen,
                 jnp.iinfo(jnp.int32).max)
  a = jnp.argmin(fs, axis=-1)
  right = jnp.take_along_axis(state.first_correct, a[..., None], axis=-1)[..., 0]
  return jnp.where(state.n > 0, a, -1).astype(jnp.int32), right & (state.n > 0)


def answer_entropy(counts: Array, n: Array) -> Array:
  """Entropy (nats) of answer counts: ``(n log n - sum_a c_a log c_a) / n``.

  The one entropy of answer counts of the LLM half (the sampler's entropy
  signal, the bandit's entropy rule). The sum runs over the sorted counts in
  a fixed order, so equal multisets of counts give bit-equal entropies.

  Args:
    counts: i32[..., A] responses per answer id.
    n: i32[...] responses in all (>= the counts' sum; 0 gives 0).

  Returns:
    f[...] entropy in nats (the default float type).
  """
  f = jnp.result_type(float)
  c = jnp.sort(counts, axis=-1).astype(f)
  nf = jnp.maximum(n, 1).astype(f)
  clogc = jnp.where(c > 0, c * jnp.log(jnp.maximum(c, 1.0)), 0.0)
  acc = jnp.zeros_like(nf)
  for a in range(c.shape[-1]):   # a fixed summation order
    acc = acc + clogc[..., a]
  return (nf * jnp.log(nf) - acc) / nf


def output_correct(state: SamplerState, output: str = "best") -> Array:
  """bool[]: the agent's output (``"best"`` or ``"majority"``) is correct."""
  if output not in ("best", "majority"):
    raise ValueError(f"output must be 'best' or 'majority', got {output!r}")
  return state.best_correct if output == "best" else majority_vote(state)[1]


def sampler(pool, *, oracle: pools.RewardOracle = pools.GROUND_TRUTH,
            signal: str = "reward", output: str = "best", cost: str = "samples",
            initial_tokens: float = 500.0) -> Agent:
  """A Tick agent sampling one query of ``pool`` (see the module docstring).

  The agent is a value: its functions are module-level, and the pool's tables,
  the oracle's numbers and ``initial_tokens`` are bound as data with
  ``jax.tree_util.Partial``; ``signal``, ``output``, ``cost``, the pool's kind,
  the oracle's kind (``prm``) and the number of answer ids pick the code. So
  two samplers over different pools of the same shapes (or another oracle
  noise, another ``initial_tokens``) share one compiled program in every
  runner.

  Args:
    pool: a ``QueryPool`` (with ``oracle``) or a ``ReplayPool``.
    oracle: the reward oracle of a generator pool (ignored for replay).
    signal: ``"reward"`` or ``"entropy"``.
    output: ``"best"`` or ``"majority"``.
    cost: ``"samples"`` or ``"tokens"``.
    initial_tokens: cost of the first response when ``cost="tokens"`` (> 0).
  """
  if signal not in ("reward", "entropy"):
    raise ValueError(f"signal must be 'reward' or 'entropy', got {signal!r}")
  if output not in ("best", "majority"):
    raise ValueError(f"output must be 'best' or 'majority', got {output!r}")
  if cost not in ("samples", "tokens"):
    raise ValueError(f"cost must be 'samples' or 'tokens', got {cost!r}")
  if not (np.isfinite(initial_tokens) and initial_tokens > 0):
    raise ValueError(f"initial_tokens must be finite and > 0, got {initial_tokens!r}")
  if cost == "tokens" and isinstance(pool, logs.ReplayPool):
    logs.require_tokens(pool, "a token cost")
  if isinstance(pool, logs.ReplayPool):
    num_answers = max(int(np.max(np.asarray(pool.answer), initial=-1)) + 1, 1)
    draw, limit = Partial(_draw_replay, pool), Partial(_limit_replay, pool)
  elif isinstance(pool, pools.QueryPool):
    pools._check_oracle(oracle)
    num_answers = int(pool.answer_probs.shape[1])
    # the oracle's kind is static, its numbers are data (Python floats: traced)
    oracle = pools.RewardOracle(bool(oracle.prm), *(float(v) for v in oracle[1:]))
    draw, limit = Partial(_draw_generated, pool, oracle), Partial(_limit_generated)
  else:
    raise ValueError(f"pool must be a QueryPool or a ReplayPool, got {type(pool).__name__}")
  return Agent(
      Partial(_init, limit, num_answers), Partial(_tick, draw),
      Partial(_uncertainty_reward if signal == "reward" else _uncertainty_entropy),
      Partial(_output_best if output == "best" else _output_majority),
      Partial(_cost_samples) if cost == "samples"
      else Partial(_cost_tokens, float(initial_tokens)))


# -- the agent's functions (module level: one object for every sampler) ----------


def _draw_replay(pool, x, j):
  """Query ``x``'s ``j``-th logged response: (answer, tokens, reward, correct, valid)."""
  return logs.replay_response(pool, x, j)


def _draw_generated(pool, oracle, x, j):
  """Query ``x``'s ``j``-th generated response: (answer, tokens, reward, correct, valid)."""
  a, t, r = pools.response(pool, x, j, oracle)
  return a, t, r, a == 0, jnp.ones((), bool)


def _limit_replay(pool, x):
  return pool.count[x]


def _limit_generated(x):
  del x
  return jnp.int32(2 ** 30)


def _init(limit, num_answers, query, key):
  del key
  z, f = jnp.zeros((), jnp.int32), jnp.result_type(float)
  return SamplerState(
      query=jnp.asarray(query, jnp.int32), n=z, tokens=jnp.zeros((), f),
      last_tokens=jnp.zeros((), f), sum_reward=jnp.zeros((), f),
      best_reward=jnp.full((), -jnp.inf, f), best_answer=z - 1,
      best_correct=jnp.zeros((), bool), covered=jnp.zeros((), bool),
      counts=jnp.zeros(num_answers, jnp.int32),
      first_seen=jnp.zeros(num_answers, jnp.int32),
      first_correct=jnp.zeros(num_answers, bool),
      limit=jnp.asarray(limit(query), jnp.int32))


def _tick(draw, s, key):
  del key   # the key contract: response n of the query
  ids = jnp.arange(s.counts.shape[0], dtype=jnp.int32)
  a, t, r, c, valid = draw(s.query, s.n)
  t, r = t.astype(s.tokens.dtype), r.astype(s.best_reward.dtype)   # the state's float type
  valid = valid & (s.n < s.limit)
  improve = valid & (r > s.best_reward)
  hit = valid & (ids == a)
  new = hit & (s.counts == 0)
  return s._replace(
      n=s.n + valid.astype(jnp.int32), tokens=s.tokens + jnp.where(valid, t, 0.0),
      last_tokens=jnp.where(valid, t, 0.0),
      sum_reward=s.sum_reward + jnp.where(valid, r, 0.0),
      best_reward=jnp.where(improve, r, s.best_reward),
      best_answer=jnp.where(improve, a, s.best_answer),
      best_correct=jnp.where(improve, c, s.best_correct),
      covered=s.covered | (valid & c), counts=s.counts + hit.astype(jnp.int32),
      first_seen=jnp.where(new, s.n, s.first_seen),
      first_correct=jnp.where(new, c, s.first_correct))


def _exhausted_zero(s, u):
  return jnp.where(s.n >= s.limit, 0.0, u).astype(jnp.result_type(float))


def _uncertainty_reward(s):
  return _exhausted_zero(s, jnp.where(s.n > 0, 1.0 - s.best_reward, 1.0))


def _uncertainty_entropy(s):
  h = answer_entropy(s.counts, s.n)
  return _exhausted_zero(s, jnp.where(s.n > 0, h, jnp.log(float(s.counts.shape[0]))))


def _output_best(s):
  return s.best_answer


def _output_majority(s):
  return majority_vote(s)[0]


def _exhausted_inf(s, c):
  return jnp.where(s.n >= s.limit, jnp.inf, c).astype(jnp.result_type(float))


def _cost_samples(s):
  return _exhausted_inf(s, jnp.ones((), jnp.result_type(float)))


def _cost_tokens(initial_tokens, s):
  c = jnp.where(s.n > 0, s.tokens / jnp.maximum(s.n, 1), initial_tokens)
  return _exhausted_inf(s, c)
