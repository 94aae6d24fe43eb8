"""The one optax fit loop (jaxtick.models.mlp.fit) against hand-written optax loops."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.tree_util import Partial

from jaxtick.alloc import lagrangian as lg
from jaxtick.models import mlp, multi_exit


def _reference(loss, params, opt, steps):
  """A plain Python loop of optax steps, each step compiled: (params, losses)."""

  @jax.jit  # one program for the step (op by op it compiled ~100 small programs)
  def step(params, state):
    value, grad = jax.value_and_grad(loss)(params)
    updates, state = opt.update(grad, state, params)
    return optax.apply_updates(params, updates), state, value

  state, losses = opt.init(params), []
  for _ in range(steps):
    params, state, value = step(params, state)
    losses.append(float(value))
  return params, np.asarray(losses)


def test_multi_exit_trains_as_a_hand_written_adamw_loop():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(64, 5)).astype(np.float32)
  y = rng.integers(0, 3, 64)
  key = jax.random.key(3)
  res = multi_exit.train(key, x, y, num_classes=3, hidden=8, steps=15, learning_rate=1e-2,
                         weight_decay=0.05)
  p0 = multi_exit.init_params(key, 5, 8, 3, 3)
  ref, losses = _reference(lambda p: multi_exit.loss(p, jnp.asarray(x), jnp.asarray(y)), p0,
                           optax.adamw(1e-2, weight_decay=0.05), 15)
  np.testing.assert_allclose(np.asarray(res.losses), losses, rtol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(res.params), jax.tree_util.tree_leaves(ref)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_imitation_trains_as_a_hand_written_adam_loop():
  rng = np.random.default_rng(1)
  xs = jnp.asarray(rng.normal(size=(50, 3)).astype(np.float32))
  ys = jnp.asarray(rng.integers(0, 4, 50))
  p0 = mlp.init(jax.random.key(0), (3, 8, 4))
  got, got_losses = mlp.fit(Partial(lg._imitation_loss, xs, ys, 1e-3), p0, steps=12,
                            num_rows=50, learning_rate=3e-3)
  ref, losses = _reference(lambda p: lg._imitation_loss(xs, ys, 1e-3, p, jnp.arange(50)), p0,
                           optax.adam(3e-3), 12)
  np.testing.assert_allclose(np.asarray(got_losses), losses, rtol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(ref)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
