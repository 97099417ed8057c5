package shmmetrics

import (
	"math"
	"runtime"
	"sync/atomic"

	metrics "github.com/rcrowley/go-metrics"
)

// GaugeFloat64 is a go-metrics GaugeFloat64 whose value lives in a zone (kind gauge_f64: the
// slot holds the float64's bits). Add is an exact concurrent add (a compare-and-swap loop).
type GaugeFloat64 struct{ b binding }

var (
	_ metrics.GaugeFloat64 = (*GaugeFloat64)(nil)
	_ metrics.Stoppable    = (*GaugeFloat64)(nil)
)

// NewGaugeFloat64 registers (or joins) float gauge name in z.
func NewGaugeFloat64(z *Zone, name string) (*GaugeFloat64, error) {
	g := &GaugeFloat64{}
	if err := z.bind(&g.b, KindGaugeF64, name); err != nil {
		return nil, err
	}
	return g, nil
}

// NewRegisteredGaugeFloat64 is NewGaugeFloat64, also registered in r (nil: the default).
func NewRegisteredGaugeFloat64(z *Zone, name string, r metrics.Registry) (*GaugeFloat64, error) {
	g, err := NewGaugeFloat64(z, name)
	return registerNew(name, r, g, err)
}

// GetOrRegisterGaugeFloat64 returns r's float gauge name, registering a zone one first if
// needed.
func GetOrRegisterGaugeFloat64(z *Zone, name string, r metrics.Registry) (metrics.GaugeFloat64, error) {
	return getOrRegister(name, r, "gauge_f64", func() (metrics.GaugeFloat64, error) { return NewGaugeFloat64(z, name) })
}

// GaugeFloat64Func is a factory for r.GetOrRegister(name, GaugeFloat64Func(z, name)); see
// CounterFunc.
func GaugeFloat64Func(z *Zone, name string) func() metrics.GaugeFloat64 {
	return factory(z, func() (metrics.GaugeFloat64, error) { return NewGaugeFloat64(z, name) }, metrics.NewGaugeFloat64)
}

// Name is the gauge's name in the zone.
func (g *GaugeFloat64) Name() string { return g.b.name }

// Update sets the gauge.
func (g *GaugeFloat64) Update(v float64) {
	r := g.b.r.Load()
	atomic.StoreInt64(r.p, int64(math.Float64bits(v)))
	runtime.KeepAlive(r)
}

// Add adds delta, exactly under concurrency (a compare-and-swap loop).
func (g *GaugeFloat64) Add(delta float64) {
	r := g.b.r.Load()
	for {
		old := atomic.LoadInt64(r.p)
		next := int64(math.Float64bits(math.Float64frombits(uint64(old)) + delta))
		if atomic.CompareAndSwapInt64(r.p, old, next) {
			break
		}
	}
	runtime.KeepAlive(r)
}

// Value is the gauge's value.
func (g *GaugeFloat64) Value() float64 {
	r := g.b.r.Load()
	v := atomic.LoadInt64(r.p)
	runtime.KeepAlive(r)
	return math.Float64frombits(uint64(v))
}

// Snapshot is a read-only copy of the value.
func (g *GaugeFloat64) Snapshot() metrics.GaugeFloat64 {
	return metrics.GaugeFloat64Snapshot(g.Value())
}

// Stop unregisters the gauge; see Counter.Stop.
func (g *GaugeFloat64) Stop() { g.b.stop() }
