//! Speed of `dump --format prometheus` and of a `serve` scrape on a big zone (make bench:
//! 100,000 metrics; make test runs it once on 1,000 as a smoke). Targets: dump <= 50 ms, scrape
//! <= 100 ms. Prints `BENCH` lines with times and ratios; asserts only correctness (the output
//! has every metric), never time. The baseline measured in the same run is the library's own
//! lock-free scan of the zone, the floor for any reader.
//!
//!   SHMM_BENCH_METRICS=100000 SHMM_BENCH_REPEAT=7 cargo test --release -p shmmetrics-cli --test bench -- --nocapture

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use shmmetrics::{OpenOptions, Zone};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The best wall time and the best CPU time (user + system, from `cpu`) of `repeat` runs. On a
/// shared machine the CPU time moves less than the wall time, which includes waiting for a CPU.
fn best(repeat: usize, cpu: impl Fn() -> Duration, mut f: impl FnMut()) -> (Duration, Duration) {
    (0..repeat.max(1))
        .map(|_| {
            let (t, c) = (Instant::now(), cpu());
            f();
            (t.elapsed(), cpu() - c)
        })
        .fold((Duration::MAX, Duration::MAX), |(w, c), (w2, c2)| (w.min(w2), c.min(c2)))
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000)
}

/// CPU time of `who` (RUSAGE_SELF, or RUSAGE_CHILDREN: the children waited for).
fn rusage(who: i32) -> Duration {
    // SAFETY: getrusage fills the struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(who, &mut u) }, 0);
    timeval(u.ru_utime) + timeval(u.ru_stime)
}

/// CPU time of a running process, from /proc (clock ticks: coarse, so averaged over runs).
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    Duration::from_secs_f64(ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

#[test]
fn dump_and_scrape_a_big_zone() {
    let (n, repeat) = (env_or("SHMM_BENCH_METRICS", 1000), env_or("SHMM_BENCH_REPEAT", 1));
    println!("BENCH load average at start: {} on {} CPUs", load(), std::thread::available_parallelism().map_or(0, |p| p.get()));
    // tmpfs, as zones are in production.
    let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
    let dir = TempDir(std::path::PathBuf::from(base).join(format!("shmm-bench-{}", std::process::id())));
    std::fs::create_dir_all(dir.path()).unwrap();
    let zone = Zone::open_in(Some(dir.path()), "big", &OpenOptions { create: true, size: (n as u64 * 600).max(1 << 20), ..Default::default() }).unwrap();
    let t = Instant::now();
    for i in 0..n {
        let name = format!("http_requests_total{{service=\"svc{}\",method=\"{}\",code=\"{}\",path=\"/api/v1/items/{i}\"}}", i % 50, ["GET", "POST"][i % 2], 200 + i % 5);
        match i % 4 {
            0 | 1 => zone.counter(&name).unwrap().inc(i as i64),
            2 => zone.gauge(&name.replace("requests_total", "inflight")).unwrap().update(i as i64),
            _ => zone.gauge_f64(&name.replace("requests_total", "latency_seconds")).unwrap().update(i as f64 / 1e3),
        }
    }
    println!("BENCH zone: {n} metrics registered in {:.0} ms ({} bytes)", ms(t.elapsed()), zone.info().unwrap().file_size);

    let (scan, scan_cpu) = best(repeat, || rusage(libc::RUSAGE_SELF), || assert_eq!(zone.metrics().count(), n));
    let path = dir.join("shmmetrics-big");
    let children = || rusage(libc::RUSAGE_CHILDREN);
    let run = |args: &[&str]| {
        let o = Command::new(BIN).arg("dump").arg(&path).args(args).stderr(Stdio::null()).output().unwrap();
        assert!(o.status.success());
        o.stdout
    };
    // A new process that opens the zone and reads every metric, and prints none of them.
    let (nothing, nothing_cpu) = best(repeat, children, || assert!(run(&["--match", "no such metric"]).is_empty()));
    let mut bytes = 0;
    let (dump, dump_cpu) = best(repeat, children, || {
        let out = run(&["--format", "prometheus"]);
        bytes = out.len();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), n + 2 * 3, "every metric and 3 families");
    });

    let mut server = Command::new(BIN).arg("serve").arg(&path).args(["--listen", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stderr.take().unwrap()), &mut line).unwrap();
    let addr = line.trim().trim_start_matches("shmmetrics serve: listening on http://").trim_end_matches("/metrics").to_string();
    let scrape_once = || {
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut body = Vec::new();
        s.read_to_end(&mut body).unwrap();
        assert!(body.starts_with(b"HTTP/1.1 200"));
        assert!(body.len() > bytes);
    };
    let pid = server.id();
    let t = Instant::now();
    scrape_once(); // maps the zone and builds the layout the next scrapes reuse
    let first = t.elapsed();
    let cpu_before = process_cpu(pid);
    let (scrape, _) = best(repeat, Duration::default, scrape_once);
    let scrape_cpu = (process_cpu(pid) - cpu_before) / repeat.max(1) as u32;
    let _ = server.kill();
    let _ = server.wait();

    println!("BENCH baseline: library scan of {n} metrics {:.2} ms ({:.2} ms CPU), in a process that has the zone mapped", ms(scan), ms(scan_cpu));
    println!("BENCH baseline: dump printing nothing (a new process reads every metric) {:.2} ms ({:.2} ms CPU)", ms(nothing), ms(nothing_cpu));
    println!(
        "BENCH dump --format prometheus: {:.2} ms ({:.2} ms CPU) for {n} metrics ({bytes} bytes); target 50 ms: {:.2}x of target; {:.1}x the scan, {:.1}x the dump printing nothing",
        ms(dump),
        ms(dump_cpu),
        ms(dump) / 50.0,
        ms(dump) / ms(scan),
        ms(dump) / ms(nothing)
    );
    println!("BENCH serve first scrape (maps the zone, builds the layout): {:.2} ms", ms(first));
    println!(
        "BENCH serve scrape: {:.2} ms (server CPU {:.2} ms per scrape); target 100 ms: {:.2}x of target; {:.1}x the scan",
        ms(scrape),
        ms(scrape_cpu),
        ms(scrape) / 100.0,
        ms(scrape) / ms(scan)
    );
    println!("BENCH load average at end: {}", load());
}
