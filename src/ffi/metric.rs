//! `shm_counter`, `shm_gauge`, `shm_gauge_f64`: metric handles and their hot paths.

use std::ffi::c_char;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use super::zone::{shm_zone, zone_of};
use super::*;
use crate::layout::SlotCell;
use crate::metric::{Metric, ops};

/// A counter handle (go-metrics Counter). Thread-safe.
pub struct shm_counter(MetricHandle);
/// An integer gauge handle (go-metrics Gauge). Thread-safe.
pub struct shm_gauge(MetricHandle);
/// A float gauge handle (go-metrics GaugeFloat64). Thread-safe.
pub struct shm_gauge_f64(MetricHandle);

struct MetricHandle {
    cell: SlotCell,
    /// Keeps the mapping (and this process's hold) until the handle ends; `cell` is detached
    /// before this is dropped.
    metric: Mutex<Option<Metric>>,
}

/// # Safety
/// `name` is NULL or valid for reads of `name_len` bytes; `out` as in write_out.
unsafe fn open_metric<T>(zone: Option<&shm_zone>, name: *const c_char, name_len: usize, kind: Kind, out: *mut *mut T, wrap: fn(MetricHandle) -> T) -> shm_status {
    boundary(std::ptr::null_mut(), || {
        let zone = zone_of(zone)?;
        // SAFETY: caller contract on `name`.
        let name = unsafe { metric_name(name, name_len) }?;
        if out.is_null() {
            return Err(null("output pointer"));
        }
        let metric = zone.register(name, kind).map_err(|e| name_error(e, name_len))?;
        let handle = MetricHandle { cell: SlotCell::new(metric.slot()), metric: Mutex::new(Some(metric)) };
        // SAFETY: checked non-NULL; valid for writes by the caller's contract.
        unsafe { write_out(out, Box::into_raw(Box::new(wrap(handle)))) }
    })
}

/// Ends a C handle; with `unregister`, also gives up this process's claim on the metric.
fn end_handle<T>(outer: Option<&T>, inner: impl Fn(&T) -> &MetricHandle, unregister: bool) -> shm_status {
    boundary(std::ptr::null_mut(), || {
        let Some(t) = outer else { return Ok(()) };
        let h = inner(t);
        let taken = h.metric.lock().unwrap_or_else(|e| e.into_inner()).take();
        let metric = taken.ok_or_else(|| Error::new(Status::SHM_ERR_CLOSED, "the handle was already released or closed"))?;
        h.cell.detach();
        park(t);
        if unregister { metric.release() } else { Ok(()) }
    })
}

#[inline(always)]
fn with_slot<T, R>(h: Option<&T>, inner: impl Fn(&T) -> &MetricHandle, f: impl FnOnce(&AtomicU64) -> R, none: R) -> R {
    match h {
        // SAFETY: the handle's Metric keeps the slot's mapping alive until end_handle, which
        // detaches the cell first; the C contract forbids ending a handle while another call
        // uses it, so no detach runs concurrently with this use.
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
pub extern "C" fn shm_counter_release(counter: Option<&shm_counter>) -> shm_status {
    end_handle(counter, |c| &c.0, true)
}

/// Frees the handle but keeps the counter registered: this process's claim lasts until it
/// detaches from the zone (closes it or exits), and the value stays for the next process.
/// NULL is fine; same rules as shm_counter_release().
#[unsafe(no_mangle)]
pub extern "C" fn shm_counter_close(counter: Option<&shm_counter>) -> shm_status {
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

/// Address of the counter's 8-byte value slot, for the inline shm_slot_* helpers and for
/// bindings doing their own atomics (see docs/FORMAT.md). Valid until the handle is released or
/// closed. NULL for NULL or ended handles.
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
pub extern "C" fn shm_gauge_release(gauge: Option<&shm_gauge>) -> shm_status {
    end_handle(gauge, |g| &g.0, true)
}

/// Frees the handle, keeping the gauge registered; see shm_counter_close().
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_close(gauge: Option<&shm_gauge>) -> shm_status {
    end_handle(gauge, |g| &g.0, false)
}

/// Sets the gauge. One atomic store; NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_update(gauge: Option<&shm_gauge>, value: i64) {
    with_slot(gauge, |g| &g.0, |a| ops::store_i64(a, value), ())
}

/// Adds `n` (negative to subtract): an up-down counter (prometheus_client Gauge.inc/dec,
/// OpenTelemetry UpDownCounter). One atomic add; NULL is a no-op. (ABI 1.1)
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_add(gauge: Option<&shm_gauge>, n: i64) {
    with_slot(gauge, |g| &g.0, |a| ops::add_i64(a, n), ())
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
pub extern "C" fn shm_gauge_f64_release(gauge: Option<&shm_gauge_f64>) -> shm_status {
    end_handle(gauge, |g| &g.0, true)
}

/// Frees the handle, keeping the float gauge registered; see shm_counter_close().
#[unsafe(no_mangle)]
pub extern "C" fn shm_gauge_f64_close(gauge: Option<&shm_gauge_f64>) -> shm_status {
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
