//! Resources: 10,000 open/close cycles of every kind leak no file descriptor and no mapping.
//!
//! Counts `/proc/self/fd` and `/proc/self/maps` before and after, and requires that no
//! descriptor or mapping of the test's zone directory survives. One test function runs the
//! phases one after another: other tests in the same process would open descriptors too.

mod hostile;
use hostile::*;

use std::ffi::CString;
use std::path::Path;
use std::ptr::null_mut;
use std::time::Instant;

use shmmetrics::ffi::*;
use shmmetrics::layout_table::header;
use shmmetrics::{OpenOptions, Status, Zone};

const CYCLES: usize = 10_000;

struct Usage {
    fds: usize,
    maps: usize,
    /// Descriptors and mappings that point into the zone directory.
    ours: usize,
    rss_kib: u64,
}

fn usage(dir: &Path) -> Usage {
    let d = dir.to_str().unwrap();
    let mut fds = 0;
    let mut ours = 0;
    for e in std::fs::read_dir("/proc/self/fd").unwrap() {
        let e = e.unwrap();
        fds += 1;
        if std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains(d)) {
            ours += 1;
        }
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    ours += maps.lines().filter(|l| l.contains(d)).count();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss_kib = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0);
    Usage { fds, maps: maps.lines().count(), ours, rss_kib }
}

/// Runs `cycles` iterations of `f`, then checks that no descriptor or mapping leaked.
fn phase(dir: &Path, what: &str, cycles: usize, mut f: impl FnMut(usize)) {
    // Warm up: lazily allocated library state (the parking queue, thread-locals) settles.
    for i in 0..100 {
        f(i);
    }
    let before = usage(dir);
    let t = Instant::now();
    for i in 0..cycles {
        f(i);
    }
    let secs = t.elapsed().as_secs_f64();
    let after = usage(dir);
    println!(
        "{what}: {cycles} cycles in {secs:.2} s ({:.1} us each); fds {} -> {}, maps {} -> {}, zone fds+maps left {}, RSS {} -> {} KiB",
        secs * 1e6 / cycles as f64,
        before.fds,
        after.fds,
        before.maps,
        after.maps,
        after.ours,
        before.rss_kib,
        after.rss_kib
    );
    assert_eq!(after.fds, before.fds, "{what}: file descriptors leaked");
    assert_eq!(after.ours, before.ours, "{what}: zone descriptors or mappings left");
    // The allocator may map or unmap an arena meanwhile; a leak would be one per cycle.
    assert!(after.maps <= before.maps + 4, "{what}: mappings leaked ({} -> {})", before.maps, after.maps);
    assert!(after.rss_kib <= before.rss_kib + 32 * 1024, "{what}: memory grew by {} KiB", after.rss_kib - before.rss_kib);
}

#[test]
fn ten_thousand_open_close_cycles_leak_nothing() {
    let dir = TempDir::new("leaks");
    let path = dir.path("zone");
    drop(Zone::open_path(&path, &create(1 << 16)).unwrap());
    let baseline = usage(&dir.0);
    assert_eq!(baseline.ours, 0);

    // Rust API: writable attach, register, update, release, detach.
    phase(&dir.0, "rust open+counter+release+close", CYCLES, |i| {
        let z = Zone::open_path(&path, &OpenOptions::default()).unwrap();
        let c = z.counter(if i % 2 == 0 { "a" } else { "b" }).unwrap();
        c.inc(1);
        c.release().unwrap();
        z.close();
    });
    // Read-only monitors.
    phase(&dir.0, "rust read-only open+iterate", CYCLES, |_| {
        let z = Zone::open_path(&path, &read_only()).unwrap();
        assert!(z.metrics().count() <= 2);
    });
    // Create and remove a zone every cycle (the unnamed-file path, fallocate, link, and the
    // 256-slot probe of remove-on-close): ~0.5 ms a cycle, so fewer of them.
    phase(&dir.0, "rust create+remove_on_close", CYCLES / 5, |_| {
        let z = Zone::open_path(&dir.path("temp"), &OpenOptions { remove_on_close: true, ..create(1 << 16) }).unwrap();
        drop(z);
    });
    // Refusals: every error path closes what it opened.
    let bad = dir.path("bad");
    let mut d = std::fs::read(&path).unwrap();
    header::version_major.put(&mut d, 7);
    std::fs::write(&bad, &d).unwrap();
    phase(&dir.0, "rust refused opens", CYCLES, |i| {
        let s = match i % 3 {
            0 => open_err(&bad, &writable()),
            1 => open_err(&bad, &read_only()),
            _ => open_err(&path, &OpenOptions { exclusive: true, ..create(1 << 16) }),
        };
        assert!(matches!(s, Status::SHM_ERR_VERSION | Status::SHM_ERR_EXISTS));
    });

    // C ABI: zones and handles are parked after release (kept for the next 4096 releases), so
    // this also checks that parking holds no descriptor or mapping.
    let cpath = CString::new(path.to_str().unwrap()).unwrap();
    phase(&dir.0, "C open+counter+release+close", CYCLES, |_| {
        let mut z: *mut shm_zone = null_mut();
        let mut c: *mut shm_counter = null_mut();
        // SAFETY: valid C strings and out-pointers; handles from the library, used once.
        unsafe {
            assert_eq!(shm_zone_open_path(cpath.as_ptr(), 0, 0, 0, &mut z), shm_status::SHM_OK);
            assert_eq!(shm_counter_open(z.as_ref(), c"c_abi".as_ptr(), 5, &mut c), shm_status::SHM_OK);
            shm_counter_inc(c.as_ref(), 1);
            assert_eq!(shm_zone_close(z.as_ref()), shm_status::SHM_OK);
            // The handle outlives its zone; releasing it drops the last reference to the mapping.
            assert_eq!(shm_counter_release(c.as_ref()), shm_status::SHM_OK);
        }
    });
    phase(&dir.0, "C read-only open with NULL out (refused)", CYCLES, |_| {
        // SAFETY: valid C string; NULL out is allowed and refused.
        let s = unsafe { shm_zone_open_path(cpath.as_ptr(), 0, SHM_OPEN_READONLY, 0, null_mut()) };
        assert_eq!(s, shm_status::SHM_ERR_NULL_ARGUMENT);
    });

    let end = usage(&dir.0);
    assert_eq!(end.ours, 0, "descriptors or mappings of the zone directory remain");
    assert_eq!(end.fds, baseline.fds);
}
