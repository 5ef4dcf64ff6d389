# The two entry points of the README: `make demo` and `make test`.
# Both install whatever is missing first (system packages, the virtual
# environment, configurable-http-proxy), then do their job.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROXY := .node/node_modules/.bin/configurable-http-proxy
PYTEST_ARGS ?=

.PHONY: setup system demo test test-unit lint up down clean

setup: system $(STAMP) $(PROXY)

system:
	@bash scripts/install-system.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,dev]'
	touch $(STAMP)

$(PROXY):
	npm install --silent --no-fund --no-audit --prefix .node configurable-http-proxy

demo: setup
	$(VENV)/bin/mlplat demo

up: setup
	$(VENV)/bin/mlplat up

down:
	$(VENV)/bin/mlplat down

# pytest exits 5 when it collected nothing: that is a failure here too.
test: setup
	@$(PY) -m pytest -q -rs $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-unit: setup
	$(PY) -m pytest -q tests/unit

# The rules and the strictness live in pyproject.toml ([tool.ruff], [tool.mypy]).
lint: setup
	$(VENV)/bin/ruff check mlplat mlplat_magics tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .node
