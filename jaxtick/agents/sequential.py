"""Sequential tests as Tick agents: the Wald-style gap test and Wald's SPRT.

One observation per tick, drawn from the tick key, so an episode's stream is
fixed by its key: the t-th tick (t = 0, 1, ...) with key ``k_t =
jaxtick.tick_key(episode_key, t)`` observes

* Bernoulli: ``x_t = jaxtick.rng.uniform(k_t) < theta``;
* Gaussian:  ``x_t = theta + sigma * jax.random.normal(k_t)``,

where ``theta`` is the parameter of the alternative being sampled.

**Gap test** (:func:`gap_test`, the specification's E3 rule). Two alternatives,
sampled in turn (A at even ticks, B at odd ticks). The gap is
``mean_A - mean_B``, its standard error ``SE = sqrt(v_A / n_A + v_B / n_B)``
with ``v`` the Laplace-smoothed ``p~(1 - p~)``, ``p~ = (k + 1) / (n + 2)``
(Bernoulli) or the sample variance (Gaussian). The uncertainty is
``SE / |gap|`` (``inf`` before ``min_samples`` observations), so the price rule
with price ``1 / z`` (:func:`jaxtick.price_from_z`) stops at the first ``|gap| >= z SE``.

**SPRT** (:func:`sprt`). Wald's test of ``H0: theta = theta0`` against
``H1: theta = theta1`` on one stream: the log-likelihood ratio ``S_n``
continues while ``ln B < S_n < ln A``, ``ln A = ln((1 - beta) / alpha)``,
``ln B = ln(beta / (1 - alpha))``. The uncertainty is the distance to the
nearer boundary, ``min(ln A - S_n, S_n - ln B)``, so the price rule at price 0
is exactly Wald's test. :func:`wald_oc` and :func:`wald_asn` are Wald's
approximations to its operating characteristic and average sample number
(they ignore the overshoot of the boundaries).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from jaxtick import _checks, rng, signals
from jaxtick.api import Agent, Array

MODELS = ("bernoulli", "gaussian")


def _check_model(model: str) -> None:
  if model not in MODELS:
    raise ValueError(f"model must be one of {MODELS}, got {model!r}")


def _observe(model: str, key, theta, sigma):
  """One observation from the tick key: f[]."""
  dtype = jnp.result_type(float)
  if model == "bernoulli":
    return (rng.uniform(key) < theta).astype(dtype)
  return theta + sigma * jax.random.normal(key, (), dtype)


# -- the gap test --------------------------------------------------------------


class GapTestState(NamedTuple):
  """State of the two-alternative gap test.

  Attributes:
    theta: f[2] the alternatives' parameters (the problem).
    count: i32[2] observations of each alternative.
    total: f[2] their sums (exact for Bernoulli, so ties stay ties).
    m2: f[2] running sums of squared deviations (Welford; Gaussian only,
      zero for Bernoulli).
  """

  theta: Array
  count: Array
  total: Array
  m2: Array

  @property
  def mean(self) -> Array:
    """f[2] the running means (0 before an alternative's first observation)."""
    return self.total / jnp.maximum(self.count, 1).astype(self.total.dtype)


def gap_test(model: str = "bernoulli", *, min_samples: int = 4,
             sigma: float = 1.0, cost: float = 1.0) -> Agent:
  """The Wald-style gap test between two alternatives, one observation a tick.

  The problem is ``theta``: f[2], the two alternatives' success probabilities
  (Bernoulli) or means (Gaussian with noise ``sigma``). Tick t observes
  alternative ``t % 2``. ``output`` is the index (i32[]) of the alternative with
  the larger running mean (0 on a tie).

  Args:
    model: ``"bernoulli"`` or ``"gaussian"``.
    min_samples: observations (both alternatives together) before the test may
      stop; >= 2, and >= 4 for Gaussian (a sample variance per alternative).
    sigma: Gaussian observation noise, > 0 (unused for Bernoulli).
    cost: cost of one observation, > 0.

  Returns:
    An :class:`~jaxtick.Agent`; run it with price ``jaxtick.price_from_z(z)``.
    It is a value (module-level functions, sigma and cost bound as arrays with
    ``jax.tree_util.Partial``): gap tests of one model and ``min_samples``
    share one compiled program whatever their sigma and cost.
  """
  _check_model(model)
  least = 4 if model == "gaussian" else 2
  if (isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer))
      or min_samples < least):
    raise ValueError(
        f"min_samples must be an int >= {least} for model {model!r}, got "
        f"{min_samples!r}")
  _checks.check_positive("sigma", sigma)
  _checks.check_positive("cost", cost)
  data = lambda x: jnp.asarray(x, jnp.result_type(float))
  return Agent(Partial(_gap_init), Partial(_gap_tick, model, data(sigma)),
               Partial(_gap_uncertainty, model, int(min_samples)),
               Partial(_gap_output), Partial(_const_cost, data(cost)))


def _gap_init(theta, key):
  del key
  dtype = jnp.result_type(float)
  theta = jnp.asarray(theta, dtype)
  if theta.shape != (2,):
    raise ValueError(f"problem theta must have shape (2,), got {theta.shape}")
  zero = jnp.zeros(2, dtype)
  return GapTestState(theta, jnp.zeros(2, jnp.int32), zero, zero)


# Written with explicit per-alternative slices (no gathers, no reductions
# over the size-2 axis): on CPU this keeps a tick a few fused kernels.
def _gap_tick(model, sigma, state, key):
  arm_b = ((state.count[0] + state.count[1]) % 2) == 1
  x = _observe(model, key, jnp.where(arm_b, state.theta[1], state.theta[0]),
               sigma)
  hot = jnp.stack([~arm_b, arm_b])
  count = state.count + hot.astype(jnp.int32)
  total = state.total + jnp.where(hot, x, 0.0)
  if model == "bernoulli":  # the smoothed variance needs only the counts
    return GapTestState(state.theta, count, total, state.m2)
  new = GapTestState(state.theta, count, total, state.m2)
  m2 = state.m2 + jnp.where(hot, (x - state.mean) * (x - new.mean), 0.0)
  return new._replace(m2=m2)


def _gap_uncertainty(model, min_samples, state):
  dtype = jnp.result_type(float)
  n = state.count.astype(dtype)
  n_safe = jnp.maximum(n, 1.0)
  if model == "bernoulli":
    p = (state.total + 1.0) / (n + 2.0)
    var = p * (1.0 - p)
  else:
    var = state.m2 / jnp.maximum(n - 1.0, 1.0)
  v = var / n_safe
  se = jnp.sqrt(v[0] + v[1])
  mean = state.total / n_safe
  u = signals.gap_ratio(mean[0] - mean[1], se)
  return jnp.where(state.count[0] + state.count[1] >= min_samples, u, jnp.inf)


def _gap_output(state):
  mean = state.mean
  return (mean[1] > mean[0]).astype(jnp.int32)


def _const_cost(cost, state):
  del state
  return cost


# -- Wald's SPRT ---------------------------------------------------------------


def wald_thresholds(alpha: float, beta: float) -> tuple[float, float]:
  """Wald's boundaries ``(ln A, ln B) = (ln((1-b)/a), ln(b/(1-a)))``.

  Args:
    alpha: nominal type-I error, in (0, 1).
    beta: nominal type-II error, in (0, 1), with ``alpha + beta < 1``.
  """
  for name, v in (("alpha", alpha), ("beta", beta)):
    if not (isinstance(v, (int, float, np.floating)) and 0.0 < v < 1.0):
      raise ValueError(f"{name} must lie in the open interval (0, 1), got {v!r}")
  if not alpha + beta < 1.0:
    raise ValueError(f"need alpha + beta < 1, got alpha={alpha!r}, beta={beta!r}")
  return math.log((1.0 - beta) / alpha), math.log(beta / (1.0 - alpha))


def wald_error_bounds(alpha: float, beta: float) -> tuple[float, float]:
  """Wald's bounds on the true error rates: ``(a / (1 - b), b / (1 - a))``."""
  wald_thresholds(alpha, beta)
  return alpha / (1.0 - beta), beta / (1.0 - alpha)


def _check_hypotheses(model, theta0, theta1, sigma):
  _check_model(model)
  if model == "bernoulli":
    for name, v in (("theta0", theta0), ("theta1", theta1)):
      if not 0.0 < v < 1.0:
        raise ValueError(
            f"{name} must lie in (0, 1) for a Bernoulli SPRT, got {v!r}")
  else:
    _checks.check_positive("sigma", sigma)
    for name, v in (("theta0", theta0), ("theta1", theta1)):
      if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v!r}")
  if theta0 == theta1:
    raise ValueError(f"theta0 and theta1 must differ, both are {theta0!r}")


def _increments(model, theta0, theta1, sigma):
  """LLR increment ``z(x) = c1 * x + c0``."""
  if model == "bernoulli":
    a = math.log(theta1 / theta0)
    b = math.log((1 - theta1) / (1 - theta0))
    return a - b, b
  c1 = (theta1 - theta0) / sigma ** 2
  return c1, -c1 * (theta0 + theta1) / 2


class SPRTState(NamedTuple):
  """State of Wald's SPRT.

  Attributes:
    theta: f[] the stream's true parameter (the problem).
    llr: f[] the log-likelihood ratio ``S_n`` of H1 against H0.
    count: i32[] observations so far.
  """

  theta: Array
  llr: Array
  count: Array


def sprt(model: str, theta0: float, theta1: float, alpha: float = 0.05,
         beta: float = 0.05, *, sigma: float = 1.0, cost: float = 1.0) -> Agent:
  """Wald's sequential probability ratio test as a Tick agent.

  The problem is ``theta``: f[], the stream's true parameter. Run it under the
  price rule at price 0 (it then ticks while ``ln B < S_n < ln A``). ``output``
  is the accepted hypothesis, i32[] 1 (H1) or 0 (H0); a test cut off by
  ``max_ticks`` inside the boundaries reports ``S_n > 0``.

  Args:
    model: ``"bernoulli"`` or ``"gaussian"`` (noise ``sigma``, known).
    theta0, theta1: the simple hypotheses (probabilities in (0, 1) for
      Bernoulli), distinct.
    alpha, beta: nominal error rates, each in (0, 1), ``alpha + beta < 1``.
    sigma: Gaussian noise, > 0.
    cost: cost of one observation, > 0.

  The agent is a value (module-level functions; the LLR coefficients, Wald's
  boundaries, sigma and cost bound as arrays with ``jax.tree_util.Partial``):
  SPRTs of one model share one compiled program whatever their hypotheses,
  error rates and cost.
  """
  _check_hypotheses(model, theta0, theta1, sigma)
  ln_a, ln_b = wald_thresholds(alpha, beta)
  _checks.check_positive("cost", cost)
  c1, c0 = _increments(model, theta0, theta1, sigma)
  data = lambda x: jnp.asarray(x, jnp.result_type(float))
  return Agent(Partial(_sprt_init),
               Partial(_sprt_tick, model, data(c1), data(c0), data(sigma)),
               Partial(_sprt_uncertainty, data(ln_a), data(ln_b)),
               Partial(_sprt_output), Partial(_const_cost, data(cost)))


def _sprt_init(theta, key):
  del key
  dtype = jnp.result_type(float)
  theta = jnp.asarray(theta, dtype)
  return SPRTState(theta, jnp.zeros((), dtype), jnp.zeros((), jnp.int32))


def _sprt_tick(model, c1, c0, sigma, state, key):
  """Adds the LLR increment ``c1 x + c0`` of one observation ``x``."""
  x = _observe(model, key, state.theta, sigma)
  return SPRTState(state.theta, state.llr + (c1 * x + c0), state.count + 1)


def _sprt_uncertainty(ln_a, ln_b, state):
  return jnp.minimum(ln_a - state.llr, state.llr - ln_b)


def _sprt_output(state):
  # ln B < 0 < ln A: at a boundary the sign of S_n is the accepted hypothesis.
  return (state.llr > 0).astype(jnp.int32)


# -- Wald's approximations -----------------------------------------------------


def _moments(model, theta, theta0, theta1, sigma):
  """Mean and second moment of the LLR increment under ``theta``."""
  c1, c0 = _increments(model, theta0, theta1, sigma)
  if model == "bernoulli":
    a, b = c1 + c0, c0  # increments for x = 1 and x = 0
    return theta * a + (1 - theta) * b, theta * a ** 2 + (1 - theta) * b ** 2
  mean = c1 * theta + c0
  return mean, mean ** 2 + (c1 * sigma) ** 2


def _h(model, theta, theta0, theta1, sigma):
  """The root ``h != 0`` of ``E_theta[exp(h z)] = 1`` (0 where ``E z = 0``)."""
  if model == "gaussian":
    return (theta0 + theta1 - 2 * theta) / (theta1 - theta0)
  c1, c0 = _increments(model, theta0, theta1, sigma)
  a, b = c1 + c0, c0
  mean, _ = _moments(model, theta, theta0, theta1, sigma)
  d = -np.sign(mean)  # the root lies on the side opposite to E z
  f = lambda s: theta * np.exp(d * s * a) + (1 - theta) * np.exp(d * s * b) - 1
  # Bracket: the term with the positive exponent alone reaches 1 at hi.
  big = np.where(d * a > d * b, d * a, d * b)
  weight = np.where(d * a > d * b, theta, 1 - theta)
  hi = np.where(d != 0, -np.log(weight) / np.where(big > 0, big, 1.0), 0.0)
  lo = np.zeros_like(hi)
  for _ in range(200):
    mid = 0.5 * (lo + hi)
    neg = f(mid) < 0
    lo, hi = np.where(neg, mid, lo), np.where(neg, hi, mid)
  return d * 0.5 * (lo + hi)


def _check_theta(model, theta):
  theta = np.asarray(theta, dtype=np.float64)
  if model == "bernoulli" and ((theta <= 0) | (theta >= 1)).any():
    raise ValueError(f"theta must lie in (0, 1) for Bernoulli, got {theta!r}")
  if not np.isfinite(theta).all():
    raise ValueError(f"theta must be finite, got {theta!r}")
  return theta


def wald_oc(theta, model: str, theta0: float, theta1: float,
            alpha: float = 0.05, beta: float = 0.05, *,
            sigma: float = 1.0) -> np.ndarray:
  """Wald's operating characteristic: P(accept H0 | theta), overshoot ignored.

  ``L(theta) = (A^h - 1) / (A^h - B^h)`` with ``h != 0`` solving
  ``E_theta[exp(h z)] = 1`` (``ln A / (ln A - ln B)`` where ``E_theta z = 0``).
  ``L(theta0) = 1 - alpha`` and ``L(theta1) = beta``.

  Args:
    theta: f[...] true parameters (float64 NumPy).
    model, theta0, theta1, alpha, beta, sigma: as in :func:`sprt`.

  Returns:
    f64[...] acceptance probabilities of H0.
  """
  _check_hypotheses(model, theta0, theta1, sigma)
  ln_a, ln_b = wald_thresholds(alpha, beta)
  theta = _check_theta(model, theta)
  h = _h(model, theta, theta0, theta1, sigma)
  small = np.abs(h) < 1e-9
  hs = np.where(small, 1.0, h)
  # (e^{h lnA} - 1) / (e^{h lnA} - e^{h lnB}), computed stably.
  top = np.expm1(hs * ln_a)
  bot = np.exp(hs * ln_a) - np.exp(hs * ln_b)
  return np.where(small, ln_a / (ln_a - ln_b), top / bot)


def wald_asn(theta, model: str, theta0: float, theta1: float,
             alpha: float = 0.05, beta: float = 0.05, *,
             sigma: float = 1.0) -> np.ndarray:
  """Wald's average sample number ``E_theta[N]``, overshoot ignored.

  ``(L ln B + (1 - L) ln A) / E_theta[z]``, with ``L`` = :func:`wald_oc`;
  ``-ln A ln B / E_theta[z^2]`` where ``E_theta z = 0``. The true ASN is larger
  (the LLR overshoots the boundaries).

  Returns:
    f64[...] expected numbers of observations.
  """
  oc = wald_oc(theta, model, theta0, theta1, alpha, beta, sigma=sigma)
  ln_a, ln_b = wald_thresholds(alpha, beta)
  theta = np.asarray(theta, dtype=np.float64)
  mean, second = _moments(model, theta, theta0, theta1, sigma)
  small = np.abs(mean) < 1e-12
  general = (oc * ln_b + (1 - oc) * ln_a) / np.where(small, 1.0, mean)
  return np.where(small, -ln_a * ln_b / second, general)
