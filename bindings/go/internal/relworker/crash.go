package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	shmmetrics "github.com/shmmetrics/shmmetrics/bindings/go"
)

// Words of the shared-memory log, as tests/reliability_crash.rs numbers them.
const (
	wStop = iota
	wStarted
	wOps
	wTotalDone
	wTotalPending
	wMineDone
	wMinePending
	wHalfDone
	wHalfPending
	wMaxWaitNs
	wRegs
	wReleases
	wAttaches
	wRepairs
	wPhase
	logWords = 512
)

// Phases, as the Rust test names them.
const (
	phInc = iota
	phOpen
	phReg
	phRel
	phAttach
	phRepair
)

// crashLog is the worker's page of u64 words (harness::Log): it survives the worker's SIGKILL.
type crashLog []uint64

func openLog(path string) (crashLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := syscall.Mmap(int(f.Fd()), 0, logWords*8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), logWords), nil
}

func (l crashLog) get(w int) uint64    { return atomic.LoadUint64(&l[w]) }
func (l crashLog) set(w int, v uint64) { atomic.StoreUint64(&l[w], v) }
func (l crashLog) add(w int, v uint64) { atomic.StoreUint64(&l[w], atomic.LoadUint64(&l[w])+v) } // only this process writes its words

func (l crashLog) max(w int, v uint64) {
	for old := l.get(w); v > old && !atomic.CompareAndSwapUint64(&l[w], old, v); old = l.get(w) {
	}
}

// counted does op (which adds n somewhere) with n in pending meanwhile, then logs it done: a
// kill anywhere leaves done <= what reached the zone <= done + pending. Go's atomics are
// sequentially consistent, so they order op's atomic add between the two.
func (l crashLog) counted(done, pending int, n uint64, op func()) {
	l.set(pending, n)
	op()
	l.add(done, n)
	l.set(pending, 0)
}

// timed runs f, folding its duration into the longest wait.
func timed[T any](l crashLog, f func() (T, error)) T {
	start := time.Now()
	v, err := f()
	l.max(wMaxWaitNs, uint64(time.Since(start)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "relworker:", err)
		os.Exit(3)
	}
	return v
}

// rng is the harness's xorshift64*.
type rng uint64

func newRng(seed uint64) *rng { r := rng(seed*0x9E3779B97F4A7C15 | 1); return &r }

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 0x2545F4914F6CDD1D
}

func (r *rng) below(n uint64) uint64 { return r.next() % max(n, 1) }

// stopper is a metric this worker holds and may stop.
type stopper interface{ Stop() }

// crash is the Rust crash worker's loop with this binding: increments (logged), registrations
// and stops of temporary and shared names (a stop releases at the next collection; the worker
// forces it so that kills land inside releases too), second attachments, repairs.
func crash(zonePath, logPath string, slot, seed uint64) error {
	log, err := openLog(logPath)
	if err != nil {
		return err
	}
	r := newRng(seed)
	log.set(wPhase, phOpen)
	z := timed(log, func() (*shmmetrics.Zone, error) { return shmmetrics.OpenPath(zonePath, nil) })
	log.set(wPhase, phReg)
	total := timed(log, func() (*shmmetrics.Counter, error) { return shmmetrics.NewCounter(z, "crash_total") })
	half := timed(log, func() (*shmmetrics.GaugeFloat64, error) { return shmmetrics.NewGaugeFloat64(z, "crash_half") })
	mine := timed(log, func() (*shmmetrics.Counter, error) {
		return shmmetrics.NewCounter(z, fmt.Sprintf("crash_worker_%d", slot))
	})
	log.set(wPhase, phInc)
	log.set(wStarted, 1)
	release := func(m stopper) {
		log.set(wPhase, phRel)
		m.Stop()
		z.ReleaseStopped()
		log.set(wPhase, phInc)
		log.add(wReleases, 1)
	}
	var held []stopper
	for log.get(wStop) == 0 {
		switch op := r.below(100); {
		case op < 60:
			for i, k := uint64(0), 1+r.below(64); i < k; i++ {
				n := 1 + i&3
				log.counted(wTotalDone, wTotalPending, n, func() { total.Inc(int64(n)) })
				log.counted(wMineDone, wMinePending, 1, func() { mine.Inc(1) })
				if i%4 == 0 {
					log.counted(wHalfDone, wHalfPending, 1, func() { half.Add(0.5) })
				}
			}
		case op < 68: // a name nobody else uses: created and freed
			name := fmt.Sprintf("crash_tmp_%d_%d", slot, r.below(4))
			log.set(wPhase, phReg)
			c := timed(log, func() (*shmmetrics.Counter, error) { return shmmetrics.NewCounter(z, name) })
			log.add(wRegs, 1)
			release(c)
		case op < 80:
			log.set(wPhase, phReg)
			m := registerChurn(log, z, r.below(48))
			log.set(wPhase, phInc)
			log.add(wRegs, 1)
			held = append(held, m)
			if len(held) > 12 {
				i := r.below(uint64(len(held)))
				m := held[i]
				held = append(held[:i], held[i+1:]...)
				release(m)
			}
		case op < 94:
			if len(held) > 0 {
				i := r.below(uint64(len(held)))
				m := held[i]
				held = append(held[:i], held[i+1:]...)
				if r.below(4) != 0 { // else keep the claim until this process detaches
					release(m)
				}
			}
		case op < 98: // a second attachment of this process
			log.set(wPhase, phAttach)
			z2 := timed(log, func() (*shmmetrics.Zone, error) { return shmmetrics.OpenPath(zonePath, nil) })
			c := timed(log, func() (*shmmetrics.Counter, error) { return shmmetrics.NewCounter(z2, "crash_attach_probe") })
			c.Inc(1)
			if r.below(2) == 0 {
				c.Stop()
			}
			if err := z2.Close(); err != nil {
				return err
			}
			log.set(wPhase, phInc)
			log.add(wAttaches, 1)
		default:
			log.set(wPhase, phRepair)
			timed(log, func() (int, error) { return z.Repair() })
			log.set(wPhase, phInc)
			log.add(wRepairs, 1)
		}
		log.add(wOps, 1)
	}
	for _, m := range held {
		m.Stop()
	}
	return z.Close()
}

// registerChurn registers crash_churn_<k>, of the kind the Rust worker gives it, and uses it.
func registerChurn(log crashLog, z *shmmetrics.Zone, k uint64) stopper {
	name := fmt.Sprintf("crash_churn_%d", k)
	switch k % 3 {
	case 0:
		c := timed(log, func() (*shmmetrics.Counter, error) { return shmmetrics.NewCounter(z, name) })
		c.Inc(1)
		return c
	case 1:
		g := timed(log, func() (*shmmetrics.Gauge, error) { return shmmetrics.NewGauge(z, name) })
		g.Update(int64(k))
		return g
	default:
		f := timed(log, func() (*shmmetrics.GaugeFloat64, error) { return shmmetrics.NewGaugeFloat64(z, name) })
		f.Add(1)
		return f
	}
}
