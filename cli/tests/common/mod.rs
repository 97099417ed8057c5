//! Helpers for the command's tests: temporary zone directories, zones written by the library,
//! and running the built `shmmetrics` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shmmetrics::{OpenOptions, Zone};

pub const BIN: &str = env!("CARGO_BIN_EXE_shmmetrics");

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("shmm-cli-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn create(dir: &Path, name: &str) -> Zone {
    Zone::open_in(Some(dir), name, &OpenOptions { create: true, size: 64 << 10, ..Default::default() }).unwrap()
}

/// The zone of the golden files: every kind, labels, escapes, a clash.
pub fn golden_zone(dir: &Path) -> Zone {
    let z = create(dir, "golden");
    z.counter("http_requests_total{method=\"GET\",code=\"200\"}").unwrap().inc(3);
    z.counter("http_requests_total{method=\"POST\",code=\"500\"}").unwrap().inc(1);
    z.counter("jobs").unwrap().inc(2);
    z.gauge("workers").unwrap().update(4);
    z.gauge("queue_depth").unwrap().update(-7);
    z.gauge_f64("temperature_celsius{room=\"lab\"}").unwrap().update(21.5);
    z.gauge_f64("temperature_celsius{room=\"hall\"}").unwrap().update(-3.25);
    z.gauge_f64("db.query-time{q=\"say \\\"hi\\\"\\\\now\"}").unwrap().update(0.125);
    z.gauge("jobs_total").unwrap().update(9); // clashes with the counter family `jobs`
    z
}

pub fn shm(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("SHMMETRICS_DIR").output().expect("run shmmetrics")
}

pub fn shm_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("SHMMETRICS_DIR", dir).output().expect("run shmmetrics")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}
