# ---- Python binding (bindings/python, issue 3) -----------------------------------------------
# `make python-test` (part of `make test`): builds a virtualenv in $(BUILD)/venv, installs the
#   binding into it the way users do (`pip install ./bindings/python`: setuptools-rust builds
#   libshmmetrics with cargo and bundles it) plus pytest and prometheus_client, then runs the
#   suite from outside the source tree so the installed package is what gets tested.
# `make python-demo` (part of `make demo`): examples/python/example.py writes into $(DEMO_ZONE)
#   after the C demo and prints every metric, C's and Python's, and the Prometheus exposition.
# `make python-bench` (part of `make bench`): Counter.inc() vs prometheus_client multiprocess
#   vs a bare ctypes call, in one run; then list(zone) of 100,000 metrics against the 60 ms
#   target and the one-call-per-metric baseline (docs/BENCHMARKS.md).
# `make python-lint` (part of `make lint`): mypy --strict on the package.
# Everything is installed by these rules; PYTHON picks the interpreter (3.8 or later, with venv).

PYTHON        ?= python3
PY_VENV       := $(BUILD)/venv
PY            := $(PY_VENV)/bin/python
PY_STAMP      := $(PY_VENV)/.shmmetrics-installed
# pytest runs the suite; prometheus_client is what shmmetrics.prometheus plugs into.
PY_TEST_DEPS  := pytest prometheus_client
# The type checker of `make lint`, pinned so a new release cannot fail an unchanged tree.
PY_LINT_DEPS  := mypy==2.4.1
PY_LINT_STAMP := $(PY_VENV)/.mypy-installed
# The installed copy of the library and package is rebuilt when any of these change.
PY_SOURCES    := $(wildcard bindings/python/pyproject.toml bindings/python/setup.py \
                   bindings/python/shmmetrics/*.py bindings/python/shmmetrics/py.typed) \
                 Cargo.toml Cargo.lock build.rs $(wildcard src/*.rs src/*/*.rs)
PY_BENCHES    := $(TOP)/bindings/python/benchmarks
PY_TEST_TIMEOUT ?= 600
# The suite tests the installed package and library: no override from the caller's environment.
PY_CLEAN_ENV  := env -u SHMMETRICS_LIB -u PYTHONPATH -u PROMETHEUS_MULTIPROC_DIR

TEST_TARGETS  += python-test
DEMO_TARGETS  += python-demo
DEMO_BUILD    += python-venv
BENCH_TARGETS += python-bench

lint: python-lint

.PHONY: python-venv python-test python-demo python-bench python-lint

$(PY):
	@mkdir -p $(BUILD)
	@echo "== Python: creating the virtualenv $(PY_VENV)"
	@$(PYTHON) -m venv $(PY_VENV)

# pip is quiet; its output is shown only if it fails.
$(PY_STAMP): $(PY_SOURCES) | $(PY)
	@echo "== Python: pip install ./bindings/python (cargo builds libshmmetrics into the package) and $(PY_TEST_DEPS) into $(PY_VENV)"
	@$(PY) -m pip install --quiet --disable-pip-version-check ./bindings/python $(PY_TEST_DEPS) >$(BUILD)/pip.log 2>&1 \
	  || { cat $(BUILD)/pip.log; exit 1; }
	@touch $@

$(PY_LINT_STAMP): | $(PY)
	@echo "== Python: pip install $(PY_LINT_DEPS) into $(PY_VENV)"
	@$(PY) -m pip install --quiet --disable-pip-version-check $(PY_LINT_DEPS) >$(BUILD)/pip-lint.log 2>&1 \
	  || { cat $(BUILD)/pip-lint.log; exit 1; }
	@touch $@

# The source package, checked with the venv's prometheus_client for shmmetrics.prometheus.
python-lint: $(PY_STAMP) $(PY_LINT_STAMP)
	$(PY) -m mypy --strict --cache-dir $(BUILD)/mypy-cache bindings/python/shmmetrics

python-venv: $(PY_STAMP)

python-test: $(PY_STAMP) examples
	cd $(BUILD) && $(PY_CLEAN_ENV) \
	  SHMMETRICS_HEADER=$(TOP)/include/shmmetrics.h \
	  SHMMETRICS_C_EXAMPLE=$(BUILD)/examples/c_example \
	  SHMMETRICS_EXAMPLES=$(TOP)/examples/python \
	  SHMMETRICS_BENCH=$(PY_BENCHES) \
	  SHMMETRICS_VECTORS=$(TOP)/tests/vectors \
	  SHMMETRICS_DOCS=$(TOP)/docs \
	  SHMMETRICS_EXPECT_INSTALLED=$(PY_VENV) \
	  timeout -k 10 $(PY_TEST_TIMEOUT) $(PY) -m pytest -q -p no:cacheprovider $(TOP)/bindings/python/tests

python-demo: $(PY_STAMP) cli
	@echo "== Python: a fork and a spawn worker each add 1000 to the same example_requests_total"
	@$(PY_CLEAN_ENV) $(PY) examples/python/example.py $(DEMO_ZONE)
	@$(DEMO_STEP) Python

python-bench: $(PY_STAMP)
	$(PY_CLEAN_ENV) $(PY) $(PY_BENCHES)/bench_inc.py
	$(PY_CLEAN_ENV) $(PY) $(PY_BENCHES)/bench_read.py
