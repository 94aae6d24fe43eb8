"""Query pools: a simulated LLM answering a pool of queries by repeated sampling.

The seeds on LLM test-time compute (001-004) all start from the same object: a
pool of Q queries, each with a latent per-sample solve probability ``p_x``. A
response to query ``x`` is correct with probability ``p_x``, independently of
the other responses (the bandit seed's Assumption: independent Bernoulli
trials per generation). Everything an allocation method sees is derived from
it here, so that every method is scored on the same latent difficulty.

Generative model (all parameters in :class:`PoolMixture`):

* **Difficulty level** ``L_x`` in ``{0, ..., M-1}`` with probabilities
  ``weights``. The default weights are MATH-500's level counts
  (43, 90, 105, 128, 134 problems at levels 1-5).
* **Unsolvable queries**: with probability ``unsolvable[L]`` a query has
  ``p_x = 0`` (no response is ever correct).
* **Solve rate** of the others: ``p_x ~ Beta(kappa m_L, kappa (1 - m_L))``,
  mean ``m_L = mean[L]``. The default means (0.85, 0.70, 0.55, 0.40, 0.20) and
  unsolvable fractions are *assumptions*, in the range an 8B instruction-tuned
  model reaches on MATH by level; they are not fitted to a published
  per-query table (none was found). ``kappa = 2`` spreads solve rates over the
  whole interval, so every level holds both easy and hard queries.
* **Answers**: a response's answer is an id in ``{0, ..., A-1}``; id 0 is the
  correct answer (probability ``p_x``). The remaining mass ``1 - p_x`` is
  spread over the distractor ids ``1..A-1`` with query-specific Dirichlet
  weights: concentration ``distractor_concentration`` for solvable queries
  (diverse wrong answers) and ``invalid_concentration`` for unsolvable ones
  (a few repeated invalid answers: the bandit seed's Mechanism 2, by which
  response entropy signals solvability).
* **Rewards** (:class:`RewardOracle`): the ground-truth oracle scores a
  response 1 if correct, else 0; the noisy process-reward-model (PRM) oracle
  scores it ``sigmoid(mu_correct + noise * eps)`` if correct and
  ``sigmoid(mu_wrong + noise * eps)`` if not. With probability ``corruption``
  either oracle scores a response as if its correctness were flipped.
* **Tokens**: a query's mean response length is
  ``token_base * token_growth ** L_x * exp(token_sigma * eps_x)``; a single
  response's length is lognormal around it with log-sd ``response_sigma``.

Key contract (the core's, :mod:`jaxtick.rng`): response ``j`` (j = 0, 1, ...)
of the query whose key is ``k`` is drawn from the tick key
``fold_in(k, j + 1)`` (:func:`jaxtick.tick_key`), exactly the key a sampler
agent's tick ``j`` receives in an episode whose key is ``k``. So two allocation
methods that ask the same query for its ``j``-th response see the same
response. The tick key is one threefry hash; its 64 bits are two independent
32-bit uniforms, ``w0 ^ w1`` (the bits :func:`jaxtick.rng.uniform` uses) and
``w0``:

* the **answer** by inverse CDF from the first (one comparison per answer id
  against the cumulative table of ``answer_probs``);
* the **corruption flip** from the second (``u < corruption``);
* the **token count** and the **PRM score** from one more hash,
  ``fold_in(tick key, 1)``: its two words give two independent standard
  normals by Box-Muller (a compiled caller that uses neither, e.g. the bandit
  with sample costs and the ground-truth oracle, never computes that hash).

Uniforms have 24 random bits (``[0, 1)`` on a grid of 2^-24), whatever the
float type, so an answer or a flip is the same under ``jax_enable_x64``.

Float type: every float of a pool and of its responses is the library's
default float (``jnp.result_type(float)``: float32, or float64 under
``jax_enable_x64``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick import rng

Array = jax.Array

MATH500_LEVEL_COUNTS = (43, 90, 105, 128, 134)


class PoolMixture(NamedTuple):
  """Parameters of the difficulty mixture (see the module docstring).

  Attributes:
    weights: level probabilities, length M (normalised by :func:`query_pool`).
    mean: mean solve rate of a solvable query per level, in (0, 1), length M.
    unsolvable: probability that a query of each level is unsolvable, length M.
    concentration: Beta concentration ``kappa`` of the solve rates (> 0).
    distractor_concentration: Dirichlet concentration of a solvable query's
      wrong answers (> 0; large: wrong answers spread evenly).
    invalid_concentration: the same for unsolvable queries (> 0; small: a few
      repeated invalid answers).
    token_base: mean tokens per response at level 0 (> 0).
    token_growth: factor per level (> 0).
    token_sigma: log-sd of a query's mean length around its level's (>= 0).
    response_sigma: log-sd of one response's length around its query's (>= 0).
  """

  weights: Sequence[float] = tuple(c / 500 for c in MATH500_LEVEL_COUNTS)
  mean: Sequence[float] = (0.85, 0.70, 0.55, 0.40, 0.20)
  unsolvable: Sequence[float] = (0.0, 0.02, 0.05, 0.10, 0.25)
  concentration: float = 2.0
  distractor_concentration: float = 1.0
  invalid_concentration: float = 0.15
  token_base: float = 350.0
  token_growth: float = 1.3
  token_sigma: float = 0.25
  response_sigma: float = 0.35


class RewardOracle(NamedTuple):
  """How a response is scored (see the module docstring).

  Attributes:
    prm: False: the ground-truth oracle (reward = correctness); True: a noisy
      PRM score in (0, 1).
    corruption: probability in [0, 1] that a response is scored as if its
      correctness were flipped.
    mu_correct, mu_wrong: mean PRM logit of correct and wrong responses.
    noise: sd of the PRM logit (>= 0).
  """

  prm: bool = False
  corruption: float = 0.0
  mu_correct: float = 4.0
  mu_wrong: float = -1.0
  noise: float = 1.5


GROUND_TRUTH = RewardOracle()


def prm_oracle(corruption: float = 0.0, **kw) -> RewardOracle:
  """A noisy process-reward-model oracle with the given corruption rate."""
  oracle = RewardOracle(prm=True, corruption=corruption, **kw)
  _check_oracle(oracle)
  return oracle


def _check_oracle(o: RewardOracle):
  if not (np.isfinite(o.corruption) and 0.0 <= o.corruption <= 1.0):
    raise ValueError(f"corruption must lie in [0, 1], got {o.corruption!r}")
  if not all(np.isfinite(v) for v in (o.mu_correct, o.mu_wrong)):
    raise ValueError(f"mu_correct and mu_wrong must be finite, got {o.mu_correct}, {o.mu_wrong}")
  if not (np.isfinite(o.noise) and o.noise >= 0):
    raise ValueError(f"noise must be a finite number >= 0, got {o.noise!r}")


class QueryPool(NamedTuple):
  """A pool of Q queries (arrays with a leading query axis).

  Attributes:
    p: f[Q] per-response solve probability (0 for an unsolvable query).
    level: i32[Q] difficulty level.
    solvable: bool[Q] ``p > 0``.
    answer_probs: f[Q, A] distribution of a response's answer id; column 0 is
      the correct answer (equal to ``p``).
    token_mean: f[Q] mean tokens per response.
    response_sigma: f[] log-sd of one response's length.
    keys: key[Q] per-query response keys (see the key contract).
  """

  p: Array
  level: Array
  solvable: Array
  answer_probs: Array
  token_mean: Array
  response_sigma: Array
  keys: Array


class Responses(NamedTuple):
  """Responses to a pool, ``n`` per query.

  Attributes:
    answer: i32[Q, n] answer ids (0 = correct).
    correct: bool[Q, n] ``answer == 0``.
    tokens: f[Q, n] tokens of each response.
    reward: f[Q, n] the oracle's score of each response.
  """

  answer: Array
  correct: Array
  tokens: Array
  reward: Array


def _check_mixture(m: PoolMixture) -> int:
  arrs = {k: np.asarray(getattr(m, k), float)
          for k in ("weights", "mean", "unsolvable")}
  n = arrs["weights"].shape
  if len(n) != 1 or n[0] < 1:
    raise ValueError(f"weights must be a non-empty 1-d sequence, got shape {n}")
  for k, a in arrs.items():
    if a.shape != n:
      raise ValueError(f"{k} must have one entry per level ({n[0]}), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
      raise ValueError(f"{k} must be finite, got {a}")
  if np.any(arrs["weights"] < 0) or arrs["weights"].sum() <= 0:
    raise ValueError(f"weights must be >= 0 with a positive sum, got {arrs['weights']}")
  if np.any((arrs["mean"] <= 0) | (arrs["mean"] >= 1)):
    raise ValueError(f"mean solve rates must lie in (0, 1), got {arrs['mean']}")
  if np.any((arrs["unsolvable"] < 0) | (arrs["unsolvable"] > 1)):
    raise ValueError(f"unsolvable fractions must lie in [0, 1], got {arrs['unsolvable']}")
  for k in ("concentration", "distractor_concentration", "invalid_concentration",
            "token_base", "token_growth"):
    v = getattr(m, k)
    if not (np.isfinite(v) and v > 0):
      raise ValueError(f"{k} must be a finite number > 0, got {v!r}")
  for k in ("token_sigma", "response_sigma"):
    v = getattr(m, k)
    if not (np.isfinite(v) and v >= 0):
      raise ValueError(f"{k} must be a finite number >= 0, got {v!r}")
  return n[0]


def query_pool(key: Array, num_queries: int, mixture: PoolMixture = PoolMixture(),
               *, num_answers: int = 8) -> QueryPool:
  """Draws a pool of ``num_queries`` queries from ``mixture``.

  Args:
    key: PRNG key.
    num_queries: Q >= 1.
    mixture: the difficulty mixture.
    num_answers: A >= 2 answer ids (the correct one and A - 1 distractors).

  Returns:
    a :class:`QueryPool`.
  """
  if not isinstance(num_queries, (int, np.integer)) or num_queries < 1:
    raise ValueError(f"num_queries must be a positive int, got {num_queries!r}")
  if not isinstance(num_answers, (int, np.integer)) or num_answers < 2:
    raise ValueError(f"num_answers must be an int >= 2, got {num_answers!r}")
  levels = _check_mixture(mixture)
  q = int(num_queries)
  w = np.asarray(mixture.weights, float)
  flt = lambda v: np.asarray(v, jnp.result_type(float))  # host arrays: no eager programs
  pool = _draw_pool(key, flt(w / w.sum()), flt(mixture.mean), flt(mixture.unsolvable),
                    *(flt(getattr(mixture, k)) for k in _MIXTURE_SCALARS),
                    size=_pool_size(q), num_answers=int(num_answers), num_levels=levels)
  return _first_rows(pool, q=q)


_MIXTURE_SCALARS = ("concentration", "invalid_concentration", "distractor_concentration",
                    "token_base", "token_growth", "token_sigma", "response_sigma")


def _pool_size(q: int) -> int:
  """Queries are drawn in a power-of-two block (at least 256) and cut to ``q``.

  Every draw is per query (JAX's partitionable threefry: element ``i`` of a
  draw depends on ``i`` only), so the first ``q`` rows of a larger block are
  the pool of ``q`` queries, and all pools in one block share a program:
  compiling the Beta and Gamma samplers takes seconds.
  """
  return max(256, 1 << (q - 1).bit_length())


@functools.partial(jax.jit, static_argnames=("size", "num_answers", "num_levels"))
def _draw_pool(key, weights, mean, unsolvable, kappa, invalid_conc, distractor_conc, token_base,
               token_growth, token_sigma, response_sigma, *, size, num_answers, num_levels):
  q = size
  k_lvl, k_uns, k_p, k_d, k_tok, k_resp = jax.random.split(key, 6)
  level = jax.random.choice(k_lvl, num_levels, (q,), p=weights)
  mean = mean[level]
  p = jax.random.beta(k_p, kappa * mean, kappa * (1.0 - mean))
  unsolv = jax.random.uniform(k_uns, (q,)) < unsolvable[level]
  p = jnp.where(unsolv, 0.0, p)
  conc = jnp.where(unsolv, invalid_conc, distractor_conc)
  gam = jax.random.gamma(k_d, conc[:, None] * jnp.ones((q, num_answers - 1)))
  gam = gam + 1e-30  # a draw can underflow to 0 for tiny concentrations
  dist = gam / gam.sum(axis=1, keepdims=True)
  probs = jnp.concatenate([p[:, None], (1.0 - p)[:, None] * dist], axis=1)
  token_mean = (token_base * token_growth ** level.astype(token_base.dtype)
                * jnp.exp(token_sigma * jax.random.normal(k_tok, (q,))))
  return QueryPool(p=p, level=level.astype(jnp.int32), solvable=~unsolv,
                   answer_probs=probs, token_mean=token_mean,
                   response_sigma=response_sigma, keys=jax.random.split(k_resp, q))


@functools.partial(jax.jit, static_argnames="q")
def _first_rows(pool: QueryPool, *, q: int) -> QueryPool:
  """The pool of the first ``q`` queries of a block (one program per block and ``q``)."""
  return pool._replace(**{k: getattr(pool, k)[:q] for k in QueryPool._fields
                          if k != "response_sigma"})


def _unit(bits: Array, dtype) -> Array:
  """f[...] in [0, 1) on a grid of 2^-24 from u32 ``bits`` (their top 24)."""
  return (bits >> jnp.uint32(8)).astype(dtype) * dtype.type(2.0 ** -24)


def _words(key) -> tuple[Array, Array]:
  """The two u32 words of a freshly derived key: its 64 random bits.

  Threefry keys (JAX's default) carry them as their data; other PRNG
  implementations draw them with ``jax.random.bits``.
  """
  if rng._is_threefry(key):
    w = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
  else:
    w = jax.random.bits(key, (2,), jnp.uint32)
  return w[..., 0], w[..., 1]


def draw_response(pool: QueryPool, query: Array, key: Array,
                  oracle: RewardOracle = GROUND_TRUTH):
  """The response of query ``query`` drawn from tick key ``key`` (scalar query).

  :func:`response` calls it with the key contract's tick key; a sampler agent
  may call it with its own tick key (the same key gives the same response).
  One compiled program per pool shape and oracle kind (``oracle.prm``); the
  oracle's numbers are data.

  Returns:
    ``(answer i32[], tokens f[], reward f[])``.
  """
  return _draw_response(pool, query, key, tuple(oracle[1:]), prm=bool(oracle.prm))


def response(pool: QueryPool, query: Array, j: Array,
             oracle: RewardOracle = GROUND_TRUTH):
  """The ``j``-th response to query ``query`` (scalar indices; vmap for more).

  Drawn from the tick key ``fold_in(pool.keys[query], j + 1)`` (the key
  contract in the module docstring). One compiled program per pool shape and
  oracle kind, as :func:`draw_response`.

  Returns:
    ``(answer i32[], tokens f[], reward f[])``.
  """
  return _response(pool, query, j, tuple(oracle[1:]), prm=bool(oracle.prm))


def sample_responses(pool: QueryPool, n: int, start: int = 0,
                     oracle: RewardOracle = GROUND_TRUTH) -> Responses:
  """Responses ``start .. start + n - 1`` of every query: :class:`Responses` [Q, n].

  One compiled program per pool shape, ``n`` and oracle kind; ``start`` and
  the oracle's numbers are data.
  """
  if not isinstance(n, (int, np.integer)) or n < 1:
    raise ValueError(f"n must be a positive int, got {n!r}")
  _check_oracle(oracle)
  return _sample_responses(pool, start, tuple(oracle[1:]), n=int(n), prm=bool(oracle.prm))


# The compiled cores. ``prm`` (the oracle's kind) picks the code and is static;
# ``numbers`` are the oracle's other fields (corruption, mu_correct, mu_wrong,
# noise), traced.


def _draw(pool: QueryPool, query, key, oracle: RewardOracle):
  """The response of ``query`` from tick key ``key`` (traceable; ``oracle.prm`` static)."""
  dtype = pool.token_mean.dtype
  w0, w1 = _words(key)
  cdf = jnp.cumsum(pool.answer_probs[query])[:-1]          # the last id takes the rest
  answer = jnp.sum(_unit(w0 ^ w1, dtype) >= cdf, dtype=jnp.int32)
  seen = (answer == 0) ^ (_unit(w0, dtype) < oracle.corruption)
  h0, h1 = _words(rng.fold_in(key, 1))
  radius = jnp.sqrt(-2.0 * jnp.log1p(-_unit(h0, dtype)))   # Box-Muller: log of (0, 1]
  angle = dtype.type(2.0 * np.pi) * _unit(h1, dtype)
  s = pool.response_sigma
  tokens = pool.token_mean[query] * jnp.exp(s * radius * jnp.cos(angle) - 0.5 * s * s)
  if oracle.prm:
    mu = jnp.where(seen, oracle.mu_correct, oracle.mu_wrong)
    reward = jax.nn.sigmoid(mu + oracle.noise * radius * jnp.sin(angle)).astype(dtype)
  else:
    reward = seen.astype(dtype)
  return answer, tokens, reward


def _tick_response(pool: QueryPool, query, j, oracle: RewardOracle):
  return _draw(pool, query, rng.fold_in(pool.keys[query], j + 1), oracle)


@functools.partial(jax.jit, static_argnames="prm")
def _draw_response(pool, query, key, numbers, *, prm):
  return _draw(pool, query, key, RewardOracle(prm, *numbers))


@functools.partial(jax.jit, static_argnames="prm")
def _response(pool, query, j, numbers, *, prm):
  return _tick_response(pool, query, j, RewardOracle(prm, *numbers))


@functools.partial(jax.jit, static_argnames=("n", "prm"))
def _sample_responses(pool, start, numbers, *, n, prm) -> Responses:
  oracle = RewardOracle(prm, *numbers)
  js = start + jnp.arange(n)
  ans, tok, rew = jax.vmap(lambda i: jax.vmap(
      lambda j: _tick_response(pool, i, j, oracle))(js))(jnp.arange(pool.p.shape[0]))
  return Responses(answer=ans, correct=ans == 0, tokens=tok, reward=rew)
