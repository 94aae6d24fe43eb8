"""Accuracy probe (seed 001, section 2.4): P(strategy s answers query x correctly).

An MLP 200-200-1 on ``[query features, strategy features]`` (strategy
features: :func:`jaxtick.alloc.strategies.strategy_features`), trained with
optax (Adam, minibatches) by binary cross-entropy on soft labels -- the
empirical accuracy of repeated runs -- and then Platt-calibrated on a
held-out split with :func:`jaxtick.fit_platt` on the probe's logits.
Calibration is measured by the expected calibration error (equal-width bins)
and the Brier score, with bootstrap intervals over queries.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.tree_util import Partial

from jaxtick import _checks, calibrate
from jaxtick.models import mlp

Array = jax.Array


class Probe(NamedTuple):
  """A trained probe (a pytree).

  Attributes:
    params: MLP parameters.
    mu, sd: f[D] input standardisation.
    platt: a :class:`jaxtick.Platt` map on the logit, or ``jaxtick.Identity``
      composed with the sigmoid (uncalibrated).
  """

  params: list
  mu: Array
  sd: Array
  platt: object = None


def inputs(features: Array, strat_features: Array) -> Array:
  """f[Q, S, F + G]: every query's features beside every strategy's."""
  q, s = features.shape[0], strat_features.shape[0]
  return jnp.concatenate([jnp.broadcast_to(features[:, None, :], (q, s, features.shape[1])),
                          jnp.broadcast_to(strat_features[None], (q, s, strat_features.shape[1]))], -1)


def soft_labels(key: Array, acc: Array, reps: int) -> Array:
  """f[Q, S]: the fraction of ``reps`` independent runs that succeed.

  A run of strategy s on query x succeeds with probability ``acc[x, s]``
  independently of other runs, so the count is Binomial(reps, acc).
  """
  if not isinstance(reps, (int, np.integer)) or reps < 1:
    raise ValueError(f"reps must be a positive int, got {reps!r}")
  return jax.random.binomial(key, reps, jnp.clip(acc, 0.0, 1.0)) / reps


def _check(features, strat_features, labels=None):
  x = mlp.check_features("features", features)
  g = mlp.check_features("strategy features", strat_features)
  if labels is not None:
    y = np.asarray(labels)
    if y.shape != (x.shape[0], g.shape[0]):
      raise ValueError(f"labels must be [queries, strategies] = {(x.shape[0], g.shape[0])}, got {y.shape}")
    if not np.all(np.isfinite(y)) or y.min() < 0 or y.max() > 1:
      raise ValueError("labels must lie in [0, 1]")
  return x, g


def fit(key: Array, features: Array, strat_features: Array, labels: Array, *,
        hidden=(200, 200), steps: int = 3000, batch_size: int = 512,
        learning_rate: float = 1e-3) -> Probe:
  """Trains the probe on soft labels f[Q, S] by binary cross-entropy.

  Compiled once per shapes (and ``hidden``, ``batch_size``): another data set
  of the same shapes, or another ``learning_rate``, reuses the program.
  """
  x, g = _check(features, strat_features, labels)
  z = np.asarray(inputs(jnp.asarray(x), jnp.asarray(g))).reshape(-1, x.shape[1] + g.shape[1])
  mu, sd = z.mean(0), z.std(0) + 1e-6
  zs = jnp.asarray((z - mu) / sd)
  ys = jnp.asarray(labels, jnp.float32).reshape(-1)
  ki, kb = jax.random.split(key)
  params = mlp.init(ki, (z.shape[1], *hidden, 1))

  params, _ = mlp.fit(Partial(_loss, zs, ys), params, steps=steps, num_rows=z.shape[0], batch_size=batch_size,
                      learning_rate=learning_rate, key=kb)
  return Probe(params, jnp.asarray(mu), jnp.asarray(sd), None)


def _loss(zs, ys, p, rows):
  """Mean BCE of the probe's logits on rows i32[b] of zs f[n, D] against ys f[n]."""
  return optax.sigmoid_binary_cross_entropy(mlp.apply(p, zs[rows])[:, 0], ys[rows]).mean()


def logits(probe: Probe, features: Array, strat_features: Array) -> Array:
  """f[Q, S]: the probe's logit for every query and strategy."""
  x, g = _check(features, strat_features)
  z = (inputs(jnp.asarray(x), jnp.asarray(g)) - probe.mu) / probe.sd
  return mlp.apply(probe.params, z)[..., 0]


def predict(probe: Probe, features: Array, strat_features: Array) -> Array:
  """f[Q, S]: predicted success probability (Platt-calibrated if fitted)."""
  lg = logits(probe, features, strat_features)
  return jax.nn.sigmoid(lg) if probe.platt is None else probe.platt(lg)


def calibrate_platt(probe: Probe, features: Array, strat_features: Array,
                    labels: Array) -> Probe:
  """Fits Platt scaling of the logits on a held-out split (labels in [0, 1])."""
  _check(features, strat_features, labels)
  lg = logits(probe, features, strat_features)
  return probe._replace(platt=calibrate.fit_platt(lg.reshape(-1), jnp.asarray(labels).reshape(-1)))


def _check_pred_outcome(pred, outcome):
  """Probabilities ``pred`` and outcomes of one shape, both in [0, 1], at least one."""
  if np.shape(pred) != np.shape(outcome):
    raise ValueError(f"pred and outcome must have the same shape, got {np.shape(pred)} "
                     f"and {np.shape(outcome)}")
  if np.size(pred) == 0:
    raise ValueError("pred and outcome must hold at least one prediction, got none")
  for name, v in (("pred", pred), ("outcome", outcome)):
    a = _checks.concrete(v)
    if a is not None and not (np.isfinite(a) & (a >= 0) & (a <= 1)).all():
      raise ValueError(f"{name} must be probabilities in [0, 1] (no NaN)")


def ece(pred: Array, outcome: Array, num_bins: int = 15) -> Array:
  """Expected calibration error: ``sum_b (n_b / n) |mean pred_b - mean outcome_b|``.

  Equal-width bins on [0, 1]; ``outcome`` may be binary or a probability.
  """
  _check_pred_outcome(pred, outcome)
  if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
    raise ValueError(f"num_bins must be an int >= 1, got {num_bins!r}")
  pred, outcome = jnp.ravel(pred), jnp.ravel(outcome)
  b = jnp.clip((pred * num_bins).astype(jnp.int32), 0, num_bins - 1)
  n = jax.ops.segment_sum(jnp.ones_like(pred), b, num_bins)
  sp = jax.ops.segment_sum(pred, b, num_bins)
  so = jax.ops.segment_sum(outcome, b, num_bins)
  return jnp.sum(jnp.abs(sp - so)) / pred.shape[0]


def brier(pred: Array, outcome: Array) -> Array:
  """Mean squared error of the predicted probability."""
  _check_pred_outcome(pred, outcome)
  return jnp.mean((jnp.ravel(pred) - jnp.ravel(outcome)) ** 2)


class CalibrationReport(NamedTuple):
  """ECE and Brier score with 95% bootstrap intervals (queries resampled).

  Attributes:
    ece, brier: f[] point estimates.
    ece_ci, brier_ci: f[2] percentile intervals.
  """

  ece: Array
  brier: Array
  ece_ci: Array
  brier_ci: Array


def calibration_report(key: Array, pred: Array, outcome: Array, *,
                       num_boot: int = 500, num_bins: int = 15) -> CalibrationReport:
  """ECE and Brier of ``pred`` f[Q, S] against ``outcome`` f[Q, S], with intervals."""
  pred, outcome = jnp.asarray(pred), jnp.asarray(outcome)
  q = pred.shape[0]

  def one(k):
    rows = jax.random.randint(k, (q,), 0, q)
    return ece(pred[rows], outcome[rows], num_bins), brier(pred[rows], outcome[rows])

  e, b = jax.lax.map(one, jax.random.split(key, num_boot))
  pct = jnp.asarray([2.5, 97.5])
  return CalibrationReport(ece(pred, outcome, num_bins), brier(pred, outcome),
                           jnp.percentile(e, pct), jnp.percentile(b, pct))
