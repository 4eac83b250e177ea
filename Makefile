# fleetwatch: `make demo` runs a collector, a real local agent and a simulated fleet;
# `make test` runs ruff, mypy and pytest. Both create the virtual environment first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit venv proto docs bench package clean

venv: $(STAMP)

$(STAMP): pyproject.toml sim/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is needed"' \
	  || { echo "fleetwatch needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null \
	  || { echo "Python's venv module is missing: apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable '.[dev]' --editable ./sim
	@touch $@

demo: venv
	bash deploy/demo.sh

test: lint typecheck unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest --durations=30

proto: venv
	$(BIN)/python proto/generate.py

docs: venv
	$(BIN)/fleetwatch-collector metrics-doc --output docs/metrics.md

bench: venv
	$(BIN)/python benchmarks/bench_collector.py

# The .debs (agent, collector) and the Windows offline bundle, in dist/ (deploy/package/README.md).
package: venv
	$(BIN)/python deploy/package/build.py all --output dist

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
