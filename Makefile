# shmmetrics: `make` builds the library and header, `make demo` runs the main job,
# `make test` runs every suite. Language-specific rules live in mk/*.mk and add themselves to
# TEST_TARGETS / DEMO_TARGETS / BENCH_TARGETS.

CARGO      ?= cargo
CC         ?= cc
CXX        ?= c++
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include

VERSION    := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
MAJOR      := $(firstword $(subst ., ,$(VERSION)))
TOP        := $(abspath .)
RELEASE    := $(TOP)/target/release
BUILD      := $(TOP)/build
LIBSO      := $(RELEASE)/libshmmetrics.so
LIBA       := $(RELEASE)/libshmmetrics.a
HEADER     := include/shmmetrics.h
SHMMETRICS := $(RELEASE)/shmmetrics
DATADIR    ?= $(PREFIX)/share

CWARN      := -Wall -Wextra -Wpedantic -Werror
CFLAGS     ?= -O2 -g
LINK_SO    := -L$(RELEASE) -Wl,-rpath,$(RELEASE) -lshmmetrics

TEST_TARGETS  := rust-test c-test header-test check-header lint install-test
DEMO_TARGETS  := c-demo
BENCH_TARGETS :=

.PHONY: all lib header check-header test demo bench install uninstall clean \
        rust-test c-test c-test-asan c-test-valgrind header-test lint c-demo examples install-test

all: lib cli

lib: $(LIBSO)

# One cargo run builds the workspace: the library, the header (build.rs regenerates it from
# src/ffi/) and the shmmetrics command; cargo decides what is stale. The soname link lets
# programs linked with -lshmmetrics run from the build tree. CARGO_QUIET=--quiet (the demo's
# inner steps) keeps an up-to-date build silent.
$(LIBSO) $(LIBA) $(HEADER) $(SHMMETRICS) &: FORCE
	$(CARGO) build --release --locked --workspace $(CARGO_QUIET)
	@ln -sf libshmmetrics.so $(RELEASE)/libshmmetrics.so.$(MAJOR)

FORCE:

header: lib

# build.rs regenerates include/shmmetrics.h from the source on every build, so a header that
# differs from the committed one after a build means the committed header was stale.
check-header: lib
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git diff --exit-code HEAD -- $(HEADER) >/dev/null || { \
	    echo "include/shmmetrics.h differs from the committed header: commit the regenerated one"; \
	    git --no-pager diff HEAD -- $(HEADER) | head -40; exit 1; }; \
	  echo "header: committed header matches cbindgen's output"; \
	else echo "header: not a git checkout, staleness check skipped"; fi

rust-test:
	$(CARGO) test --locked --release

lint:
	$(CARGO) clippy --locked --release --workspace --all-targets -- -D warnings

# ---- C -------------------------------------------------------------------------------------
C_TESTS := $(patsubst tests/c/%.c,%,$(wildcard tests/c/test_*.c))

$(BUILD)/c/%: tests/c/%.c tests/c/check.h $(HEADER) | lib
	@mkdir -p $(@D)
	$(CC) -std=c11 $(CWARN) $(CFLAGS) -Iinclude $< -o $@ $(LINK_SO)

$(BUILD)/c-asan/%: tests/c/%.c tests/c/check.h $(HEADER) | lib
	@mkdir -p $(@D)
	$(CC) -std=c11 $(CWARN) -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -Iinclude $< -o $@ $(LINK_SO)

c-test-asan: $(addprefix $(BUILD)/c-asan/,$(C_TESTS))
	@for t in $^; do echo "== asan $$t"; ASAN_OPTIONS=detect_leaks=1 $$t || exit 1; done

c-test-valgrind: $(addprefix $(BUILD)/c/,$(C_TESTS))
	@for t in $^; do echo "== valgrind $$t"; \
	  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=no $$t || exit 1; done

c-test: c-test-asan c-test-valgrind

# The header alone, included twice, as C99/C11 and as C++11/17, with every warning an error.
header-test: $(HEADER)
	@mkdir -p $(BUILD)
	@printf '#include "shmmetrics.h"\n#include "shmmetrics.h"\nint main(void) { return shm_abi_version() == 0; }\n' > $(BUILD)/header_twice.c
	$(CC) -std=c99 $(CWARN) -Iinclude -fsyntax-only $(BUILD)/header_twice.c
	$(CC) -std=c11 $(CWARN) -Iinclude -fsyntax-only $(BUILD)/header_twice.c
	$(CXX) -std=c++11 $(CWARN) -Iinclude -fsyntax-only -x c++ $(BUILD)/header_twice.c
	$(CXX) -std=c++17 $(CWARN) -Iinclude -fsyntax-only -x c++ $(BUILD)/header_twice.c

# ---- examples ------------------------------------------------------------------------------
$(BUILD)/examples/c_example: examples/c/example.c $(HEADER) | lib
	@mkdir -p $(@D)
	$(CC) -std=c11 $(CWARN) $(CFLAGS) -Iinclude $< -o $@ $(LINK_SO)

examples: $(BUILD)/examples/c_example

DEMO_ZONE ?= $(BUILD)/demo.zone

# After each writer, DEMO_STEP shows the shared counter with `shmmetrics dump` and what the
# writer added to it. A writer in another language (e.g. a `go-demo` target in mk/go.mk, added
# to DEMO_TARGETS) writes example_requests_total into $(DEMO_ZONE) and ends with
# `@$(DEMO_STEP) Go`.
DEMO_STEP = examples/demo/step.sh $(SHMMETRICS) $(DEMO_ZONE)

c-demo: $(BUILD)/examples/c_example cli
	@echo "== C: two processes each add 1000 to example_requests_total in $(DEMO_ZONE)"
	@$(BUILD)/examples/c_example $(DEMO_ZONE)
	@$(DEMO_STEP) C

# Install into a staging directory, then build and run the README's C example against it
# with pkg-config, as a user would.
install-test: lib
	@rm -rf $(BUILD)/stage && mkdir -p $(BUILD)/stage/zones
	@$(MAKE) --no-print-directory install DESTDIR=$(BUILD)/stage PREFIX=/usr >/dev/null
	@awk '/^```c$$/{on=1;next} /^```$$/{if(on)exit} on' README.md > $(BUILD)/stage/readme.c
	@test -L $(BUILD)/stage/usr/lib/libshmmetrics.so.$(MAJOR)
	$(CC) -std=c11 $(CWARN) $(BUILD)/stage/readme.c -o $(BUILD)/stage/readme \
	  $$(PKG_CONFIG_SYSROOT_DIR=$(BUILD)/stage PKG_CONFIG_LIBDIR=$(BUILD)/stage/usr/lib/pkgconfig pkg-config --cflags --libs shmmetrics)
	SHMMETRICS_DIR=$(BUILD)/stage/zones LD_LIBRARY_PATH=$(BUILD)/stage/usr/lib $(BUILD)/stage/readme
	@test -f $(BUILD)/stage/zones/shmmetrics-myapp && echo "install: README example builds with pkg-config and runs"
	$(BUILD)/stage/usr/bin/shmmetrics --dir $(BUILD)/stage/zones dump myapp
	@test -s $(BUILD)/stage/usr/share/bash-completion/completions/shmmetrics && echo "install: shmmetrics and its completions are installed"

# ---- language rules ------------------------------------------------------------------------
-include mk/*.mk

test: $(TEST_TARGETS)
	@echo "make test: all suites passed"

# One build (cargo, cc, pip) first; then the writers in turn on one zone, the hot upgrade, and
# the zone removed with `shmmetrics rm`. The inner make is silent about what is already built.
demo: all examples $(BUILD)/examples/upgrade_worker python-venv
	@rm -f $(DEMO_ZONE) $(DEMO_ZONE).last
	@$(MAKE) -s --no-print-directory CARGO_QUIET=--quiet $(DEMO_TARGETS) upgrade-demo
	@echo "== clean up"
	@$(SHMMETRICS) rm $(DEMO_ZONE)
	@rm -f $(DEMO_ZONE).last

bench: $(BENCH_TARGETS)

# ---- install -------------------------------------------------------------------------------
install: lib cli
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR) \
	  $(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/site-functions $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	install -m 0755 $(SHMMETRICS) $(DESTDIR)$(BINDIR)/shmmetrics
	$(SHMMETRICS) completions bash > $(DESTDIR)$(DATADIR)/bash-completion/completions/shmmetrics
	$(SHMMETRICS) completions zsh > $(DESTDIR)$(DATADIR)/zsh/site-functions/_shmmetrics
	$(SHMMETRICS) completions fish > $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/shmmetrics.fish
	install -m 0755 $(LIBSO) $(DESTDIR)$(LIBDIR)/libshmmetrics.so.$(VERSION)
	ln -sf libshmmetrics.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libshmmetrics.so.$(MAJOR)
	ln -sf libshmmetrics.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libshmmetrics.so
	install -m 0644 $(LIBA) $(DESTDIR)$(LIBDIR)/libshmmetrics.a
	install -m 0644 $(HEADER) $(DESTDIR)$(INCLUDEDIR)/shmmetrics.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' shmmetrics.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/shmmetrics.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libshmmetrics.so* $(DESTDIR)$(LIBDIR)/libshmmetrics.a \
	      $(DESTDIR)$(INCLUDEDIR)/shmmetrics.h $(DESTDIR)$(LIBDIR)/pkgconfig/shmmetrics.pc \
	      $(DESTDIR)$(BINDIR)/shmmetrics $(DESTDIR)$(DATADIR)/bash-completion/completions/shmmetrics \
	      $(DESTDIR)$(DATADIR)/zsh/site-functions/_shmmetrics $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/shmmetrics.fish

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
