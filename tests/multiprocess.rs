//! Several real processes on one zone: exact totals, attaching to a live zone, and registrars
//! killed with SIGKILL in the middle of registration.
//!
//! Children are this test binary re-run on one test with `SHMM_ROLE` set.

mod common;
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shmmetrics::{OpenOptions, Zone};

fn spawn(test: &str, role: &str, zone: &std::path::Path, arg: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SHMM_ROLE", role)
        .env("SHMM_ZONE", zone)
        .env("SHMM_ARG", arg)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// In a child: runs `f(zone_path, arg)` and exits; in the parent: returns false.
fn child_role(f: impl FnOnce(&str, &std::path::Path, &str)) -> bool {
    let Ok(role) = std::env::var("SHMM_ROLE") else { return false };
    let zone = std::env::var("SHMM_ZONE").unwrap();
    f(&role, std::path::Path::new(&zone), &std::env::var("SHMM_ARG").unwrap());
    std::process::exit(0);
}

fn wait_ok(mut c: Child, limit: Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = c.try_wait().unwrap() {
            assert!(status.success(), "child failed: {status}");
            return;
        }
        if start.elapsed() > limit {
            let _ = c.kill();
            panic!("child hung for more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn n_processes_times_m_increments_are_exact() {
    const N: usize = 4;
    const M: i64 = 250_000;
    if child_role(|_, zone, arg| {
        let z = Zone::open_path(zone, &attach()).unwrap();
        let c = z.counter("shared_total").unwrap();
        let g = z.gauge_f64("shared_float").unwrap();
        for _ in 0..arg.parse::<i64>().unwrap() {
            c.inc(1);
            g.add(0.5);
        }
    }) {
        return;
    }
    let dir = TempDir::new("mp1");
    let path = dir.zone_path("z");
    let z = Zone::open_path(&path, &create(1 << 20)).unwrap();
    let children: Vec<_> = (0..N).map(|_| spawn("n_processes_times_m_increments_are_exact", "inc", &path, &M.to_string())).collect();
    children.into_iter().for_each(|c| wait_ok(c, Duration::from_secs(60)));
    assert_eq!(z.counter("shared_total").unwrap().count(), N as i64 * M);
    assert_eq!(z.gauge_f64("shared_float").unwrap().value(), N as f64 * M as f64 * 0.5);
}

#[test]
fn a_new_process_sees_existing_values() {
    if child_role(|_, zone, arg| {
        let z = Zone::open_path(zone, &attach()).unwrap();
        let c = z.counter("requests").unwrap();
        assert_eq!(c.count(), arg.parse::<i64>().unwrap());
        c.inc(1);
        let g = z.gauge("workers").unwrap();
        assert_eq!(g.value(), 8);
    }) {
        return;
    }
    let dir = TempDir::new("mp2");
    let path = dir.zone_path("z");
    let z = Zone::open_path(&path, &create(1 << 20)).unwrap();
    let c = z.counter("requests").unwrap();
    c.inc(41);
    z.gauge("workers").unwrap().update(8);
    wait_ok(spawn("a_new_process_sees_existing_values", "check", &path, "41"), Duration::from_secs(30));
    assert_eq!(c.count(), 42);
    // The child's attach slot died with it.
    assert_eq!(z.stats().unwrap().attached, 1);
}

#[test]
fn registrars_killed_mid_registration_never_block_or_corrupt_others() {
    let kills: usize = std::env::var("SHMM_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    if child_role(|_, zone, arg| {
        // Register and release names as fast as possible until killed.
        let z = Zone::open_path(zone, &attach()).unwrap();
        let names: Vec<String> = (0..64).map(|i| format!("{arg}-{i}")).collect();
        for i in 0.. {
            let c = z.counter(&names[i % 64]).unwrap();
            c.inc(1);
            // v1 churns (every registration creates and frees an entry: long dirty windows);
            // v0 mostly finds existing names.
            if arg == "v1" || i % 3 == 0 {
                c.release().unwrap();
            }
        }
    }) {
        return;
    }
    let dir = TempDir::new("mp3");
    let path = dir.zone_path("z");
    let z = Zone::open_path(&path, &create(256 << 10)).unwrap();
    let survivor = z.counter("survivor").unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut worst = Duration::ZERO;
    for k in 0..kills {
        let victims: Vec<Child> = (0..2).map(|v| spawn("registrars_killed_mid_registration_never_block_or_corrupt_others", "reg", &path, &format!("v{v}"))).collect();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(5_000 + rng % 10_000));
        for mut v in victims {
            let _ = v.kill(); // SIGKILL
            let _ = v.wait();
        }
        // The survivor must get the lock promptly and find a usable index.
        let t = Instant::now();
        let c = z.counter(&format!("after-kill-{}", k % 16)).unwrap();
        worst = worst.max(t.elapsed());
        c.inc(1);
        survivor.inc(1);
        assert!(z.verify().unwrap().is_empty(), "after kill {k}: {:?}", z.verify().unwrap());
    }
    assert!(worst < Duration::from_secs(1), "a registration waited {worst:?}");
    assert_eq!(survivor.count(), kills as i64);
    let s = z.stats().unwrap();
    assert_eq!(s.attached, 1, "dead processes' attach slots are free again");
    // The victims really were registering when killed (not killed before they started).
    let victim_work: i64 = z.metrics().filter(|m| m.name.starts_with('v')).map(|m| m.bits as i64).sum();
    assert!(victim_work > kills as i64, "victims did only {victim_work} increments");
    eprintln!(
        "{kills} kill rounds (2 victims each), worst registration wait {worst:?}, victims' surviving increments {victim_work}, {} repairs after a kill inside a registration",
        s.repairs
    );
}

#[test]
fn fresh_start_does_not_disturb_the_old_process() {
    let dir = TempDir::new("mp4");
    let path = dir.zone_path("z");
    let old = Zone::open_path(&path, &create(1 << 20)).unwrap();
    let c = old.counter("c").unwrap();
    c.inc(5);
    let new = Zone::open_path(&path, &OpenOptions { fresh: true, size: 1 << 20, ..Default::default() }).unwrap();
    assert_eq!(new.counter("c").unwrap().count(), 0);
    c.inc(1);
    assert_eq!(c.count(), 6);
    assert!(old.verify().unwrap().is_empty() && new.verify().unwrap().is_empty());
}

#[test]
fn processes_creating_one_zone_at_the_same_instant_end_with_one_zone() {
    use std::os::unix::fs::MetadataExt;
    if child_role(|_, zone, arg| {
        // Start together: spin until the agreed instant.
        let start: u128 = arg.parse().unwrap();
        while std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() < start {}
        let z = Zone::open_path(zone, &create(1 << 20)).unwrap();
        z.counter("x").unwrap().inc(1);
        println!("INODE={}", std::fs::metadata(zone).unwrap().ino());
    }) {
        return;
    }
    for round in 0..5 {
        let dir = TempDir::new("mp5");
        let path = dir.zone_path("z");
        let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() + 300_000_000;
        let children: Vec<_> = (0..8)
            .map(|_| {
                Command::new(std::env::current_exe().unwrap())
                    .args(["processes_creating_one_zone_at_the_same_instant_end_with_one_zone", "--exact", "--nocapture", "--test-threads=1", "-q"])
                    .env("SHMM_ROLE", "create")
                    .env("SHMM_ZONE", &path)
                    .env("SHMM_ARG", start.to_string())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let inodes: std::collections::HashSet<String> = children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                assert!(out.status.success());
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let line = text.lines().find_map(|l| l.strip_prefix("INODE=")).expect("child reports its inode");
                line.to_string()
            })
            .collect();
        assert_eq!(inodes.len(), 1, "round {round}: every process attached to the same file");
        let z = Zone::open_path(&path, &attach()).unwrap();
        assert_eq!(z.counter("x").unwrap().count(), 8, "round {round}");
        assert!(z.verify().unwrap().is_empty());
        let leftovers: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
    }
}
