//! Helpers for the hostile-input tests (`tests/hostile_*.rs`): private directories, zone images,
//! header edits, and child processes (the test binary re-executed to run one role, possibly as
//! another user), so that a SIGBUS or a privilege drop never touches the test process itself.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Output};

use shmmetrics::{OpenOptions, Status, Zone};

#[path = "../common/mod.rs"]
mod common;
pub use common::{TempDir, create};

pub fn writable() -> OpenOptions {
    OpenOptions::default()
}

pub fn read_only() -> OpenOptions {
    OpenOptions { read_only: true, ..Default::default() }
}

/// The status of a failed open (panics if it succeeded).
pub fn open_err(path: &Path, opts: &OpenOptions) -> Status {
    match Zone::open_path(path, opts) {
        Ok(_) => panic!("{} opened, expected a refusal", path.display()),
        Err(e) => {
            assert!(!e.message.is_empty());
            e.status
        }
    }
}

/// Makes a healthy zone file at `path` with a few metrics and returns its bytes.
pub fn make_zone(path: &Path, size: u64) -> Vec<u8> {
    let _ = std::fs::remove_file(path);
    {
        let z = Zone::open_path(path, &create(size)).unwrap();
        z.counter("requests_total").unwrap().inc(42);
        z.gauge("queue_depth").unwrap().update(-7);
        z.gauge_f64("temperature").unwrap().update(21.5);
    }
    std::fs::read(path).unwrap()
}

/// Whether this process runs as root (then permission tests drop privileges in a child).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub const NOBODY: u32 = 65534;

/// In a child started by `child()`, the role it was started for.
pub fn child_role() -> Option<String> {
    std::env::var("SHMM_HOSTILE_ROLE").ok()
}

/// Re-runs this test binary as a child that executes only test `test_name` with
/// `SHMM_HOSTILE_ROLE=role` and the given environment, optionally as user/group `uid`.
pub fn child(test_name: &str, role: &str, env: &[(&str, &str)], uid: Option<u32>) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    // Another user may not be able to reach the build tree (a checkout under a 0700 home):
    // run a copy from a world-readable temporary directory instead.
    let copy = uid.map(|_| {
        let d = TempDir::new("bin");
        let c = d.path("test-binary");
        std::fs::copy(&exe, &c).expect("copy the test binary");
        std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o755)).unwrap();
        (d, c)
    });
    let mut cmd = Command::new(copy.as_ref().map_or(exe.as_path(), |(_, c)| c.as_path()));
    cmd.args([test_name, "--exact", "--nocapture", "--test-threads=1", "--include-ignored"]).env("SHMM_HOSTILE_ROLE", role);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(id) = uid {
        // std drops supplementary groups when it changes the uid as root.
        cmd.uid(id).gid(id).current_dir("/");
    }
    cmd.output().expect("start the child")
}

/// How a child ended, for messages.
pub fn describe(o: &Output) -> String {
    format!("status {:?} signal {:?}\n--- stdout\n{}\n--- stderr\n{}", o.status.code(), o.status.signal(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Entries of a directory.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}
