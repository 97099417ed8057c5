# ---- hostile input: fuzzing, bad files, permissions, resources (issue 4 items 4-8) ----------
# `make hostile-test` (part of `make test`) runs the Rust hostile-file, permission and resource
# tests and replays the committed fuzz corpus on stable; tests/c/test_bad_input.c runs with the
# other C tests (`make c-test`: ASan+UBSan and valgrind).
# `make fuzz` fuzzes every target for FUZZ_SECONDS each (see docs/RELIABILITY.md, "Fuzzing"):
#   FUZZ_ENGINE=auto       libFuzzer through `cargo +nightly fuzz` when a nightly toolchain and
#                          cargo-fuzz are installed, else the stable driver
#   FUZZ_ENGINE=libfuzzer  coverage-guided (needs `rustup toolchain install nightly` and
#                          `cargo install cargo-fuzz`)
#   FUZZ_ENGINE=stable     seeded mutation of the corpus on the stable toolchain
# New inputs libFuzzer finds go to $(BUILD)/fuzz-corpus (not committed); crashes to
# fuzz/artifacts/<target>/ with the command that replays them.

HOSTILE_TESTS   := $(patsubst tests/%.rs,%,$(wildcard tests/hostile_*.rs))
FUZZ_SECONDS    ?= 60
FUZZ_ENGINE     ?= auto
FUZZ_SEED       ?= 1
FUZZ_TARGETS    ?= zone_file api_seq
FUZZ_MAX_LEN    ?= 131072
# The stable build of the fuzz crate: its own workspace, so its own target directory.
FUZZ_STABLE_DIR := $(TOP)/target/fuzz-stable
FUZZ_CARGO      := env CARGO_TARGET_DIR=$(FUZZ_STABLE_DIR) $(CARGO)
HOSTILE_TIMEOUT ?= 600

.PHONY: hostile-test hostile-rust fuzz-corpus fuzz-lint fuzz fuzz-stable fuzz-libfuzzer

hostile-rust:
	timeout -k 10 $(HOSTILE_TIMEOUT) $(CARGO_TEST) $(addprefix --test ,$(HOSTILE_TESTS))

# Every committed corpus input and every generated seed, through both harnesses.
fuzz-corpus:
	timeout -k 10 $(HOSTILE_TIMEOUT) $(FUZZ_CARGO) test --locked --release --manifest-path fuzz/Cargo.toml

hostile-test: hostile-rust fuzz-corpus

# The fuzz crate is its own workspace: `make lint` checks it too.
lint: fuzz-lint
fuzz-lint:
	$(CARGO) fmt --check --manifest-path fuzz/Cargo.toml
	$(FUZZ_CARGO) clippy --locked --release --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

fuzz:
	@engine=$(FUZZ_ENGINE); \
	if [ "$$engine" = auto ]; then \
	  if $(CARGO) +nightly fuzz --version >/dev/null 2>&1; then engine=libfuzzer; else engine=stable; \
	    echo "fuzz: no nightly toolchain with cargo-fuzz here; using the stable driver"; fi; \
	fi; \
	$(MAKE) --no-print-directory fuzz-$$engine

fuzz-stable:
	$(FUZZ_CARGO) build --locked --release --manifest-path fuzz/Cargo.toml --bin fuzz-stable
	@for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz-stable $$t for $(FUZZ_SECONDS) s, seed $(FUZZ_SEED)"; \
	  $(FUZZ_STABLE_DIR)/release/fuzz-stable --target $$t --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED) \
	    --max-len $(FUZZ_MAX_LEN) --artifacts $(TOP)/fuzz/artifacts || exit 1; \
	done

# -timeout: one input running longer than 10 s is a hang. -rss_limit_mb: the harnesses map
# zones of at most a few hundred KiB; more memory than this is a leak.
fuzz-libfuzzer:
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/fuzz-corpus/$$t; \
	  echo "== cargo fuzz run $$t for $(FUZZ_SECONDS) s"; \
	  (cd fuzz && $(CARGO) +nightly fuzz run --features libfuzzer $$t \
	    $(BUILD)/fuzz-corpus/$$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=$(FUZZ_MAX_LEN) -timeout=10 -rss_limit_mb=4096 -seed=$(FUZZ_SEED) -print_final_stats=1) || exit 1; \
	done

TEST_TARGETS += hostile-test
