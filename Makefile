# inference-gateway: the two commands are `make run` and `make test`.
# Everything installs into .venv (runtime + dev tools) and .venv-export (torch, only to export models).

PYTHON ?= python3
VENV := .venv
EXPORT_VENV := .venv-export
KSERVE_VENV := .venv-kserve
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
SERVICES := $(wildcard model_images/*/service.yaml)
MODELS := model_images/imagenet/models/efficientnet-lite0.onnx model_images/digits/models/digits-mlp.onnx
CHROMIUM := /usr/bin/chromium
PIP_FLAGS := --disable-pip-version-check --progress-bar off -qq

.PHONY: run test test-random install models lint types contract pytest bench bench-peers bench-batching wrk clean proto

include images.mk

run: $(VENV)/.installed models
	@echo "Starting the gateway on http://$(HOST):$(PORT), OIP gRPC on $(HOST):8081 (Ctrl-C to stop). Once it logs 'ready', try:"
	@echo "  curl --data-binary @model_images/imagenet/samples/flower.jpg -H 'Content-Type: image/jpeg' http://$(HOST):$(PORT)/predict/imagenet"
	@echo "Dashboard: http://$(HOST):$(PORT)/ui/ (log in with GATEWAY_ADMIN_TOKEN when it is set)"
	$(BIN)/gateway serve $(addprefix -f ,$(SERVICES)) --host $(HOST) --port $(PORT)

test: $(VENV)/.installed models $(CHROMIUM) lint types contract pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) -e '.[dev]'
	touch $@

$(KSERVE_VENV)/.installed: tests/requirements-kserve.txt
	test -x $(KSERVE_VENV)/bin/python || $(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/pip install $(PIP_FLAGS) -r tests/requirements-kserve.txt
	touch $@

$(EXPORT_VENV)/.installed: model_images/requirements-export.txt
	test -x $(EXPORT_VENV)/bin/python || $(PYTHON) -m venv $(EXPORT_VENV)
	$(EXPORT_VENV)/bin/pip install $(PIP_FLAGS) -r model_images/requirements-export.txt
	touch $@

models: $(MODELS)

# Order-only on the export venv: reinstalling it does not rebuild the models.
model_images/imagenet/models/efficientnet-lite0.onnx: model_images/imagenet/prepare.py | $(EXPORT_VENV)/.installed
	$(EXPORT_VENV)/bin/python $<

model_images/digits/models/digits-mlp.onnx: model_images/digits/prepare.py | $(EXPORT_VENV)/.installed
	$(EXPORT_VENV)/bin/python $<

# The Open Inference Protocol's gRPC messages: regenerate the committed Python module and its
# typed stub after editing the .proto (grpcio-tools' protoc and mypy-protobuf, both dev extras).
# Run from the root, so protobuf registers the file as runtimes/oip/grpc_predict_v2.proto: the
# plain name is KServe's, and one process could not import both.
proto: $(VENV)/.installed
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --mypy_out=. \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy runtimes/oip/grpc_predict_v2.proto

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(VENV)/.installed
	$(BIN)/mypy gateway runtimes benchmarks

contract: $(VENV)/.installed
	$(BIN)/lint-imports

pytest: $(VENV)/.installed $(KSERVE_VENV)/.installed models $(CHROMIUM) wrk
	$(BIN)/pytest

# The tests in a random order (pytest-randomly, which `make test` leaves off): it prints its seed;
# `make test-random SEED=N` runs that order again.
test-random: $(VENV)/.installed $(KSERVE_VENV)/.installed models $(CHROMIUM) wrk
	$(BIN)/pytest -p randomly $(if $(SEED),--randomly-seed=$(SEED))

# Debian's chromium, for the dashboard's browser tests (Playwright drives it; no browser download).
$(CHROMIUM):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

bench: $(VENV)/.installed models wrk
	$(BIN)/python -m benchmarks

# This gateway against KServe, MLServer, BentoML, Ray Serve, LitServe and a plain Starlette app, in
# one run (about 20 minutes); each peer's virtualenv is built under .venv-peers/ when missing.
bench-peers: $(VENV)/.installed models wrk
	$(BIN)/python -m benchmarks.peers

# Batching on against off, on whatever provider ONNX Runtime finds (README: Batching on a GPU):
bench-batching: $(VENV)/.installed models wrk
	$(BIN)/python -m benchmarks.batching

# wrk drives the load in `make bench` and `make bench-peers` (a test checks its script):
# installed from Debian when missing (needs root or sudo).
wrk:
	@command -v wrk >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; }

clean:
	rm -rf $(VENV) $(EXPORT_VENV) $(KSERVE_VENV) .venv-peers .data model_images/*/models model_images/*/samples .mypy_cache .ruff_cache .pytest_cache
