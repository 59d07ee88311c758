# One command surface for people and CI alike.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench soak lab-deps clean lock

# lab-deps first: libvirt-python builds against libvirt-dev (see scripts/lab-packages.txt).
$(STAMP): requirements.lock pyproject.toml | lab-deps
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3-venv missing; installing it with apt"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/patchwarden demo

# The whole suite: unit, golden, conformance and lab tiers. The lab tier needs root and
# Debian packages; scripts/lab-deps installs what is missing (idempotent, quick when present).
# Two passes: what is not marked lab on TEST_WORKERS processes (pytest-xdist; a file's tests
# stay on one; the slow ones go out first, see tests/conftest.py), then the lab and traffic
# tiers one test at a time (they share the lab's hosts, network namespaces and ports). Each
# pass lists its slowest tests.
TEST_WORKERS ?= 2
test: $(STAMP) lab-deps
	$(BIN)/python -m pytest -m "not lab" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15
	$(BIN)/python -m pytest -m lab --durations=15

lab-deps:
	@scripts/lab-deps

# The chaos test (kill -9 of the runner at random points, then resume) on several seeds,
# 30 kills each; `make test` runs it on one seed with 15. Needs root, like the lab tier.
SOAK_SEEDS ?= 20260601 90210 777 31 32
soak: $(STAMP) lab-deps
	@set -e; for seed in $(SOAK_SEEDS); do echo "== chaos seed $$seed"; \
	  PATCHWARDEN_CHAOS_SEED=$$seed PATCHWARDEN_CHAOS_KILLS=30 $(BIN)/python -m pytest -m lab -q tests/lab/test_chaos.py; done

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	@mkdir -p bench-results
	@set -e; for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

# Re-pin the lock file after changing dependencies in pyproject.toml.
lock:
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -q -o requirements.lock

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
