# velo-tracker: `make` regenerates the bundle, `make test` runs every check, `make demo` runs the demo.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all generate check test test-library lint demo bench clean

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

# The library's own tests again, in a virtual environment holding only what the library needs
# (prometheus-client) plus pytest and hypothesis: proves no framework or bundle tool is required.
LIBRARY_VENV ?= .venv-library
LIBRARY_TESTS := tests/test_buffer.py tests/test_exposition.py tests/test_fingerprint.py \
	tests/test_logging_handler.py tests/test_normalize.py tests/test_provider.py tests/test_scrub.py \
	tests/test_sketches.py tests/test_text.py tests/test_tracking.py tests/test_tracking_drops.py \
	tests/test_tracking_load.py tests/test_tracking_merge.py tests/test_tracking_model.py \
	tests/test_tracking_multiprocess.py tests/e2e/test_serving.py

$(LIBRARY_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LIBRARY_VENV)
	$(LIBRARY_VENV)/bin/pip install -q -e . pytest hypothesis
	touch $@

test-library: $(LIBRARY_VENV)/.installed
	$(LIBRARY_VENV)/bin/python -c "import importlib.util as u, sys; extra = [m for m in ('yaml', 'grafanalib', 'flask', 'django', 'starlette', 'celery') if u.find_spec(m)]; sys.exit(f'not library-only: {extra}' if extra else 0)"
	$(LIBRARY_VENV)/bin/pytest -q -p no:cacheprovider $(LIBRARY_TESTS)

test: check test-library

# Docker compose when a Docker engine answers (and .env sets Grafana's password), else the native runner.
demo: $(STAMP)
	@if docker info >/dev/null 2>&1; then \
	  if [ ! -f .env ]; then echo "Copy .env.example to .env and set GF_SECURITY_ADMIN_PASSWORD first."; exit 2; fi; \
	  if docker compose version >/dev/null 2>&1; then docker compose up --build; else docker-compose up --build; fi; \
	else echo "No Docker engine answers: running the native demo (Ctrl-C stops it)."; $(BIN)/velo-tracker demo; fi

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(LIBRARY_VENV) .pytest_cache .ruff_cache .hypothesis
