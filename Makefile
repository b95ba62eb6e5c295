# vexport: `make run` starts the service with a demo camera; `make test` runs the suite.
# Both set themselves up on a fresh machine (virtualenv, dependencies, generated code).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROTO_SRC := $(shell find src/vexport/protos -name '*.proto')
PROTO_STAMP := src/vexport/protos/.generated
PYTEST_WORKERS ?= 2

.PHONY: run demo test lint typecheck check setup proto bench clean

setup: $(VENV)/.installed $(PROTO_STAMP)

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

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

# BENCH_ARGS: e.g. "--update-doc", "--profile var/profile", "--only copy", "--runs 3".
BENCH_ARGS ?=

bench: setup
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python bench/privacy.py
	$(BIN)/python bench/s3dir.py

clean:
	rm -rf $(VENV) $(PROTO_STAMP) build dist src/*.egg-info
	find src/vexport/protos -name '*_pb2*.py*' -delete
