package shmmetrics

import (
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// reg is one registration of a metric by this process (one hold, in the library's terms): the
// address of its value slot. Every update loads its metric's current reg and keeps it alive
// (runtime.KeepAlive) until its atomic operation is done. So once a reg has been swapped out
// of its metric, the garbage collector finding it unreachable proves that no goroutine can
// still write through its address: only then is the hold given up (after which the slot may
// belong to another metric) or the zone unmapped. The finalizers below act on that proof.
type reg struct {
	p          *int64 // the 8-byte slot: int64, or float64 bits for gauge_f64
	zone       *Zone  // nil for a private sink
	index      uint32
	generation uint64
	kind       Kind
}

// sinkOf is private memory holding v: where a stopped or closed metric's updates go.
func sinkOf(v int64) *reg {
	p := new(int64)
	*p = v
	return &reg{p: p}
}

// release is the finalizer of a stopped registration: unregister it, then let the zone close
// if it is closing and this was the last user.
func (r *reg) release() {
	z := r.zone
	z.report(cUnregister(z.c, r))
	z.mu.Lock()
	z.releasing--
	z.mu.Unlock()
	z.put()
}

// drop is the finalizer of a registration detached by Close: closing the zone in the library
// gives up its hold (the metric stays in the zone for the next process).
func (r *reg) drop() { r.zone.put() }

// binding is what Counter, Gauge and GaugeFloat64 share: the current registration.
type binding struct {
	r    atomic.Pointer[reg]
	zone *Zone
	name string
}

// bind registers name with kind in z for b.
func (z *Zone) bind(b *binding, kind Kind, name string) error {
	r, err := z.register(kind, name)
	if err != nil {
		return err
	}
	z.mu.Lock()
	if z.closing { // Close ran while we registered; nobody has seen r
		z.mu.Unlock()
		z.put()
		return newError("register "+kind.String()+" "+quoteShort(name), ErrClosed, "the zone is closed")
	}
	b.zone, b.name = z, name
	b.r.Store(r)
	z.live[b] = struct{}{}
	z.mu.Unlock()
	return nil
}

// register takes a hold on the metric. A full zone is retried once after the registrations
// stopped in this process that only wait for the garbage collector have been released.
func (z *Zone) register(kind Kind, name string) (*reg, error) {
	op := "register " + kind.String() + " " + quoteShort(name)
	for retried := false; ; retried = true {
		if err := z.acquire(op); err != nil {
			return nil, err
		}
		r, err := cRegister(z.c, kind, name)
		if err == nil {
			r.zone = z // the hold acquired above is now this registration's
			return r, nil
		}
		z.put()
		if retried || !errors.Is(err, ErrZoneFull) || !z.awaitReleases() {
			return nil, err
		}
	}
}

// ReleaseStopped releases now the metrics stopped in this zone that still wait for the garbage
// collector (see Counter.Stop): it runs collections until they are released, for at most
// about a second, and returns how many still wait (normally none).
func (z *Zone) ReleaseStopped() int {
	z.awaitReleases()
	return z.pending()
}

func (z *Zone) pending() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.releasing
}

// awaitReleases runs the garbage collector until the registrations stopped in this zone have
// been released (at most about a second). False if none was waiting.
func (z *Zone) awaitReleases() bool {
	if z.pending() == 0 {
		return false
	}
	for deadline := time.Now().Add(time.Second); z.pending() > 0 && time.Now().Before(deadline); {
		runtime.GC()
		for wait := time.Now().Add(20 * time.Millisecond); z.pending() > 0 && time.Now().Before(wait); {
			time.Sleep(time.Millisecond)
		}
	}
	return true
}

// stop detaches b and releases its registration once no goroutine can be using it.
func (b *binding) stop() {
	z := b.zone
	z.mu.Lock()
	if _, ok := z.live[b]; !ok { // stopped already, or the zone was closed
		z.mu.Unlock()
		return
	}
	delete(z.live, b)
	z.releasing++
	z.mu.Unlock()
	b.detach(true)
}

// detach points b at private memory holding its last value. Only stop and Close call it, once
// per binding (both under the rule that b is in z.live).
func (b *binding) detach(release bool) {
	old := b.r.Load()
	b.r.Store(sinkOf(atomic.LoadInt64(old.p)))
	if release {
		runtime.SetFinalizer(old, (*reg).release)
	} else {
		runtime.SetFinalizer(old, (*reg).drop)
	}
}
