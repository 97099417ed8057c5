// shmmetrics Go example: go-metrics code counts into a zone from two processes, then the whole
// zone is read back: every metric (C's and Python's too, when they wrote the same zone), the
// go-metrics JSON and the Prometheus exposition.
//
//	go_example [ZONE_PATH]   (default: zone "example" in $SHMMETRICS_DIR or /dev/shm)
//
// The parent re-runs itself as a worker process; both add 1000 to example_requests_total (the
// counter the C and Python examples count too) and to their own go_jobs_total{worker="N"}.
// Run it again: the counters keep counting.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	metrics "github.com/rcrowley/go-metrics"
	shmmetrics "github.com/shmmetrics/shmmetrics/bindings/go"
	"github.com/shmmetrics/shmmetrics/bindings/go/shmprom"
)

const workerEnv = "SHMMETRICS_EXAMPLE_WORKER"

func openZone() (*shmmetrics.Zone, error) {
	opts := &shmmetrics.Options{Create: true, Size: 1 << 20}
	if len(os.Args) > 1 {
		return shmmetrics.OpenPath(os.Args[1], opts)
	}
	return shmmetrics.Open("example", opts)
}

// count is what each process does: plain go-metrics code on a registry backed by the zone.
func count(r metrics.Registry, worker string) {
	requests := metrics.GetOrRegisterCounter("example_requests_total", r)
	jobs := metrics.GetOrRegisterCounter(fmt.Sprintf("go_jobs_total{worker=%q}", worker), r)
	for i := 0; i < 1000; i++ {
		requests.Inc(1) // one atomic add in shared memory
		jobs.Inc(1)
	}
}

func run() error {
	zone, err := openZone()
	if err != nil {
		return err
	}
	// Close keeps the metrics in the zone for the next run (Stop, or r.Unregister, would
	// release them).
	defer zone.Close()
	r := shmmetrics.NewRegistry(zone)
	if id := os.Getenv(workerEnv); id != "" {
		count(r, id)
		return nil
	}

	child := exec.Command(os.Args[0], os.Args[1:]...)
	child.Env = append(os.Environ(), workerEnv+"=2")
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	if err := child.Start(); err != nil {
		return err
	}
	count(r, "1")
	if err := child.Wait(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	metrics.GetOrRegisterGauge("go_workers", r).Update(2)
	metrics.GetOrRegisterGaugeFloat64("go_load_ratio", r).Update(0.25)
	metrics.GetOrRegisterMeter("go_local_meter", r).Mark(1) // go-metrics kinds the zone has not stay on the heap

	fmt.Printf("== Go: every metric in %s\n", zone.Path())
	ms, err := zone.Metrics()
	if err != nil {
		return err
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	for _, m := range ms {
		if m.Kind == shmmetrics.KindGaugeF64 {
			fmt.Printf("%-40s %-11s %g\n", m.Name, m.Kind, m.Float)
		} else {
			fmt.Printf("%-40s %-11s %d\n", m.Name, m.Kind, m.Int)
		}
	}
	info, err := zone.Info()
	if err != nil {
		return err
	}
	fmt.Printf("zone: %d/%d entries used, %d attached\n", info.Used, info.Capacity, info.Attached)

	fmt.Println("== go-metrics JSON of the zone's registry (metrics.WriteJSONOnce)")
	metrics.WriteJSONOnce(r, os.Stdout)
	metrics.GetOrRegisterMeter("go_local_meter", r).Stop()

	fmt.Println("== Prometheus exposition (shmprom.Collector)")
	reg := prometheus.NewRegistry()
	reg.MustRegister(shmprom.NewCollector(zone, shmprom.Options{}))
	families, err := reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(os.Stdout, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "go_example:", err)
		os.Exit(1)
	}
}
