package shmmetrics

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// helperRole is set when the test binary runs as a helper process of a cross-process test.
const helperRole = "SHMMETRICS_GO_TEST_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperRole); role != "" {
		if err := runHelper(role); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	code := m.Run()
	printBenchRatios()
	os.Exit(code)
}

func envInt(k string) int64 {
	v, err := strconv.ParseInt(os.Getenv(k), 10, 64)
	if err != nil {
		panic(k + " not set")
	}
	return v
}
