package shmmetrics

import (
	"runtime"
	"sync/atomic"

	metrics "github.com/rcrowley/go-metrics"
)

// Gauge is a go-metrics Gauge whose value lives in a zone. Besides the go-metrics methods it
// has Inc and Dec (as go-ethereum's fork does): an atomic add on the slot, an up-down counter.
type Gauge struct{ b binding }

var (
	_ metrics.Gauge     = (*Gauge)(nil)
	_ metrics.Stoppable = (*Gauge)(nil)
)

// NewGauge registers (or joins) integer gauge name in z.
func NewGauge(z *Zone, name string) (*Gauge, error) {
	g := &Gauge{}
	if err := z.bind(&g.b, KindGauge, name); err != nil {
		return nil, err
	}
	return g, nil
}

// NewRegisteredGauge is NewGauge, also registered in r (nil: metrics.DefaultRegistry).
func NewRegisteredGauge(z *Zone, name string, r metrics.Registry) (*Gauge, error) {
	g, err := NewGauge(z, name)
	return registerNew(name, r, g, err)
}

// GetOrRegisterGauge returns r's gauge name, registering a zone gauge there first if needed.
func GetOrRegisterGauge(z *Zone, name string, r metrics.Registry) (metrics.Gauge, error) {
	return getOrRegister(name, r, "gauge", func() (metrics.Gauge, error) { return NewGauge(z, name) })
}

// GaugeFunc is a factory for r.GetOrRegister(name, GaugeFunc(z, name)); see CounterFunc.
func GaugeFunc(z *Zone, name string) func() metrics.Gauge {
	return factory(z, func() (metrics.Gauge, error) { return NewGauge(z, name) }, metrics.NewGauge)
}

// Name is the gauge's name in the zone.
func (g *Gauge) Name() string { return g.b.name }

// Update sets the gauge.
func (g *Gauge) Update(v int64) {
	r := g.b.r.Load()
	atomic.StoreInt64(r.p, v)
	runtime.KeepAlive(r)
}

// Inc adds n.
func (g *Gauge) Inc(n int64) {
	r := g.b.r.Load()
	atomic.AddInt64(r.p, n)
	runtime.KeepAlive(r)
}

// Dec subtracts n.
func (g *Gauge) Dec(n int64) { g.Inc(-n) }

// Value is the gauge's value.
func (g *Gauge) Value() int64 {
	r := g.b.r.Load()
	v := atomic.LoadInt64(r.p)
	runtime.KeepAlive(r)
	return v
}

// Snapshot is a read-only copy of the value.
func (g *Gauge) Snapshot() metrics.Gauge { return metrics.GaugeSnapshot(g.Value()) }

// Stop unregisters the gauge; see Counter.Stop.
func (g *Gauge) Stop() { g.b.stop() }
