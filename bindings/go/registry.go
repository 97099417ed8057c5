package shmmetrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	metrics "github.com/rcrowley/go-metrics"
)

// Registry is a metrics.Registry backed by a zone, for code that only accepts a registry (a
// Kafka client's MetricRegistry, say): the counters, gauges and float gauges it creates
// through metrics.GetOrRegisterCounter(name, r) and the like live in the zone, without that
// code knowing.
//
//   - GetOrRegister given go-metrics' own constructors (metrics.NewCounter, metrics.NewGauge,
//     what metrics.GetOrRegisterCounter/Gauge pass) or a fresh standard instance
//     (metrics.NewGaugeFloat64(), what metrics.GetOrRegisterGaugeFloat64 passes) creates the
//     zone kind instead. If the zone refuses the name (full, kind mismatch...) the metric stays
//     on the heap and Options.OnError gets the error. metrics.UseNilMetrics is honoured.
//   - Everything else (histograms, meters, timers, healthchecks, Register with an instance,
//     which the caller keeps using) stays on the heap, as in a standard registry.
//   - Each, Get, GetAll and MarshalJSON also show the zone's other metrics, whoever registered
//     them, as read-only snapshots (metrics.CounterSnapshot and the like) of their value at the
//     time of the call.
//   - Unregister and UnregisterAll stop the metrics (see Counter.Stop).
//
// metrics.NewPrefixedChildRegistry cannot wrap it (go-metrics knows only its own types there).
type Registry struct {
	zone  *Zone
	local metrics.Registry // what this registry holds, zone-backed or not
}

var (
	_ metrics.Registry = (*Registry)(nil)
	_ json.Marshaler   = (*Registry)(nil)
)

// NewRegistry returns an empty registry whose counters and gauges live in z.
func NewRegistry(z *Zone) *Registry { return &Registry{zone: z, local: metrics.NewRegistry()} }

// Zone is the registry's zone.
func (r *Registry) Zone() *Zone { return r.zone }

var (
	goMetricsNewCounter = reflect.ValueOf(metrics.NewCounter).Pointer()
	goMetricsNewGauge   = reflect.ValueOf(metrics.NewGauge).Pointer()
)

// GetOrRegister returns the metric name, registering i (a metric or a func returning one)
// first if there is none; see the type's documentation for what goes to the zone.
func (r *Registry) GetOrRegister(name string, i interface{}) interface{} {
	if f := r.zoneFactory(name, i); f != nil {
		i = f
	}
	return r.local.GetOrRegister(name, i)
}

// zoneFactory is the zone factory replacing i, or nil if i stays as it is.
func (r *Registry) zoneFactory(name string, i interface{}) interface{} {
	if metrics.UseNilMetrics {
		return nil
	}
	switch i.(type) {
	case *metrics.StandardCounter:
		return CounterFunc(r.zone, name)
	case *metrics.StandardGauge:
		return GaugeFunc(r.zone, name)
	case *metrics.StandardGaugeFloat64:
		return GaugeFloat64Func(r.zone, name)
	}
	if v := reflect.ValueOf(i); v.Kind() == reflect.Func {
		switch v.Pointer() {
		case goMetricsNewCounter:
			return CounterFunc(r.zone, name)
		case goMetricsNewGauge:
			return GaugeFunc(r.zone, name)
		}
	}
	return nil
}

// Register registers metric i (kept as it is) under name; metrics.DuplicateMetric if taken.
func (r *Registry) Register(name string, i interface{}) error { return r.local.Register(name, i) }

// Get is the metric name: this registry's own, else a snapshot of the zone's, else nil.
func (r *Registry) Get(name string) interface{} {
	if m := r.local.Get(name); m != nil {
		return m
	}
	for _, m := range r.others(nil) {
		if m.Name == name {
			return snapshotOf(m)
		}
	}
	return nil
}

// Each calls f for every metric of this registry, then for every other metric of the zone (a
// snapshot), each name once.
func (r *Registry) Each(f func(string, interface{})) {
	own := map[string]interface{}{}
	r.local.Each(func(name string, m interface{}) { own[name] = m })
	for name, m := range own {
		f(name, m)
	}
	for _, m := range r.others(own) {
		f(m.Name, snapshotOf(m))
	}
}

// GetAll is every metric's values as go-metrics' JSON output has them.
func (r *Registry) GetAll() map[string]map[string]interface{} {
	all := r.local.GetAll()
	for _, m := range r.others(nil) {
		if _, ok := all[m.Name]; !ok {
			all[m.Name] = valuesOf(m)
		}
	}
	return all
}

// MarshalJSON lets metrics.WriteJSONOnce print the registry as it prints a standard one.
func (r *Registry) MarshalJSON() ([]byte, error) { return json.Marshal(r.GetAll()) }

// RunHealthchecks runs the registry's healthchecks.
func (r *Registry) RunHealthchecks() { r.local.RunHealthchecks() }

// Unregister removes name and stops it.
func (r *Registry) Unregister(name string) { r.local.Unregister(name) }

// UnregisterAll removes and stops every metric of this registry.
func (r *Registry) UnregisterAll() { r.local.UnregisterAll() }

// others is the zone's metrics whose names are not in own (nil: all of them, deduplicated by
// the caller). A zone that cannot be read (closed) has none; other read errors go to OnError.
func (r *Registry) others(own map[string]interface{}) []Metric {
	ms, err := r.zone.Metrics()
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			r.zone.report(err)
		}
		return nil
	}
	out := ms[:0]
	for _, m := range ms {
		if _, mine := own[m.Name]; !mine && snapshotOf(m) != nil {
			out = append(out, m)
		}
	}
	return out
}

func snapshotOf(m Metric) interface{} {
	switch m.Kind {
	case KindCounter:
		return metrics.CounterSnapshot(m.Int)
	case KindGauge:
		return metrics.GaugeSnapshot(m.Int)
	case KindGaugeF64:
		return metrics.GaugeFloat64Snapshot(m.Float)
	}
	return nil
}

func valuesOf(m Metric) map[string]interface{} {
	if m.Kind == KindCounter {
		return map[string]interface{}{"count": m.Int}
	}
	if m.Kind == KindGauge {
		return map[string]interface{}{"value": m.Int}
	}
	return map[string]interface{}{"value": m.Float}
}

// registry is r, or go-metrics' default registry for nil (as go-metrics' constructors do).
func registry(r metrics.Registry) metrics.Registry {
	if r == nil {
		return metrics.DefaultRegistry
	}
	return r
}

// lookup is r.Get(name) without the zone read a zone Registry does for names it does not hold.
func lookup(r metrics.Registry, name string) interface{} {
	if zr, ok := r.(*Registry); ok {
		return zr.local.Get(name)
	}
	return r.Get(name)
}

// registerNew is NewRegisteredCounter and its kin: m (just made, or err) registered in r; if r
// refuses it, m is stopped and r's error returned.
func registerNew[M metrics.Stoppable](name string, r metrics.Registry, m M, err error) (M, error) {
	var none M
	if err != nil {
		return none, err
	}
	if err := registry(r).Register(name, m); err != nil {
		m.Stop()
		return none, err
	}
	return m, nil
}

// getOrRegister is GetOrRegisterCounter and its kin: r's metric name if it is an M (looked up
// first, without allocating a factory), else one made by newM and registered there; an error if
// r holds name as another type (want names the kind) or newM fails.
func getOrRegister[M any](name string, r metrics.Registry, want string, newM func() (M, error)) (M, error) {
	var none M
	r = registry(r)
	if m, ok := lookup(r, name).(M); ok {
		return m, nil
	}
	var err error
	got := r.GetOrRegister(name, func() M {
		m, e := newM()
		if e != nil {
			err = e
			return none // a nil interface: the registry stores nothing
		}
		return m
	})
	if err != nil {
		return none, err
	}
	if m, ok := got.(M); ok {
		return m, nil
	}
	return none, notKind(name, want, got)
}

// factory is CounterFunc and its kin: a function for r.GetOrRegister that makes a zone metric
// with newM, or, if the zone refuses it, reports the error (Options.OnError) and makes a heap
// one with onHeap.
func factory[M any](z *Zone, newM func() (M, error), onHeap func() M) func() M {
	return func() M {
		m, err := newM()
		if err != nil {
			z.report(err)
			return onHeap()
		}
		return m
	}
}

func notKind(name, want string, m interface{}) error {
	return newError("get "+want+" "+quoteShort(name), ErrKindMismatch, fmt.Sprintf("the registry holds %q as a %T, not a %s", name, m, want))
}
