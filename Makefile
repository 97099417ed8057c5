# shmmetrics: `make` builds the library, the header and the `shmmetrics` command; `make demo`
# runs the main job; `make test` runs every suite. Language-specific rules live in mk/*.mk and
# add themselves to TEST_TARGETS / DEMO_TARGETS (DEMO_BUILD: what the demo builds first) /
# BENCH_TARGETS.

CARGO      ?= cargo
CC         ?= cc
CXX        ?= c++
OBJCOPY    ?= objcopy
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
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
# Newer than everything built from the library, the header or the command whenever cargo
# changed one of them.
LIB_STAMP  := $(RELEASE)/.shmmetrics-stamp

CWARN      := -Wall -Wextra -Wpedantic -Werror
CFLAGS     ?= -O2 -g
LINK_SO    := -L$(RELEASE) -Wl,-rpath,$(RELEASE) -lshmmetrics

TEST_TARGETS  := rust-test c-test header-test check-header lint install-test
DEMO_TARGETS  := c-demo
DEMO_BUILD    :=
BENCH_TARGETS :=

.PHONY: all lib header cli check-header test demo bench install uninstall clean \
        rust-test c-test c-test-asan c-test-valgrind header-test lint c-demo examples install-test

all: lib cli

# The library, the header and the shmmetrics command (cli/): one cargo invocation for the whole
# workspace per make run, however many rules (and parallel jobs) need them. Rules that use them
# depend on $(LIB_STAMP) (or on lib or cli, or on the files, which lead to the same recipe).
# Cargo decides what is stale; build.rs regenerates the header from src/ffi/ and links
# libshmmetrics.so.MAJOR beside the library. A make started by this one (demo, install-test)
# gets SHMM_LIB_BUILT=1 and leaves cargo alone.
lib header cli: $(LIB_STAMP)

$(LIBSO) $(LIBA) $(HEADER) $(SHMMETRICS): $(LIB_STAMP) ;

ifdef SHMM_LIB_BUILT
$(LIB_STAMP): ;
else
$(LIB_STAMP): FORCE
	$(CARGO) build --release --locked --workspace
	@if [ ! -e $@ ] || [ $(LIBSO) -nt $@ ] || [ $(LIBA) -nt $@ ] || [ $(HEADER) -nt $@ ] || \
	    [ $(SHMMETRICS) -nt $@ ]; then touch $@; fi
endif

FORCE:

# build.rs regenerates include/shmmetrics.h from the source on every build, so a header that
# differs from the committed one after a build means the committed header was stale.
check-header: lib
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git diff --exit-code HEAD -- $(HEADER) >/dev/null || { \
	    echo "include/shmmetrics.h differs from the committed header: commit the regenerated one"; \
	    git --no-pager diff HEAD -- $(HEADER) | head -40; exit 1; }; \
	  echo "header: committed header matches cbindgen's output"; \
	else echo "header: not a git checkout, staleness check skipped"; fi

# Every cargo run selects the whole workspace. A run without the cli crate resolves the build
# script's dependencies (syn, shared with clap's derive macros) with other features, so it builds
# the library under another hash into the same unsuffixed files (libshmmetrics.so, .a, .rlib):
# runs alternating between the two would rebuild it each time.
CARGO_TEST := $(CARGO) test --locked --release --workspace

# The Rust tests of the library and of the shmmetrics command.
rust-test:
	$(CARGO_TEST)

# The fuzz crate's fmt and clippy are added in mk/hostile.mk.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --release --workspace --all-targets -- -D warnings

# ---- C -------------------------------------------------------------------------------------
C_TESTS := $(patsubst tests/c/%.c,%,$(wildcard tests/c/test_*.c))

$(BUILD)/c/%: tests/c/%.c tests/c/check.h $(LIB_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(CWARN) $(CFLAGS) -Iinclude $< -o $@ $(LINK_SO)

$(BUILD)/c-asan/%: tests/c/%.c tests/c/check.h $(LIB_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(CWARN) -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -Iinclude $< -o $@ $(LINK_SO)

c-test-asan: $(addprefix $(BUILD)/c-asan/,$(C_TESTS))
	@for t in $^; do echo "== asan $$t"; ASAN_OPTIONS=detect_leaks=1 $$t || exit 1; done

c-test-valgrind: $(addprefix $(BUILD)/c/,$(C_TESTS))
	@for t in $^; do echo "== valgrind $$t"; \
	  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=no $$t || exit 1; done

c-test: c-test-asan c-test-valgrind

# The header alone, included twice, as C99/C11 and as C++11/17, with every warning an error.
header-test: $(LIB_STAMP)
	@mkdir -p $(BUILD)
	@printf '#include "shmmetrics.h"\n#include "shmmetrics.h"\nint main(void) { return shm_abi_version() == 0; }\n' > $(BUILD)/header_twice.c
	$(CC) -std=c99 $(CWARN) -Iinclude -fsyntax-only $(BUILD)/header_twice.c
	$(CC) -std=c11 $(CWARN) -Iinclude -fsyntax-only $(BUILD)/header_twice.c
	$(CXX) -std=c++11 $(CWARN) -Iinclude -fsyntax-only -x c++ $(BUILD)/header_twice.c
	$(CXX) -std=c++17 $(CWARN) -Iinclude -fsyntax-only -x c++ $(BUILD)/header_twice.c

# ---- examples ------------------------------------------------------------------------------
$(BUILD)/examples/c_example: examples/c/example.c $(LIB_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(CWARN) $(CFLAGS) -Iinclude $< -o $@ $(LINK_SO)

examples: $(BUILD)/examples/c_example

DEMO_ZONE ?= $(BUILD)/demo.zone

# After each writer, DEMO_STEP shows the shared counter with `shmmetrics dump` and what the
# writer added to it. Each language's demo (in DEMO_TARGETS) adds to example_requests_total in
# $(DEMO_ZONE) and ends with `@$(DEMO_STEP) LANGUAGE`.
DEMO_STEP = examples/demo/step.sh $(SHMMETRICS) $(DEMO_ZONE)

c-demo: $(BUILD)/examples/c_example cli
	@echo "== C: two processes each add 1000 to example_requests_total in $(DEMO_ZONE)"
	@$(BUILD)/examples/c_example $(DEMO_ZONE)
	@$(DEMO_STEP) C

# The README's C program, built and run with each of the README's commands as printed (from the
# tree, installed into a prefix, installed into /usr/local with ldconfig), and what make install
# promises (lean libraries, debug info gdb finds, DESTDIR): see tests/readme/run.sh.
# `+`: the nested makes of the README's install commands share this make's job slots.
install-test: $(LIB_STAMP)
	+CC="$(CC)" CWARN="$(CWARN)" sh $(TOP)/tests/readme/run.sh $(TOP) $(BUILD)/readme $(VERSION) $(MAJOR)

# ---- language rules ------------------------------------------------------------------------
-include mk/*.mk

test: $(TEST_TARGETS)
	@echo "make test: all suites passed"

# One build first (cargo, cc, and what mk/*.mk add to DEMO_BUILD: pip, go build); then the
# writers in turn on one zone, the hot upgrade, and the zone removed with `shmmetrics rm`. The
# inner make is silent about what is already built.
demo: all examples $(DEMO_BUILD)
	@rm -f $(DEMO_ZONE) $(DEMO_ZONE).last
	@$(MAKE) -s --no-print-directory $(DEMO_TARGETS) upgrade-demo SHMM_LIB_BUILT=1
	@echo "== clean up"
	@$(SHMMETRICS) rm $(DEMO_ZONE)
	@rm -f $(DEMO_ZONE).last

bench: $(BENCH_TARGETS)

# ---- install -------------------------------------------------------------------------------
# Release builds keep debug info (debug = 1 in Cargo.toml), for the tests' backtraces and for
# debugging from the tree. Installed libraries are lean: the shared library's debug info moves to
# $(LIBDIR)/.debug/, where gdb looks for the file its .gnu_debuglink names; the static library
# loses its debug info (link the tree's target/release/libshmmetrics.a to debug a static build).
# The shmmetrics command is installed without debug info, with bash, zsh and fish completions.
SO_DEBUG := $(LIBDIR)/.debug/libshmmetrics.so.$(VERSION).debug
BASH_COMPLETION := $(DATADIR)/bash-completion/completions/shmmetrics
ZSH_COMPLETION  := $(DATADIR)/zsh/site-functions/_shmmetrics
FISH_COMPLETION := $(DATADIR)/fish/vendor_completions.d/shmmetrics.fish

install: lib cli
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/.debug $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(BINDIR) $(addprefix $(DESTDIR),$(dir $(BASH_COMPLETION) $(ZSH_COMPLETION) $(FISH_COMPLETION)))
	$(OBJCOPY) --strip-debug $(SHMMETRICS) $(DESTDIR)$(BINDIR)/shmmetrics
	chmod 0755 $(DESTDIR)$(BINDIR)/shmmetrics
	$(SHMMETRICS) completions bash > $(DESTDIR)$(BASH_COMPLETION)
	$(SHMMETRICS) completions zsh > $(DESTDIR)$(ZSH_COMPLETION)
	$(SHMMETRICS) completions fish > $(DESTDIR)$(FISH_COMPLETION)
	$(OBJCOPY) --only-keep-debug $(LIBSO) $(DESTDIR)$(SO_DEBUG)
	chmod 0644 $(DESTDIR)$(SO_DEBUG)
	$(OBJCOPY) --strip-debug --add-gnu-debuglink=$(DESTDIR)$(SO_DEBUG) $(LIBSO) $(DESTDIR)$(LIBDIR)/libshmmetrics.so.$(VERSION)
	chmod 0755 $(DESTDIR)$(LIBDIR)/libshmmetrics.so.$(VERSION)
	ln -sf libshmmetrics.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libshmmetrics.so.$(MAJOR)
	ln -sf libshmmetrics.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libshmmetrics.so
	$(OBJCOPY) --strip-debug $(LIBA) $(DESTDIR)$(LIBDIR)/libshmmetrics.a
	chmod 0644 $(DESTDIR)$(LIBDIR)/libshmmetrics.a
	install -m 0644 $(HEADER) $(DESTDIR)$(INCLUDEDIR)/shmmetrics.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' shmmetrics.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/shmmetrics.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libshmmetrics.so* $(DESTDIR)$(LIBDIR)/libshmmetrics.a $(DESTDIR)$(SO_DEBUG) \
	      $(DESTDIR)$(INCLUDEDIR)/shmmetrics.h $(DESTDIR)$(LIBDIR)/pkgconfig/shmmetrics.pc \
	      $(DESTDIR)$(BINDIR)/shmmetrics $(addprefix $(DESTDIR),$(BASH_COMPLETION) $(ZSH_COMPLETION) $(FISH_COMPLETION))

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
