# The two commands a newcomer needs: `make dev` runs the service, `make test` runs the tests.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: dev test test-compiled lint bench soak clean

$(BIN)/mission-control: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev-servers,bench]'
	@touch $@

dev: $(BIN)/mission-control  ## run migrate + ingress + worker (embedded PostgreSQL/Redis unless DATABASE_URL is set)
	$(BIN)/mission-control dev

test: $(BIN)/mission-control  ## start PostgreSQL/Redis if needed, then run the whole suite
	scripts/ensure-services
	$(BIN)/pytest

test-compiled: $(BIN)/mission-control  ## the whole suite again, on a copy with the hot path compiled (mypyc)
	scripts/ensure-services
	dest=$$(mktemp -d) && trap 'rm -rf "$$dest"' EXIT \
		&& PYTHON=$(BIN)/python scripts/compile-copy "$$dest" \
		&& cd "$$dest" && MC_EXPECT_COMPILED=1 $(abspath $(BIN))/pytest

lint: $(BIN)/mission-control  ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/mission-control  ## the performance benchmark (see docs/performance.md)
	scripts/ensure-services
	$(BIN)/python -m bench.run

soak: $(BIN)/mission-control  ## 10 minutes of load with periodic faults (see docs/reliability.md)
	scripts/ensure-services
	$(BIN)/python -m tests.chaos.soak --minutes 10 --rate 100 --fault-every 120

clean:
	rm -rf $(VENV) .mission-control
