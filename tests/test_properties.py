"""Property-based bad inputs (issue 18): special floats and shapes thrown at the public API.

The property everywhere: a call either raises a one-line ``ValueError``/``TypeError``
that names one of its arguments, or returns a finite, well-formed result. Values are
drawn, shapes are a few fixed buckets, so the jitted paths compile once per test.
"""

import json
import math
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxtick as jt

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

SPECIAL = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e38, -1e38, 1e-45, 5e-324, 1.0,
           0.5, -1.0, 2.0]
special = st.sampled_from(SPECIAL)
floats = st.one_of(special, st.floats(allow_nan=True, allow_infinity=True, width=32))

N, MAX_TICKS = 8, 6
COIN = jt.agents.coin()
KEYS = jax.random.split(jax.random.key(0), N)


def _either(call, names):
  """``call()``'s result, or None after a clear error that names one of ``names``."""
  try:
    return call()
  except (ValueError, TypeError) as e:
    msg = str(e)
    assert msg and "\n" not in msg.strip(), msg
    assert any(n in msg for n in names), f"no argument of {names} named in: {msg}"
    return None


def _finite(*xs):
  return all(np.isfinite(np.asarray(x, np.float64)).all() for x in xs)


# -- schedulers on the coin ----------------------------------------------------------------


@SETTINGS
@given(st.lists(floats, min_size=N, max_size=N), floats)
def test_run_price_batch_on_special_floats(biases, price):
  probs = jnp.asarray(biases, jnp.float32)
  res = _either(lambda: jt.run_price_batch(COIN, probs, KEYS, price, max_ticks=MAX_TICKS,
                                           min_ticks=1), ("problems", "price"))
  if res is None:
    assert np.isnan(biases).any() or math.isnan(price) or price < 0
    return
  ticks = np.asarray(res.ticks)
  assert ((1 <= ticks) & (ticks <= MAX_TICKS)).all()
  assert _finite(res.cost) and (np.asarray(res.cost) == ticks).all()  # unit costs
  assert not np.asarray(res.nan).any()  # NaN never got in


@SETTINGS
@given(st.lists(floats, min_size=4, max_size=4), floats, floats)
def test_run_budget_on_special_floats(biases, budget, price):
  probs = jnp.asarray(biases, jnp.float32)
  res = _either(lambda: jt.run_budget(COIN, probs, KEYS[:4], budget, price,
                                      max_ticks=MAX_TICKS), ("problems", "budget", "price"))
  if res is None:
    return
  spent, ticks = float(res.spent), np.asarray(res.ticks)
  assert math.isfinite(spent) and 0 <= spent <= budget
  assert ((0 <= ticks) & (ticks <= MAX_TICKS)).all() and spent == ticks.sum()
  assert not np.asarray(res.nan).any()


@SETTINGS
@given(st.lists(floats, min_size=4, max_size=4), st.sampled_from(["trace", "stream"]))
def test_front_on_special_prices(prices, method):
  probs = jt.problems.coin_problems(jax.random.key(1), N)
  fr = _either(lambda: jt.front(COIN, probs, KEYS, prices, max_ticks=MAX_TICKS,
                                score=probs > 0.5, method=method), ("prices",))
  if fr is None:
    assert any(math.isnan(p) or p < 0 for p in prices)
    return
  assert _finite(fr.mean_cost, fr.mean_ticks, fr.ci_wilson.lo, fr.ci_wilson.hi)
  ticks, correct = np.asarray(fr.total_ticks), np.asarray(fr.correct)
  assert ((0 <= ticks) & (ticks <= N * MAX_TICKS)).all() and ((0 <= correct) & (correct <= N)).all()
  assert (np.asarray(fr.nan) == 0).all()
  order = np.argsort(prices, kind="stable")  # a dearer price never ticks more
  assert (np.diff(ticks[order]) <= 0).all()


@SETTINGS
@given(st.lists(floats, min_size=6, max_size=6), st.lists(floats, min_size=3, max_size=3))
def test_exit_heads_sweep_on_special_signals(u, prices):
  u = jnp.asarray(u, jnp.float32).reshape(2, 3)
  correct = jnp.array([[True, False, True], [False, True, True]])
  sw = _either(lambda: jt.agents.exit_heads_sweep(u, correct, jnp.asarray(prices)),
               ("u", "prices"))
  if sw is None:
    return
  heads = np.asarray(sw.total_heads)
  assert ((2 <= heads) & (heads <= 6)).all() and _finite(sw.cost, sw.heads)
  assert ((0 <= np.asarray(sw.correct)) & (np.asarray(sw.correct) <= 2)).all()
  assert (np.asarray(sw.nan) == 0).all()


@SETTINGS
@given(st.lists(floats, min_size=6, max_size=6))
def test_exit_heads_sweep_counts_traced_nan(u):
  """Under jit the NaN is not refused but counted: at most one count per instance."""
  u = jnp.asarray(u, jnp.float32).reshape(2, 3)
  sw = jax.jit(jt.agents.exit_heads_sweep)(u, jnp.ones((2, 3), bool), jnp.array([0.0, 1.0, 1e30]))
  nan = np.asarray(sw.nan)
  has_nan = np.isnan(np.asarray(u)[:, :-1]).any(axis=1).sum()
  assert ((0 <= nan) & (nan <= has_nan)).all()
  if has_nan:
    assert nan[0] > 0 or not np.isnan(np.asarray(u)[:, 0]).any()


steps = st.sampled_from([math.nan, math.inf, -1.0, 0.0, -0.0, 1e-3, 0.1, 1.0, 10.0])


@SETTINGS
@given(st.lists(floats, min_size=1, max_size=1), floats, steps)
def test_bisect_and_subgradient_on_special_scalars(target, hi, step):
  f = jt.price_cost(COIN, jt.problems.coin_problems(jax.random.key(2), N), KEYS,
                    max_ticks=MAX_TICKS)
  found = _either(lambda: jt.bisect_price(f, target[0], 0.0, hi, num_iters=4),
                  ("target", "hi", "lo"))
  if found is not None:
    assert _finite(found.price, found.cost) and bool(found.reached) == (
        float(found.cost) <= target[0])
  trace = _either(lambda: jt.subgradient_price(f, target[0], step_size=step, num_steps=3),
                  ("target", "step_size"))
  if trace is not None:
    assert _finite(trace.prices, trace.costs)
    assert bool(trace.reached) == bool((np.asarray(trace.costs) <= target[0]).any())


# -- stats -------------------------------------------------------------------------------------

counts = st.one_of(st.integers(-3, 30), special)


@SETTINGS
@given(counts, counts, st.one_of(special, st.just(1.96)))
def test_intervals_on_special_counts(successes, n, z):
  for fn in (jt.stats.wilson_interval, jt.stats.normal_interval):
    ci = _either(lambda: fn(successes, n, z=z), ("successes", "n", "z"))
    if ci is None:
      continue
    lo, hi = float(ci.lo), float(ci.hi)
    if n == 0:
      continue  # documented: no interval from no trials (NaN)
    p = successes / n
    assert 0 <= lo <= hi <= 1 and lo <= p + 1e-6 and p - 1e-6 <= hi


@SETTINGS
@given(counts, counts)
def test_mcnemar_counts_on_special_counts(b, c):
  res = _either(lambda: jt.stats.mcnemar_counts(b, c), ("b", "c"))
  if res is not None:
    assert 0 <= float(res.p) <= 1


# -- loaders ----------------------------------------------------------------------------------

TMP = Path(tempfile.mkdtemp(prefix="jaxtick-props-"))
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
              st.floats(allow_nan=False), st.text(max_size=4)),
    lambda inner: st.lists(inner, max_size=3), max_leaves=6)
field = st.sampled_from(["query", "correct", "reward", "answer", "tokens", "latency",
                         "features", "iid", "other"])
GOOD = {"query": "q", "correct": [True, False], "reward": [0.9, 0.1], "answer": [0, 1],
        "tokens": [10, 20]}


def _loads_or_refuses(load, path):
  try:
    log = load(path)
  except ValueError as e:
    assert str(e) and "\n" not in str(e).strip(), str(e)
    return None
  jt.problems.logs.validate(log)  # what loads is a valid log
  assert log.count.shape[0] >= 1 and int(np.asarray(log.count).sum()) >= 1
  return log


@SETTINGS
@given(st.lists(st.tuples(field, json_value), max_size=4))
def test_jsonl_with_random_fields(changes):
  row = dict(GOOD)
  for k, v in changes:
    row[k] = v
  path = TMP / "row.jsonl"
  path.write_text(json.dumps(row) + "\n")
  _loads_or_refuses(jt.problems.load_jsonl, path)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_to_the_loaders(data):
  for name, load in (("b.jsonl", jt.problems.load_jsonl), ("b.npz", jt.problems.load_npz)):
    path = TMP / name
    path.write_bytes(data)
    _loads_or_refuses(load, path)
