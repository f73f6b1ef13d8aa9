# One-command setup: every target creates .venv and installs the project if needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-slow test-nojit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[all,test]'
	touch $(STAMP)

install: $(STAMP)

# The tour: every script in demo/ in order, on data bundled with the packages.
demo: $(STAMP)
	@set -e; for script in demo/*.py; do \
		echo "=== $$script"; MPLBACKEND=Agg $(PY) $$script; \
	done

# Default run: everything but tests marked slow.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# Pure-Python run of the numba kernels (keeps each kernel's Python body honest).
test-nojit: $(STAMP)
	NUMBA_DISABLE_JIT=1 $(PY) -m pytest tests/boostkit/trees/test_kernels.py \
		tests/boostkit/neural/test_kernels.py $(PYTEST_ARGS)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -e '.[all,test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@set -e; for script in benchmarks/*.py; do \
		echo "=== $$script"; MPLBACKEND=Agg $(PY) $$script; \
	done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
