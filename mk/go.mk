# ---- Go binding (bindings/go, issue 8) -------------------------------------------------------
# `make go-test` (part of `make test`): go vet on every Go module (the binding, its shmprom and
#   shmotel exporters, examples/go), go test -race on the three binding modules, a one-iteration
#   run of the benchmarks, and the README's Go program built in a throwaway module against a
#   staged `make install` through pkg-config (go-install-test).
# `make go-demo` (part of `make demo`): examples/go counts into $(DEMO_ZONE) from two processes
#   and prints the whole zone (C's and Python's metrics included), as go-metrics JSON and as
#   Prometheus exposition; then `shmmetrics dump` shows what Go added (DEMO_STEP, Makefile).
# `make go-bench` (part of `make bench`): the benchmarks of docs/BENCHMARKS.md in one run, with
#   their ratios to go-metrics.
# The reliability suite gets a Go worker (bindings/go/internal/relworker) through
#   SHMM_REL_GO_WORKER, set below for reliability-test and stress.
# Go modules come from the module proxy (go.sum files are committed). GO picks the go command.

GO              ?= go
GO_DIR          := bindings/go
GO_BINDING_MODS := $(GO_DIR) $(GO_DIR)/shmprom $(GO_DIR)/shmotel
GO_MODULES      := $(GO_BINDING_MODS) examples/go
GO_BUILD        := $(GO) build -buildvcs=false
GO_TEST_TIMEOUT ?= 600
GO_EXAMPLE      := $(BUILD)/examples/go_example
GO_REL_WORKER   := $(BUILD)/reliability/go_worker
GO_STAGE        := $(BUILD)/go-stage
# The suites test this tree: no zone directory or workspace from the caller's environment.
GO_CLEAN_ENV    := env -u SHMMETRICS_DIR -u GOWORK

TEST_TARGETS  += go-test
DEMO_TARGETS  += go-demo
DEMO_BUILD    += go-example
BENCH_TARGETS += go-bench

.PHONY: go-test go-vet go-unit go-bench-smoke go-install-test go-example go-demo go-bench

go-test: go-vet go-unit go-bench-smoke go-install-test

go-vet: lib
	@for m in $(GO_MODULES); do echo "== go vet $$m"; (cd $$m && $(GO_CLEAN_ENV) $(GO) vet ./...) || exit 1; done

go-unit: lib
	@for m in $(GO_BINDING_MODS); do echo "== go test -race $$m"; \
	  (cd $$m && $(GO_CLEAN_ENV) timeout -k 10 $(GO_TEST_TIMEOUT) $(GO) test -race -count=1 ./...) || exit 1; done

go-bench-smoke: lib
	cd $(GO_DIR) && $(GO_CLEAN_ENV) $(GO) test -run '^$$' -bench . -benchtime=1x -count=1 .

# The README's Go program and build commands, run as printed in a new module outside the tree,
# against the library installed into a staging directory: it must link the installed library
# (pkg-config), not the build tree's.
go-install-test: lib
	@rm -rf $(GO_STAGE) && mkdir -p $(GO_STAGE)/app $(GO_STAGE)/zones
	@$(MAKE) --no-print-directory install DESTDIR=$(GO_STAGE) PREFIX=/usr >/dev/null
	@awk '/^## Go/{g=1} g && /^```go$$/{on=1;next} on && /^```$$/{exit} on' README.md > $(GO_STAGE)/app/main.go
	@awk '/^## Go/{g=1} g && /^```sh$$/{on=1;next} on && /^```$$/{exit} on' README.md > $(GO_STAGE)/app/build.sh
	@test -s $(GO_STAGE)/app/main.go && test -s $(GO_STAGE)/app/build.sh
	cd $(GO_STAGE)/app && $(GO_CLEAN_ENV) SHMMETRICS_SRC=$(TOP) PKG_CONFIG_SYSROOT_DIR=$(GO_STAGE) \
	  PKG_CONFIG_LIBDIR=$(GO_STAGE)/usr/lib/pkgconfig sh -e build.sh
	@if readelf -d $(GO_STAGE)/app/app | grep -q 'R.*PATH'; then \
	  echo "go-install-test: the app has an rpath (it should find the installed library)"; exit 1; fi
	@LD_LIBRARY_PATH=$(GO_STAGE)/usr/lib ldd $(GO_STAGE)/app/app | grep -q '$(GO_STAGE)/usr/lib/libshmmetrics.so' || \
	  { echo "go-install-test: the app does not load the staged library"; exit 1; }
	SHMMETRICS_DIR=$(GO_STAGE)/zones LD_LIBRARY_PATH=$(GO_STAGE)/usr/lib $(GO_STAGE)/app/app
	@test -f $(GO_STAGE)/zones/shmmetrics-myapp && \
	  echo "go-install-test: README Go program builds with pkg-config against the installed library and runs"

go-example: lib
	@mkdir -p $(dir $(GO_EXAMPLE))
	cd examples/go && $(GO_BUILD) -o $(GO_EXAMPLE) .

go-demo: go-example cli
	@echo "== Go: go-metrics code in two processes each adds 1000 to the same example_requests_total"
	@$(GO_CLEAN_ENV) $(GO_EXAMPLE) $(DEMO_ZONE)
	@$(DEMO_STEP) Go

go-bench: lib
	cd $(GO_DIR) && $(GO_CLEAN_ENV) $(GO) test -run '^$$' -bench . -benchtime=300ms -count=5 .

# The Go worker of tests/reliability_xlang.rs and tests/reliability_crash.rs.
$(GO_REL_WORKER): FORCE | lib
	@mkdir -p $(@D)
	cd $(GO_DIR) && $(GO_BUILD) -o $(GO_REL_WORKER) ./internal/relworker

reliability-workers: $(GO_REL_WORKER)
reliability-test stress: export SHMM_REL_GO_WORKER := $(GO_REL_WORKER)
