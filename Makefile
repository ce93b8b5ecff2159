# Quick start: `make demo` and `make test` work on a fresh machine with only Python and the package registries.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check conda_wheel_bridge tests benchmarks tools scripts
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,bench]'
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .cache demo-out
