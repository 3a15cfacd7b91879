# inference-gateway: the two commands are `make run` and `make test`.
# Everything installs into .venv (runtime + dev tools) and .venv-export (torch, only to export models).

PYTHON ?= python3
VENV := .venv
EXPORT_VENV := .venv-export
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
SERVICES := $(wildcard model_images/*/service.yaml)
MODELS := model_images/imagenet/models/efficientnet-lite0.onnx model_images/digits/models/digits-mlp.onnx
PIP_FLAGS := --disable-pip-version-check --progress-bar off -qq

.PHONY: run test install models lint types contract pytest bench wrk clean

include images.mk

run: $(VENV)/.installed models
	@echo "Starting the gateway on http://$(HOST):$(PORT) (Ctrl-C to stop). Once it logs 'ready', try:"
	@echo "  curl --data-binary @model_images/imagenet/samples/flower.jpg -H 'Content-Type: image/jpeg' http://$(HOST):$(PORT)/predict/imagenet"
	$(BIN)/gateway serve $(addprefix -f ,$(SERVICES)) --host $(HOST) --port $(PORT)

test: $(VENV)/.installed models lint types contract pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) -e '.[dev]'
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

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(VENV)/.installed
	$(BIN)/mypy gateway runtimes

contract: $(VENV)/.installed
	$(BIN)/lint-imports

pytest: $(VENV)/.installed models
	$(BIN)/pytest

bench: $(VENV)/.installed models wrk
	$(BIN)/python -m benchmarks

# wrk drives the load in `make bench`: installed from Debian when missing (needs root or sudo).
wrk:
	@command -v wrk >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; }

clean:
	rm -rf $(VENV) $(EXPORT_VENV) .data model_images/*/models model_images/*/samples .mypy_cache .ruff_cache .pytest_cache
