#!/bin/sh
# Builds MOSN's own shared-memory metrics (mosn.io/mosn v1.0.1: pkg/shm and pkg/metrics/shm)
# with bench/mosn/main.go into OUT/mosnbench, for the registration rows of `make bench`.
#
#   sh bench/mosn/assemble.sh OUT
#
# The module comes from the Go module proxy into the Go module cache when this runs; none of it
# is ever committed here. It cannot be built as a dependency: v1.0.1's go.mod requires modules
# that no longer resolve, and the checksum database may not know the version (hence GONOSUMDB
# for mosn.io). So OUT becomes a throwaway module named mosn.io/mosn holding just MOSN's two
# packages, copied unmodified (tests left out), plus small stand-ins of ours for the only two
# other MOSN packages they import (bench/mosn/standin: pkg/log's three logging calls and
# pkg/types' MosnConfigPath). go-metrics is the version bindings/go pins.
set -eu
out=${1:?usage: assemble.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
GO=${GO:-go}
MOSN_VERSION=${MOSN_VERSION:-v1.0.1}

dir=$(GONOSUMDB=mosn.io GOFLAGS=-mod=mod "$GO" mod download -json "mosn.io/mosn@$MOSN_VERSION" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] && [ -f "$dir/pkg/metrics/shm/zone.go" ] || { echo "assemble.sh: no mosn.io/mosn@$MOSN_VERSION source" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/pkg/shm" "$out/pkg/metrics/shm" "$out/pkg/log" "$out/pkg/types" "$out/cmd/mosnbench"
for pkg in pkg/shm pkg/metrics/shm; do
  for f in "$dir/$pkg"/*.go; do
    case $f in *_test.go) ;; *) cp "$f" "$out/$pkg/" ;; esac
  done
done
chmod -R u+w "$out"
cp "$here/standin/log/log.go" "$out/pkg/log/"
cp "$here/standin/types/types.go" "$out/pkg/types/"
cp "$here/main.go" "$out/cmd/mosnbench/"

metrics=$(sed -n 's/^require github.com\/rcrowley\/go-metrics \(v[^ ]*\)$/\1/p' "$top/bindings/go/go.mod")
[ -n "$metrics" ] || { echo "assemble.sh: no go-metrics version in bindings/go/go.mod" >&2; exit 1; }
printf 'module mosn.io/mosn\n\ngo 1.21\n\nrequire github.com/rcrowley/go-metrics %s\n' "$metrics" > "$out/go.mod"
grep "^github.com/rcrowley/go-metrics $metrics" "$top/bindings/go/go.sum" > "$out/go.sum"
echo "MOSN $MOSN_VERSION from $dir" > "$out/SOURCE"
cd "$out"
env -u GOWORK "$GO" vet ./cmd/mosnbench
env -u GOWORK "$GO" build -buildvcs=false -o mosnbench ./cmd/mosnbench
