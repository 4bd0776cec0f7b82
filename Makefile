# taskq — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(STAMP)

.PHONY: install
install: $(STAMP) sqitch ## make the virtual environment and install taskq with its tools

.PHONY: sqitch
sqitch: ## make sure the Sqitch CLI and its PostgreSQL driver are installed
	@./scripts/ensure-sqitch

.PHONY: run
run: install ## start taskq: embedded PostgreSQL, schema deployed, API + worker on :8000
	$(BIN)/taskq run

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
bench: install ## benchmarks beside the peers; writes bench/results/latest.json and a chart
	$(BIN)/python -m bench

.PHONY: bench-quick
bench-quick: install ## a reduced benchmark run, under 3 minutes
	$(BIN)/python -m bench --quick
