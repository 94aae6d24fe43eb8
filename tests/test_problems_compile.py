"""The small problem generators run compiled programs outside jit (not one eager
program per op and shape): a first call builds at most one, and a repeated call with
the same sizes (another key or another number) builds none."""

import jax
import numpy as np

import jaxtick as jt
from compile_count import programs_of
from jaxtick.problems import logs


def test_repeated_generator_calls_build_no_new_program():
  p = jt.problems
  k1, k2 = jax.random.key(1), jax.random.key(2)
  task = p.mixture_task(k1, num_classes=3, dim=4, components=2)
  calls = [
      (p.coin_problems, (k1, 9), (k2, 9, 0.1, 0.2)),
      (p.synthetic_heads, (k1, 12), (k2, 12)),
      (lambda k, s: p.synthetic_heads(k, 12, difficulty_scale=s), (k1, 0.5), (k2, 2.0)),
      (lambda k, s: p.mixture_task(k, num_classes=3, dim=4, components=2, separation=s,
                                   noise=s), (k1, 1.0), (k2, 0.5)),
      (lambda k: p.sample_mixture(k, task, 10), (k1,), (k2,)),
      (lambda k: p.log_posterior(task, p.sample_mixture(k, task, 10)[0]), (k1,), (k2,)),
      (p.gaussian_pairs, (k1, 5, 1.0), (k2, 5, 0.3)),
      (p.hypothesis_problems, (k1, 5, 0.2, 0.8), (k2, 5, 0.1, 0.4, 0.9)),
      (p.parameter_grid, ([0.1, 0.2], 3), (np.array([0.5, 0.7]), 3)),
  ]
  for fn, first, again in calls:
    assert programs_of(fn, *first) <= 1, fn
    assert programs_of(fn, *again) == 0, fn


def test_repeated_replay_calls_build_no_new_program():
  log = logs.example_log()
  pool = logs.replay_pool(log)
  assert programs_of(logs.replay_response, pool, 0, 1) <= 1
  assert programs_of(logs.replay_pool, log) == 0
  assert programs_of(logs.replay_response, pool, 2, 3) == 0
