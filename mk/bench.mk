# ---- core benchmarks (issue 9): bench/ -------------------------------------------------------
# `make core-bench` (part of `make bench`): every row of issue 9's table as a ratio against a
#   baseline measured in the same run (bench/run.py): C hot paths vs raw atomics, contention,
#   registration vs MOSN's own Go code (downloaded through the Go module proxy when it runs,
#   never committed: bench/mosn/assemble.sh), instruction counts (callgrind), attach/create and
#   RSS at 1 GiB, statistics and iteration, bulk reads from C and Python, fork(). About 5
#   minutes; the table also goes to $(BUILD)/bench/core.md. BENCH_ONLY=section[,section] runs
#   some sections only (hot, contention, registration, callgrind, attach, scan, fork).
#   BENCH_PY_PATH=dir adds list(zone) through the Python binding in dir (see below).
# `make core-bench-smoke` (part of `make test`): every section once at tiny sizes (figures
#   meaningless, nothing timed is asserted), and bench/check_inline.sh: the header's inline
#   slot helpers compile to the very instructions of their raw-atomic baselines.

BENCH_BIN     := $(BUILD)/bench
BENCH_C       := $(BENCH_BIN)/bench_hot $(BENCH_BIN)/bench_register $(BENCH_BIN)/bench_zone
MOSN_BENCH    := $(BENCH_BIN)/mosn/mosnbench
BENCH_ONLY    ?=
# BENCH_PY_PATH=dir: also time list(zone) with the Python binding in dir (e.g. another branch's
# bindings/python, unpacked with git archive), loading this tree's library.
BENCH_PY_PATH ?=
BENCH_RUN      = python3 bench/run.py --bin $(BENCH_BIN) --mosn $(MOSN_BENCH) --python $(PY) --lib $(LIBSO) \
                 $(if $(BENCH_ONLY),--only $(BENCH_ONLY)) $(if $(BENCH_PY_PATH),--python-path $(BENCH_PY_PATH))

TEST_TARGETS  += core-bench-smoke
BENCH_TARGETS += core-bench

.PHONY: core-bench core-bench-smoke bench-workers

$(BENCH_BIN)/bench_%: bench/c/%.c bench/c/bench.h $(LIB_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(CWARN) $(CFLAGS) -Iinclude $< -o $@ $(LINK_SO) -lpthread

# MOSN's module is fetched (or found in the module cache) and the throwaway build copy remade
# whenever the worker or the stand-ins change.
$(MOSN_BENCH): bench/mosn/assemble.sh bench/mosn/main.go $(wildcard bench/mosn/standin/*/*.go) bindings/go/go.mod
	GO="$(GO)" sh bench/mosn/assemble.sh $(BENCH_BIN)/mosn

bench-workers: $(BENCH_C) $(MOSN_BENCH) python-venv

core-bench: bench-workers
	$(BENCH_RUN) --markdown $(BENCH_BIN)/core.md

core-bench-smoke: bench-workers
	sh bench/check_inline.sh $(BENCH_BIN)/bench_hot
	$(BENCH_RUN) --smoke
