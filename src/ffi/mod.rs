//! The C ABI: argument checks and conversions around the safe core, nothing else.
//!
//! Conventions (see README): every fallible call returns an `shm_status` (0 = `SHM_OK`) and
//! writes its out-parameters only on success. Failures record their message twice: in the
//! caller's `shm_error` when the call takes one (ABI 1.1 calls; thread-independent, for Go),
//! and as the calling thread's `shm_last_error()`. Hot-path calls (`inc`, `update`, `value`...)
//! are one atomic instruction, return nothing that can fail, and accept NULL as a no-op (reads
//! return 0). Released handles and closed zones are parked (not freed) for the next 4096
//! releases, so a stale pointer used by mistake gets `SHM_ERR_CLOSED` or a no-op instead of
//! memory corruption. No panic crosses this boundary.
//!
//! One file per C type, each exported function written out for cbindgen: `zone.rs` (zones,
//! registration by kind), `metric.rs` (counter, gauge and float gauge handles), `read.rs`
//! (iteration and bulk reads).
#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]

mod metric;
mod read;
mod zone;

pub use metric::*;
pub use read::*;
pub use zone::*;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::Mutex;

pub use crate::error::shm_status;
use crate::error::{Error, Result, Status};
use crate::index::Kind;

/// ABI version of this header: bump MAJOR on incompatible changes, MINOR on additions.
/// 1.1 added shm_open_options, shm_zone_open_in/_file, shm_error, shm_zone_register/
/// _unregister, shm_zone_read, shm_zone_info (shm_info), shm_zone_check, shm_zone_path, shm_gauge_add, SHM_OPEN_TRUST_SHARED,
/// SHM_ERR_UNTRUSTED, SHM_ERR_LOCK_TIMEOUT and the inline shm_slot_* helpers.
pub const SHM_ABI_VERSION_MAJOR: u32 = 1;
pub const SHM_ABI_VERSION_MINOR: u32 = 1;

/// Open flag: create the zone if it does not exist (needs a size).
pub const SHM_OPEN_CREATE: u32 = 1;
/// Open flag: with SHM_OPEN_CREATE, fail with SHM_ERR_EXISTS if the zone exists.
pub const SHM_OPEN_EXCLUSIVE: u32 = 2;
/// Open flag: map read-only, for monitors; works on a file the caller may only read, whoever
/// owns it.
pub const SHM_OPEN_READONLY: u32 = 4;
/// Open flag: start fresh: atomically replace an existing zone with an empty one. Processes
/// still attached to the old zone keep it and are not disturbed. Never replaces a file that
/// another user owns.
pub const SHM_OPEN_FRESH: u32 = 8;
/// Open flag: remove the zone file when the last attached process closes it.
pub const SHM_OPEN_REMOVE_ON_CLOSE: u32 = 16;
/// Open flag: write to a zone another user owns or may write (a zone shared between users on
/// purpose, e.g. through a common group). Without it a writer refuses such a file with
/// SHM_ERR_UNTRUSTED; read-only opens never check.
pub const SHM_OPEN_TRUST_SHARED: u32 = 32;

/// Metric kind: integer counter.
pub const SHM_KIND_COUNTER: u32 = 1;
/// Metric kind: integer gauge.
pub const SHM_KIND_GAUGE: u32 = 2;
/// Metric kind: float (IEEE-754 double) gauge.
pub const SHM_KIND_GAUGE_F64: u32 = 3;

/// Longest metric name in bytes; longer names get SHM_ERR_NAME_TOO_LONG, never truncation.
pub const SHM_NAME_MAX: u32 = 255;
/// Writer slots of a zone created without saying how many (shm_open_options.max_writers).
pub const SHM_MAX_ATTACHED: u32 = 256;
/// Most writer slots a zone can be created with.
pub const SHM_MAX_WRITERS: u32 = 16384;
/// Size of a zone created through shm_open_options with size 0: 1 MiB (2,016 metrics).
pub const SHM_DEFAULT_SIZE: u64 = 1048576;
/// How long a registration waits for the registration lock by default.
pub const SHM_DEFAULT_LOCK_TIMEOUT_MS: u32 = 5000;
/// Bytes of shm_error.message, terminating NUL included.
pub const SHM_ERROR_MESSAGE_MAX: u32 = 1024;

const _: () = {
    assert!(SHM_KIND_COUNTER == Kind::Counter as u32);
    assert!(SHM_KIND_GAUGE == Kind::Gauge as u32);
    assert!(SHM_KIND_GAUGE_F64 == Kind::GaugeF64 as u32);
    assert!(SHM_NAME_MAX as usize == crate::layout::NAME_MAX);
    assert!(SHM_MAX_ATTACHED == crate::layout::DEFAULT_WRITERS);
    assert!(SHM_MAX_WRITERS == crate::layout::MAX_WRITERS);
    assert!(SHM_DEFAULT_SIZE == crate::open::DEFAULT_SIZE);
    assert!(SHM_DEFAULT_LOCK_TIMEOUT_MS as u128 == crate::open::DEFAULT_LOCK_TIMEOUT.as_millis());
};

/// A failed call's status and message, filled by the calls that take one (only when they
/// fail). Unlike shm_last_error() it does not depend on the calling thread, so a caller whose
/// calls may move between threads (Go) reads the right message.
#[repr(C)]
pub struct shm_error {
    /// The status the call returned.
    pub status: shm_status,
    /// Bytes in `message`, excluding the terminating NUL.
    pub message_len: u32,
    /// NUL-terminated UTF-8; a longer message is cut at a character boundary and ends in "...".
    pub message: [c_char; SHM_ERROR_MESSAGE_MAX as usize],
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn fail(e: Error, err: *mut shm_error) -> shm_status {
    let msg = e.message.replace('\0', " ");
    if let Some(out) = NonNull::new(err) {
        let max = SHM_ERROR_MESSAGE_MAX as usize - 1;
        let mut text = msg.as_str();
        let cut;
        if text.len() > max {
            let mut end = max - 3;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            cut = format!("{}...", &text[..end]);
            text = &cut;
        }
        let mut message = [0 as c_char; SHM_ERROR_MESSAGE_MAX as usize];
        for (d, s) in message.iter_mut().zip(text.bytes()) {
            *d = s as c_char;
        }
        // SAFETY: non-NULL, and valid for a write of shm_error by the caller's contract.
        unsafe { out.as_ptr().write(shm_error { status: e.status, message_len: text.len() as u32, message }) };
    }
    LAST_ERROR.with(|l| *l.borrow_mut() = CString::new(msg).unwrap_or_default());
    e.status
}

/// Runs a fallible body; a panic becomes SHM_ERR_INTERNAL instead of unwinding into C. A
/// failure fills `err` (may be NULL) and the thread's last error.
fn boundary(err: *mut shm_error, f: impl FnOnce() -> Result<()>) -> shm_status {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(Error::new(Status::SHM_ERR_INTERNAL, "internal error (panic)"))).map_or_else(|e| fail(e, err), |()| Status::SHM_OK)
}

fn null(what: &str) -> Error {
    Error::new(Status::SHM_ERR_NULL_ARGUMENT, format!("{what} is NULL"))
}

/// A released handle or closed zone and the function that frees it.
struct Parked(NonNull<()>, unsafe fn(NonNull<()>));

// SAFETY: a parked allocation is no longer used by this library; it is only freed, once, by
// whichever thread pushes it out of the queue.
unsafe impl Send for Parked {}

/// Released handles and closed zones, kept allocated so a stale pointer stays harmless.
static PARKED: Mutex<VecDeque<Parked>> = Mutex::new(VecDeque::new());
const PARK_DEPTH: usize = 4096;

unsafe fn free_box<T>(p: NonNull<()>) {
    // SAFETY: `p` came from Box::into_raw::<T> and is freed once, when it leaves PARKED.
    drop(unsafe { Box::from_raw(p.cast::<T>().as_ptr()) });
}

/// Parks `p`, an allocation from `Box::into_raw::<T>` that its C owner gave up.
fn park<T>(p: &T) {
    let mut q = PARKED.lock().unwrap_or_else(|e| e.into_inner());
    q.push_back(Parked(NonNull::from(p).cast(), free_box::<T>));
    while q.len() > PARK_DEPTH {
        let Parked(p, free) = q.pop_front().expect("non-empty");
        // SAFETY: each parked pointer is pushed once (only by the call that emptied its
        // handle) and popped once, and its C owner gave it up PARK_DEPTH releases ago.
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

/// A metric name given as (pointer, length). Never looks past one byte over the limit: that
/// is enough to refuse a long name, and keeps an absurd length from becoming an absurd slice.
///
/// # Safety
/// `name` is NULL or valid for reads of `len` bytes.
unsafe fn metric_name<'a>(name: *const c_char, len: usize) -> Result<&'a [u8]> {
    match (name.is_null(), len.min(crate::layout::NAME_MAX + 1)) {
        (_, 0) => Ok(&[]),
        (true, _) => Err(null("name")),
        // SAFETY: non-NULL and valid for len >= n bytes by the caller's contract.
        (false, n) => Ok(unsafe { std::slice::from_raw_parts(name.cast::<u8>(), n) }),
    }
}

/// Keeps the reported length honest when `metric_name` looked only at a prefix.
fn name_error(e: Error, len: usize) -> Error {
    match e.status {
        Status::SHM_ERR_NAME_TOO_LONG => Error::new(e.status, format!("metric name is {len} bytes; the limit is {SHM_NAME_MAX}")),
        _ => e,
    }
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
/// failing call on this thread. Callers whose calls may run on different threads (Go) use the
/// shm_error of the calls that take one instead.
#[unsafe(no_mangle)]
pub extern "C" fn shm_last_error() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().as_ptr())
}

/// (SHM_ABI_VERSION_MAJOR << 16) | SHM_ABI_VERSION_MINOR of the loaded library.
#[unsafe(no_mangle)]
pub extern "C" fn shm_abi_version() -> u32 {
    (SHM_ABI_VERSION_MAJOR << 16) | SHM_ABI_VERSION_MINOR
}
