# `make test` builds .venv from scratch when needed, installs the requirements and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch build to install. Here this resolves to the CPU wheel on disk; on your machine pick the
# build for your hardware, e.g. `make TORCH="torch --index-url https://download.pytorch.org/whl/cu128"`.
TORCH ?= torch==2.13.0
DATA_DIR ?= data

.PHONY: test venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

test: venv
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) .cache .pytest_cache
