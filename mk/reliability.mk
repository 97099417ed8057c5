# ---- reliability: crashes, cross-language concurrency, hot upgrade (issue 4 items 1-3) -----
# `make reliability-test` (part of `make test`) runs the short profile; `make stress` the long
# one. Figures are printed as `RELIABILITY ...` lines and appended to $(REL_REPORT); any single
# figure can be overridden from the environment, e.g. `SHMM_REL_KILLS=20000 make stress`
# (see tests/reliability/harness.rs and docs/RELIABILITY.md).

REL_TESTS       := reliability_crash reliability_xlang reliability_upgrade reliability_fork
REL_C_WORKER    := $(BUILD)/reliability/xlang_worker
REL_REPORT      ?= $(BUILD)/reliability/figures.txt
REL_PYTHON      ?= python3
REL_TIMEOUT     ?= 600
STRESS_TIMEOUT  ?= 1800

.PHONY: reliability-test stress reliability-workers

$(REL_C_WORKER): tests/reliability/c/xlang_worker.c $(LIB_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(CWARN) $(CFLAGS) -Iinclude $< -o $@ $(LINK_SO)

reliability-workers: lib $(REL_C_WORKER)

# $(1): profile, $(2): timeout in seconds. Tests run one at a time: each one already keeps
# both cores busy with its own processes, and lock-wait figures mean more that way.
# SHMM_REL_REQUIRE_ALL: a language (C, Python) that cannot run fails the test instead of
# being skipped. `timeout` kills the whole process group; helpers die with their parent.
define rel_run
	@mkdir -p $(BUILD)/reliability
	SHMM_REL_PROFILE=$(1) SHMM_REL_REQUIRE_ALL=1 SHMM_REL_C_WORKER=$(REL_C_WORKER) \
	SHMMETRICS_LIB=$(LIBSO) SHMM_REL_PYTHON=$(REL_PYTHON) SHMM_REL_REPORT=$(REL_REPORT) \
	  timeout -k 30 $(2) $(CARGO_TEST) $(addprefix --test ,$(REL_TESTS)) \
	  -- --test-threads=1 --nocapture
endef

reliability-test: reliability-workers
	$(call rel_run,test,$(REL_TIMEOUT))

stress: reliability-workers
	$(call rel_run,stress,$(STRESS_TIMEOUT))

TEST_TARGETS += reliability-test
