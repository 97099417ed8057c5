//! `shmmetrics serve`: an HTTP `/metrics` endpoint for one zone, several, or every zone in a
//! directory, read afresh at each scrape (lock-free, read-only).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shmmetrics::{Kind, Value};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::admin::zone_files;
use crate::exit::{CliError, CliResult, Code, note};
use crate::exposition::{Exposition, FamilyType, Input, Rules};
use crate::glob::Filter;
use crate::signals;
use crate::source::{self, Metric, Source, display_name};

pub const TEXT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What is served.
#[derive(Clone, Debug)]
pub enum Targets {
    /// One zone: its metrics carry no `zone` label.
    One(PathBuf),
    /// Several zones, each labelled `zone="<name>"`.
    Named(Vec<(String, PathBuf)>),
    /// Every zone in a directory at the time of each scrape, labelled by name.
    Dir(PathBuf),
}

struct Cached {
    source: Arc<Source>,
    dev: u64,
    ino: u64,
}

pub struct Exporter {
    targets: Targets,
    rules: Rules,
    filter: Filter,
    /// Open zones by path, reopened when the file under the path changes (a fresh start).
    cache: Mutex<HashMap<PathBuf, Cached>>,
    layout: Mutex<Option<Arc<Layout>>>,
}

/// What one zone contributed to a scrape.
struct ZoneRead {
    label: String,
    result: CliResult<(Vec<Metric>, Health)>,
}

#[derive(Default)]
struct Health {
    capacity: u32,
    used: u32,
    attached: u32,
    failed_registrations: Option<u64>,
}

impl Exporter {
    pub fn new(targets: Targets, rules: Rules, filter: Filter) -> Exporter {
        Exporter { targets, rules, filter, cache: Mutex::new(HashMap::new()), layout: Mutex::new(None) }
    }

    fn zones(&self) -> CliResult<Vec<(String, PathBuf)>> {
        Ok(match &self.targets {
            Targets::One(p) => vec![(p.file_name().map(|n| display_name(&n.to_string_lossy()).to_string()).unwrap_or_default(), p.clone())],
            Targets::Named(v) => v.clone(),
            Targets::Dir(d) => zone_files(d)?,
        })
    }

    fn source(&self, path: &Path) -> CliResult<Arc<Source>> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| CliError::io(&path.display().to_string(), e))?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(path).filter(|c| c.dev == meta.dev() && c.ino == meta.ino()) {
            return Ok(c.source.clone());
        }
        let source = Arc::new(source::open(path, true)?);
        cache.insert(path.to_owned(), Cached { source: source.clone(), dev: meta.dev(), ino: meta.ino() });
        Ok(source)
    }

    fn read(&self, path: &Path) -> CliResult<(Vec<Metric>, Health)> {
        let source = self.source(path)?;
        let metrics: Vec<Metric> = source.metrics()?.into_iter().filter(|m| self.filter.allows(&m.name)).collect();
        let health = match &*source {
            Source::Shm(z) => {
                let s = z.stats()?;
                Health { capacity: s.capacity, used: s.used, attached: s.attached, failed_registrations: Some(s.failed_registrations) }
            }
            Source::Mosn(m) => {
                let r = m.read()?;
                Health { capacity: r.meta.capacity, used: r.entries.len() as u32, attached: r.meta.attached, failed_registrations: None }
            }
        };
        Ok((metrics, health))
    }

    /// One scrape: the exposition text in the format asked for.
    pub fn scrape(&self, openmetrics: bool) -> CliResult<String> {
        let start = Instant::now();
        let reads: Vec<ZoneRead> = self.zones()?.into_iter().map(|(label, path)| ZoneRead { result: self.read(&path), label }).collect();
        let layout = self.layout(&reads);
        let values: Vec<Value> = reads.iter().filter_map(|r| r.result.as_ref().ok()).flat_map(|(metrics, _)| metrics.iter().map(|m| m.value)).collect();
        let mut own = Exposition::default();
        for (name, family_type, help) in OWN {
            own.declare(name, family_type, help);
        }
        let mut skipped = layout.skipped.iter();
        for r in &reads {
            let zone = [("zone", r.label.as_str())];
            let mut put = |family: &str, family_type: FamilyType, value: Value| own.add(family, family_type, &zone, value);
            match &r.result {
                Ok((_, h)) => {
                    put("shmmetrics_zone_up", FamilyType::Gauge, Value::Int(1));
                    put("shmmetrics_zone_capacity", FamilyType::Gauge, Value::Int(h.capacity.into()));
                    put("shmmetrics_zone_used", FamilyType::Gauge, Value::Int(h.used.into()));
                    let ratio = if h.capacity == 0 { 0.0 } else { h.used as f64 / h.capacity as f64 };
                    put("shmmetrics_zone_occupancy_ratio", FamilyType::Gauge, Value::Float(ratio));
                    put("shmmetrics_zone_attached_writers", FamilyType::Gauge, Value::Int(h.attached.into()));
                    if let Some(f) = h.failed_registrations {
                        put("shmmetrics_zone_failed_registrations", FamilyType::Counter, Value::Int(f as i64));
                    }
                    put("shmmetrics_zone_skipped_metrics", FamilyType::Gauge, Value::Int(skipped.next().copied().unwrap_or(0)));
                }
                Err(err) => {
                    note!("shmmetrics serve: zone {}: {}", r.label, err.message);
                    put("shmmetrics_zone_up", FamilyType::Gauge, Value::Int(0));
                }
            };
        }
        let no_labels: [(&str, &str); 0] = [];
        own.add("shmmetrics_scrape_duration_seconds", FamilyType::Gauge, &no_labels, Value::Float(start.elapsed().as_secs_f64()));
        own.finish();
        let mut out = String::with_capacity(4096 + values.len() * 96);
        if openmetrics {
            // Negative counters are left out (OpenMetrics forbids them); --counters-as-gauges
            // is the answer for counters that go down.
            own.write_openmetrics(&mut out, &own.values);
            layout.exposition.write_openmetrics(&mut out, &values);
            out.push_str("# EOF\n");
        } else {
            own.write_prometheus(&mut out, &own.values);
            layout.exposition.write_prometheus(&mut out, &values);
        }
        Ok(out)
    }

    /// The layout of the last scrape when the zones still hold the same metrics, else a new one.
    fn layout(&self, reads: &[ZoneRead]) -> Arc<Layout> {
        let last = self.layout.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(layout) = last.filter(|l| l.matches(reads)) {
            return layout;
        }
        let layout = Arc::new(Layout::build(reads, &self.rules, !matches!(self.targets, Targets::One(_))));
        *self.layout.lock().unwrap_or_else(|e| e.into_inner()) = Some(layout.clone());
        layout
    }
}

/// The exporter's own families, written first. A zone metric by one of these names is skipped.
const OWN: [(&str, FamilyType, &str); 8] = [
    ("shmmetrics_zone_up", FamilyType::Gauge, "1 if the zone could be read at this scrape"),
    ("shmmetrics_zone_capacity", FamilyType::Gauge, "metrics the zone can hold"),
    ("shmmetrics_zone_used", FamilyType::Gauge, "metrics in the zone"),
    ("shmmetrics_zone_occupancy_ratio", FamilyType::Gauge, "used / capacity"),
    ("shmmetrics_zone_attached_writers", FamilyType::Gauge, "processes attached for writing (MOSN: ever attached)"),
    ("shmmetrics_zone_failed_registrations", FamilyType::Counter, "registrations the zone refused"),
    ("shmmetrics_zone_skipped_metrics", FamilyType::Gauge, "zone metrics not exposed because their name clashed"),
    ("shmmetrics_scrape_duration_seconds", FamilyType::Gauge, "time this exporter took to read the zones for this scrape"),
];

/// What the zones' metrics map to (families, samples, their order), which depends only on the
/// metrics' names and kinds. Mapping 100,000 names costs several times reading them, and
/// between scrapes names rarely change, so a scrape reuses the previous layout while every zone
/// holds the same metrics in the same order, and only writes the new values into it.
struct Layout {
    zones: Vec<BuiltFrom>,
    exposition: Exposition,
    /// Zone metrics skipped for a clash, per zone that could be read.
    skipped: Vec<i64>,
}

/// A zone's label and the kinds and names a layout was built from (None: the zone could not be
/// read).
type BuiltFrom = (String, Option<Vec<(Kind, String)>>);

impl Layout {
    fn build(reads: &[ZoneRead], rules: &Rules, several: bool) -> Layout {
        let mut e = Exposition::default();
        for (name, family_type, _) in OWN {
            e.reserve(name, family_type);
        }
        let mut skipped = Vec::new();
        for r in reads {
            if let Ok((metrics, _)) = &r.result {
                let before = e.skipped.len();
                e.add_zone(metrics.iter().map(|m| Input { name: &m.name, kind: m.kind, value: m.value }), rules, several.then_some(r.label.as_str()));
                skipped.push((e.skipped.len() - before) as i64);
            }
        }
        e.finish();
        let zones = reads.iter().map(|r| (r.label.clone(), r.result.as_ref().ok().map(|(metrics, _)| metrics.iter().map(|m| (m.kind, m.name.clone())).collect()))).collect();
        Layout { zones, exposition: e, skipped }
    }

    fn matches(&self, reads: &[ZoneRead]) -> bool {
        self.zones.len() == reads.len()
            && self.zones.iter().zip(reads).all(|((label, built), r)| {
                *label == r.label
                    && match (built, &r.result) {
                        (None, Err(_)) => true,
                        (Some(built), Ok((metrics, _))) => built.len() == metrics.len() && built.iter().zip(metrics).all(|((kind, name), m)| *kind == m.kind && *name == m.name),
                        _ => false,
                    }
            })
    }
}

/// Accept: the OpenMetrics media type, when the scraper lists it (Prometheus does, first).
pub fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|part| part.trim().starts_with("application/openmetrics-text"))
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header")
}

fn respond(exporter: &Exporter, request: Request) {
    let path = request.url().split('?').next().unwrap_or("");
    let method = request.method().clone();
    let response = if path != "/metrics" {
        Response::from_string("not found: metrics are at /metrics\n").with_status_code(404)
    } else if method != Method::Get && method != Method::Head {
        Response::from_string("method not allowed\n").with_status_code(405).with_header(header("Allow", "GET, HEAD"))
    } else {
        let accept = request.headers().iter().find(|h| h.field.equiv("Accept")).map(|h| h.value.as_str().to_string()).unwrap_or_default();
        let om = wants_openmetrics(&accept);
        match exporter.scrape(om) {
            Ok(body) => Response::from_string(body).with_header(header("Content-Type", if om { OPENMETRICS_TYPE } else { TEXT_TYPE })),
            Err(e) => {
                note!("shmmetrics serve: {}", e.message);
                Response::from_string(format!("scrape failed: {}\n", e.message)).with_status_code(500)
            }
        }
    };
    let _ = request.respond(response);
}

/// Serves until SIGTERM, SIGINT or SIGHUP; in-flight scrapes finish first.
pub fn serve(exporter: Exporter, listen: &str, threads: usize) -> CliResult<()> {
    // Fail early on a zone that cannot be read (a typo), rather than serving zone_up 0 forever.
    if let Targets::One(_) | Targets::Named(_) = &exporter.targets {
        for (_, path) in exporter.zones()? {
            exporter.source(&path).map_err(|mut e| {
                if e.code == Code::NotFound {
                    e.message = format!("{}: no such zone", path.display());
                }
                e
            })?;
        }
    }
    if let Targets::Dir(d) = &exporter.targets {
        zone_files(d)?;
    }
    signals::install();
    let server = Server::http(listen).map_err(|e| CliError::new(Code::Failure, format!("cannot listen on {listen}: {e}")))?;
    let server = Arc::new(server);
    let exporter = Arc::new(exporter);
    let addr = server.server_addr().to_ip().map_or_else(|| listen.to_string(), |a| a.to_string());
    note!("shmmetrics serve: listening on http://{addr}/metrics");
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (server, exporter) = (server.clone(), exporter.clone());
            std::thread::spawn(move || {
                while !signals::stopping() {
                    match server.recv_timeout(Duration::from_millis(100)) {
                        Ok(Some(request)) => respond(&exporter, request),
                        Ok(None) => {}
                        Err(e) => {
                            note!("shmmetrics serve: {e}");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    note!("shmmetrics serve: stopped");
    Ok(())
}
