// Package shmprom exports a whole shmmetrics zone to Prometheus: a client_golang Collector
// that reads every metric of the zone at each scrape, whichever process registered it.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(shmprom.NewCollector(zone, shmprom.Options{}))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Names are mapped as every shmmetrics exporter maps them (tests/vectors/exposition.json):
// labels are parsed from the zone name (`http_requests_total{method="GET"}`), metric and label
// names are sanitized, counters are exposed as `<family>_total`, metrics mapping to the same
// family are grouped, and a name that clashes with an earlier one (in name order) is skipped.
package shmprom

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	shmmetrics "github.com/shmmetrics/shmmetrics/bindings/go"
)

// Options of a Collector.
type Options struct {
	// Namespace prefixes every family name: <Namespace>_<name>.
	Namespace string
	// CountersAsGauges exposes counters as gauges, named as sanitized (no _total handling):
	// for go-metrics counters, which may go down.
	CountersAsGauges bool
}

// Collector is a prometheus.Collector exposing every metric of a zone, read at each scrape
// without locks (a read-only zone is enough). It is unchecked (Describe sends nothing): the
// zone's metrics change while the process runs.
type Collector struct {
	zone *shmmetrics.Zone
	opts Options

	mu      sync.Mutex
	skipped []string
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector of zone z.
func NewCollector(z *shmmetrics.Zone, o Options) *Collector { return &Collector{zone: z, opts: o} }

// Describe sends nothing: an unchecked collector.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect sends one metric per exposed zone metric. A zone that cannot be read (closed, say)
// is reported as an invalid metric, so the scrape fails with its error.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ms, err := c.zone.Metrics()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(err), err)
		return
	}
	families, skipped := Group(ms, c.opts)
	c.mu.Lock()
	c.skipped = skipped
	c.mu.Unlock()
	for _, f := range families {
		vt := prometheus.GaugeValue
		if f.Type == "counter" {
			vt = prometheus.CounterValue
		}
		help := fmt.Sprintf("shmmetrics %s %s", f.Type, f.Name)
		for _, s := range f.Samples {
			desc := prometheus.NewDesc(s.Name, help, nil, s.Labels)
			m, err := prometheus.NewConstMetric(desc, vt, s.Value)
			if err != nil {
				m = prometheus.NewInvalidMetric(desc, err)
			}
			ch <- m
		}
	}
}

// Skipped is the zone names the last Collect left out because they clash with an earlier
// name (see Group).
func (c *Collector) Skipped() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.skipped...)
}

// Family is a group of zone metrics exposed under one name.
type Family struct {
	Name    string // the family name (for counters, without _total)
	Type    string // "counter" or "gauge"
	Samples []Sample
}

// Sample is one exposed value.
type Sample struct {
	Name   string // the sample's name: <family>_total for counters, else the family name
	Labels prometheus.Labels
	Value  float64
}

// Exposed is how one zone metric is exposed.
type Exposed struct {
	Family, Sample, Type string
	Labels               prometheus.Labels
}

// Expose maps one zone metric name and kind to its family, sample name and labels.
func Expose(name string, kind shmmetrics.Kind, o Options) Exposed {
	base, parsed := shmmetrics.ParseName(name)
	if o.Namespace != "" {
		base = o.Namespace + "_" + base
	}
	e := Exposed{Family: SanitizeMetricName(base), Type: "gauge", Labels: prometheus.Labels{}}
	e.Sample = e.Family
	if kind == shmmetrics.KindCounter && !o.CountersAsGauges {
		e.Type = "counter"
		if e.Family != "_total" { // a family name is never empty
			e.Family = strings.TrimSuffix(e.Family, "_total")
		}
		e.Sample = e.Family + "_total"
	}
	for _, l := range parsed { // the first of two labels that sanitize alike wins
		if k := SanitizeLabelName(l.Name); !has(e.Labels, k) {
			e.Labels[k] = l.Value
		}
	}
	return e
}

// Group turns zone metrics into families: metrics in name order (bytewise); one whose family
// or sample name is already claimed by a family of another type, or whose family and label set
// are already exposed, is skipped (its name returned in skipped). Integer and float gauges
// share families. Families come sorted by name, samples by label set.
func Group(ms []shmmetrics.Metric, o Options) (families []Family, skipped []string) {
	sorted := append([]shmmetrics.Metric(nil), ms...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	byName := map[string]*Family{}
	claimed := map[string]bool{} // every name a family writes
	seen := map[string]map[string]bool{}
	for _, m := range sorted {
		if m.Kind != shmmetrics.KindCounter && m.Kind != shmmetrics.KindGauge && m.Kind != shmmetrics.KindGaugeF64 {
			continue // a kind this version does not know
		}
		e := Expose(m.Name, m.Kind, o)
		f := byName[e.Family]
		if f == nil {
			names := []string{e.Family}
			if e.Type == "counter" {
				names = append(names, e.Sample)
			}
			if claimed[names[0]] || (len(names) > 1 && claimed[names[1]]) {
				skipped = append(skipped, m.Name)
				continue
			}
			for _, n := range names {
				claimed[n] = true
			}
			f = &Family{Name: e.Family, Type: e.Type}
			byName[e.Family] = f
			seen[e.Family] = map[string]bool{}
		} else if f.Type != e.Type {
			skipped = append(skipped, m.Name)
			continue
		}
		key := labelKey(e.Labels)
		if seen[e.Family][key] {
			skipped = append(skipped, m.Name)
			continue
		}
		seen[e.Family][key] = true
		f.Samples = append(f.Samples, Sample{Name: e.Sample, Labels: e.Labels, Value: m.Float})
	}
	for _, f := range byName {
		sort.Slice(f.Samples, func(i, j int) bool { return labelKey(f.Samples[i].Labels) < labelKey(f.Samples[j].Labels) })
		families = append(families, *f)
	}
	sort.Slice(families, func(i, j int) bool { return families[i].Name < families[j].Name })
	return families, skipped
}

func has(l prometheus.Labels, k string) bool { _, ok := l[k]; return ok }

// labelKey is a label set as one comparable string, sorted by label name.
func labelKey(l prometheus.Labels) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

// SanitizeMetricName makes a valid classic Prometheus metric name: every character outside
// [a-zA-Z0-9_:] becomes '_', and a leading digit (or nothing) gets a '_' before it.
func SanitizeMetricName(s string) string { return sanitize(s, true) }

// SanitizeLabelName makes a valid, non-reserved label name: every character outside
// [a-zA-Z0-9_] becomes '_', a leading digit (or nothing) gets a '_' before it, and a name
// starting with "__" (reserved) gets a "shm" prefix.
func SanitizeLabelName(s string) string {
	s = sanitize(s, false)
	if strings.HasPrefix(s, "__") {
		s = "shm" + s
	}
	return s
}

func sanitize(s string, colon bool) string {
	var b strings.Builder
	for _, r := range s { // one '_' per character, however many bytes it takes
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || (colon && r == ':')
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || (out[0] >= '0' && out[0] <= '9') {
		out = "_" + out
	}
	return out
}
