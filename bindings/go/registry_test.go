package shmmetrics

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	metrics "github.com/rcrowley/go-metrics"
)

// Code that only takes a registry, and uses go-metrics' own GetOrRegister functions, gets
// zone counters and gauges; the other kinds stay on the heap.
func TestRegistryPutsGoMetricsCountersInTheZone(t *testing.T) {
	z := newZone(t, 0)
	r := NewRegistry(z)
	var lib func(metrics.Registry) = func(r metrics.Registry) { // e.g. a Kafka client
		metrics.GetOrRegisterCounter("requests", r).Inc(3)
		metrics.GetOrRegisterGauge("workers", r).Update(4)
		metrics.GetOrRegisterGaugeFloat64("temperature", r).Update(21.5)
		metrics.GetOrRegisterMeter("rate", r).Mark(1)
		metrics.GetOrRegisterHistogram("latency", r, metrics.NewUniformSample(10)).Update(5)
	}
	lib(r)
	lib(r) // the second time finds them
	want := map[string]float64{"requests": 6, "workers": 4, "temperature": 21.5}
	ms := must[[]Metric](t)(z.Metrics())
	if len(ms) != len(want) {
		t.Fatalf("the zone holds %v, want only %v", ms, want)
	}
	for _, m := range ms {
		if want[m.Name] != m.Float {
			t.Errorf("%s = %v in the zone, want %v", m.Name, m.Float, want[m.Name])
		}
	}
	for name, typ := range map[string]string{"requests": "*shmmetrics.Counter", "workers": "*shmmetrics.Gauge", "temperature": "*shmmetrics.GaugeFloat64", "rate": "*metrics.StandardMeter", "latency": "*metrics.StandardHistogram"} {
		if got := typeName(r.Get(name)); got != typ {
			t.Errorf("r.Get(%q) is a %s, want %s", name, got, typ)
		}
	}
	metrics.GetOrRegisterMeter("rate", r).Stop()
}

func typeName(v interface{}) string { return fmt.Sprintf("%T", v) }

// Each, Get and GetAll show the zone's metrics that other attachments (processes) registered,
// as snapshots.
func TestRegistrySeesOtherProcessesMetrics(t *testing.T) {
	z := newZone(t, 0)
	other := must[*Zone](t)(OpenPath(z.Path(), nil)) // another attachment, as another process has
	defer other.Close()
	must[*Counter](t)(NewCounter(other, "theirs")).Inc(2)
	must[*GaugeFloat64](t)(NewGaugeFloat64(other, "their_f64")).Update(0.5)
	r := NewRegistry(z)
	metrics.GetOrRegisterCounter("mine", r).Inc(1)

	seen := map[string]interface{}{}
	r.Each(func(name string, m interface{}) {
		if _, dup := seen[name]; dup {
			t.Errorf("Each gave %s twice", name)
		}
		seen[name] = m
	})
	if len(seen) != 3 || seen["theirs"] != metrics.CounterSnapshot(2) || seen["their_f64"] != metrics.GaugeFloat64Snapshot(0.5) {
		t.Fatalf("Each saw %#v", seen)
	}
	if _, ok := seen["mine"].(*Counter); !ok {
		t.Fatalf("Each gave this registry's counter as a %T", seen["mine"])
	}
	if r.Get("theirs") != metrics.CounterSnapshot(2) || r.Get("nobody") != nil {
		t.Fatalf("Get: %v %v", r.Get("theirs"), r.Get("nobody"))
	}
	if all := r.GetAll(); len(all) != 3 || all["theirs"]["count"] != int64(2) || all["mine"]["count"] != int64(1) {
		t.Fatalf("GetAll: %v", all)
	}
}

// WriteJSONOnce prints a zone registry exactly as it prints a standard registry holding the
// same values (go-metrics' json_test plus every kind).
func TestRegistryWriteJSONOnceGolden(t *testing.T) {
	z := newZone(t, 0)
	r := NewRegistry(z)
	var buf bytes.Buffer
	metrics.GetOrRegisterCounter("counter", r)
	metrics.WriteJSONOnce(r, &buf)
	if got := buf.String(); got != "{\"counter\":{\"count\":0}}\n" {
		t.Fatalf("go-metrics' json_test: %q", got)
	}

	std := metrics.NewRegistry()
	for _, reg := range []metrics.Registry{r, std} {
		metrics.GetOrRegisterCounter("c", reg).Inc(3)
		metrics.GetOrRegisterGauge("g", reg).Update(7)
		metrics.GetOrRegisterGaugeFloat64("gf", reg).Update(1.5)
		h := metrics.GetOrRegisterHistogram("h", reg, metrics.NewUniformSample(100))
		for i := int64(1); i <= 4; i++ {
			h.Update(i)
		}
	}
	std.Register("counter", metrics.NewCounter())
	other := must[*Zone](t)(OpenPath(z.Path(), nil))
	defer other.Close()
	must[*Counter](t)(NewCounter(other, "x")).Inc(2)
	std.Register("x", metrics.CounterSnapshot(2))

	const golden = `{"c":{"count":3},"counter":{"count":0},"g":{"value":7},"gf":{"value":1.5},` +
		`"h":{"75%":3.75,"95%":4,"99%":4,"99.9%":4,"count":4,"max":4,"mean":2.5,"median":2.5,"min":1,"stddev":1.118033988749895},` +
		`"x":{"count":2}}` + "\n"
	for name, reg := range map[string]metrics.Registry{"zone registry": r, "standard registry": std} {
		buf.Reset()
		metrics.WriteJSONOnce(reg, &buf)
		if buf.String() != golden {
			t.Errorf("%s:\n got %s\nwant %s", name, buf.String(), golden)
		}
	}
}

// WriteOnce (the text exporter) prints the same as for a standard registry.
func TestRegistryWriteOnce(t *testing.T) {
	r := NewRegistry(newZone(t, 0))
	std := metrics.NewRegistry()
	for _, reg := range []metrics.Registry{r, std} {
		metrics.GetOrRegisterCounter("requests", reg).Inc(12)
		metrics.GetOrRegisterGauge("workers", reg).Update(-3)
		metrics.GetOrRegisterGaugeFloat64("ratio", reg).Update(0.25)
	}
	var got, want bytes.Buffer
	metrics.WriteOnce(r, &got)
	metrics.WriteOnce(std, &want)
	if got.String() != want.String() || !bytes.Contains(got.Bytes(), []byte("counter requests\n  count:              12\n")) {
		t.Fatalf("zone registry:\n%s\nstandard registry:\n%s", got.String(), want.String())
	}
}

// A name the zone refuses stays on the heap, and OnError says why; no panic, no nil.
func TestRegistryFallsBackToTheHeap(t *testing.T) {
	var mu sync.Mutex
	var errs []error
	onError := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	path := zonePath(t)
	z := must[*Zone](t)(OpenPath(path, &Options{Create: true, Size: 24576, OnError: onError}))
	defer z.Close()
	r := NewRegistry(z)
	metrics.GetOrRegisterCounter("taken", r)
	metrics.GetOrRegisterGauge("taken", NewRegistry(z)).Update(1) // kind mismatch
	for i := 0; len(errs) < 2 && i < 1000; i++ {
		metrics.GetOrRegisterCounter(fmt.Sprintf("c%d", i), r).Inc(1) // until the zone is full
	}
	if len(errs) != 2 || !errors.Is(errs[0], ErrKindMismatch) || !errors.Is(errs[1], ErrZoneFull) {
		t.Fatalf("OnError got %v", errs)
	}
	last := 0
	r.Each(func(name string, m interface{}) {
		if _, ok := m.(*metrics.StandardCounter); ok {
			last++
		}
	})
	if last != 1 {
		t.Fatalf("%d counters on the heap, want the one the full zone refused", last)
	}

	ro := must[*Zone](t)(OpenPath(path, &Options{ReadOnly: true, OnError: onError}))
	defer ro.Close()
	monitor := NewRegistry(ro)
	metrics.GetOrRegisterCounter("new", monitor).Inc(1)
	if len(errs) != 3 || !errors.Is(errs[2], ErrReadOnly) {
		t.Fatalf("a read-only zone's registry: OnError got %v", errs)
	}
	var buf bytes.Buffer
	metrics.WriteJSONOnce(monitor, &buf)
	if !bytes.Contains(buf.Bytes(), []byte(`"c0":{"count":1}`)) || !bytes.Contains(buf.Bytes(), []byte(`"new":{"count":1}`)) {
		t.Fatalf("a monitor's registry prints the zone: %s", buf.String())
	}
}

func TestRegistryHonoursUseNilMetrics(t *testing.T) {
	z := newZone(t, 0)
	r := NewRegistry(z)
	metrics.UseNilMetrics = true
	defer func() { metrics.UseNilMetrics = false }()
	if c := metrics.GetOrRegisterCounter("c", r); c != (metrics.NilCounter{}) {
		t.Fatalf("UseNilMetrics: got a %T", c)
	}
	if ms := must[[]Metric](t)(z.Metrics()); len(ms) != 0 {
		t.Fatalf("UseNilMetrics registered %v in the zone", ms)
	}
}

func TestRegistryUnregisterReleases(t *testing.T) {
	z := newZone(t, 0)
	r := NewRegistry(z)
	metrics.GetOrRegisterCounter("a", r).Inc(1)
	metrics.GetOrRegisterGauge("b", r).Update(1)
	r.Unregister("a")
	flushReleases(t, z)
	if _, ok := find(t, z, "a"); ok || r.Get("a") != nil {
		t.Fatal("a survived Unregister")
	}
	r.UnregisterAll()
	flushReleases(t, z)
	if ms := must[[]Metric](t)(z.Metrics()); len(ms) != 0 {
		t.Fatalf("after UnregisterAll the zone holds %v", ms)
	}
}
