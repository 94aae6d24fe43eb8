"""The 8x8 handwritten digits that ship inside scikit-learn (no download).

scikit-learn is an optional dependency (the ``sklearn`` and ``test`` extras);
it is imported only when :func:`load_digits` is called.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Split(NamedTuple):
  """A train/test split: f32 inputs in [0, 1] ([n, 64]) and i32 labels ([n])."""

  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray


def load_digits(seed: int = 0, test_size: int = 1200) -> Split:
  """Loads the 1,797 digits, scales pixels to [0, 1], splits them at random.

  Args:
    seed: seed of the split's permutation (NumPy ``default_rng``).
    test_size: instances held out for testing, in [1, 1796].

  Returns:
    A :class:`Split` (NumPy arrays; the rest of the data is the train set).
  """
  try:
    from sklearn import datasets
  except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "jaxtick.problems.load_digits needs scikit-learn, which ships the "
        "digits data: pip install 'jaxtick[sims]'") from e
  data = datasets.load_digits()
  x = (np.asarray(data.data, np.float32) / 16.0)
  y = np.asarray(data.target, np.int32)
  n = len(y)
  if not isinstance(test_size, (int, np.integer)) or not 1 <= test_size < n:
    raise ValueError(f"test_size must be an int in [1, {n - 1}], got {test_size!r}")
  perm = np.random.default_rng(seed).permutation(n)
  test, train = perm[:test_size], perm[test_size:]
  return Split(x[train], y[train], x[test], y[test])
