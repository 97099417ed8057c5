//! Helpers shared by the integration tests (`mod common;`, or `#[path]` from the hostile and
//! reliability helpers): a private zone directory per test, open options, the seeded PRNG.
#![allow(dead_code)]

pub mod rng;

use std::path::PathBuf;

use shmmetrics::{OpenOptions, Zone};

/// A fresh directory (mode 0755, so that a child running as `nobody` can enter it) under
/// `$SHMMETRICS_TEST_TMP` or `/dev/shm` (tmpfs, like production zones), removed on drop unless
/// `SHMM_REL_KEEP` is set (to look at a failed run's zones and logs; docs/RELIABILITY.md).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::var_os("SHMMETRICS_TEST_TMP").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/dev/shm"));
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let p = base.join(format!("shmm-test-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        TempDir(p)
    }

    pub fn zone_path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.zone_path(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("SHMM_REL_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn create(size: u64) -> OpenOptions {
    OpenOptions { create: true, size, ..Default::default() }
}

pub fn attach() -> OpenOptions {
    OpenOptions::default()
}

pub fn open(dir: &TempDir, name: &str, opts: &OpenOptions) -> Zone {
    Zone::open_path(&dir.zone_path(name), opts).unwrap()
}
