//! `shmmetrics serve` over loopback: routes, content negotiation, `zone` labels and the
//! exporter's health metrics with --dir (a MOSN file included), clean exit on SIGTERM. The
//! concurrency test with a real HTTP client and the real Prometheus server are in
//! cli/tests/python (make cli-test).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN).arg("serve").args(args).args(["--listen", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("shmmetrics serve: listening on http://").and_then(|a| a.strip_suffix("/metrics")).unwrap_or_else(|| panic!("{line}")).to_string();
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            eprint!("{rest}");
        });
        Server { child, addr }
    }

    /// (status, content type, body)
    fn get(&self, method: &str, path: &str, accept: &str) -> (u16, String, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let ctype = head.lines().find_map(|l| l.strip_prefix("Content-Type: ")).unwrap_or("").to_string();
        (status, ctype, body.to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn one_zone_routes_and_content_negotiation() {
    let d = TempDir::new("serve-one");
    let _z = golden_zone(d.path());
    let s = Server::start(&["golden", "--dir", d.path().to_str().unwrap()]);
    let (status, ctype, body) = s.get("GET", "/metrics", "*/*");
    assert_eq!((status, ctype.as_str()), (200, "text/plain; version=0.0.4; charset=utf-8"));
    let dump = stdout(&shm_in(d.path(), &["dump", "golden", "--format", "prometheus"]));
    assert!(body.contains(&dump), "one zone: the exporter's families, then the dump's, without a zone label:\n{body}");
    assert!(body.contains("shmmetrics_zone_used{zone=\"golden\"} 9\n"), "{body}");
    assert!(body.contains("shmmetrics_zone_skipped_metrics{zone=\"golden\"} 1\n"), "jobs_total clashes: {body}");
    assert!(body.contains("# TYPE shmmetrics_zone_failed_registrations_total counter\n"), "{body}");
    assert!(body.contains("\nshmmetrics_scrape_duration_seconds "), "{body}");
    // Prometheus's own Accept header asks for OpenMetrics first.
    let prom_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (status, ctype, body) = s.get("GET", "/metrics", prom_accept);
    assert_eq!((status, ctype.as_str()), (200, "application/openmetrics-text; version=1.0.0; charset=utf-8"));
    assert!(body.contains("# TYPE http_requests counter\n") && body.ends_with("# EOF\n"), "{body}");
    assert_eq!(s.get("GET", "/", "*/*").0, 404);
    assert_eq!(s.get("GET", "/metricsx", "*/*").0, 404);
    assert_eq!(s.get("POST", "/metrics", "*/*").0, 405);
    let (status, _, body) = s.get("HEAD", "/metrics", "*/*");
    assert_eq!((status, body.as_str()), (200, ""));
}

#[test]
fn a_directory_labels_each_zone_and_follows_it() {
    let d = TempDir::new("serve-dir");
    let a = create(d.path(), "a");
    a.counter("requests_total{zone=\"inner\"}").unwrap().inc(4);
    // The exporter's own names are its own, whatever the kind.
    a.counter("shmmetrics_zone_used").unwrap().inc(1);
    a.gauge("shmmetrics_zone_up{zone=\"x\"}").unwrap().update(5);
    let s = Server::start(&["--dir", d.path().to_str().unwrap()]);
    let body = s.get("GET", "/metrics", "").2;
    assert!(body.contains("requests_total{zone=\"a\",exported_zone=\"inner\"} 4\n"), "{body}");
    assert!(body.contains("shmmetrics_zone_skipped_metrics{zone=\"a\"} 2\n") && !body.contains(" 5\n"), "{body}");
    // A zone created after start is served at the next scrape, with its own label; a junk file
    // is reported as down.
    let b = create(d.path(), "b");
    b.counter("requests_total").unwrap().inc(2);
    std::fs::write(d.join("shmmetrics-junk"), vec![9u8; 8192]).unwrap();
    let body = s.get("GET", "/metrics", "").2;
    assert!(body.contains("requests_total{zone=\"b\"} 2\n"), "{body}");
    assert!(body.contains("shmmetrics_zone_up{zone=\"b\"} 1\n") && body.contains("shmmetrics_zone_up{zone=\"junk\"} 0\n"), "{body}");
    // A fresh start replaces a's file: the new zone is read, not the old mapping.
    drop(a);
    let fresh = shmmetrics::Zone::open_in(Some(d.path()), "a", &shmmetrics::OpenOptions { create: true, fresh: true, size: 64 << 10, ..Default::default() }).unwrap();
    fresh.counter("requests_total").unwrap().inc(1);
    let body = s.get("GET", "/metrics", "").2;
    assert!(body.contains("requests_total{zone=\"a\"} 1\n") && !body.contains("exported_zone"), "{body}");
}

#[test]
fn sigterm_stops_cleanly_and_a_missing_zone_fails_at_start() {
    let d = TempDir::new("serve-term");
    let _z = golden_zone(d.path());
    let mut s = Server::start(&["golden", "--dir", d.path().to_str().unwrap()]);
    assert_eq!(s.get("GET", "/metrics", "").0, 200);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(TcpStream::connect(&s.addr).is_err(), "the port is closed");

    let o = shm_in(d.path(), &["serve", "nosuch", "--listen", "127.0.0.1:0"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let o = shm_in(d.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = shm_in(d.path(), &["serve", "golden", "--listen", "256.0.0.1:1"]);
    assert_eq!(code(&o), 9, "{}", stderr(&o));
}

#[test]
fn a_scrape_reuses_the_previous_layout_only_while_the_metrics_are_the_same() {
    let d = TempDir::new("serve-layout");
    let z = create(d.path(), "z");
    let hits = z.counter("hits_total{path=\"/a\"}").unwrap();
    hits.inc(1);
    let s = Server::start(&["z", "--dir", d.path().to_str().unwrap()]);
    let scrape = || s.get("GET", "/metrics", "").2;
    assert!(scrape().contains("hits_total{path=\"/a\"} 1\n"));
    // Same metrics: new values in the same layout.
    hits.inc(41);
    assert!(scrape().contains("hits_total{path=\"/a\"} 42\n"));
    // A new metric: a new layout.
    let jobs = z.counter("jobs_total").unwrap();
    jobs.inc(7);
    let body = scrape();
    assert!(body.contains("hits_total{path=\"/a\"} 42\n") && body.contains("# TYPE jobs_total counter\njobs_total 7\n"), "{body}");
    // As many metrics of the same kinds, one of them under another name.
    hits.release().unwrap();
    z.counter("hits_total{path=\"/b\"}").unwrap().inc(5);
    let body = scrape();
    assert!(!body.contains("path=\"/a\"") && body.contains("hits_total{path=\"/b\"} 5\n"), "{body}");
    // Same name, another kind.
    jobs.release().unwrap();
    z.gauge("jobs_total").unwrap().update(3);
    let body = scrape();
    assert!(body.contains("# TYPE jobs_total gauge\njobs_total 3\n"), "{body}");
}
