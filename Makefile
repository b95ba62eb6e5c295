# vexport: `make run` starts the service with a demo camera; `make test` runs the suite.
# Both set themselves up on a fresh machine (virtualenv, dependencies, generated code).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROTO_SRC := $(shell find src/vexport/protos -name '*.proto')
PROTO_STAMP := src/vexport/protos/.generated
PYTEST_WORKERS ?= 2
# Debian packages the tests need beyond the machine's services (PostgreSQL, Redis and
# RabbitMQ run as services): GStreamer's RTSP server (tests/rtsp_server.py), run by
# Debian's own python3, which has PyGObject; Chromium for the playback tests; the
# redis-server the scale-out tests start for themselves; 7-Zip, which must open the
# encrypted evidence packages.
TEST_DEB_PACKAGES := python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad chromium redis-server p7zip-full

.PHONY: run demo test test-packages lint typecheck check setup proto bench bench-jobs clean

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

test: setup test-packages
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -q

# Installs the missing ones when run as root; otherwise says which are missing (the tests
# that need them are then skipped, naming what is missing).
test-packages:
	@missing=""; \
	for package in $(TEST_DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "ok installed" \
			|| missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "test packages: all present"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "test packages missing:$$missing (no apt-get here: the tests that need them will be skipped)"; \
	elif [ "$$(id -u)" != "0" ]; then \
		echo "test packages missing:$$missing (run 'sudo make test-packages'; the tests that need them will be skipped)"; \
	else \
		echo "installing test packages:$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
			|| { apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }; \
	fi

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

# BENCH_ARGS: e.g. "--update-doc", "--profile var/profile", "--only copy", "--runs 3".
BENCH_ARGS ?=

bench: setup bench-jobs
	$(BIN)/python -m bench.run $(BENCH_ARGS)
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
