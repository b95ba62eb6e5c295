# vexport: `make run` starts the service with a demo camera; `make test` runs the suite.
# Both set themselves up on a fresh machine (virtualenv, dependencies, generated code).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROTO_SRC := $(shell find src/vexport/protos -name '*.proto')
PROTO_STAMP := src/vexport/protos/.generated
PYTEST_WORKERS ?= 2

.PHONY: run demo test lint typecheck check setup proto bench bench-jobs clean

setup: $(VENV)/.installed $(PROTO_STAMP) $(VENV)/.system

# Debian packages the tests need beyond the machine's services (PostgreSQL, Redis and
# RabbitMQ run as services; the scale-out tests also start a redis-server of their own).
$(VENV)/.system:
	@if ! command -v redis-server >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q redis-server; \
		else echo "note: install redis-server (Debian package) for the scale-out tests"; fi; \
	fi
	@mkdir -p $(VENV) && touch $@

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

proto: $(PROTO_STAMP)

$(PROTO_STAMP): $(PROTO_SRC) $(VENV)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m grpc_tools.protoc -I src --python_out=src --mypy_out=src \
		--grpc_python_out=src --mypy_grpc_out=src $(PROTO_SRC)
	touch $@

run: setup
	$(BIN)/vexport serve

demo: run

test: setup
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -q

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

bench: setup bench-jobs
	$(BIN)/python bench/run.py
	$(BIN)/python bench/privacy.py
	$(BIN)/python bench/s3dir.py

# The job engine: control plane (10,000 sessions, 100 clients) and scale-out throughput;
# PostgreSQL and redis-server of the machine (docs/design/jobs.md has the numbers).
bench-jobs: setup
	$(BIN)/python bench/control_plane.py
	$(BIN)/python bench/scaleout.py

clean:
	rm -rf $(VENV) $(PROTO_STAMP) build dist src/*.egg-info
	find src/vexport/protos -name '*_pb2*.py*' -delete
