"""Decoding strategies over a query pool: exact success, tokens and latency.

Three strategies answer a query of a :class:`~jaxtick.problems.pools.QueryPool`
(seed 001, section 2):

* **best-of-N**: N parallel responses, scored by a reward oracle; the answer
  of the highest-scored one. Its success probability is
  ``sum_G Binom(G; N, p) * top1[G]`` where ``top1[G]`` is the probability
  that the highest of ``G`` correct and ``N - G`` wrong responses' scores is
  a correct one's -- a one-dimensional integral over the PRM logit
  (trapezoid on a fine grid), the same for every query. With the
  ground-truth oracle (0/1 rewards, ties between equal rewards broken by
  index) it is in closed form.
* **majority vote**: N parallel responses, the most frequent answer id, ties
  broken uniformly at random. Exact: conditional on the correct answer's
  count ``k``, a dynamic programme over the distractor ids (stick-breaking
  binomials) counts the ways every distractor gets at most ``k`` votes; the
  tie weight ``1 / (1 + ties)`` is ``int_0^1 y^ties dy``, integrated exactly
  by Gauss-Legendre.
* **beam search** (width W, branching b, depth D): a response is D steps; a
  step taken from a correct prefix is correct with probability
  ``p ** (1 / D)`` (so one full sample is correct with probability ``p``)
  and a step from a wrong prefix stays wrong. Step 1 samples ``W b``
  children of the empty prefix; every later step expands each of the W kept
  prefixes into b children; the PRM scores every child and the top W are
  kept; the answer is the top-scored child of the last step. The number of
  correct kept prefixes is a Markov chain on ``0..W``, whose selection
  kernel (how many of G correct and ``W b - G`` wrong children make the top
  W) is again a one-dimensional integral, the same for every query.

Costs (seed 001's ``T_s(x)``, ``L_s(x)``): tokens are the expected tokens
generated (N responses; beam: ``W b`` children of length ``1/D`` of a
response per step). Latency is wall-clock under a :class:`CostModel`:
parallel samples cost the *longest* of the N (``E[max]`` of lognormal
lengths, by integration), plus a call overhead and, for best-of-N, one PRM
scoring call; beam search pays D sequential steps, each the longest of its
``W b`` children plus one PRM call.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, xlog1py, xlogy

from jaxtick.problems.pools import GROUND_TRUTH, QueryPool, RewardOracle, _check_oracle

Array = jax.Array

BEST_OF_N, MAJORITY, BEAM = 0, 1, 2
METHOD_NAMES = ("best_of_n", "majority", "beam")
_GRID = 4001  # integration points on the PRM logit / log-length axis


def _float():
  """The library's default float type (float32; float64 under ``jax_enable_x64``)."""
  return jnp.result_type(float)


class Strategies(NamedTuple):
  """A static set of S strategies (NumPy int arrays of length S).

  Attributes:
    method: BEST_OF_N, MAJORITY or BEAM.
    n: responses per query (beam: children per step, ``width * branch``).
    width: beams kept (1 for the parallel methods).
    depth: sequential steps (1 for the parallel methods).
  """

  method: np.ndarray
  n: np.ndarray
  width: np.ndarray
  depth: np.ndarray

  @property
  def names(self) -> list[str]:
    out = []
    for m, n, w, d in zip(self.method, self.n, self.width, self.depth):
      if m == BEAM:
        out.append(f"beam_w{w}_b{n // w}_d{d}")
      else:
        out.append(f"{METHOD_NAMES[m]}_{n}")
    return out


def make_strategies(best_of_n: Sequence[int] = (1, 2, 4, 8, 16, 32),
                    majority: Sequence[int] = (2, 4, 8, 16, 32),
                    beams: Sequence[tuple] = ((4, 2, 4), (4, 4, 4))) -> Strategies:
  """A strategy set; ``beams`` holds ``(width, branch, depth)`` triples.

  The default has 13 strategies (majority vote of 1 is best-of-1).
  """
  rows = [(BEST_OF_N, n, 1, 1) for n in best_of_n]
  rows += [(MAJORITY, n, 1, 1) for n in majority]
  rows += [(BEAM, w * b, w, d) for w, b, d in beams]
  if not rows:
    raise ValueError("the strategy set is empty: give at least one best-of-N, "
                     "majority or beam strategy")
  for m, n, w, d in rows:
    for name, v in (("N", n), ("width", w), ("depth", d)):
      if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{METHOD_NAMES[m]}: {name} must be a positive int, got {v!r}")
    if m == BEAM and n < w:
      raise ValueError(f"beam search needs branch >= 1 (width * branch >= width), got {n} < {w}")
  a = np.asarray(rows, np.int64)
  return Strategies(method=a[:, 0], n=a[:, 1], width=a[:, 2], depth=a[:, 3])


def strategy_features(strats: Strategies) -> np.ndarray:
  """Probe inputs for each strategy: f[S, 6] = log2 N, log2 width, log2 depth, method one-hot."""
  return np.concatenate([
      np.log2(strats.n)[:, None], np.log2(strats.width)[:, None],
      np.log2(strats.depth)[:, None],
      np.eye(3)[strats.method]], axis=1).astype(np.float32)


class CostModel(NamedTuple):
  """Wall-clock model of a serving stack (seconds).

  Attributes:
    tokens_per_s: decode speed of one sequence (parallel sequences decode
      concurrently, so a batch takes as long as its longest member).
    call_s: fixed cost of one generation call (prefill, scheduling).
    prm_s: one PRM scoring call (best-of-N once; beam search once per step).
  """

  tokens_per_s: float = 60.0
  call_s: float = 0.4
  prm_s: float = 0.25


# ----------------------------------------------------------------- tables

def _norm_cdf(x):
  from math import erf
  return 0.5 * (1.0 + np.vectorize(erf)(x / math.sqrt(2.0)))


def _logit_densities(oracle: RewardOracle):
  """Grid z, trapezoid weights, and the PRM-logit densities/CDFs of a correct
  (C) and a wrong (W) response, corruption included (float64 NumPy)."""
  if not oracle.prm:
    raise ValueError("this strategy scores with a PRM: pass pools.prm_oracle(...)")
  _check_oracle(oracle)
  s = float(oracle.noise)
  if s <= 0:
    raise ValueError(f"PRM noise must be > 0 for continuous scores, got {s}")
  lo = min(oracle.mu_correct, oracle.mu_wrong) - 9 * s
  hi = max(oracle.mu_correct, oracle.mu_wrong) + 9 * s
  z = np.linspace(lo, hi, _GRID)
  w = np.full(_GRID, z[1] - z[0])
  w[[0, -1]] *= 0.5
  c = float(oracle.corruption)
  phi = lambda mu: np.exp(-0.5 * ((z - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))
  cdf = lambda mu: _norm_cdf((z - mu) / s)
  pc, pw, fc, fw = phi(oracle.mu_correct), phi(oracle.mu_wrong), cdf(oracle.mu_correct), cdf(oracle.mu_wrong)
  return w, ((1 - c) * pc + c * pw, (1 - c) * fc + c * fw,
             c * pc + (1 - c) * pw, c * fc + (1 - c) * fw)


def _comb(n, k):
  return math.comb(n, k) if 0 <= k <= n else 0


def top1_table(oracle: RewardOracle, n: int) -> np.ndarray:
  """f64[n+1]: P(the top-scored of G correct and n - G wrong responses is correct)."""
  w, (f_c, cdf_c, _, cdf_w) = _logit_densities(oracle)
  out = np.zeros(n + 1)
  for g in range(1, n + 1):
    out[g] = np.sum(w * g * f_c * cdf_c ** (g - 1) * cdf_w ** (n - g))
  return np.clip(out, 0.0, 1.0)


def selection_table(oracle: RewardOracle, n: int, keep: int) -> np.ndarray:
  """f64[n+1, keep+1]: P(h correct among the top ``keep`` | G correct of n children).

  Integrates over the ``keep``-th largest score: it is either a correct
  child's (h - 1 other correct and keep - h wrong above it) or a wrong one's.
  """
  w, (f_c, cdf_c, f_w, cdf_w) = _logit_densities(oracle)
  s_c, s_w = 1 - cdf_c, 1 - cdf_w
  out = np.zeros((n + 1, keep + 1))
  for g in range(n + 1):
    b = n - g
    for h in range(keep + 1):
      wrong_above = keep - h
      a = 0.0
      if h >= 1 and g >= h and b >= wrong_above:
        a += np.sum(w * g * f_c * _comb(g - 1, h - 1) * s_c ** (h - 1) * cdf_c ** (g - h)
                    * _comb(b, wrong_above) * s_w ** wrong_above * cdf_w ** (b - wrong_above))
      if wrong_above >= 1 and b >= wrong_above and g >= h:
        a += np.sum(w * b * f_w * _comb(b - 1, wrong_above - 1) * s_w ** (wrong_above - 1)
                    * cdf_w ** (b - wrong_above) * _comb(g, h) * s_c ** h * cdf_c ** (g - h))
      out[g, h] = a
  return out / out.sum(axis=1, keepdims=True)


def max_lognormal_factor(sigma: float, n: int) -> float:
  """E[max of n lengths] / mean length for i.i.d. lognormal lengths of log-sd ``sigma``."""
  if sigma == 0 or n == 1:
    return 1.0
  z = np.linspace(-10.0, 10.0, _GRID)
  w = np.full(_GRID, z[1] - z[0])
  w[[0, -1]] *= 0.5
  phi = np.exp(-0.5 * z ** 2) / math.sqrt(2 * math.pi)
  return float(np.sum(w * np.exp(sigma * z - 0.5 * sigma ** 2) * n * phi * _norm_cdf(z) ** (n - 1)))


# ----------------------------------------------------------- success rates

def _binom_pmf(n, p, kmax: int):
  """f[..., kmax+1]: Binomial(n, p) pmf at k = 0..kmax (n, p broadcast; 0 for k > n)."""
  k = jnp.arange(kmax + 1, dtype=_float())
  n = jnp.asarray(n, _float())[..., None]
  p = jnp.asarray(p, _float())[..., None]
  logc = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(jnp.maximum(n - k, 0.0) + 1.0)
  out = jnp.exp(logc + xlogy(k, p) + xlog1py(jnp.maximum(n - k, 0.0), -p))
  return jnp.where(k <= n, out, 0.0)


def best_of_n_success(p: Array, n: int, oracle: RewardOracle = GROUND_TRUTH) -> Array:
  """f[Q]: P(best-of-n answers correctly) for per-response solve rates ``p``."""
  p = jnp.asarray(p, _float())
  if not oracle.prm:
    _check_oracle(oracle)
    c = oracle.corruption
    r = p * (1 - c) + (1 - p) * c            # P(scored as correct)
    none = (1 - r) ** n
    hit = jnp.where(r > 0, p * (1 - c) / jnp.where(r > 0, r, 1.0), 0.0)
    miss = jnp.where(r < 1, p * c / jnp.where(r < 1, 1 - r, 1.0), 0.0)
    return (1 - none) * hit + none * miss
  return _mix(p, jnp.asarray(top1_table(oracle, n), _float()))


@jax.jit
def _mix(p, table):
  """f[Q]: sum_G Binomial(G; n, p) table[G], n = len(table) - 1."""
  n = table.shape[0] - 1
  return _binom_pmf(n, p, n) @ table


def majority_success(answer_probs: Array, n: int) -> Array:
  """f[Q]: P(the plurality answer of n responses is id 0), ties broken at random.

  Args:
    answer_probs: f[Q, A] answer-id distributions (column 0 correct).
    n: number of responses.
  """
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
    raise ValueError(f"n must be a positive int, got {n!r}")
  return _majority(jnp.asarray(answer_probs, _float()), int(n))


@functools.partial(jax.jit, static_argnums=1)
def _majority(answer_probs: Array, n: int) -> Array:
  """The dynamic programme of :func:`majority_success`, in chunks of queries.

  State ``[K, Y, U]`` per query: correct-id count k, Gauss-Legendre node y,
  votes u still to hand to the remaining distractor ids. Handing m votes to
  the next id (probability Binomial(u, rho_j)) is allowed below k, weighted
  by y at m = k (a tie) and forbidden above: a banded matrix product plus a
  diagonal term.
  """
  q, a = answer_probs.shape
  nodes, weights = np.polynomial.legendre.leggauss(max(1, (a + 1) // 2))
  y = jnp.asarray(0.5 * (nodes + 1), _float())        # on [0, 1]
  wy = jnp.asarray(0.5 * weights, _float())
  k = np.arange(n + 1)                                    # votes of the correct id
  u = np.arange(n + 1)
  diff = u[:, None] - u[None, :]                          # votes handed out, u -> v
  band = jnp.asarray((diff[None] >= 0) & (diff[None] < k[:, None, None]), _float())  # [K, U, V]
  dgi = np.minimum(u[None, :] + k[:, None], n)            # [K, V]: u = v + k
  dgm = jnp.asarray(u[None, :] + k[:, None] <= n, _float())
  init = jnp.asarray(u[None, :] == (n - k)[:, None], _float())   # [K, U]

  def chunk(probs):                                       # [C, A]
    c = probs.shape[0]
    rest = probs[:, 1:]
    tail = jnp.flip(jnp.cumsum(jnp.flip(rest, 1), 1), 1)  # sum_{i >= j} q_i
    rho = jnp.where(tail > 0, rest / jnp.where(tail > 0, tail, 1.0), 1.0)
    rho = rho.at[:, -1].set(1.0)                          # the last id takes the rest
    b_all = jnp.moveaxis(_binom_pmf(u[None, None, :], rho[:, :, None], n), 1, 0)  # [A-1, C, U, M]
    state = jnp.broadcast_to(init[None, :, None, :], (c, n + 1, y.shape[0], n + 1))

    def one_id(state, b):                                 # b: [C, U, M]
      bsk = jnp.take_along_axis(b, jnp.broadcast_to(jnp.asarray(np.clip(diff, 0, n))[None], (c, n + 1, n + 1)), 2)
      term1 = jnp.einsum("ckyu,ckuv->ckyv", state, bsk[:, None] * band[None])
      s_d = jnp.take_along_axis(state, jnp.asarray(dgi)[None, :, None, :], 3)   # [C, K, Y, V]
      b_d = b[:, dgi, k[:, None]] * dgm[None]                                   # [C, K, V]
      return term1 + y[None, None, :, None] * s_d * b_d[:, :, None, :], None

    state, _ = jax.lax.scan(one_id, state, b_all)
    p_k = _binom_pmf(n, probs[:, 0], n)                   # [C, K]
    return jnp.einsum("ck,cky,y->c", p_k, state[..., 0], wy)

  size = 128
  pad = (-q) % size
  padded = jnp.concatenate([answer_probs, jnp.tile(answer_probs[:1], (pad, 1))]) if pad else answer_probs
  out = jax.lax.map(chunk, padded.reshape(-1, size, a))
  return out.reshape(-1)[:q]


def beam_success(p: Array, width: int, branch: int, depth: int,
                 oracle: RewardOracle) -> Array:
  """f[Q]: P(beam search (width, branch, depth) with PRM ``oracle`` is correct)."""
  n = width * branch
  return _beam(jnp.asarray(p, _float()), jnp.asarray(selection_table(oracle, n, width), _float()),
               jnp.asarray(top1_table(oracle, n), _float()), branch, depth)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _beam(p, sel, t1, branch, depth):
  """The Markov chain on the number of correct kept beams (sel: [G, H], t1: [G])."""
  width = sel.shape[1] - 1
  n = width * branch
  g = jnp.where(p > 0, p ** (1.0 / depth), 0.0)
  j = jnp.arange(width + 1)
  trans = _binom_pmf(j[None, :] * branch, g[:, None], n)              # [Q, J, G]
  state = jnp.zeros((p.shape[0], width + 1)).at[:, width].set(1.0)
  for _ in range(depth - 1):
    state = jnp.einsum("qj,qjg,gh->qh", state, trans, sel)
  return jnp.einsum("qj,qjg,g->q", state, trans, t1)


# ------------------------------------------------------------------ tables

class StrategyTable(NamedTuple):
  """Per query and strategy: exact success probability and expected costs.

  Attributes:
    acc: f[Q, S] a_s(x).
    tokens: f[Q, S] T_s(x), expected generated tokens.
    latency: f[Q, S] L_s(x), expected wall-clock seconds.
  """

  acc: Array
  tokens: Array
  latency: Array


def evaluate(pool: QueryPool, strats: Strategies,
             oracle: RewardOracle = GROUND_TRUTH,
             cost_model: CostModel = CostModel()) -> StrategyTable:
  """Exact ``a_s(x)``, ``T_s(x)``, ``L_s(x)`` for every query and strategy.

  ``oracle`` scores best-of-N and beam search (beam search needs a PRM).
  """
  if len(strats.method) == 0:
    raise ValueError("the strategy set is empty")
  for k in ("tokens_per_s", "call_s", "prm_s"):
    v = getattr(cost_model, k)
    if not (np.isfinite(v) and v >= 0) or (k == "tokens_per_s" and v <= 0):
      raise ValueError(f"cost_model.{k} must be finite and >= 0 (> 0 for tokens_per_s), got {v!r}")
  sigma = float(np.asarray(pool.response_sigma))
  tm = jnp.asarray(pool.token_mean, _float())
  accs, toks, lats = [], [], []
  for m, n, w, d in zip(strats.method, strats.n, strats.width, strats.depth):
    n, w, d = int(n), int(w), int(d)
    if m == BEST_OF_N:
      accs.append(best_of_n_success(pool.p, n, oracle))
    elif m == MAJORITY:
      accs.append(majority_success(pool.answer_probs, n))
    else:
      accs.append(beam_success(pool.p, w, n // w, d, oracle))
    toks.append(n * tm)
    longest = max_lognormal_factor(sigma, n)
    if m == BEAM:
      step = cost_model.call_s + longest * tm / d / cost_model.tokens_per_s + cost_model.prm_s
      lats.append(d * step)
    else:
      lats.append(cost_model.call_s + longest * tm / cost_model.tokens_per_s
                  + (cost_model.prm_s if m == BEST_OF_N else 0.0))
  return StrategyTable(jnp.stack(accs, 1), jnp.stack(toks, 1), jnp.stack(lats, 1))


def query_features(key: Array, pool: QueryPool, *, noise: float = 0.5,
                   signal_dims: int = 8, nuisance_dims: int = 8) -> Array:
  """f[Q, signal_dims + nuisance_dims]: a noisy embedding of latent difficulty.

  The latent coordinates are the logit of the solve rate (clipped to
  [0.01, 0.99]; unsolvable queries sit at the bottom) and the standardised
  log mean length. A fixed random linear map (from ``key``) spreads them over
  ``signal_dims`` dimensions, each with independent N(0, noise^2) noise;
  ``nuisance_dims`` pure N(0, 1) dimensions follow.
  """
  if not (np.isfinite(noise) and noise >= 0):
    raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
  for name, v in (("signal_dims", signal_dims), ("nuisance_dims", nuisance_dims)):
    if not isinstance(v, (int, np.integer)) or v < 0:
      raise ValueError(f"{name} must be an int >= 0, got {v!r}")
  if signal_dims < 1:
    raise ValueError("signal_dims must be >= 1 (the features must carry the difficulty)")
  pc = jnp.clip(pool.p, 0.01, 0.99)
  latent = jnp.stack([jnp.log(pc / (1 - pc)) / 2.0,
                      (jnp.log(pool.token_mean) - math.log(350.0)) / 0.5], 1)
  km, kn, ku = jax.random.split(key, 3)
  proj = jax.random.normal(km, (2, signal_dims)) / math.sqrt(2.0)
  q = pool.p.shape[0]
  sig = latent @ proj + noise * jax.random.normal(kn, (q, signal_dims))
  return jnp.concatenate([sig, jax.random.normal(ku, (q, nuisance_dims))], 1)


def replay_table(log, strats: Strategies, cost_model: CostModel = CostModel()) -> StrategyTable:
  """Plug-in ``a_s(x)``, ``T_s(x)``, ``L_s(x)`` from logged samples.

  Each query's logged samples are taken as its response distribution and a
  strategy draws its N responses from them with replacement; everything is
  then exact under that distribution: majority vote through
  :func:`majority_success` on the empirical answer frequencies, best-of-N
  through the distribution of the highest logged reward (ties between equal
  rewards broken at random), latency through the distribution of the longest
  of N token counts. Beam search needs step-level scores, which a log of
  whole completions does not hold: it is refused.

  Args:
    log: a :class:`jaxtick.problems.logs.SampleLog` (every query needs >= 1 sample).
    strats: best-of-N / majority strategies only.
  """
  if len(strats.method) == 0:
    raise ValueError("the strategy set is empty")
  if np.any(strats.method == BEAM):
    raise ValueError("beam search cannot be replayed from whole completions (no step scores)")
  count = np.asarray(log.count)
  if np.any(count < 1):
    raise ValueError(f"every query needs at least one logged sample; {int((count < 1).sum())} have none")
  q = count.size
  a_max = int(np.max(np.asarray(log.answer))) + 1
  freq = np.zeros((q, max(a_max, 2)))
  acc = np.zeros((q, len(strats.method)))
  tok = np.zeros_like(acc)
  lat = np.zeros_like(acc)
  cols = {}
  for i in range(q):
    m = count[i]
    ans, cor = np.asarray(log.answer)[i, :m], np.asarray(log.correct)[i, :m]
    rew, tk = np.asarray(log.reward)[i, :m].astype(float), np.asarray(log.tokens)[i, :m].astype(float)
    # Answer frequencies with the correct answer (if logged) in column 0.
    ids = np.where(cor, -1, ans)
    _, inv = np.unique(ids, return_inverse=True)
    f = np.bincount(inv.reshape(-1), minlength=1) / m
    right = cor.mean()
    wrong = np.sort(f[1:] if cor.any() else f)[::-1]
    row = np.concatenate([[right], wrong])
    cols[i] = row
    for s, (meth, n) in enumerate(zip(strats.method, strats.n)):
      n = int(n)
      if meth == BEST_OF_N:
        v, inv_r = np.unique(rew, return_inverse=True)
        cnt = np.bincount(inv_r, minlength=v.size)
        hit = np.bincount(inv_r, weights=cor.astype(float), minlength=v.size)
        cdf = np.cumsum(cnt) / m
        p_max = cdf ** n - np.concatenate([[0.0], cdf[:-1]]) ** n
        acc[i, s] = float(np.sum(p_max * hit / cnt))
      vt, inv_t = np.unique(tk, return_inverse=True)
      cdf_t = np.cumsum(np.bincount(inv_t, minlength=vt.size)) / m
      longest = float(np.sum(vt * (cdf_t ** n - np.concatenate([[0.0], cdf_t[:-1]]) ** n)))
      tok[i, s] = n * tk.mean()
      lat[i, s] = (cost_model.call_s + longest / cost_model.tokens_per_s
                   + (cost_model.prm_s if meth == BEST_OF_N else 0.0))
  width = max(len(r) for r in cols.values())
  probs = np.zeros((q, width))
  for i, r in cols.items():
    probs[i, : len(r)] = r
  for s, (meth, n) in enumerate(zip(strats.method, strats.n)):
    if meth == MAJORITY:
      acc[:, s] = np.asarray(majority_success(probs, int(n)))
  flt = lambda x: jnp.asarray(x, _float())
  return StrategyTable(flt(acc), flt(tok), flt(lat))
