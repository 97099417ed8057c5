//! Issue 4, item 3: hot upgrade under load, as MOSN does it (MOSN issue #2327 is the failure to
//! prevent: metrics reset or lost across an upgrade).
//!
//! A chain of processes P0, P1, ... on one zone: P(i) attaches while P(i-1) still runs and
//! increments, registers the same names, both increment for a while, then P(i-1) exits
//! (randomly: SIGKILL, clean exit releasing its handles, or clean exit just dropping them)
//! while P(i) keeps incrementing. A separate read-only monitor process samples the zone all the
//! time and checks that no counter goes backwards, no counter is re-created (its generation never
//! changes, so it is never initialised twice and never reset to 0), and no name ever disappears.
//! Each upgrader checks that it found the existing entries (same generation, value > 0). At the
//! end every counter equals what the processes logged, within what the killed ones had in
//! flight. Nobody else holds the metrics: the chain of upgraders alone keeps them alive.

#[path = "reliability/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use harness::*;
use shmmetrics::{Kind, OpenOptions, Zone};

const TEST: &str = "overlapping_old_and_new_processes_never_lose_or_reset_a_counter";

const NAMES: usize = 8;
fn name(j: usize) -> String {
    format!("up_requests_total{{listener=\"egress\",code=\"{}\"}}", 200 + j)
}
const EPOCH: &str = "up_epoch";

// Upgrader log words.
const W_STOP: usize = 0;
const W_READY: usize = 1;
const W_EXIT_RELEASE: usize = 2;
const W_MAX_WAIT_NS: usize = 3;
const W_INCS: usize = 4;
const W_DONE: usize = 16; // + 2j
const W_PENDING: usize = 17; // + 2j
const W_GEN: usize = 48; // + j
const W_SEEN: usize = 64; // + j

// Monitor log words.
const M_STOP: usize = 0;
const M_READY: usize = 1;
const M_SAMPLES: usize = 2;
const M_VIOLATIONS: usize = 3;
const M_MAX_GAP_NS: usize = 4;

fn upgrader(zone_path: &Path, log: &Log, epoch: u64) {
    // Like a real service, the new process does not know whether the zone exists: create if not.
    let opts = OpenOptions { create: true, size: 1 << 20, ..Default::default() };
    let zone = timed(log, W_MAX_WAIT_NS, || Zone::open_path(zone_path, &opts).unwrap());
    let counters: Vec<_> = (0..NAMES).map(|j| timed(log, W_MAX_WAIT_NS, || zone.counter(&name(j)).unwrap())).collect();
    let epoch_gauge = zone.gauge(EPOCH).unwrap();
    for (j, c) in counters.iter().enumerate() {
        log.set(W_GEN + j, c.0.generation());
        log.set(W_SEEN + j, c.count() as u64);
    }
    epoch_gauge.update(epoch as i64);
    let mut ready = false;
    let mut i = 0usize;
    while log.get(W_STOP) == 0 {
        let j = i % NAMES;
        log.counted(W_DONE + 2 * j, W_PENDING + 2 * j, 1, || counters[j].inc(1));
        i += 1;
        if i == NAMES * 64 && !ready {
            log.set(W_READY, 1);
            ready = true;
        }
        if i % 1024 == 0 {
            log.set(W_INCS, i as u64);
            // Leave CPU to the monitor (2-core CI box): it must sample all the time.
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    log.set(W_INCS, i as u64);
    if log.get(W_EXIT_RELEASE) != 0 {
        for c in counters {
            timed(log, W_MAX_WAIT_NS, || c.release().unwrap());
        }
        epoch_gauge.release().unwrap();
    }
}

/// Samples the zone read-only until told to stop; every broken promise is a violation, the
/// first of which is written to `<log>.violation`.
fn monitor(zone_path: &Path, log: &Log) {
    let zone = Zone::open_path(zone_path, &OpenOptions { read_only: true, ..Default::default() }).unwrap();
    let mut seen: HashMap<String, (u64, u64)> = HashMap::new(); // name -> (generation, value)
    let mut violations = Vec::new();
    let mut last = Instant::now();
    log.set(M_READY, 1);
    while log.get(M_STOP) == 0 {
        let now: HashMap<String, (u64, u64, Kind)> = zone.metrics().map(|m| (m.name, (m.generation, m.bits, m.kind))).collect();
        for (n, (generation, value)) in &mut seen {
            match now.get(n) {
                None => violations.push(format!("{n} disappeared (entry lost)")),
                Some((g, _, _)) if g != generation => violations.push(format!("{n} re-created: generation {generation} -> {g} (double initialisation)")),
                Some((_, v, _)) if v < value => violations.push(format!("{n} went backwards: {value} -> {v}")),
                Some((_, v, _)) => *value = *v,
            }
        }
        for (n, (g, v, _)) in now {
            seen.entry(n).or_insert((g, v));
        }
        if !violations.is_empty() {
            // The text first: the parent reads it as soon as it sees the count.
            let _ = std::fs::write(log.path.with_extension("violation"), violations.join("\n"));
            log.set(M_VIOLATIONS, violations.len() as u64);
            violations.truncate(0);
            seen.clear();
        }
        log.add(M_SAMPLES, 1);
        log.max(M_MAX_GAP_NS, last.elapsed().as_nanos() as u64);
        last = Instant::now();
    }
}

struct Upgrader {
    helper: Helper,
    log: Log,
}

#[derive(Clone, Copy, Debug)]
enum Exit {
    Kill,
    Release,
    Drop,
}

/// In a helper: plays its role and exits.
fn play_role() {
    if let Some(role) = role() {
        let log = Log::open(&env_path("SHMM_REL_LOG"));
        match role.as_str() {
            "upgrader" => upgrader(&env_path("SHMM_REL_ZONE"), &log, env_u64("SHMM_REL_EPOCH")),
            "monitor" => monitor(&env_path("SHMM_REL_ZONE"), &log),
            r => panic!("unknown role {r}"),
        }
        std::process::exit(0);
    }
}

/// Negative control: the monitor does notice a lost entry. P0, the only holder, releases its
/// handles on exit, which frees the entries (as documented); the monitor must report it.
#[test]
fn the_upgrade_monitor_notices_a_lost_entry() {
    play_role();
    let _dog = Watchdog::start("monitor control", Duration::from_secs(120));
    let dir = TempDir::new("upgrade-control");
    let zone_path = dir.path("zone");
    let _zone = Zone::open_path(&zone_path, &OpenOptions { create: true, size: 1 << 20, ..Default::default() }).unwrap();
    let start = |role: &str, tag: &str| {
        let log_path = dir.path(&format!("{tag}.log"));
        let log = Log::create(&log_path);
        let env = [("SHMM_REL_ZONE", zone_path.display().to_string()), ("SHMM_REL_LOG", log_path.display().to_string()), ("SHMM_REL_EPOCH", "0".to_string())];
        Upgrader { helper: spawn_role("the_upgrade_monitor_notices_a_lost_entry", role, &dir, tag, &env), log }
    };
    let wait = |u: &Upgrader, w: usize| {
        let t = Instant::now();
        while u.log.get(w) == 0 {
            assert!(t.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let mut mon = start("monitor", "monitor");
    wait(&mon, M_READY);
    let mut p0 = start("upgrader", "p0");
    wait(&p0, W_READY);
    let samples = mon.log.get(M_SAMPLES);
    while mon.log.get(M_SAMPLES) < samples + 10 {
        std::thread::sleep(Duration::from_millis(1));
    }
    p0.log.set(W_EXIT_RELEASE, 1);
    p0.log.set(W_STOP, 1);
    p0.helper.wait_ok(Duration::from_secs(20));
    let t = Instant::now();
    while mon.log.get(M_VIOLATIONS) == 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "the monitor did not notice that every entry was freed");
        std::thread::sleep(Duration::from_millis(1));
    }
    let text = std::fs::read_to_string(mon.log.path.with_extension("violation")).unwrap();
    assert!(text.contains("disappeared"), "{text}");
    mon.log.set(M_STOP, 1);
    mon.helper.wait_ok(Duration::from_secs(20));
}

#[test]
fn overlapping_old_and_new_processes_never_lose_or_reset_a_counter() {
    play_role();
    let pairs = param("PAIRS", 10, 50, 500);
    let seed = seed();
    eprintln!("upgrade: {pairs} pairs, seed {seed}");
    let _dog = Watchdog::start("upgrade test", Duration::from_secs(120 + pairs));
    let mut rng = Rng::new(seed);
    let dir = TempDir::new("upgrade");
    let zone_path = dir.path("zone");
    // The parent attaches (to verify at the end) but registers nothing.
    let zone = Zone::open_path(&zone_path, &OpenOptions { create: true, size: 1 << 20, ..Default::default() }).unwrap();

    let start_role = |role: &str, tag: &str, extra: &[(&str, String)]| {
        let log_path = dir.path(&format!("{tag}.log"));
        let log = Log::create(&log_path);
        let mut env = vec![("SHMM_REL_ZONE", zone_path.display().to_string()), ("SHMM_REL_LOG", log_path.display().to_string())];
        env.extend(extra.iter().cloned());
        Upgrader { helper: spawn_role(TEST, role, &dir, tag, &env), log }
    };
    let wait_word = |u: &mut Upgrader, w: usize, what: &str| {
        let start = Instant::now();
        while u.log.get(w) == 0 {
            assert!(u.helper.running(), "{what} died: {}", u.helper.stderr());
            assert!(start.elapsed() < Duration::from_secs(30), "{what} not ready after 30 s");
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    let mut mon = start_role("monitor", "monitor", &[]);
    wait_word(&mut mon, M_READY, "monitor");
    let check_monitor = |mon: &mut Upgrader, when: &str| {
        let v = mon.log.get(M_VIOLATIONS);
        let text = std::fs::read_to_string(mon.log.path.with_extension("violation")).unwrap_or_default();
        assert!(v == 0, "{when}: the monitor saw {v} violations:\n{text}");
        assert!(mon.helper.running(), "{when}: the monitor died: {}", mon.helper.stderr());
    };

    let spawn_upgrader = |epoch: u64| start_role("upgrader", &format!("p{epoch}"), &[("SHMM_REL_EPOCH", epoch.to_string())]);
    let mut old = spawn_upgrader(0);
    wait_word(&mut old, W_READY, "P0");
    let generations: Vec<u64> = (0..NAMES).map(|j| old.log.get(W_GEN + j)).collect();

    let mut done = [0u64; NAMES];
    let mut in_flight = [0u64; NAMES];
    let mut exits: HashMap<&str, u64> = HashMap::new();
    let mut max_wait_ns = 0u64;
    let mut absorb = |u: &Upgrader, killed: bool| {
        for j in 0..NAMES {
            done[j] += u.log.get(W_DONE + 2 * j);
            if killed {
                in_flight[j] += u.log.get(W_PENDING + 2 * j);
            }
        }
        max_wait_ns = max_wait_ns.max(u.log.get(W_MAX_WAIT_NS));
    };
    let start = Instant::now();
    for epoch in 1..=pairs {
        let mut new = spawn_upgrader(epoch);
        wait_word(&mut new, W_READY, &format!("P{epoch}"));
        for (j, generation) in generations.iter().enumerate() {
            let (g, seen) = (new.log.get(W_GEN + j), new.log.get(W_SEEN + j));
            assert_eq!(g, *generation, "P{epoch} got a new entry for {} instead of the existing one", name(j));
            assert!(seen > 0, "P{epoch} found {} at 0: it was initialised again", name(j));
        }
        // Both run and increment for a while.
        std::thread::sleep(Duration::from_millis(rng.range(10, 60)));
        let exit = [Exit::Kill, Exit::Release, Exit::Drop][rng.below(3)];
        *exits
            .entry(match exit {
                Exit::Kill => "sigkill",
                Exit::Release => "release",
                Exit::Drop => "drop",
            })
            .or_default() += 1;
        match exit {
            Exit::Kill => {
                old.helper.kill();
                old.helper.wait_killed(Duration::from_secs(10));
            }
            Exit::Release | Exit::Drop => {
                old.log.set(W_EXIT_RELEASE, matches!(exit, Exit::Release) as u64);
                old.log.set(W_STOP, 1);
                old.helper.wait_ok(Duration::from_secs(20));
            }
        }
        absorb(&old, matches!(exit, Exit::Kill));
        // The new one goes on alone for a moment before the next upgrade.
        std::thread::sleep(Duration::from_millis(rng.range(2, 20)));
        check_monitor(&mut mon, &format!("after upgrade {epoch} ({exit:?})"));
        old = new;
    }
    // The last one exits without releasing: the metrics stay for the next start.
    old.log.set(W_STOP, 1);
    old.helper.wait_ok(Duration::from_secs(20));
    absorb(&old, false);
    std::thread::sleep(Duration::from_millis(20));
    check_monitor(&mut mon, "at the end");
    let elapsed = start.elapsed();
    mon.log.set(M_STOP, 1);
    mon.helper.wait_ok(Duration::from_secs(20));
    let samples = mon.log.get(M_SAMPLES);
    let max_gap = Duration::from_nanos(mon.log.get(M_MAX_GAP_NS));
    assert!(samples > pairs * 10, "the monitor sampled only {samples} times");

    let problems = zone.verify().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let values: HashMap<String, (u64, u64)> = zone.metrics().map(|m| (m.name, (m.generation, m.bits))).collect();
    let mut total = 0u64;
    for (j, generation) in generations.iter().enumerate() {
        let (g, v) = *values.get(&name(j)).unwrap_or_else(|| panic!("{} lost", name(j)));
        assert_eq!(g, *generation, "{} was re-created", name(j));
        assert!(v >= done[j] && v <= done[j] + in_flight[j], "{}: {v} outside [{}, {}]", name(j), done[j], done[j] + in_flight[j]);
        total += v;
    }
    assert_eq!(values.get(EPOCH).map(|e| e.1), Some(pairs), "{EPOCH} ends at the last process's epoch");
    let logged: u64 = done.iter().sum();
    report(&format!(
        "upgrade: pairs={pairs} exits={exits:?} seed={seed} time={:.1}s increments={total} logged={logged} \
         monitor_samples={samples} monitor_max_gap={} max_lock_wait={} violations=0",
        elapsed.as_secs_f64(),
        fmt_dur(max_gap),
        fmt_dur(Duration::from_nanos(max_wait_ns)),
    ));
}
