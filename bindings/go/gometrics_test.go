package shmmetrics

// go-metrics' own counter, gauge, gauge-float and registry tests (counter_test.go,
// gauge_test.go, gauge_float64_test.go, registry_test.go at 65e299d), restated for the zone
// types. Each test gets a fresh zone, as go-metrics' get a fresh NewCounter().

import (
	"math/rand"
	"sync"
	"testing"

	metrics "github.com/rcrowley/go-metrics"
)

func TestCounterClear(t *testing.T) {
	c := must[*Counter](t)(NewCounter(newZone(t, 0), "c"))
	c.Inc(1)
	c.Clear()
	if count := c.Count(); count != 0 {
		t.Errorf("c.Count(): 0 != %v", count)
	}
}

func TestCounterDecInc(t *testing.T) {
	for _, tc := range []struct {
		op   func(*Counter)
		want int64
	}{
		{func(c *Counter) { c.Dec(1) }, -1},
		{func(c *Counter) { c.Dec(2) }, -2},
		{func(c *Counter) { c.Inc(1) }, 1},
		{func(c *Counter) { c.Inc(2) }, 2},
	} {
		c := must[*Counter](t)(NewCounter(newZone(t, 0), "c"))
		tc.op(c)
		if count := c.Count(); count != tc.want {
			t.Errorf("c.Count(): %v != %v", tc.want, count)
		}
	}
}

func TestCounterSnapshot(t *testing.T) {
	c := must[*Counter](t)(NewCounter(newZone(t, 0), "c"))
	c.Inc(1)
	snapshot := c.Snapshot()
	c.Inc(1)
	if count := snapshot.Count(); count != 1 {
		t.Errorf("snapshot.Count(): 1 != %v", count)
	}
	if _, ok := snapshot.(metrics.CounterSnapshot); !ok {
		t.Errorf("Snapshot() is a %T, not a metrics.CounterSnapshot", snapshot)
	}
}

func TestCounterZero(t *testing.T) {
	c := must[*Counter](t)(NewCounter(newZone(t, 0), "c"))
	if count := c.Count(); count != 0 {
		t.Errorf("c.Count(): 0 != %v", count)
	}
}

func TestGetOrRegisterCounter(t *testing.T) {
	z := newZone(t, 0)
	r := metrics.NewRegistry()
	must[*Counter](t)(NewRegisteredCounter(z, "foo", r)).Inc(47)
	if c := must[metrics.Counter](t)(GetOrRegisterCounter(z, "foo", r)); c.Count() != 47 {
		t.Fatal(c)
	}
}

func TestGaugeConcurrency(t *testing.T) {
	g := must[*Gauge](t)(NewGauge(newZone(t, 0), "g"))
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(g metrics.Gauge) {
			defer wg.Done()
			g.Update(rand.Int63())
		}(g)
	}
	wg.Wait()
}

func TestGauge(t *testing.T) {
	g := must[*Gauge](t)(NewGauge(newZone(t, 0), "g"))
	g.Update(47)
	if v := g.Value(); v != 47 {
		t.Errorf("g.Value(): 47 != %v", v)
	}
	g.Inc(3)
	g.Dec(10)
	if v := g.Value(); v != 40 {
		t.Errorf("after Inc(3), Dec(10): 40 != %v", v)
	}
}

func TestGaugeSnapshot(t *testing.T) {
	g := must[*Gauge](t)(NewGauge(newZone(t, 0), "g"))
	g.Update(47)
	snapshot := g.Snapshot()
	g.Update(0)
	if v := snapshot.Value(); v != 47 {
		t.Errorf("snapshot.Value(): 47 != %v", v)
	}
	if _, ok := snapshot.(metrics.GaugeSnapshot); !ok {
		t.Errorf("Snapshot() is a %T", snapshot)
	}
}

func TestGetOrRegisterGauge(t *testing.T) {
	z := newZone(t, 0)
	r := metrics.NewRegistry()
	must[*Gauge](t)(NewRegisteredGauge(z, "foo", r)).Update(47)
	if g := must[metrics.Gauge](t)(GetOrRegisterGauge(z, "foo", r)); g.Value() != 47 {
		t.Fatal(g)
	}
}

func TestGaugeFloat64(t *testing.T) {
	g := must[*GaugeFloat64](t)(NewGaugeFloat64(newZone(t, 0), "f"))
	g.Update(47.0)
	if v := g.Value(); v != 47.0 {
		t.Errorf("g.Value(): 47.0 != %v", v)
	}
	g.Add(0.25)
	g.Add(-7.5)
	if v := g.Value(); v != 39.75 {
		t.Errorf("after Add(0.25), Add(-7.5): 39.75 != %v", v)
	}
}

func TestGaugeFloat64Snapshot(t *testing.T) {
	g := must[*GaugeFloat64](t)(NewGaugeFloat64(newZone(t, 0), "f"))
	g.Update(47.0)
	snapshot := g.Snapshot()
	g.Update(0)
	if v := snapshot.Value(); v != 47.0 {
		t.Errorf("snapshot.Value(): 47.0 != %v", v)
	}
	if _, ok := snapshot.(metrics.GaugeFloat64Snapshot); !ok {
		t.Errorf("Snapshot() is a %T", snapshot)
	}
}

func TestGetOrRegisterGaugeFloat64(t *testing.T) {
	z := newZone(t, 0)
	r := metrics.NewRegistry()
	must[*GaugeFloat64](t)(NewRegisteredGaugeFloat64(z, "foo", r)).Update(47.0)
	if g := must[metrics.GaugeFloat64](t)(GetOrRegisterGaugeFloat64(z, "foo", r)); g.Value() != 47.0 {
		t.Fatal(g)
	}
}

// Concurrent adds are exact: each Add is a compare-and-swap loop.
func TestGaugeFloat64AddIsExactUnderConcurrency(t *testing.T) {
	g := must[*GaugeFloat64](t)(NewGaugeFloat64(newZone(t, 0), "f"))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 2000; j++ {
				g.Add(0.25)
			}
		}()
	}
	wg.Wait()
	if v := g.Value(); v != 4000 {
		t.Fatalf("8 x 2000 x 0.25 = 4000, got %v", v)
	}
}

// Registry tests of go-metrics, with zone metrics in a standard registry.

func TestRegistryDuplicateKeepsTheFirst(t *testing.T) {
	z := newZone(t, 0)
	r := metrics.NewRegistry()
	first := must[*Counter](t)(NewRegisteredCounter(z, "foo", r))
	if _, err := NewRegisteredCounter(z, "foo", r); err == nil {
		t.Fatal("a second registration of foo succeeded")
	} else if _, ok := err.(metrics.DuplicateMetric); !ok {
		t.Fatalf("want metrics.DuplicateMetric, got %T %v", err, err)
	}
	if r.Get("foo") != first {
		t.Fatal("the registry no longer holds the first counter")
	}
	first.Inc(1)
	flushReleases(t, z) // the refused second one was stopped: its hold is released
	if m, ok := find(t, z, "foo"); !ok || m.Int != 1 {
		t.Fatalf("foo in the zone: %+v %v", m, ok)
	}
}

func TestRegistryGetOrRegisterFirstWins(t *testing.T) {
	z := newZone(t, 0)
	r := metrics.NewRegistry()
	c := must[metrics.Counter](t)(GetOrRegisterCounter(z, "foo", r))
	if again := must[metrics.Counter](t)(GetOrRegisterCounter(z, "foo", r)); again != c {
		t.Fatal("GetOrRegisterCounter returned another counter for foo")
	}
	if m := r.GetOrRegister("foo", metrics.NewGauge()); m != c {
		t.Fatalf("GetOrRegister with another kind returned %T, not the first", m)
	}
	if m := r.GetOrRegister("foo", CounterFunc(z, "foo")); m != c {
		t.Fatal("GetOrRegister with a func did not return the first")
	}
	if _, err := GetOrRegisterGauge(z, "foo", r); !errorsIs(err, ErrKindMismatch) {
		t.Fatalf("a gauge where the registry has a counter: %v", err)
	}
}

func TestRegistryUnregisterStops(t *testing.T) {
	z := newZone(t, 0)
	r := metrics.NewRegistry()
	c := must[*Counter](t)(NewRegisteredCounter(z, "foo", r))
	c.Inc(5)
	r.Unregister("foo")
	c.Inc(1) // a stopped counter counts privately
	if c.Count() != 6 {
		t.Fatalf("a stopped counter continues from its last value: %d", c.Count())
	}
	flushReleases(t, z)
	if m, ok := find(t, z, "foo"); ok {
		t.Fatalf("foo is still in the zone after Unregister: %+v", m)
	}
	if r.Get("foo") != nil {
		t.Fatal("foo is still in the registry")
	}
}

func TestRegistryEach(t *testing.T) {
	z := newZone(t, 0)
	r := metrics.NewRegistry()
	must[*Counter](t)(NewRegisteredCounter(z, "foo", r))
	must[*Gauge](t)(NewRegisteredGauge(z, "bar", r))
	must[*GaugeFloat64](t)(NewRegisteredGaugeFloat64(z, "baz", r))
	seen := map[string]string{}
	r.Each(func(name string, m interface{}) {
		switch m.(type) {
		case metrics.Counter:
			seen[name] = "counter"
		case metrics.Gauge:
			seen[name] = "gauge"
		case metrics.GaugeFloat64:
			seen[name] = "gauge_f64"
		}
	})
	if len(seen) != 3 || seen["foo"] != "counter" || seen["bar"] != "gauge" || seen["baz"] != "gauge_f64" {
		t.Fatalf("Each saw %v", seen)
	}
}

func TestFactoriesForGetOrRegister(t *testing.T) {
	z := newZone(t, 0)
	r := metrics.NewRegistry()
	r.GetOrRegister("c", CounterFunc(z, "c")).(metrics.Counter).Inc(2)
	r.GetOrRegister("g", GaugeFunc(z, "g")).(metrics.Gauge).Update(3)
	r.GetOrRegister("f", GaugeFloat64Func(z, "f")).(metrics.GaugeFloat64).Update(1.5)
	for name, want := range map[string]float64{"c": 2, "g": 3, "f": 1.5} {
		if m, ok := find(t, z, name); !ok || m.Float != want {
			t.Errorf("%s in the zone: %+v, want %v", name, m, want)
		}
	}
	if _, ok := r.Get("c").(*Counter); !ok {
		t.Errorf("the registry holds a %T", r.Get("c"))
	}
}
