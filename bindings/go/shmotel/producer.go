// Package shmotel exports a whole shmmetrics zone through OpenTelemetry: a metric.Producer
// (go.opentelemetry.io/otel/sdk/metric) that any reader, and so any exporter (OTLP, stdout),
// collects together with the SDK's own instruments.
//
//	reader := metric.NewPeriodicReader(exporter, metric.WithProducer(shmotel.NewProducer(zone)))
//	provider := metric.NewMeterProvider(metric.WithReader(reader))
//
// Counters are cumulative monotonic sums whose start time is when the metric was registered
// in the zone (a counter registered anew, after every holder released it, starts again);
// integer and float gauges are gauges. Labels written in the zone name
// (`http_requests_total{method="GET"}`, see shmmetrics.ParseName) become attributes; names
// are kept as they are. Metrics are taken in name order: one whose name is already a metric of
// the other type, or whose attributes are already there, is skipped (see Skipped).
package shmotel

import (
	"context"
	"sort"
	"sync"
	"time"

	shmmetrics "github.com/shmmetrics/shmmetrics/bindings/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ScopeName is the instrumentation scope of the metrics a Producer returns.
const ScopeName = "github.com/shmmetrics/shmmetrics/bindings/go/shmotel"

// Producer produces every metric of a zone, read at each collection without locks (a
// read-only zone is enough). It is safe for concurrent use.
type Producer struct {
	zone  *shmmetrics.Zone
	start time.Time // start time of counters whose registration time is unknown

	mu      sync.Mutex
	skipped []string
}

var _ metric.Producer = (*Producer)(nil)

// NewProducer returns a producer of zone z.
func NewProducer(z *shmmetrics.Zone) *Producer { return &Producer{zone: z, start: time.Now()} }

// Skipped is the zone names the last Produce left out (see the package documentation).
func (p *Producer) Skipped() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.skipped...)
}

type point struct {
	attrs attribute.Set
	m     shmmetrics.Metric
}

type group struct {
	name    string
	counter bool
	float   bool // a float gauge is in it: all its points are float64
	points  []point
	seen    map[attribute.Distinct]bool
}

// Produce reads the zone; an error if it cannot be read (closed, say).
func (p *Producer) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ms, err := p.zone.Metrics()
	if err != nil {
		return nil, err
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	var groups []*group
	byName := map[string]*group{}
	var skipped []string
	for _, m := range ms {
		if m.Kind != shmmetrics.KindCounter && m.Kind != shmmetrics.KindGauge && m.Kind != shmmetrics.KindGaugeF64 {
			continue // a kind this version does not know
		}
		base, labels := shmmetrics.ParseName(m.Name)
		counter := m.Kind == shmmetrics.KindCounter
		g := byName[base]
		if g == nil {
			g = &group{name: base, counter: counter, seen: map[attribute.Distinct]bool{}}
			byName[base] = g
			groups = append(groups, g)
		} else if g.counter != counter {
			skipped = append(skipped, m.Name)
			continue
		}
		kvs := make([]attribute.KeyValue, len(labels))
		for i, l := range labels {
			kvs[i] = attribute.String(l.Name, l.Value)
		}
		attrs := attribute.NewSet(kvs...)
		if g.seen[attrs.Equivalent()] {
			skipped = append(skipped, m.Name)
			continue
		}
		g.seen[attrs.Equivalent()] = true
		g.float = g.float || m.Kind == shmmetrics.KindGaugeF64
		g.points = append(g.points, point{attrs, m})
	}
	p.mu.Lock()
	p.skipped = skipped
	p.mu.Unlock()
	if len(groups) == 0 {
		return nil, nil
	}
	now := time.Now()
	out := make([]metricdata.Metrics, 0, len(groups))
	for _, g := range groups {
		out = append(out, metricdata.Metrics{Name: g.name, Data: p.data(g, now)})
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: ScopeName}, Metrics: out}}, nil
}

func (p *Producer) data(g *group, now time.Time) metricdata.Aggregation {
	switch {
	case g.counter:
		dps := make([]metricdata.DataPoint[int64], len(g.points))
		for i, pt := range g.points {
			start := pt.m.Created
			if start.IsZero() {
				start = p.start
			}
			dps[i] = metricdata.DataPoint[int64]{Attributes: pt.attrs, StartTime: start, Time: now, Value: pt.m.Int}
		}
		return metricdata.Sum[int64]{DataPoints: dps, Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	case g.float:
		dps := make([]metricdata.DataPoint[float64], len(g.points))
		for i, pt := range g.points {
			dps[i] = metricdata.DataPoint[float64]{Attributes: pt.attrs, Time: now, Value: pt.m.Float}
		}
		return metricdata.Gauge[float64]{DataPoints: dps}
	default:
		dps := make([]metricdata.DataPoint[int64], len(g.points))
		for i, pt := range g.points {
			dps[i] = metricdata.DataPoint[int64]{Attributes: pt.attrs, Time: now, Value: pt.m.Int}
		}
		return metricdata.Gauge[int64]{DataPoints: dps}
	}
}
