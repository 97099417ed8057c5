//! Stable-toolchain fuzz driver for the shmmetrics harnesses.
//!
//! ```text
//! fuzz-stable [--target zone_file|api_seq|all] [--seconds N] [--seed S] [--corpus DIR]
//!             [--artifacts DIR] [--hang-seconds N]
//! fuzz-stable --replay [--target T|all] [--corpus DIR] [FILE...]
//! fuzz-stable --write-seeds DIR
//! ```
//!
//! Fuzzing runs each target for `--seconds` in a worker process that mutates the corpus (plus the
//! generated seeds) with a seeded PRNG. Before each execution the worker writes the input to a
//! file, so a crash of any kind (panic, abort, SIGBUS, SIGSEGV, or the watchdog's abort on a
//! hang) leaves it behind: the supervisor copies it to `<artifacts>/<target>/crash-*` and prints
//! the command that replays it. Same seed, same corpus: same sequence of inputs.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmmetrics_fuzz::mutate::{Rng, mutate_bytes, mutate_zone};
use shmmetrics_fuzz::{TARGETS, corpus_files, seeds};

struct Args {
    target: String,
    seconds: u64,
    seed: u64,
    corpus: PathBuf,
    artifacts: PathBuf,
    hang_seconds: u64,
    max_len: usize,
    replay: bool,
    worker: Option<PathBuf>,
    write_seeds: Option<PathBuf>,
    files: Vec<PathBuf>,
}

fn usage() -> ! {
    eprintln!("usage: fuzz-stable [--target T|all] [--seconds N] [--seed S] [--corpus DIR] [--artifacts DIR] [--hang-seconds N] [--max-len N]");
    eprintln!("       fuzz-stable --replay [--target T|all] [--corpus DIR] [FILE...]");
    eprintln!("       fuzz-stable --write-seeds DIR");
    std::process::exit(2)
}

fn parse() -> Args {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        target: "all".into(),
        seconds: 30,
        seed: 1,
        corpus: here.join("corpus"),
        artifacts: here.join("artifacts"),
        hang_seconds: 10,
        max_len: 1 << 17,
        replay: false,
        worker: None,
        write_seeds: None,
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--target" => a.target = val(),
            "--seconds" => a.seconds = val().parse().unwrap_or_else(|_| usage()),
            "--seed" => a.seed = val().parse().unwrap_or_else(|_| usage()),
            "--corpus" => a.corpus = val().into(),
            "--artifacts" => a.artifacts = val().into(),
            "--hang-seconds" => a.hang_seconds = val().parse().unwrap_or_else(|_| usage()),
            "--max-len" => a.max_len = val().parse().unwrap_or_else(|_| usage()),
            "--replay" => a.replay = true,
            "--worker" => a.worker = Some(val().into()),
            "--write-seeds" => a.write_seeds = Some(val().into()),
            "-h" | "--help" => usage(),
            f if !f.starts_with("--") => a.files.push(f.into()),
            _ => usage(),
        }
    }
    if a.target != "all" && !TARGETS.contains(&a.target.as_str()) {
        usage();
    }
    a
}

fn targets(a: &Args) -> Vec<&'static str> {
    TARGETS.iter().copied().filter(|t| a.target == "all" || a.target == *t).collect()
}

/// The committed corpus of `target` plus its freshly generated seeds.
fn inputs(corpus: &Path, target: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = corpus_files(&corpus.join(target)).into_iter().filter_map(|p| std::fs::read(&p).ok().map(|d| (p.display().to_string(), d))).collect();
    let fresh = if target == "zone_file" { seeds::zone_file_seeds() } else { seeds::api_seq_seeds() };
    v.extend(fresh.into_iter().map(|(n, d)| (format!("(generated) {n}"), d)));
    v
}

fn replay(a: &Args) -> ExitCode {
    let mut n = 0;
    let started = Instant::now();
    if a.files.is_empty() {
        for t in targets(a) {
            for (name, data) in inputs(&a.corpus, t) {
                eprintln!("replay {t} {name}");
                shmmetrics_fuzz::run(t, &data);
                n += 1;
            }
        }
    } else {
        let t = targets(a);
        if t.len() != 1 {
            eprintln!("fuzz-stable --replay FILE needs --target zone_file or --target api_seq");
            return ExitCode::from(2);
        }
        for f in &a.files {
            let data = std::fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
            eprintln!("replay {} {}", t[0], f.display());
            shmmetrics_fuzz::run(t[0], &data);
            n += 1;
        }
    }
    println!("fuzz-stable replay: {n} passed, 0 failed ({:.1} s)", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}

/// Millisecond timestamp when the current execution started (0: idle).
static EXEC_STARTED_MS: AtomicU64 = AtomicU64::new(0);

fn now_ms(origin: Instant) -> u64 {
    origin.elapsed().as_millis() as u64 + 1
}

fn worker(a: &Args, current: &Path) -> ExitCode {
    let target = targets(a)[0];
    let origin = Instant::now();
    let hang_ms = a.hang_seconds * 1000;
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let s = EXEC_STARTED_MS.load(Ordering::Relaxed);
            if s != 0 && now_ms(origin).saturating_sub(s) > hang_ms {
                eprintln!("fuzz-stable: one input ran longer than {} s: treating it as a hang", hang_ms / 1000);
                std::process::abort();
            }
        }
    });
    let mut pool: Vec<Vec<u8>> = inputs(&a.corpus, target).into_iter().map(|(_, d)| d).collect();
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let base_len = pool.len();
    let mut rng = Rng::new(a.seed);
    let deadline = origin + Duration::from_secs(a.seconds);
    let mut execs: u64 = 0;
    let mut lens: u64 = 0;
    while Instant::now() < deadline {
        let base = &pool[rng.below(pool.len())];
        let other = &pool[rng.below(pool.len())];
        let mut data = base.clone();
        if target == "zone_file" {
            mutate_zone(&mut rng, &mut data, other, a.max_len);
        } else {
            mutate_bytes(&mut rng, &mut data, other, a.max_len);
        }
        std::fs::write(current, &data).expect("write the current input");
        EXEC_STARTED_MS.store(now_ms(origin), Ordering::Relaxed);
        let r = std::panic::catch_unwind(|| shmmetrics_fuzz::run(target, &data));
        EXEC_STARTED_MS.store(0, Ordering::Relaxed);
        if r.is_err() {
            eprintln!("fuzz-stable: the harness panicked on execution {execs}");
            return ExitCode::from(1);
        }
        execs += 1;
        lens += data.len() as u64;
        // Keep some mutants so that mutations stack up over the run.
        if rng.chance(8) {
            if pool.len() < base_len + 4096 {
                pool.push(data);
            } else {
                let i = base_len + rng.below(pool.len() - base_len);
                pool[i] = data;
            }
        }
    }
    let secs = origin.elapsed().as_secs_f64();
    println!(
        "fuzz-stable {target}: {execs} executions in {secs:.1} s ({:.0}/s, mean input {} bytes, seed {}, {} corpus inputs): no crash, no hang",
        execs as f64 / secs,
        lens / execs.max(1),
        a.seed,
        base_len
    );
    let _ = std::fs::remove_file(current);
    ExitCode::SUCCESS
}

fn supervise(a: &Args) -> ExitCode {
    let exe = std::env::current_exe().expect("own path");
    let scratch = shmmetrics_fuzz::scratch_dir();
    for t in targets(a) {
        let current = scratch.join(format!("current-{t}"));
        // The worker's scratch directory goes inside ours, so it is removed even if the worker
        // dies of a signal.
        let status = Command::new(&exe)
            .env("SHMMETRICS_FUZZ_DIR", scratch)
            .args(["--worker", current.to_str().expect("UTF-8 path"), "--target", t])
            .args(["--seconds", &a.seconds.to_string(), "--seed", &a.seed.to_string()])
            .args(["--hang-seconds", &a.hang_seconds.to_string(), "--max-len", &a.max_len.to_string()])
            .arg("--corpus")
            .arg(&a.corpus)
            .status()
            .expect("start a fuzz worker");
        if !status.success() {
            let dir = a.artifacts.join(t);
            std::fs::create_dir_all(&dir).expect("create the artifacts directory");
            let saved = dir.join(format!("crash-seed{}-{}", a.seed, std::process::id()));
            let copied = std::fs::copy(&current, &saved).is_ok();
            use std::os::unix::process::ExitStatusExt;
            eprintln!("fuzz-stable {t}: worker failed ({status}{})", status.signal().map(|s| format!(", signal {s}")).unwrap_or_default());
            if copied {
                eprintln!("input saved to {}", saved.display());
                eprintln!("replay: cargo run --release --manifest-path fuzz/Cargo.toml --bin fuzz-stable -- --replay --target {t} {}", saved.display());
            }
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let a = parse();
    if let Some(dir) = &a.write_seeds {
        let n = seeds::write_all(dir).expect("write seeds");
        println!("wrote {n} seeds under {}", dir.display());
        return ExitCode::SUCCESS;
    }
    if a.replay {
        return replay(&a);
    }
    if let Some(current) = &a.worker {
        return worker(&a, current);
    }
    supervise(&a)
}
