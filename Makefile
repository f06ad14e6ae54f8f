# AITrader: `make demo` runs the main job, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help setup demo test lint bench up down status clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

NATIVE_STAMP := $(VENV)/.native-stamp
RUST_DIR := pattern_engine/rust
RUST_SOURCES := $(shell find $(RUST_DIR) -path $(RUST_DIR)/target -prune -o -type f \( -name '*.rs' -o -name '*.toml' -o -name 'Cargo.lock' -o -name '*.pyi' \) -print)

setup: $(STAMP) $(NATIVE_STAMP)  ## create .venv, install AITrader with its pinned dependencies, build the Rust extension (idempotent)
	@bash scripts/install_system_tools.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==26.3
	@# setuptools warns about every editable install; that warning says nothing about this project.
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,train]'
	@touch $(STAMP)

# The Rust extension (module pattern_engine_pyo3), release profile, installed into .venv.
$(NATIVE_STAMP): $(STAMP) $(RUST_SOURCES)
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) and run make again" >&2; exit 1; }
	$(BIN)/aitrader native build
	@touch $(NATIVE_STAMP)

SAMPLE := data/sample/ticks.parquet
DEMO_TICKS ?= 200000

demo: setup  ## bring the stack up, train the forecaster, replay a slice of the sample day, report, forecast, news sentiment
	$(BIN)/aitrader up
	$(BIN)/aitrader demo
	@# The replayed slice is half an hour of bars, too little to train on: the demo's N-BEATS learns from generated
	@# series (scale-free: it reads closes relative to the last) with a 30-bar lookback the slice can feed.
	$(BIN)/aitrader train nbeats --synthetic --lookback 30 --epochs 20
	@test -f $(SAMPLE) || $(BIN)/aitrader data sample
	$(BIN)/aitrader replay $(SAMPLE) --limit $(DEMO_TICKS)
	$(BIN)/aitrader market
	$(BIN)/aitrader signals
	$(BIN)/aitrader account
	$(BIN)/aitrader oms --trade INFY --qty 10
	$(BIN)/aitrader forecast INFY
	$(BIN)/aitrader news import --sample
	$(BIN)/aitrader sentiment INFY --window 1d --half-life 4h --at 2025-11-21T10:00:00+00:00
	$(BIN)/aitrader status

test: setup  ## run every test: Rust (cargo test), then Python against real embedded PostgreSQL and Redis
	cargo test --quiet --manifest-path $(RUST_DIR)/Cargo.toml -p pattern_engine_core
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup  ## ruff and mypy; rustfmt and clippy on the Rust workspace
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy aitrader backend tick_replay book_builder pattern_engine mock_mcp execution onnx_runner tensorrt_runner sentiment_engine finbert_server
	cargo fmt --manifest-path $(RUST_DIR)/Cargo.toml --all --check
	cargo clippy --quiet --manifest-path $(RUST_DIR)/Cargo.toml --workspace --all-targets -- -D warnings

bench: setup  ## run the benchmarks quickly, figures under bench/results/
	$(BIN)/python bench/bus.py --quick --json bench/results/bus.json
	$(BIN)/python bench/replay.py --quick --json bench/results/replay.json
	$(BIN)/python bench/book_builder.py --quick --json bench/results/book_builder.json
	$(BIN)/python bench/pattern_engine.py --quick --json bench/results/pattern_engine.json
	$(BIN)/python bench/oms.py --quick --json bench/results/oms.json
	$(BIN)/python bench/runners.py --quick --json bench/results/runners.json
	$(BIN)/python bench/sentiment.py --quick --json bench/results/sentiment.json

up: setup  ## start the local stack
	$(BIN)/aitrader up

down:  ## stop the local stack
	@test -x $(BIN)/aitrader && $(BIN)/aitrader down || true

status:
	$(BIN)/aitrader status

clean: down  ## stop the stack and remove local state (.aitrader/)
	rm -rf .aitrader
