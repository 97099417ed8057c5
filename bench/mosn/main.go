// Command mosnbench is MOSN's side of the registration benchmark (bench/run.py): the same
// protocol and the same names as bench/c/register.c, through MOSN's own code
// (mosn.io/mosn v1.0.1, pkg/metrics/shm), built by bench/mosn/assemble.sh in a throwaway module.
//
//	mosnbench DIR METRICS CAPACITY
//
// Times are CPU time of the process (all threads), as the C worker's.
//
// Creates the zone DIR/mosn_shm_bench with room for CAPACITY entries, registers counters
// 0..METRICS-1, prints "ready", then answers one line per command on stdin:
//
//	existing B   NewShmCounterFunc(name)() for B registered names (scattered): ns per call,
//	             twice (the C worker prints open+close, then open alone; MOSN has no close)
//	held_ref B   the same call again: ns per call
//	new B        NewShmCounterFunc(name)() for B new names: ns per call; in batches of
//	             METRICS/10, each stopped (untimed) before the next, as the C worker does
//	quit 0
//
// MOSN never decrements its entry count (entries freed by Stop are reused, but the count that
// guards capacity only grows), so CAPACITY must cover METRICS plus every new name of the run.
package main

import (
	"bufio"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	gometrics "github.com/rcrowley/go-metrics"
	"mosn.io/mosn/pkg/metrics/shm"
	"mosn.io/mosn/pkg/types"
)

// metricName is bench/c/bench.h's metric_name.
func metricName(i uint64) string {
	return fmt.Sprintf("app_requests_total{route=\"/api/v1/item/%d\",code=\"200\"}", i)
}

// scattered is bench/c/bench.h's scattered.
func scattered(k, n uint64) uint64 { return (k % n) * 2654435761 % n }

func names(first, n, modulo uint64) []string {
	out := make([]string, n)
	for k := uint64(0); k < n; k++ {
		i := first + k
		if modulo != 0 {
			i = scattered(first+k, modulo)
		}
		out[k] = metricName(i)
	}
	return out
}

func register(name string) shm.ShmCounter {
	c, ok := shm.NewShmCounterFunc(name)().(shm.ShmCounter)
	if !ok {
		fmt.Fprintf(os.Stderr, "mosnbench: %q: the zone returned no shared counter (full?)\n", name)
		os.Exit(2)
	}
	return c
}

// cpuNs is the CPU time of the whole process (every thread: the garbage collector's work
// counts), as bench/c/bench.h's cpu_ns.
func cpuNs() int64 {
	var ts syscall.Timespec
	const clockProcessCputimeID = 2
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockProcessCputimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		fmt.Fprintln(os.Stderr, "mosnbench: clock_gettime:", e)
		os.Exit(2)
	}
	return ts.Nano()
}

func timed(ns []string) (float64, []shm.ShmCounter) {
	out := make([]shm.ShmCounter, len(ns))
	start := cpuNs()
	for k, n := range ns {
		out[k] = register(n)
	}
	return float64(cpuNs()-start) / float64(len(ns)), out
}

func main() {
	var metrics, capacity uint64
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: mosnbench DIR METRICS CAPACITY")
		os.Exit(2)
	}
	if _, err := fmt.Sscan(os.Args[2], &metrics); err != nil || metrics < 1 {
		fmt.Fprintln(os.Stderr, "mosnbench: bad METRICS")
		os.Exit(2)
	}
	if _, err := fmt.Sscan(os.Args[3], &capacity); err != nil || capacity < metrics {
		fmt.Fprintln(os.Stderr, "mosnbench: bad CAPACITY")
		os.Exit(2)
	}
	types.MosnConfigPath = os.Args[1]
	// MOSN's sizing (pkg/metrics/shm/zone.go): entries = 2 * ((size - 28) / 260).
	slots := (capacity + 1) / 2
	shm.InitMetricsZone("bench", int(slots*260+28))
	for i := uint64(0); i < metrics; i++ {
		register(metricName(i)).Inc(int64(i))
	}
	var _ gometrics.Counter = shm.ShmCounter(0) // MOSN's counters are go-metrics counters
	fmt.Println("ready")

	in := bufio.NewScanner(os.Stdin)
	var existingAt, newAt uint64 = 0, metrics
	for in.Scan() {
		var cmd string
		var b uint64
		if _, err := fmt.Sscan(in.Text(), &cmd, &b); err != nil || b == 0 {
			break
		}
		switch cmd {
		case "existing", "held_ref":
			ns, _ := timed(names(existingAt, b, metrics))
			existingAt += b
			if cmd == "existing" {
				fmt.Printf("%.1f %.1f\n", ns, ns)
			} else {
				fmt.Printf("%.1f\n", ns)
			}
		case "new":
			// In batches of a tenth of the zone, as the C worker does.
			batch := max(metrics/10, 1)
			var spent float64
			for done := uint64(0); done < b; done += batch {
				n := min(batch, b-done)
				ns, got := timed(names(newAt, n, 0))
				newAt += n
				spent += ns * float64(n)
				for _, c := range got {
					c.Stop()
				}
			}
			fmt.Printf("%.1f\n", spent/float64(b))
		default:
			fmt.Fprintf(os.Stderr, "mosnbench: unknown command %q\n", cmd)
			os.Exit(2)
		}
	}
}
