//! Races made to happen on purpose, each aimed at one bug that a quiet run would hide: a reader
//! preempted in the middle of copying an entry that writers free and reuse meanwhile, and float
//! adds from threads that start together on a barrier. Each test fails at once, every time, if
//! the guard it aims at is weakened (docs/RELIABILITY.md, "Mutation testing").

mod common;
use common::*;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use shmmetrics::{Kind, Zone};

/// The tests here keep both cores busy: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Sleeps 300 µs inside a signal handler: the thread that gets the signal stops wherever it is,
/// e.g. between reading an entry's kind and its name.
extern "C" fn nap(_: libc::c_int) {
    let t = libc::timespec { tv_sec: 0, tv_nsec: 300_000 };
    // SAFETY: nanosleep is async-signal-safe; `t` is a valid timespec.
    unsafe { libc::nanosleep(&t, std::ptr::null_mut()) };
}

/// Metric `i` of the catalogue: its own byte, its own length (10 to 43 bytes), a kind that
/// differs from its neighbours', and its own value. Any mix of two of them (one's length with
/// another's bytes, one's kind or value with another's name) is none of them.
struct Entry {
    name: String,
    kind: Kind,
    tag: u64,
}

fn catalogue() -> Vec<Entry> {
    (0..12)
        .map(|i| {
            let kind = [Kind::Counter, Kind::Gauge, Kind::GaugeF64][i % 3];
            let tag = 1000 + i as u64;
            let tag = if kind == Kind::GaugeF64 { (tag as f64).to_bits() } else { tag };
            Entry { name: String::from_utf8(vec![b'a' + i as u8; 10 + 3 * i]).unwrap(), kind, tag }
        })
        .collect()
}

/// Two writers (each its own attachment) keep replacing registrations in a zone of 10 entries:
/// each holds four of its six names at a time, registers one more, gives it its value, and
/// releases its oldest, which frees the entry for the next registration at once. Four readers
/// list the zone without pause while a signal makes each of them nap every half millisecond or
/// so, now and then in the middle of copying an entry that is freed and reused meanwhile (a few
/// dozen times per run; the copy is a small part of a reader's time). Every entry listed must be
/// exactly one registered metric: name, kind and value of the same one (its value, or 0 before
/// its writer set it).
#[test]
fn lock_free_listing_never_returns_a_torn_entry() {
    const READERS: usize = 4;
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("torn");
    let path = dir.path("z");
    let zone = Zone::open_path(&path, &create(24576)).unwrap();
    assert_eq!(zone.capacity(), 10);
    // SAFETY: installs a handler that only calls nanosleep.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = nap as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let all = Arc::new(catalogue());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (path, stop, all) = (path.clone(), stop.clone(), all.clone());
            std::thread::spawn(move || {
                let z = Zone::open_path(&path, &attach()).unwrap();
                let mine: Vec<&Entry> = all.iter().skip(w).step_by(2).collect();
                let mut held = std::collections::VecDeque::new();
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let e = mine[rounds as usize % mine.len()];
                    let m = z.register(e.name.as_bytes(), e.kind).unwrap();
                    m.slot().get().store(e.tag, Ordering::Relaxed);
                    held.push_back(m);
                    if held.len() > 4 {
                        held.pop_front().unwrap().release().unwrap();
                    }
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (stop, all, zone) = (stop.clone(), all.clone(), zone.clone());
            std::thread::spawn(move || {
                let mut seen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for m in zone.metrics() {
                        let e = all.get(m.name.as_bytes()[0].wrapping_sub(b'a') as usize).filter(|e| e.name == m.name);
                        let e = e.unwrap_or_else(|| panic!("listed a name nobody registered: {:?} ({} bytes)", m.name, m.name.len()));
                        assert_eq!(m.kind, e.kind, "{:?} listed with another metric's kind", m.name);
                        assert!(m.bits == 0 || m.bits == e.tag, "{:?} listed with another metric's value {:#x}", m.name, m.bits);
                        seen += 1;
                    }
                }
                seen
            })
        })
        .collect();
    let targets: Vec<libc::pthread_t> = readers.iter().map(std::os::unix::thread::JoinHandleExt::as_pthread_t).collect();
    let t = Instant::now();
    let mut naps = 0;
    while t.elapsed() < Duration::from_millis(2500) && !readers.iter().any(|r| r.is_finished()) {
        for &target in &targets {
            // SAFETY: the readers are alive (checked just above; they end only when stopped or failed).
            unsafe { libc::pthread_kill(target, libc::SIGUSR1) };
            naps += 1;
        }
        std::thread::sleep(Duration::from_micros(400));
    }
    stop.store(true, Ordering::Relaxed);
    let seen: u64 = readers.into_iter().map(|r| r.join().expect("a reader listed a torn entry")).sum();
    let rounds: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(seen > 10_000 && naps > 1000 && rounds.iter().all(|&r| r > 1000), "seen {seen}, naps {naps}, writer rounds {rounds:?}");
    assert!(zone.verify().unwrap().is_empty());
}

/// Float adds are a compare-and-swap loop, exact under concurrent adds. Threads released together
/// by a barrier add 1.0 a million times each to one float gauge, through handles of their own
/// attachments; the sum must be exact every round. (A load and a store instead would lose
/// thousands of adds in every round on two cores.)
#[test]
fn concurrent_float_adds_are_exact() {
    const THREADS: usize = 2;
    const ADDS: u64 = 1_000_000;
    const ROUNDS: u64 = 4;
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("fadd");
    let path = dir.path("z");
    let zone = Zone::open_path(&path, &create(1 << 20)).unwrap();
    let total = zone.gauge_f64("total").unwrap();
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                let z = Zone::open_path(&path, &attach()).unwrap();
                let g = z.gauge_f64("total").unwrap();
                for _ in 0..ROUNDS {
                    barrier.wait();
                    for _ in 0..ADDS {
                        g.add(1.0);
                    }
                    barrier.wait();
                }
            })
        })
        .collect();
    for round in 1..=ROUNDS {
        barrier.wait();
        barrier.wait();
        assert_eq!(total.value(), (round * ADDS * THREADS as u64) as f64, "round {round}: concurrent float adds were lost");
    }
    threads.into_iter().for_each(|t| t.join().unwrap());
}
