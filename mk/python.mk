# ---- Python binding (bindings/python, issue 3) -----------------------------------------------
# `make python-test` (part of `make test`): builds a virtualenv in $(BUILD)/venv, installs the
#   binding into it the way users do (`pip install ./bindings/python`: setuptools-rust builds
#   libshmmetrics with cargo and bundles it) plus pytest and prometheus_client, then runs the
#   suite from outside the source tree so the installed package is what gets tested.
# `make python-demo` (part of `make demo`): examples/python/example.py writes into $(DEMO_ZONE)
#   after the C demo and prints every metric, C's and Python's, and the Prometheus exposition.
# `make python-bench` (part of `make bench`): Counter.inc() vs prometheus_client multiprocess
#   vs a bare ctypes call, in one run (docs/BENCHMARKS.md).
# Everything is installed by these rules; PYTHON picks the interpreter (3.8 or later, with venv).

PYTHON        ?= python3
PY_VENV       := $(BUILD)/venv
PY            := $(PY_VENV)/bin/python
PY_STAMP      := $(PY_VENV)/.shmmetrics-installed
PY_TEST_DEPS  := pytest prometheus_client
# The installed copy of the library and package is rebuilt when any of these change.
PY_SOURCES    := $(wildcard bindings/python/pyproject.toml bindings/python/setup.py \
                   bindings/python/shmmetrics/*.py bindings/python/shmmetrics/py.typed) \
                 Cargo.toml Cargo.lock build.rs $(wildcard src/*.rs)
PY_TEST_TIMEOUT ?= 600
# The suite tests the installed package and library: no override from the caller's environment.
PY_CLEAN_ENV  := env -u SHMMETRICS_LIB -u PYTHONPATH -u PROMETHEUS_MULTIPROC_DIR

TEST_TARGETS  += python-test
DEMO_TARGETS  += python-demo
BENCH_TARGETS += python-bench

.PHONY: python-venv python-test python-demo python-bench

$(PY):
	@mkdir -p $(BUILD)
	$(PYTHON) -m venv $(PY_VENV)

$(PY_STAMP): $(PY_SOURCES) | $(PY)
	@echo "== installing the Python binding into $(PY_VENV) (pip builds the library again with setuptools-rust; about a minute)"
	$(PY) -m pip install --quiet --disable-pip-version-check ./bindings/python $(PY_TEST_DEPS)
	@touch $@

python-venv: $(PY_STAMP)

python-test: $(PY_STAMP) examples
	cd $(BUILD) && $(PY_CLEAN_ENV) \
	  SHMMETRICS_HEADER=$(TOP)/include/shmmetrics.h \
	  SHMMETRICS_C_EXAMPLE=$(BUILD)/examples/c_example \
	  SHMMETRICS_EXAMPLES=$(TOP)/examples/python \
	  SHMMETRICS_BENCH=$(TOP)/bindings/python/benchmarks/bench_inc.py \
	  SHMMETRICS_EXPECT_INSTALLED=$(PY_VENV) \
	  timeout -k 10 $(PY_TEST_TIMEOUT) $(PY) -m pytest -q -p no:cacheprovider $(TOP)/bindings/python/tests

python-demo: $(PY_STAMP) cli
	@echo "== Python: a fork and a spawn worker each add 1000 to the same example_requests_total"
	@$(PY_CLEAN_ENV) $(PY) examples/python/example.py $(DEMO_ZONE)
	@$(DEMO_STEP) Python

python-bench: $(PY_STAMP)
	$(PY_CLEAN_ENV) $(PY) bindings/python/benchmarks/bench_inc.py
