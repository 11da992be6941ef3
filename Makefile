# okrsync — every task a newcomer needs; `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help demo test lint fmt check clean

help: ## list the tasks
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) ## sync the example mappings against the built-in simulators, show the status
	$(BIN)/okrsync --log-format console demo

test: $(STAMP) ## run the test suite (SQLite, PostgreSQL on 127.0.0.1:5432, real HTTP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check okrsync connectors tests
	$(BIN)/ruff format --check okrsync connectors tests
	$(BIN)/mypy

fmt: $(STAMP) ## format and auto-fix
	$(BIN)/ruff format okrsync connectors tests
	$(BIN)/ruff check --fix okrsync connectors tests

check: lint test ## everything CI runs

clean: ## remove the virtualenv, caches and the demo store
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis okrsync.db*
