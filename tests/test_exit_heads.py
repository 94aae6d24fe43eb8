"""Tests of the exit-heads agent, its sweeps, the head generator and the multi-exit MLP."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtick as jt
from jaxtick.models import multi_exit

A = jt.agents


def _np_entropy(logits):
  z = logits - logits.max(-1, keepdims=True)
  p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
  return -(p * np.log(np.where(p > 0, p, 1.0))).sum(-1)


def _np_one_minus_margin(logits):
  z = logits - logits.max(-1, keepdims=True)
  e = np.exp(z)
  p = e / e.sum(-1, keepdims=True)
  s = np.sort(p, -1)
  # 1 - p1 computed from the other classes, as exact math says it is.
  return np.sort(e, -1)[..., :-1].sum(-1) / e.sum(-1) + s[..., -2]


def _random_logits(rng, n=64, k=3, c=10, scale=3.0):
  return (scale * rng.standard_normal((n, k, c))).astype(np.float32)


def test_signals_match_numpy_reference():
  rng = np.random.default_rng(0)
  logits = np.concatenate([_random_logits(rng, 50, 1, 10, 3.0)[:, 0],
                           _random_logits(rng, 50, 1, 10, 12.0)[:, 0]])  # incl. near one-hot
  with jax.enable_x64(True):
    x = jnp.asarray(logits, jnp.float64)
    ent = np.asarray(A.uncertainty_signal(x, "entropy"))
    mar = np.asarray(A.uncertainty_signal(x, "margin"))
  np.testing.assert_allclose(ent, _np_entropy(logits.astype(np.float64)), rtol=1e-10, atol=1e-14)
  np.testing.assert_allclose(mar, _np_one_minus_margin(logits.astype(np.float64)),
                             rtol=1e-10, atol=1e-14)
  # float32: keeps relative precision for confident heads (no rounding to 0).
  conf = np.zeros((1, 10), np.float32)
  conf[0, 3] = 25.0
  u = float(A.uncertainty_signal(jnp.asarray(conf), "margin")[0])
  np.testing.assert_allclose(u, 10 * math.exp(-25.0), rtol=1e-5)
  # ranges: uniform logits give the maxima.
  uni = jnp.zeros((1, 10))
  np.testing.assert_allclose(float(A.uncertainty_signal(uni, "entropy")[0]), math.log(10), rtol=1e-6)
  assert float(A.uncertainty_signal(uni, "margin")[0]) == pytest.approx(1.0)


def _run_agent_batch(agent, problems, prices, max_ticks):
  n = problems.shape[0]
  keys = jax.random.split(jax.random.key(0), n)
  fr = jt.front(agent, problems, keys, prices, max_ticks=max_ticks, episodes=True,
                method="batch")
  return fr.ticks, fr.output, fr.cost


def _numpy_sweep(u, pred, labels, prices, costs):
  """Brute force: walk every instance head by head at every price."""
  n, k = u.shape
  used = np.zeros((len(prices), n), int)
  correct = np.zeros(len(prices), int)
  cost = np.zeros(len(prices))
  for a, lam in enumerate(prices):
    for i in range(n):
      h = 1
      while h < k and u[i, h - 1] - lam * costs[h] > 0:
        h += 1
      used[a, i] = h
      correct[a] += pred[i, h - 1] == labels[i]
      cost[a] += costs[:h].sum()
  return used, correct, cost / n


@pytest.mark.parametrize("signal,fuse", [("entropy", "last"), ("margin", "last"),
                                         ("entropy", "mean")])
def test_sweep_equals_agent_and_numpy_loop(signal, fuse):
  h = jt.problems.synthetic_heads(jax.random.key(1), 150, temperature=0.5)
  logits, labels = h.logits, np.asarray(h.labels)
  rng = np.random.default_rng(2)
  prices = rng.uniform(0, A.signal_max(signal, 10), 7).astype(np.float32)
  agent = A.exit_heads(A.logit_table(3, 10), signal=signal, fuse=fuse)
  ticks, outs, _ = _run_agent_batch(agent, logits, jnp.asarray(prices), 3)
  hs = A.head_signals(logits, signal=signal, fuse=fuse)
  chex.assert_shape(hs.u, (150, 3))
  used = A.exit_heads_used(hs.u, jnp.asarray(prices))
  chex.assert_shape(used, (7, 150))
  np.testing.assert_array_equal(np.asarray(ticks), np.asarray(used))  # element for element
  pred = np.take_along_axis(np.asarray(hs.pred)[None].repeat(7, 0),
                            np.asarray(used)[..., None] - 1, -1)[..., 0]
  np.testing.assert_array_equal(np.asarray(outs), pred)
  # The aggregate sweep equals an independent brute-force loop.
  b_used, b_correct, b_cost = _numpy_sweep(np.asarray(hs.u), np.asarray(hs.pred), labels,
                                           prices, np.ones(3))
  np.testing.assert_array_equal(np.asarray(used), b_used)
  sw = A.threshold_sweep(logits, labels, jnp.asarray(prices), signal=signal, fuse=fuse)
  np.testing.assert_array_equal(np.asarray(sw.correct), b_correct)
  np.testing.assert_array_equal(np.asarray(sw.total_heads), b_used.sum(1))
  np.testing.assert_allclose(np.asarray(sw.cost), b_cost, rtol=1e-6)


def test_sweep_with_unequal_costs_matches_brute_force():
  h = jt.problems.synthetic_heads(jax.random.key(3), 120, temperature=0.5)
  costs = np.array([1.0, 2.0, 0.5])
  prices = np.random.default_rng(4).uniform(0, 2.0, 9).astype(np.float32)
  hs = A.head_signals(h.logits)
  correct = hs.pred == h.labels[:, None]
  sw = A.sweep(hs.u, correct, jnp.asarray(prices), costs)
  b_used, b_correct, b_cost = _numpy_sweep(np.asarray(hs.u), np.asarray(hs.pred),
                                           np.asarray(h.labels), prices, costs)
  np.testing.assert_array_equal(np.asarray(A.exit_heads_used(hs.u, jnp.asarray(prices), costs)),
                                b_used)
  np.testing.assert_array_equal(np.asarray(sw.correct), b_correct)
  np.testing.assert_allclose(np.asarray(sw.cost), b_cost, rtol=1e-5)
  agent = A.exit_heads(A.logit_table(3, 10), costs=costs)
  _, _, spent = _run_agent_batch(agent, h.logits, jnp.asarray(prices), 3)
  np.testing.assert_allclose(np.asarray(spent).mean(1), b_cost, rtol=1e-5)


@pytest.mark.parametrize("signal", ["entropy", "margin"])
def test_extreme_thresholds_give_shallow_and_full_depth(signal):
  h = jt.problems.synthetic_heads(jax.random.key(5), 400, temperature=0.5)
  labels = np.asarray(h.labels)
  head_correct = (np.asarray(h.logits).argmax(-1) == labels[:, None]).sum(0)
  top = A.signal_max(signal, 10)
  sw = A.threshold_sweep(h.logits, h.labels, jnp.asarray([0.0, top], jnp.float32), signal=signal)
  assert int(sw.correct[1]) == head_correct[0]  # shallow only
  assert int(sw.correct[0]) == head_correct[2]  # full depth
  np.testing.assert_array_equal(np.asarray(sw.total_heads), [3 * 400, 400])


def test_mlp_agent_ticks_equal_forward_pass():
  for in_dim, hidden in ((12, 8), (5, 16)):  # input wider / narrower than the blocks
    params = multi_exit.init_params(jax.random.key(in_dim), in_dim, hidden, 4, 3)
    params = params._replace(b=jax.random.normal(jax.random.key(9), params.b.shape),
                             c=jax.random.normal(jax.random.key(8), params.c.shape))
    x = jax.random.normal(jax.random.key(7), (6, in_dim))
    direct = np.asarray(multi_exit.forward(params, x))
    chex.assert_shape(direct, (6, 3, 4))
    # Independent NumPy forward pass on the unpadded weights.
    w, b, v, c = (np.asarray(a, np.float64) for a in params)
    feats = np.asarray(x, np.float64)
    for k in range(3):
      hk = np.maximum(feats @ w[k][:feats.shape[1]] + b[k], 0.0)
      np.testing.assert_allclose(direct[:, k], hk @ v[k] + c[k], rtol=1e-4, atol=1e-5)
      feats = hk
    agent = A.exit_heads(A.mlp_source(params), fuse="last")
    state = jax.vmap(agent.init)(x, jax.random.split(jax.random.key(0), 6))
    tick = jax.jit(jax.vmap(agent.tick))
    for k in range(3):
      state = tick(state, jax.random.split(jax.random.key(k), 6))
      np.testing.assert_allclose(np.asarray(state.logits), direct[:, k], rtol=1e-5, atol=1e-6)
      np.testing.assert_array_equal(np.asarray(state.heads), k + 1)
    # Exhausted: further ticks change nothing and the uncertainty is 0.
    again = tick(state, jax.random.split(jax.random.key(5), 6))
    chex.assert_trees_all_equal(again, state)
    np.testing.assert_array_equal(np.asarray(jax.vmap(agent.uncertainty)(state)), 0.0)


def test_agent_before_first_tick_and_mean_fusion():
  logits = jnp.asarray([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
  agent = A.exit_heads(A.logit_table(2, 3), fuse="mean", costs=[1.0, 2.5])
  s = agent.init(logits, jax.random.key(0))
  assert float(agent.uncertainty(s)) == math.inf
  assert float(agent.cost(s)) == 1.0
  s = agent.tick(s, jax.random.key(1))
  assert float(agent.cost(s)) == 2.5
  s = agent.tick(s, jax.random.key(2))
  p = (np.exp([2, 0, 0]) / np.exp([2, 0, 0]).sum() + np.exp([0, 3, 0]) / np.exp([0, 3, 0]).sum()) / 2
  assert int(agent.output(s)) == int(np.argmax(p)) == 1


def test_budget_rule_refines_the_most_uncertain():
  """Equal costs, budget = pool + r: everyone gets the shallow head, then the r
  largest shallow entropies get deepA (greedy on the identity-calibrated signal)."""
  h = jt.problems.synthetic_heads(jax.random.key(6), 30, temperature=0.5)
  agent = A.exit_heads(A.logit_table(3, 10))
  r = 7
  res = jt.run_budget(agent, h.logits, jax.random.split(jax.random.key(0), 30), 30.0 + r,
                      0.0, max_ticks=2)
  u1 = np.asarray(A.head_signals(h.logits).u)[:, 0]
  expect = np.ones(30, int)
  expect[np.argsort(-u1)[:r]] = 2
  np.testing.assert_array_equal(np.asarray(res.ticks), expect)
  assert float(res.spent) == 30 + r


def _expected_head_accuracy(margin_mean, margin_sd, c):
  """E[e^m / (e^m + C - 1)], m ~ N(mean, sd^2), by Gauss-Hermite quadrature."""
  x, w = np.polynomial.hermite_e.hermegauss(80)
  m = margin_mean + margin_sd * x
  return float(np.sum(w / np.sqrt(2 * np.pi) / (1 + (c - 1) * np.exp(-m))))


def test_synthetic_heads_match_theory():
  n, c = 40000, 10
  h = jt.problems.synthetic_heads(jax.random.key(11), n, num_classes=c)
  chex.assert_shape(h.logits, (n, 3, c))
  acc = (np.asarray(h.logits).argmax(-1) == np.asarray(h.labels)[:, None]).mean(0)
  sd = math.sqrt(1.5 ** 2 + 1.0 ** 2)
  for k, a in enumerate(jt.problems.heads.DEFAULT_MARGINS):
    theory = _expected_head_accuracy(a, sd, c)
    se = math.sqrt(theory * (1 - theory) / n)
    assert abs(acc[k] - theory) < 4 * se, (k, acc[k], theory)
    assert 0.94 < theory < 0.98
  # Errors concentrate on low-ease instances.
  wrong = np.asarray(h.logits)[:, 0].argmax(-1) != np.asarray(h.labels)
  assert np.asarray(h.ease)[wrong].mean() < np.asarray(h.ease)[~wrong].mean() - 0.5


def test_mixture_difficulty_and_posterior():
  def bayes_acc(sep):
    task = jt.problems.mixture_task(jax.random.key(0), num_classes=4, dim=3, components=2,
                                    separation=sep)
    x, y = jt.problems.sample_mixture(jax.random.key(1), task, 4000)
    lp = np.asarray(jt.problems.log_posterior(task, x))
    # Independent NumPy posterior.
    mu = np.asarray(task.means, np.float64)
    d2 = ((np.asarray(x, np.float64)[:, None, None] - mu) ** 2).sum(-1)
    lik = np.exp(-0.5 * d2).sum(-1)
    np.testing.assert_allclose(np.exp(lp), lik / lik.sum(-1, keepdims=True), atol=1e-4)
    return (lp.argmax(-1) == np.asarray(y)).mean()
  accs = [bayes_acc(s) for s in (0.3, 1.0, 3.0)]
  assert accs[0] < accs[1] < accs[2]
  assert accs[0] < 0.5 and accs[2] > 0.9


def test_training_is_deterministic_and_learns():
  task = jt.problems.mixture_task(jax.random.key(0), num_classes=3, dim=4, components=1,
                                  separation=3.0)
  x, y = jt.problems.sample_mixture(jax.random.key(1), task, 300)
  r1 = multi_exit.train(jax.random.key(2), x, y, hidden=16, steps=30)
  r2 = multi_exit.train(jax.random.key(2), x, y, hidden=16, steps=30)
  chex.assert_trees_all_equal(r1, r2)
  assert float(r1.losses[-1]) < 0.5 * float(r1.losses[0])
  # Padded rows of block 0 (input 4 < hidden 16) stay exactly zero.
  np.testing.assert_array_equal(np.asarray(r1.params.w[0, 4:]), 0.0)


def test_bad_input_raises():
  rng = np.random.default_rng(0)
  good = _random_logits(rng, 10, 3, 5)
  labels = np.zeros(10, np.int32)
  bad = good.copy()
  bad[2, 1, 3] = np.nan
  with pytest.raises(ValueError, match="logits must be finite"):
    A.threshold_sweep(bad, labels, np.array([0.5]))
  with pytest.raises(ValueError, match="at least one head"):
    A.head_signals(np.zeros((10, 0, 5), np.float32))
  with pytest.raises(ValueError, match="num_heads"):
    A.logit_table(0, 5)
  with pytest.raises(ValueError, match="labels must have shape"):
    A.threshold_sweep(good, labels[:9], np.array([0.5]))
  with pytest.raises(ValueError, match="signal's range"):
    A.threshold_sweep(good, labels, np.array([0.5, 1.2]), signal="margin")
  with pytest.raises(ValueError, match="signal's range"):
    A.threshold_sweep(good, labels, np.array([-0.1]))
  with pytest.raises(ValueError, match="signal's range"):
    A.threshold_sweep(good, labels, np.array([math.log(5) + 0.01]))
  with pytest.raises(ValueError, match="signal must be one of"):
    A.exit_heads(A.logit_table(3, 5), signal="variance")
  with pytest.raises(ValueError, match="fuse must be one of"):
    A.exit_heads(A.logit_table(3, 5), fuse="max")
  with pytest.raises(ValueError, match="costs must have shape"):
    A.exit_heads(A.logit_table(3, 5), costs=[1.0, 1.0])
  with pytest.raises(ValueError, match="costs must be finite and > 0"):
    A.exit_heads(A.logit_table(3, 5), costs=[1.0, 0.0, 1.0])
  with pytest.raises(ValueError, match="problem must be logits of shape"):
    A.exit_heads(A.logit_table(3, 5)).init(jnp.zeros((2, 5)), jax.random.key(0))
  with pytest.raises(ValueError, match="correct must have the shape"):
    A.sweep(jnp.zeros((4, 3)), jnp.zeros((4, 2), bool), jnp.asarray([0.1]))
  with pytest.raises(ValueError, match="margins"):
    jt.problems.synthetic_heads(jax.random.key(0), 10, margins=())
  with pytest.raises(ValueError, match="test_size"):
    jt.problems.load_digits(test_size=0)
