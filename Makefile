# taskq — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One stamp per set of extras: `make run` installs what running needs, `make test` and
# `make bench` add theirs. Each is redone when pyproject.toml changes.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing taskq into $(VENV)"
	@$(PIP) -e .
	@touch $@

$(DEV_STAMP): $(RUN_STAMP)
	@echo "installing the test and lint tools into $(VENV)"
	@$(PIP) -e '.[dev]'
	@touch $@

$(BENCH_STAMP): $(RUN_STAMP)
	@echo "installing the benchmark tools into $(VENV)"
	@$(PIP) -e '.[bench]'
	@touch $@

.PHONY: install
install: $(DEV_STAMP) sqitch ## make the virtual environment: taskq with its test and lint tools

.PHONY: sqitch
sqitch: ## make sure the Sqitch CLI and its PostgreSQL driver are installed
	@./scripts/ensure-sqitch

.PHONY: run
run: $(RUN_STAMP) sqitch ## start taskq: embedded PostgreSQL, schema deployed, API + worker on :8000 (ARGS='--port 8001')
	$(BIN)/taskq run $(ARGS)

.PHONY: test
test: install ## run the whole test suite (TASKQ_TEST_PG=system for Debian's PostgreSQL 15)
	$(BIN)/pytest

.PHONY: lint
lint: install ## ruff format check, ruff lint, mypy --strict
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

.PHONY: format
format: install ## format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: up
up: ## run taskq with docker compose (postgres:17, migrate, api, worker)
	docker compose up --build

.PHONY: bench
bench: $(BENCH_STAMP) sqitch ## benchmarks beside the peers; writes bench/results/latest.json and a chart
	$(BIN)/python -m bench

.PHONY: bench-quick
bench-quick: $(BENCH_STAMP) sqitch ## a reduced benchmark run: about 3 minutes, then a 2-minute churn soak
	$(BIN)/python -m bench --quick
