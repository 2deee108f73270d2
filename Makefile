# velo-tracker: `make` regenerates the bundle, `make test` runs every check, `make demo` runs the demo.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all generate check test lint demo bench clean

all: generate

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The repository's bundle is the Velostream demo's: its names and the demo stack's provisioning.
generate: $(STAMP)
	$(BIN)/velo-tracker generate --demo

lint: $(STAMP)
	$(BIN)/ruff check .

# Lint, drift and bundle checks, then the whole test suite.
check: lint
	$(BIN)/velo-tracker check --strict
	$(BIN)/pytest

test: check

# Docker compose when a Docker engine answers (and .env sets Grafana's password), else the native runner.
demo: $(STAMP)
	@if docker info >/dev/null 2>&1; then \
	  if [ ! -f .env ]; then echo "Copy .env.example to .env and set GF_SECURITY_ADMIN_PASSWORD first."; exit 2; fi; \
	  if docker compose version >/dev/null 2>&1; then docker compose up --build; else docker-compose up --build; fi; \
	else echo "No Docker engine answers: running the native demo (Ctrl-C stops it)."; $(BIN)/velo-tracker demo; fi

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
