"""Newton's method on a residual (the tuner's default for a budget), on known roots."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxtick import newton


def _solve(r, x0, opt, num_steps):
  """Applies ``opt`` as tune_price does; returns the iterates."""
  x = jnp.asarray(x0, jnp.float32)
  state = opt.init(x)
  xs = [x]
  for _ in range(num_steps):
    upd, state = opt.update(None, state, x, residual=r(x), jacobian=jax.jacfwd(r)(x))
    x = optax.apply_updates(x, upd)
    xs.append(x)
  return xs


def test_a_linear_residual_takes_one_step():
  xs = _solve(lambda x: 3.0 * x - 1.5, 4.0, newton(max_step=10.0), 1)
  assert float(xs[1]) == pytest.approx(0.5, rel=1e-6)
  xs = _solve(lambda x: 3.0 * x - 1.5, 4.0, newton(max_step=1.0), 1)
  assert float(xs[1]) == pytest.approx(3.0, rel=1e-6)  # clipped to max_step


def test_one_price_bracket_stops_newton_from_diverging():
  # Plain Newton on arctan(x - 1) diverges from |x - 1| > 1.39 (x = 2.5 -> -0.69 -> 3.3 -> ...).
  xs = _solve(lambda x: jnp.arctan(x - 1.0), 2.5, newton(max_step=10.0), 30)
  assert abs(float(xs[-1]) - 1.0) < 1e-5
  assert all(-0.7 < float(x) < 2.6 for x in xs)  # never leaves the first bracket


def test_several_prices_reach_the_rosenbrock_root():
  # r = (10 (x2 - x1^2), 1 - x1): the root is (1, 1); the classic start (-1.2, 1).
  r = lambda x: jnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])
  xs = _solve(r, [-1.2, 1.0], newton(), 40)
  np.testing.assert_allclose(xs[-1], [1.0, 1.0], atol=1e-5)
  # Each accepted point lowers |r|^2: the best value never rises.
  best = np.minimum.accumulate([float(jnp.sum(r(x) ** 2)) for x in xs])
  assert best[-1] < 1e-9


def test_bad_input():
  with pytest.raises(ValueError, match="max_step"):
    newton(max_step=0.0)
  with pytest.raises(ValueError, match="damping"):
    newton(damping=-1.0)
  opt = newton()
  with pytest.raises(ValueError, match="residual and jacobian"):
    opt.update(None, opt.init(jnp.zeros(())), jnp.zeros(()))
