//! Reading every metric without locks: one at a time (`shm_zone_next`) or in bulk
//! (`shm_zone_read`). Both work on read-only zones.

use std::ffi::c_char;

use super::zone::{shm_zone, zone_of};
use super::*;
use crate::read::Value;

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

/// One metric, filled by shm_zone_read() (ABI 1.1). Its name is in the caller's names buffer.
#[repr(C)]
pub struct shm_metric_row {
    /// Registration id: changes when an entry is freed and reused (a counter whose id changed
    /// was reset).
    pub generation: u64,
    /// When the metric was registered, nanoseconds since the Unix epoch (0 if unknown).
    pub created_unix_ns: u64,
    /// Value of counters and integer gauges (0 for float gauges).
    pub value_i64: i64,
    /// Value of every kind as a double.
    pub value_f64: f64,
    /// SHM_KIND_*.
    pub kind: u32,
    /// Bytes of the name, excluding its terminating NUL.
    pub name_len: u32,
    /// Where the NUL-terminated name starts in the names buffer.
    pub name_offset: u32,
    /// Entry index (stable while the metric is registered).
    pub index: u32,
}

fn values(v: Value) -> (i64, f64) {
    match v {
        Value::Int(v) => (v, v as f64),
        Value::Float(v) => (0, v),
    }
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
    let status = boundary(std::ptr::null_mut(), || {
        let zone = zone_of(zone)?;
        if cursor.is_null() {
            return Err(null("cursor"));
        }
        // SAFETY: non-NULL and valid by the caller's contract.
        let start = unsafe { cursor.read() };
        if start == 0 {
            zone.check_file()?;
        }
        let Some(snap) = zone.metrics_from(start).next() else {
            done = true;
            return Ok(());
        };
        let (value_i64, value_f64) = values(snap.value());
        let mut info = shm_metric_info { kind: snap.kind as u32, name_len: snap.name.len() as u32, generation: snap.generation, value_i64, value_f64, name: [0; 256] };
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

/// Reads many metrics at once, without locks (works on read-only zones): fills up to
/// `max_rows` rows, their names NUL-terminated one after another in `names` (`names_cap`
/// bytes, at least SHM_NAME_MAX + 1), and stores the count in `*out_rows`. Start with
/// `*cursor = 0` and call again while it returns SHM_OK; SHM_DONE (with `*out_rows` = 0) ends.
/// At cursor 0 the zone file is checked: SHM_ERR_CORRUPT if it was truncated. On failure `err`
/// (may be NULL) gets the status and message. (ABI 1.1)
///
/// # Safety
/// `cursor` and `out_rows` are NULL or valid for reads and writes; `rows` NULL or valid for
/// `max_rows` writes; `names` NULL or valid for `names_cap` bytes; `err` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_read(
    zone: Option<&shm_zone>,
    cursor: *mut u32,
    rows: *mut shm_metric_row,
    max_rows: usize,
    names: *mut c_char,
    names_cap: usize,
    out_rows: *mut usize,
    err: *mut shm_error,
) -> shm_status {
    let mut done = false;
    let status = boundary(err, || {
        let zone = zone_of(zone)?;
        if cursor.is_null() || rows.is_null() || names.is_null() || out_rows.is_null() {
            return Err(null("cursor, rows, names or out_rows"));
        }
        if max_rows == 0 || names_cap <= SHM_NAME_MAX as usize {
            return Err(Error::new(Status::SHM_ERR_INVALID_ARGUMENT, "need room for at least one row and one name (SHM_NAME_MAX + 1 bytes)"));
        }
        // SAFETY: non-NULL and valid by the caller's contract.
        let start = unsafe { cursor.read() };
        if start == 0 {
            zone.check_file()?;
        }
        let (mut n, mut used, mut next) = (0usize, 0usize, start);
        zone.visit_from(start, |r, name| {
            let len = name.len();
            if n == max_rows || used + len + 1 > names_cap {
                return false;
            }
            let (value_i64, value_f64) = values(Value::decode(r.kind, r.bits));
            let row = shm_metric_row {
                generation: r.generation,
                created_unix_ns: r.created_unix_ns,
                value_i64,
                value_f64,
                kind: r.kind as u32,
                name_len: len as u32,
                name_offset: used as u32,
                index: r.index,
            };
            // SAFETY: n < max_rows and used + len + 1 <= names_cap, inside the caller's buffers.
            unsafe {
                rows.add(n).write(row);
                std::ptr::copy_nonoverlapping(name.as_ptr().cast::<c_char>(), names.add(used), len);
                names.add(used + len).write(0);
            }
            n += 1;
            used += len + 1;
            next = r.index + 1;
            true
        });
        done = n == 0;
        // SAFETY: checked non-NULL; valid by the caller's contract.
        unsafe {
            out_rows.write(n);
            cursor.write(next);
        }
        Ok(())
    });
    if status == Status::SHM_OK && done { Status::SHM_DONE } else { status }
}
