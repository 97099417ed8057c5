//! Writer processes, the registration lock and forks (issues 9 and 10): a thousand writers in one
//! zone, the writer-slot limit, SIGKILLs among writers, slots of dead writers reused, a stopped
//! lock holder (bounded waits, fork never blocked, takeover once it dies), lock-free joins racing
//! with releases, and zones of format 1.0.
//!
//! Children are forked from the test and only use the library (whose locks are fork-safe),
//! atomics and `_exit`; they meet the parent through gauges in the zone itself, so a thousand of
//! them need no file descriptors.

mod common;
use common::*;

use std::time::{Duration, Instant};

use shmmetrics::{Gauge, Kind, OpenOptions, Status, Zone};

fn fork(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs `child` (library calls and atomics only) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(99);
        // SAFETY: leaves without running the parent's destructors or the test harness.
        unsafe { libc::_exit(code) };
    }
    pid
}

fn wait_exit(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -libc::WTERMSIG(status) }
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: signals our own child.
    unsafe { libc::kill(pid, sig) };
}

/// Polls `cond` every millisecond for up to a minute.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// In a child: sleeps until the gauge reaches `v` (10 ms naps: a thousand waiting children
/// must leave the CPU to the others). A child whose test failed is not left behind: after a
/// minute it exits.
fn wait_gauge(g: &Gauge, v: i64) {
    let t = Instant::now();
    while g.value() < v {
        if t.elapsed() > Duration::from_secs(60) {
            // SAFETY: leaves the child without running destructors.
            unsafe { libc::_exit(98) };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The tests that fork hundreds of processes run one at a time.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A thousand writer processes alive at once, each in a slot of its own (the zone has 1024),
/// give exact totals; then SIGKILLs among them lose nothing: survivors finish, the killed ones'
/// values stay, the index stays sound, and their slots are cleaned for new writers.
#[test]
fn a_thousand_writers_then_sigkills() {
    const WRITERS: usize = 1000;
    const K: i64 = 100;
    let _one_at_a_time = heavy();
    let dir = TempDir::new("thousand");
    let zone = open(&dir, "z", &OpenOptions { max_writers: 1024, ..create(8 << 20) });
    assert_eq!(zone.stats().unwrap().max_writers, 1024);
    let total = zone.counter("total").unwrap();
    let (ready, phase, done) = (zone.gauge("ready").unwrap(), zone.gauge("phase").unwrap(), zone.gauge("done").unwrap());
    let pids: Vec<i32> = (0..WRITERS)
        .map(|i| {
            fork(|| {
                // A new name: only possible with a writer slot of the child's own.
                let Ok(mine) = zone.counter(&format!("writer_{i}")) else { return 1 };
                ready.add(1);
                wait_gauge(&phase, 1);
                for _ in 0..K {
                    total.inc(1);
                    mine.inc(1);
                }
                done.add(1);
                wait_gauge(&phase, 2);
                loop {
                    for _ in 0..10 {
                        mine.inc(1);
                        total.inc(1);
                    }
                    if phase.value() >= 3 {
                        return 0;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    wait_until("every writer registered", || ready.value() == WRITERS as i64);
    assert_eq!(zone.stats().unwrap().attached, WRITERS as u32 + 1);
    phase.update(1);
    wait_until("every writer counted", || done.value() == WRITERS as i64);
    assert_eq!(total.count(), WRITERS as i64 * K, "exact total from {WRITERS} processes");

    // Phase 2: everyone counts on; a tenth are killed mid-stream.
    phase.update(2);
    std::thread::sleep(Duration::from_millis(100));
    let killed: Vec<i32> = pids.iter().copied().step_by(10).collect();
    for &pid in &killed {
        kill(pid, libc::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(50));
    phase.update(3);
    let mut signalled = 0;
    for &pid in &pids {
        match wait_exit(pid) {
            0 => {}
            s if s == -libc::SIGKILL => signalled += 1,
            s => panic!("writer {pid} ended with {s}"),
        }
    }
    assert_eq!(signalled, killed.len());
    let values: Vec<i64> = (0..WRITERS).map(|i| zone.metrics().find(|m| m.name == format!("writer_{i}")).expect("no writer's metric is lost").bits as i64).collect();
    let sum: i64 = values.iter().sum();
    // A kill may land between a writer's two increments: `total` is behind by at most one each.
    let behind = sum - total.count();
    assert!((0..=killed.len() as i64).contains(&behind), "sum {sum} vs total {}", total.count());
    assert!(values.iter().all(|&v| v >= K));
    assert!(zone.verify().unwrap().is_empty());
    let s = zone.stats().unwrap();
    assert_eq!((s.attached, s.orphaned), (1, WRITERS as u32));
    // The dead writers' slots are cleaned and claimed again.
    let again: Vec<Zone> = (0..1023).map(|_| open(&dir, "z", &attach())).collect();
    assert_eq!(zone.stats().unwrap().attached, 1024);
    drop(again);
}

/// With the default 256 writer slots, the 257th live writer gets SHM_ERR_ATTACH_LIMIT with a
/// message that says what to do; the 256 others work.
#[test]
fn the_257th_writer_is_refused_clearly() {
    const CHILDREN: usize = 300;
    let _one_at_a_time = heavy();
    let dir = TempDir::new("limit");
    let zone = open(&dir, "z", &create(4 << 20));
    assert_eq!(zone.stats().unwrap().max_writers, 256);
    let (ok, limited, stop) = (zone.gauge("ok").unwrap(), zone.gauge("limited").unwrap(), zone.gauge("stop").unwrap());
    let pids: Vec<i32> = (0..CHILDREN)
        .map(|i| {
            fork(|| {
                match zone.counter(&format!("child_{i}")) {
                    Ok(_) => ok.add(1),
                    Err(e) if e.status == Status::SHM_ERR_ATTACH_LIMIT && e.message.contains("max_writers") => limited.add(1),
                    Err(_) => return 1,
                }
                wait_gauge(&stop, 1);
                0
            })
        })
        .collect();
    wait_until("every child tried", || ok.value() + limited.value() == CHILDREN as i64);
    assert_eq!((ok.value(), limited.value()), (255, CHILDREN as i64 - 255), "the parent holds one of the 256 slots");
    stop.update(1);
    assert!(pids.into_iter().all(|p| wait_exit(p) == 0));
    assert!(zone.verify().unwrap().is_empty());
}

/// Writers that die without detaching leave dirty slots; when no clean slot is left, the next
/// writer cleans them all and attaches. Their metrics stay as orphans, with their values, and
/// are not credited to whoever gets their slot.
#[test]
fn dead_writers_slots_are_cleaned_and_reused() {
    let _one_at_a_time = heavy();
    let dir = TempDir::new("dead");
    let zone = open(&dir, "z", &OpenOptions { max_writers: 64, ..create(1 << 20) });
    for i in 0..150 {
        let z = &zone;
        let pid = fork(|| match z.counter(&format!("dead_{i}")) {
            Ok(c) => {
                c.inc(i + 1);
                0 // _exit: no detach, the slot stays claimed by a dead process
            }
            Err(_) => 1,
        });
        assert_eq!(wait_exit(pid), 0, "writer {i} could not attach");
    }
    let s = zone.stats().unwrap();
    assert_eq!((s.attached, s.used, s.orphaned), (1, 150, 150));
    for i in 0..150 {
        assert_eq!(zone.metrics().find(|m| m.name == format!("dead_{i}")).unwrap().bits as i64, i + 1);
    }
    // An orphan is the zone's: releasing our own metric frees only ours.
    let mine = zone.counter("mine").unwrap();
    mine.release().unwrap();
    assert_eq!(zone.stats().unwrap().used, 150);
    assert!(zone.verify().unwrap().is_empty());
}

/// A registration-lock holder that is stopped (a debugger, SIGSTOP) makes others wait at most
/// their lock timeout, then fail with SHM_ERR_LOCK_TIMEOUT, counted; names already held and
/// fork() keep working meanwhile; once the holder dies, the next registration takes over.
#[test]
fn a_stopped_lock_holder_bounds_waits_and_never_blocks_fork() {
    let _one_at_a_time = heavy();
    let dir = TempDir::new("stopped");
    let path = dir.path("z");
    let zone = Zone::open_path(&path, &OpenOptions { lock_timeout: Duration::from_millis(300), ..create(32 << 20) }).unwrap();
    let held = zone.counter("held").unwrap();
    let holder = fork(|| {
        let z = Zone::open_path(&path, &attach()).unwrap();
        for i in 0.. {
            let _ = z.counter(&format!("churn_{i}")); // each takes the lock briefly
        }
        0
    });
    // Stop the child until it is stopped while holding the lock.
    let mut stopped_holding = false;
    for _ in 0..2000 {
        kill(holder, libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(2));
        if zone.stats().unwrap().lock_holder.is_some() {
            stopped_holding = true;
            break;
        }
        kill(holder, libc::SIGCONT);
    }
    assert!(stopped_holding, "never caught the child holding the lock");

    let t = Instant::now();
    let e = zone.counter("needs_the_lock").err().expect("the lock is held by a stopped process");
    assert_eq!(e.status, Status::SHM_ERR_LOCK_TIMEOUT);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let s = zone.stats().unwrap();
    assert!(s.lock_timeouts >= 1 && s.failed_registrations >= 1);
    held.inc(1);
    assert!(zone.counter("held").is_ok(), "a held name needs no lock");

    // fork() with zones open never waits for the stopped holder (if it did, this would hang).
    let child = fork(|| if held.count() >= 1 { 0 } else { 1 });
    assert_eq!(wait_exit(child), 0);

    // The holder dies: its lock is taken over (no wait for the timeout) and the index repaired.
    kill(holder, libc::SIGKILL);
    assert_eq!(wait_exit(holder), -libc::SIGKILL);
    let t = Instant::now();
    zone.counter("after_takeover").unwrap();
    assert!(t.elapsed() < Duration::from_millis(300), "took over without waiting out the timeout");
    assert!(zone.stats().unwrap().lock_takeovers >= 1);
    assert!(zone.verify().unwrap().is_empty());
}

/// Sleeps a few hundred microseconds inside a signal handler: a thread that gets the signal is
/// preempted wherever it happens to be, e.g. between finding an entry and joining it.
extern "C" fn nap(_: libc::c_int) {
    let t = libc::timespec { tv_sec: 0, tv_nsec: 300_000 };
    // SAFETY: nanosleep is async-signal-safe; `t` is a valid timespec.
    unsafe { libc::nanosleep(&t, std::ptr::null_mut()) };
}

/// Lock-free joins race with releases that free the entry and registrations that reuse it at
/// once (capacity 10). Four attachments keep joining and releasing `shared`, two churn other
/// names; the joiners are preempted at random points by a signal that naps. Every handle must
/// point at the registration it was given for: the entry at its index still has its name and
/// registration id (a join that did not re-check the entry after setting its bit would hand out
/// an entry freed and reused meanwhile).
#[test]
fn lock_free_joins_racing_with_releases_never_cross_metrics() {
    let dir = TempDir::new("join");
    let path = dir.path("z");
    let zone = Zone::open_path(&path, &create(24576)).unwrap();
    // SAFETY: installs a handler that only calls nanosleep.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = nap as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Each worker's rounds so far: the race runs until every worker has done enough of them (a
    // loaded machine may starve one for seconds), at least 3 s.
    let progress: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>> = std::sync::Arc::new((0..6).map(|_| Default::default()).collect());
    let workers: Vec<_> = (0..6)
        .map(|t| {
            let (path, stop, progress) = (path.clone(), stop.clone(), progress.clone());
            std::thread::spawn(move || {
                let z = Zone::open_path(&path, &attach()).unwrap(); // its own writer slot
                let (mut rounds, mut joined) = (0u64, 0u64);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let name = if t < 4 { "shared".to_string() } else { format!("churn_{t}_{}", rounds % 3) };
                    if let Ok(c) = z.counter(&name) {
                        // A concurrent release may make the entry FREEING for an instant before
                        // it sees our bit and backs off: look again until it settles.
                        let e = (0..1000)
                            .find_map(|_| {
                                z.entry(c.0.index()).or_else(|| {
                                    std::thread::yield_now();
                                    None
                                })
                            })
                            .expect("a held entry is live");
                        assert_eq!((e.name.as_str(), e.generation), (name.as_str(), c.0.generation()), "handle for {name} points at another registration");
                        joined += (c.count() > 0) as u64;
                        c.inc(1);
                        let _ = c.release();
                    }
                    rounds += 1;
                    progress[t].store(rounds, std::sync::atomic::Ordering::Relaxed);
                }
                (rounds, joined)
            })
        })
        .collect();
    let targets: Vec<libc::pthread_t> = workers.iter().take(4).map(std::os::unix::thread::JoinHandleExt::as_pthread_t).collect();
    let t = Instant::now();
    let mut k = 0;
    let enough = || progress.iter().all(|r| r.load(std::sync::atomic::Ordering::Relaxed) > 100);
    while t.elapsed() < Duration::from_secs(3) || (!enough() && t.elapsed() < Duration::from_secs(60)) {
        // SAFETY: the threads are alive until `stop` is set below.
        unsafe { libc::pthread_kill(targets[k % targets.len()], libc::SIGUSR1) };
        k += 1;
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results: Vec<(u64, u64)> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(results.iter().all(|&(r, _)| r > 100), "{results:?}");
    assert!(results[..4].iter().map(|&(_, j)| j).sum::<u64>() > 10, "the joiners met each other: {results:?}");
    assert!(zone.verify().unwrap().is_empty());
}

/// A zone written by the 1.0 library (before configurable writer slots) can still be read:
/// monitors list it; writers are told to open it read-only or start fresh.
#[test]
fn format_1_0_zones_are_readable() {
    let dir = TempDir::new("v10");
    let path = dir.path("old.zone");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/zone-v1.0.bin"), &path).unwrap();
    let ro = Zone::open_path(&path, &OpenOptions { read_only: true, ..Default::default() }).unwrap();
    let names: Vec<(String, Kind)> = ro.metrics().map(|m| (m.name, m.kind)).collect();
    assert_eq!(names.len(), 10);
    assert!(names.contains(&("m2".into(), Kind::GaugeF64)));
    let s = ro.stats().unwrap();
    assert_eq!((s.version_major, s.version_minor, s.used, s.max_writers), (1, 0, 10, 256));
    assert!(ro.verify().unwrap().is_empty());
    assert!(ro.metrics().all(|m| m.created_unix_ns == 0), "1.0 kept no creation time");
    let e = Zone::open_path(&path, &attach()).err().unwrap();
    assert_eq!(e.status, Status::SHM_ERR_VERSION);
    assert!(e.message.contains("read-only"), "{}", e.message);
    let fresh = Zone::open_path(&path, &OpenOptions { fresh: true, ..create(1 << 20) }).unwrap();
    assert_eq!(fresh.stats().unwrap().version_minor, 1);
}

/// A forked child stands on its parent's owner bits until it registers or releases something:
/// if the parent dies first, the parent's slot still counts as alive for the child's sake (its
/// bits are not cleaned, the metric is not reclaimed when the zone fills up), down to a
/// grandchild; once the child has set its own bits, the dead parent's slot is cleaned.
#[test]
fn a_dead_parents_bits_hold_for_its_unmaterialized_children() {
    let _one_at_a_time = heavy();
    let dir = TempDir::new("orphanfork");
    let path = dir.path("z");
    let zone = Zone::open_path(&path, &OpenOptions { max_writers: 64, ..create(24576) }).unwrap();
    let (step, done) = (zone.gauge("step").unwrap(), zone.gauge("done").unwrap());
    // P registers x and forks C, which forks G; P and C die; G only inherited x.
    let p = fork(|| {
        let z = Zone::open_path(&path, &attach()).unwrap();
        let x = z.counter("x").unwrap();
        x.inc(1);
        let (step, done) = (z.gauge("step").unwrap(), z.gauge("done").unwrap());
        let c = fork(|| {
            let g = fork(|| {
                wait_gauge(&step, 1);
                x.inc(10); // through the inherited handle
                done.add(1);
                wait_gauge(&step, 2);
                // Registering materializes: from now on g holds x with its own bit.
                let Ok(_mine) = z.counter("g_own") else { return 1 };
                done.add(1);
                wait_gauge(&step, 3);
                0
            });
            if g < 0 { 1 } else { 0 } // C exits at once, leaving its grandchild
        });
        if wait_exit(c) != 0 {
            return 1;
        }
        0 // P dies without detaching
    });
    assert_eq!(wait_exit(p), 0);
    step.update(1);
    wait_until("the grandchild counted", || done.value() == 1);
    // Fill the zone: x's holders (P, C) are dead, but G still stands on P's bits.
    let room = zone.stats().unwrap().free;
    let fillers: Vec<_> = (0..room).map(|i| zone.counter(&format!("filler_{i}")).unwrap()).collect();
    let e = zone.counter("one_too_many").err().map(|e| e.status);
    assert_eq!(e, Some(Status::SHM_ERR_ZONE_FULL), "x was reclaimed under the grandchild that uses it");
    assert_eq!(zone.metrics().find(|m| m.name == "x").map(|m| m.bits as i64), Some(11));
    assert!(zone.stats().unwrap().orphaned == 0, "x is held through the link");
    // The grandchild materializes; now x is held by its own bit and P's slot can be cleaned.
    drop(fillers.into_iter().next().unwrap().release());
    step.update(2);
    wait_until("the grandchild registered", || done.value() == 2);
    assert!(zone.verify().unwrap().is_empty());
    let again = Zone::open_path(&path, &attach()).unwrap(); // cleaning ran if slots ran out; force it:
    again.repair().unwrap();
    assert_eq!(zone.metrics().find(|m| m.name == "x").map(|m| m.bits as i64), Some(11));
    assert!(zone.counter("one_too_many").is_err(), "x is still held, by the grandchild's own bit");
    step.update(3);
    wait_until("the grandchild left", || zone.stats().unwrap().attached == 2);
}
