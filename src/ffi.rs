//! The C ABI: argument checks and conversions around the safe core, nothing else.
//!
//! Conventions (see README): every fallible call returns an `shm_status` (0 = `SHM_OK`) and
//! writes its out-parameters only on success; `shm_last_error()` holds the message of the
//! calling thread's last failure. Hot-path calls (`inc`, `update`, `value`...) are one atomic
//! instruction, return nothing that can fail, and accept NULL as a no-op (reads return 0).
//! Released handles and closed zones are parked (not freed) for the next 4096 releases, so a
//! stale pointer used by mistake gets `SHM_ERR_CLOSED` or a no-op instead of memory corruption.
//! No panic crosses this boundary.
#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Mutex;

pub use crate::error::shm_status;
use crate::error::{Error, Result, Status};
use crate::index::Kind;
use crate::layout::{NAME_MAX, SlotCell};
use crate::metric::{Metric, ops};
use crate::open::OpenOptions;
use crate::zone::Zone;

/// ABI version of this header: bump MAJOR on incompatible changes.
pub const SHM_ABI_VERSION_MAJOR: u32 = 1;
pub const SHM_ABI_VERSION_MINOR: u32 = 0;

/// Open flag: create the zone if it does not exist (needs a size).
pub const SHM_OPEN_CREATE: u32 = 1;
/// Open flag: with SHM_OPEN_CREATE, fail with SHM_ERR_EXISTS if the zone exists.
pub const SHM_OPEN_EXCLUSIVE: u32 = 2;
/// Open flag: map read-only, for monitors; works on a file the caller may only read.
pub const SHM_OPEN_READONLY: u32 = 4;
/// Open flag: start fresh: atomically replace an existing zone with an empty one. Processes
/// still attached to the old zone keep it and are not disturbed.
pub const SHM_OPEN_FRESH: u32 = 8;
/// Open flag: remove the zone file when the last attached process closes it.
pub const SHM_OPEN_REMOVE_ON_CLOSE: u32 = 16;

/// Metric kind: integer counter.
pub const SHM_KIND_COUNTER: u32 = 1;
/// Metric kind: integer gauge.
pub const SHM_KIND_GAUGE: u32 = 2;
/// Metric kind: float (IEEE-754 double) gauge.
pub const SHM_KIND_GAUGE_F64: u32 = 3;

/// Longest metric name in bytes; longer names get SHM_ERR_NAME_TOO_LONG, never truncation.
pub const SHM_NAME_MAX: u32 = 255;
/// Most processes that can attach one zone for writing at the same time.
pub const SHM_MAX_ATTACHED: u32 = 256;

/// An open zone. Thread-safe: any thread may use it at the same time.
pub struct shm_zone {
    zone: Mutex<Option<Zone>>,
}

/// A counter handle (go-metrics Counter). Thread-safe.
pub struct shm_counter(MetricHandle);
/// An integer gauge handle (go-metrics Gauge). Thread-safe.
pub struct shm_gauge(MetricHandle);
/// A float gauge handle (go-metrics GaugeFloat64). Thread-safe.
pub struct shm_gauge_f64(MetricHandle);

struct MetricHandle {
    cell: SlotCell,
    metric: Mutex<Option<Metric>>,
}

/// Zone occupancy, filled by shm_zone_stats().
#[repr(C)]
pub struct shm_stats {
    /// Entries the zone can hold.
    pub capacity: u32,
    /// Live metrics.
    pub used: u32,
    /// Free entries.
    pub free: u32,
    /// Live metrics no attached process holds (their processes exited); kept for continuity,
    /// reclaimed when the zone is full.
    pub orphaned: u32,
    /// Processes attached for writing (read-only monitors are not counted).
    pub attached: u32,
    /// SHM_MAX_ATTACHED.
    pub max_attached: u32,
    /// Registrations refused for any reason (full, bad name, kind mismatch).
    pub failed_registrations: u64,
    /// Registrations refused because the zone was full.
    pub failed_zone_full: u64,
    /// Size of the zone file in bytes.
    pub file_size: u64,
    pub version_major: u16,
    pub version_minor: u16,
    /// SHM_NAME_MAX.
    pub name_max: u32,
    /// Index repairs after a process died while registering or releasing.
    pub repairs: u64,
}

/// One metric, filled by shm_zone_next().
#[repr(C)]
pub struct shm_metric_info {
    /// SHM_KIND_*.
    pub kind: u32,
    /// Bytes in `name`, excluding the terminating NUL.
    pub name_len: u32,
    /// Registration id: changes when an entry is freed and reused.
    pub generation: u64,
    /// Value of counters and integer gauges (0 for float gauges).
    pub value_i64: i64,
    /// Value of every kind as a double.
    pub value_f64: f64,
    /// The name, NUL-terminated UTF-8.
    pub name: [c_char; 256],
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn fail(e: Error) -> shm_status {
    let msg = CString::new(e.message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = msg);
    e.status
}

/// Runs a fallible body; a panic becomes SHM_ERR_INTERNAL instead of unwinding into C.
fn boundary(f: impl FnOnce() -> Result<()>) -> shm_status {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(Error::new(Status::SHM_ERR_INTERNAL, "internal error (panic)"))).map_or_else(fail, |()| Status::SHM_OK)
}

fn null(what: &str) -> Error {
    Error::new(Status::SHM_ERR_NULL_ARGUMENT, format!("{what} is NULL"))
}

/// Released handles and closed zones, kept allocated so a stale pointer stays harmless.
static PARKED: Mutex<VecDeque<Parked>> = Mutex::new(VecDeque::new());
/// A parked allocation's address and the function that frees it.
type Parked = (usize, unsafe fn(usize));
const PARK_DEPTH: usize = 4096;

unsafe fn free_box<T>(p: usize) {
    // SAFETY: `p` came from Box::into_raw::<T> and is freed once, when it leaves PARKED.
    drop(unsafe { Box::from_raw(p as *mut T) });
}

fn park<T>(p: *const T) {
    let mut q = PARKED.lock().unwrap_or_else(|e| e.into_inner());
    q.push_back((p as usize, free_box::<T>));
    while q.len() > PARK_DEPTH {
        let (p, free) = q.pop_front().expect("non-empty");
        // SAFETY: each parked pointer is pushed once (only by the call that emptied it) and
        // popped once, and its C owner gave it up PARK_DEPTH releases ago.
        unsafe { free(p) };
    }
}

/// # Safety
/// `out` is NULL or valid for a write of `T`.
unsafe fn write_out<T>(out: *mut T, v: T) -> Result<()> {
    if out.is_null() {
        return Err(null("output pointer"));
    }
    // SAFETY: non-NULL and, by the caller's contract, valid for writes.
    unsafe { out.write(v) };
    Ok(())
}

/// # Safety
/// `s` is NULL or a NUL-terminated string.
unsafe fn c_str<'a>(s: *const c_char, what: &str) -> Result<&'a str> {
    if s.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(s) };
    s.to_str().map_err(|_| Error::new(Status::SHM_ERR_INVALID_NAME, format!("{what} is not valid UTF-8")))
}

fn open_options(size: u64, flags: u32, mode: u32) -> Result<OpenOptions> {
    let known = SHM_OPEN_CREATE | SHM_OPEN_EXCLUSIVE | SHM_OPEN_READONLY | SHM_OPEN_FRESH | SHM_OPEN_REMOVE_ON_CLOSE;
    if flags & !known != 0 {
        return Err(Error::new(Status::SHM_ERR_INVALID_ARGUMENT, format!("unknown open flags {:#x}", flags & !known)));
    }
    let opts = OpenOptions {
        size,
        create: flags & (SHM_OPEN_CREATE | SHM_OPEN_FRESH) != 0,
        exclusive: flags & SHM_OPEN_EXCLUSIVE != 0,
        read_only: flags & SHM_OPEN_READONLY != 0,
        fresh: flags & SHM_OPEN_FRESH != 0,
        remove_on_close: flags & SHM_OPEN_REMOVE_ON_CLOSE != 0,
        mode: if mode == 0 { crate::open::DEFAULT_MODE } else { mode },
    };
    opts.check()?;
    Ok(opts)
}

fn zone_of(z: Option<&shm_zone>) -> Result<Zone> {
    let z = z.ok_or_else(|| null("zone"))?;
    z.zone.lock().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(|| Error::new(Status::SHM_ERR_CLOSED, "the zone was closed"))
}

/// # Safety
/// `out` is NULL or valid for a write of a pointer.
unsafe fn give_zone(open: impl FnOnce() -> Result<Zone>, out: *mut *mut shm_zone) -> Result<()> {
    // Checked first: a call that fails must not have created, attached or replaced anything.
    if out.is_null() {
        return Err(null("output pointer"));
    }
    let p = Box::into_raw(Box::new(shm_zone { zone: Mutex::new(Some(open()?)) }));
    // SAFETY: non-NULL, and valid for a pointer write by the caller's contract.
    unsafe { out.write(p) };
    Ok(())
}

/// Text for a status code ("unknown status" for codes this library does not define). The
/// string is static.
#[unsafe(no_mangle)]
pub extern "C" fn shm_status_str(status: i32) -> *const c_char {
    match Status::from_code(status) {
        Some(s) => STATUS_TEXT[s as usize].as_ptr(),
        None => c"unknown status".as_ptr(),
    }
}

static STATUS_TEXT: std::sync::LazyLock<Vec<CString>> = std::sync::LazyLock::new(|| (0..).map_while(Status::from_code).map(|s| CString::new(s.text()).expect("no NUL")).collect());

/// The message of the calling thread's last failed call ("" if none). Valid until the next
/// failing call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn shm_last_error() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().as_ptr())
}

/// (SHM_ABI_VERSION_MAJOR << 16) | SHM_ABI_VERSION_MINOR of the loaded library.
#[unsafe(no_mangle)]
pub extern "C" fn shm_abi_version() -> u32 {
    (SHM_ABI_VERSION_MAJOR << 16) | SHM_ABI_VERSION_MINOR
}

/// Opens zone `name` in `$SHMMETRICS_DIR` (default `/dev/shm`), file `shmmetrics-<name>`.
/// `name` is 1-200 characters of [A-Za-z0-9_.-] not starting with '.'. `size` (bytes, rounded up
/// to the page size) is used only when creating. `flags` is a mask of SHM_OPEN_*. New files get
/// mode 0600.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `out` is NULL or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_open(name: *const c_char, size: u64, flags: u32, out: *mut *mut shm_zone) -> shm_status {
    boundary(|| {
        // SAFETY: caller contract on `name` and `out`.
        let name = unsafe { c_str(name, "zone name") }?;
        let opts = open_options(size, flags, 0)?;
        let path = crate::open::zone_path(name)?;
        // SAFETY: caller contract on `out`.
        unsafe { give_zone(|| Zone::open_path(&path, &opts), out) }
    })
}

/// Like shm_zone_open() with an explicit file path. `mode` (e.g. 0640 for group-readable
/// monitoring) applies to a newly created file; 0 means 0600. Symlinks are refused.
///
/// # Safety
/// `path` is NULL or NUL-terminated; `out` is NULL or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_open_path(path: *const c_char, size: u64, flags: u32, mode: u32, out: *mut *mut shm_zone) -> shm_status {
    boundary(|| {
        // SAFETY: caller contract on `path`.
        let path = unsafe { c_str(path, "zone path") }?;
        if path.is_empty() {
            return Err(Error::new(Status::SHM_ERR_INVALID_NAME, "zone path is empty"));
        }
        let opts = open_options(size, flags, mode)?;
        // SAFETY: caller contract on `out`.
        unsafe { give_zone(|| Zone::open_path(Path::new(path), &opts), out) }
    })
}

/// Closes a zone (NULL is fine). Metric handles stay usable until released. Returns
/// SHM_ERR_CLOSED if the zone was already closed.
#[unsafe(no_mangle)]
pub extern "C" fn shm_zone_close(zone: Option<&mut shm_zone>) -> shm_status {
    boundary(|| {
        let Some(z) = zone else { return Ok(()) };
        let taken = z.zone.lock().unwrap_or_else(|e| e.into_inner()).take();
        let zone = taken.ok_or_else(|| Error::new(Status::SHM_ERR_CLOSED, "the zone was already closed"))?;
        zone.close();
        park(z);
        Ok(())
    })
}

/// Fills `out` with the zone's occupancy and health counters.
///
/// # Safety
/// `out` is NULL or valid for a write of shm_stats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_stats(zone: Option<&shm_zone>, out: *mut shm_stats) -> shm_status {
    boundary(|| {
        let s = zone_of(zone)?.stats()?;
        let stats = shm_stats {
            capacity: s.capacity,
            used: s.used,
            free: s.free,
            orphaned: s.orphaned,
            attached: s.attached,
            max_attached: SHM_MAX_ATTACHED,
            failed_registrations: s.failed_registrations,
            failed_zone_full: s.failed_zone_full,
            file_size: s.file_size,
            version_major: s.version_major,
            version_minor: s.version_minor,
            name_max: SHM_NAME_MAX,
            repairs: s.repairs,
        };
        // SAFETY: caller contract on `out`.
        unsafe { write_out(out, stats) }
    })
}

/// Iterates over the live metrics without taking any lock (works on read-only zones). Start
/// with `*cursor = 0`; each SHM_OK fills `out` and advances the cursor; SHM_DONE ends.
/// At cursor 0 the zone file is checked: SHM_ERR_CORRUPT if it was truncated.
///
/// # Safety
/// `cursor` and `out` are NULL or valid for reads and writes of their types.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_next(zone: Option<&shm_zone>, cursor: *mut u32, out: *mut shm_metric_info) -> shm_status {
    let mut done = false;
    let status = boundary(|| {
        let zone = zone_of(zone)?;
        if cursor.is_null() {
            return Err(null("cursor"));
        }
        // SAFETY: non-NULL and valid by the caller's contract.
        let start = unsafe { cursor.read() };
        if start == 0 {
            zone.check_file()?;
        }
        let Some(snap) = (start..zone.capacity()).find_map(|i| zone.entry(i)) else {
            done = true;
            return Ok(());
        };
        let mut info = shm_metric_info { kind: snap.kind as u32, name_len: snap.name.len() as u32, generation: snap.generation, value_i64: 0, value_f64: 0.0, name: [0; 256] };
        match snap.kind {
            Kind::GaugeF64 => info.value_f64 = f64::from_bits(snap.bits),
            Kind::Counter | Kind::Gauge => {
                info.value_i64 = snap.bits as i64;
                info.value_f64 = info.value_i64 as f64;
            }
        }
        for (d, s) in info.name.iter_mut().zip(snap.name.bytes()) {
            *d = s as c_char;
        }
        // SAFETY: caller contract on `out` and `cursor` (checked non-NULL above).
        unsafe {
            write_out(out, info)?;
            cursor.write(snap.index + 1);
        }
        Ok(())
    });
    if status == Status::SHM_OK && done { Status::SHM_DONE } else { status }
}

/// Checks the zone's structure. SHM_OK when healthy, SHM_ERR_CORRUPT with the problems in
/// shm_last_error() otherwise. Takes the registration lock unless the zone is read-only.
#[unsafe(no_mangle)]
pub extern "C" fn shm_zone_verify(zone: Option<&shm_zone>) -> shm_status {
    boundary(|| {
        let problems = zone_of(zone)?.verify()?;
        if problems.is_empty() { Ok(()) } else { Err(Error::new(Status::SHM_ERR_CORRUPT, problems.join("; "))) }
    })
}

/// Reclaims what crashed processes left behind (interrupted registrations, claims of dead
/// processes) and rebuilds the index. `out_reclaimed` (may be NULL) gets the entries freed.
///
/// # Safety
/// `out_reclaimed` is NULL or valid for a write of uint32_t.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_repair(zone: Option<&shm_zone>, out_reclaimed: *mut u32) -> shm_status {
    boundary(|| {
        let n = zone_of(zone)?.repair()?;
        if !out_reclaimed.is_null() {
            // SAFETY: non-NULL and valid by the caller's contract.
            unsafe { out_reclaimed.write(n) };
        }
        Ok(())
    })
}

/// # Safety
/// `name` is NULL or valid for reads of `name_len` bytes; `out` as in write_out.
unsafe fn open_metric<T>(zone: Option<&shm_zone>, name: *const c_char, name_len: usize, kind: Kind, out: *mut *mut T, wrap: fn(MetricHandle) -> T) -> shm_status {
    boundary(|| {
        let zone = zone_of(zone)?;
        // Never look past one byte over the limit: that is enough to refuse a long name, and
        // keeps an absurd length from becoming an absurd slice.
        let seen = name_len.min(NAME_MAX + 1);
        let name: &[u8] = match (name.is_null(), seen) {
            (_, 0) => &[],
            (true, _) => return Err(null("name")),
            // SAFETY: non-NULL and valid for name_len >= seen bytes by the caller's contract.
            (false, n) => unsafe { std::slice::from_raw_parts(name.cast::<u8>(), n) },
        };
        if out.is_null() {
            return Err(null("output pointer"));
        }
        let metric = zone.register(name, kind).map_err(|e| match e.status {
            Status::SHM_ERR_NAME_TOO_LONG => Error::new(e.status, format!("metric name is {name_len} bytes; the limit is {NAME_MAX}")),
            _ => e,
        })?;
        let handle = MetricHandle { cell: SlotCell::new(metric.slot()), metric: Mutex::new(Some(metric)) };
        // SAFETY: checked non-NULL; valid for writes by the caller's contract.
        unsafe { out.write(Box::into_raw(Box::new(wrap(handle)))) };
        Ok(())
    })
}

/// Ends a C handle; with `unregister`, also gives up this process's claim on the metric.
fn end_handle<T>(outer: Option<&mut T>, inner: impl Fn(&T) -> &MetricHandle, unregister: bool) -> shm_status {
    boundary(|| {
        let Some(t) = outer else { return Ok(()) };
        let h = inner(&*t);
        let taken = h.metric.lock().unwrap_or_else(|e| e.into_inner()).take();
        let metric = taken.ok_or_else(|| Error::new(Status::SHM_ERR_CLOSED, "the handle was already released or closed"))?;
        h.cell.detach();
        park(t);
        if unregister { metric.release() } else { Ok(()) }
    })
}

#[inline(always)]
fn with_slot<T, R>(h: Option<&T>, inner: impl Fn(&T) -> &MetricHandle, f: impl FnOnce(&std::sync::atomic::AtomicU64) -> R, none: R) -> R {
    match h {
        // SAFETY: the C contract forbids releasing a handle while another call uses it, so no
        // detach runs concurrently with this use of the slot.
        Some(h) => f(unsafe { inner(h).cell.get() }),
        None => none,
    }
}

/// Registers (or finds) the counter `name` (`name_len` bytes of UTF-8, no NUL, at most
/// SHM_NAME_MAX) and returns a handle in `*out`. Every process that opens the same name in the
/// same zone shares one value.
///
/// # Safety
/// `name` is NULL or valid for `name_len` bytes; `out` is NULL or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_counter_open(zone: Option<&shm_zone>, name: *const c_char, name_len: usize, out: *mut *mut shm_counter) -> shm_status {
    // SAFETY: forwarded caller contract.
    unsafe { open_metric(zone, name, name_len, Kind::Counter, out, shm_counter) }
}

/// Unregisters: frees the handle and gives up this process's claim on the counter; when no
/// process claims it any more, its entry and value are freed (go-metrics `Stop`). NULL is
/// fine. The handle is invalid afterwards whatever the result; it must not be in use by
/// another thread during the call.
#[unsafe(no_mangle)]
pub extern "C" fn shm_counter_release(counter: Option<&mut shm_counter>) -> shm_status {
    end_handle(counter, |c| &c.0, true)
}

/// Frees the handle but keeps the counter registered: this process's claim lasts until it
/// detaches from the zone (closes it or exits), and the value stays for the next process.
/// NULL is fine; same rules as shm_counter_release().
#[unsafe(no_mangle)]
pub extern "C" fn shm_counter_close(counter: Option<&mut shm_counter>) -> shm_status {
    end_handle(counter, |c| &c.0, false)
}

/// Adds `n`. One atomic instruction; NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn shm_counter_inc(counter: Option<&shm_counter>, n: i64) {
    with_slot(counter, |c| &c.0, |a| ops::add_i64(a, n), ())
}

/// Subtracts `n`. One atomic instruction; NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn shm_counter_dec(counter: Option<&shm_counter>, n: i64) {
    with_slot(counter, |c| &c.0, |a| ops::sub_i64(a, n), ())
}

/// The current count (0 for NULL).
#[unsafe(no_mangle)]
pub extern "C" fn shm_counter_count(counter: Option<&shm_counter>) -> i64 {
    with_slot(counter, |c| &c.0, ops::load_i64, 0)
}

/// Sets the count to 0. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn shm_counter_clear(counter: Option<&shm_counter>) {
    with_slot(counter, |c| &c.0, |a| ops::store_i64(a, 0), ())
}

/// Address of the counter's 8-byte value slot, for bindings doing their own atomics (see
/// docs/FORMAT.md). Valid until the handle is released. NULL for NULL or released handles.
#[unsafe(no_mangle)]
pub extern "C" fn shm_counter_slot(counter: Option<&shm_counter>) -> *mut i64 {
    counter.map_or(std::ptr::null_mut(), |c| c.0.cell.address().cast())
}

/// Registers (or finds) the integer gauge `name`; see shm_counter_open().
///
/// # Safety
/// `name` is NULL or valid for `name_len` bytes; `out` is NULL or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_gauge_open(zone: Option<&shm_zone>, name: *const c_char, name_len: usize, out: *mut *mut shm_gauge) -> shm_status {
    // SAFETY: forwarded caller contract.
    unsafe { open_metric(zone, name, name_len, Kind::Gauge, out, shm_gauge) }
}

/// Releases a gauge handle; see shm_counter_release().
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_release(gauge: Option<&mut shm_gauge>) -> shm_status {
    end_handle(gauge, |g| &g.0, true)
}

/// Frees the handle, keeping the gauge registered; see shm_counter_close().
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_close(gauge: Option<&mut shm_gauge>) -> shm_status {
    end_handle(gauge, |g| &g.0, false)
}

/// Sets the gauge. One atomic store; NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_update(gauge: Option<&shm_gauge>, value: i64) {
    with_slot(gauge, |g| &g.0, |a| ops::store_i64(a, value), ())
}

/// The gauge's value (0 for NULL).
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_value(gauge: Option<&shm_gauge>) -> i64 {
    with_slot(gauge, |g| &g.0, ops::load_i64, 0)
}

/// Address of the gauge's value slot; see shm_counter_slot().
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_slot(gauge: Option<&shm_gauge>) -> *mut i64 {
    gauge.map_or(std::ptr::null_mut(), |g| g.0.cell.address().cast())
}

/// Registers (or finds) the float gauge `name`; see shm_counter_open().
///
/// # Safety
/// `name` is NULL or valid for `name_len` bytes; `out` is NULL or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_gauge_f64_open(zone: Option<&shm_zone>, name: *const c_char, name_len: usize, out: *mut *mut shm_gauge_f64) -> shm_status {
    // SAFETY: forwarded caller contract.
    unsafe { open_metric(zone, name, name_len, Kind::GaugeF64, out, shm_gauge_f64) }
}

/// Releases a float gauge handle; see shm_counter_release().
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_f64_release(gauge: Option<&mut shm_gauge_f64>) -> shm_status {
    end_handle(gauge, |g| &g.0, true)
}

/// Frees the handle, keeping the float gauge registered; see shm_counter_close().
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_f64_close(gauge: Option<&mut shm_gauge_f64>) -> shm_status {
    end_handle(gauge, |g| &g.0, false)
}

/// Sets the float gauge. One atomic store; NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_f64_update(gauge: Option<&shm_gauge_f64>, value: f64) {
    with_slot(gauge, |g| &g.0, |a| ops::store_f64(a, value), ())
}

/// Adds `delta` with a compare-and-swap loop (exact under concurrency). NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_f64_add(gauge: Option<&shm_gauge_f64>, delta: f64) {
    with_slot(gauge, |g| &g.0, |a| ops::add_f64(a, delta), ())
}

/// The float gauge's value (0.0 for NULL).
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_f64_value(gauge: Option<&shm_gauge_f64>) -> f64 {
    with_slot(gauge, |g| &g.0, ops::load_f64, 0.0)
}

/// Address of the float gauge's value slot (IEEE-754 bits); see shm_counter_slot().
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_f64_slot(gauge: Option<&shm_gauge_f64>) -> *mut f64 {
    gauge.map_or(std::ptr::null_mut(), |g| g.0.cell.address().cast())
}
