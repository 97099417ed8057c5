//! Processes that share handles through `fork()` (the nginx/master-worker way of starting
//! writers, and the first step of a fork+exec upgrade). The core promises (`zone.rs`,
//! `reattach_after_fork`; the Python binding's docs) that a forked child keeps using the zone
//! and the handles it inherited.
//!
//! The children here do nothing but atomic adds through inherited handles and pipe reads and
//! writes, then `_exit`: nothing that could deadlock in a forked copy of a threaded process.

mod common;
use common::TempDir;

use std::time::Duration;

use shmmetrics::{OpenOptions, Zone};

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: fds is valid for two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

fn write_byte(fd: i32) {
    // SAFETY: writes one byte from a valid buffer.
    assert_eq!(unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) }, 1);
}

/// Reads one byte, giving up after 10 s (a hung child must fail the test, not block it).
fn read_byte(fd: i32) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&mut pfd, 1, 10_000) } != 1 {
        return false;
    }
    let mut b = [0u8; 1];
    // SAFETY: reads one byte into a valid buffer.
    unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) == 1 }
}

/// A forked child still incrementing through an inherited handle must keep that metric alive:
/// when the parent releases its own handle, the entry must not be freed and reused by another
/// metric, or the child's increments land in somebody else's value.
#[test]
fn forked_child_inherited_handle_keeps_its_metric() {
    let dir = TempDir::new("fork");
    let path = dir.path("zone");
    // Capacity 10: nine fillers and fork_x fill it, so the next registration reuses fork_x's entry.
    let zone = Zone::open_path(&path, &OpenOptions { create: true, size: 24576, ..Default::default() }).unwrap();
    assert_eq!(zone.capacity(), 10);
    let _fillers: Vec<_> = (0..9).map(|i| zone.counter(&format!("filler_{i}")).unwrap()).collect();
    let x = zone.counter("fork_x").unwrap();
    x.inc(1);
    let (to_child_r, to_child_w) = pipe();
    let (to_parent_r, to_parent_w) = pipe();
    // SAFETY: the child only does atomic adds, pipe I/O and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        if read_byte(to_child_r) {
            x.inc(5); // the child keeps counting requests through its inherited handle
        }
        write_byte(to_parent_w);
        // SAFETY: leaves without running the parent's destructors or test harness.
        unsafe { libc::_exit(0) };
    }
    // The parent is done with fork_x (e.g. a master that only set it up for its workers).
    x.release().unwrap();
    // The child still holds fork_x, so the full zone has no room for another metric.
    let y = zone.gauge("fork_y");
    assert_eq!(y.as_ref().err().map(|e| e.status), Some(shmmetrics::Status::SHM_ERR_ZONE_FULL), "fork_x was freed under the child");
    write_byte(to_child_w);
    assert!(read_byte(to_parent_r));
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    std::thread::sleep(Duration::from_millis(1));
    let x_now = zone.metrics().find(|m| m.name == "fork_x").map(|m| m.bits as i64);
    assert_eq!(x_now, Some(6), "fork_x, still used by the child, keeps the child's increments");
}

/// The same with the child registering first (a locked call, which also re-attaches it).
#[test]
fn forked_child_that_registers_first_keeps_its_inherited_handle() {
    let dir = TempDir::new("fork2");
    let path = dir.path("zone");
    let zone = Zone::open_path(&path, &OpenOptions { create: true, size: 24576, ..Default::default() }).unwrap();
    let _fillers: Vec<_> = (0..9).map(|i| zone.counter(&format!("filler_{i}")).unwrap()).collect();
    let x = zone.counter("fork_x").unwrap();
    x.inc(1);
    let (to_child_r, to_child_w) = pipe();
    let (to_parent_r, to_parent_w) = pipe();
    // The child's first locked call reopens the file and allocates: do it before the fork's
    // other threads could matter, i.e. right away, then only atomics.
    // SAFETY: see above; the child's registration runs single-threaded right after fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = zone.counter("filler_0").is_ok();
        write_byte(to_parent_w);
        if ok && read_byte(to_child_r) {
            x.inc(5);
        }
        write_byte(to_parent_w);
        // SAFETY: as above.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    assert!(read_byte(to_parent_r));
    x.release().unwrap();
    let y = zone.gauge("fork_y");
    write_byte(to_child_w);
    assert!(read_byte(to_parent_r));
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let x_now = zone.metrics().find(|m| m.name == "fork_x").map(|m| m.bits as i64);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    // The zone is full of live claims: fork_y cannot take fork_x's entry.
    assert!(y.is_err(), "fork_y took an entry although every one is claimed");
    assert_eq!(x_now, Some(6));
}
