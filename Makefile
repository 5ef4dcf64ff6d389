# The two entry points of the README: `make demo` and `make test`.
# Both install whatever is missing first (system packages, the virtual
# environment, configurable-http-proxy), then do their job.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROXY := .node/node_modules/.bin/configurable-http-proxy
# The JupyterLab extension's build (git-ignored), and what it is built from.
LAB := mlplat/labextension/package.json
LAB_SOURCES := lab_extension/package.json lab_extension/tsconfig.json $(wildcard lab_extension/src/*.ts lab_extension/src/*/*.ts lab_extension/style/*)
PYTEST_ARGS ?=

.PHONY: setup system lab demo test test-unit test-cluster test-on-cluster lint up down clean

setup: system $(STAMP) $(LAB) $(PROXY)

system:
	@bash scripts/install-system.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,dev]'
	touch $(STAMP)

# The first `pip install -e` builds the extension (pyproject's build hook); this rebuilds it when its sources
# change. jlpm and jupyter-builder come from the venv; `jlpm install` fetches from the npm registry once.
$(LAB): $(LAB_SOURCES) | $(STAMP)
	cd lab_extension && PATH="$(abspath $(VENV))/bin:$$PATH" jlpm install && PATH="$(abspath $(VENV))/bin:$$PATH" jlpm build:prod
	touch $(LAB)

lab: $(LAB)

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

# Integration tests run unchanged on the cluster profile's engines (MLPLAT_TEST_PROFILE=cluster switches the shared
# fixtures in tests/conftest.py: Spark on a 2-worker standalone cluster, Online Serving on a 3+3 Redis Cluster).
CLUSTER_SUITE := tests/integration/test_feature_compute.py tests/integration/test_examples.py \
	tests/integration/test_batch_and_retrain.py tests/integration/test_online_api.py \
	tests/integration/test_inference_service.py tests/integration/test_deploy.py \
	tests/integration/test_tuning.py::test_training_on_spark_gives_the_same_pipeline_as_pandas

# The tests on the cluster profile's engines (Spark standalone cluster and Spark Connect, S3 on moto, ...) alone;
# `make test` (what .ci/run runs) includes them.
test-cluster: setup
	$(PY) -m pytest -q -rs -m cluster $(PYTEST_ARGS)
	$(MAKE) test-on-cluster

# CLUSTER_SUITE alone on the cluster profile's engines: what .ci/run adds after `make test` (which ran the rest).
test-on-cluster: setup
	MLPLAT_TEST_PROFILE=cluster $(PY) -m pytest -q -rs $(CLUSTER_SUITE) $(PYTEST_ARGS)

# The rules and the strictness live in pyproject.toml ([tool.ruff], [tool.mypy]).
lint: setup
	$(VENV)/bin/ruff check mlplat mlplat_magics tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .node lab_extension/node_modules lab_extension/lib mlplat/labextension
