"""FROZEN REFERENCE: jaxtick.alloc.bandit as it was before the round-based budget rule (issue 16).

Copied verbatim (commit 1fe4a55) so that tests/test_rounds.py can check the rebuilt
`allocate` query for query on the same draws. Do not edit.

Bandit allocation of repeated samples across a pool of queries (seed 002).

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
  rounded to a grid of 1/4096 nats (see :func:`_entropy`).

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

Implementation: whole rounds are array operations over the queries, inside
one jitted program, compiled once per (rule kind -- uniform/elimination or
ranked --, ``k``, ``cost``, the oracle's kind, the number of answer ids, the
query bucket): the pool's tables, the budget and every float option (gamma,
select_fraction, exploration, the oracle's numbers) are traced arguments, so
another pool of the same shapes, or another budget or threshold, reuses the
program. The queries are padded to :func:`jaxtick.values.bucket` sizes with a
validity mask (a padded query is never active: it receives no response and
no budget, and is cut from the result), so another number of queries in the
same bucket reuses it too. rounds run in a ``lax.while_loop``. As queries leave the
active set the loop moves to a smaller *window* of lanes (sizes ``Q, Q/8,
Q/64, ...`` down to 1024): the still-active queries are gathered into it, so a
round costs O(active queries), not O(Q). State is O(Q x A) (answer counts),
never O(Q x B).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick import values
from jaxtick.problems import logs, pools

Array = jax.Array

RULES = ("uniform", "elimination", "ucb", "gap", "entropy")
COSTS = ("samples", "tokens")
MIN_WINDOW = 1024
WINDOW_SHRINK = 8
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
    best_reward: f32[Q] highest reward seen (-inf if no response).
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


class _Lanes(NamedTuple):
  idx: Array          # i32[W] query index (Q: an empty lane)
  live: Array         # bool[W]
  cap: Array          # i32[W]
  n: Array            # i32[W]
  cost: Array         # i32[W]
  best: Array         # f32[W]
  best_correct: Array
  covered: Array
  sum_r: Array        # f32[W]
  counts: Array       # i32[W, A]
  first_seen: Array   # i32[W, A]
  first_correct: Array  # bool[W, A]
  elim: Array


class _Glob(NamedTuple):
  spent: Array
  delivered: Array
  rounds: Array
  done: Array


class _Static(NamedTuple):
  ranked: bool      # ucb, gap, entropy: serve the top of a priority order
  prm: bool         # the oracle's kind (its numbers are traced)
  k: int
  cost: str
  num_answers: int
  windows: tuple


def _windows(q: int) -> tuple:
  ws = [q]
  while ws[-1] > MIN_WINDOW:
    ws.append(max(ws[-1] // WINDOW_SHRINK, MIN_WINDOW))
  return tuple(dict.fromkeys(ws))


def _draw_fn(pool, oracle):
  """``draw(idx i32[W], j i32[W, K]) -> (answer, tokens, reward, correct)``."""
  if isinstance(pool, logs.ReplayPool):
    q = pool.count.shape[0]

    def one(x, j):
      a, t, r, c, _ = logs.replay_response(pool, jnp.minimum(x, q - 1), j)
      return a, t, r, c
  else:
    q = pool.p.shape[0]

    def one(x, j):
      a, t, r = pools.response(pool, jnp.minimum(x, q - 1), j, oracle)
      return a, t, r, a == 0
  return jax.vmap(lambda x, js: jax.vmap(lambda j: one(x, j))(js))


def _sat_cumsum(c, cap):
  """Cumulative sum that saturates at ``cap`` (no int32 overflow)."""
  return jax.lax.associative_scan(lambda a, b: jnp.minimum(a + b, cap), c)


def _entropy(counts, n):
  """Entropy (nats) of each row's answer counts, on a grid of ``ENTROPY_GRID``.

  ``H = (n log n - sum_a c_a log c_a) / n``, the sum taken over the sorted
  counts in order. Rounding to the grid makes equal entropies (e.g. counts
  (1, 1) and (2, 2)) compare equal whatever the float rounding of the logs.
  """
  c = jnp.sort(counts, axis=1).astype(jnp.float32)
  nf = jnp.maximum(n, 1).astype(jnp.float32)
  clogc = jnp.where(c > 0, c * jnp.log(jnp.maximum(c, 1.0)), 0.0)
  acc = jnp.zeros_like(nf)
  for a in range(c.shape[1]):   # a fixed summation order
    acc = acc + clogc[:, a]
  h = (nf * jnp.log(nf) - acc) / nf
  return jnp.round(h * ENTROPY_GRID) / ENTROPY_GRID


def _priority(rule_id, lanes: _Lanes, glob: _Glob, gamma, exploration):
  nf = jnp.maximum(lanes.n, 1).astype(jnp.float32)
  t = (glob.delivered + 1).astype(jnp.float32)
  bonus = exploration * jnp.sqrt(jnp.log(t) / nf)
  pr = jnp.where(rule_id == RULES.index("ucb"), lanes.sum_r / nf + bonus,
                 jnp.where(rule_id == RULES.index("gap"), (gamma - lanes.best) + bonus,
                           _entropy(lanes.counts, lanes.n)))
  pr = jnp.where(pr == 0, 0.0, pr)  # -0.0 -> 0.0: sort orders -0.0 before 0.0
  return jnp.where(lanes.n == 0, jnp.inf, pr)


def _round(st: _Static, draw, budget, rule_id, gamma, frac, exploration, lanes, glob):
  w = lanes.idx.shape[0]
  k, a_n = st.k, st.num_answers
  active = lanes.live & ~lanes.elim & (lanes.n < lanes.cap)
  if not st.ranked:
    sel = active
  else:
    pr = jnp.where(active, _priority(rule_id, lanes, glob, gamma, exploration), -jnp.inf)
    order = jnp.lexsort((lanes.idx, lanes.n, -pr))
    rank = jnp.zeros(w, jnp.int32).at[order].set(jnp.arange(w, dtype=jnp.int32))
    n_act = jnp.sum(active).astype(jnp.float32)
    m = jnp.maximum(jnp.ceil(frac * n_act), 1.0).astype(jnp.int32)
    sel = active & (rank < m)
  j = lanes.n[:, None] + jnp.arange(k, dtype=jnp.int32)[None, :]
  avail = sel[:, None] & (j < lanes.cap[:, None])
  ans, tok, rew, corr = draw(lanes.idx, j)
  if st.cost == "samples":
    c = avail.astype(jnp.int32)
    csum = jnp.cumsum(c.reshape(-1)).reshape(w, k)
  else:
    c = jnp.where(avail, jnp.round(tok).astype(jnp.int32), 0)
    c = jnp.minimum(c, TOKEN_BUDGET_CAP)
    csum = _sat_cumsum(c.reshape(-1), TOKEN_BUDGET_CAP).reshape(w, k)
  deliver = avail & (csum <= budget - glob.spent)
  best, best_correct, covered = lanes.best, lanes.best_correct, lanes.covered
  sum_r, counts = lanes.sum_r, lanes.counts
  first_seen, first_correct = lanes.first_seen, lanes.first_correct
  ids = jnp.arange(a_n, dtype=jnp.int32)[None, :]
  for i in range(k):   # static: k responses in their order
    d = deliver[:, i]
    improve = d & (rew[:, i] > best)
    best = jnp.where(improve, rew[:, i], best)
    best_correct = jnp.where(improve, corr[:, i], best_correct)
    covered = covered | (d & corr[:, i])
    sum_r = sum_r + jnp.where(d, rew[:, i], 0.0)
    hit = d[:, None] & (ans[:, i, None] == ids)
    new = hit & (counts == 0)
    first_seen = jnp.where(new, j[:, i, None], first_seen)
    first_correct = jnp.where(new, corr[:, i, None], first_correct)
    counts = counts + hit.astype(jnp.int32)
  got = jnp.sum(deliver, axis=1, dtype=jnp.int32)
  paid = jnp.sum(jnp.where(deliver, c, 0), axis=1, dtype=jnp.int32)
  elim = lanes.elim | ((best >= gamma) & (rule_id != RULES.index("uniform")))
  lanes = lanes._replace(n=lanes.n + got, cost=lanes.cost + paid, best=best,
                         best_correct=best_correct, covered=covered, sum_r=sum_r,
                         counts=counts, first_seen=first_seen,
                         first_correct=first_correct, elim=elim)
  spent = glob.spent + jnp.sum(paid)
  still = lanes.live & ~lanes.elim & (lanes.n < lanes.cap)
  done = (jnp.any(avail & ~deliver) | (jnp.sum(got) == 0) | ~jnp.any(still)
          | (spent >= budget))
  return lanes, _Glob(spent=spent, delivered=glob.delivered + jnp.sum(got),
                      rounds=glob.rounds + 1, done=done)


def _gather(full: _Lanes, sel):
  q = full.idx.shape[0]
  safe = jnp.minimum(sel, q - 1)
  lanes = jax.tree_util.tree_map(lambda a: a[safe], full)
  return lanes._replace(idx=sel, live=(sel < q) & lanes.live)


def _scatter(full: _Lanes, lanes: _Lanes, sel):
  """Writes the lanes back (empty lanes, index Q, are dropped)."""
  return jax.tree_util.tree_map(lambda f, l: f.at[sel].set(l, mode="drop"), full, lanes)


def _run(st: _Static, pool, cap, live, budget, rule_id, gamma, frac, exploration,
         oracle_numbers) -> BanditResult:
  """One allocation over Q (padded) queries; ``live`` bool[Q] marks the real ones.

  A query that is not live is never active: it gets no response and no budget.
  """
  oracle = pools.RewardOracle(st.prm, *oracle_numbers)
  draw = _draw_fn(pool, oracle)
  q = cap.shape[0]
  a_n = st.num_answers
  zi = jnp.zeros(q, jnp.int32)
  full = _Lanes(idx=jnp.arange(q, dtype=jnp.int32), live=live, cap=cap,
                n=zi, cost=zi, best=jnp.full(q, -jnp.inf, jnp.float32),
                best_correct=jnp.zeros(q, bool), covered=jnp.zeros(q, bool),
                sum_r=jnp.zeros(q, jnp.float32), counts=jnp.zeros((q, a_n), jnp.int32),
                first_seen=jnp.zeros((q, a_n), jnp.int32),
                first_correct=jnp.zeros((q, a_n), bool), elim=jnp.zeros(q, bool))
  budget = jnp.asarray(budget, jnp.int32)
  glob = _Glob(spent=jnp.zeros((), jnp.int32), delivered=jnp.zeros((), jnp.int32),
               rounds=jnp.zeros((), jnp.int32), done=budget <= 0)
  body = functools.partial(_round, st, draw, budget, rule_id, gamma, frac, exploration)
  ws = st.windows
  for lvl, w in enumerate(ws):
    nxt = ws[lvl + 1] if lvl + 1 < len(ws) else 0
    if w == q:
      lanes, sel = full, None
    else:
      act = full.live & ~full.elim & (full.n < full.cap)
      sel = jnp.nonzero(act, size=w, fill_value=q)[0].astype(jnp.int32)
      lanes = _gather(full, sel)

    def cond(c, nxt=nxt):
      lanes, glob = c
      n_act = jnp.sum(lanes.live & ~lanes.elim & (lanes.n < lanes.cap))
      return ~glob.done & (n_act > nxt)

    lanes, glob = jax.lax.while_loop(cond, lambda c: body(*c), (lanes, glob))
    full = lanes if sel is None else _scatter(full, lanes, sel)
  counts = full.counts
  top = jnp.max(counts, axis=1, keepdims=True)
  fs = jnp.where((counts == top) & (counts > 0), full.first_seen, jnp.iinfo(jnp.int32).max)
  maj = jnp.take_along_axis(full.first_correct, jnp.argmin(fs, axis=1)[:, None], axis=1)[:, 0]
  return BanditResult(samples=full.n, cost=full.cost, covered=full.covered,
                      best_correct=full.best_correct, majority_correct=maj & (full.n > 0),
                      best_reward=full.best, eliminated=full.elim,
                      exhausted=~full.elim & (full.n >= full.cap),
                      spent=glob.spent, rounds=glob.rounds)


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
    cap = jnp.minimum(pool.count, cap_max).astype(jnp.int32)
    num_answers = max(int(np.max(np.asarray(pool.answer), initial=-1)) + 1, 1)
    oracle = pools.GROUND_TRUTH
  else:
    pools._check_oracle(oracle)
    cap = jnp.full(q, cap_max, jnp.int32)
    num_answers = pool.answer_probs.shape[1]
  return _allocate(pool, cap, b, values.bucket(q), rule=rule, k=int(k), gamma=gamma,
                   oracle=oracle, cost=cost, num_answers=num_answers,
                   select_fraction=select_fraction, exploration=exploration)


def _allocate(pool, cap, budget: np.ndarray, size: int, *, rule, k, gamma, oracle, cost,
              num_answers, select_fraction, exploration) -> BanditResult:
  """Runs the checked allocation with the Q queries padded to ``size`` >= Q lanes.

  The padded queries (the pool's last row repeated, cap 0, not live) are never
  active, and are cut from the result: any ``size`` gives the same result.
  """
  q = cap.shape[0]
  st = _Static(rule in ("ucb", "gap", "entropy"), bool(oracle.prm), k, cost,
               num_answers, _windows(size))
  pool = _pad_pool(pool, size)
  live = jnp.arange(size) < q
  cap = jnp.where(live, values.pad_rows(cap, size), 0)
  args = (jnp.int32(RULES.index(rule)), jnp.float32(gamma), jnp.float32(select_fraction),
          jnp.float32(exploration), tuple(jnp.float32(v) for v in oracle[1:]))
  run = _run_one if budget.ndim == 0 else _run_many
  res = run(st, pool, cap, live, jnp.asarray(budget, jnp.int32), *args)
  if size == q:
    return res
  cut = lambda x: x[..., :q]
  return res._replace(**{f: cut(getattr(res, f)) for f in BanditResult._fields
                         if f not in ("spent", "rounds")})


def _pad_pool(pool, size: int):
  """The pool with its query axis padded to ``size`` (the last query repeated)."""
  if isinstance(pool, logs.ReplayPool):
    return values.pad_rows(pool, size)
  # a QueryPool: response_sigma f[] has no query axis
  return values.pad_rows(pool._replace(response_sigma=None), size)._replace(
      response_sigma=pool.response_sigma)


@values.jit
def _run_one(st, pool, cap, live, budget, *args) -> BanditResult:
  """The compiled allocation at one budget i32[] (arguments as :func:`_run`)."""
  return _run(st, pool, cap, live, budget, *args)


@values.jit
def _run_many(st, pool, cap, live, budgets, *args) -> BanditResult:
  """The compiled allocation at every budget i32[S] (vmapped): fields gain an axis S."""
  return jax.vmap(lambda b: _run(st, pool, cap, live, b, *args))(budgets)
