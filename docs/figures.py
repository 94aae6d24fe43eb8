"""Draws the documentation's figures into docs/images/ (run by `make docs`).

    python docs/figures.py

docs/images/front.png is the README's picture: committed on purpose (a small PNG), so
that the README shows it wherever it is read; everything else in the repository is
source. Rerunning this script redraws it from the code (same seed: the same numbers).
"""

import pathlib

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxtick as jt  # noqa: E402

OUT = pathlib.Path(__file__).parent / "images"


def front_png(path: pathlib.Path, n: int = 4000) -> None:
  """The coin's price-rule front against a fixed number of flips, on the same coins."""
  agent = jt.agents.coin()
  probs = jt.problems.coin_problems(jax.random.key(0), n)
  keys = jax.random.split(jax.random.key(1), n)
  truth = probs > 0.5
  fr = jt.front(agent, probs, keys, 1.0 / np.linspace(0.25, 3.0, 64), max_ticks=32,
                min_ticks=2, score=truth)
  # Fixed k flips: the trajectories' outputs after k ticks (the same flips, no stopping).
  tr = jax.vmap(lambda p, k: jt.soft.trace(agent, p, k, max_ticks=32))(probs, keys)
  k = np.arange(2, 33, 2)
  fixed = np.asarray((tr.output == truth[:, None]).sum(0))[k]
  fig, ax = plt.subplots(figsize=(6.4, 3.9))
  jt.plot.front(fr, ax=ax, x="mean_ticks", label="price rule: 64 prices, one compiled pass")
  jt.plot.curve(k, fixed, n, ax=ax, index=1, label="fixed number of flips, same coins")
  ax.set_xlabel("mean flips per coin")
  ax.set_title(f"Flip a coin until its bias is clear ({n} coins)", fontsize=10)
  ax.legend(fontsize=8, loc="lower right")
  fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
  plt.close(fig)


if __name__ == "__main__":
  OUT.mkdir(exist_ok=True)
  front_png(OUT / "front.png")
  print("wrote", OUT / "front.png")
