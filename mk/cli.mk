# ---- the shmmetrics command (cli/, issue 11) ---------------------------------------------------
# `make` builds it with the library (the Makefile's one cargo run for the workspace; `make cli`
# alone does the same), `make install` puts it in $(BINDIR) with bash, zsh and fish completions.
# `make cli-test`: the crate's Rust tests (golden dumps, every subcommand and exit code, MOSN
#   files, serve over loopback, watch in a pseudo-terminal, a one-iteration bench smoke), then
#   cli/tests/python with the Python suite's venv: prometheus_client's parsers on every output,
#   concurrent scrapes with writers running, and a real Prometheus server (Debian's
#   `prometheus`, installed here with apt-get when missing and we are root). `make test` runs
#   the Rust tests with the workspace's (rust-test) and adds cli-python-test.
# `make cli-bench` (part of `make bench`): dump and scrape of a 100,000-metric zone.
# `make upgrade-demo` (the end of `make demo`): examples/demo/hot_upgrade.sh.

CLI_TEST_TIMEOUT ?= 600
CLI_BENCH_METRICS ?= 100000

TEST_TARGETS  += cli-python-test
BENCH_TARGETS += cli-bench
DEMO_BUILD    += $(BUILD)/examples/upgrade_worker

.PHONY: cli-test cli-rust-test cli-python-test prometheus-server cli-bench upgrade-demo

cli-rust-test:
	timeout -k 10 $(CLI_TEST_TIMEOUT) $(CARGO) test --locked --release -p shmmetrics-cli

# The real-server test needs Debian's prometheus, installed here when missing and we are root.
# The package lists are updated only when the install fails without (a fresh image has none);
# another apt run holding the lock is waited for. A machine without apt-get (or not root) skips
# that one test, saying so.
APT_WAIT    := -o DPkg::Lock::Timeout=300
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get $(APT_WAIT) install -y -q --no-install-recommends
prometheus-server:
	@if command -v prometheus >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  mkdir -p $(BUILD); echo "== installing Debian's prometheus package for the real-server test (apt-get, once)"; \
	  { $(APT_INSTALL) prometheus || { apt-get $(APT_WAIT) update -q && $(APT_INSTALL) prometheus; }; \
	  } > $(BUILD)/apt-prometheus.log 2>&1 || { tail -20 $(BUILD)/apt-prometheus.log; exit 1; }; \
	else echo "cli-test: prometheus is missing and apt-get cannot install it here: the real-server test is skipped"; fi

cli-python-test: cli python-venv prometheus-server
	cd $(BUILD) && $(PY_CLEAN_ENV) SHMMETRICS_BIN=$(SHMMETRICS) \
	  timeout -k 10 $(CLI_TEST_TIMEOUT) $(PY) -m pytest -q -p no:cacheprovider $(TOP)/cli/tests/python

cli-test: cli-rust-test cli-python-test

cli-bench: cli
	SHMM_BENCH_METRICS=$(CLI_BENCH_METRICS) SHMM_BENCH_REPEAT=7 \
	  $(CARGO) test --locked --release -p shmmetrics-cli --test bench -- --nocapture 2>&1 | grep BENCH

$(BUILD)/examples/upgrade_worker: examples/c/upgrade_worker.c $(LIB_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L $(CWARN) $(CFLAGS) -Iinclude $< -o $@ $(LINK_SO)

upgrade-demo: cli $(BUILD)/examples/upgrade_worker
	@examples/demo/hot_upgrade.sh $(SHMMETRICS) $(DEMO_ZONE) $(BUILD)/examples/upgrade_worker
