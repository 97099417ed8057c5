//! Thin wrappers over the few syscalls std lacks: open-file-description (OFD) byte-range
//! locks, `posix_fallocate` and the page size. No pointers into the mapping here.
//!
//! OFD locks belong to the open file description, not the process: the kernel drops them when
//! the last descriptor for it closes, including when the process is killed. They never conflict
//! with themselves, so a process guards against its own threads with a mutex on top.
#![deny(unsafe_op_in_unsafe_fn)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

fn flock(kind: libc::c_short, at: u64) -> libc::flock {
    // SAFETY: flock is a plain C struct for which all-zero bytes are a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = at as libc::off_t;
    fl.l_len = 1;
    fl
}

fn fcntl_lock(file: &File, cmd: libc::c_int, fl: &mut libc::flock) -> io::Result<()> {
    loop {
        // SAFETY: the fd is open for the duration of the call (borrowed from `file`) and `fl`
        // points to a valid, initialised flock (l_pid is 0 as OFD commands require).
        let r = unsafe { libc::fcntl(file.as_raw_fd(), cmd, fl as *mut libc::flock) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Takes the write lock on byte `at` if it is free; `Ok(false)` if someone else holds it.
pub fn try_lock(file: &File, at: u64) -> io::Result<bool> {
    match fcntl_lock(file, libc::F_OFD_SETLK, &mut flock(libc::F_WRLCK as libc::c_short, at)) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn unlock(file: &File, at: u64) -> io::Result<()> {
    fcntl_lock(file, libc::F_OFD_SETLK, &mut flock(libc::F_UNLCK as libc::c_short, at))
}

/// Whether another open file description (any process, or another open in this one) holds a
/// lock on byte `at`. Works on read-only descriptors.
pub fn is_locked_by_other(file: &File, at: u64) -> io::Result<bool> {
    let mut fl = flock(libc::F_WRLCK as libc::c_short, at);
    fcntl_lock(file, libc::F_OFD_GETLK, &mut fl)?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

/// Gives the unnamed (`O_TMPFILE`) `file` the name `path`; fails with `EEXIST` if it is taken,
/// which makes creation atomic: a zone appears under its name fully initialised or not at all.
pub fn link_unnamed(file: &File, path: &std::path::Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).expect("no NUL");
    let to = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call.
    let r = unsafe { libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::AT_SYMLINK_FOLLOW) };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Registers handlers run around every `fork()`: before it, then in the parent and the child.
pub fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) -> io::Result<()> {
    // SAFETY: registers plain function pointers with static lifetime; no other state.
    let r = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    if r == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(r)) }
}

pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `uid 65534 (nobody)`, or `uid N` when the user database has no name for it.
pub fn describe_user(uid: u32) -> String {
    let mut pw: libc::passwd = zeroed_passwd();
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `pw` and `found` are locals, `buf` has the
    // length we pass; getpwuid_r writes only into them.
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    if r != 0 || found.is_null() || pw.pw_name.is_null() {
        return format!("uid {uid}");
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`, alive here.
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    format!("uid {uid} ({})", name.to_string_lossy())
}

fn zeroed_passwd() -> libc::passwd {
    // SAFETY: passwd is a plain C struct of integers and pointers; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// Reserves bytes `offset..offset + len` of backing store, so a full tmpfs fails here rather
/// than as a SIGBUS on first touch.
pub fn allocate_range(file: &File, offset: u64, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: plain syscall on a descriptor borrowed from `file`; no memory is passed.
    let r = unsafe { libc::posix_fallocate(file.as_raw_fd(), offset as libc::off_t, len as libc::off_t) };
    if r == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(r)) }
}

/// Makes `target`'s descriptor number refer to `source`'s open file description (dup3, keeping
/// close-on-exec), so every holder of that number now uses `source`'s description and its
/// locks. Async-signal-safe.
pub fn dup_onto(source: &File, target: &File) -> io::Result<()> {
    loop {
        // SAFETY: both descriptors are open for the duration of the call (borrowed from the
        // Files); dup3 replaces `target`'s number atomically, which `target` keeps owning.
        let r = unsafe { libc::dup3(source.as_raw_fd(), target.as_raw_fd(), libc::O_CLOEXEC) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Bytes an unprivileged user may still allocate on `file`'s filesystem (None if unknown).
pub fn free_space(file: &File) -> Option<u64> {
    // SAFETY: statvfs is a plain C struct of integers; all-zero is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open for the call and `st` is a valid out-pointer.
    let r = unsafe { libc::fstatvfs(file.as_raw_fd(), &mut st) };
    (r == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    // SAFETY: all-zero is a valid timespec.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid out-pointer; the coarse clocks never fail on Linux.
    unsafe { libc::clock_gettime(clock, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Wall-clock time, nanoseconds since the Unix epoch: registration and attach times.
pub fn unix_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// A monotonic clock at the kernel tick's resolution, for "at most every so often" checks.
pub fn coarse_monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC_COARSE)
}
