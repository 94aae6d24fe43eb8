"""The round-based budget rule (seed 002): a pool of agents, a global budget, rounds.

Each round a *selection rule* reads the pool's states and names the agents that
tick: every agent still *active* (its gain clears the price: the rule's
``active``), or, with ``fraction``, the ``ceil(fraction * |active|)`` active
agents of highest ``priority`` (ties: fewer ticks first, then lower index).
Each selected agent ticks ``k`` times (never past its ``max_ticks``). The
ticks are paid in agent-index order, an agent's ``k`` ticks in a row; the
first tick whose cost would overdraw the budget ``B`` is not delivered and ends
the run, so the spent budget never exceeds ``B``. The run also ends after a
round that delivered nothing, left no agent active, or spent ``B`` exactly.
A tick's cost is ``charge(state before, state after)`` (default: the agent's
``cost`` before the tick), known once the tick is drawn.

Elimination, UCB, Gap, Entropy and uniform allocation of LLM samples
(:func:`jaxtick.alloc.allocate`) are selection rules over sampler agents.

Budget sweeps from one pass. The selection never reads the budget, so the run
at a budget ``b`` delivers a prefix of the ticks the run at a larger budget
delivers, in the same order: it stops at the first tick the larger run pays
past ``b`` (or at the end of the round that spends ``b`` exactly). An array of
budgets is therefore read off one run at the largest: each budget's per-agent
ticks, costs and ``record`` are written when that budget stops. (For
elimination this is every agent ticking until it leaves the active set or
reaches a common per-agent cap: the rounds completed, plus a prefix of the
last round.) Equal, budget for budget, to separate runs.

Keys: agent ``x``'s ``init`` gets ``init_key(keys[x])`` and its t-th tick
``tick_key(keys[x], t)`` (:mod:`jaxtick.schedule`'s contract), however the pool
is batched. An agent that ignores its keys (the sampler draws by its own
contract) costs nothing for them: the unused keys are compiled away.

Implementation: rounds run in a ``lax.while_loop`` inside one program, compiled
once per (agent kind, selection rule kind, ``k``, ``fraction`` given or not,
number of budgets given or not, shapes); the agents' data, the budgets and
``fraction`` are traced. As agents leave the active set the loop moves to a
smaller *window* of lanes (``Q, Q/4, Q/16, ...`` down to 1024) holding the
still-active agents in index order (:func:`jaxtick.lanes.take`,
:func:`jaxtick.lanes.put`), so a round costs O(active agents), not O(Q). With
integer costs, a round whose ticks all fit every running budget (most rounds)
skips the pay-in-order cumulative sum.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick import _checks, values
from jaxtick import lanes as _lanes
from jaxtick.api import Agent, Array, PRNGKey, Problem, State
from jaxtick.calibrate import Identity
from jaxtick.schedule import init_key, tick_key

MIN_WINDOW = 1024
WINDOW_SHRINK = 4


class Selection(NamedTuple):
  """A selection rule's verdict on the pool (arrays over the agents).

  Attributes:
    active: bool[Q] the agent is still in the pool (its gain clears the price).
    priority: f[Q] its rank for a top-``fraction`` rule (higher first;
      ``None`` when the rule serves every active agent).
  """

  active: Array
  priority: Array | None = None


class RoundsResult(NamedTuple):
  """Outcome of :func:`run_rounds`. With an array of S budgets, fields marked
  [S] gain that leading axis.

  Attributes:
    state: the pool's final states (leading axis Q), at the largest budget.
    ticks: i32[S, Q] ticks each agent received.
    cost: [S, Q] budget each agent used (the budget's dtype).
    spent: [S] budget spent in all (never above the budget).
    rounds: i32[S] rounds run.
    record: ``record(state)`` of each agent at each budget's stop ([S, Q, ...]).
  """

  state: State
  ticks: Array
  cost: Array
  spent: Array
  rounds: Array
  record: Any


class Static(NamedTuple):
  """The static options of one compiled rounds program (hashable)."""

  k: int
  ranked: bool          # a top-fraction rule
  cost_cap: int | None  # integer costs clipped to this, sums saturating there
  windows: tuple


def windows(q: int) -> tuple:
  """Window sizes ``q, q/4, q/16, ...`` down to :data:`MIN_WINDOW` (without repeats)."""
  ws = [q]
  while ws[-1] > MIN_WINDOW:
    ws.append(max(ws[-1] // WINDOW_SHRINK, MIN_WINDOW))
  return tuple(dict.fromkeys(ws))


def run_rounds(agent: Agent, problems: Problem, keys: PRNGKey, budget,
               rule: Callable[[State, Array, Array], Selection], *, max_ticks,
               k: int = 1, fraction=None, charge=None, record=None) -> RoundsResult:
  """Runs the round-based budget rule over a pool of Q agents (module docstring).

  Args:
    agent: the Tick agent (every pool member of this kind).
    problems: stacked pytree of Q instances (leading axis Q).
    keys: Q PRNG keys.
    budget: the total budget B >= 0 (scalar), or an array [S] of budgets read
      off one run (every field but ``state`` gains the axis S). An int budget
      takes int costs (``charge`` must return ints), a float budget floats.
    rule: ``rule(states, ticks i32[Q], delivered i32[]) -> Selection`` -- the
      selection rule (``delivered``: ticks delivered so far in all). Pass a
      value (a module-level function, data bound with
      ``jax.tree_util.Partial``) so that repeated calls share a program.
    max_ticks: per-agent tick cap, an int or int array [Q] (>= 0).
    k: ticks per selected agent per round (>= 1).
    fraction: ``None`` (serve every active agent) or the share in (0, 1] of
      the active agents served per round, by ``priority``.
    charge: ``charge(before, after) -> cost`` of one agent's tick, or ``None``
      (``agent.cost(before)``).
    record: ``record(state) -> pytree`` of per-agent values kept for each
      budget, or ``None`` (nothing).

  Returns:
    A :class:`RoundsResult`.
  """
  q = _checks.check_batch(problems, keys)
  _checks.check_callable("rule", rule)
  for name, fn in (("charge", charge), ("record", record)):
    if fn is not None:
      _checks.check_callable(name, fn)
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
    raise ValueError(f"k must be an int >= 1, got {k!r}")
  if fraction is not None:
    _checks.check_scalar("fraction", fraction)
    if not 0 < float(fraction) <= 1:
      raise ValueError(f"fraction must be None or lie in (0, 1], got {fraction!r}")
  b = np.asarray(budget)
  if b.ndim > 1 or b.dtype.kind not in "iuf" or np.isnan(b).any() or (b < 0).any():
    raise ValueError(f"budget must be a number >= 0 or a 1-d array of them, got {budget!r}")
  caps = np.broadcast_to(np.asarray(max_ticks), (q,))
  if caps.dtype.kind not in "iu" or (caps < 0).any():
    raise ValueError(f"max_ticks must be an int >= 0 or an int array [{q}] of them, "
                     f"got {max_ticks!r}")
  _checks.check_agent(agent, problems, keys, batched=True)
  dtype = jnp.int32 if b.dtype.kind in "iu" else jnp.result_type(float)
  size = values.bucket(q)
  problems, keys = values.pad_rows((problems, keys), size)
  caps = jax.device_put(np.where(np.arange(size) < q, values.pad_rows(
      np.asarray(caps, np.int32), size), 0).astype(np.int32))
  st = Static(int(k), fraction is not None, None, windows(size))
  frac = values.device_array(1.0 if fraction is None else fraction, jnp.result_type(float))
  charge = Partial(_cost_before, agent.cost) if charge is None else charge
  record = Partial(_nothing) if record is None else record
  res = _run_rounds(st, agent, problems, keys, caps,
                    jax.device_put(np.atleast_1d(np.asarray(b, dtype))), frac, rule, charge,
                    record)
  return _unpad(res, q, b.ndim == 0)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _unpad(res, q: int, one_budget: bool):
  """The first ``q`` queries of a padded result (and its one budget's row)."""
  cut = lambda x: x[..., :q]
  res = res._replace(state=jax.tree_util.tree_map(lambda x: x[:q], res.state),
                     ticks=cut(res.ticks), cost=cut(res.cost),
                     record=jax.tree_util.tree_map(cut, res.record))
  if one_budget:
    res = res._replace(**{f: jax.tree_util.tree_map(lambda x: x[0], getattr(res, f))
                          for f in ("ticks", "cost", "spent", "rounds", "record")})
  return res


Partial = jax.tree_util.Partial


def price_selection(agent: Agent, price, calib=None) -> Callable[..., Selection]:
  """The selection rule "the calibrated gain clears the price", as a value.

  An agent is active while ``calib(uncertainty(s)) - price * cost(s) > 0`` (the
  price rule's test); its priority is that surplus. Under an unlimited budget,
  ``k = 1`` and no ``fraction``, every agent ticks exactly as under
  :func:`jaxtick.run_price` at that price (same keys), capped at ``max_ticks``.

  Args:
    agent: the Tick agent.
    price: f[] the price lambda >= 0.
    calib: calibration map (``None``: the identity).
  """
  _checks.check_scalar("price", price)
  _checks.check_nonneg("price", price, allow_inf=True)
  if calib is not None:
    _checks.check_callable("calib", calib)
  return Partial(_price_selection, agent.uncertainty, agent.cost,
                 Identity() if calib is None else calib,
                 jnp.asarray(price, jnp.result_type(float)))


def _price_selection(uncertainty, cost, calib, price, states, ticks, delivered):
  del ticks, delivered
  surplus = calib(jax.vmap(uncertainty)(states)) - price * jax.vmap(cost)(states)
  return Selection(active=surplus > 0, priority=surplus)


def _cost_before(cost, before, after):
  del after
  return cost(before)


def _nothing(state):
  del state
  return ()


@values.jit
def _run_rounds(st, agent, problems, keys, caps, budgets, fraction, rule, charge,
                record) -> RoundsResult:
  """The compiled rule over padded agents (caps 0 on padding) at budgets [S]."""
  return rounds(st, agent, problems, keys, caps, budgets, fraction, rule, charge, record)


class _Pool(NamedTuple):
  """The agents in a window of lanes (leading axis W)."""

  state: State
  key: PRNGKey
  ep: Array      # i32[W] agent index (Q: an empty lane)
  cap: Array     # i32[W] per-agent tick cap (0 on an empty lane)
  ticks: Array   # i32[W]
  cost: Array    # [W] budget used
  act: Array     # bool[W] active and below its cap
  pri: Array     # f[W] priority (ranked rules)


class _Glob(NamedTuple):
  spent: Array       # the largest budget's run
  delivered: Array
  rounds: Array
  stopped: Array     # bool[S]
  s_spent: Array     # [S] each budget's spent when it stopped
  s_rounds: Array    # i32[S]


def _sat_cumsum(c, cap):
  """Cumulative sum that saturates at ``cap`` (no int32 overflow)."""
  return jax.lax.associative_scan(lambda a, b: jnp.minimum(a + b, cap), c)


def rounds(st: Static, agent, problems, keys, caps, budgets, fraction, rule, charge,
           record) -> RoundsResult:
  """The round-based rule, traceable (no checks, no padding): fields carry the axis S.

  ``caps`` i32[Q] (an agent with cap 0 never ticks), ``budgets`` [S] (int32:
  int costs, clipped to ``st.cost_cap`` when set; float: float costs).
  """
  q, s_n, k = caps.shape[0], budgets.shape[0], st.k
  dtype = budgets.dtype
  bmax = jnp.max(budgets)
  z = jnp.zeros(q, jnp.int32)

  def verdict(state, ticks, cap, delivered):
    sel = rule(state, ticks, delivered)
    pri = jnp.zeros(ticks.shape, jnp.result_type(float)) if sel.priority is None else sel.priority
    return sel.active & (ticks < cap), pri

  def summary(state, ticks, cost):
    return ticks, cost, jax.vmap(record)(state)

  state = jax.vmap(agent.init)(problems, jax.vmap(init_key)(keys))
  act, pri = verdict(state, z, caps, jnp.zeros((), jnp.int32))
  full = _Pool(state, keys, jnp.arange(q, dtype=jnp.int32), caps, z,
               jnp.zeros(q, dtype), act, pri)
  zs = jnp.zeros(s_n, dtype)
  glob = _Glob(jnp.zeros((), dtype), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
               budgets <= 0, zs, jnp.zeros(s_n, jnp.int32))
  many = s_n > 1
  recs = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (s_n,) + x.shape),
                                summary(state, full.ticks, full.cost)) if many else None

  def one_round(carry):
    ln, glob, recs = carry
    w = ln.ep.shape[0]
    if st.ranked:
      pr = jnp.where(ln.act, ln.pri, -jnp.inf)
      pr = jnp.where(pr == 0, 0.0, pr)   # -0.0 -> 0.0: the sort orders -0.0 first
      order = jnp.lexsort((ln.ep, ln.ticks, -pr))
      rank = jnp.zeros(w, jnp.int32).at[order].set(jnp.arange(w, dtype=jnp.int32))
      m = jnp.maximum(jnp.ceil(fraction * jnp.sum(ln.act).astype(fraction.dtype)), 1.0)
      sel = ln.act & (rank < m.astype(jnp.int32))
    else:
      sel = ln.act
    j = ln.ticks[:, None] + jnp.arange(k, dtype=jnp.int32)[None, :]
    avail = sel[:, None] & (j < ln.cap[:, None])
    seq, costs = [ln.state], []
    for i in range(k):   # static: an agent's k ticks, in order (drawn, then paid)
      nxt = jax.vmap(agent.tick)(seq[-1], jax.vmap(tick_key)(ln.key, ln.ticks + i))
      costs.append(jax.vmap(charge)(seq[-1], nxt).astype(dtype))
      seq.append(nxt)
    c = jnp.where(avail, jnp.stack(costs, axis=1), jnp.zeros((), dtype))
    if st.cost_cap is not None:
      c = jnp.minimum(c, st.cost_cap)
    pos = jnp.arange(w * k, dtype=jnp.int32).reshape(w, k)
    no_cut = jnp.full(s_n, w * k, jnp.int32)   # every position paid

    def pay_in_order(_):
      """Each tick delivered or not, in payment order: (deliver [W, k], over [S], cut [S])."""
      if st.cost_cap is not None:
        csum = _sat_cumsum(c.reshape(-1), st.cost_cap).reshape(w, k)
      else:
        csum = jnp.cumsum(c.reshape(-1)).reshape(w, k)
      deliver = avail & (csum <= bmax - glob.spent)
      # each budget still running: does it stop in this round, and where? csum is
      # non-decreasing (costs >= 0), so budget s delivers the flat positions below
      # cut[s]; it overdraws when an available tick lies at or past cut[s].
      if s_n == 1:
        return deliver, jnp.any(avail & ~deliver)[None], no_cut
      cut = jnp.searchsorted(csum.reshape(-1), budgets - glob.spent, side="right")
      return deliver, cut < jnp.max(jnp.where(avail, pos + 1, 0)), cut.astype(jnp.int32)

    if jnp.issubdtype(dtype, jnp.integer):
      # Most rounds every available tick fits every running budget: the round's
      # cost, summed saturating at 2**30 (no int32 overflow; any order, the sum of
      # non-negative ints being associative), is then at most the least room, and
      # no cumulative sum is needed. The branch's output also keeps XLA from
      # re-deriving the deliveries inside each state leaf's select (it fused the
      # cumulative sum into every [W, A] update: the rounds took 1.3x as long).
      room = jnp.min(jnp.where(glob.stopped, bmax, budgets)) - glob.spent
      sat = 2 ** 30
      round_cost = jax.lax.reduce(jnp.minimum(c, sat), jnp.zeros((), dtype),
                                  lambda a, b: jnp.minimum(a + b, sat), (0, 1))
      fits = (round_cost < sat) & (round_cost <= room)
      deliver, over, cut = jax.lax.cond(
          fits, lambda _: (avail, jnp.zeros(s_n, bool), no_cut),
          pay_in_order, None)
    else:
      deliver, over, cut = pay_in_order(None)
    got = jnp.sum(deliver, axis=1, dtype=jnp.int32)
    paid = jnp.sum(jnp.where(deliver, c, jnp.zeros((), dtype)), axis=1, dtype=dtype)
    state = seq[0]
    for i in range(1, k + 1):
      state = _lanes.select(got >= i, seq[i], state)
    ticks, cost = ln.ticks + got, ln.cost + paid
    total = jnp.sum(got, dtype=jnp.int32)
    delivered = glob.delivered + total
    act, pri = verdict(state, ticks, ln.cap, delivered)
    spent = glob.spent + jnp.sum(paid, dtype=dtype)
    common = (total == 0) | ~jnp.any(act)   # ends every budget still running
    stop = ~glob.stopped & (over | common | (spent >= budgets))

    def stopped_at(d_s):
      """Each budget's spent and its lanes' records, from its deliveries [S, W, k]."""
      paid_l = jnp.sum(jnp.where(d_s, c[None], jnp.zeros((), dtype)), axis=2, dtype=dtype)
      return glob.spent + jnp.sum(paid_l, axis=1, dtype=dtype), paid_l   # [S], [S, W]

    if s_n == 1:
      s_spent = jnp.where(stop, stopped_at(deliver[None])[0], glob.s_spent)
    else:
      def write(carry):
        recs, s_spent = carry
        d_s = avail[None] & (pos[None] < cut[:, None, None])
        spent_s, paid_l = stopped_at(d_s)
        got_s = jnp.sum(d_s, axis=2, dtype=jnp.int32)                # [S, W]
        pick = summary(seq[0], ln.ticks, ln.cost)   # the record after got_s ticks
        pick = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (s_n,) + x.shape), pick)
        for i in range(1, k + 1):   # selects, not a gather: [S, W]
          pick = jax.tree_util.tree_map(
              lambda p, x, i=i: jnp.where(_bcast(got_s >= i, p, 2), x[None], p), pick,
              summary(seq[i], ln.ticks, ln.cost))
        pick = (ln.ticks[None] + got_s, ln.cost[None] + paid_l, pick[2])
        recs = jax.tree_util.tree_map(   # lane layout: a select, no scatter
            lambda r, v: jnp.where(_bcast(stop, r), v, r), recs, pick)
        return recs, jnp.where(stop, spent_s, s_spent)
      # only in the few rounds where some budget stops
      recs, s_spent = jax.lax.cond(jnp.any(stop), write, lambda x: x, (recs, glob.s_spent))
    glob = _Glob(spent, delivered, glob.rounds + 1, glob.stopped | stop, s_spent,
                 jnp.where(stop, glob.rounds + 1, glob.s_rounds))
    return ln._replace(state=state, ticks=ticks, cost=cost, act=act, pri=pri), glob, recs

  ws = st.windows
  for lvl, w in enumerate(ws):
    nxt_w = ws[lvl + 1] if lvl + 1 < len(ws) else 0
    if w == q:
      ln, idx = full, None
    else:
      idx = _lanes.first_true(full.act, w, q)
      ln = _lanes.take(full, jnp.minimum(idx, q - 1))
      empty = idx >= q
      ln = ln._replace(ep=jnp.where(empty, q, idx), cap=jnp.where(empty, 0, ln.cap),
                       act=ln.act & ~empty)
    lane_recs = None
    if many:   # a budget still running starts this level from the pool as it is
      now = summary(full.state, full.ticks, full.cost)
      recs = jax.tree_util.tree_map(
          lambda r, x: jnp.where(_bcast(glob.stopped, r), r, x[None]), recs, now)
      # the window's lanes' records, [S, W] (written by a select in each round)
      lane_recs = recs if idx is None else jax.tree_util.tree_map(
          lambda r: r[:, jnp.minimum(idx, q - 1)], recs)

    def cond(c, nxt_w=nxt_w):
      ln, glob, _ = c
      return ~jnp.all(glob.stopped) & (jnp.sum(ln.act) > nxt_w)

    ln, glob, lane_recs = jax.lax.while_loop(cond, one_round, (ln, glob, lane_recs))
    full = ln if idx is None else _lanes.put(full, idx, ln)
    if many:
      recs = lane_recs if idx is None else _lanes.put(recs, idx, lane_recs, axis=1)
  final = summary(full.state, full.ticks, full.cost)
  if many:
    out = jax.tree_util.tree_map(
        lambda r, x: jnp.where(_bcast(glob.stopped, r), r, x[None]), recs, final)
  else:
    out = jax.tree_util.tree_map(lambda x: x[None], final)
  spent = jnp.where(glob.stopped, glob.s_spent, glob.spent)
  rounds_run = jnp.where(glob.stopped, glob.s_rounds, glob.rounds)
  return RoundsResult(full.state, out[0], out[1], spent, rounds_run, out[2])


def _bcast(mask, like, lead: int = 1):
  """``mask`` (its ``lead`` axes leading ``like``'s) reshaped to broadcast against ``like``."""
  return mask.reshape(mask.shape + (1,) * (like.ndim - lead))
