"""NumPy reference implementations of jaxtick.alloc.bandit (tests and benchmark).

Written from the rules as the bandit module documents them, not from its code:
no windows, no gathers, no saturating scans. They read responses from a
pre-drawn table (``answer``, ``tokens``, ``reward``, ``correct``: [Q, N]), so
that they consume exactly the draws the jitted code makes under the key
contract (response j of query x is table[x, j]); a query's cap is
``min(cap, N)``.

* :func:`allocate_vectorised`: a Python loop over rounds, NumPy arrays over
  queries within a round (float32 throughout, like the jitted code).
* :func:`allocate_loop`: elimination and uniform only, a Python loop over
  rounds and over queries (the plainest possible form).
"""

from __future__ import annotations

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
  """Returns a dict with the fields of ``jaxtick.alloc.BanditResult``."""
  q, nmax = answer.shape
  a_n = int(num_answers or answer.max() + 1)
  cap = np.minimum(np.asarray(cap, np.int64), nmax)
  cst = _costs(tokens, cost)
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
    jj = np.minimum(j, nmax - 1)
    c = np.where(avail, cst[rows[:, None], jj], 0)
    csum = np.cumsum(c.ravel()).reshape(q, k)
    deliver = avail & (csum <= budget - spent)
    for i in range(k):
      d = deliver[:, i]
      r = reward[rows, jj[:, i]].astype(np.float32)
      ok = correct[rows, jj[:, i]]
      a = answer[rows, jj[:, i]]
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
  """Elimination or uniform, k = 1, unit costs, by plain loops.

  Returns:
    ``(samples i64[Q], covered bool[Q], best_correct bool[Q], spent)``.
  """
  q, nmax = reward.shape
  cap = np.minimum(np.asarray(cap, np.int64), nmax)
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
      r = reward[x, j]
      n[x] += 1
      spent += 1
      covered[x] |= correct[x, j]
      if r > best[x]:
        best[x], best_correct[x] = r, correct[x, j]
      if (rule == "uniform" or best[x] < gamma) and n[x] < cap[x]:
        still.append(x)
    active = still
  return n, covered, best_correct, spent
