//go:build !shmmetrics_pkgconfig

package shmmetrics

// In this repository: the header from include/ and the library `make` builds in
// target/release, found at run time through the rpath, so `go test ./...` needs no
// environment. Outside the repository, build with -tags shmmetrics_pkgconfig (link_pkgconfig.go).

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../target/release -Wl,-rpath,${SRCDIR}/../../target/release -lshmmetrics
import "C"
