# Two commands matter: `make demo` and `make test`. Both set up .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint typecheck pytest demo bench generate check-generated clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check qx qxgen tests bench

typecheck: $(STAMP)
	$(BIN)/mypy qx qxgen

pytest: $(STAMP)
	$(BIN)/pytest -n 2 -q

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/python -m qxgen.demo

bench: $(STAMP)
	$(BIN)/python bench/runtime_vs_plain.py

clean:
	rm -rf $(VENV) .qx .pytest_cache .mypy_cache .ruff_cache
