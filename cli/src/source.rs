//! Finding and opening what a ZONE argument names: a shmmetrics zone (read-only, no lock) or,
//! for the reading commands, a MOSN zone file.

use std::path::{Path, PathBuf};

use shmmetrics::open::{FILE_PREFIX, zone_dir, zone_path_in};
use shmmetrics::{Kind, OpenOptions, Status, Value, Zone};

use crate::exit::{CliError, CliResult, Code};
use crate::mosn::MosnZone;

/// One metric as the commands show it.
#[derive(Clone, Debug)]
pub struct Metric {
    pub name: String,
    pub kind: Kind,
    pub value: Value,
    /// Registration id (0 for MOSN entries): a change means the metric was re-registered.
    pub generation: u64,
    pub created_unix_ns: u64,
    /// MOSN only: the stored name is a hash-truncated long name.
    pub truncated: bool,
}

pub enum Source {
    Shm(Zone),
    Mosn(MosnZone),
}

/// `name` is a zone name unless it contains a '/': then it is a path. A zone name is looked up
/// as `<dir>/shmmetrics-<name>`, then as the file `<dir>/<name>` (so `mosn_shm_metrics` and the
/// names `list` prints work too). `dir` defaults to $SHMMETRICS_DIR, else /dev/shm.
pub fn resolve(name: &str, dir: Option<&Path>) -> CliResult<PathBuf> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let base = dir.map_or_else(zone_dir, Path::to_path_buf);
    let plain = base.join(name);
    match zone_path_in(Some(&base), name) {
        Ok(p) if p.symlink_metadata().is_ok() || plain.symlink_metadata().is_err() => Ok(p),
        Ok(_) => Ok(plain),
        Err(_) if !name.is_empty() && plain.symlink_metadata().is_ok() => Ok(plain),
        Err(e) => Err(CliError::new(Code::Usage, format!("{} (a path needs a '/', e.g. ./{name})", e.message))),
    }
}

/// The zone name `list` shows for a file in a directory (what `resolve` takes back).
pub fn display_name(file_name: &str) -> &str {
    file_name.strip_prefix(FILE_PREFIX).filter(|n| !n.is_empty()).unwrap_or(file_name)
}

pub fn read_only() -> OpenOptions {
    OpenOptions { read_only: true, ..OpenOptions::default() }
}

/// Opens a shmmetrics zone read-only (no lock, no attach slot), or a MOSN zone when `mosn`
/// allows it and the file is not a shmmetrics zone.
pub fn open(path: &Path, mosn: bool) -> CliResult<Source> {
    match Zone::open_path(path, &read_only()) {
        Ok(zone) => Ok(Source::Shm(zone)),
        Err(e) if mosn && matches!(e.status, Status::SHM_ERR_BAD_MAGIC | Status::SHM_ERR_CORRUPT) => match MosnZone::open(path) {
            Ok(m) => Ok(Source::Mosn(m)),
            Err(_) => Err(e.into()),
        },
        Err(e) => Err(not_found_hint(e.into(), path)),
    }
}

/// Opens a shmmetrics zone read-only (MOSN files are refused as not a zone).
pub fn open_shm(path: &Path) -> CliResult<Zone> {
    Zone::open_path(path, &read_only()).map_err(|e| not_found_hint(e.into(), path))
}

fn not_found_hint(mut e: CliError, path: &Path) -> CliError {
    if e.code == Code::NotFound {
        let dir = path.parent().map(|d| d.display().to_string()).unwrap_or_default();
        e.message = format!("{} (zones in {dir}: `shmmetrics list --dir {dir}`)", e.message);
    }
    e
}

impl Source {
    pub fn is_mosn(&self) -> bool {
        matches!(self, Source::Mosn(_))
    }

    pub fn path(&self) -> &Path {
        match self {
            Source::Shm(z) => z.path(),
            Source::Mosn(m) => &m.path,
        }
    }

    /// Every metric, in the zone's order; lock-free for shmmetrics zones.
    pub fn metrics(&self) -> CliResult<Vec<Metric>> {
        match self {
            Source::Shm(zone) => {
                zone.check_file()?;
                Ok(zone
                    .metrics()
                    .map(|s| Metric { value: s.value(), name: s.name, kind: s.kind, generation: s.generation, created_unix_ns: s.created_unix_ns, truncated: false })
                    .collect())
            }
            Source::Mosn(m) => Ok(m
                .read()?
                .entries
                .into_iter()
                // MOSN stores no kind; counters and gauges are both int64 values, so a gauge is
                // the only honest type (a MOSN counter can be cleared).
                .map(|e| Metric { name: e.name, kind: Kind::Gauge, value: Value::Int(e.value), generation: 0, created_unix_ns: 0, truncated: e.truncated })
                .collect()),
        }
    }
}
