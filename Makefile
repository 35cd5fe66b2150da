# The two commands of the README: `make run` and `make test`. Both create ./.venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: setup run test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: setup
	$(BIN)/temoin demo
	$(BIN)/temoin serve --host $(HOST) --port $(PORT)

# The suite on both cores, then the tests that measure time or memory (or restart
# PostgreSQL) alone: see SERIAL_MODULES in tests/conftest.py.
test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 -m "not serial"
	$(BIN)/pytest -m serial

lint: setup
	$(BIN)/ruff check .

# Prints the report; only a full run with --write-docs rewrites docs/PERFORMANCE.md.
bench: setup
	$(BIN)/python scripts/bench.py --quick

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .hypothesis
