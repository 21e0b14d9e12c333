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

# The committed example service must match what the generator produces today.
check-generated: $(STAMP)
	cd examples/shop_service && ../../$(BIN)/qxgen generate --check

generate: $(STAMP)
	cd examples/shop_service && ../../$(BIN)/qxgen generate

pytest: $(STAMP)
	$(BIN)/pytest -n 2 -q

test: lint typecheck check-generated pytest

demo: $(STAMP)
	$(BIN)/python -m qxgen.demo

# One HTTP request -> outbox -> relay -> worker, printed as a span tree (qx.outbox).
.PHONY: demo-trace
demo-trace: $(STAMP)
	$(BIN)/python -m qxgen.demo_trace

# Benchmarks print numbers; they assert nothing and are not part of `make test`.
bench: $(STAMP)
	$(BIN)/python bench/runtime_vs_plain.py
	$(BIN)/python bench/validation_cost.py
	$(BIN)/python bench/generator_bench.py
	$(BIN)/python bench/outbox_relay.py

clean:
	rm -rf $(VENV) .qx .pytest_cache .mypy_cache .ruff_cache
