// Package log stands in for mosn.io/mosn/pkg/log in the throwaway build of MOSN's shared-memory
// metrics that bench/mosn/assemble.sh makes: MOSN's pkg/shm and pkg/metrics/shm call only these
// three methods. Messages go to stderr; Fatalf exits as MOSN's does.
package log

import (
	"fmt"
	"os"
)

type logger struct{}

// DefaultLogger and StartLogger are the two loggers MOSN's shm code uses.
var DefaultLogger, StartLogger logger

func (logger) Fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "mosn fatal: "+format+"\n", args...)
	os.Exit(1)
}

func (logger) Alertf(alert string, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "mosn alert "+alert+": "+format+"\n", args...)
}

func (logger) Warnf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "mosn warning: "+format+"\n", args...)
}
