// Command relworker is the Go process of the reliability suite (tests/reliability_*.rs, built
// by mk/go.mk and passed as SHMM_REL_GO_WORKER):
//
//	relworker xlang ZONE_PATH ID N GATE_PATH
//	    the cross-language protocol of tests/reliability/c/xlang_worker.c, with xl_by_go
//	relworker crash ZONE_PATH LOG_PATH SLOT SEED
//	    a writer of the SIGKILL test: the Rust worker's operations and shared-memory log
//	    (tests/reliability_crash.rs), through this binding, until the log says stop
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	shmmetrics "github.com/shmmetrics/shmmetrics/bindings/go"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: relworker xlang ZONE_PATH ID N GATE_PATH | crash ZONE_PATH LOG_PATH SLOT SEED")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "xlang":
		err = xlang(os.Args[2], num(os.Args[3]), num(os.Args[4]), os.Args[5])
	case "crash":
		err = crash(os.Args[2], os.Args[3], num(os.Args[4]), num(os.Args[5]))
	default:
		err = fmt.Errorf("unknown role %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "relworker:", err)
		os.Exit(2)
	}
}

func num(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relworker: not a number:", s)
		os.Exit(2)
	}
	return n
}

// xlang registers xl_total, xl_by_go, xl_gauge and xl_f64, creates GATE.ready.ID, waits for
// GATE, then n times adds 1 to both counters and every 64th time sets xl_gauge to
// (id << 40) | (i / 64) and adds 0.25 to xl_f64.
func xlang(zonePath string, id, n uint64, gate string) error {
	z, err := shmmetrics.OpenPath(zonePath, nil)
	if err != nil {
		return err
	}
	total, err := shmmetrics.NewCounter(z, "xl_total")
	if err != nil {
		return err
	}
	mine, err := shmmetrics.NewCounter(z, "xl_by_go")
	if err != nil {
		return err
	}
	gauge, err := shmmetrics.NewGauge(z, "xl_gauge")
	if err != nil {
		return err
	}
	f64, err := shmmetrics.NewGaugeFloat64(z, "xl_f64")
	if err != nil {
		return err
	}
	if err := os.WriteFile(fmt.Sprintf("%s.ready.%d", gate, id), nil, 0o600); err != nil {
		return err
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(gate); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gate never opened")
		}
	}
	var f64adds, lastGauge uint64
	for i := uint64(1); i <= n; i++ {
		total.Inc(1)
		mine.Inc(1)
		if i%64 == 0 {
			lastGauge = id<<40 | i/64
			gauge.Update(int64(lastGauge))
			f64.Add(0.25)
			f64adds++
		}
	}
	fmt.Printf("done incs=%d f64adds=%d last_gauge=%d\n", n, f64adds, lastGauge)
	return z.Close() // the metrics stay: the parent holds them too
}
