"""Writes the example log shipped with jaxtick (jaxtick/problems/data/).

    PYTHONPATH=. python scripts/make_example_log.py   (from the repository root)

A pool of 150 synthetic queries (jaxtick.problems.query_pool, the default
MATH-500-like mixture, seed 2026) sampled 48 times each, scored by the noisy
PRM oracle (no corruption), saved in jaxtick's JSONL format: answer ids (0 is
the correct answer), PRM rewards rounded to 4 decimals, token counts rounded
to integers, the difficulty level as the one query feature. It is synthetic,
not a real model's log: it exists so that the replay path (loader, replay
pool, notebook) runs anywhere, including a pip-installed jaxtick on Colab.
"""

from pathlib import Path

import jax
import numpy as np

from jaxtick.problems import logs, pools

QUERIES, SAMPLES, SEED = 150, 48, 2026
OUT = Path(__file__).resolve().parent.parent / "jaxtick" / "problems" / "data" / logs.EXAMPLE_LOG


def main():
  key = jax.random.key(SEED)
  pool = pools.query_pool(key, QUERIES)
  r = pools.sample_responses(pool, SAMPLES, oracle=pools.prm_oracle())
  log = logs.from_responses(r, query_id=np.array([f"q{i:03d}" for i in range(QUERIES)]))
  log = log._replace(reward=np.round(log.reward, 4), tokens=np.round(log.tokens),
                     features=np.asarray(pool.level, np.float32)[:, None])
  logs.save_jsonl(OUT, log)
  print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
  main()
