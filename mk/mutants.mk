# ---- mutation testing: do the tests catch the bugs that matter? (issue 12) -------------------
# `make mutants` runs cargo-mutants on the core: each mutant is one plausible one-line bug (an
# operator flipped, a condition negated, a function body replaced by a default) put into a copy
# of the tree, which is then built and tested with the fast tests that guard the core
# (.cargo/mutants.toml). A mutant the tests miss is a bug they would miss. Results land in
# $(MUTANTS_OUT)/mutants.out/ (missed.txt, caught.txt, timeout.txt, unviable.txt, outcomes.json);
# docs/RELIABILITY.md ("Mutation testing") has the counts and why each remaining miss changes
# nothing observable.
#
# cargo-mutants exits 2 when it missed mutants and 3 when some made the tests hang (a timeout:
# the tests did not pass, so those count as caught here); the rule then fails only if a missed
# mutant is not in docs/RELIABILITY.md's list of equivalent mutants (tests/mutants/undocumented.sh).
#
# Not part of `make test` or CI: ~8 mutants a minute on 2 cores. By default the files whose every
# miss has been triaged (a test, or a line saying why it is equivalent): 635 mutants, about an
# hour. The other core files' misses are listed in docs/RELIABILITY.md but not all triaged
# yet, so `make mutants MUTANTS_FILES="src/lock.rs src/slots.rs src/attach.rs src/fork.rs"` fails
# on them. Scope a run with MUTANTS_FILES (`make mutants MUTANTS_FILES=src/index.rs`),
# rerun only what was not caught last time with MUTANTS_ARGS=--iterate, list without running with
# MUTANTS_ARGS=--list.

MUTANTS_VERSION ?= 27.1.0
MUTANTS_FILES   ?= src/layout.rs src/index.rs src/read.rs src/zone.rs src/metric.rs src/open.rs
MUTANTS_JOBS    ?= 2
MUTANTS_TIMEOUT ?= 60
MUTANTS_OUT     ?= $(BUILD)/mutants
MUTANTS_ARGS    ?=
# Debug builds without debug info link a quarter faster (the tree's target/debug is built the same
# way first, so the copies cargo-mutants makes start with every dependency built).
MUTANTS_ENV     := CARGO_PROFILE_DEV_DEBUG=0

.PHONY: mutants

# cargo-mutants comes from crates.io, pinned (its mutation operators change between releases,
# and the counts in docs/RELIABILITY.md are those of this version).
mutants:
	@if ! $(CARGO) mutants --version 2>/dev/null | grep -qx 'cargo-mutants $(MUTANTS_VERSION)'; then \
	  echo "mutants: installing cargo-mutants $(MUTANTS_VERSION) from crates.io"; \
	  $(CARGO) install --locked cargo-mutants@$(MUTANTS_VERSION) || exit 1; fi
	@mkdir -p $(MUTANTS_OUT)
	$(MUTANTS_ENV) $(CARGO) test --locked --no-run
	@status=0; $(MUTANTS_ENV) $(CARGO) mutants --no-shuffle --jobs $(MUTANTS_JOBS) --timeout $(MUTANTS_TIMEOUT) \
	  --output $(MUTANTS_OUT) $(addprefix --file ,$(MUTANTS_FILES)) $(MUTANTS_ARGS) || status=$$?; \
	case $$status in 0|2|3) ;; *) exit $$status;; esac; \
	case " $(MUTANTS_ARGS) " in *" --list "*) exit 0;; esac; \
	sh tests/mutants/undocumented.sh $(MUTANTS_OUT)/mutants.out docs/RELIABILITY.md
