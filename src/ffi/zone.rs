//! `shm_zone`: opening, closing, statistics, health, and registration by kind for bindings.

use std::ffi::{c_char, c_void};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::open::OpenOptions;
use crate::zone::Zone;

/// An open zone. Thread-safe: any thread may use it at the same time.
pub struct shm_zone {
    pub(super) zone: Mutex<Option<Zone>>,
}

/// How to open a zone (ABI 1.1). Zero-initialise it (`shm_open_options o = {0};`): every zero
/// field means "the default".
#[repr(C)]
pub struct shm_open_options {
    /// Bytes to allocate when the zone is created, rounded up to the page size; 0 means
    /// SHM_DEFAULT_SIZE.
    pub size: u64,
    /// A mask of SHM_OPEN_*.
    pub flags: u32,
    /// Permission bits of a created file; 0 means 0600. Its group/other write bits are also
    /// the ones a writer accepts on an existing zone (see SHM_OPEN_TRUST_SHARED).
    pub mode: u32,
    /// Writer slots of a created zone (processes attached for writing at once); 0 means
    /// SHM_MAX_ATTACHED (256). A multiple of 64 up to SHM_MAX_WRITERS; each slot costs every
    /// metric one bit.
    pub max_writers: u32,
    /// Longest wait for the registration lock held by another live process before a
    /// registration fails with SHM_ERR_LOCK_TIMEOUT; 0 means SHM_DEFAULT_LOCK_TIMEOUT_MS.
    pub lock_timeout_ms: u32,
    /// Must be zero (room for later options).
    pub reserved: [u64; 6],
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
    /// The zone's writer slots (SHM_MAX_ATTACHED unless created with another number).
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

/// Everything about a zone: its identity and its occupancy (ABI 1.1; a superset of shm_stats).
#[repr(C)]
pub struct shm_info {
    /// Size of the zone file in bytes.
    pub file_size: u64,
    /// When the zone was created, nanoseconds since the Unix epoch.
    pub created_unix_ns: u64,
    /// Registrations refused for any reason.
    pub failed_registrations: u64,
    /// Registrations refused because the zone was full.
    pub failed_zone_full: u64,
    /// Registrations that gave up waiting for the registration lock.
    pub lock_timeouts: u64,
    /// Index repairs after a process died while registering or releasing.
    pub repairs: u64,
    /// Entries the zone can hold.
    pub capacity: u32,
    /// Live metrics.
    pub used: u32,
    /// Free entries.
    pub free: u32,
    /// Live metrics no attached process holds.
    pub orphaned: u32,
    /// Entries ever used; scans stop there.
    pub high_water: u32,
    /// Processes attached for writing.
    pub attached: u32,
    /// Writer slots: the most processes attached for writing at once.
    pub max_writers: u32,
    /// PID of the process that created the zone (informational).
    pub creator_pid: u32,
    /// Owner of the zone file.
    pub owner_uid: u32,
    /// Permission bits of the zone file.
    pub mode: u32,
    pub version_major: u16,
    pub version_minor: u16,
    /// 1 if this attachment is read-only.
    pub read_only: u32,
    /// Zero.
    pub reserved: [u64; 8],
}

/// A registered metric as bindings keep it (ABI 1.1): its value slot and its identity.
#[repr(C)]
pub struct shm_metric_ref {
    /// The metric's 8-byte value slot: int64_t for counters and gauges, the bits of a double
    /// for float gauges; 128-byte aligned, only ever accessed atomically (docs/FORMAT.md).
    /// Valid while the zone is open; after shm_zone_unregister() it may belong to another
    /// metric.
    pub slot: *mut c_void,
    /// Registration id, as shm_metric_row.generation.
    pub generation: u64,
    /// Entry index, as shm_metric_row.index.
    pub index: u32,
    /// SHM_KIND_*.
    pub kind: u32,
}

pub(super) fn zone_of(z: Option<&shm_zone>) -> Result<Zone> {
    let z = z.ok_or_else(|| null("zone"))?;
    z.zone.lock().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(|| Error::new(Status::SHM_ERR_CLOSED, "the zone was closed"))
}

/// The flags every open function takes.
fn flag_options(size: u64, flags: u32, mode: u32) -> Result<OpenOptions> {
    let known = SHM_OPEN_CREATE | SHM_OPEN_EXCLUSIVE | SHM_OPEN_READONLY | SHM_OPEN_FRESH | SHM_OPEN_REMOVE_ON_CLOSE | SHM_OPEN_TRUST_SHARED;
    if flags & !known != 0 {
        return Err(Error::new(Status::SHM_ERR_INVALID_ARGUMENT, format!("unknown open flags {:#x}", flags & !known)));
    }
    Ok(OpenOptions {
        size,
        create: flags & (SHM_OPEN_CREATE | SHM_OPEN_FRESH) != 0,
        exclusive: flags & SHM_OPEN_EXCLUSIVE != 0,
        read_only: flags & SHM_OPEN_READONLY != 0,
        fresh: flags & SHM_OPEN_FRESH != 0,
        remove_on_close: flags & SHM_OPEN_REMOVE_ON_CLOSE != 0,
        trust_shared: flags & SHM_OPEN_TRUST_SHARED != 0,
        mode: if mode == 0 { crate::open::DEFAULT_MODE } else { mode },
        ..OpenOptions::default()
    })
}

/// # Safety
/// `opts` is NULL or valid for a read of shm_open_options.
unsafe fn struct_options(opts: *const shm_open_options) -> Result<OpenOptions> {
    // SAFETY: non-NULL and valid by the caller's contract.
    let Some(o) = (unsafe { opts.as_ref() }) else { return flag_options(SHM_DEFAULT_SIZE, 0, 0) };
    if o.reserved.iter().any(|&r| r != 0) {
        return Err(Error::new(Status::SHM_ERR_INVALID_ARGUMENT, "shm_open_options.reserved must be zero (a newer header?)"));
    }
    let size = if o.size == 0 { SHM_DEFAULT_SIZE } else { o.size };
    let timeout = if o.lock_timeout_ms == 0 { SHM_DEFAULT_LOCK_TIMEOUT_MS } else { o.lock_timeout_ms };
    Ok(OpenOptions { max_writers: o.max_writers, lock_timeout: Duration::from_millis(timeout as u64), ..flag_options(size, o.flags, o.mode)? })
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

/// Opens zone `name` in `$SHMMETRICS_DIR` (default `/dev/shm`), file `shmmetrics-<name>`.
/// `name` is 1-200 characters of [A-Za-z0-9_.-] not starting with '.'. `size` (bytes, rounded up
/// to the page size) is used only when creating. `flags` is a mask of SHM_OPEN_*. New files get
/// mode 0600.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `out` is NULL or valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_open(name: *const c_char, size: u64, flags: u32, out: *mut *mut shm_zone) -> shm_status {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: caller contract on `name`.
        let name = unsafe { c_str(name, "zone name") }?;
        let opts = flag_options(size, flags, 0)?;
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
    boundary(std::ptr::null_mut(), || {
        // SAFETY: caller contract on `path`.
        let path = unsafe { c_str(path, "zone path") }?;
        if path.is_empty() {
            return Err(Error::new(Status::SHM_ERR_INVALID_NAME, "zone path is empty"));
        }
        let opts = flag_options(size, flags, mode)?;
        // SAFETY: caller contract on `out`.
        unsafe { give_zone(|| Zone::open_path(Path::new(path), &opts), out) }
    })
}

/// Opens zone `name` (file `shmmetrics-<name>`, the name rule of shm_zone_open()) in directory
/// `dir`; a NULL `dir` means `$SHMMETRICS_DIR`, else `/dev/shm`. `opts` may be NULL (all
/// defaults: open an existing zone for writing). On failure `err` (may be NULL) gets the
/// status and message. (ABI 1.1)
///
/// # Safety
/// `dir` is NULL or NUL-terminated, `name` NULL or NUL-terminated, `opts` NULL or valid for a
/// read, `out` NULL or valid for a pointer write, `err` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_open_in(dir: *const c_char, name: *const c_char, opts: *const shm_open_options, out: *mut *mut shm_zone, err: *mut shm_error) -> shm_status {
    boundary(err, || {
        // SAFETY: caller contract on `dir`, `name`, `opts` and `out`.
        unsafe {
            let dir = if dir.is_null() { None } else { Some(Path::new(c_str(dir, "zone directory")?)) };
            let path = crate::open::zone_path_in(dir, c_str(name, "zone name")?)?;
            let opts = struct_options(opts)?;
            give_zone(|| Zone::open_path(&path, &opts), out)
        }
    })
}

/// Opens the zone file at `path` with `opts` (NULL: all defaults). Symlinks are refused. On
/// failure `err` (may be NULL) gets the status and message. (ABI 1.1)
///
/// # Safety
/// `path` is NULL or NUL-terminated, `opts` NULL or valid for a read, `out` NULL or valid for a
/// pointer write, `err` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_open_file(path: *const c_char, opts: *const shm_open_options, out: *mut *mut shm_zone, err: *mut shm_error) -> shm_status {
    boundary(err, || {
        // SAFETY: caller contract on `path`, `opts` and `out`.
        unsafe {
            let path = c_str(path, "zone path")?;
            if path.is_empty() {
                return Err(Error::new(Status::SHM_ERR_INVALID_NAME, "zone path is empty"));
            }
            let opts = struct_options(opts)?;
            give_zone(|| Zone::open_path(Path::new(path), &opts), out)
        }
    })
}

/// Closes a zone (NULL is fine). Metric handles stay usable until released. Returns
/// SHM_ERR_CLOSED if the zone was already closed.
#[unsafe(no_mangle)]
pub extern "C" fn shm_zone_close(zone: Option<&shm_zone>) -> shm_status {
    boundary(std::ptr::null_mut(), || {
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
    boundary(std::ptr::null_mut(), || {
        let s = zone_of(zone)?.stats()?;
        let stats = shm_stats {
            capacity: s.capacity,
            used: s.used,
            free: s.free,
            orphaned: s.orphaned,
            attached: s.attached,
            max_attached: s.max_writers,
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

/// Fills `out` with what the zone is and how full it is. On failure `err` (may be NULL) gets
/// the status and message. (ABI 1.1)
///
/// # Safety
/// `out` is NULL or valid for a write of shm_info; `err` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_info(zone: Option<&shm_zone>, out: *mut shm_info, err: *mut shm_error) -> shm_status {
    boundary(err, || {
        let zone = zone_of(zone)?;
        let (i, s) = (zone.info()?, zone.stats()?);
        let info = shm_info {
            file_size: i.file_size,
            created_unix_ns: i.created_unix_ns,
            failed_registrations: s.failed_registrations,
            failed_zone_full: s.failed_zone_full,
            lock_timeouts: s.lock_timeouts,
            repairs: s.repairs,
            capacity: s.capacity,
            used: s.used,
            free: s.free,
            orphaned: s.orphaned,
            high_water: s.high_water,
            attached: s.attached,
            max_writers: i.max_writers,
            creator_pid: i.creator_pid,
            owner_uid: i.owner_uid,
            mode: i.mode,
            version_major: i.version_major,
            version_minor: i.version_minor,
            read_only: i.read_only as u32,
            reserved: [0; 8],
        };
        // SAFETY: caller contract on `out`.
        unsafe { write_out(out, info) }
    })
}

/// Copies the zone file's path (as opened: `<dir>/shmmetrics-<name>` for named zones) into
/// `buf` (`cap` bytes) with a terminating NUL and stores its length, NUL excluded, in
/// `*out_len`. SHM_ERR_INVALID_ARGUMENT if it does not fit (PATH_MAX bytes always do). On
/// failure `err` (may be NULL) gets the status and message. (ABI 1.1)
///
/// # Safety
/// `buf` is NULL or valid for `cap` bytes; `out_len` NULL or valid for a write; `err` NULL or
/// valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_path(zone: Option<&shm_zone>, buf: *mut c_char, cap: usize, out_len: *mut usize, err: *mut shm_error) -> shm_status {
    boundary(err, || {
        use std::os::unix::ffi::OsStrExt;
        let zone = zone_of(zone)?;
        let path = zone.path().as_os_str().as_bytes();
        if buf.is_null() || out_len.is_null() {
            return Err(null("buf or out_len"));
        }
        if path.len() >= cap {
            return Err(Error::new(Status::SHM_ERR_INVALID_ARGUMENT, format!("the path needs {} bytes", path.len() + 1)));
        }
        // SAFETY: path.len() + 1 <= cap bytes of the caller's buffer; out_len checked non-NULL.
        unsafe {
            std::ptr::copy_nonoverlapping(path.as_ptr().cast::<c_char>(), buf, path.len());
            buf.add(path.len()).write(0);
            out_len.write(path.len());
        }
        Ok(())
    })
}

/// Checks the zone's structure. SHM_OK when healthy, SHM_ERR_CORRUPT with the problems in
/// shm_last_error() otherwise. Takes the registration lock unless the zone is read-only.
#[unsafe(no_mangle)]
pub extern "C" fn shm_zone_verify(zone: Option<&shm_zone>) -> shm_status {
    // SAFETY: a NULL shm_error is always valid.
    unsafe { shm_zone_check(zone, std::ptr::null_mut()) }
}

/// shm_zone_verify() with the problems also in `err` (may be NULL). (ABI 1.1)
///
/// # Safety
/// `err` is NULL or valid for a write of shm_error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_check(zone: Option<&shm_zone>, err: *mut shm_error) -> shm_status {
    boundary(err, || {
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
    boundary(std::ptr::null_mut(), || {
        let n = zone_of(zone)?.repair()?;
        if !out_reclaimed.is_null() {
            // SAFETY: non-NULL and valid by the caller's contract.
            unsafe { out_reclaimed.write(n) };
        }
        Ok(())
    })
}

/// Registers (or finds) metric `name` of `kind` (SHM_KIND_*) and fills `out` with its value
/// slot and identity, for bindings that do their own atomics on the slot (Go). This process
/// holds the metric until shm_zone_unregister() with the same ref, or until it closes the zone
/// or exits; every call takes one more hold. On failure `err` (may be NULL) gets the status and
/// message. (ABI 1.1)
///
/// # Safety
/// `name` is NULL or valid for `name_len` bytes; `out` NULL or valid for a write of
/// shm_metric_ref; `err` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_register(zone: Option<&shm_zone>, kind: u32, name: *const c_char, name_len: usize, out: *mut shm_metric_ref, err: *mut shm_error) -> shm_status {
    boundary(err, || {
        let zone = zone_of(zone)?;
        let kind = Kind::from_u32(kind).ok_or_else(|| Error::new(Status::SHM_ERR_INVALID_ARGUMENT, format!("unknown metric kind {kind}")))?;
        // SAFETY: caller contract on `name`.
        let name = unsafe { metric_name(name, name_len) }?;
        if out.is_null() {
            return Err(null("output pointer"));
        }
        let metric = zone.register(name, kind).map_err(|e| name_error(e, name_len))?;
        let r = shm_metric_ref { slot: metric.slot().get().as_ptr().cast(), generation: metric.generation(), index: metric.index(), kind: kind as u32 };
        // The hold stays with this process (like dropping a handle without releasing it);
        // shm_zone_unregister gives it up.
        drop(metric);
        // SAFETY: checked non-NULL; valid for writes by the caller's contract.
        unsafe { write_out(out, r) }
    })
}

/// Gives up one hold that shm_zone_register() took (go-metrics `Stop`): when no process holds
/// the metric any more its entry is freed, and its slot may go to another metric, so stop
/// using the slot first. SHM_ERR_CLOSED if this process holds no such registration. On failure
/// `err` (may be NULL) gets the status and message. (ABI 1.1)
///
/// # Safety
/// `r` is NULL or valid for a read of shm_metric_ref; `err` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shm_zone_unregister(zone: Option<&shm_zone>, r: *const shm_metric_ref, err: *mut shm_error) -> shm_status {
    boundary(err, || {
        let zone = zone_of(zone)?;
        // SAFETY: non-NULL and valid by the caller's contract.
        let r = unsafe { r.as_ref() }.ok_or_else(|| null("metric ref"))?;
        zone.release(r.index, r.generation)
    })
}
