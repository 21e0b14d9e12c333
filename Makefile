# Two commands matter: `make demo` and `make test`. Both set up .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test test-faults lint typecheck pytest demo bench bench-quick bench-profile generate check-generated compat-check check-asyncapi clean wheels

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

test: lint typecheck check-generated compat-check check-asyncapi pytest

# Fault scenarios (worker/server/cluster-node kills, poison corpus) on real servers and worker
# processes; they print published = handled + dead-lettered per scenario. Not in `make test`.
test-faults: $(STAMP)
	$(BIN)/pytest tests/faults -o python_files='fault_*.py' -p no:cacheprovider -q --timeout 300

demo: $(STAMP)
	$(BIN)/python -m qxgen.demo

# One HTTP request -> outbox -> relay -> worker, printed as a span tree (qx.outbox).
.PHONY: demo-trace
demo-trace: $(STAMP)
	$(BIN)/python -m qxgen.demo_trace

# Benchmarks print numbers; they assert nothing and are not part of `make test`.
# consumer_bench compares qx with plain nats-py and FastStream (the `bench` extra).
bench: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/consumer_bench.py
	$(BIN)/python bench/validation_cost.py
	$(BIN)/python bench/generator_bench.py
	$(BIN)/python bench/generator_big_inputs.py
	$(BIN)/python bench/outbox_relay.py

bench-quick: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/consumer_bench.py --quick

# Where a message's CPU goes, by package (py-spy; collapsed stacks in .qx/profile).
bench-profile: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/consumer_bench.py --count 20000 --repeat 1 --systems plain --rates '' \
		--profile .qx/profile --profile-systems plain,floor,qx

# Both wheels (qx-nats, qxgen) in .qx/wheels/dist, their dependencies in .qx/wheels/deps-*.
wheels: $(STAMP)
	$(BIN)/python packaging/wheelhouse.py

clean:
	rm -rf $(VENV) .qx .pytest_cache .mypy_cache .ruff_cache

# Schema evolution: the example's event schemas stay backward compatible with the previous
# commit (like `buf breaking`). A clone without that commit (shallow, or the first commit)
# is told so and skipped; a real breaking change fails.
compat-check: $(STAMP)
	@if git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null 2>&1; then \
		cd examples/shop_service && ../../$(BIN)/qxgen compat --against HEAD~1; \
	else \
		echo "compat-check: skipped: no previous commit here (shallow clone? git fetch --deepen=1)"; \
	fi

# The example's AsyncAPI document must match what `qxgen asyncapi` produces today.
check-asyncapi: $(STAMP)
	cd examples/shop_service && ../../$(BIN)/qxgen asyncapi --check
