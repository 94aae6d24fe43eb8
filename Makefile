PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Exact versions for reproducible runs; the package metadata only has lower bounds.
CONSTRAINTS ?= constraints.txt

.PHONY: run test bench quick docs clean

# Installed with uv (pinned below; from PyPI into the venv, nothing global): the same pinned
# versions as pip, in 25 s instead of pip's 73 s on the 2-core machine (fresh venv, warm
# download caches; uv compiles the bytecode in parallel). --compile-bytecode matters: where
# PYTHONDONTWRITEBYTECODE is set, as on our machines, a venv without .pyc files has every
# process compile jax's sources on import (pytest took 408 s against 332 s).
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv pip install --quiet --python $(PY) --compile-bytecode

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(UV) -c $(CONSTRAINTS) -e '.[sims,test,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m sims all --out results

quick: $(STAMP)
	$(PY) -m sims all --quick --out results

# Two workers, a test file each at a time (its compiled programs stay in one process).
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP) pyproject.toml $(CONSTRAINTS)
	$(UV) -c $(CONSTRAINTS) -e '.[docs]'
	touch $(DOCS_STAMP)

# The documentation site -> site/ (strict: a broken link or reference fails). The README's
# picture, docs/images/front.png, is redrawn from the code first.
docs: $(DOCS_STAMP)
	$(PY) docs/figures.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet  # (silences Material's end-of-life banner)

bench: $(STAMP)
	$(PY) -m sims.bench

clean:
	rm -rf results bench.json .pytest_cache site
