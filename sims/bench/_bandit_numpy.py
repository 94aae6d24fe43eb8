"""NumPy reference implementations of jaxtick.alloc.bandit (tests and benchmark).

Written from the rules as the bandit module documents them, not from its code:
no windows, no gathers, no saturating scans. Two sources of responses:

* a pre-drawn table (``answer``, ``tokens``, ``reward``, ``correct``: [Q, N]),
  so that they consume exactly the draws the jitted code makes under the key
  contract (response j of query x is table[x, j]); a query's cap is
  ``min(cap, N)``. The tests compare query for query on it.
* NumPy's generator (``*_drawing``): each response drawn when it is asked
  for, from the pool's tables (answer by inverse CDF over ``answer_probs``,
  corruption flip, lognormal tokens, PRM score), as a NumPy user would write
  it. Other draws than JAX's, so equal only in distribution.

* :func:`allocate_vectorised` / :func:`allocate_vectorised_drawing`: a Python
  loop over rounds, NumPy arrays over queries within a round (float32
  throughout, like the jitted code).
* :func:`allocate_loop` / :func:`allocate_loop_drawing`: elimination and
  uniform only, a Python loop over rounds and over queries (the plainest
  possible form).
"""

from __future__ import annotations

import math

import numpy as np

RULES = ("uniform", "elimination", "ucb", "gap", "entropy")


def _costs(tokens, cost):
  if cost == "samples":
    return np.ones(tokens.shape, np.int64)
  return np.round(tokens.astype(np.float32)).astype(np.int64)


def _majority(counts, first_seen, first_correct, n):
  top = counts.max(axis=1, keepdims=True)
  fs = np.where((counts == top) & (counts > 0), first_seen, np.iinfo(np.int64).max)
  a = fs.argmin(axis=1)
  return first_correct[np.arange(len(a)), a] & (n > 0)


def allocate_vectorised(answer, tokens, reward, correct, cap, budget, *, rule="elimination",
                        k=1, gamma=1.0, cost="samples", select_fraction=0.5,
                        exploration=1.0, num_answers=None):
  """Reads responses from the table; returns a dict with the fields of ``BanditResult``."""
  q, nmax = answer.shape
  rows = np.arange(q)[:, None]
  cst = _costs(tokens, cost)

  def draw(avail, j):
    jj = np.minimum(j, nmax - 1)
    return answer[rows, jj], cst[rows, jj], reward[rows, jj], correct[rows, jj]

  return _vectorised(draw, np.minimum(np.asarray(cap, np.int64), nmax), budget,
                     int(num_answers or answer.max() + 1), rule=rule, k=k, gamma=gamma,
                     select_fraction=select_fraction, exploration=exploration)


class _Drawer:
  """Draws responses of a pool with NumPy's generator (see the module docstring).

  Args:
    answer_probs: f[Q, A]; token_mean: f[Q]; response_sigma: float.
    oracle: a ``jaxtick.problems.RewardOracle``.
    seed: the generator's seed.
  """

  def __init__(self, answer_probs, token_mean, response_sigma, oracle, seed):
    self.cdf = np.cumsum(np.asarray(answer_probs, np.float64), axis=1)[:, :-1]
    self.p = np.asarray(answer_probs, np.float64)[:, 0]
    self.token_mean = np.asarray(token_mean, np.float64)
    self.sigma = float(response_sigma)
    self.oracle = oracle
    self.rng = np.random.default_rng(seed)

  def answers(self, x):
    """i64[m] answer ids of one response of each query in ``x``."""
    u = self.rng.random(x.size)
    return (u[:, None] >= self.cdf[x]).sum(axis=1)

  def tokens(self, x):
    z = self.rng.standard_normal(x.size)
    return self.token_mean[x] * np.exp(self.sigma * z - 0.5 * self.sigma ** 2)

  def rewards(self, correct):
    """f32[m] the oracle's scores of responses with correctness ``correct``."""
    o = self.oracle
    seen = correct ^ (self.rng.random(correct.size) < o.corruption) if o.corruption else correct
    if not o.prm:
      return seen.astype(np.float32)
    z = self.rng.standard_normal(correct.size)
    return (1 / (1 + np.exp(-(np.where(seen, o.mu_correct, o.mu_wrong) + o.noise * z)))
            ).astype(np.float32)


def allocate_vectorised_drawing(answer_probs, token_mean, response_sigma, cap, budget, *,
                                oracle, seed=0, rule="elimination", k=1, gamma=1.0,
                                cost="samples", select_fraction=0.5, exploration=1.0):
  """Draws each response with NumPy's generator when it is asked for (only those).

  Args:
    answer_probs, token_mean, response_sigma: a pool's tables (NumPy or JAX arrays).
    oracle: the reward oracle; seed: NumPy's seed.

  Returns:
    a dict with the fields of ``jaxtick.alloc.BanditResult``.
  """
  d = _Drawer(answer_probs, token_mean, response_sigma, oracle, seed)
  q, a_n = np.shape(answer_probs)

  def draw(avail, j):
    x, i = np.nonzero(avail)
    ans = np.zeros(avail.shape, np.int64)
    ans[x, i] = d.answers(x)
    cst = np.ones(avail.shape, np.int64)
    if cost == "tokens":
      cst[x, i] = _costs(d.tokens(x), cost)
    rew = np.zeros(avail.shape, np.float32)
    rew[x, i] = d.rewards(ans[x, i] == 0)
    return ans, cst, rew, ans == 0

  return _vectorised(draw, np.asarray(cap, np.int64), budget, a_n, rule=rule, k=k,
                     gamma=gamma, select_fraction=select_fraction, exploration=exploration)


def _vectorised(draw, cap, budget, a_n, *, rule, k, gamma, select_fraction, exploration):
  """The rounds, with ``draw(avail bool[Q, k], j i64[Q, k]) -> (answer, cost, reward,
  correct)`` [Q, k] giving response ``j`` of each query where ``avail``."""
  q = cap.shape[0]
  n = np.zeros(q, np.int64)
  paid = np.zeros(q, np.int64)
  best = np.full(q, -np.inf, np.float32)
  best_correct = np.zeros(q, bool)
  covered = np.zeros(q, bool)
  sum_r = np.zeros(q, np.float32)
  counts = np.zeros((q, a_n), np.int64)
  first_seen = np.zeros((q, a_n), np.int64)
  first_correct = np.zeros((q, a_n), bool)
  elim = np.zeros(q, bool)
  spent = delivered = rounds = 0
  gamma32 = np.float32(gamma)
  done = budget <= 0
  rows = np.arange(q)
  while not done:
    active = ~elim & (n < cap)
    if rule in ("uniform", "elimination"):
      sel = active
    else:
      nf = np.maximum(n, 1).astype(np.float32)
      bonus = np.float32(exploration) * np.sqrt(np.log(np.float32(delivered + 1)) / nf)
      if rule == "ucb":
        pr = sum_r / nf + bonus
      elif rule == "gap":
        pr = (gamma32 - best) + bonus
      else:
        c = np.sort(counts, axis=1).astype(np.float32)
        clogc = np.where(c > 0, c * np.log(np.maximum(c, np.float32(1))), np.float32(0))
        acc = np.zeros(q, np.float32)
        for a in range(a_n):
          acc = (acc + clogc[:, a]).astype(np.float32)
        h = ((nf * np.log(nf) - acc) / nf).astype(np.float32)
        pr = (np.round(h * np.float32(4096)) / np.float32(4096)).astype(np.float32)
      pr = np.where(n == 0, np.inf, pr).astype(np.float32)
      pr = np.where(active, pr, -np.inf)
      order = np.lexsort((rows, n, -pr))
      m = max(int(np.ceil(np.float32(select_fraction) * np.float32(active.sum()))), 1)
      sel = np.zeros(q, bool)
      sel[order[:m]] = True
      sel &= active
    j = n[:, None] + np.arange(k)[None, :]
    avail = sel[:, None] & (j < cap[:, None])
    answer, cst, reward, correct = draw(avail, j)
    c = np.where(avail, cst, 0)
    csum = np.cumsum(c.ravel()).reshape(q, k)
    deliver = avail & (csum <= budget - spent)
    for i in range(k):
      d = deliver[:, i]
      r = reward[:, i].astype(np.float32)
      ok = correct[:, i]
      a = answer[:, i]
      improve = d & (r > best)
      best = np.where(improve, r, best)
      best_correct = np.where(improve, ok, best_correct)
      covered |= d & ok
      sum_r = (sum_r + np.where(d, r, np.float32(0))).astype(np.float32)
      hit = d[:, None] & (a[:, None] == np.arange(a_n)[None, :])
      new = hit & (counts == 0)
      first_seen = np.where(new, j[:, i, None], first_seen)
      first_correct = np.where(new, ok[:, None], first_correct)
      counts += hit
    got = deliver.sum(axis=1)
    n += got
    paid += np.where(deliver, c, 0).sum(axis=1)
    if rule != "uniform":
      elim |= best >= gamma32
    spent += int(np.where(deliver, c, 0).sum())
    delivered += int(got.sum())
    rounds += 1
    done = ((avail & ~deliver).any() or got.sum() == 0
            or not (~elim & (n < cap)).any() or spent >= budget)
  return dict(samples=n, cost=paid, covered=covered, best_correct=best_correct,
              majority_correct=_majority(counts, first_seen, first_correct, n),
              best_reward=best, eliminated=elim, exhausted=~elim & (n >= cap),
              spent=spent, rounds=rounds)


def allocate_loop(reward, correct, cap, budget, *, rule="elimination", gamma=1.0):
  """Elimination or uniform, k = 1, unit costs, by plain loops, reading the table.

  Returns:
    ``(samples i64[Q], covered bool[Q], best_correct bool[Q], spent)``.
  """
  q, nmax = reward.shape
  return _loop(lambda x, j: (reward[x, j], correct[x, j]),
               np.minimum(np.asarray(cap, np.int64), nmax), budget, rule, gamma)


def allocate_loop_drawing(answer_probs, cap, budget, *, oracle, seed=0,
                          rule="elimination", gamma=1.0):
  """:func:`allocate_loop`, each response drawn with NumPy's generator when asked for.

  One uniform for correctness (``u < p``: the answer id itself is not needed
  here) and, under corruption, one for the flip; a PRM oracle draws its score.
  """
  gen = np.random.default_rng(seed)
  rand, normal = gen.random, gen.standard_normal
  p = np.asarray(answer_probs, np.float64)[:, 0].tolist()
  c, o = float(oracle.corruption), oracle

  def draw(x, j):
    ok = rand() < p[x]
    seen = ok != (rand() < c) if c else ok
    if not o.prm:
      return float(seen), ok
    mu = o.mu_correct if seen else o.mu_wrong
    return 1.0 / (1.0 + math.exp(-(mu + o.noise * normal()))), ok

  return _loop(draw, np.asarray(cap, np.int64), budget, rule, gamma)


def _loop(draw, cap, budget, rule, gamma):
  """The plain loops, with ``draw(x, j) -> (reward, correct)`` response j of query x."""
  q = cap.shape[0]
  n = np.zeros(q, np.int64)
  best = np.full(q, -np.inf)
  best_correct = np.zeros(q, bool)
  covered = np.zeros(q, bool)
  active = list(range(q))
  spent = 0
  while active and spent < budget:
    still = []
    for x in active:
      if spent >= budget:
        still.append(x)
        continue
      j = n[x]
      r, ok = draw(x, j)
      n[x] += 1
      spent += 1
      covered[x] |= ok
      if r > best[x]:
        best[x], best_correct[x] = r, ok
      if (rule == "uniform" or best[x] < gamma) and n[x] < cap[x]:
        still.append(x)
    active = still
  return n, covered, best_correct, spent
