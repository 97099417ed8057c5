//! Issue 4, item 1: writer processes SIGKILLed at random instants while they attach, register,
//! release, repair and increment, with at least two (by default three) writers alive at every
//! moment. After every kill the parent checks that
//!   - it gets the registration lock promptly (and every survivor measured its own waits),
//!   - `verify` passes, after `repair` if the kill interrupted an index change,
//!   - no completed increment is lost: each counter >= what the processes logged as done.
//!
//! At the end, with everybody stopped, each counter must lie in
//! `[logged, logged + in flight at the kills]`.
//!
//! Helpers are this binary re-run with `SHMM_REL_ROLE=crash-worker`; each records its progress
//! in a shared-memory log (`harness::Log`) that survives its SIGKILL. With `SHMM_REL_GO_WORKER`
//! set (`make reliability-test` builds it, bindings/go/internal/relworker), the last writer slot
//! is a Go process doing the same operations through the Go binding.

#[path = "reliability/harness.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use harness::*;
use shmmetrics::{Counter, Gauge, GaugeF64, OpenOptions, Zone};

const TEST: &str = "sigkill_at_random_instants_loses_no_completed_increment";

// Log words of a crash worker.
const W_STOP: usize = 0;
const W_STARTED: usize = 1;
const W_OPS: usize = 2;
const W_TOTAL_DONE: usize = 3;
const W_TOTAL_PENDING: usize = 4;
const W_MINE_DONE: usize = 5;
const W_MINE_PENDING: usize = 6;
const W_HALF_DONE: usize = 7;
const W_HALF_PENDING: usize = 8;
const W_MAX_WAIT_NS: usize = 9;
const W_REGS: usize = 10;
const W_RELEASES: usize = 11;
const W_ATTACHES: usize = 12;
const W_REPAIRS: usize = 13;
const W_PHASE: usize = 14;

const PHASES: [&str; 6] = ["incrementing", "opening", "registering", "releasing", "attaching", "repairing"];
const PH_INC: u64 = 0;
const PH_OPEN: u64 = 1;
const PH_REG: u64 = 2;
const PH_REL: u64 = 3;
const PH_ATTACH: u64 = 4;
const PH_REPAIR: u64 = 5;

/// Names that workers register and release; the parent holds the first `HELD_BY_PARENT` (so
/// releases only drop a claim), the others are created and freed over and over.
const CHURN: u64 = 48;
const HELD_BY_PARENT: u64 = 12;

enum Held {
    C(Counter),
    G(Gauge),
    F(GaugeF64),
}

fn register_churn(zone: &Zone, k: u64) -> Held {
    let name = format!("crash_churn_{k}");
    match k % 3 {
        0 => Held::C(zone.counter(&name).unwrap()),
        1 => Held::G(zone.gauge(&name).unwrap()),
        _ => Held::F(zone.gauge_f64(&name).unwrap()),
    }
}

fn release(h: Held) {
    match h {
        Held::C(c) => c.release().unwrap(),
        Held::G(g) => g.release().unwrap(),
        Held::F(f) => f.release().unwrap(),
    }
}

/// The helper: random operations until asked to stop (or killed).
fn worker(zone_path: &Path, log: &Log, slot: u64, seed: u64) {
    let mut rng = Rng::new(seed);
    log.set(W_PHASE, PH_OPEN);
    let zone = timed(log, W_MAX_WAIT_NS, || Zone::open_path(zone_path, &OpenOptions::default()).unwrap());
    log.set(W_PHASE, PH_REG);
    let total = timed(log, W_MAX_WAIT_NS, || zone.counter("crash_total").unwrap());
    let half = timed(log, W_MAX_WAIT_NS, || zone.gauge_f64("crash_half").unwrap());
    let mine = timed(log, W_MAX_WAIT_NS, || zone.counter(&format!("crash_worker_{slot}")).unwrap());
    log.set(W_PHASE, PH_INC);
    log.set(W_STARTED, 1);
    let mut held: Vec<Held> = Vec::new();
    while log.get(W_STOP) == 0 {
        match rng.below(100) {
            0..=59 => {
                for i in 0..rng.range(1, 64) {
                    let n = 1 + (i & 3);
                    log.counted(W_TOTAL_DONE, W_TOTAL_PENDING, n, || total.inc(n as i64));
                    log.counted(W_MINE_DONE, W_MINE_PENDING, 1, || mine.inc(1));
                    if i % 4 == 0 {
                        log.counted(W_HALF_DONE, W_HALF_PENDING, 1, || half.add(0.5));
                    }
                }
            }
            60..=67 => {
                // A name nobody else uses: every round creates and frees an entry, the two
                // longest index changes (a kill inside one leaves the zone dirty).
                let name = format!("crash_tmp_{slot}_{}", rng.below(4));
                log.set(W_PHASE, PH_REG);
                let c = timed(log, W_MAX_WAIT_NS, || zone.counter(&name).unwrap());
                log.set(W_PHASE, PH_REL);
                timed(log, W_MAX_WAIT_NS, || c.release().unwrap());
                log.set(W_PHASE, PH_INC);
                log.add(W_REGS, 1);
                log.add(W_RELEASES, 1);
            }
            68..=79 => {
                let k = rng.below_u64(CHURN);
                log.set(W_PHASE, PH_REG);
                let h = timed(log, W_MAX_WAIT_NS, || register_churn(&zone, k));
                log.set(W_PHASE, PH_INC);
                log.add(W_REGS, 1);
                match &h {
                    Held::C(c) => c.inc(1),
                    Held::G(g) => g.update(k as i64),
                    Held::F(f) => f.add(1.0),
                }
                held.push(h);
                if held.len() > 12 {
                    let h = held.swap_remove(rng.below(held.len()));
                    log.set(W_PHASE, PH_REL);
                    timed(log, W_MAX_WAIT_NS, || release(h));
                    log.set(W_PHASE, PH_INC);
                    log.add(W_RELEASES, 1);
                }
            }
            80..=93 => {
                if !held.is_empty() {
                    let h = held.swap_remove(rng.below(held.len()));
                    if rng.below(4) == 0 {
                        drop(h); // close: keeps the claim until this process detaches
                    } else {
                        log.set(W_PHASE, PH_REL);
                        timed(log, W_MAX_WAIT_NS, || release(h));
                        log.set(W_PHASE, PH_INC);
                        log.add(W_RELEASES, 1);
                    }
                }
            }
            94..=97 => {
                // A second attachment of this process: claims (and on drop frees) an attach slot.
                log.set(W_PHASE, PH_ATTACH);
                let z2 = timed(log, W_MAX_WAIT_NS, || Zone::open_path(zone_path, &OpenOptions::default()).unwrap());
                let c = timed(log, W_MAX_WAIT_NS, || z2.counter("crash_attach_probe").unwrap());
                c.inc(1);
                if rng.below(2) == 0 {
                    timed(log, W_MAX_WAIT_NS, || c.release().unwrap());
                }
                log.set(W_PHASE, PH_INC);
                log.add(W_ATTACHES, 1);
            }
            _ => {
                log.set(W_PHASE, PH_REPAIR);
                timed(log, W_MAX_WAIT_NS, || zone.repair().unwrap());
                log.set(W_PHASE, PH_INC);
                log.add(W_REPAIRS, 1);
            }
        }
        log.add(W_OPS, 1);
    }
    for h in held {
        release(h);
    }
}

/// A counter's value read like a monitor does (0 if absent: every check then fails loudly).
fn read_counter(zone: &Zone, name: &str) -> u64 {
    zone.metrics().find(|m| m.name == name).map_or(0, |m| m.bits)
}

struct Running {
    helper: Helper,
    log: Log,
    slot: usize,
}

#[derive(Default)]
struct Totals {
    total_done: u64,
    total_in_flight: u64,
    half_done: u64,
    half_in_flight: u64,
    mine_done: Vec<u64>,
    mine_in_flight: Vec<u64>,
    max_child_wait_ns: u64,
    ops: u64,
    regs: u64,
    releases: u64,
    attaches: u64,
    repairs: u64,
}

impl Totals {
    fn absorb(&mut self, r: &Running, killed: bool) {
        let l = &r.log;
        self.total_done += l.get(W_TOTAL_DONE);
        self.half_done += l.get(W_HALF_DONE);
        self.mine_done[r.slot] += l.get(W_MINE_DONE);
        if killed {
            self.total_in_flight += l.get(W_TOTAL_PENDING);
            self.half_in_flight += l.get(W_HALF_PENDING);
            self.mine_in_flight[r.slot] += l.get(W_MINE_PENDING);
        } else {
            assert_eq!(l.get(W_TOTAL_PENDING) + l.get(W_HALF_PENDING) + l.get(W_MINE_PENDING), 0);
        }
        self.max_child_wait_ns = self.max_child_wait_ns.max(l.get(W_MAX_WAIT_NS));
        self.ops += l.get(W_OPS);
        self.regs += l.get(W_REGS);
        self.releases += l.get(W_RELEASES);
        self.attaches += l.get(W_ATTACHES);
        self.repairs += l.get(W_REPAIRS);
    }
}

#[test]
fn sigkill_at_random_instants_loses_no_completed_increment() {
    if let Some(role) = role() {
        assert_eq!(role, "crash-worker");
        let log = Log::open(&env_path("SHMM_REL_LOG"));
        worker(&env_path("SHMM_REL_ZONE"), &log, env_u64("SHMM_REL_SLOT"), env_u64("SHMM_REL_SEED"));
        std::process::exit(0);
    }

    let kills = param("KILLS", 30, 300, 6000);
    let writers = param("WRITERS", 3, 3, 3).max(2) as usize;
    let max_gap_us = param("KILL_GAP_US", 12_000, 12_000, 12_000);
    let seed = seed();
    eprintln!("crash: {kills} kills, {writers} writers, seed {seed} (SHMM_REL_SEED={seed} replays the schedule)");
    let _dog = Watchdog::start("crash test", Duration::from_secs(60 + kills / 5));
    let mut rng = Rng::new(seed);

    let dir = TempDir::new("crash");
    let zone_path = dir.path("zone");
    let zone_kib = param("ZONE_KIB", 1024, 1024, 1024);
    let zone = Zone::open_path(&zone_path, &OpenOptions { create: true, size: zone_kib << 10, ..Default::default() }).unwrap();
    let total = zone.counter("crash_total").unwrap();
    let half = zone.gauge_f64("crash_half").unwrap();
    let _keep: Vec<Held> = (0..HELD_BY_PARENT).map(|k| register_churn(&zone, k)).collect();

    let go_worker = std::env::var_os("SHMM_REL_GO_WORKER");
    if std::env::var_os("SHMM_REL_REQUIRE_ALL").is_some() {
        assert!(go_worker.is_some(), "SHMM_REL_REQUIRE_ALL is set but SHMM_REL_GO_WORKER is not");
    }
    let go_slot = go_worker.as_ref().map(|_| writers - 1);
    let mut incarnation = 0u64;
    let mut spawn = |slot: usize, rng: &mut Rng| {
        incarnation += 1;
        let tag = format!("w{slot}-{incarnation}");
        match (&go_worker, go_slot == Some(slot)) {
            (Some(go), true) => spawn_go_worker(go, &dir, &zone_path, &tag, slot, rng),
            _ => spawn_worker(TEST, "crash-worker", &dir, &zone_path, &tag, slot, rng),
        }
    };

    let mut acc = Totals { mine_done: vec![0; writers], mine_in_flight: vec![0; writers], ..Default::default() };
    let mut running: Vec<Running> = (0..writers).map(|s| spawn(s, &mut rng)).collect();
    let mut worst_parent_wait = Duration::ZERO;
    let mut interrupted = 0u64;
    let mut reclaimed = 0u64;
    let mut phase_at_kill = [0u64; PHASES.len()];
    let mut before_attach = 0u64;
    let start = Instant::now();

    for k in 0..kills {
        std::thread::sleep(Duration::from_micros(rng.below_u64(max_gap_us)));
        // The oldest incarnation dies, so that victims have usually got past their start-up.
        let mut victim = running.remove(0);
        victim.helper.kill();
        // A survivor's view: how long until the registration lock is ours again?
        let t = Instant::now();
        let _ = zone.verify().unwrap();
        worst_parent_wait = worst_parent_wait.max(t.elapsed());
        victim.helper.wait_killed(Duration::from_secs(10));
        if victim.log.get(W_STARTED) == 0 {
            before_attach += 1;
        }
        phase_at_kill[victim.log.get(W_PHASE) as usize] += 1;

        // The index must verify, after a repair if the victim died inside a change.
        let problems = zone.verify().unwrap();
        if !problems.is_empty() {
            interrupted += 1;
            reclaimed += zone.repair().unwrap() as u64;
            let after = zone.verify().unwrap();
            assert!(after.is_empty(), "kill {k}: still broken after repair: {after:?} (before: {problems:?})");
        }
        acc.absorb(&victim, true);
        let _ = std::fs::remove_file(&victim.log.path);

        // Lower bounds, read logs first: a counter is incremented before its log says so.
        let mut done = acc.total_done;
        let mut mine_done = acc.mine_done.clone();
        for r in &mut running {
            assert!(r.helper.running(), "kill {k}: a survivor died: {}", r.helper.stderr());
            done += r.log.get(W_TOTAL_DONE);
            mine_done[r.slot] += r.log.get(W_MINE_DONE);
        }
        let value = total.count() as u64;
        assert!(value >= done, "kill {k}: crash_total is {value} but processes completed {done} increments");
        // The worker counters are read without registering: the parent must not hold them, or
        // it would hide a lost orphan (their only holders are the workers, which keep dying).
        for (slot, d) in mine_done.iter().enumerate() {
            let v = read_counter(&zone, &format!("crash_worker_{slot}"));
            assert!(v >= *d, "kill {k}: crash_worker_{slot} is {v} < logged {d}");
        }
        running.push(spawn(victim.slot, &mut rng));
    }

    // Everybody left stops cleanly; their logs are then final.
    for r in &running {
        r.log.set(W_STOP, 1);
    }
    for mut r in running {
        r.helper.wait_ok(Duration::from_secs(20));
        acc.absorb(&r, false);
    }
    let elapsed = start.elapsed();
    // Kills inside an index change that a survivor repaired on its next registration.
    let repaired_by_survivors = zone.stats().unwrap().repairs;

    let problems = zone.verify().unwrap();
    if !problems.is_empty() {
        interrupted += 1;
        reclaimed += zone.repair().unwrap() as u64;
        assert!(zone.verify().unwrap().is_empty());
    }
    let value = total.count() as u64;
    assert!(value >= acc.total_done && value <= acc.total_done + acc.total_in_flight, "crash_total {value} outside [{}, {}]", acc.total_done, acc.total_done + acc.total_in_flight);
    let halves = (half.value() / 0.5) as u64;
    assert!(half.value().fract() == 0.0 || half.value().fract() == 0.5);
    assert!(halves >= acc.half_done && halves <= acc.half_done + acc.half_in_flight, "crash_half {} outside bounds", half.value());
    for slot in 0..writers {
        let v = read_counter(&zone, &format!("crash_worker_{slot}"));
        let (d, f) = (acc.mine_done[slot], acc.mine_in_flight[slot]);
        assert!(v >= d && v <= d + f, "crash_worker_{slot} {v} outside [{d}, {}]", d + f);
    }
    let stats = zone.stats().unwrap();
    assert_eq!(stats.attached, 1, "only the parent is attached now");
    assert!(stats.used >= 3 + writers as u32, "the totals and every worker counter survive their processes");

    let max_child_wait = Duration::from_nanos(acc.max_child_wait_ns);
    let phases: Vec<String> = PHASES.iter().zip(phase_at_kill).map(|(p, n)| format!("{p}={n}")).collect();
    report(&format!(
        "crash: kills={kills} writers={writers} go_writer_slot={} zone_capacity={} seed={seed} time={:.1}s increments={} unlogged_in_flight={} \
         registrations={} releases={} attaches={} repairs_by_workers={} kills_before_attach={before_attach} \
         phase_at_kill[{}] interrupted_index_changes={} (repaired by survivors {repaired_by_survivors}, found by verify {interrupted}) \
         entries_reclaimed_by_parent_repair={reclaimed} \
         max_lock_wait_parent={} max_lock_wait_workers={}",
        go_slot.map_or("none".to_string(), |s| s.to_string()),
        zone.capacity(),
        elapsed.as_secs_f64(),
        value,
        value - acc.total_done,
        acc.regs,
        acc.releases,
        acc.attaches,
        acc.repairs,
        phases.join(" "),
        repaired_by_survivors + interrupted,
        fmt_dur(worst_parent_wait),
        fmt_dur(max_child_wait),
    ));
    assert!(worst_parent_wait < Duration::from_secs(1), "the parent waited {worst_parent_wait:?} for the lock after a kill");
    assert!(max_child_wait < Duration::from_secs(1), "a worker waited {max_child_wait:?} in a locked call");
    assert!(acc.regs > kills, "workers did too little registering to mean anything ({})", acc.regs);
}

// ---- a full zone: kills while registrations reclaim orphaned entries -------------------------

const FULL_TEST: &str = "sigkill_while_the_zone_is_full_never_reclaims_a_live_metric";

/// A worker on a zone too small for everybody: its registrations often find it full, which
/// makes the core reclaim entries of killed processes (the longest index changes). It checks
/// its own counter all the time: while it lives, its entry must keep its name, generation and
/// every increment (reclaiming a live metric would reset or reuse it).
fn full_worker(zone_path: &Path, log: &Log, slot: u64, seed: u64) {
    let mut rng = Rng::new(seed);
    let zone = timed(log, W_MAX_WAIT_NS, || Zone::open_path(zone_path, &OpenOptions::default()).unwrap());
    let my_name = format!("full_worker_{slot}");
    let mine = loop {
        match timed(log, W_MAX_WAIT_NS, || zone.counter(&my_name)) {
            Ok(c) => break c,
            Err(e) if e.status == shmmetrics::Status::SHM_ERR_ZONE_FULL => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("{e}"),
        }
    };
    let (index, generation, base) = (mine.0.index(), mine.0.generation(), mine.count() as u64);
    log.set(W_STARTED, 1);
    let mut held = Vec::new();
    while log.get(W_STOP) == 0 {
        for _ in 0..rng.range(1, 32) {
            log.counted(W_MINE_DONE, W_MINE_PENDING, 1, || mine.inc(1));
        }
        let name = format!("full_churn_{}", rng.below(64));
        log.set(W_PHASE, PH_REG);
        match timed(log, W_MAX_WAIT_NS, || zone.counter(&name)) {
            Ok(c) => {
                log.add(W_REGS, 1);
                c.inc(1);
                held.push(c);
            }
            Err(e) if e.status == shmmetrics::Status::SHM_ERR_ZONE_FULL => {}
            Err(e) => panic!("{e}"),
        }
        if held.len() > 1 {
            let c = held.swap_remove(rng.below(held.len()));
            if rng.below(2) == 0 {
                log.set(W_PHASE, PH_REL);
                timed(log, W_MAX_WAIT_NS, || c.release().unwrap());
                log.add(W_RELEASES, 1);
            }
        }
        log.set(W_PHASE, PH_INC);
        let snap = zone.entry(index).unwrap_or_else(|| panic!("{my_name}: my entry {index} is no longer live"));
        assert_eq!((snap.name.as_str(), snap.generation), (my_name.as_str(), generation), "{my_name}: my entry was reclaimed and reused");
        let want = base + log.get(W_MINE_DONE);
        assert!(snap.bits >= want, "{my_name}: value {} < {want}: increments lost", snap.bits);
        log.add(W_OPS, 1);
    }
}

#[test]
fn sigkill_while_the_zone_is_full_never_reclaims_a_live_metric() {
    if let Some(role) = role() {
        assert_eq!(role, "full-worker");
        let log = Log::open(&env_path("SHMM_REL_LOG"));
        full_worker(&env_path("SHMM_REL_ZONE"), &log, env_u64("SHMM_REL_SLOT"), env_u64("SHMM_REL_SEED"));
        std::process::exit(0);
    }
    let kills = param("FULL_KILLS", 20, 100, 1000);
    let writers = 3;
    let seed = seed();
    let _dog = Watchdog::start("full-zone crash test", Duration::from_secs(60 + kills / 5));
    let mut rng = Rng::new(seed);
    let dir = TempDir::new("crash-full");
    let zone_path = dir.path("zone");
    // Ten entries for three workers holding one counter each and churning 64 names.
    let zone = Zone::open_path(&zone_path, &OpenOptions { create: true, size: 24576, ..Default::default() }).unwrap();
    assert_eq!(zone.capacity(), 10);
    let mut incarnation = 0u64;
    let mut spawn = |slot: usize, rng: &mut Rng| {
        incarnation += 1;
        spawn_worker(FULL_TEST, "full-worker", &dir, &zone_path, &format!("f{slot}-{incarnation}"), slot, rng)
    };
    let mut running: Vec<Running> = (0..writers).map(|s| spawn(s, &mut rng)).collect();
    let (mut worst_parent_wait, mut max_child_wait_ns, mut regs, mut found_dirty) = (Duration::ZERO, 0u64, 0u64, 0u64);
    let start = Instant::now();
    for k in 0..kills {
        std::thread::sleep(Duration::from_micros(rng.below_u64(12_000)));
        let mut victim = running.remove(0);
        victim.helper.kill();
        let t = Instant::now();
        let _ = zone.verify().unwrap();
        worst_parent_wait = worst_parent_wait.max(t.elapsed());
        victim.helper.wait_killed(Duration::from_secs(10));
        let problems = zone.verify().unwrap();
        if !problems.is_empty() {
            found_dirty += 1;
            zone.repair().unwrap();
            let after = zone.verify().unwrap();
            assert!(after.is_empty(), "kill {k}: still broken after repair: {after:?}");
        }
        for r in &mut running {
            assert!(r.helper.running(), "kill {k}: a survivor died (its checks failed?): {}", r.helper.stderr());
        }
        max_child_wait_ns = max_child_wait_ns.max(victim.log.get(W_MAX_WAIT_NS));
        regs += victim.log.get(W_REGS);
        let _ = std::fs::remove_file(&victim.log.path);
        running.push(spawn(victim.slot, &mut rng));
    }
    for r in &running {
        r.log.set(W_STOP, 1);
    }
    for mut r in running {
        r.helper.wait_ok(Duration::from_secs(20));
        max_child_wait_ns = max_child_wait_ns.max(r.log.get(W_MAX_WAIT_NS));
        regs += r.log.get(W_REGS);
    }
    assert!(zone.verify().unwrap().is_empty() || (zone.repair().is_ok() && zone.verify().unwrap().is_empty()));
    let stats = zone.stats().unwrap();
    let max_child_wait = Duration::from_nanos(max_child_wait_ns);
    report(&format!(
        "crash-full-zone: kills={kills} capacity=10 seed={seed} time={:.1}s churn_registrations={regs} refused_zone_full={} \
         interrupted_index_changes={} max_lock_wait_parent={} max_lock_wait_workers={}",
        start.elapsed().as_secs_f64(),
        stats.failed_zone_full,
        stats.repairs + found_dirty,
        fmt_dur(worst_parent_wait),
        fmt_dur(max_child_wait)
    ));
    assert!(worst_parent_wait < Duration::from_secs(1) && max_child_wait < Duration::from_secs(1));
    assert!(stats.failed_zone_full > 0, "the zone never filled: the test did not test reclaiming");
}

/// Starts the Go writer (`relworker crash ZONE LOG SLOT SEED`) with its own log.
fn spawn_go_worker(go: &std::ffi::OsStr, dir: &TempDir, zone_path: &std::path::Path, tag: &str, slot: usize, rng: &mut Rng) -> Running {
    let log_path = dir.path(&format!("{tag}.log"));
    let log = Log::create(&log_path);
    let mut cmd = std::process::Command::new(go);
    cmd.arg("crash").arg(zone_path).arg(&log_path).arg(slot.to_string()).arg(rng.next_u64().to_string());
    Running { helper: spawn_cmd(cmd, dir, tag), log, slot }
}

/// Starts one writer in `role` with its own log; `tag` names its files.
fn spawn_worker(test: &str, role: &str, dir: &TempDir, zone_path: &std::path::Path, tag: &str, slot: usize, rng: &mut Rng) -> Running {
    let log_path = dir.path(&format!("{tag}.log"));
    let log = Log::create(&log_path);
    let env = [
        ("SHMM_REL_ZONE", zone_path.display().to_string()),
        ("SHMM_REL_LOG", log_path.display().to_string()),
        ("SHMM_REL_SLOT", slot.to_string()),
        ("SHMM_REL_SEED", rng.next_u64().to_string()),
    ];
    Running { helper: spawn_role(test, role, dir, tag, &env), log, slot }
}
