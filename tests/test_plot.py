"""Front.to_dataframe and jaxtick.plot: the numbers drawn are the front's, intervals
are Wilson's (checked against the closed form here), series stay distinguishable."""

import sys

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

import jaxtick as jt

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _wilson(k, n, z=1.959963984540054):   # the textbook formula, independent of jt.stats
  p = k / n
  mid = (p + z * z / (2 * n)) / (1 + z * z / n)
  half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
  return mid - half, mid + half


def _front(cost, correct, n):
  cost, correct = np.asarray(cost, np.float32), np.asarray(correct)
  return jt.Front(prices=jnp.arange(len(cost), dtype=jnp.float32), mean_ticks=jnp.asarray(cost),
                  mean_cost=jnp.asarray(cost), total_ticks=jnp.asarray(cost * n),
                  num_episodes=jnp.array(n), correct=jnp.asarray(correct),
                  accuracy=jnp.asarray(correct / n), ci_normal=jt.stats.normal_interval(correct, n),
                  ci_wilson=jt.stats.wilson_interval(correct, n))


@pytest.fixture(scope="module")
def coin_front():
  n = 256
  probs = jt.problems.coin_problems(jax.random.key(0), n)
  keys = jax.random.split(jax.random.key(1), n)
  return jt.front(jt.agents.coin(), probs, keys, 1.0 / np.linspace(0.3, 3.0, 8), max_ticks=16,
                  min_ticks=2, score=probs > 0.5)


def test_to_dataframe_has_one_row_per_price(coin_front):
  df = coin_front.to_dataframe()
  assert list(df.columns) == ["price", "mean_ticks", "mean_cost", "total_ticks", "episodes",
                              "correct", "accuracy", "ci_normal_lo", "ci_normal_hi",
                              "ci_wilson_lo", "ci_wilson_hi"]
  assert len(df) == 8 and (df.episodes == 256).all()
  np.testing.assert_array_equal(df.price, np.asarray(coin_front.prices))
  np.testing.assert_array_equal(df.correct, np.asarray(coin_front.correct))
  np.testing.assert_allclose(df.accuracy, df.correct / 256, rtol=1e-6)
  lo, hi = _wilson(df.correct.to_numpy(np.float64), 256)
  np.testing.assert_allclose(df.ci_wilson_lo, lo, atol=1e-5)
  np.testing.assert_allclose(df.ci_wilson_hi, hi, atol=1e-5)
  unscored = coin_front._replace(correct=None, accuracy=None, ci_normal=None, ci_wilson=None)
  assert list(unscored.to_dataframe().columns) == ["price", "mean_ticks", "mean_cost",
                                                   "total_ticks", "episodes"]


def test_missing_optional_dependency_names_the_extra(coin_front, monkeypatch):
  monkeypatch.setitem(sys.modules, "pandas", None)
  with pytest.raises(ImportError, match=r"pip install 'jaxtick\[pandas\]'"):
    coin_front.to_dataframe()
  monkeypatch.setitem(sys.modules, "matplotlib", None)
  monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
  with pytest.raises(ImportError, match=r"pip install 'jaxtick\[plot\]'"):
    jt.plot.front(coin_front)


def test_front_draws_accuracy_by_cost_with_its_wilson_band():
  cost, k, n = np.array([3.0, 1.0, 2.0]), np.array([80, 40, 70]), 100
  ax = jt.plot.front(_front(cost, k, n))
  (line,) = ax.get_lines()
  np.testing.assert_allclose(line.get_xdata(), [1, 2, 3])
  np.testing.assert_allclose(line.get_ydata(), [0.4, 0.7, 0.8])
  band = ax.collections[0].get_paths()[0].vertices      # lower edge forward, upper back
  lo, hi = _wilson(np.array([40.0, 70.0, 80.0]), n)
  for x, l, h in zip([1, 2, 3], lo, hi):
    ys = band[np.isclose(band[:, 0], x), 1]
    assert np.isclose(ys.min(), l, atol=1e-6) and np.isclose(ys.max(), h, atol=1e-6)
  plt.close("all")


def test_fronts_stay_distinguishable_and_mark_matched_compute():
  a = _front([1.0, 2.0, 4.0], [40, 70, 90], 100)
  b = _front([1.0, 2.0, 4.0], [40, 70, 90], 100)         # the same curve: must not vanish
  c = _front([1.5, 3.0], [30, 85], 100)
  ax = jt.plot.fronts({"a": a, "b": b, "c": c}, matched_cost=3.0)
  lines = [l for l in ax.get_lines() if len(l.get_xdata()) > 1 and l.get_label()[0] != "_"]
  assert [l.get_label() for l in lines] == ["a", "b", "c"]
  looks = {(l.get_color(), l.get_linestyle(), l.get_marker()) for l in lines}
  assert len(looks) == 3
  assert lines[0].get_markersize() != lines[1].get_markersize()   # coinciding markers nest
  # Matched markers: a and b at 3.0 interpolate (70 + 90) / 2 = 80; c's own point is 0.85.
  pts = sorted((float(e[0].get_xdata()[0]), round(float(e[0].get_ydata()[0]), 6))
               for e in ax.containers)
  assert pts == [(3.0, 0.8), (3.0, 0.8), (3.0, 0.85)]
  plt.close("all")


def test_coverage_one_series_per_rule():
  budgets = np.array([1, 2, 4, 8])
  ax = jt.plot.coverage(budgets, {"uniform": [10, 20, 30, 40], "elimination": [10, 25, 38, 45]},
                        50)
  lines = ax.get_lines()
  assert [l.get_label() for l in lines] == ["uniform", "elimination"]
  np.testing.assert_allclose(lines[1].get_ydata(), [0.2, 0.5, 0.76, 0.9])
  assert ax.get_xscale() == "log" and len(ax.collections) == 2
  plt.close("all")


def test_front_needs_counts():
  fr = _front([1.0, 2.0], [1, 2], 4)._replace(correct=None)
  with pytest.raises(ValueError, match="score"):
    jt.plot.front(fr)


def test_import_jaxtick_loads_neither_matplotlib_nor_pandas():
  import subprocess
  from pathlib import Path
  code = "import sys, jaxtick; print('matplotlib' in sys.modules, 'pandas' in sys.modules)"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=Path(__file__).resolve().parents[1]).stdout
  assert out.split() == ["False", "False"]
