package shmmetrics

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The header is the one source of the status codes and kinds: every SHM_ERR_* has its Go
// constant with the same name and value, and Go has no other.
func TestStatusesMatchTheHeader(t *testing.T) {
	header, err := os.ReadFile("../../include/shmmetrics.h")
	if err != nil {
		t.Fatal(err)
	}
	enum := regexp.MustCompile(`(?m)^\s*(SHM_ERR_[A-Z_]+) = (\d+),`).FindAllStringSubmatch(string(header), -1)
	if len(enum) < 20 {
		t.Fatalf("found only %d SHM_ERR_ codes in the header: has its format changed?", len(enum))
	}
	inHeader := map[string]bool{}
	for _, m := range enum {
		code, _ := strconv.Atoi(m[2])
		s := Status(code)
		if s.Name() != m[1] {
			t.Errorf("%s = %d in the header, but Go calls status %d %s", m[1], code, code, s.Name())
		}
		if strings.Contains(s.Error(), "unknown") {
			t.Errorf("the library has no text for %s: %q", m[1], s.Error())
		}
		inHeader[m[1]] = true
	}
	for s, name := range statusNames {
		if !inHeader[name] {
			t.Errorf("Go has %s (%d), the header does not", name, int32(s))
		}
	}
	kinds := regexp.MustCompile(`#define SHM_KIND_([A-Z0-9_]+) (\d+)`).FindAllStringSubmatch(string(header), -1)
	goKinds := map[string]Kind{"COUNTER": KindCounter, "GAUGE": KindGauge, "GAUGE_F64": KindGaugeF64}
	if len(kinds) != len(goKinds) {
		t.Fatalf("header kinds %v, Go knows %v", kinds, goKinds)
	}
	for _, k := range kinds {
		if n, _ := strconv.Atoi(k[2]); goKinds[k[1]] != Kind(n) || goKinds[k[1]].String() != strings.ToLower(k[1]) {
			t.Errorf("SHM_KIND_%s = %s: Go has %d (%s)", k[1], k[2], goKinds[k[1]], goKinds[k[1]])
		}
	}
	if ABIVersion()>>16 != 1 || ABIVersion()&0xffff < 1 {
		t.Errorf("the binding needs ABI 1.1 or a later 1.x, the library is %#x", ABIVersion())
	}
}

// The scenario: goroutines alternating two different failures must each read their
// own call's message. With shm_last_error() read in a second cgo call, 9,993 of 16,000 were
// another call's.
func TestErrorMessagesAreRightUnderConcurrency(t *testing.T) {
	z := newZone(t, 0)
	const goroutines, rounds = 8, 1000 // 8 x 1000 x 2 = 16,000 failed calls
	for g := 0; g < goroutines; g++ {
		must[*Counter](t)(NewCounter(z, fmt.Sprintf("km_%d", g)))
	}
	var wrong, total int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			long := strings.Repeat("x", NameMax+1+g) // a length, so a message names its call
			wantLong := fmt.Sprintf("metric name is %d bytes; the limit is %d", len(long), NameMax)
			name := fmt.Sprintf("km_%d", g)
			wantKind := fmt.Sprintf("%q is registered as a counter, not a gauge", name)
			bad := 0
			for i := 0; i < rounds; i++ {
				_, err := NewCounter(z, long)
				if e := (*Error)(nil); !errors.As(err, &e) || e.Status != ErrNameTooLong || e.Message != wantLong {
					bad++
				}
				_, err = NewGauge(z, name)
				if e := (*Error)(nil); !errors.As(err, &e) || e.Status != ErrKindMismatch || e.Message != wantKind {
					bad++
				}
			}
			mu.Lock()
			wrong += int64(bad)
			total += 2 * rounds
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	if total != 16000 || wrong != 0 {
		t.Fatalf("%d of %d error messages belonged to another call", wrong, total)
	}
}
