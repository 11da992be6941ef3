# okrsync — every task a newcomer needs; `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help demo test faults-long lint fmt check clean image bench

help: ## list the tasks
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) ## sync the example mappings against the built-in simulators, show the status
	$(BIN)/okrsync --log-format console demo

test: $(STAMP) ## run the test suite (SQLite, PostgreSQL on 127.0.0.1:5432, real HTTP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

faults-long: $(STAMP) ## the fault suite's long form: more kill -9 trials, a larger malformed corpus
	OKRSYNC_FAULTS_LONG=1 $(BIN)/python -m pytest tests/faults $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check), mypy --strict, import contracts, hadolint (Dockerfile)
	$(BIN)/ruff check okrsync connectors tests bench
	$(BIN)/ruff format --check okrsync connectors tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	@if [ -x $(BIN)/hadolint ]; then echo "$(BIN)/hadolint Dockerfile"; $(BIN)/hadolint Dockerfile; \
	elif command -v hadolint >/dev/null; then echo "hadolint Dockerfile"; hadolint Dockerfile; \
	else echo "hadolint not installed: Dockerfile not linted"; fi

fmt: $(STAMP) ## format and auto-fix
	$(BIN)/ruff format okrsync connectors tests
	$(BIN)/ruff check --fix okrsync connectors tests

check: lint test ## everything CI runs

bench: $(STAMP) ## the benchmarks: sync, status, push, dashboard at 10,000 key results, then the scale curve to 100,000 and a day of quota scheduling (bench/README.md)
	$(BIN)/python bench/sync.py $(BENCH_ARGS)
	$(BIN)/python bench/status.py --pg $${OKRSYNC_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}
	$(BIN)/python bench/push.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/quota.py

# The image, with podman. Where PODMAN_RUNTIME is unset and ../shared/tools/podman-setup
# exists (these machines: no registry, no Docker engine), that script prepares podman
# and the local base image first; see ../shared/CONTAINER-TESTING.md.
VERSION      := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE        ?= okrsync:$(VERSION)
PODMAN_SETUP ?= ../shared/tools/podman-setup
BUILD_OPTS   ?= --network=host -v /etc/ssl/certs:/etc/ssl/certs:ro
image: ## build the container image (podman) and print its build time and size
	@set -e; \
	if [ -z "$${PODMAN_RUNTIME:-}" ] && [ -f $(PODMAN_SETUP) ]; then eval "$$(bash $(PODMAN_SETUP))"; fi; \
	podman="podman $${PODMAN_RUNTIME:+--runtime $$PODMAN_RUNTIME}"; \
	start=$$(date +%s); \
	$$podman build --format docker $(BUILD_OPTS) $${BASE_IMAGE:+--build-arg BASE_IMAGE=$$BASE_IMAGE} \
	  --build-arg VERSION=$(VERSION) -t $(IMAGE) .; \
	size=$$($$podman image inspect $(IMAGE) --format '{{.Size}}'); \
	echo "$(IMAGE): built in $$(( $$(date +%s) - start )) s, $$(( size / 1000000 )) MB"

clean: ## remove the virtualenv, caches and the demo store
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis okrsync.db*
