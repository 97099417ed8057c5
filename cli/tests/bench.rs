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

fn best(repeat: usize, mut f: impl FnMut()) -> Duration {
    (0..repeat.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[test]
fn dump_and_scrape_a_big_zone() {
    let (n, repeat) = (env_or("SHMM_BENCH_METRICS", 1000), env_or("SHMM_BENCH_REPEAT", 1));
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

    let scan = best(repeat, || assert_eq!(zone.metrics().count(), n));
    let path = dir.join("shmmetrics-big");
    let mut bytes = 0;
    let dump = best(repeat, || {
        let o = Command::new(BIN).args(["dump", path.to_str().unwrap(), "--format", "prometheus"]).stderr(Stdio::null()).output().unwrap();
        assert!(o.status.success());
        bytes = o.stdout.len();
        assert_eq!(o.stdout.iter().filter(|&&b| b == b'\n').count(), n + 2 * 3, "every metric and 3 families");
    });

    let mut server = Command::new(BIN).args(["serve", path.to_str().unwrap(), "--listen", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
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
    scrape_once(); // the first scrape maps the zone
    let scrape = best(repeat, scrape_once);
    let _ = server.kill();
    let _ = server.wait();

    println!("BENCH baseline: library scan of {n} metrics {:.2} ms", ms(scan));
    println!(
        "BENCH dump --format prometheus: {:.2} ms for {n} metrics ({bytes} bytes); target 50 ms: {:.2}x of target; {:.1}x the scan",
        ms(dump),
        ms(dump) / 50.0,
        ms(dump) / ms(scan)
    );
    println!("BENCH serve scrape: {:.2} ms; target 100 ms: {:.2}x of target; {:.1}x the scan", ms(scrape), ms(scrape) / 100.0, ms(scrape) / ms(scan));
}
