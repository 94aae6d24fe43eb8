"""Bad inputs get a clear error that names the argument; valid edge cases still work.

Table-driven: each case is (call, exception type, a phrase the message must hold).
"""

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
    "run_price given a batch": (lambda: jt.run_price(COIN, P, K, 1.0, max_ticks=4), TypeError,
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
