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

/// One test at a time: a fork hands every attachment of the process to the child, the other
/// tests' too, which would change what they count.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

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
    let _serial = serial();
    let dir = TempDir::new("fork");
    let path = dir.path("zone");
    // Capacity 10: nine fillers and fork_x fill it, so the next registration reuses fork_x's entry.
    let zone = Zone::open_path(&path, &OpenOptions { create: true, size: 24576, ..Default::default() }).unwrap();
    assert_eq!(zone.capacity(), 10);
    // A zone opened later: the fork handler must still prepare the first (mutants: the list of
    // open zones losing the older ones).
    let _later = Zone::open_path(&dir.path("later"), &OpenOptions { create: true, size: 24576, ..Default::default() }).unwrap();
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

/// The same with the child's first registration (a new name: a locked call in the child's own
/// writer slot, which first sets the child's own bits on what it inherited) done before the
/// parent releases, in that order on purpose.
#[test]
fn forked_child_that_registers_first_keeps_its_inherited_handle() {
    let _serial = serial();
    let dir = TempDir::new("fork2");
    let path = dir.path("zone");
    let zone = Zone::open_path(&path, &OpenOptions { create: true, size: 24576, ..Default::default() }).unwrap();
    // Eight fillers, fork_x and the child's own metric fill the zone.
    let _fillers: Vec<_> = (0..8).map(|i| zone.counter(&format!("filler_{i}")).unwrap()).collect();
    let x = zone.counter("fork_x").unwrap();
    x.inc(1);
    let (to_child_r, to_child_w) = pipe();
    let (to_parent_r, to_parent_w) = pipe();
    // SAFETY: the child only uses the library (fork-safe), atomics, pipe I/O and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = zone.counter("child_own").map(|c| c.inc(1)).is_ok();
        write_byte(to_parent_w);
        if ok && read_byte(to_child_r) {
            x.inc(5);
        }
        write_byte(to_parent_w);
        // SAFETY: as above.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    assert!(read_byte(to_parent_r), "the child registered");
    x.release().unwrap();
    let y = zone.gauge("fork_y");
    write_byte(to_child_w);
    assert!(read_byte(to_parent_r));
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let x_now = zone.metrics().find(|m| m.name == "fork_x").map(|m| m.bits as i64);
    // The zone is full of live claims: fork_y cannot take fork_x's entry.
    assert_eq!(y.err().map(|e| e.status), Some(shmmetrics::Status::SHM_ERR_ZONE_FULL), "fork_y took an entry although every one is claimed");
    assert_eq!(x_now, Some(6));
}

/// A forked child that releases a handle it inherited gives up its own hold, never its
/// parent's: the metric stays the parent's, with its value, in the same entry. The child runs
/// in a writer slot of its own (the zone counts two writers, not three: the slot the parent
/// prepared for it is the one it uses), and what it registered itself becomes an orphan when it
/// exits, not a metric of its parent's.
#[test]
fn forked_child_releasing_an_inherited_handle_leaves_the_parents_hold() {
    let _serial = serial();
    let dir = TempDir::new("fork3");
    let path = dir.path("zone");
    let zone = Zone::open_path(&path, &OpenOptions { create: true, size: 24576, ..Default::default() }).unwrap();
    let x = zone.counter("fork_x").unwrap();
    x.inc(1);
    let (index, generation) = (x.0.index(), x.0.generation());
    let (to_child_r, to_child_w) = pipe();
    let (to_parent_r, to_parent_w) = pipe();
    // SAFETY: the child only uses the library (fork-safe), atomics, pipe I/O and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = zone.counter("fork_x").unwrap().release().is_ok() && x.release().is_ok() && zone.counter("child_own").map(|c| c.inc(7)).is_ok();
        write_byte(to_parent_w);
        read_byte(to_child_r);
        // SAFETY: leaves without detaching, like a killed process.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    assert!(read_byte(to_parent_r), "the child released");
    let e = zone.entry(index).expect("fork_x is still live");
    assert_eq!((e.name.as_str(), e.generation), ("fork_x", generation));
    x.inc(2);
    assert_eq!(zone.metrics().find(|m| m.name == "fork_x").map(|m| m.bits), Some(3));
    let s = zone.stats().unwrap();
    assert_eq!((s.attached, s.used, s.orphaned), (2, 2, 0), "the child in a slot of its own");
    // Each claimed writer slot names its process (informational, docs/FORMAT.md): the parent's
    // and the child's, which the child sets from its first instant (mutants: the cached PID).
    use shmmetrics::layout_table::{SLOT_CLAIMED, attach, attach_record, header};
    let image = std::fs::read(&path).unwrap();
    let mut pids: Vec<u64> = (0..header::attach_slots.get(&image) as usize)
        .map(|slot| attach_record(&image, slot))
        .filter(|&r| attach::state.at(r).get(&image) == SLOT_CLAIMED as u64)
        .map(|r| attach::pid.at(r).get(&image))
        .collect();
    pids.sort_unstable();
    let mut want = [std::process::id() as u64, pid as u64];
    want.sort_unstable();
    assert_eq!(pids, want, "the writer slots' PIDs");
    write_byte(to_child_w);
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child's calls failed");
    let s = zone.stats().unwrap();
    assert_eq!((s.attached, s.used, s.orphaned), (1, 2, 1), "child_own is an orphan, fork_x the parent's");
    let newcomer = zone.counter("newcomer").unwrap();
    assert_ne!(newcomer.0.index(), index);
    assert_eq!(x.count(), 3);
    assert!(zone.verify().unwrap().is_empty());
}
