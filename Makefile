# A newcomer's two commands: `make up` and `make test` (see README.md).
VENV ?= .venv
PYTHON ?= python3
MALLEE = $(VENV)/bin/mallee

.PHONY: up down status test lint test-unit test-api test-integration bench deps venv clean

up: deps venv
	$(MALLEE) up

down:
	@[ -x $(MALLEE) ] && $(MALLEE) down || true

status: venv
	$(MALLEE) status

deps:
	bash scripts/host-deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,libvirt,bench]'
	touch $@

# Two workers: the host suites (real guests) on one, every other file on
# whichever is free (tests/conftest.py); `pytest -p no:xdist` runs serially.
test: venv lint
	$(VENV)/bin/python -m pytest -q -n 2

# The import rules (docs/architecture.md): contracts in pyproject.toml.
lint: venv
	$(VENV)/bin/lint-imports

test-unit: venv
	$(VENV)/bin/python -m pytest -q tests/unit

test-api: venv
	$(VENV)/bin/python -m pytest -q tests/api

test-integration: venv
	$(VENV)/bin/python -m pytest -q -m integration

bench: venv
	$(VENV)/bin/python bench/walrus.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
