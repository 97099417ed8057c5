#!/bin/sh
# The README's C build and install commands, run exactly as printed (`make install-test`).
# Each block marked `<!-- make test: ID -->` in README.md is extracted and run with `sh -e`:
#   from-tree                   in a directory laid out like the source tree (include/, target/)
#   prefix-install/-build       with HOME in the scratch directory: an install no root needs
#   system-install/-build       as root only, in a private mount namespace where /usr/local/lib,
#                               /usr/local/include and /etc are throwaway (ldconfig included)
# plus what `make install` promises: soname links, lean libraries, debug info gdb can find, the
# shmmetrics command with its completions, and DESTDIR staging. Every program is the README's own C snippet and must run without
# LD_LIBRARY_PATH, opening its zone under $SHMMETRICS_DIR.
#
# usage: run.sh TOP SCRATCH VERSION MAJOR  (CC and CWARN from the environment)
set -eu
top=$1 scratch=$2 version=$3 major=$4 step=${5:-all}
unset LD_LIBRARY_PATH PKG_CONFIG_PATH
export SHMMETRICS_DIR="$scratch/zones" HOME="$scratch/home"
# The library was built by the make that runs this: nested `make install`s need not ask cargo.
export SHMM_LIB_BUILT=1

fail() { echo "install-test: $*" >&2; exit 1; }

# block ID FILE: the README's block ID, into FILE.
block() {
    awk -v id="$1" -f "$top/tests/readme/block.awk" "$top/README.md" > "$2"
    [ -s "$2" ] || fail "README.md has no code block marked <!-- make test: $1 -->"
}

# run ID DIR: runs block ID in DIR; the README program must have opened its zone.
run() {
    block "$1" "$scratch/$1.sh"
    rm -f "$SHMMETRICS_DIR/shmmetrics-myapp"
    echo "== README $1 (in $2):" && sed 's/^/   /' "$scratch/$1.sh"
    (cd "$2" && sh -e "$scratch/$1.sh") || fail "README block $1 failed"
    [ -f "$SHMMETRICS_DIR/shmmetrics-myapp" ] || fail "README block $1: the program did not create its zone"
}

# run_install ID: runs install block ID in the source tree.
run_install() {
    block "$1" "$scratch/$1.sh"
    echo "== README $1 (in the source tree):" && sed 's/^/   /' "$scratch/$1.sh"
    (cd "$top" && sh -e "$scratch/$1.sh") >/dev/null || fail "README block $1 failed"
}

# app DIR: a directory holding the README's C program as app.c.
app() {
    mkdir -p "$1" && block app.c "$1/app.c"
}

size() { wc -c < "$1" | tr -d ' '; }

# In a private mount namespace (run.sh ... system): /usr/local/lib, /usr/local/include and /etc
# become throwaway copies, so `sudo make install && sudo ldconfig` changes nothing outside.
if [ "$step" = system ]; then
    mount -t tmpfs tmpfs "$scratch/ns" && mkdir "$scratch/ns/upper" "$scratch/ns/work"
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$scratch/ns/upper,workdir=$scratch/ns/work" /etc
    mount -t tmpfs tmpfs /usr/local/lib && mount -t tmpfs tmpfs /usr/local/include
    PATH=$scratch/bin:$PATH # sudo: we are root already
    run_install system-install
    run system-build "$scratch/system"
    exit 0
fi

rm -rf "$scratch" && mkdir -p "$scratch/zones" "$scratch/home" "$scratch/bin"
app "$scratch"
${CC:-cc} -std=c11 ${CWARN:-} -fsyntax-only -I"$top/include" "$scratch/app.c"

# From the tree.
app "$scratch/tree"
ln -s "$top/include" "$top/target" "$scratch/tree/"
run from-tree "$scratch/tree"

# Into a prefix of one's own.
run_install prefix-install
libdir=$HOME/.local/lib
app "$scratch/prefix"
run prefix-build "$scratch/prefix"

# What make install promises.
lib=$libdir/libshmmetrics.so.$version
[ "$(readlink "$libdir/libshmmetrics.so.$major")" = "libshmmetrics.so.$version" ] || fail "no soname link libshmmetrics.so.$major"
[ "$(readlink "$libdir/libshmmetrics.so")" = "libshmmetrics.so.$major" ] || fail "no link libshmmetrics.so"
tree_so=$(size "$top/target/release/libshmmetrics.so") tree_a=$(size "$top/target/release/libshmmetrics.a")
inst_so=$(size "$lib") inst_a=$(size "$libdir/libshmmetrics.a") debug=$(size "$libdir/.debug/libshmmetrics.so.$version.debug")
echo "install: libshmmetrics.so $tree_so bytes in the tree, $inst_so installed (+ $debug in .debug/);" \
     "libshmmetrics.a $tree_a in the tree, $inst_a installed"
[ $((inst_so * 4)) -lt "$tree_so" ] || fail "the installed libshmmetrics.so is not lean: $inst_so bytes"
[ $((inst_a * 4)) -lt $((tree_a * 3)) ] || fail "the installed libshmmetrics.a is not lean: $inst_a bytes"
! readelf -S "$lib" | grep -q '\.debug_info' || fail "the installed libshmmetrics.so has debug info"
# readelf follows the .gnu_debuglink (checking its CRC) to the .debug file, as gdb does.
readelf --debug-dump=follow-links --debug-dump=info "$lib" 2>/dev/null | grep -q ': shm_zone_open_in$' ||
    fail "no debug info for shm_zone_open_in reachable from $lib"
if command -v gdb >/dev/null; then
    gdb -nx -batch -ex 'info line shm_zone_open_in' "$lib" 2>&1 | grep -q 'src/ffi/zone.rs' ||
        fail "gdb finds no line information for shm_zone_open_in in $lib"
    echo "install: gdb finds the installed library's debug info"
fi

# The shmmetrics command, lean, reads the zone the README program just wrote; its completions.
bin=$HOME/.local/bin/shmmetrics
! readelf -S "$bin" | grep -q '\.debug_info' || fail "the installed shmmetrics has debug info"
"$bin" dump myapp | grep -q '^http_requests_total  *counter  *1$' || fail "the installed shmmetrics cannot dump myapp"
for f in bash-completion/completions/shmmetrics zsh/site-functions/_shmmetrics fish/vendor_completions.d/shmmetrics.fish; do
    [ -s "$HOME/.local/share/$f" ] || fail "no completion file share/$f"
done
echo "install: shmmetrics $(size "$top/target/release/shmmetrics") bytes in the tree, $(size "$bin") installed;" \
     "it reads the README program's zone; bash, zsh and fish completions"

# DESTDIR staging, as a package build does it.
(cd "$top" && make --no-print-directory install DESTDIR="$scratch/stage" PREFIX=/usr) >/dev/null
[ -L "$scratch/stage/usr/lib/libshmmetrics.so.$major" ] && [ -f "$scratch/stage/usr/include/shmmetrics.h" ] &&
    [ -x "$scratch/stage/usr/bin/shmmetrics" ] &&
    grep -q '^libdir=/usr/lib$' "$scratch/stage/usr/lib/pkgconfig/shmmetrics.pc" || fail "DESTDIR install is incomplete"

# Into /usr/local, with ldconfig: only where a private mount namespace can be had.
if [ "$(id -u)" = 0 ] && unshare --mount true 2>/dev/null; then
    printf '#!/bin/sh\nexec "$@"\n' > "$scratch/bin/sudo" && chmod +x "$scratch/bin/sudo"
    app "$scratch/system" && mkdir "$scratch/ns"
    unshare --mount sh "$0" "$top" "$scratch" "$version" "$major" system
else
    echo "install-test: README system-install skipped: it needs root and a private mount namespace"
fi
echo "install-test: the README's build commands work as printed"
