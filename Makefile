# The two commands a newcomer needs: `make demo` and `make test`. Each builds .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-bench test-fast lint system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Run the demo: embedded broker, a worker and scripted IVIG infusions, alerts as they fire.
demo: $(STAMP)
	$(BIN)/pumpstream demo

## Lint, type-check and run every test (unit, integration on the real broker, end to end) but
## the benchmarks' quick modes (make test-bench), in two processes (pytest-xdist).
test: $(STAMP) system-deps lint
	$(BIN)/pytest -m "not bench" -n 2 --dist loadfile

## The benchmarks' quick modes: correctness of `pumpstream bench telemetry`, not speed.
test-bench: $(STAMP)
	$(BIN)/pytest -m bench

## Debian packages the tests run for real (Prometheus, Alertmanager, Chromium); only the missing.
system-deps:
	bash scripts/install-system-deps.sh

## Only the fast tests (no broker, no subprocesses).
test-fast: $(STAMP)
	$(BIN)/pytest -m "not integration and not e2e"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pumpstream .pytest_cache .mypy_cache .ruff_cache
