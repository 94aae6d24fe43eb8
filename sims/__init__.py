"""Experiments on top of jaxtick: ``python -m sims`` and ``python -m sims.bench``."""
