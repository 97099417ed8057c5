package shmotel

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	shmmetrics "github.com/shmmetrics/shmmetrics/bindings/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func newZone(t *testing.T) *shmmetrics.Zone {
	z, err := shmmetrics.OpenPath(filepath.Join(t.TempDir(), "zone"), &shmmetrics.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = z.Close() })
	return z
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// collect reads everything through a ManualReader, as an exporter's reader would.
func collect(t *testing.T, p *Producer) (metricdata.ResourceMetrics, error) {
	reader := metric.NewManualReader(metric.WithProducer(p))
	provider := metric.NewMeterProvider(metric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	// An SDK instrument beside the zone's: the reader collects both.
	c, err := provider.Meter("app").Int64Counter("sdk_requests")
	check(t, err)
	c.Add(context.Background(), 1)
	var rm metricdata.ResourceMetrics
	err = reader.Collect(context.Background(), &rm)
	return rm, err
}

func zoneScope(t *testing.T, rm metricdata.ResourceMetrics) map[string]metricdata.Metrics {
	out := map[string]metricdata.Metrics{}
	scopes := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		scopes[sm.Scope.Name] = true
		if sm.Scope.Name == ScopeName {
			for _, m := range sm.Metrics {
				out[m.Name] = m
			}
		}
	}
	if !scopes["app"] {
		t.Errorf("the SDK's own instrument was not collected: %v", scopes)
	}
	return out
}

func TestProducerThroughAManualReader(t *testing.T) {
	z := newZone(t)
	before := time.Now()
	get, err := shmmetrics.NewCounter(z, `http_requests{method="GET"}`)
	check(t, err)
	get.Inc(3)
	post, err := shmmetrics.NewCounter(z, `http_requests{method="POST"}`)
	check(t, err)
	post.Inc(1)
	workers, err := shmmetrics.NewGauge(z, "workers")
	check(t, err)
	workers.Update(-4)
	lab, err := shmmetrics.NewGaugeFloat64(z, `temperature{room="lab"}`)
	check(t, err)
	lab.Update(21.5)
	hall, err := shmmetrics.NewGauge(z, `temperature{room="hall"}`) // an integer gauge in a float family
	check(t, err)
	hall.Update(-3)
	clash, err := shmmetrics.NewGauge(z, `http_requests{method="PUT"}`) // a gauge named like a counter
	check(t, err)
	clash.Update(1)
	created := map[string]time.Time{}
	ms, err := z.Metrics()
	check(t, err)
	for _, m := range ms {
		created[m.Name] = m.Created
	}

	p := NewProducer(z)
	rm, err := collect(t, p)
	check(t, err)
	got := zoneScope(t, rm)
	if len(got) != 3 {
		t.Fatalf("metrics %v", got)
	}

	sum, ok := got["http_requests"].Data.(metricdata.Sum[int64])
	if !ok || !sum.IsMonotonic || sum.Temporality != metricdata.CumulativeTemporality || len(sum.DataPoints) != 2 {
		t.Fatalf("http_requests: %#v", got["http_requests"].Data)
	}
	for _, dp := range sum.DataPoints {
		method, _ := dp.Attributes.Value("method")
		name := `http_requests{method="` + method.AsString() + `"}`
		want := map[string]int64{"GET": 3, "POST": 1}[method.AsString()]
		if dp.Value != want || dp.Attributes.Len() != 1 {
			t.Errorf("%s = %d (%v), want %d", name, dp.Value, dp.Attributes, want)
		}
		if !dp.StartTime.Equal(created[name]) || dp.StartTime.Before(before.Add(-time.Second)) || !dp.Time.After(dp.StartTime) {
			t.Errorf("%s: start %v, time %v; registered %v", name, dp.StartTime, dp.Time, created[name])
		}
	}

	g, ok := got["workers"].Data.(metricdata.Gauge[int64])
	if !ok || len(g.DataPoints) != 1 || g.DataPoints[0].Value != -4 || g.DataPoints[0].Attributes.Len() != 0 {
		t.Fatalf("workers: %#v", got["workers"].Data)
	}
	f, ok := got["temperature"].Data.(metricdata.Gauge[float64])
	if !ok || len(f.DataPoints) != 2 {
		t.Fatalf("temperature: %#v", got["temperature"].Data)
	}
	for _, dp := range f.DataPoints {
		room, _ := dp.Attributes.Value(attribute.Key("room"))
		if want := map[string]float64{"lab": 21.5, "hall": -3}[room.AsString()]; dp.Value != want {
			t.Errorf("temperature %s = %v, want %v", room.AsString(), dp.Value, want)
		}
	}
	if s := p.Skipped(); !reflect.DeepEqual(s, []string{`http_requests{method="PUT"}`}) {
		t.Errorf("skipped %v", s)
	}

	// The next collection sees the new values; counters keep their start.
	get.Inc(2)
	rm, err = collect(t, p)
	check(t, err)
	for _, dp := range zoneScope(t, rm)["http_requests"].Data.(metricdata.Sum[int64]).DataPoints {
		if m, _ := dp.Attributes.Value("method"); m.AsString() == "GET" && (dp.Value != 5 || !dp.StartTime.Equal(created[`http_requests{method="GET"}`])) {
			t.Errorf("second collection: %+v", dp)
		}
	}
}

// A closed zone makes the collection fail with its error, never a panic.
func TestProducerOfAClosedZone(t *testing.T) {
	z := newZone(t)
	check(t, z.Close())
	_, err := collect(t, NewProducer(z))
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("collecting a closed zone: %v", err)
	}
}
