//! `list`, `stats`, `verify` and `rm`.

use std::path::Path;

use serde_json::json;
use shmmetrics::{OpenOptions, Status, Zone};

use crate::exit::{CliError, CliResult, Code};
use crate::mosn::MosnZone;
use crate::source::{self, Source, display_name};

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// `2026-01-02T03:04:05Z` from nanoseconds since the epoch (UTC; no time-zone database needed).
pub fn utc(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// One row of `list`.
struct Row {
    name: String,
    format: String,
    size: String,
    used: String,
    writers: String,
    failed: String,
    json: serde_json::Value,
}

fn row(name: &str, path: &Path) -> Row {
    let mut r = Row {
        name: name.to_string(),
        format: String::new(),
        size: "-".into(),
        used: "-".into(),
        writers: "-".into(),
        failed: "-".into(),
        json: json!({"name": name, "path": path.display().to_string()}),
    };
    match source::open(path, true).and_then(|s| describe(&s)) {
        Ok((format, size, used, cap, writers, failed)) => {
            r.format = format.clone();
            r.size = human_size(size);
            r.used = format!("{used}/{cap}");
            r.writers = writers.clone();
            r.failed = failed.map_or("-".into(), |f| f.to_string());
            r.json["format"] = json!(format);
            r.json["file_size"] = json!(size);
            r.json["used"] = json!(used);
            r.json["capacity"] = json!(cap);
            r.json["writers"] = json!(writers);
            r.json["failed_registrations"] = json!(failed);
        }
        Err(e) => {
            r.format = format!("not a zone: {}", e.message);
            r.json["error"] = json!(e.message);
            r.json["exit_code"] = json!(e.code as i32);
        }
    }
    r
}

type Described = (String, u64, u32, u32, String, Option<u64>);

fn describe(source: &Source) -> CliResult<Described> {
    match source {
        Source::Shm(z) => {
            let s = z.stats()?;
            Ok((format!("shmmetrics {}.{}", s.version_major, s.version_minor), s.file_size, s.used, s.capacity, s.attached.to_string(), Some(s.failed_registrations)))
        }
        Source::Mosn(m) => {
            let read = m.read()?;
            // MOSN never detaches, so its ref only counts processes that ever attached.
            Ok(("mosn".into(), read.meta.file_size, read.entries.len() as u32, read.meta.capacity, format!("ref {}", read.meta.attached), None))
        }
    }
}

fn is_candidate(file_name: &str) -> bool {
    !file_name.starts_with('.') && (file_name.starts_with(shmmetrics::open::FILE_PREFIX) || file_name.starts_with("mosn_shm_"))
}

/// The zone files in `dir`: `shmmetrics-*` and MOSN's `mosn_shm_*`, by name.
pub fn zone_files(dir: &Path) -> CliResult<Vec<(String, std::path::PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::io(&format!("read directory {}", dir.display()), e))?;
    let mut files: Vec<(String, std::path::PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            is_candidate(&name).then(|| (display_name(&name).to_string(), e.path()))
        })
        .collect();
    files.sort();
    Ok(files)
}

pub fn list(dir: &Path, json_out: bool) -> CliResult<()> {
    let rows: Vec<Row> = zone_files(dir)?.iter().map(|(name, path)| row(name, path)).collect();
    if json_out {
        let all: Vec<_> = rows.into_iter().map(|r| r.json).collect();
        println!("{}", json!({"dir": dir.display().to_string(), "zones": all}));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no zones in {} (zone files are named shmmetrics-NAME, or mosn_shm_NAME for MOSN)", dir.display());
        return Ok(());
    }
    let w = |f: fn(&Row) -> &str, title: &str| rows.iter().map(|r| f(r).chars().count()).chain([title.len()]).max().unwrap_or(0);
    let (wn, ws, wu, ww) = (w(|r| &r.name, "ZONE"), w(|r| &r.size, "SIZE"), w(|r| &r.used, "USED/CAP"), w(|r| &r.writers, "WRITERS"));
    let wf = rows.iter().filter(|r| !r.format.starts_with("not a zone")).map(|r| r.format.len()).chain(["FORMAT".len()]).max().unwrap_or(6);
    println!("{:<wn$}  {:<wf$}  {:>ws$}  {:>wu$}  {:>ww$}  FAILED", "ZONE", "FORMAT", "SIZE", "USED/CAP", "WRITERS");
    for r in &rows {
        if r.format.starts_with("not a zone") {
            println!("{:<wn$}  {}", r.name, r.format);
        } else {
            println!("{:<wn$}  {:<wf$}  {:>ws$}  {:>wu$}  {:>ww$}  {}", r.name, r.format, r.size, r.used, r.writers, r.failed);
        }
    }
    Ok(())
}

pub fn stats(path: &Path, json_out: bool) -> CliResult<()> {
    let source = source::open(path, true)?;
    let zone = match &source {
        Source::Shm(z) => z,
        Source::Mosn(m) => return mosn_stats(m, json_out),
    };
    let (s, i) = (zone.stats()?, zone.info()?);
    if json_out {
        let v = json!({
            "path": i.path.display().to_string(), "format": "shmmetrics", "version": format!("{}.{}", i.version_major, i.version_minor),
            "file_size": i.file_size, "capacity": s.capacity, "used": s.used, "free": s.free, "orphaned": s.orphaned,
            "high_water": s.high_water, "attached": s.attached, "max_writers": s.max_writers,
            "failed_registrations": s.failed_registrations, "failed_zone_full": s.failed_zone_full,
            "lock_timeouts": s.lock_timeouts, "lock_takeovers": s.lock_takeovers, "lock_holder": s.lock_holder,
            "repairs": s.repairs, "created_unix_ns": i.created_unix_ns,
            "creator_pid": i.creator_pid, "owner_uid": i.owner_uid, "mode": format!("{:04o}", i.mode),
        });
        println!("{v}");
        return Ok(());
    }
    let pct = if s.capacity == 0 { 0.0 } else { 100.0 * s.used as f64 / s.capacity as f64 };
    println!("zone                  {}", i.path.display());
    println!("format                shmmetrics {}.{}", i.version_major, i.version_minor);
    println!("file size             {} ({})", i.file_size, human_size(i.file_size));
    println!("created               {} by pid {}", utc(i.created_unix_ns), i.creator_pid);
    println!("owner                 uid {}, mode {:04o}", i.owner_uid, i.mode);
    println!("metrics               {} of {} used ({pct:.1}%), {} free, {} orphaned", s.used, s.capacity, s.free, s.orphaned);
    println!("high water            {} (records ever used; readers scan up to here)", s.high_water);
    println!("writers               {} attached (at most {})", s.attached, s.max_writers);
    println!("failed registrations  {} ({} because the zone was full)", s.failed_registrations, s.failed_zone_full);
    let holder = s.lock_holder.map_or("free".to_string(), |slot| format!("held by writer slot {slot}"));
    println!("registration lock     {holder}; {} timeouts, {} takeovers from dead holders", s.lock_timeouts, s.lock_takeovers);
    println!("repairs               {}", s.repairs);
    Ok(())
}

fn mosn_stats(m: &MosnZone, json_out: bool) -> CliResult<()> {
    let r = m.read()?;
    if json_out {
        let v = json!({"path": m.path.display().to_string(), "format": "mosn", "file_size": r.meta.file_size, "capacity": r.meta.capacity,
            "live": r.entries.len(), "handed_out": r.meta.size, "ref": r.meta.attached, "lock_holder_pid": r.meta.mutex, "problems": r.problems});
        println!("{v}");
        return Ok(());
    }
    println!("zone                  {}", m.path.display());
    println!("format                MOSN pkg/metrics/shm (no version field)");
    println!("file size             {} ({})", r.meta.file_size, human_size(r.meta.file_size));
    println!("metrics               {} live of {} ({} ever handed out; MOSN never reuses that count)", r.entries.len(), r.meta.capacity, r.meta.size);
    println!("ref                   {} (processes that attached; MOSN never detaches)", r.meta.attached);
    println!("lock                  {}", if r.meta.mutex == 0 { "free".to_string() } else { format!("held by pid {}", r.meta.mutex) });
    for p in &r.problems {
        println!("problem               {p}");
    }
    Ok(())
}

/// Returns Code::Ok when the zone is healthy (after the repair, with `repair`).
pub fn verify(path: &Path, repair: bool) -> CliResult<Code> {
    let zone = source::open_shm(path)?;
    let problems = zone.verify()?;
    let stats = zone.stats()?;
    println!("zone {}: {} metrics, {} orphaned, {} attached", path.display(), stats.used, stats.orphaned, stats.attached);
    if stats.orphaned > 0 {
        println!(
            "note: {} metrics are orphaned (every process that held them exited without releasing them); they keep their values for a restarted process and are reclaimed when the zone is full",
            stats.orphaned
        );
    }
    report(&problems);
    if !repair {
        if !problems.is_empty() {
            println!("run `shmmetrics verify {} --repair` as the zone's owner to fix what the library can", path.display());
            return Ok(Code::Damaged);
        }
        return Ok(Code::Ok);
    }
    // Attaching for writing already repairs an interrupted registration; repair() then
    // rebuilds the index under the registration lock and drops claims of dead processes.
    let writer = Zone::open_path(path, &OpenOptions::default()).map_err(|e| {
        let hint = if e.status == Status::SHM_ERR_UNTRUSTED || e.status == Status::SHM_ERR_PERMISSION { " (run --repair as the zone's owner)" } else { "" };
        CliError::new(crate::exit::code_of(e.status), format!("cannot attach to repair: {e}{hint}"))
    })?;
    let reclaimed = writer.repair()?;
    let after = writer.verify()?;
    println!("repair: {reclaimed} entries reclaimed");
    if after.is_empty() {
        println!("after repair: healthy");
        Ok(Code::Ok)
    } else {
        println!("after repair: still damaged");
        report(&after);
        Ok(Code::Damaged)
    }
}

fn report(problems: &[String]) {
    if problems.is_empty() {
        println!("healthy: the index is consistent");
    } else {
        println!("DAMAGED: {} problem{}", problems.len(), if problems.len() == 1 { "" } else { "s" });
        for p in problems {
            println!("  - {p}");
        }
    }
}

pub fn rm(path: &Path, force: bool) -> CliResult<()> {
    match Zone::open_path(path, &source::read_only()) {
        Ok(zone) => {
            let attached = zone.stats()?.attached;
            if attached > 0 && !force {
                return Err(CliError::new(
                    Code::Busy,
                    format!("{}: {attached} writer(s) attached; not removed (--force removes it anyway; they keep their mapping)", path.display()),
                ));
            }
        }
        // A damaged zone may go with --force; a file that is no zone at all never does.
        Err(e) if force && matches!(e.status, Status::SHM_ERR_CORRUPT | Status::SHM_ERR_VERSION) => {}
        Err(e) if e.status == Status::SHM_ERR_BAD_MAGIC => {
            return Err(CliError::new(Code::NotAZone, format!("{}: not a shmmetrics zone; not removed", path.display())));
        }
        Err(e) => return Err(e.into()),
    }
    std::fs::remove_file(path).map_err(|e| CliError::io(&format!("remove {}", path.display()), e))?;
    println!("removed {}", path.display());
    Ok(())
}
