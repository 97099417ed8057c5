package shmmetrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metrics "github.com/rcrowley/go-metrics"
)

func TestOpenByNameAndDirectory(t *testing.T) {
	dir := t.TempDir()
	z := must[*Zone](t)(OpenIn(dir, "myapp", &Options{Create: true}))
	if want := filepath.Join(dir, "shmmetrics-myapp"); z.Path() != want {
		t.Fatalf("Path() = %q, want %q", z.Path(), want)
	}
	must[*Counter](t)(NewCounter(z, "n")).Inc(7)
	t.Setenv("SHMMETRICS_DIR", dir)
	again := must[*Zone](t)(Open("myapp", nil))
	if again.Path() != z.Path() {
		t.Fatalf("Open with $SHMMETRICS_DIR: %q", again.Path())
	}
	if m, ok := find(t, again, "n"); !ok || m.Int != 7 {
		t.Fatalf("n through the second open: %+v", m)
	}
	for _, zz := range []*Zone{again, z} {
		if err := zz.Close(); err != nil {
			t.Fatal(err)
		}
	}
	wantStatus(t, z.Close(), ErrClosed)
}

func TestMaxWriters(t *testing.T) {
	dir := t.TempDir()
	z := must[*Zone](t)(OpenPath(filepath.Join(dir, "wide"), &Options{Create: true, Size: 1 << 20, MaxWriters: 4096}))
	defer z.Close()
	if info := must[Info](t)(z.Info()); info.MaxWriters != 4096 {
		t.Fatalf("max writers %d", info.MaxWriters)
	}
	for _, n := range []uint32{1, 100, 16384 + 64} {
		_, err := OpenPath(filepath.Join(dir, "bad"), &Options{Create: true, MaxWriters: n})
		wantStatus(t, err, ErrInvalidArgument)
	}
}

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "z")
	_, err := OpenPath(path, nil)
	wantStatus(t, err, ErrNotFound)
	z := must[*Zone](t)(OpenPath(path, &Options{Create: true, Exclusive: true, Size: 64 << 10, Mode: 0o640, MaxWriters: 256}))
	info := must[Info](t)(z.Info())
	if info.Mode != 0o640 || info.MaxWriters != 256 || info.FileSize != 64<<10 || info.ReadOnly || info.Attached != 1 || info.Created.IsZero() || info.CreatorPID != os.Getpid() {
		t.Fatalf("info: %+v", info)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("file mode: %v %v", fi, err)
	}
	must[*Counter](t)(NewCounter(z, "kept")).Inc(1)
	_, err = OpenPath(path, &Options{Create: true, Exclusive: true})
	wantStatus(t, err, ErrExists)

	fresh := must[*Zone](t)(OpenPath(path, &Options{Create: true, Fresh: true}))
	if ms := must[[]Metric](t)(fresh.Metrics()); len(ms) != 0 {
		t.Fatalf("a fresh zone holds %v", ms)
	}
	if m, ok := find(t, z, "kept"); !ok || m.Int != 1 {
		t.Fatal("Fresh disturbed a process attached to the old zone")
	}
	fresh.Close()
	z.Close()

	gone := must[*Zone](t)(OpenPath(filepath.Join(dir, "tmp"), &Options{Create: true, RemoveOnClose: true}))
	gone.Close()
	if _, err := os.Stat(filepath.Join(dir, "tmp")); !os.IsNotExist(err) {
		t.Fatalf("RemoveOnClose left the file: %v", err)
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		open func() error
		want Status
	}{
		{"mode with non-permission bits", func() error {
			_, err := OpenPath(filepath.Join(dir, "a"), &Options{Create: true, Mode: os.ModeSetuid | 0o600})
			return err
		}, ErrInvalidArgument},
		{"negative lock timeout", func() error {
			_, err := OpenPath(filepath.Join(dir, "b"), &Options{Create: true, LockTimeout: -time.Second})
			return err
		}, ErrInvalidArgument},
		{"zone too small", func() error {
			_, err := OpenPath(filepath.Join(dir, "c"), &Options{Create: true, Size: 4096})
			return err
		}, ErrInvalidSize},
		{"zone name with a slash", func() error { _, err := OpenIn(dir, "../x", &Options{Create: true}); return err }, ErrInvalidName},
		{"zone name with a NUL", func() error { _, err := OpenIn(dir, "x\x00y", &Options{Create: true}); return err }, ErrInvalidName},
		{"path to a directory", func() error { _, err := OpenPath(dir, nil); return err }, ErrNotAFile},
		{"not a zone", func() error {
			p := filepath.Join(dir, "junk")
			if err := os.WriteFile(p, make([]byte, 65536), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenPath(p, nil)
			return err
		}, ErrBadMagic},
	} {
		t.Run(tc.name, func(t *testing.T) { wantStatus(t, tc.open(), tc.want) })
	}
}

// A zone other users may write is refused to writers unless they trust it.
func TestOpenUntrustedZone(t *testing.T) {
	path := zonePath(t)
	must[*Zone](t)(OpenPath(path, &Options{Create: true, Mode: 0o666})).Close()
	if err := os.Chmod(path, 0o666); err != nil { // whatever the umask did
		t.Fatal(err)
	}
	_, err := OpenPath(path, nil)
	wantStatus(t, err, ErrUntrusted)
	must[*Zone](t)(OpenPath(path, &Options{TrustShared: true})).Close()
	must[*Zone](t)(OpenPath(path, &Options{ReadOnly: true})).Close()
}

func TestReadOnlyZone(t *testing.T) {
	z := newZone(t, 0)
	must[*Counter](t)(NewCounter(z, "c")).Inc(3)
	ro := must[*Zone](t)(OpenPath(z.Path(), &Options{ReadOnly: true}))
	defer ro.Close()
	if !ro.ReadOnly() || !must[Info](t)(ro.Info()).ReadOnly {
		t.Fatal("not read-only")
	}
	_, err := NewCounter(ro, "c")
	wantStatus(t, err, ErrReadOnly)
	_, err = NewGaugeFloat64(ro, "new")
	wantStatus(t, err, ErrReadOnly)
	if m, ok := find(t, ro, "c"); !ok || m.Int != 3 || m.Kind != KindCounter {
		t.Fatalf("read-only iteration: %+v", m)
	}
	if err := ro.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsInfoVerifyRepair(t *testing.T) {
	z := newZone(t, 0)
	before := time.Now()
	must[*Counter](t)(NewCounter(z, `http_requests_total{method="GET"}`)).Inc(5)
	must[*Gauge](t)(NewGauge(z, "workers")).Update(-4)
	must[*GaugeFloat64](t)(NewGaugeFloat64(z, "ratio")).Update(0.75)
	ms := must[[]Metric](t)(z.Metrics())
	want := map[string]Metric{
		`http_requests_total{method="GET"}`: {Kind: KindCounter, Int: 5, Float: 5},
		"workers":                           {Kind: KindGauge, Int: -4, Float: -4},
		"ratio":                             {Kind: KindGaugeF64, Int: 0, Float: 0.75},
	}
	if len(ms) != len(want) {
		t.Fatalf("Metrics() = %+v", ms)
	}
	for _, m := range ms {
		w := want[m.Name]
		if m.Kind != w.Kind || m.Int != w.Int || m.Float != w.Float || m.Generation == 0 || m.Created.Before(before.Add(-time.Second)) || time.Since(m.Created) > time.Minute {
			t.Errorf("%s: %+v, want %+v", m.Name, m, w)
		}
	}
	info := must[Info](t)(z.Info())
	if info.Used != 3 || info.Capacity < 3 || info.Free != info.Capacity-3 || info.VersionMajor != 1 {
		t.Fatalf("info: %+v", info)
	}
	if err := z.Verify(); err != nil {
		t.Fatal(err)
	}
	if n, err := z.Repair(); err != nil || n != 0 {
		t.Fatalf("Repair on a healthy zone: %d %v", n, err)
	}
}

// Many metrics: reads come in batches.
func TestMetricsReadsEveryBatch(t *testing.T) {
	z := newZone(t, 0)
	const n = 3*readBatch + 7
	for i := 0; i < n; i++ {
		must[*Counter](t)(NewCounter(z, strings.Repeat("x", 200)+itoa3(i))).Inc(int64(i))
	}
	ms := must[[]Metric](t)(z.Metrics())
	if len(ms) != n {
		t.Fatalf("%d metrics read, want %d", len(ms), n)
	}
	var sum int64
	for _, m := range ms {
		sum += m.Int
	}
	if sum != n*(n-1)/2 {
		t.Fatalf("sum %d", sum)
	}
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestBadMetricNames(t *testing.T) {
	z := newZone(t, 0)
	for _, tc := range []struct {
		name string
		want Status
	}{
		{"", ErrInvalidName},
		{strings.Repeat("n", NameMax+1), ErrNameTooLong},
		{strings.Repeat("n", 10000), ErrNameTooLong},
		{"nul\x00inside", ErrInvalidName},
		{"bad utf-8 \xff", ErrInvalidName},
	} {
		_, err := NewCounter(z, tc.name)
		wantStatus(t, err, tc.want)
		_, err = NewGaugeFloat64(z, tc.name)
		wantStatus(t, err, tc.want)
	}
	c := must[*Counter](t)(NewCounter(z, strings.Repeat("n", NameMax)))
	c.Inc(1)
	_, err := NewGauge(z, c.Name())
	e := wantStatus(t, err, ErrKindMismatch)
	if !strings.Contains(e.Message, "counter") {
		t.Fatalf("kind mismatch message: %q", e.Message)
	}
	if ms := must[[]Metric](t)(z.Metrics()); len(ms) != 1 {
		t.Fatalf("failed registrations left %v", ms)
	}
	if info := must[Info](t)(z.Info()); info.FailedRegistrations != 11 {
		t.Fatalf("failed registrations counted: %d", info.FailedRegistrations)
	}
}

func TestFullZone(t *testing.T) {
	z := newZone(t, 24576)
	capacity := int(must[Info](t)(z.Info()).Capacity)
	for i := 0; i < capacity; i++ {
		must[*Counter](t)(NewCounter(z, "c"+itoa3(i)))
	}
	_, err := NewCounter(z, "one_too_many")
	wantStatus(t, err, ErrZoneFull)
	if info := must[Info](t)(z.Info()); info.FailedZoneFull != 1 {
		t.Fatalf("zone full not counted: %+v", info)
	}
}

// A stopped metric's entry comes back when the zone is full: the registration runs the
// garbage collector that proves the stopped metric unused.
func TestFullZoneReleasesStoppedMetrics(t *testing.T) {
	z := newZone(t, 24576)
	capacity := int(must[Info](t)(z.Info()).Capacity)
	var cs []*Counter
	for i := 0; i < capacity; i++ {
		cs = append(cs, must[*Counter](t)(NewCounter(z, "c"+itoa3(i))))
	}
	cs[3].Stop()
	n := must[*Counter](t)(NewCounter(z, "newcomer"))
	n.Inc(1)
	if _, ok := find(t, z, "c003"); ok {
		t.Fatal("the stopped counter is still in the zone")
	}
}

func TestClosedZone(t *testing.T) {
	z := must[*Zone](t)(OpenPath(zonePath(t), &Options{Create: true}))
	c := must[*Counter](t)(NewCounter(z, "c"))
	g := must[*Gauge](t)(NewGauge(z, "g"))
	f := must[*GaugeFloat64](t)(NewGaugeFloat64(z, "f"))
	c.Inc(2)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := NewCounter(z, "c")
	wantStatus(t, err, ErrClosed)
	_, err = z.Metrics()
	wantStatus(t, err, ErrClosed)
	_, err = z.Info()
	wantStatus(t, err, ErrClosed)
	wantStatus(t, z.Verify(), ErrClosed)
	_, err = z.Repair()
	wantStatus(t, err, ErrClosed)
	wantStatus(t, z.Close(), ErrClosed)
	// Metrics of a closed zone go on in private memory, from their last value.
	c.Inc(1)
	g.Update(5)
	f.Add(1.5)
	if c.Count() != 3 || g.Value() != 5 || f.Value() != 1.5 {
		t.Fatalf("after Close: %d %d %v", c.Count(), g.Value(), f.Value())
	}
	c.Stop()
	c.Stop()
	r := NewRegistry(z)
	metrics.GetOrRegisterCounter("x", r).Inc(1)
	if _, ok := r.Get("x").(*metrics.StandardCounter); !ok {
		t.Fatalf("a closed zone's registry: %T", r.Get("x"))
	}
}
