# The two commands a fresh clone needs: `make run` and `make test`.
# Both create the virtual environment in .venv when it is missing and install the project
# into it with the pinned versions in constraints.txt.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install browser run serve test lint bench clean-data

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the officer page's browser test (Playwright drives it; browsers
# cannot be downloaded by Playwright here). Installs only when it is missing.
browser:
	@sh scripts/ensure-chromium.sh

# Bootstraps the demo (data, features, model, records, an officer login and an API key,
# both printed once) when missing, then serves http://127.0.0.1:8000 until interrupted.
run: install
	$(BIN)/sme-credit demo
	$(BIN)/sme-credit serve

serve: install
	$(BIN)/sme-credit serve

# The suite runs on every core (pytest-xdist; TEST_WORKERS=0 runs it in one process). Each
# worker has its own temporary folders, SQLite files, PostgreSQL schemas and MLflow stores.
TEST_WORKERS ?= auto

test: install browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: install
	$(BIN)/ruff check features models scoring lending store records decisions access settings \
		synth cli api bench tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

bench: install
	$(BIN)/python bench/features.py

clean-data:
	rm -rf data
