package shmmetrics

import (
	"errors"
	"path/filepath"
	"testing"
)

// zonePath is a fresh zone file path in the test's temporary directory.
func zonePath(t testing.TB) string { return filepath.Join(t.TempDir(), "zone") }

// newZone creates a zone (size bytes, 0 = default) that the test closes at its end.
func newZone(t testing.TB, size uint64) *Zone {
	t.Helper()
	z, err := OpenPath(zonePath(t), &Options{Create: true, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = z.Close() })
	return z
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// wantStatus fails unless err is an *Error with status s (checked both ways users would).
func wantStatus(t testing.TB, err error, s Status) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, s) || e.Status != s {
		t.Fatalf("want an error with %s (%v), got %v", s.Name(), s, err)
	}
	if e.Message == "" || e.Op == "" {
		t.Fatalf("error without message or op: %#v", e)
	}
	return e
}

// find is metric name in z (ok false if absent).
func find(t testing.TB, z *Zone, name string) (Metric, bool) {
	t.Helper()
	for _, m := range must[[]Metric](t)(z.Metrics()) {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// flushReleases releases the metrics stopped in z, as a full zone or Close would, and fails
// the test if some still wait.
func flushReleases(t testing.TB, z *Zone) {
	t.Helper()
	if n := z.ReleaseStopped(); n != 0 {
		t.Fatalf("%d stopped metrics were never released", n)
	}
}

func errorsIs(err error, s Status) bool { return errors.Is(err, s) }
