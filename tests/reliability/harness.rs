//! Shared machinery of the reliability suite (`tests/reliability_*.rs` include it with
//! `#[path]`): sizes per profile, helper processes (the test binary
//! re-run with `SHMM_REL_ROLE` set), per-process logs in shared memory, and timeouts.
//!
//! Profiles (`SHMM_REL_PROFILE`): `smoke` (default: plain `cargo test` stays quick), `test`
//! (`make reliability-test`, part of `make test`) and `stress` (`make stress`). Every figure
//! can also be set alone, e.g. `SHMM_REL_KILLS=1000`.
#![allow(dead_code)]

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};

pub const ROLE_ENV: &str = "SHMM_REL_ROLE";

pub fn profile() -> String {
    std::env::var("SHMM_REL_PROFILE").unwrap_or_else(|_| "smoke".into())
}

/// `SHMM_REL_<name>` if set, else the value for the current profile.
pub fn param(name: &str, smoke: u64, test: u64, stress: u64) -> u64 {
    if let Some(v) = std::env::var(format!("SHMM_REL_{name}")).ok().and_then(|v| v.parse().ok()) {
        return v;
    }
    match profile().as_str() {
        "stress" => stress,
        "test" => test,
        _ => smoke,
    }
}

/// Seed for this run (printed, so a failure can be replayed with `SHMM_REL_SEED`).
pub fn seed() -> u64 {
    std::env::var("SHMM_REL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32)
    })
}

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)] // each suite uses what it needs
pub use common::{TempDir, rng::Rng};

/// One page of u64 words in a file, mapped shared: a helper process records what it has done
/// with plain stores, and the record survives its SIGKILL (the page cache keeps it). The parent
/// maps the same file to read it and to send requests (e.g. "stop").
pub struct Log {
    map: MmapRaw,
    pub path: PathBuf,
}

// SAFETY: only ever accessed through atomics.
unsafe impl Send for Log {}
// SAFETY: as above.
unsafe impl Sync for Log {}

pub const LOG_WORDS: usize = 512;

impl Log {
    pub fn create(path: &Path) -> Log {
        let f = File::options().read(true).write(true).create_new(true).open(path).unwrap();
        f.set_len((LOG_WORDS * 8) as u64).unwrap();
        Self::map(f, path)
    }
    pub fn open(path: &Path) -> Log {
        let f = File::options().read(true).write(true).open(path).unwrap();
        Self::map(f, path)
    }
    fn map(f: File, path: &Path) -> Log {
        let map = MmapOptions::new().len(LOG_WORDS * 8).map_raw(&f).unwrap();
        Log { map, path: path.to_owned() }
    }
    pub fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < LOG_WORDS);
        // SAFETY: in bounds, 8-aligned (page-aligned base), the mapping lives as long as self.
        unsafe { &*self.map.as_ptr().cast::<AtomicU64>().add(i) }
    }
    pub fn get(&self, i: usize) -> u64 {
        self.word(i).load(Ordering::Acquire)
    }
    pub fn set(&self, i: usize, v: u64) {
        self.word(i).store(v, Ordering::Release)
    }
    pub fn max(&self, i: usize, v: u64) {
        self.word(i).fetch_max(v, Ordering::AcqRel);
    }
    pub fn add(&self, i: usize, v: u64) {
        // Only the owning process writes its words: load+store is enough and cheaper.
        let w = self.word(i);
        w.store(w.load(Ordering::Relaxed) + v, Ordering::Release);
    }

    /// Does `op` (which adds `n` to some counter) and logs it: `pending` holds `n` while the
    /// operation may or may not have happened, `done` is raised only after it has. A process
    /// killed anywhere in here leaves `done` <= what reached the zone <= `done + pending`.
    #[inline]
    pub fn counted(&self, done: usize, pending: usize, n: u64, op: impl FnOnce()) {
        self.word(pending).store(n, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::SeqCst);
        op();
        std::sync::atomic::fence(Ordering::SeqCst);
        self.add(done, n);
        self.word(pending).store(0, Ordering::Release);
    }
}

/// Pids of live helpers, killed by the watchdog (and on unwind by `Helper::drop`).
fn helpers() -> &'static Mutex<HashSet<u32>> {
    static H: OnceLock<Mutex<HashSet<u32>>> = OnceLock::new();
    H.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Fails the whole test binary (after killing every helper) if the test runs longer than
/// `limit`: a hang in the core must fail CI, not block it.
pub struct Watchdog(std::sync::Arc<AtomicBool>);

impl Watchdog {
    pub fn start(what: &str, limit: Duration) -> Watchdog {
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let what = what.to_string();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < limit {
                if d.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("WATCHDOG: {what} still running after {limit:?}: killing helpers and failing");
            for pid in helpers().lock().unwrap_or_else(|e| e.into_inner()).iter() {
                kill9(*pid);
            }
            std::process::exit(124);
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

pub fn kill9(pid: u32) {
    // SAFETY: plain syscall.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// A helper process: this test binary re-run on one test with a role.
pub struct Helper {
    pub child: Child,
    pub pid: u32,
    pub stderr_path: PathBuf,
    pub started: Instant,
    reaped: Option<ExitStatus>,
}

/// Starts the test binary's test `test` as a helper with role `role` and extra environment.
pub fn spawn_role(test: &str, role: &str, dir: &TempDir, tag: &str, env: &[(&str, String)]) -> Helper {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1", "-q"]);
    cmd.env(ROLE_ENV, role);
    for (k, v) in env {
        cmd.env(k, v);
    }
    spawn_cmd(cmd, dir, tag)
}

/// Starts any command as a helper, stderr to `<dir>/<tag>.err`, stdout to `<dir>/<tag>.out`.
pub fn spawn_cmd(mut cmd: Command, dir: &TempDir, tag: &str) -> Helper {
    let stderr_path = dir.path(&format!("{tag}.err"));
    let stdout_path = dir.path(&format!("{tag}.out"));
    cmd.stdin(Stdio::null()).stdout(File::create(&stdout_path).unwrap()).stderr(File::create(&stderr_path).unwrap());
    let mut h = helpers().lock().unwrap_or_else(|e| e.into_inner());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = child.id();
    h.insert(pid);
    Helper { child, pid, stderr_path, started: Instant::now(), reaped: None }
}

impl Helper {
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.stderr_path.with_extension("out")).unwrap_or_default()
    }
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
    pub fn kill(&mut self) {
        kill9(self.pid);
    }
    /// Still running (not exited, not reaped)?
    pub fn running(&mut self) -> bool {
        if self.reaped.is_some() {
            return false;
        }
        match self.child.try_wait().unwrap() {
            Some(s) => {
                self.reaped = Some(s);
                helpers().lock().unwrap_or_else(|e| e.into_inner()).remove(&self.pid);
                false
            }
            None => true,
        }
    }
    /// Waits up to `limit`; on timeout kills the helper and panics.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if !self.running() {
                return self.reaped.unwrap();
            }
            if start.elapsed() > limit {
                self.kill();
                let _ = self.child.wait();
                panic!("helper {} hung for more than {limit:?}; stderr:\n{}", self.pid, self.stderr());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    /// Waits for a clean exit; panics with the helper's stderr otherwise.
    pub fn wait_ok(&mut self, limit: Duration) {
        let s = self.wait(limit);
        assert!(s.success(), "helper {} failed ({s}); stderr:\n{}", self.pid, self.stderr());
    }
    /// Waits for the death by SIGKILL that we caused; panics if it died of something else.
    pub fn wait_killed(&mut self, limit: Duration) {
        use std::os::unix::process::ExitStatusExt;
        let s = self.wait(limit);
        assert!(s.signal() == Some(libc::SIGKILL), "helper {} should have died of SIGKILL but {s}; stderr:\n{}", self.pid, self.stderr());
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if self.running() {
            self.kill();
            let _ = self.child.wait();
            helpers().lock().unwrap_or_else(|e| e.into_inner()).remove(&self.pid);
        }
    }
}

/// In a helper: the role, after arranging to die with the parent. None in the parent.
pub fn role() -> Option<String> {
    let r = std::env::var(ROLE_ENV).ok()?;
    // SAFETY: plain syscall; a helper must not outlive the test that started it.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    Some(r)
}

pub fn env_path(k: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(k).unwrap_or_else(|| panic!("{k} not set")))
}

pub fn env_u64(k: &str) -> u64 {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} not set")).parse().unwrap()
}

/// Appends a line of figures to `$SHMM_REL_REPORT` (if set) and prints it.
pub fn report(line: &str) {
    eprintln!("RELIABILITY {line}");
    if let Some(p) = std::env::var_os("SHMM_REL_REPORT") {
        use std::io::Write;
        if let Ok(mut f) = File::options().create(true).append(true).open(p) {
            let _ = writeln!(f, "{} {line}", profile());
        }
    }
}

pub fn fmt_dur(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Times `f`, folding the duration (ns) into log word `w` as a maximum.
pub fn timed<T>(log: &Log, w: usize, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    log.max(w, t.elapsed().as_nanos() as u64);
    r
}
