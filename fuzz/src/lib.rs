//! Fuzz harnesses for shmmetrics, shared by the libFuzzer targets (`fuzz_targets/`), the stable
//! driver (`src/bin/fuzz_stable.rs`) and the corpus regression test (`tests/corpus.rs`).
//!
//! The promise under test: whatever bytes a zone file holds and whatever sequence of C ABI calls
//! a program makes, the library answers with a documented status and never crashes, hangs,
//! panics, raises SIGBUS or writes to a file it refused.

pub mod api_seq;
pub mod mutate;
/// The seeded PRNG of the test suites, shared rather than copied.
#[path = "../../tests/common/rng.rs"]
pub mod rng;
pub mod seeds;
pub mod zone_file;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The names of the harnesses, as used for corpus directories and by the stable driver.
pub const TARGETS: [&str; 2] = ["zone_file", "api_seq"];

/// Runs harness `target` on one input.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "zone_file" => zone_file::run(data),
        "api_seq" => api_seq::run(data),
        _ => panic!("unknown fuzz target {target:?} (have {TARGETS:?})"),
    }
}

/// A private scratch directory for this process's zone files: `$SHMMETRICS_FUZZ_DIR` or
/// `/dev/shm` (tmpfs, where zones normally live), removed at exit.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("SHMMETRICS_FUZZ_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/dev/shm"));
        let dir = base.join(format!("shmm-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the fuzz scratch directory");
        extern "C" fn cleanup() {
            if let Some(d) = DIR.get() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
        // SAFETY: registering a plain extern "C" function with no arguments.
        unsafe { libc::atexit(cleanup) };
        dir
    })
}

/// Every file in `dir`, sorted by name (a missing directory is empty).
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect()).unwrap_or_default();
    v.sort();
    v
}
