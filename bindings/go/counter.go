package shmmetrics

import (
	"runtime"
	"sync/atomic"

	metrics "github.com/rcrowley/go-metrics"
)

// Counter is a go-metrics Counter whose count lives in a zone: every process that registers
// the same name shares it. Updates are one atomic instruction on the slot, no cgo call.
type Counter struct{ b binding }

var (
	_ metrics.Counter   = (*Counter)(nil)
	_ metrics.Stoppable = (*Counter)(nil)
)

// NewCounter registers (or joins) counter name in z. Names are 1 to NameMax bytes of UTF-8
// and may carry Prometheus-style labels: `requests_total{method="GET"}`.
func NewCounter(z *Zone, name string) (*Counter, error) {
	c := &Counter{}
	if err := z.bind(&c.b, KindCounter, name); err != nil {
		return nil, err
	}
	return c, nil
}

// NewRegisteredCounter is NewCounter, also registered in r (nil: metrics.DefaultRegistry).
// If r already has name, the counter is stopped and r's error returned.
func NewRegisteredCounter(z *Zone, name string, r metrics.Registry) (*Counter, error) {
	c, err := NewCounter(z, name)
	return registerNew(name, r, c, err)
}

// GetOrRegisterCounter returns r's counter name, registering a zone counter there first if r
// has none (nil r: metrics.DefaultRegistry). An error if name is another kind of metric in r
// or the zone refuses it.
func GetOrRegisterCounter(z *Zone, name string, r metrics.Registry) (metrics.Counter, error) {
	return getOrRegister(name, r, "counter", func() (metrics.Counter, error) { return NewCounter(z, name) })
}

// CounterFunc is a factory for r.GetOrRegister(name, CounterFunc(z, name)): it registers
// counter name in z when called. If the zone refuses it, the counter stays on the heap
// (metrics.NewCounter) and Options.OnError gets the error.
func CounterFunc(z *Zone, name string) func() metrics.Counter {
	return factory(z, func() (metrics.Counter, error) { return NewCounter(z, name) }, metrics.NewCounter)
}

// Name is the counter's name in the zone.
func (c *Counter) Name() string { return c.b.name }

// Inc adds n.
func (c *Counter) Inc(n int64) {
	r := c.b.r.Load()
	atomic.AddInt64(r.p, n)
	runtime.KeepAlive(r)
}

// Dec subtracts n.
func (c *Counter) Dec(n int64) {
	r := c.b.r.Load()
	atomic.AddInt64(r.p, -n)
	runtime.KeepAlive(r)
}

// Count is the current count, as every process sees it.
func (c *Counter) Count() int64 {
	r := c.b.r.Load()
	v := atomic.LoadInt64(r.p)
	runtime.KeepAlive(r)
	return v
}

// Clear sets the count to 0.
func (c *Counter) Clear() {
	r := c.b.r.Load()
	atomic.StoreInt64(r.p, 0)
	runtime.KeepAlive(r)
}

// Snapshot is a read-only copy of the count.
func (c *Counter) Snapshot() metrics.Counter { return metrics.CounterSnapshot(c.Count()) }

// Stop unregisters the counter (go-metrics Stoppable; Registry.Unregister calls it). From then
// on it counts in private memory, starting from its last value, and never touches the zone
// again. The zone entry is released as soon as the garbage collector proves that no goroutine
// is still inside an update: at the next collection, which Zone.Close, Zone.ReleaseStopped and
// a registration that finds the zone full force. When no process holds the counter any more
// its entry is freed.
func (c *Counter) Stop() { c.b.stop() }
