# Two commands matter: `make demo` and `make test`. Both set up .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint typecheck pytest demo bench generate check-generated clean wheels

# Two distributions, both editable: the runtime (qx-nats, root pyproject) and the generator
# (qxgen, packaging/qxgen/pyproject.toml).
$(STAMP): pyproject.toml packaging/qxgen/pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' -e packaging/qxgen
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check qx qxgen tests bench packaging

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

# Benchmarks print numbers; they assert nothing and are not part of `make test`.
bench: $(STAMP)
	$(BIN)/python bench/runtime_vs_plain.py
	$(BIN)/python bench/validation_cost.py
	$(BIN)/python bench/generator_bench.py

# Both wheels (qx-nats, qxgen) in .qx/wheels/dist, their dependencies in .qx/wheels/deps-*.
wheels: $(STAMP)
	$(BIN)/python packaging/wheelhouse.py

clean:
	rm -rf $(VENV) .qx .pytest_cache .mypy_cache .ruff_cache
