"""Bad inputs get a clear error that names the argument; valid edge cases still work.

Table-driven: each case is (call, exception type, a phrase the message must hold).
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt


def _coins(n=8):
  probs = jt.problems.coin_problems(jax.random.key(0), n)
  return probs, jax.random.split(jax.random.key(1), n)


P, K = _coins()
COIN = jt.agents.coin()

BAD = {
    "coin cost < 0": (lambda: jt.agents.coin(cost=-1.0), ValueError, "cost"),
    "coin cost nan": (lambda: jt.agents.coin(cost=float("nan")), ValueError, "cost"),
    "coin cost 0": (lambda: jt.agents.coin(cost=0.0), ValueError, "cost"),
    "mcts cost < 0": (lambda: jt.agents.mcts(jt.problems.game_tree_env(2, 2), 4, cost=-1.0),
                      ValueError, "cost"),
    "mcts cost nan": (lambda: jt.agents.mcts(jt.problems.game_tree_env(2, 2), 4,
                                             cost=float("nan")), ValueError, "cost"),
    "mcts exploration inf": (lambda: jt.agents.mcts(jt.problems.game_tree_env(2, 2), 4,
                                                    exploration=float("inf")),
                             ValueError, "exploration"),
    "max_ticks 2**40": (lambda: jt.run_price(COIN, P[0], K[0], 1.0, max_ticks=2 ** 40),
                        ValueError, "max_ticks"),
    "budget an array": (lambda: jt.run_budget(COIN, P[:4], K[:4], [8, 0, 0, 0],
                                              max_ticks=4), ValueError, "budget must be a scalar"),
    "budget price an array": (lambda: jt.run_budget(COIN, P[:4], K[:4], 8.0, [1.0, 2.0],
                                                    max_ticks=4), ValueError, "price must be a scalar"),
    "bisect target an array": (lambda: jt.bisect_price(lambda p: p, [1.0, 2.0]), ValueError,
                               "target must be a scalar"),
    "subgradient num_steps -1": (lambda: jt.subgradient_price(lambda p: p, 1.0, step_size=0.1,
                                                              num_steps=-1),
                                 ValueError, "num_steps"),
    "subgradient step an array": (lambda: jt.subgradient_price(lambda p: p, 1.0, step_size=[0.1],
                                                               num_steps=2),
                                  ValueError, "step_size must be a scalar"),
    "run_price given a batch": (lambda: jt.run_price(COIN, P, K, 1.0, max_ticks=4), ValueError,
                                r"key must be one key.*for a batch use run_price_batch"),
    "run_price given a batch of problems": (lambda: jt.run_price(COIN, P, K[0], 1.0,
                                                                 max_ticks=4), TypeError,
                                "run_price runs one episode: for a batch use run_price_batch"),
    "uncertainty of shape (1,)": (lambda: jt.run_price_batch(
        COIN._replace(uncertainty=lambda s: jnp.reshape(COIN.uncertainty(s), (1,))),
        P, K, 1.0, max_ticks=4), TypeError, "agent.uncertainty must return a scalar"),
    "cost of shape (2,)": (lambda: jt.front(
        COIN._replace(cost=lambda s: jnp.ones(2)), P, K, [1.0], max_ticks=4), TypeError,
                           "agent.cost must return a scalar"),
    "tick changes a dtype": (lambda: jt.run_budget(
        COIN._replace(tick=lambda s, k: s._replace(flips=s.flips.astype(jnp.float32))),
        P, K, 4.0, max_ticks=4), TypeError, r"agent.tick must keep .*flips: int32\[\] -> float32\[\]"),
    "proportion above 1": (lambda: jt.stats.proportion(11, 10), ValueError, "successes must be <= n"),
    "wilson negative count": (lambda: jt.stats.wilson_interval(-1, 10), ValueError, "successes must be >= 0"),
    "normal negative n": (lambda: jt.stats.normal_interval(1, -10), ValueError, "n must be >= 0"),
    "mcnemar negative b": (lambda: jt.stats.mcnemar_counts(-1, 3), ValueError, "b .*must be >= 0"),
    "isotonic zero weights": (lambda: jt.fit_isotonic(jnp.arange(4.0), jnp.arange(4.0),
                                                      jnp.zeros(4)), ValueError, "weights"),
    "isotonic negative weight": (lambda: jt.fit_isotonic(jnp.arange(4.0), jnp.arange(4.0),
                                                         jnp.array([1.0, -1, 1, 1])),
                                 ValueError, "weights"),
    "price_cost lanes 0": (lambda: jt.price_cost(COIN, P, K, max_ticks=4, lanes=0), ValueError,
                           "lanes"),
}


def _unknown_tokens_pool():
  log = jt.problems.example_log()._replace(tokens_known=False)
  return jt.problems.replay_pool(log)


BAD.update({
    "bandit token budget on unknown tokens": (lambda: jt.alloc.allocate(
        _unknown_tokens_pool(), 100, cost="tokens"), ValueError, "field 'tokens'"),
    "sampler token cost on unknown tokens": (lambda: jt.agents.sampler(
        _unknown_tokens_pool(), cost="tokens"), ValueError, "field 'tokens'"),
    "bandit gamma nan": (lambda: jt.alloc.allocate(_unknown_tokens_pool(), 100,
                                                   gamma=float("nan")), ValueError, "gamma"),
})


def test_numpy_scalars_are_accepted_by_the_bandit():
  pool = jt.problems.replay_pool(jt.problems.example_log())
  a = jt.alloc.allocate(pool, 300, gamma=np.float32(0.97), select_fraction=np.float64(0.5),
                        exploration=jnp.float32(1.0), rule="ucb")
  b = jt.alloc.allocate(pool, 300, gamma=0.97, select_fraction=0.5, exploration=1.0,
                        rule="ucb")
  np.testing.assert_array_equal(a.samples, b.samples)


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_names_the_argument(name):
  call, exc, phrase = BAD[name]
  with pytest.raises(exc, match=phrase):
    call()


def test_bisect_says_when_the_target_is_out_of_reach():
  f = jt.price_cost(COIN, P, K, max_ticks=16, min_ticks=2)
  below = jt.bisect_price(f, 1.0, 0.0, 10.0)  # every episode flips at least twice
  assert not bool(below.reached) and float(below.cost) > 1.0
  ok = jt.bisect_price(f, 6.0, 0.0, 10.0)
  assert bool(ok.reached) and float(ok.cost) <= 6.0


@pytest.mark.parametrize("scalar", [np.float32(8.0), jnp.float32(8.0), 8, np.int64(8),
                                    float("inf"), 0.0])
def test_numpy_and_jax_scalars_and_edges_are_accepted(scalar):
  res = jt.run_budget(COIN, P[:4], K[:4], scalar, max_ticks=4)
  assert float(res.spent) <= float(scalar)


# =====================================================================================
# The sweep (issue 18): likely mistakes on every public function, one case each.
#
# Each case is (argument, exception type, call[, regex]): the call must raise that type
# with a one-line message that names the argument (and matches the regex, if given).
# The arguments are small and shared; every check runs before anything is compiled.

import json
import math
import tempfile
from pathlib import Path

NAN, INF = float("nan"), float("inf")
F = jt.price_cost(COIN, P, K, max_ticks=4)
KR = jax.random.split(jax.random.PRNGKey(1), 8)          # raw uint32 keys
K_I32 = KR.astype(jnp.int32)
P_NAN = P.at[3].set(NAN)
GRID = jnp.array([0.5, 1.0])
LABELS = P > 0.5
ACC = jnp.full((4, 3), 0.5)
TOK = jnp.array([1.0, 2.0, 3.0])
LAT = jnp.array([0.1, 0.2, 0.3])
LEVEL_COST = jnp.array([1.0, 2.0, 4.0])
U = jnp.array([[0.5, 0.2, 0.0], [0.9, 0.4, 0.0]])
CORRECT = jnp.ones((2, 3), bool)
ENV = jt.problems.game_tree_env(2, 2)
TABLE = jt.agents.logit_table(3, 4)
REPLAY = jt.problems.replay_pool(jt.problems.example_log())
QPOOL = jt.problems.query_pool(jax.random.key(0), 8)
EMPTY = lambda pool: jax.tree_util.tree_map(lambda x: x[:0] if np.ndim(x) else x, pool)
TRACES = jax.vmap(lambda p, k: jt.soft.trace(COIN, p, k, max_ticks=4))(P, K)
ONE_TRACE = jt.soft.trace(COIN, P[0], K[0], max_ticks=4)
RIGHT = jnp.ones((8, 5))
FRONT = jt.front(COIN, P, K, GRID, max_ticks=4, score=LABELS, method="trace")
FRONT_PLAIN = jt.front(COIN, P, K, GRID, max_ticks=4, method="trace")
WRONG_U = COIN._replace(uncertainty=lambda s: jnp.ones(2))
TMP = Path(tempfile.mkdtemp(prefix="jaxtick-bad-"))


def _file(name, text=None, data=None):
  path = TMP / name
  if data is None:
    path.write_text(text)
  else:
    path.write_bytes(data)
  return path


_ROW = {"query": "q", "correct": [True, False], "reward": [0.9, 0.1], "answer": [0, 1],
        "tokens": [10, 20]}
_BIG = "1" + "0" * 400  # an integer too large for a float


def _jsonl(**change):
  return json.dumps(dict(_ROW, **change)) + "\n"


def case(arg, exc, call, match=None):
  return arg, exc, call, match


SWEEP = {
    # -- run_price: one episode ----------------------------------------------------
    "run_price key is a batch": case("key", ValueError, lambda: jt.run_price(
        COIN, P[0], K, 1.0, max_ticks=4), r"key must be one key.*for a batch use run_price_batch"),
    "run_price raw key int32": case("key", TypeError, lambda: jt.run_price(
        COIN, P[0], K_I32[0], 1.0, max_ticks=4), "uint32"),
    "run_price key a float": case("key", TypeError, lambda: jt.run_price(
        COIN, P[0], 3.0, 1.0, max_ticks=4)),
    "run_price problem NaN": case("problem", ValueError, lambda: jt.run_price(
        COIN, jnp.float32(NAN), K[0], 1.0, max_ticks=4), "must not hold NaN"),
    "run_price price an array": case("price", ValueError, lambda: jt.run_price(
        COIN, P[0], K[0], [1.0, 2.0], max_ticks=4), "scalar"),
    "run_price price < 0": case("price", ValueError, lambda: jt.run_price(
        COIN, P[0], K[0], -1.0, max_ticks=4), ">= 0"),
    "run_price price NaN": case("price", ValueError, lambda: jt.run_price(
        COIN, P[0], K[0], NAN, max_ticks=4), "NaN"),
    "run_price price a string": case("price", ValueError, lambda: jt.run_price(
        COIN, P[0], K[0], "1", max_ticks=4), "numeric"),
    "run_price min_ticks < 0": case("min_ticks", ValueError, lambda: jt.run_price(
        COIN, P[0], K[0], 1.0, max_ticks=4, min_ticks=-1)),
    "run_price max_ticks a float": case("max_ticks", ValueError, lambda: jt.run_price(
        COIN, P[0], K[0], 1.0, max_ticks=4.0), "int"),
    "run_price max < min": case("max_ticks", ValueError, lambda: jt.run_price(
        COIN, P[0], K[0], 1.0, max_ticks=2, min_ticks=3), "min_ticks"),
    "run_price calib not callable": case("calib", TypeError, lambda: jt.run_price(
        COIN, P[0], K[0], 1.0, max_ticks=4, calib=3), "callable"),
    "run_price agent not an Agent": case("agent", TypeError, lambda: jt.run_price(
        lambda x: x, P[0], K[0], 1.0, max_ticks=4), "jaxtick.Agent"),
    # -- run_price_batch --------------------------------------------------------------
    "batch short keys": case("keys", ValueError, lambda: jt.run_price_batch(
        COIN, P, K[:4], 1.0, max_ticks=4),
        r"problems and keys must have the same batch size: problems has 8 .*shape \(8,\).*"
        r"keys has 4 \(shape \(4,\)\)"),
    "batch long keys": case("problems", ValueError, lambda: jt.run_price_batch(
        COIN, P[:4], K, 1.0, max_ticks=4), "problems has 4 .*keys has 8"),
    "batch pytree problems short": case("problems", ValueError, lambda: jt.run_price_batch(
        COIN, {"p": P[:6]}, K, 1.0, max_ticks=4), r"\['p'\]: \(6,\)"),
    "batch raw keys int32": case("keys", TypeError, lambda: jt.run_price_batch(
        COIN, P, K_I32, 1.0, max_ticks=4), "uint32"),
    "batch raw keys uint8": case("keys", TypeError, lambda: jt.run_price_batch(
        COIN, P, KR.astype(jnp.uint8), 1.0, max_ticks=4), "uint8"),
    "batch keys float": case("keys", TypeError, lambda: jt.run_price_batch(
        COIN, P, jnp.zeros((8, 2)), 1.0, max_ticks=4), "float32"),
    "batch keys None": case("keys", TypeError, lambda: jt.run_price_batch(
        COIN, P, None, 1.0, max_ticks=4), "NoneType"),
    "batch typed keys 2-d": case("keys", ValueError, lambda: jt.run_price_batch(
        COIN, P, K.reshape(8, 1), 1.0, max_ticks=4), r"shape \(n,\)"),
    "batch raw keys (n, 3)": case("keys", ValueError, lambda: jt.run_price_batch(
        COIN, P, jnp.zeros((8, 3), jnp.uint32), 1.0, max_ticks=4), r"\(n, 2\)"),
    "batch empty": case("episode", ValueError, lambda: jt.run_price_batch(
        COIN, P[:0], K[:0], 1.0, max_ticks=4), "0 keys"),
    "batch problems NaN": case("problems", ValueError, lambda: jt.run_price_batch(
        COIN, P_NAN, K, 1.0, max_ticks=4), r"must not hold NaN.*index \[3\]"),
    "batch problems NumPy NaN": case("problems", ValueError, lambda: jt.run_price_batch(
        COIN, np.asarray(P_NAN), K, 1.0, max_ticks=4), "NaN"),
    "batch problems leaves disagree": case("problems", ValueError, lambda: jt.run_price_batch(
        COIN, (P, P[:4]), K, 1.0, max_ticks=4), "leaves disagree"),
    "batch problems a scalar leaf": case("problems", ValueError, lambda: jt.run_price_batch(
        COIN, [0.5] * 8, K, 1.0, max_ticks=4), "scalar"),
    "batch price wrong length": case("price", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, jnp.ones(3), max_ticks=4), r"shape \(8,\) \(one per episode, as keys"),
    "batch price 2-d": case("price", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, jnp.ones((8, 1)), max_ticks=4)),
    "batch price a negative entry": case("price", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, jnp.ones(8).at[2].set(-1.0), max_ticks=4), ">= 0"),
    "batch price a NaN entry": case("price", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, jnp.ones(8).at[2].set(NAN), max_ticks=4), "NaN"),
    "batch lanes 0": case("lanes", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, 1.0, max_ticks=4, lanes=0)),
    "batch lanes a float": case("lanes", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, 1.0, max_ticks=4, lanes=2.5)),
    "batch lanes a bool": case("lanes", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, 1.0, max_ticks=4, lanes=True)),
    "batch refill_fraction 1.5": case("refill_fraction", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, 1.0, max_ticks=4, refill_fraction=1.5)),
    "batch refill_fraction NaN": case("refill_fraction", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, 1.0, max_ticks=4, refill_fraction=NAN)),
    "batch refill_fraction an array": case("refill_fraction", ValueError,
                                           lambda: jt.run_price_batch(
        COIN, P, K, 1.0, max_ticks=4, refill_fraction=[0.5]), "scalar"),
    "batch max_ticks 2**31": case("max_ticks", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, 1.0, max_ticks=2 ** 31), r"2\*\*31"),
    "batch max_ticks a NumPy float": case("max_ticks", ValueError, lambda: jt.run_price_batch(
        COIN, P, K, 1.0, max_ticks=np.float32(4))),
    "batch calib not callable": case("calib", TypeError, lambda: jt.run_price_batch(
        COIN, P, K, 1.0, max_ticks=4, calib="isotonic")),
    "batch agent a tuple": case("agent", TypeError, lambda: jt.run_price_batch(
        (1, 2, 3, 4, 5), P, K, 1.0, max_ticks=4)),
    "batch uncertainty of shape (2,)": case("uncertainty", TypeError, lambda: jt.run_price_batch(
        WRONG_U, P, K, 1.0, max_ticks=4), "scalar"),
    # -- run_budget --------------------------------------------------------------------
    "budget NaN": case("budget", ValueError, lambda: jt.run_budget(
        COIN, P, K, NAN, max_ticks=4)),
    "budget < 0": case("budget", ValueError, lambda: jt.run_budget(
        COIN, P, K, -1.0, max_ticks=4), ">= 0"),
    "budget price < 0": case("price", ValueError, lambda: jt.run_budget(
        COIN, P, K, 4.0, -0.5, max_ticks=4)),
    "budget price NaN": case("price", ValueError, lambda: jt.run_budget(
        COIN, P, K, 4.0, NAN, max_ticks=4)),
    "budget short keys": case("keys", ValueError, lambda: jt.run_budget(
        COIN, P, K[:4], 4.0, max_ticks=4), "problems has 8"),
    "budget raw keys int32": case("keys", TypeError, lambda: jt.run_budget(
        COIN, P, K_I32, 4.0, max_ticks=4)),
    "budget problems NaN": case("problems", ValueError, lambda: jt.run_budget(
        COIN, P_NAN, K, 4.0, max_ticks=4)),
    "budget fuse not callable": case("fuse", TypeError, lambda: jt.run_budget(
        COIN, P, K, 4.0, max_ticks=4, fuse="mean")),
    "budget calib not callable": case("calib", TypeError, lambda: jt.run_budget(
        COIN, P, K, 4.0, max_ticks=4, calib=0.5)),
    "budget max_ticks < 0": case("max_ticks", ValueError, lambda: jt.run_budget(
        COIN, P, K, 4.0, max_ticks=-1)),
    "budget max_ticks 2**40": case("max_ticks", ValueError, lambda: jt.run_budget(
        COIN, P, K, 4.0, max_ticks=2 ** 40)),
    "budget uncertainty of shape (2,)": case("uncertainty", TypeError, lambda: jt.run_budget(
        WRONG_U, P, K, 4.0, max_ticks=4)),
    # -- price_cost, bisect_price, subgradient_price, price_from_z ----------------------
    "price_cost short keys": case("keys", ValueError, lambda: jt.price_cost(
        COIN, P, K[:4], max_ticks=4)),
    "price_cost problems NaN": case("problems", ValueError, lambda: jt.price_cost(
        COIN, P_NAN, K, max_ticks=4)),
    "price_cost uncertainty of shape (2,)": case("uncertainty", TypeError, lambda: jt.price_cost(
        WRONG_U, P, K, max_ticks=4)),
    "price_cost calib not callable": case("calib", TypeError, lambda: jt.price_cost(
        COIN, P, K, max_ticks=4, calib=1)),
    "bisect target NaN": case("target", ValueError, lambda: jt.bisect_price(F, NAN)),
    "bisect target < 0": case("target", ValueError, lambda: jt.bisect_price(F, -1.0)),
    "bisect lo > hi": case("lo", ValueError, lambda: jt.bisect_price(F, 1.0, 2.0, 1.0), "hi"),
    "bisect hi inf": case("hi", ValueError, lambda: jt.bisect_price(F, 1.0, 0.0, INF), "finite"),
    "bisect lo NaN": case("lo", ValueError, lambda: jt.bisect_price(F, 1.0, NAN, 1.0)),
    "bisect hi an array": case("hi", ValueError, lambda: jt.bisect_price(F, 1.0, 0.0, [1.0, 2.0])),
    "bisect num_iters < 0": case("num_iters", ValueError, lambda: jt.bisect_price(
        F, 1.0, num_iters=-1)),
    "bisect num_iters a float": case("num_iters", ValueError, lambda: jt.bisect_price(
        F, 1.0, num_iters=2.0)),
    "bisect num_iters a bool": case("num_iters", ValueError, lambda: jt.bisect_price(
        F, 1.0, num_iters=True)),
    "bisect mean_cost not callable": case("mean_cost", TypeError, lambda: jt.bisect_price(
        3.0, 1.0)),
    "subgradient target NaN": case("target", ValueError, lambda: jt.subgradient_price(
        F, NAN, step_size=0.1, num_steps=2)),
    "subgradient target an array": case("target", ValueError, lambda: jt.subgradient_price(
        F, [1.0], step_size=0.1, num_steps=2)),
    "subgradient step_size 0": case("step_size", ValueError, lambda: jt.subgradient_price(
        F, 1.0, step_size=0.0, num_steps=2), "> 0"),
    "subgradient step_size < 0": case("step_size", ValueError, lambda: jt.subgradient_price(
        F, 1.0, step_size=-0.1, num_steps=2)),
    "subgradient step_size inf": case("step_size", ValueError, lambda: jt.subgradient_price(
        F, 1.0, step_size=INF, num_steps=2)),
    "subgradient price < 0": case("price", ValueError, lambda: jt.subgradient_price(
        F, 1.0, -1.0, step_size=0.1, num_steps=2)),
    "subgradient num_steps a float": case("num_steps", ValueError, lambda: jt.subgradient_price(
        F, 1.0, step_size=0.1, num_steps=2.0)),
    "subgradient num_steps a bool": case("num_steps", ValueError, lambda: jt.subgradient_price(
        F, 1.0, step_size=0.1, num_steps=True)),
    "subgradient mean_cost not callable": case("mean_cost", TypeError,
                                               lambda: jt.subgradient_price(
        None, 1.0, step_size=0.1, num_steps=2)),
    "price_from_z 0": case("z", ValueError, lambda: jt.price_from_z(0.0)),
    "price_from_z NaN": case("z", ValueError, lambda: jt.price_from_z(NAN)),
    "price_from_z a negative entry": case("z", ValueError, lambda: jt.price_from_z([1.0, -2.0])),
    "init_key a float": case("key", TypeError, lambda: jt.init_key(3.0)),
    # -- front ---------------------------------------------------------------------------
    "front short keys": case("keys", ValueError, lambda: jt.front(
        COIN, P, K[:4], GRID, max_ticks=4), "problems has 8 .*keys has 4"),
    "front long keys": case("keys", ValueError, lambda: jt.front(
        COIN, P[:4], K, GRID, max_ticks=4)),
    "front raw keys int32": case("keys", TypeError, lambda: jt.front(
        COIN, P, K_I32, GRID, max_ticks=4)),
    "front problems NaN": case("problems", ValueError, lambda: jt.front(
        COIN, P_NAN, K, GRID, max_ticks=4)),
    "front prices 2-d": case("prices", ValueError, lambda: jt.front(
        COIN, P, K, jnp.ones((2, 2)), max_ticks=4), "1-D"),
    "front prices a scalar": case("prices", ValueError, lambda: jt.front(
        COIN, P, K, 1.0, max_ticks=4), "1-D"),
    "front prices empty": case("prices", ValueError, lambda: jt.front(
        COIN, P, K, jnp.zeros(0), max_ticks=4), "at least one"),
    "front prices NaN": case("prices", ValueError, lambda: jt.front(
        COIN, P, K, [1.0, NAN], max_ticks=4), "NaN"),
    "front prices < 0": case("prices", ValueError, lambda: jt.front(
        COIN, P, K, [-1.0, 1.0], max_ticks=4), ">= 0"),
    "front labels short": case("score", ValueError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=4, score=LABELS[:3]),
        r"leading axis 8 .*as problems and keys have 8\), got shape \(3,\)"),
    "front labels a scalar": case("score", ValueError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=4, score=jnp.bool_(True))),
    "front score a string": case("score", TypeError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=4, score="accuracy")),
    "front method unknown": case("method", ValueError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=4, method="exact")),
    "front method None": case("method", ValueError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=4, method=None)),
    "front chunk 0": case("chunk", ValueError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=4, chunk=0)),
    "front chunk a float": case("chunk", ValueError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=4, chunk=8.0)),
    "front lanes 0 (stream)": case("lanes", ValueError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=4, lanes=0, method="stream")),
    "front episodes a string": case("episodes", TypeError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=4, episodes="yes")),
    "front max_ticks 2**31": case("max_ticks", ValueError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=2 ** 31)),
    "front min_ticks > max_ticks": case("max_ticks", ValueError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=2, min_ticks=3)),
    "front calib not callable": case("calib", TypeError, lambda: jt.front(
        COIN, P, K, GRID, max_ticks=4, calib=[1.0])),
    "front uncertainty of shape (2,)": case("uncertainty", TypeError, lambda: jt.front(
        WRONG_U, P, K, GRID, max_ticks=4)),
    "front tick drops a leaf's dtype": case("tick", TypeError, lambda: jt.front(
        COIN._replace(tick=lambda s, k: s._replace(heads=s.heads.astype(jnp.float32))),
        P, K, GRID, max_ticks=4), "heads"),
    # -- the sharded runners (one CPU device here) --------------------------------------
    "front_sharded short keys": case("keys", ValueError, lambda: jt.front_sharded(
        COIN, P, K[:4], GRID, max_ticks=4)),
    "front_sharded prices NaN": case("prices", ValueError, lambda: jt.front_sharded(
        COIN, P, K, [NAN], max_ticks=4)),
    "front_sharded episodes a string": case("episodes", TypeError, lambda: jt.front_sharded(
        COIN, P, K, GRID, max_ticks=4, episodes="no")),
    "run_price_sharded short keys": case("keys", ValueError, lambda: jt.run_price_sharded(
        COIN, P, K[:4], 1.0, max_ticks=4)),
    "run_price_sharded price wrong length": case("price", ValueError,
                                                 lambda: jt.run_price_sharded(
        COIN, P, K, jnp.ones(3), max_ticks=4)),
    "run_price_sharded uncertainty (2,)": case("uncertainty", TypeError,
                                               lambda: jt.run_price_sharded(
        WRONG_U, P, K, 1.0, max_ticks=4)),
    "episode_mesh num_devices 0": case("num_devices", ValueError, lambda: jt.episode_mesh(
        num_devices=0)),
    "episode_mesh too many devices": case("num_devices", ValueError, lambda: jt.episode_mesh(
        num_devices=10 ** 6)),
    # -- matched price, accuracy at cost, McNemar, area, Pareto -------------------------
    "matched target NaN": case("target", ValueError, lambda: jt.matched_price(
        COIN, P, K, NAN, max_ticks=4, score=LABELS)),
    "matched target an array": case("target", ValueError, lambda: jt.matched_price(
        COIN, P, K, [1.0, 2.0], max_ticks=4, score=LABELS), "scalar"),
    "matched target < 0": case("target", ValueError, lambda: jt.matched_price(
        COIN, P, K, -1.0, max_ticks=4, score=LABELS)),
    "matched target unreachable": case("target", ValueError, lambda: jt.matched_price(
        COIN, P, K, 100.0, max_ticks=4, score=LABELS), "not reachable"),
    "matched score None": case("score", ValueError, lambda: jt.matched_price(
        COIN, P, K, 1.0, max_ticks=4, score=None)),
    "matched labels short": case("score", ValueError, lambda: jt.matched_price(
        COIN, P, K, 1.0, max_ticks=4, score=LABELS[:2])),
    "matched num_iters < 0": case("num_iters", ValueError, lambda: jt.matched_price(
        COIN, P, K, 1.0, max_ticks=4, score=LABELS, num_iters=-1)),
    "matched short keys": case("keys", ValueError, lambda: jt.matched_price(
        COIN, P, K[:4], 1.0, max_ticks=4, score=LABELS)),
    "accuracy_at_cost without score": case("score", ValueError, lambda: jt.accuracy_at_cost(
        FRONT_PLAIN, 1.0)),
    "accuracy_at_cost target NaN": case("target", ValueError, lambda: jt.accuracy_at_cost(
        FRONT, NAN)),
    "accuracy_at_cost target outside": case("target", ValueError, lambda: jt.accuracy_at_cost(
        FRONT, 1e6), "outside the front's range"),
    "accuracy_at_cost not a Front": case("fr", TypeError, lambda: jt.accuracy_at_cost(
        {"prices": GRID}, 1.0)),
    "area without score": case("score", ValueError, lambda: jt.area(FRONT_PLAIN)),
    "mcnemar_at_cost not a front": case("a", TypeError, lambda: jt.mcnemar_at_cost(1, FRONT)),
    "mcnemar_at_cost no episodes": case("a", ValueError, lambda: jt.mcnemar_at_cost(
        FRONT, FRONT), "one price with per-episode scores"),
    "pareto_mask lengths differ": case("cost", ValueError, lambda: jt.pareto_mask(
        jnp.ones(3), jnp.ones(4)), "value"),
    "pareto_indices 2-d": case("cost", ValueError, lambda: jt.pareto_indices(
        jnp.ones((2, 2)), jnp.ones((2, 2)))),
    # -- stats -------------------------------------------------------------------------
    "proportion successes < 0": case("successes", ValueError, lambda: jt.stats.proportion(
        -1, 3)),
    "proportion n NaN": case("n", ValueError, lambda: jt.stats.proportion(1, NAN)),
    "proportion successes > n (arrays)": case("successes", ValueError,
                                              lambda: jt.stats.proportion(
        np.array([1, 5]), np.array([4, 4])), "<= n"),
    "wilson z 0": case("z", ValueError, lambda: jt.stats.wilson_interval(1, 10, z=0.0)),
    "wilson z NaN": case("z", ValueError, lambda: jt.stats.wilson_interval(1, 10, z=NAN)),
    "wilson z an array": case("z", ValueError, lambda: jt.stats.wilson_interval(
        1, 10, z=[1.0, 2.0]), "scalar"),
    "normal z < 0": case("z", ValueError, lambda: jt.stats.normal_interval(1, 10, z=-1.96)),
    "normal successes > n": case("successes", ValueError, lambda: jt.stats.normal_interval(
        11, 10)),
    "mcnemar_counts not whole": case("b", ValueError, lambda: jt.stats.mcnemar_counts(
        1.5, 2), "whole number"),
    "mcnemar_counts c < 0": case("c", ValueError, lambda: jt.stats.mcnemar_counts(2, -2)),
    "mcnemar_counts c NaN": case("c", ValueError, lambda: jt.stats.mcnemar_counts(2, NAN)),
    "mcnemar shapes differ": case("correct", ValueError, lambda: jt.stats.mcnemar(
        jnp.ones(3, bool), jnp.ones(4, bool)), "same shape"),
    "mcnemar values not 0/1": case("correct_a", ValueError, lambda: jt.stats.mcnemar(
        jnp.array([0.5, 1.0]), jnp.ones(2, bool))),
    "binom_cdf_half n < 0": case("n", ValueError, lambda: jt.stats.binom_cdf_half(1, -3)),
    # -- calibration -------------------------------------------------------------------
    "isotonic lengths differ": case("gain", ValueError, lambda: jt.fit_isotonic(
        jnp.arange(4.0), jnp.arange(3.0))),
    "isotonic u NaN": case("u", ValueError, lambda: jt.fit_isotonic(
        jnp.array([NAN, 1.0, 2.0]), jnp.arange(3.0))),
    "isotonic gain inf": case("gain", ValueError, lambda: jt.fit_isotonic(
        jnp.arange(3.0), jnp.array([0.0, INF, 1.0]))),
    "isotonic empty": case("pair", ValueError, lambda: jt.fit_isotonic(
        jnp.zeros(0), jnp.zeros(0))),
    "isotonic weights wrong shape": case("weights", ValueError, lambda: jt.fit_isotonic(
        jnp.arange(3.0), jnp.arange(3.0), jnp.ones(2))),
    "isotonic weights NaN": case("weights", ValueError, lambda: jt.fit_isotonic(
        jnp.arange(3.0), jnp.arange(3.0), jnp.array([1.0, NAN, 1.0]))),
    "platt gain > 1": case("gain", ValueError, lambda: jt.fit_platt(
        jnp.arange(3.0), jnp.array([0.0, 2.0, 1.0]))),
    "platt num_steps 0": case("num_steps", ValueError, lambda: jt.fit_platt(
        jnp.arange(3.0), jnp.array([0.0, 0.5, 1.0]), num_steps=0)),
    "platt num_steps a float": case("num_steps", ValueError, lambda: jt.fit_platt(
        jnp.arange(3.0), jnp.array([0.0, 0.5, 1.0]), num_steps=10.0)),
    # -- agents --------------------------------------------------------------------------
    "coin cost an array": case("cost", ValueError, lambda: jt.agents.coin(cost=[1.0, 2.0]),
                               "scalar"),
    "coin cost inf": case("cost", ValueError, lambda: jt.agents.coin(cost=INF)),
    "gap_test cost 0": case("cost", ValueError, lambda: jt.agents.gap_test(cost=0.0)),
    "gap_test model unknown": case("model", ValueError, lambda: jt.agents.gap_test("poisson")),
    "gap_test min_samples 1": case("min_samples", ValueError, lambda: jt.agents.gap_test(
        min_samples=1)),
    "sprt alpha 0": case("alpha", ValueError, lambda: jt.agents.sprt("bernoulli", 0.4, 0.6,
                                                                     alpha=0.0)),
    "sprt beta 1": case("beta", ValueError, lambda: jt.agents.sprt("bernoulli", 0.4, 0.6,
                                                                   beta=1.0)),
    "sprt theta0 == theta1": case("theta0", ValueError, lambda: jt.agents.sprt(
        "bernoulli", 0.5, 0.5)),
    "sprt theta1 NaN": case("theta1", ValueError, lambda: jt.agents.sprt(
        "bernoulli", 0.4, NAN)),
    "sprt cost < 0": case("cost", ValueError, lambda: jt.agents.sprt(
        "bernoulli", 0.4, 0.6, cost=-1.0)),
    "wald_thresholds alpha NaN": case("alpha", ValueError, lambda: jt.agents.wald_thresholds(
        NAN, 0.1)),
    "wald_oc theta NaN": case("theta", ValueError, lambda: jt.agents.wald_oc(
        NAN, "bernoulli", 0.4, 0.6)),
    "mcts num_simulations 0": case("num_simulations", ValueError, lambda: jt.agents.mcts(
        ENV, 0)),
    "mcts num_simulations a float": case("num_simulations", ValueError, lambda: jt.agents.mcts(
        ENV, 4.0)),
    "mcts env not an Environment": case("env", TypeError, lambda: jt.agents.mcts(3, 4)),
    "mcts exploration < 0": case("exploration", ValueError, lambda: jt.agents.mcts(
        ENV, 4, exploration=-1.0)),
    "exit_heads costs < 0": case("costs", ValueError, lambda: jt.agents.exit_heads(
        TABLE, costs=[1.0, -1.0, 1.0])),
    "exit_heads costs wrong length": case("costs", ValueError, lambda: jt.agents.exit_heads(
        TABLE, costs=[1.0, 1.0]), r"shape \(3,\)"),
    "exit_heads signal unknown": case("signal", ValueError, lambda: jt.agents.exit_heads(
        TABLE, signal="variance")),
    "exit_heads fuse unknown": case("fuse", ValueError, lambda: jt.agents.exit_heads(
        TABLE, fuse="max")),
    "logit_table no heads": case("num_heads", ValueError, lambda: jt.agents.logit_table(0, 3)),
    "logit_table one class": case("num_classes", ValueError, lambda: jt.agents.logit_table(
        2, 1)),
    "exit_heads_sweep u NaN": case("u", ValueError, lambda: jt.agents.exit_heads_sweep(
        U.at[0, 1].set(NAN), CORRECT, GRID), "NaN"),
    "exit_heads_sweep u 1-d": case("u", ValueError, lambda: jt.agents.exit_heads_sweep(
        U[0], CORRECT[0], GRID)),
    "exit_heads_sweep correct shape": case("correct", ValueError,
                                           lambda: jt.agents.exit_heads_sweep(
        U, CORRECT[:1], GRID)),
    "exit_heads_sweep prices 2-d": case("prices", ValueError, lambda: jt.agents.exit_heads_sweep(
        U, CORRECT, jnp.ones((2, 2)))),
    "exit_heads_sweep prices NaN": case("prices", ValueError, lambda: jt.agents.exit_heads_sweep(
        U, CORRECT, jnp.array([NAN]))),
    "exit_heads_sweep prices < 0": case("prices", ValueError, lambda: jt.agents.exit_heads_sweep(
        U, CORRECT, jnp.array([-1.0]))),
    "exit_heads_sweep costs wrong length": case("costs", ValueError,
                                                lambda: jt.agents.exit_heads_sweep(
        U, CORRECT, GRID, costs=[1.0])),
    "exit_heads_used u NaN": case("u", ValueError, lambda: jt.agents.exit_heads_used(
        U.at[1, 0].set(NAN), GRID)),
    "threshold_sweep logits NaN": case("logits", ValueError, lambda: jt.agents.threshold_sweep(
        jnp.zeros((2, 3, 4)).at[0, 0, 0].set(NAN), jnp.zeros(2, jnp.int32), GRID)),
    "threshold_sweep labels short": case("labels", ValueError, lambda: jt.agents.threshold_sweep(
        jnp.zeros((2, 3, 4)), jnp.zeros(1, jnp.int32), GRID)),
    "threshold_sweep thresholds above range": case("prices", ValueError,
                                                   lambda: jt.agents.threshold_sweep(
        jnp.zeros((2, 3, 4)), jnp.zeros(2, jnp.int32), jnp.array([5.0]))),
    "head_signals logits 2-d": case("logits", ValueError, lambda: jt.agents.head_signals(
        jnp.zeros((2, 3)))),
    "uncertainty_signal unknown": case("signal", ValueError, lambda: jt.agents.uncertainty_signal(
        jnp.zeros(3), "variance")),
    "sampler pool an int": case("pool", ValueError, lambda: jt.agents.sampler(3)),
    "sampler cost unknown": case("cost", ValueError, lambda: jt.agents.sampler(
        REPLAY, cost="dollars")),
    "sampler output unknown": case("output", ValueError, lambda: jt.agents.sampler(
        REPLAY, output="vote")),
    "output_correct output unknown": case("output", ValueError, lambda: jt.agents.output_correct(
        None, "vote")),
    # -- problems ------------------------------------------------------------------------
    "coin_problems n < 0": case("n", ValueError, lambda: jt.problems.coin_problems(
        jax.random.key(0), -1)),
    "coin_problems n 0": case("n", ValueError, lambda: jt.problems.coin_problems(
        jax.random.key(0), 0)),
    "coin_problems n a float": case("n", ValueError, lambda: jt.problems.coin_problems(
        jax.random.key(0), 2.5)),
    "coin_problems key an int": case("key", TypeError, lambda: jt.problems.coin_problems(0, 4)),
    "coin_problems keys a batch": case("key", ValueError, lambda: jt.problems.coin_problems(
        K, 4), "one key"),
    "coin_problems min_gap NaN": case("min_gap", ValueError, lambda: jt.problems.coin_problems(
        jax.random.key(0), 4, min_gap=NAN)),
    "bernoulli_pairs n < 0": case("n", ValueError, lambda: jt.problems.bernoulli_pairs(
        jax.random.key(0), -1)),
    "bernoulli_pairs low > high": case("low", ValueError, lambda: jt.problems.bernoulli_pairs(
        jax.random.key(0), 4, low=0.9, high=0.1)),
    "gaussian_pairs scale NaN": case("scale", ValueError, lambda: jt.problems.gaussian_pairs(
        jax.random.key(0), 4, scale=NAN)),
    "hypothesis_problems theta0 NaN": case("theta0", ValueError,
                                           lambda: jt.problems.hypothesis_problems(
        jax.random.key(0), 4, NAN, 0.6)),
    "hypothesis_problems p1 > 1": case("p1", ValueError, lambda: jt.problems.hypothesis_problems(
        jax.random.key(0), 4, 0.4, 0.6, p1=2.0)),
    "parameter_grid NaN": case("thetas", ValueError, lambda: jt.problems.parameter_grid(
        [0.4, NAN], 2)),
    "parameter_grid 2-d": case("thetas", ValueError, lambda: jt.problems.parameter_grid(
        [[0.4]], 2)),
    "query_pool no queries": case("num_queries", ValueError, lambda: jt.problems.query_pool(
        jax.random.key(0), 0)),
    "prm_oracle corruption NaN": case("corruption", ValueError, lambda: jt.problems.prm_oracle(
        NAN)),
    "prm_oracle noise < 0": case("noise", ValueError, lambda: jt.problems.prm_oracle(
        0.1, noise=-1.0)),
    "sample_responses n < 0": case("n", ValueError, lambda: jt.problems.sample_responses(
        QPOOL, -1)),
    "game_tree_env branching 0": case("branching", ValueError, lambda: jt.problems.game_tree_env(
        0, 2)),
    "game_tree_env depth 0": case("depth", ValueError, lambda: jt.problems.game_tree_env(2, 0)),
    "game_tree_problems n < 0": case("n", ValueError, lambda: jt.problems.game_tree_problems(
        jax.random.key(0), -1)),
    "synthetic_heads n 0": case("n", ValueError, lambda: jt.problems.synthetic_heads(
        jax.random.key(0), 0)),
    "mixture_task one class": case("num_classes", ValueError, lambda: jt.problems.mixture_task(
        jax.random.key(0), num_classes=1)),
    # -- LLM pools: the bandit, routing, the Lagrangian, the probe -----------------------
    "allocate empty replay pool": case("pool", ValueError, lambda: jt.alloc.allocate(
        EMPTY(REPLAY), 10), "empty pool"),
    "allocate empty query pool": case("pool", ValueError, lambda: jt.alloc.allocate(
        EMPTY(QPOOL), 10), "empty pool"),
    "allocate pool an int": case("pool", ValueError, lambda: jt.alloc.allocate(3, 10)),
    "allocate gamma inf": case("gamma", ValueError, lambda: jt.alloc.allocate(
        REPLAY, 10, gamma=INF)),
    "allocate gamma an array": case("gamma", ValueError, lambda: jt.alloc.allocate(
        REPLAY, 10, gamma=[1.0])),
    "allocate select_fraction 0": case("select_fraction", ValueError, lambda: jt.alloc.allocate(
        REPLAY, 10, select_fraction=0.0)),
    "allocate select_fraction 1.5": case("select_fraction", ValueError,
                                         lambda: jt.alloc.allocate(
        REPLAY, 10, select_fraction=np.float32(1.5))),
    "allocate exploration < 0": case("exploration", ValueError, lambda: jt.alloc.allocate(
        REPLAY, 10, exploration=-1.0)),
    "allocate exploration inf": case("exploration", ValueError, lambda: jt.alloc.allocate(
        REPLAY, 10, exploration=jnp.float32(INF))),
    "allocate budget a float": case("budget", ValueError, lambda: jt.alloc.allocate(
        REPLAY, 10.5)),
    "allocate budget < 0": case("budget", ValueError, lambda: jt.alloc.allocate(REPLAY, -1)),
    "allocate budget 2-d": case("budget", ValueError, lambda: jt.alloc.allocate(
        REPLAY, np.ones((2, 2), int))),
    "allocate k 0": case("k", ValueError, lambda: jt.alloc.allocate(REPLAY, 10, k=0)),
    "allocate rule unknown": case("rule", ValueError, lambda: jt.alloc.allocate(
        REPLAY, 10, rule="thompson")),
    "allocate cost unknown": case("cost", ValueError, lambda: jt.alloc.allocate(
        REPLAY, 10, cost="dollars")),
    "allocate max_samples 0": case("max_samples", ValueError, lambda: jt.alloc.allocate(
        REPLAY, 10, max_samples=0)),
    "route lam_t an array": case("lam_t", ValueError, lambda: jt.alloc.route(
        ACC, TOK, LAT, [1.0, 2.0], 0.0), "route_grid"),
    "route lam_l an array": case("lam_l", ValueError, lambda: jt.alloc.route(
        ACC, TOK, LAT, 0.0, jnp.ones(4)), "scalar"),
    "route lam_t NaN": case("lam_t", ValueError, lambda: jt.alloc.route(ACC, TOK, LAT, NAN, 0.0)),
    "route lam_l < 0": case("lam_l", ValueError, lambda: jt.alloc.route(
        ACC, TOK, LAT, 0.0, -1.0)),
    "route tokens wrong width": case("tokens", ValueError, lambda: jt.alloc.route(
        ACC, TOK[:2], LAT, 1.0, 0.0), "2 strategies, expected 3"),
    "route accuracies 1-d": case("accuracies", ValueError, lambda: jt.alloc.route(
        ACC[0], TOK, LAT, 1.0, 0.0)),
    "route latency NaN": case("latency", ValueError, lambda: jt.alloc.route(
        ACC, TOK, LAT.at[0].set(NAN), 1.0, 0.0)),
    "route_grid lam_t a scalar": case("lam_t", ValueError, lambda: jt.alloc.route_grid(
        ACC, TOK, LAT, 1.0, GRID, ACC, TOK, LAT), "1-d grid"),
    "route_grid lam_l empty": case("lam_l", ValueError, lambda: jt.alloc.route_grid(
        ACC, TOK, LAT, GRID, jnp.zeros(0), ACC, TOK, LAT)),
    "route_grid true_acc shape": case("true_acc", ValueError, lambda: jt.alloc.route_grid(
        ACC, TOK, LAT, GRID, GRID, ACC[:2], TOK, LAT)),
    "static_baselines NaN": case("accuracies", ValueError, lambda: jt.alloc.static_baselines(
        ACC.at[0, 0].set(NAN), TOK, LAT)),
    "make_strategies N < 1": case("best_of_n", ValueError, lambda: jt.alloc.make_strategies(
        best_of_n=(-1,))),
    "query_features noise NaN": case("noise", ValueError, lambda: jt.alloc.query_features(
        jax.random.key(0), QPOOL, noise=NAN)),
    "oracle_actions price an array": case("price", ValueError,
                                          lambda: jt.alloc.lagrangian.oracle_actions(
        ACC, LEVEL_COST, [1.0, 2.0]), "scalar"),
    "oracle_actions price < 0": case("price", ValueError,
                                     lambda: jt.alloc.lagrangian.oracle_actions(
        ACC, LEVEL_COST, -1.0)),
    "oracle_actions cost decreasing": case("cost", ValueError,
                                           lambda: jt.alloc.lagrangian.oracle_actions(
        ACC, LEVEL_COST[::-1], 1.0), "non-decreasing"),
    "lagrangian allocate target NaN": case("target", ValueError,
                                           lambda: jt.alloc.lagrangian.allocate(
        ACC, LEVEL_COST, NAN)),
    "lagrangian allocate target outside": case("target", ValueError,
                                               lambda: jt.alloc.lagrangian.allocate(
        ACC, LEVEL_COST, 100.0)),
    "lagrangian acc NaN": case("acc", ValueError, lambda: jt.alloc.lagrangian.allocate(
        ACC.at[0, 0].set(NAN), LEVEL_COST, 2.0)),
    "probe ece shapes differ": case("outcome", ValueError, lambda: jt.alloc.probe.ece(
        jnp.full(3, 0.5), jnp.ones(4)), "same shape"),
    "probe ece num_bins 0": case("num_bins", ValueError, lambda: jt.alloc.probe.ece(
        jnp.full(3, 0.5), jnp.ones(3), num_bins=0)),
    "probe ece pred > 1": case("pred", ValueError, lambda: jt.alloc.probe.ece(
        jnp.full(3, 2.0), jnp.ones(3)), r"\[0, 1\]"),
    "probe brier shapes differ": case("pred", ValueError, lambda: jt.alloc.probe.brier(
        jnp.full(3, 0.5), jnp.ones(4))),
    "probe brier empty": case("pred", ValueError, lambda: jt.alloc.probe.brier(
        jnp.zeros(0), jnp.zeros(0))),
    "probe soft_labels reps 0": case("reps", ValueError, lambda: jt.alloc.probe.soft_labels(
        jax.random.key(0), ACC, 0)),
    "mlp init one size": case("sizes", ValueError, lambda: jt.alloc.mlp.init(
        jax.random.key(0), [3])),
    "mlp init size 0": case("sizes", ValueError, lambda: jt.alloc.mlp.init(
        jax.random.key(0), [3, 0, 1])),
    "mlp fit steps 0": case("steps", ValueError, lambda: jt.alloc.mlp.fit(
        lambda p, r: 0.0, [], steps=0, num_rows=1)),
    # -- the soft rule and tune_price ----------------------------------------------------
    "tune mu NaN": case("mu", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, mu=NAN, correct=RIGHT), "NaN"),
    "tune mu an array": case("mu", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, mu=[1.0], correct=RIGHT), "scalar"),
    "tune mu < 0": case("mu", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, mu=-1.0, correct=RIGHT)),
    "tune 0 episodes": case("episode", ValueError, lambda: jt.soft.tune_price(
        jax.tree_util.tree_map(lambda x: x[:0], TRACES), tau=1.0, target=1.0),
        "traces must hold at least one episode"),
    "tune traces without a batch axis": case("traces", ValueError, lambda: jt.soft.tune_price(
        ONE_TRACE, tau=1.0, target=1.0), "vmap trace"),
    "tune traces not a Trace": case("traces", ValueError, lambda: jt.soft.tune_price(
        {"cost": RIGHT}, tau=1.0, target=1.0)),
    "tune num_steps 0": case("num_steps", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, target=1.0, num_steps=0)),
    "tune num_steps < 0": case("num_steps", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, target=1.0, num_steps=-1)),
    "tune penalty < 0": case("penalty", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, target=1.0, correct=RIGHT, penalty=-1.0)),
    "tune target NaN": case("target", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, target=NAN)),
    "tune target an array": case("target", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, target=[1.0, 2.0])),
    "tune target unreachable": case("target", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, target=100.0), "not reachable"),
    "tune tau 0": case("tau", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=0.0, target=1.0)),
    "tune tau an empty list": case("tau", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=[], target=1.0)),
    "tune target and mu": case("target", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, target=1.0, mu=1.0, correct=RIGHT), "exactly one"),
    "tune mu without correct": case("correct", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, mu=1.0)),
    "tune correct wrong shape": case("correct", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, target=1.0, correct=RIGHT[:, :2])),
    "tune price 0": case("price", ValueError, lambda: jt.soft.tune_price(
        TRACES, tau=1.0, target=1.0, price=0.0)),
    "trace max_ticks < 0": case("max_ticks", ValueError, lambda: jt.soft.trace(
        COIN, P[0], K[0], max_ticks=-1)),
    "stop_probabilities tau 0": case("tau", ValueError, lambda: jt.soft.stop_probabilities(
        ONE_TRACE, 1.0, tau=0.0)),
    "stop_probabilities price NaN": case("price", ValueError,
                                         lambda: jt.soft.stop_probabilities(
        ONE_TRACE, NAN, tau=1.0)),
    # -- loaders: untrusted files ---------------------------------------------------------
    "jsonl tokens overflow": case("tokens", ValueError, lambda: jt.problems.load_jsonl(_file(
        "o1.jsonl", _jsonl().replace("[10, 20]", f"[10, {_BIG}]"))),
        r"^line 1: field 'tokens'\[1\] is an integer too large for a float$"),
    "jsonl reward overflow": case("reward", ValueError, lambda: jt.problems.load_jsonl(_file(
        "o2.jsonl", _jsonl().replace("[0.9, 0.1]", f"[{_BIG}, 0.1]"))), "line 1"),
    "jsonl reward NaN": case("reward", ValueError, lambda: jt.problems.load_jsonl(_file(
        "o3.jsonl", _jsonl().replace("[0.9, 0.1]", "[NaN, 0.1]"))), "line 1"),
    "jsonl lengths differ": case("reward", ValueError, lambda: jt.problems.load_jsonl(_file(
        "o4.jsonl", _jsonl(reward=[0.9]))), "line 1"),
    "jsonl missing field": case("correct", ValueError, lambda: jt.problems.load_jsonl(_file(
        "o5.jsonl", json.dumps({"reward": [1.0]}) + "\n")), "line 1"),
    "jsonl unknown field": case("extra", ValueError, lambda: jt.problems.load_jsonl(_file(
        "o6.jsonl", _jsonl(extra=1))), "unknown field"),
    "jsonl not JSON": case("line 2", ValueError, lambda: jt.problems.load_jsonl(_file(
        "o7.jsonl", _jsonl() + "{not json\n"))),
    "jsonl only empty lists": case("samples", ValueError, lambda: jt.problems.load_jsonl(_file(
        "o8.jsonl", _jsonl(correct=[], reward=[], answer=[], tokens=[]))), "no samples"),
    "jsonl line over the cap": case("max_line_bytes", ValueError, lambda: jt.problems.load_jsonl(
        _file("o9.jsonl", _jsonl()), max_line_bytes=10)),
    "npz random bytes": case("npz", ValueError, lambda: jt.problems.load_npz(_file(
        "r.npz", data=bytes(range(256)) * 4))),
    "npz member over the cap": case("max_member_bytes", ValueError, lambda: jt.problems.load_npz(
        jt.problems.save_npz(TMP / "g.npz", jt.problems.example_log()), max_member_bytes=64),
        "uncompressed"),
    "replay_pool not a log": case("SampleLog", ValueError, lambda: jt.problems.replay_pool(3)),
}


@pytest.mark.parametrize("name", list(SWEEP))
def test_sweep_bad_input_names_the_argument(name):
  arg, exc, call, match = SWEEP[name]
  with pytest.raises(exc) as info:
    call()
  msg = str(info.value)
  assert type(info.value) is exc or issubclass(type(info.value), exc)
  assert arg in msg, f"the message does not name {arg!r}: {msg}"
  assert "\n" not in msg.strip(), f"not one line: {msg}"
  if match is not None:
    assert re.search(match, msg), f"{match!r} not in: {msg}"


def test_the_sweep_covers_every_class_of_the_issue():
  assert len(SWEEP) >= 150
  keys = " ".join(SWEEP)
  for word in ("short keys", "raw keys", "NaN", "an array", "< 0", "empty", "not callable",
               "uncertainty", "overflow", "tune mu", "route lam_t", "allocate select_fraction",
               "max_ticks 2**", "cost", "weights"):
    assert word in keys, word


# -- NaN produced inside a run: counted in the result, never a silent stop ---------------


def _nan_after(t):
  """The coin, but its uncertainty turns NaN once it has flipped ``t`` times."""
  return COIN._replace(uncertainty=jax.tree_util.Partial(_nan_uncertainty, t))


def _nan_uncertainty(t, s):
  return jnp.where(s.flips >= t, jnp.nan, 1.0)


def test_nan_signal_is_counted_by_every_runner():
  bad, prices = _nan_after(2), jnp.array([0.5, 0.25, 2.0])
  res = jt.run_price_batch(bad, P, K, 0.5, max_ticks=8)
  assert np.asarray(res.nan).all() and (np.asarray(res.ticks) == 2).all()
  one = jt.run_price(bad, P[0], K[0], 0.5, max_ticks=8)
  assert bool(one.nan) and int(one.ticks) == 2
  # price 2.0 stops every episode at 0 ticks on a finite surplus (1 - 2 < 0): no NaN
  for method in ("trace", "stream", "batch"):
    fr = jt.front(bad, P, K, prices, max_ticks=8, method=method)
    np.testing.assert_array_equal(fr.nan, [8, 8, 0], err_msg=method)
  sharded = jt.front_sharded(bad, P, K, prices, max_ticks=8, method="stream")
  np.testing.assert_array_equal(sharded.nan, [8, 8, 0])
  pool = jt.run_budget(bad, P[:4], K[:4], 100.0, max_ticks=8)
  assert np.asarray(pool.nan).all() and (np.asarray(pool.ticks) == 2).all()


def test_nan_during_min_ticks_is_counted_where_the_rule_stops():
  res = jt.run_price_batch(_nan_after(1), P, K, 0.5, max_ticks=8, min_ticks=3)
  assert np.asarray(res.nan).all() and (np.asarray(res.ticks) == 3).all()
  # the cap: an episode still NaN at max_ticks is counted too
  res = jt.run_price_batch(_nan_after(0), P, K, 0.5, max_ticks=3, min_ticks=3)
  assert np.asarray(res.nan).all()


def test_finite_signals_count_no_nan_and_results_are_unchanged():
  res = jt.run_price_batch(COIN, P, K, 0.5, max_ticks=16)
  assert not np.asarray(res.nan).any()
  fr = jt.front(COIN, P, K, jnp.array([0.5, 0.25, 0.0]), max_ticks=16, score=LABELS)
  assert (np.asarray(fr.nan) == 0).all()
  np.testing.assert_array_equal(fr.total_ticks[0], np.asarray(res.ticks).sum())


def test_a_nan_coin_bias_is_refused_concrete_and_counted_traced():
  with pytest.raises(ValueError, match=r"problems must not hold NaN"):
    jt.run_price_batch(COIN, P_NAN, K, 0.5, max_ticks=8)
  res = jax.jit(lambda p: jt.run_price_batch(COIN, p, K, 0.5, max_ticks=8, min_ticks=1))(P_NAN)
  np.testing.assert_array_equal(res.nan, np.arange(8) == 3)
  assert int(res.ticks[3]) == 1  # min_ticks, then the NaN signal stops it


def test_exit_heads_sweep_counts_a_traced_nan_signal_as_the_agent_does():
  u = jnp.array([[0.5, NAN, 0.1], [0.9, 0.2, 0.0], [NAN, 0.1, 0.0]])
  prices = jnp.array([0.6, 0.0, 1.0, 0.3])  # unsorted on purpose
  sw = jax.jit(jt.agents.exit_heads_sweep)(u, jnp.ones((3, 3), bool), prices)
  # row 0 reaches its NaN below price 0.5, row 2 stops on its first signal at any price
  np.testing.assert_array_equal(sw.nan, [1, 2, 1, 2])
  # the same count as the agent run by front on the logit table that gives these signals
  fin = jt.agents.exit_heads_sweep(jnp.nan_to_num(u, nan=0.7), jnp.ones((3, 3), bool), prices)
  assert (np.asarray(fin.nan) == 0).all()


def test_subgradient_says_when_the_target_is_out_of_reach():
  f = jt.price_cost(COIN, P, K, max_ticks=16, min_ticks=2)
  below = jt.subgradient_price(f, 1.0, step_size=0.5, num_steps=6)  # >= 2 flips each
  assert not bool(below.reached) and (np.asarray(below.costs) > 1.0).all()
  ok = jt.subgradient_price(f, 6.0, step_size=0.5, num_steps=6)
  assert bool(ok.reached) and (np.asarray(ok.costs) <= 6.0).any()
  none = jt.subgradient_price(f, 6.0, step_size=0.5, num_steps=0)
  assert not bool(none.reached)  # no price tried


# -- valid edge cases that must still work ------------------------------------------------


@pytest.mark.parametrize("price", [np.float32(0.5), jnp.float32(0.5), np.float64(0.5), 0.5,
                                   np.int64(0), INF, -0.0])
def test_numpy_jax_scalars_and_inf_prices_are_accepted(price):
  a = jt.run_price_batch(COIN, P, K, price, max_ticks=4)
  b = jt.run_price_batch(COIN, P, K, float(price), max_ticks=4)
  np.testing.assert_array_equal(a.ticks, b.ticks)
  one = jt.run_price(COIN, P[0], K[0], price, max_ticks=4)
  assert int(one.ticks) == int(a.ticks[0])
  if price == INF:
    assert (np.asarray(a.ticks) == 0).all()


def test_raw_uint32_keys_and_numpy_ints_are_accepted():
  a = jt.run_price_batch(COIN, P, KR, 0.5, max_ticks=np.int64(4), min_ticks=np.int32(1))
  b = jt.run_price_batch(COIN, P, jax.random.wrap_key_data(KR), 0.5, max_ticks=4, min_ticks=1)
  np.testing.assert_array_equal(a.ticks, b.ticks)
  assert int(jt.run_price(COIN, np.asarray(P)[0], KR[0], 0.5, max_ticks=4).ticks) >= 0


def test_budget_zero_and_unsorted_grids_work():
  res = jt.run_budget(COIN, P[:4], K[:4], 0.0, max_ticks=4)
  assert float(res.spent) == 0 and (np.asarray(res.ticks) == 0).all()
  grid = jnp.array([1.0, 0.0, INF, 0.5])
  fr = jt.front(COIN, P, K, grid, max_ticks=4, score=LABELS)
  fs = jt.front(COIN, P, K, jnp.sort(grid), max_ticks=4, score=LABELS)
  order = np.argsort(np.asarray(grid))
  np.testing.assert_array_equal(np.asarray(fr.total_ticks)[order], fs.total_ticks)
  assert int(fr.total_ticks[2]) == 0  # price inf: no tick
  sw = jt.agents.exit_heads_sweep(U, CORRECT, jnp.array([0.6, 0.0, 0.3]))
  ss = jt.agents.exit_heads_sweep(U, CORRECT, jnp.array([0.0, 0.3, 0.6]))
  np.testing.assert_array_equal(np.asarray(sw.total_heads)[[1, 2, 0]], ss.total_heads)


def test_numpy_scalars_elsewhere():
  np.testing.assert_array_equal(jt.alloc.route(ACC, TOK, LAT, np.float32(0.1), jnp.float32(0.0)),
                                jt.alloc.route(ACC, TOK, LAT, 0.1, 0.0))
  assert float(jt.stats.wilson_interval(np.int64(3), np.int32(10), z=np.float32(1.96)).lo) > 0
  assert bool(jt.bisect_price(F, np.float32(2.0), np.float64(0.0), jnp.float32(2.0)).reached)
  assert int(jt.stats.mcnemar_counts(np.int64(2), np.float32(3.0)).n) == 5
  assert jt.alloc.allocate(REPLAY, np.int64(50), select_fraction=np.float32(0.5),
                           exploration=jnp.float32(0.5), rule="ucb").samples.shape[0] > 0
