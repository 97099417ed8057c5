package shmmetrics

// Every call into the C ABI lives in this file. Calls that can fail take a shm_error, which
// carries the status and message of that call whatever OS thread ran it: a goroutine's
// consecutive cgo calls may run on different threads, so shm_last_error() (per thread) read in
// a second call can belong to another goroutine's failure. The 1.0 calls without a shm_error
// (repair, close) are wrapped below so the message is copied in the same C call.

/*
#include <stdlib.h>
#include <string.h>
#include "shmmetrics.h"

static void go_shm_fill_error(shm_status st, shm_error *err) {
	const char *msg = shm_last_error();
	size_t n = strlen(msg);
	if (n >= SHM_ERROR_MESSAGE_MAX) {
		n = SHM_ERROR_MESSAGE_MAX - 1;
		while (n > 0 && (msg[n] & 0xC0) == 0x80) n--;
	}
	memcpy(err->message, msg, n);
	err->message[n] = 0;
	err->message_len = (uint32_t)n;
	err->status = st;
}

static shm_status go_shm_zone_repair(const shm_zone *z, uint32_t *reclaimed, shm_error *err) {
	shm_status st = shm_zone_repair(z, reclaimed);
	if (st != SHM_OK) go_shm_fill_error(st, err);
	return st;
}

static shm_status go_shm_zone_close(const shm_zone *z, shm_error *err) {
	shm_status st = shm_zone_close(z);
	if (st != SHM_OK) go_shm_fill_error(st, err);
	return st;
}

static shm_status go_shm_counter_open(const shm_zone *z, const char *name, size_t len, shm_counter **out, shm_error *err) {
	shm_status st = shm_counter_open(z, name, len, out);
	if (st != SHM_OK) go_shm_fill_error(st, err);
	return st;
}
*/
import "C"

import (
	"os"
	"time"
	"unsafe"
)

// Kinds of metric, as the header numbers them.
const (
	KindCounter  Kind = C.SHM_KIND_COUNTER
	KindGauge    Kind = C.SHM_KIND_GAUGE
	KindGaugeF64 Kind = C.SHM_KIND_GAUGE_F64
)

// Limits of the library.
const (
	// NameMax is the longest metric name in bytes; longer names get ErrNameTooLong.
	NameMax = C.SHM_NAME_MAX
	// DefaultSize is the size of a zone created with Options.Size 0 (1 MiB).
	DefaultSize = C.SHM_DEFAULT_SIZE
)

// Status codes of the C ABI (shm_status); each is an error that errors.Is matches.
const (
	ErrNullArgument    Status = C.SHM_ERR_NULL_ARGUMENT
	ErrInvalidArgument Status = C.SHM_ERR_INVALID_ARGUMENT
	ErrInvalidName     Status = C.SHM_ERR_INVALID_NAME
	ErrNameTooLong     Status = C.SHM_ERR_NAME_TOO_LONG
	ErrInvalidSize     Status = C.SHM_ERR_INVALID_SIZE
	ErrNotFound        Status = C.SHM_ERR_NOT_FOUND
	ErrExists          Status = C.SHM_ERR_EXISTS
	ErrKindMismatch    Status = C.SHM_ERR_KIND_MISMATCH
	ErrZoneFull        Status = C.SHM_ERR_ZONE_FULL
	ErrReadOnly        Status = C.SHM_ERR_READ_ONLY
	ErrBadMagic        Status = C.SHM_ERR_BAD_MAGIC
	ErrVersion         Status = C.SHM_ERR_VERSION
	ErrCorrupt         Status = C.SHM_ERR_CORRUPT
	ErrNotAFile        Status = C.SHM_ERR_NOT_A_FILE
	ErrPermission      Status = C.SHM_ERR_PERMISSION
	ErrNoSpace         Status = C.SHM_ERR_NO_SPACE
	ErrIO              Status = C.SHM_ERR_IO
	ErrClosed          Status = C.SHM_ERR_CLOSED
	ErrAttachLimit     Status = C.SHM_ERR_ATTACH_LIMIT
	ErrInternal        Status = C.SHM_ERR_INTERNAL
	ErrUntrusted       Status = C.SHM_ERR_UNTRUSTED
	ErrLockTimeout     Status = C.SHM_ERR_LOCK_TIMEOUT
)

const (
	statusOK   = C.SHM_OK
	statusDone = C.SHM_DONE
)

type cZone = C.shm_zone

func statusText(s Status) string { return C.GoString(C.shm_status_str(C.int32_t(s))) }

// ABIVersion is the loaded library's (major << 16) | minor.
func ABIVersion() uint32 { return uint32(C.shm_abi_version()) }

// failure turns a failed call's status and shm_error into an *Error.
func failure(op string, st C.shm_status, e *C.shm_error) error {
	msg := C.GoStringN(&e.message[0], C.int(e.message_len))
	if msg == "" {
		msg = statusText(Status(st))
	}
	return &Error{Op: op, Status: Status(st), Message: msg}
}

// cString copies s into C memory; the caller frees it with cFree. Strings with a NUL byte
// are refused here: C would silently see a shorter name.
func cString(op, s string) (*C.char, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, newError(op, ErrInvalidName, "name contains a NUL byte")
		}
	}
	return C.CString(s), nil
}

func cFree(p *C.char) {
	if p != nil {
		C.free(unsafe.Pointer(p))
	}
}

func cOptions(o *Options) C.shm_open_options {
	var c C.shm_open_options
	c.size = C.uint64_t(o.Size)
	c.flags = C.uint32_t(o.flags())
	c.mode = C.uint32_t(o.Mode)
	c.max_writers = C.uint32_t(o.MaxWriters)
	c.lock_timeout_ms = C.uint32_t(o.lockTimeoutMS())
	return c
}

// cOpen opens by directory and name, or by path when byPath is set.
func cOpen(op, dir, name string, byPath bool, o *Options) (*cZone, error) {
	opts := cOptions(o)
	var z *C.shm_zone
	var e C.shm_error
	var st C.shm_status
	cname, err := cString(op, name)
	if err != nil {
		return nil, err
	}
	defer cFree(cname)
	if byPath {
		st = C.shm_zone_open_file(cname, &opts, &z, &e)
	} else {
		var cdir *C.char
		if dir != "" {
			if cdir, err = cString(op, dir); err != nil {
				return nil, err
			}
			defer cFree(cdir)
		}
		st = C.shm_zone_open_in(cdir, cname, &opts, &z, &e)
	}
	if st != statusOK {
		return nil, failure(op, st, &e)
	}
	return z, nil
}

func cClose(z *cZone) error {
	var e C.shm_error
	if st := C.go_shm_zone_close(z, &e); st != statusOK {
		return failure("close", st, &e)
	}
	return nil
}

// cRegister takes one hold on metric name of kind and returns its value slot.
func cRegister(z *cZone, kind Kind, name string) (*reg, error) {
	var ref C.shm_metric_ref
	var e C.shm_error
	var p *C.char
	if len(name) > 0 {
		// The library reads len bytes and keeps nothing: Go's string bytes can be passed as is.
		p = (*C.char)(unsafe.Pointer(unsafe.StringData(name)))
	}
	st := C.shm_zone_register(z, C.uint32_t(kind), p, C.size_t(len(name)), &ref, &e)
	if st != statusOK {
		return nil, failure("register "+kind.String()+" "+quoteShort(name), st, &e)
	}
	return &reg{p: (*int64)(ref.slot), index: uint32(ref.index), generation: uint64(ref.generation), kind: kind}, nil
}

func cUnregister(z *cZone, r *reg) error {
	ref := C.shm_metric_ref{slot: unsafe.Pointer(r.p), generation: C.uint64_t(r.generation), index: C.uint32_t(r.index), kind: C.uint32_t(r.kind)}
	var e C.shm_error
	if st := C.shm_zone_unregister(z, &ref, &e); st != statusOK {
		return failure("unregister", st, &e)
	}
	return nil
}

const readBatch = 256

// cReadAll reads every live metric with shm_zone_read, a batch at a time.
func cReadAll(z *cZone) ([]Metric, error) {
	rows := make([]C.shm_metric_row, readBatch)
	names := make([]byte, readBatch*(NameMax+1))
	var out []Metric
	var cursor C.uint32_t
	for {
		var n C.size_t
		var e C.shm_error
		st := C.shm_zone_read(z, &cursor, &rows[0], C.size_t(len(rows)), (*C.char)(unsafe.Pointer(&names[0])), C.size_t(len(names)), &n, &e)
		if st == statusDone {
			return out, nil
		}
		if st != statusOK {
			return nil, failure("read", st, &e)
		}
		for _, r := range rows[:n] {
			m := Metric{
				Name:       string(names[r.name_offset : r.name_offset+r.name_len]),
				Kind:       Kind(r.kind),
				Int:        int64(r.value_i64),
				Float:      float64(r.value_f64),
				Generation: uint64(r.generation),
				Index:      uint32(r.index),
			}
			if r.created_unix_ns != 0 {
				m.Created = time.Unix(0, int64(r.created_unix_ns))
			}
			out = append(out, m)
		}
	}
}

func cInfo(z *cZone) (Info, error) {
	var i C.shm_info
	var e C.shm_error
	if st := C.shm_zone_info(z, &i, &e); st != statusOK {
		return Info{}, failure("info", st, &e)
	}
	info := Info{
		FileSize:            uint64(i.file_size),
		FailedRegistrations: uint64(i.failed_registrations),
		FailedZoneFull:      uint64(i.failed_zone_full),
		LockTimeouts:        uint64(i.lock_timeouts),
		Repairs:             uint64(i.repairs),
		Capacity:            uint32(i.capacity),
		Used:                uint32(i.used),
		Free:                uint32(i.free),
		Orphaned:            uint32(i.orphaned),
		HighWater:           uint32(i.high_water),
		Attached:            uint32(i.attached),
		MaxWriters:          uint32(i.max_writers),
		CreatorPID:          int(i.creator_pid),
		OwnerUID:            uint32(i.owner_uid),
		Mode:                os.FileMode(i.mode),
		VersionMajor:        uint16(i.version_major),
		VersionMinor:        uint16(i.version_minor),
		ReadOnly:            i.read_only != 0,
	}
	if i.created_unix_ns != 0 {
		info.Created = time.Unix(0, int64(i.created_unix_ns))
	}
	return info, nil
}

func cCheck(z *cZone) error {
	var e C.shm_error
	if st := C.shm_zone_check(z, &e); st != statusOK {
		return failure("verify", st, &e)
	}
	return nil
}

func cRepair(z *cZone) (int, error) {
	var n C.uint32_t
	var e C.shm_error
	if st := C.go_shm_zone_repair(z, &n, &e); st != statusOK {
		return 0, failure("repair", st, &e)
	}
	return int(n), nil
}

func cPath(z *cZone) (string, error) {
	buf := make([]byte, 4096)
	var n C.size_t
	var e C.shm_error
	if st := C.shm_zone_path(z, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n, &e); st != statusOK {
		return "", failure("path", st, &e)
	}
	return string(buf[:n]), nil
}

// cHandleCounter is a C counter handle, updated with one cgo call per increment: what this
// binding avoids. It exists for the benchmark that measures the difference.
type cHandleCounter struct{ h *C.shm_counter }

func cCounterOpen(z *cZone, name string) (cHandleCounter, error) {
	cname, err := cString("open counter", name)
	if err != nil {
		return cHandleCounter{}, err
	}
	defer cFree(cname)
	var h *C.shm_counter
	var e C.shm_error
	if st := C.go_shm_counter_open(z, cname, C.size_t(len(name)), &h, &e); st != statusOK {
		return cHandleCounter{}, failure("open counter", st, &e)
	}
	return cHandleCounter{h}, nil
}

func (c cHandleCounter) inc(n int64)  { C.shm_counter_inc(c.h, C.int64_t(n)) }
func (c cHandleCounter) count() int64 { return int64(C.shm_counter_count(c.h)) }
func (c cHandleCounter) release()     { C.shm_counter_release(c.h) }
