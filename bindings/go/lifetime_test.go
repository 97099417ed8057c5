package shmmetrics

// What happens to updates racing with Stop and Close: they never touch memory that is
// unmapped or belongs to another metric, and never crash. See binding.go for the mechanism.

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// After Stop a metric counts in private memory; the zone keeps what it had.
func TestUpdatesAfterStopStayPrivate(t *testing.T) {
	z := newZone(t, 0)
	keeper := must[*Counter](t)(NewCounter(z, "c")) // a second holder: the entry stays
	c := must[*Counter](t)(NewCounter(z, "c"))
	c.Inc(5)
	c.Stop()
	c.Inc(1)
	if c.Count() != 6 || keeper.Count() != 5 {
		t.Fatalf("stopped %d (want 6), zone %d (want 5)", c.Count(), keeper.Count())
	}
	flushReleases(t, z)
	if keeper.Count() != 5 {
		t.Fatal("releasing the stopped counter changed the zone")
	}
}

// A goroutine that loaded the slot address before Stop (here: the test holding the
// registration, as a goroutine preempted inside Inc does) delays the release until it lets go,
// however many collections run meanwhile.
func TestStopWaitsForUpdatesInFlight(t *testing.T) {
	z := newZone(t, 0)
	c := must[*Counter](t)(NewCounter(z, "c"))
	inFlight := c.b.r.Load()
	c.Stop()
	z.awaitReleases() // three collections; the registration is still reachable
	if _, ok := find(t, z, "c"); !ok {
		t.Fatal("the counter was released while an update could still write to its slot")
	}
	atomic.AddInt64(inFlight.p, 1) // the delayed update lands in the metric it was for
	if m, _ := find(t, z, "c"); m.Int != 1 {
		t.Fatalf("c = %d", m.Int)
	}
	runtime.KeepAlive(inFlight)
	inFlight = nil
	flushReleases(t, z)
	if _, ok := find(t, z, "c"); ok {
		t.Fatal("the counter was never released")
	}
}

// The same for Close: the zone stays mapped and attached until the update in flight is done.
func TestCloseWaitsForUpdatesInFlight(t *testing.T) {
	z := must[*Zone](t)(OpenPath(zonePath(t), &Options{Create: true}))
	monitor := must[*Zone](t)(OpenPath(z.Path(), nil))
	defer monitor.Close()
	g := must[*GaugeFloat64](t)(NewGaugeFloat64(z, "f"))
	inFlight := g.b.r.Load()
	start := time.Now()
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("Close took too long")
	}
	if n := must[Info](t)(monitor.Info()).Attached; n != 2 {
		t.Fatalf("the zone was closed under an update in flight (attached %d)", n)
	}
	atomic.StoreInt64(inFlight.p, int64(math.Float64bits(2.5))) // the mapping is still there
	runtime.KeepAlive(inFlight)
	inFlight = nil
	for deadline := time.Now().Add(5 * time.Second); ; runtime.GC() {
		select {
		case <-z.closed:
		case <-time.After(10 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
			t.Fatal("the zone was never closed")
		}
		break
	}
	if n := must[Info](t)(monitor.Info()).Attached; n != 1 {
		t.Fatalf("attached %d after the close", n)
	}
	if m, ok := find(t, monitor, "f"); !ok || m.Float != 2.5 {
		t.Fatalf("f after Close: %+v (Close keeps metrics for the next process)", m)
	}
}

// Many goroutines update metrics while others stop them, register new ones and close the zone.
// Under -race this also checks the Go side's synchronisation.
func TestStopAndCloseRaceWithUpdates(t *testing.T) {
	for round := 0; round < 4; round++ {
		z := must[*Zone](t)(OpenPath(zonePath(t), &Options{Create: true}))
		var cs []*Counter
		var gs []*Gauge
		var fs []*GaugeFloat64
		for i := 0; i < 4; i++ {
			cs = append(cs, must[*Counter](t)(NewCounter(z, "c"+itoa3(i))))
			gs = append(gs, must[*Gauge](t)(NewGauge(z, "g"+itoa3(i))))
			fs = append(fs, must[*GaugeFloat64](t)(NewGaugeFloat64(z, "f"+itoa3(i))))
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					k := (w + i) % 4
					cs[k].Inc(1)
					cs[k].Dec(1)
					gs[k].Update(int64(i))
					gs[k].Inc(1)
					fs[k].Add(0.5)
					fs[k].Update(1)
					_ = cs[k].Count() + gs[k].Value()
					_ = fs[k].Value()
					_ = cs[k].Snapshot()
				}
			}(w)
		}
		wg.Add(1)
		go func() { // registrations racing with Close
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if c, err := NewCounter(z, "tmp"+itoa3(i%100)); err == nil {
					c.Inc(1)
					c.Stop()
				} else if !errorsIs(err, ErrClosed) {
					t.Error(err)
					return
				}
			}
		}()
		time.Sleep(2 * time.Millisecond)
		cs[0].Stop()
		gs[1].Stop()
		fs[2].Stop()
		time.Sleep(2 * time.Millisecond)
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		cs[3].Stop() // after Close: nothing to do
		time.Sleep(time.Millisecond)
		stop.Store(true)
		wg.Wait()
	}
}

// A stopped metric's slot goes to another metric only when no update through the old address
// can still happen: the newcomer never receives an increment meant for the stopped one.
func TestReusedSlotGetsNoStrayUpdates(t *testing.T) {
	stray := int64(0)
	for round := 0; round < 3 && stray == 0; round++ {
		path := zonePath(t)
		z := must[*Zone](t)(OpenPath(path, &Options{Create: true, Size: 24576}))
		other := must[*Zone](t)(OpenPath(path, nil)) // another process's view
		capacity := int(must[Info](t)(z.Info()).Capacity)
		for i := 0; i < capacity-1; i++ {
			must[*Gauge](t)(NewGauge(other, "filler"+itoa3(i)))
		}
		old := must[*Counter](t)(NewCounter(z, "old"))
		oldIndex := old.b.r.Load().index
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					old.Inc(1)
				}
			}()
		}
		time.Sleep(time.Millisecond)
		old.Stop()
		var newcomer *Counter
		for deadline := time.Now().Add(10 * time.Second); newcomer == nil; {
			c, err := NewCounter(other, "newcomer") // full until "old" is released
			if err == nil {
				newcomer = c
				break
			}
			if !errorsIs(err, ErrZoneFull) || time.Now().After(deadline) {
				stop.Store(true)
				t.Fatal(err)
			}
			runtime.GC() // what the process's own allocations would cause sooner or later
		}
		if newcomer.b.r.Load().index != oldIndex {
			t.Fatalf("the newcomer got entry %d, not the stopped counter's %d", newcomer.b.r.Load().index, oldIndex)
		}
		time.Sleep(5 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		stray = newcomer.Count()
		other.Close()
		z.Close()
	}
	if stray != 0 {
		t.Fatalf("the newcomer received %d increments meant for the stopped counter", stray)
	}
}
