// Package shmmetrics keeps go-metrics counters and gauges in a shared-memory zone of
// libshmmetrics: every process that opens the same zone sees the same values, a restarted
// process continues them, and monitors read them without asking the application.
//
// Counter, Gauge and GaugeFloat64 implement the go-metrics interfaces; their updates are
// sync/atomic operations on the metric's slot in the zone, with no cgo call. See docs/GO.md.
package shmmetrics

import (
	"math"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Options say how to open a zone. The zero value opens an existing zone for writing.
type Options struct {
	Size          uint64        // bytes of a created zone, rounded up to the page size; 0 means DefaultSize
	Create        bool          // create the zone if it does not exist
	Exclusive     bool          // with Create: fail with ErrExists if it exists
	ReadOnly      bool          // map read-only (monitors); works on a file the process may only read
	Fresh         bool          // atomically replace an existing zone with an empty one
	RemoveOnClose bool          // remove the file when the last attached process closes it
	TrustShared   bool          // write to a zone another user owns or may write (else ErrUntrusted)
	Mode          os.FileMode   // permission bits of a created file; 0 means 0600
	MaxWriters    uint32        // writer slots of a created zone; 0 means 256
	LockTimeout   time.Duration // longest wait for the registration lock; 0 means 5 s

	// OnError, if set, receives the errors this package cannot return: a Registry or a
	// factory func that kept a metric on the heap because the zone refused it, or a deferred
	// release (see Counter.Stop) that failed.
	OnError func(error)
}

const (
	flagCreate        = 1
	flagExclusive     = 2
	flagReadOnly      = 4
	flagFresh         = 8
	flagRemoveOnClose = 16
	flagTrustShared   = 32
)

func (o *Options) flags() uint32 {
	var f uint32
	for _, b := range []struct {
		on   bool
		flag uint32
	}{{o.Create, flagCreate}, {o.Exclusive, flagExclusive}, {o.ReadOnly, flagReadOnly}, {o.Fresh, flagFresh}, {o.RemoveOnClose, flagRemoveOnClose}, {o.TrustShared, flagTrustShared}} {
		if b.on {
			f |= b.flag
		}
	}
	return f
}

func (o *Options) lockTimeoutMS() uint32 {
	return uint32((o.LockTimeout + time.Millisecond - 1) / time.Millisecond)
}

func (o *Options) check(op string) error {
	if o.Mode&^os.ModePerm != 0 {
		return newError(op, ErrInvalidArgument, "Mode "+o.Mode.String()+" has bits other than permissions")
	}
	if o.LockTimeout < 0 || o.LockTimeout > time.Duration(math.MaxUint32)*time.Millisecond {
		return newError(op, ErrInvalidArgument, "LockTimeout "+o.LockTimeout.String()+" is out of range")
	}
	return nil
}

// Zone is an open zone. It is safe for concurrent use.
//
// The zone stays mapped while any registration of this process may still be written to:
// Close detaches every metric (their updates go to private memory from then on) and closes the
// zone once the garbage collector has proven that no goroutine is still inside an update
// through an old slot address. See Close and Counter.Stop.
type Zone struct {
	c        *cZone
	path     string
	readOnly bool
	onError  func(error)

	mu        sync.Mutex
	closing   bool                  // Close was called: nothing new is registered
	live      map[*binding]struct{} // metrics writing to the zone, detached by Close
	holds     int                   // users of c: registrations not yet proven unused, calls in progress
	releasing int                   // registrations stopped but not yet unregistered
	closeOnce sync.Once
	closed    chan struct{} // closed once c is closed
	closeErr  error
}

// Open opens zone name (file shmmetrics-<name>) in $SHMMETRICS_DIR, else /dev/shm. A name is
// 1-200 characters of [A-Za-z0-9_.-] not starting with '.'. opts may be nil.
func Open(name string, opts *Options) (*Zone, error) { return OpenIn("", name, opts) }

// OpenIn opens zone name in directory dir ("" means as Open).
func OpenIn(dir, name string, opts *Options) (*Zone, error) {
	return open("open zone "+quoteShort(name), dir, name, false, opts)
}

// OpenPath opens the zone file at path. Symbolic links are refused.
func OpenPath(path string, opts *Options) (*Zone, error) {
	return open("open "+quoteShort(path), "", path, true, opts)
}

func open(op, dir, name string, byPath bool, opts *Options) (*Zone, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := opts.check(op); err != nil {
		return nil, err
	}
	c, err := cOpen(op, dir, name, byPath, opts)
	if err != nil {
		return nil, err
	}
	path, err := cPath(c)
	if err != nil {
		_ = cClose(c)
		return nil, err
	}
	return &Zone{c: c, path: path, readOnly: opts.ReadOnly, onError: opts.OnError, live: map[*binding]struct{}{}, closed: make(chan struct{})}, nil
}

// Path is the zone file's path as opened.
func (z *Zone) Path() string { return z.path }

// ReadOnly tells whether the zone was opened read-only.
func (z *Zone) ReadOnly() bool { return z.readOnly }

// Close detaches every metric of this zone (their updates go to private memory from then on;
// registered metrics stay in the zone with their values, for the next process) and closes the
// zone. Metrics stopped before Close are released first.
//
// The zone is unmapped only once no goroutine can still be inside an update through an old
// slot address: Close runs the garbage collector until it has proven that (normally at once;
// it gives up waiting after about two seconds, and if a goroutine still holds one then, the
// zone is closed in the background when it lets go). A second Close returns ErrClosed.
func (z *Zone) Close() error {
	z.mu.Lock()
	if z.closing {
		z.mu.Unlock()
		return newError("close", ErrClosed, "the zone was already closed")
	}
	z.closing = true
	live := z.live
	z.live = nil
	z.mu.Unlock()
	for b := range live {
		b.detach(false)
	}
	z.mu.Lock()
	idle := z.holds == 0
	z.mu.Unlock()
	if idle {
		z.closeC()
	}
	// Each collection proves unused the registrations no goroutine held during it; one that
	// was inside an update then needs the next.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		select {
		case <-z.closed:
			return z.closeErr
		default:
		}
		runtime.GC()
		select {
		case <-z.closed:
			return z.closeErr
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (z *Zone) closeC() {
	z.closeOnce.Do(func() {
		z.closeErr = cClose(z.c)
		close(z.closed)
	})
}

// acquire keeps the zone open for one C call or one registration; put gives that back.
func (z *Zone) acquire(op string) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.closing {
		return newError(op, ErrClosed, "the zone is closed")
	}
	z.holds++
	return nil
}

func (z *Zone) put() {
	z.mu.Lock()
	z.holds--
	last := z.closing && z.holds == 0
	z.mu.Unlock()
	if last {
		z.closeC()
	}
}

func (z *Zone) call(op string, f func(c *cZone) error) error {
	if err := z.acquire(op); err != nil {
		return err
	}
	defer z.put()
	return f(z.c)
}

func (z *Zone) report(err error) {
	if z.onError != nil && err != nil {
		z.onError(err)
	}
}

// Info describes the zone: its identity and how full it is.
func (z *Zone) Info() (Info, error) {
	var i Info
	err := z.call("info", func(c *cZone) (err error) { i, err = cInfo(c); return })
	return i, err
}

// Verify checks the zone's structure; an error wrapping ErrCorrupt lists the problems.
func (z *Zone) Verify() error { return z.call("verify", cCheck) }

// Repair reclaims what crashed processes left behind and rebuilds the index; it returns the
// number of entries freed.
func (z *Zone) Repair() (int, error) {
	var n int
	err := z.call("repair", func(c *cZone) (err error) { n, err = cRepair(c); return })
	return n, err
}

// Metrics reads every live metric of the zone, whoever registered it, without locks (also on
// a read-only zone). Each value is read atomically; the list is not one instant.
func (z *Zone) Metrics() ([]Metric, error) {
	var ms []Metric
	err := z.call("read", func(c *cZone) (err error) { ms, err = cReadAll(c); return })
	return ms, err
}

// Info is what shm_zone_info reports.
type Info struct {
	FileSize            uint64
	Created             time.Time // zero if unknown
	FailedRegistrations uint64    // registrations refused for any reason
	FailedZoneFull      uint64    // registrations refused because the zone was full
	LockTimeouts        uint64
	Repairs             uint64
	Capacity            uint32 // entries the zone can hold
	Used                uint32 // live metrics
	Free                uint32
	Orphaned            uint32 // live metrics no attached process holds
	HighWater           uint32
	Attached            uint32 // processes attached for writing
	MaxWriters          uint32
	CreatorPID          int
	OwnerUID            uint32
	Mode                os.FileMode
	VersionMajor        uint16
	VersionMinor        uint16
	ReadOnly            bool // this attachment is read-only
}

// Kind is a metric's kind.
type Kind uint32

// String is the kind's name everywhere in shmmetrics: counter, gauge, gauge_f64.
func (k Kind) String() string {
	switch k {
	case KindCounter:
		return "counter"
	case KindGauge:
		return "gauge"
	case KindGaugeF64:
		return "gauge_f64"
	}
	return "kind(" + strconv.FormatUint(uint64(k), 10) + ")"
}

// Metric is one metric of a zone as read by Zone.Metrics.
type Metric struct {
	Name       string
	Kind       Kind
	Int        int64   // value of counters and integer gauges (0 for float gauges)
	Float      float64 // value of every kind as a float64
	Generation uint64  // registration id: changes when an entry is freed and reused
	Created    time.Time
	Index      uint32 // entry index, stable while the metric is registered
}
