"""Experiments on top of jaxtick: ``python -m sims`` and ``python -m sims.bench``.

A folder of the checkout, not part of the installed package (pyproject.toml installs
``jaxtick`` only): run it from the repository root after ``pip install -e '.[sims]'``
(or ``make run``).
"""
