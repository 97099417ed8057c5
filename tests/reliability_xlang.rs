//! Issue 4, item 2 (and issue 8 for Go): C, Rust, Python and Go processes increment the same
//! counters and update the same gauges at the same time; totals are exact.
//!
//! Every worker registers `xl_total`, `xl_by_<language>`, `xl_gauge` and `xl_f64`, waits at a
//! gate so that all start together, then does N times `xl_total += 1`, `xl_by_<lang> += 1`, and
//! every 64th time `xl_gauge = (id << 40) | (i / 64)` and `xl_f64 += 0.25`. Meanwhile the parent
//! samples the values: `xl_total` never goes backwards, and every `xl_gauge` value it sees is
//! one a worker wrote (no torn or invented value), each worker's values in the order written.
//!
//! Workers: C `tests/reliability/c/xlang_worker.c` (path in `SHMM_REL_C_WORKER`, built by
//! `mk/reliability.mk`), Rust (this binary, role `xlang-worker`), Python
//! `tests/reliability/xlang_worker.py` through `bindings/python`, Go `bindings/go/internal/relworker`
//! (path in `SHMM_REL_GO_WORKER`, built by `mk/go.mk`). `make reliability-test` sets
//! `SHMM_REL_REQUIRE_ALL=1`: a language that cannot run is then a failure, not a skip.

#[path = "reliability/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use harness::*;
use shmmetrics::{OpenOptions, Zone};

const TEST: &str = "c_rust_python_and_go_processes_share_counters_and_gauges_exactly";

/// The Rust worker: the same protocol as the C one.
fn rust_worker(zone_path: &Path, id: u64, n: u64, gate: &Path) {
    let zone = Zone::open_path(zone_path, &OpenOptions::default()).unwrap();
    let total = zone.counter("xl_total").unwrap();
    let mine = zone.counter("xl_by_rust").unwrap();
    let gauge = zone.gauge("xl_gauge").unwrap();
    let f64 = zone.gauge_f64("xl_f64").unwrap();
    std::fs::write(format!("{}.ready.{id}", gate.display()), b"").unwrap();
    wait_for(gate, Duration::from_secs(60));
    let (mut f64adds, mut last_gauge) = (0u64, 0u64);
    for i in 1..=n {
        total.inc(1);
        mine.inc(1);
        if i % 64 == 0 {
            last_gauge = (id << 40) | (i / 64);
            gauge.update(last_gauge as i64);
            f64.add(0.25);
            f64adds += 1;
        }
    }
    println!("done incs={n} f64adds={f64adds} last_gauge={last_gauge}");
}

fn wait_for(p: &Path, limit: Duration) {
    let start = Instant::now();
    while !p.exists() {
        assert!(start.elapsed() < limit, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A command that runs the Python worker, or why it cannot run.
fn python_command() -> Result<Command, String> {
    let python = std::env::var("SHMM_REL_PYTHON").unwrap_or_else(|_| "python3".into());
    let lib = std::env::var_os("SHMMETRICS_LIB").map(PathBuf::from).unwrap_or_else(|| repo().join("target/release/libshmmetrics.so"));
    let pkg = repo().join("bindings/python");
    if !pkg.join("shmmetrics/__init__.py").exists() {
        return Err(format!("{} does not exist (hook: the Python binding is not there yet)", pkg.display()));
    }
    if !lib.exists() {
        return Err(format!("{} does not exist (run `make lib`)", lib.display()));
    }
    let mut probe = Command::new(&python);
    probe.args(["-c", "import shmmetrics"]).env("PYTHONPATH", &pkg).env("SHMMETRICS_LIB", &lib);
    match probe.output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => return Err(format!("`import shmmetrics` fails: {}", String::from_utf8_lossy(&o.stderr))),
        Err(e) => return Err(format!("cannot run {python}: {e}")),
    }
    let mut cmd = Command::new(python);
    cmd.arg(repo().join("tests/reliability/xlang_worker.py")).env("PYTHONPATH", pkg).env("SHMMETRICS_LIB", lib);
    Ok(cmd)
}

struct Worker {
    lang: &'static str,
    id: u64,
    n: u64,
    helper: Helper,
}

/// `done incs=N f64adds=M last_gauge=G` from a worker's stdout.
fn parse_result(out: &str) -> HashMap<String, u64> {
    let line = out.lines().find(|l| l.starts_with("done ")).unwrap_or_else(|| panic!("no result line in {out:?}"));
    line.split_whitespace().skip(1).map(|kv| kv.split_once('=').unwrap()).map(|(k, v)| (k.to_string(), v.parse().unwrap())).collect()
}

#[test]
fn c_rust_python_and_go_processes_share_counters_and_gauges_exactly() {
    if let Some(role) = role() {
        assert_eq!(role, "xlang-worker");
        rust_worker(&env_path("SHMM_REL_ZONE"), env_u64("SHMM_REL_ID"), env_u64("SHMM_REL_N"), &env_path("SHMM_REL_GATE"));
        std::process::exit(0);
    }
    let require_all = std::env::var_os("SHMM_REL_REQUIRE_ALL").is_some();
    let per_native = param("XL_INCS", 100_000, 1_000_000, 10_000_000);
    let per_python = param("XL_PY_INCS", 20_000, 200_000, 2_000_000);
    let natives = param("XL_WORKERS", 2, 2, 2);
    let _dog = Watchdog::start("cross-language test", Duration::from_secs(600));

    let dir = TempDir::new("xlang");
    let zone_path = dir.path("zone");
    let gate = dir.path("gate");
    let zone = Zone::open_path(&zone_path, &OpenOptions { create: true, size: 1 << 20, ..Default::default() }).unwrap();
    // The parent holds every metric, so none is freed between workers.
    let total = zone.counter("xl_total").unwrap();
    let by: HashMap<&str, _> = ["c", "rust", "python", "go"].iter().map(|l| (*l, zone.counter(&format!("xl_by_{l}")).unwrap())).collect();
    let gauge = zone.gauge("xl_gauge").unwrap();
    let f64 = zone.gauge_f64("xl_f64").unwrap();

    let mut workers = Vec::new();
    let mut next_id = 1u64;
    let mut skipped = Vec::new();
    let args = |id: u64, n: u64| [zone_path.display().to_string(), id.to_string(), n.to_string(), gate.display().to_string()];
    match std::env::var_os("SHMM_REL_C_WORKER") {
        Some(c) => {
            for _ in 0..natives {
                let mut cmd = Command::new(&c);
                cmd.args(args(next_id, per_native));
                workers.push(Worker { lang: "c", id: next_id, n: per_native, helper: spawn_cmd(cmd, &dir, &format!("c{next_id}")) });
                next_id += 1;
            }
        }
        None => skipped.push("C (SHMM_REL_C_WORKER not set; `make reliability-test` builds and sets it)".to_string()),
    }
    for _ in 0..natives {
        let env = [
            ("SHMM_REL_ZONE", zone_path.display().to_string()),
            ("SHMM_REL_ID", next_id.to_string()),
            ("SHMM_REL_N", per_native.to_string()),
            ("SHMM_REL_GATE", gate.display().to_string()),
        ];
        let helper = spawn_role(TEST, "xlang-worker", &dir, &format!("rust{next_id}"), &env);
        workers.push(Worker { lang: "rust", id: next_id, n: per_native, helper });
        next_id += 1;
    }
    match std::env::var_os("SHMM_REL_GO_WORKER") {
        Some(go) => {
            for _ in 0..natives {
                let mut cmd = Command::new(&go);
                cmd.arg("xlang").args(args(next_id, per_native));
                workers.push(Worker { lang: "go", id: next_id, n: per_native, helper: spawn_cmd(cmd, &dir, &format!("go{next_id}")) });
                next_id += 1;
            }
        }
        None => skipped.push("Go (SHMM_REL_GO_WORKER not set; `make reliability-test` builds and sets it)".to_string()),
    }
    match python_command() {
        Ok(mut cmd) => {
            cmd.args(args(next_id, per_python));
            workers.push(Worker { lang: "python", id: next_id, n: per_python, helper: spawn_cmd(cmd, &dir, &format!("py{next_id}")) });
        }
        Err(why) => skipped.push(format!("Python: {why}")),
    }
    if require_all {
        assert!(skipped.is_empty(), "SHMM_REL_REQUIRE_ALL is set but languages are missing: {skipped:?}");
    }
    for s in &skipped {
        eprintln!("xlang: skipping {s}");
    }

    // Everyone registered: open the gate and watch.
    for w in &mut workers {
        let ready = PathBuf::from(format!("{}.ready.{}", gate.display(), w.id));
        let start = Instant::now();
        while !ready.exists() {
            assert!(w.helper.running() || ready.exists(), "{} worker {} died before the gate: {}", w.lang, w.id, w.helper.stderr());
            assert!(start.elapsed() < Duration::from_secs(60), "{} worker {} never got ready", w.lang, w.id);
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let max_seq: HashMap<u64, u64> = workers.iter().map(|w| (w.id, w.n / 64)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (stop, zone) = (stop.clone(), zone.clone());
        std::thread::spawn(move || {
            let total = zone.counter("xl_total").unwrap();
            let gauge = zone.gauge("xl_gauge").unwrap();
            let (mut samples, mut last_total) = (0u64, 0i64);
            let mut last_seq: HashMap<u64, u64> = HashMap::new();
            while !stop.load(Ordering::Acquire) {
                let t = total.count();
                assert!(t >= last_total, "xl_total went backwards: {last_total} -> {t}");
                last_total = t;
                let g = gauge.value() as u64;
                if g != 0 {
                    let (id, seq) = (g >> 40, g & ((1 << 40) - 1));
                    let max = *max_seq.get(&id).unwrap_or_else(|| panic!("xl_gauge {g:#x}: no worker has id {id}"));
                    assert!(seq >= 1 && seq <= max, "xl_gauge {g:#x}: worker {id} never wrote sequence {seq}");
                    let prev = last_seq.entry(id).or_insert(0);
                    assert!(seq >= *prev, "xl_gauge: worker {id}'s values seen out of order ({} then {seq})", *prev);
                    *prev = seq;
                }
                samples += 1;
                std::thread::sleep(Duration::from_micros(50));
            }
            samples
        })
    };
    let start = Instant::now();
    std::fs::write(&gate, b"").unwrap();
    let mut results = Vec::new();
    for w in &mut workers {
        w.helper.wait_ok(Duration::from_secs(300));
        results.push(parse_result(&w.helper.stdout()));
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Release);
    let samples = monitor.join().expect("the monitor found a violation (see its panic above)");

    let want_total: u64 = workers.iter().map(|w| w.n).sum();
    assert_eq!(total.count() as u64, want_total, "xl_total");
    for (lang, c) in &by {
        let want: u64 = workers.iter().filter(|w| w.lang == *lang).map(|w| w.n).sum();
        assert_eq!(c.count() as u64, want, "xl_by_{lang}");
    }
    let adds: u64 = results.iter().map(|r| r["f64adds"]).sum();
    assert_eq!(f64.value(), adds as f64 * 0.25, "xl_f64 (quarters are exact in binary)");
    let finals: Vec<u64> = results.iter().map(|r| r["last_gauge"]).collect();
    assert!(finals.contains(&(gauge.value() as u64)), "xl_gauge ends at {:#x}, no worker's last value {finals:x?}", gauge.value());
    assert!(zone.verify().unwrap().is_empty());

    let langs: Vec<String> = workers.iter().map(|w| format!("{}:{}", w.lang, w.n)).collect();
    report(&format!(
        "xlang: increments={want_total} (xl_total exact) workers=[{}] f64_adds={adds} gauge_samples={samples} time={:.2}s{}",
        langs.join(" "),
        elapsed.as_secs_f64(),
        if skipped.is_empty() { String::new() } else { format!(" SKIPPED={}", skipped.len()) }
    ));
}
