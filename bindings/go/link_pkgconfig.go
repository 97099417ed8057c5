//go:build shmmetrics_pkgconfig

package shmmetrics

// An installed library (`make install`): header and linker flags from pkg-config's
// shmmetrics.pc. Select it with `go build -tags shmmetrics_pkgconfig` (docs/GO.md).

// #cgo pkg-config: shmmetrics
import "C"
