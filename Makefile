# The two commands a new machine needs: `make run` and `make test`. Everything they need is installed
# here (a project virtual environment in .venv, the compiled engine via maturin), so a fresh clone works.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUST_SOURCES := $(shell find core_rs engine_service -name '*.rs' -o -name Cargo.toml) Cargo.toml Cargo.lock
DASHBOARD := api/dashboard
# The engine service binary: built by `make build`, copied beside the venv's python (where
# `derivatives.paths.engine_binary()` and the process supervisor look first).
ENGINE_SERVICE := target/release/derivatives-engine
export VIRTUAL_ENV := $(abspath $(VENV))

.PHONY: help venv build browser redis-cli run test test-rust test-py bench lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

$(VENV)/.stamp-deps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet 'maturin>=1.9.4,<2'
	$(VENV)/bin/maturin develop --release --extras test
	touch $@

venv: $(VENV)/.stamp-deps ## create .venv with every Python dependency

$(VENV)/.stamp-build: $(VENV)/.stamp-deps $(RUST_SOURCES)
	$(VENV)/bin/maturin develop --release --skip-install
	cargo build --release -p derivatives-engine-service --bin derivatives-engine
	install -m 755 $(ENGINE_SERVICE) $(VENV)/bin/
	touch $@

$(DASHBOARD)/node_modules/.stamp-npm: $(DASHBOARD)/package.json $(DASHBOARD)/package-lock.json
	npm ci --prefix $(DASHBOARD) --no-audit --no-fund
	touch $@

build: $(VENV)/.stamp-build $(DASHBOARD)/node_modules/.stamp-npm ## compile the engine into the Python package, the engine service binary (release); the dashboard's npm libraries

browser: ## Debian chromium + chromedriver for the dashboard's browser tests (apt-get, as root)
	@command -v chromedriver >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

redis-cli: ## Debian redis-tools (redis-cli) for the Redis-protocol door's tests (apt-get, as root)
	@command -v redis-cli >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-tools; }

run: build ## serve the exchange on embedded defaults
	$(PY) -m derivatives serve

test: lint test-rust test-py ## the linters, then every test, Rust then Python

test-rust: ## Rust unit, property, differential and integration tests
	cargo test --workspace

test-py: build browser redis-cli ## Python tests (fails loudly if pytest collects nothing; PostgreSQL required)
	@DERIVATIVES_TEST_REQUIRE_POSTGRES=1 $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite must never be empty" >&2; exit 1; fi; \
	exit $$rc

bench: build ## benchmarks (figures printed; recorded in BENCHMARKS.md)
	cargo bench --bench engine
	cargo bench --bench margin
	cargo bench --bench journal
	cargo build --release -p derivatives-engine-service --features load --bin derivatives-engine-load
	target/release/derivatives-engine-load
	$(PY) -m derivatives bench binding
	$(PY) -m derivatives bench oracle
	$(PY) -m derivatives bench projection
	$(PY) -m derivatives bench api
	$(PY) -m derivatives bench topology
	$(PY) -m derivatives bench resp

PY_SOURCES := python/derivatives risk oracle api tests

lint: build ## formatting, clippy, the stub check, ruff and mypy --strict
	cargo fmt --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(PY) -m mypy.stubtest derivatives._core
	$(VENV)/bin/ruff check $(PY_SOURCES)
	$(PY) -m mypy $(PY_SOURCES)

clean: ## remove build products and the virtual environment
	cargo clean
	rm -rf $(VENV) python/derivatives/_core*.so
