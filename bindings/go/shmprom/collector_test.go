package shmprom

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	shmmetrics "github.com/shmmetrics/shmmetrics/bindings/go"
)

// The language-neutral vectors every exporter is tested against.
type vectors struct {
	SanitizeMetric [][2]string `json:"sanitize_metric"`
	SanitizeLabel  [][2]string `json:"sanitize_label"`
	Names          []struct {
		Name             string            `json:"name"`
		Kind             string            `json:"kind"`
		Namespace        string            `json:"namespace"`
		CountersAsGauges bool              `json:"counters_as_gauges"`
		Family           string            `json:"family"`
		Sample           string            `json:"sample"`
		Labels           map[string]string `json:"labels"`
	} `json:"names"`
	Zones []struct {
		What             string `json:"what"`
		CountersAsGauges bool   `json:"counters_as_gauges"`
		Metrics          []struct {
			Name  string  `json:"name"`
			Kind  string  `json:"kind"`
			Value float64 `json:"value"`
		} `json:"metrics"`
		Families map[string]struct {
			Type    string `json:"type"`
			Samples []struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
				Value  float64           `json:"value"`
			} `json:"samples"`
		} `json:"families"`
		Skipped []string `json:"skipped"`
	} `json:"zones"`
}

func load(t *testing.T) vectors {
	raw, err := os.ReadFile("../../../tests/vectors/exposition.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.SanitizeMetric) == 0 || len(v.SanitizeLabel) == 0 || len(v.Names) == 0 || len(v.Zones) == 0 {
		t.Fatal("a section of the vectors is empty or was renamed")
	}
	return v
}

var kinds = map[string]shmmetrics.Kind{"counter": shmmetrics.KindCounter, "gauge": shmmetrics.KindGauge, "gauge_f64": shmmetrics.KindGaugeF64}

func TestSanitizeVectors(t *testing.T) {
	v := load(t)
	for _, c := range v.SanitizeMetric {
		if got := SanitizeMetricName(c[0]); got != c[1] {
			t.Errorf("SanitizeMetricName(%q) = %q, want %q", c[0], got, c[1])
		}
	}
	for _, c := range v.SanitizeLabel {
		if got := SanitizeLabelName(c[0]); got != c[1] {
			t.Errorf("SanitizeLabelName(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}

func TestNamesVectors(t *testing.T) {
	for _, c := range load(t).Names {
		k, ok := kinds[c.Kind]
		if !ok {
			t.Fatalf("unknown kind %q", c.Kind)
		}
		e := Expose(c.Name, k, Options{Namespace: c.Namespace, CountersAsGauges: c.CountersAsGauges})
		if e.Family != c.Family || e.Sample != c.Sample || !reflect.DeepEqual(map[string]string(e.Labels), c.Labels) {
			t.Errorf("Expose(%q, %s, ns %q, as gauges %v) = %+v, want family %q sample %q labels %v",
				c.Name, c.Kind, c.Namespace, c.CountersAsGauges, e, c.Family, c.Sample, c.Labels)
		}
	}
}

func newZone(t *testing.T) *shmmetrics.Zone {
	z, err := shmmetrics.OpenPath(filepath.Join(t.TempDir(), "zone"), &shmmetrics.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = z.Close() })
	return z
}

// fill registers each metric in z with its value.
func fill(t *testing.T, z *shmmetrics.Zone, name, kind string, value float64) {
	var err error
	switch kind {
	case "counter":
		var c *shmmetrics.Counter
		if c, err = shmmetrics.NewCounter(z, name); err == nil {
			c.Inc(int64(value))
		}
	case "gauge":
		var g *shmmetrics.Gauge
		if g, err = shmmetrics.NewGauge(z, name); err == nil {
			g.Update(int64(value))
		}
	case "gauge_f64":
		var g *shmmetrics.GaugeFloat64
		if g, err = shmmetrics.NewGaugeFloat64(z, name); err == nil {
			g.Update(value)
		}
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
}

type sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Every zone of the vectors, written into a real zone and gathered by a real (pedantic)
// client_golang registry: the families, types, samples and skipped names must be the vectors'.
func TestZoneVectorsThroughARegistry(t *testing.T) {
	for _, zc := range load(t).Zones {
		t.Run(zc.What, func(t *testing.T) {
			z := newZone(t)
			for _, m := range zc.Metrics {
				fill(t, z, m.Name, m.Kind, m.Value)
			}
			c := NewCollector(z, Options{CountersAsGauges: zc.CountersAsGauges})
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(c)
			got, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(zc.Families) {
				t.Errorf("%d families gathered, want %d", len(got), len(zc.Families))
			}
			for family, want := range zc.Families {
				name := want.Samples[0].Name // the exposed name: <family>_total for counters
				if want.Type == "counter" && name != family+"_total" || want.Type == "gauge" && name != family {
					t.Fatalf("vectors: family %s of type %s has samples %s", family, want.Type, name)
				}
				mf := findFamily(got, name)
				if mf == nil {
					t.Errorf("family %s (%s) not gathered", family, name)
					continue
				}
				if strings.ToLower(mf.GetType().String()) != want.Type {
					t.Errorf("%s is a %s, want %s", name, mf.GetType(), want.Type)
				}
				var wantSamples []sample
				for _, s := range want.Samples {
					wantSamples = append(wantSamples, sample{s.Name, s.Labels, s.Value})
				}
				if gotSamples := samples(mf); !reflect.DeepEqual(sorted(gotSamples), sorted(wantSamples)) {
					t.Errorf("%s: samples %v, want %v", name, gotSamples, wantSamples)
				}
			}
			if skipped := c.Skipped(); !reflect.DeepEqual(nonNil(skipped), nonNil(zc.Skipped)) {
				t.Errorf("skipped %v, want %v", skipped, zc.Skipped)
			}
		})
	}
}

func findFamily(mfs []*dto.MetricFamily, name string) *dto.MetricFamily {
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func samples(mf *dto.MetricFamily) []sample {
	var out []sample
	for _, m := range mf.GetMetric() {
		s := sample{Name: mf.GetName(), Labels: map[string]string{}}
		for _, l := range m.GetLabel() {
			s.Labels[l.GetName()] = l.GetValue()
		}
		if m.Counter != nil {
			s.Value = m.GetCounter().GetValue()
		} else {
			s.Value = m.GetGauge().GetValue()
		}
		out = append(out, s)
	}
	return out
}

func sorted(s []sample) []sample {
	sort.Slice(s, func(i, j int) bool { return labelKey(s[i].Labels) < labelKey(s[j].Labels) })
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// A scrape as Prometheus does it, through promhttp, and client_golang's testutil.
func TestScrape(t *testing.T) {
	z := newZone(t)
	fill(t, z, `http_requests_total{method="GET",code="200"}`, "counter", 3)
	fill(t, z, "workers", "gauge", 4)
	fill(t, z, "ratio", "gauge_f64", 0.5)
	// Another process's metric: a collector exports the whole zone.
	other, err := shmmetrics.OpenPath(z.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	fill(t, other, "theirs_total", "counter", 9)

	c := NewCollector(z, Options{Namespace: "app"})
	const want = `# HELP app_http_requests_total shmmetrics counter app_http_requests
# TYPE app_http_requests_total counter
app_http_requests_total{code="200",method="GET"} 3
# HELP app_ratio shmmetrics gauge app_ratio
# TYPE app_ratio gauge
app_ratio 0.5
# HELP app_theirs_total shmmetrics counter app_theirs
# TYPE app_theirs_total counter
app_theirs_total 9
# HELP app_workers shmmetrics gauge app_workers
# TYPE app_workers gauge
app_workers 4
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c); n != 4 {
		t.Fatalf("CollectAndCount = %d", n)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("scrape: %d\n%s", resp.StatusCode, body)
	}

	// A closed zone makes the scrape fail with its error, never a panic.
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("gathering a closed zone: %v", err)
	}
	resp, err = srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("scrape of a closed zone: HTTP %d", resp.StatusCode)
	}
}

// go-metrics counters may go down: CountersAsGauges exposes them as gauges.
func TestCountersAsGauges(t *testing.T) {
	z := newZone(t)
	c, err := shmmetrics.NewCounter(z, "jobs_total")
	if err != nil {
		t.Fatal(err)
	}
	c.Dec(2)
	want := "# HELP jobs_total shmmetrics gauge jobs_total\n# TYPE jobs_total gauge\njobs_total -2\n"
	if err := testutil.CollectAndCompare(NewCollector(z, Options{CountersAsGauges: true}), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// A counter whose sample name (<family>_total) an earlier gauge already exposes is skipped;
// not in the shared vectors yet.
func TestCounterSampleNameTakenByAGauge(t *testing.T) {
	z := newZone(t)
	fill(t, z, "a_total", "gauge", 1)
	fill(t, z, `a_total{x="1"}`, "counter", 2) // family a, sample a_total
	c := NewCollector(z, Options{})
	want := "# HELP a_total shmmetrics gauge a_total\n# TYPE a_total gauge\na_total 1\n"
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if s := c.Skipped(); !reflect.DeepEqual(s, []string{`a_total{x="1"}`}) {
		t.Fatalf("skipped %v", s)
	}
}
