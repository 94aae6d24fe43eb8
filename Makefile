PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Exact versions for reproducible runs; the package metadata only has lower bounds.
CONSTRAINTS ?= constraints.txt

.PHONY: run test bench quick clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[sims,test,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m sims all --out results

quick: $(STAMP)
	$(PY) -m sims all --quick --out results

# Two workers, a test file each at a time (its compiled programs stay in one process).
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) -m sims.bench

clean:
	rm -rf results bench.json .pytest_cache
