# The two commands a fresh clone needs: `make run` and `make test`.
# Both create the virtual environment in .venv when it is missing and install the project
# into it with the pinned versions in constraints.txt.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench clean-data

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/sme-credit demo

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check features models scoring lending api bench tests
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/features.py

clean-data:
	rm -rf data
