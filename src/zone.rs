//! An attached zone: opening, statistics, verify and repair. Registration and the process-local
//! state live in `attach.rs`; handles (`metric.rs`) update values lock-free.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::attach::{Local, Shared, current_pid, reopen};
use crate::error::{Error, Result, Status};
use crate::fork;
use crate::index::Kind;
use crate::metric::{Counter, Gauge, GaugeF64, Metric};
use crate::open::{self, OpenOptions};
use crate::read::{self, Snapshot};
use crate::slots::{self, Liveness};

/// A zone opened by this process. Cloning is cheap and shares the attachment.
#[derive(Clone)]
pub struct Zone {
    pub(crate) shared: Arc<Shared>,
}

/// Occupancy and health of a zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub capacity: u32,
    pub used: u32,
    pub free: u32,
    /// Live entries that no attached process holds (their owners exited); reclaimed when full.
    pub orphaned: u32,
    /// Processes attached for writing.
    pub attached: u32,
    /// Writer slots: the most processes that can be attached for writing at once.
    pub max_writers: u32,
    /// Records ever used: scans stop here.
    pub high_water: u32,
    pub failed_registrations: u64,
    pub failed_zone_full: u64,
    /// Registrations that gave up waiting for a live lock holder.
    pub lock_timeouts: u64,
    /// Times a waiter took the registration lock over from a dead holder.
    pub lock_takeovers: u64,
    /// Index repairs after a registrar died mid-change.
    pub repairs: u64,
    /// The writer slot holding the registration lock at the moment of reading, if any.
    pub lock_holder: Option<u32>,
    pub file_size: u64,
    pub version_major: u16,
    pub version_minor: u16,
}

/// What a zone is: where, which format, how big, made when and by whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneInfo {
    pub path: PathBuf,
    pub version_major: u16,
    pub version_minor: u16,
    pub file_size: u64,
    pub capacity: u32,
    pub max_writers: u32,
    pub created_unix_ns: u64,
    pub creator_pid: u32,
    /// Owner and permission bits of the file (fstat).
    pub owner_uid: u32,
    pub mode: u32,
    pub read_only: bool,
}

impl Zone {
    /// Opens zone `name` in the zone directory (`$SHMMETRICS_DIR` or `/dev/shm`).
    pub fn open(name: &str, opts: &OpenOptions) -> Result<Zone> {
        Self::open_in(None, name, opts)
    }

    /// Opens zone `name` (file `shmmetrics-<name>`) in `dir`, or in the zone directory.
    pub fn open_in(dir: Option<&Path>, name: &str, opts: &OpenOptions) -> Result<Zone> {
        Self::open_path(&open::zone_path_in(dir, name)?, opts)
    }

    /// Opens the zone file at an explicit path.
    pub fn open_path(path: &Path, opts: &OpenOptions) -> Result<Zone> {
        // Between our open and our attach, a closing process may remove the file or a fresh
        // start may replace it; we then start over (a zone replaced after we attached is like
        // one replaced under any process attached before: we keep the old one).
        for _ in 0..64 {
            let opened = open::open(path, opts)?;
            let geo = *opened.map.geometry();
            // A writer's slot lock lives on a description of its own, never the one mapped: a
            // mapping keeps its description (and so that description's kernel locks) alive for
            // as long as it exists, and a forked child inherits the mapping. Locking the mapped
            // description would keep a dead parent's slot alive for the life of its children.
            let file = if opts.read_only { opened.file } else { reopen(&opened.file)? };
            let shared = |me| Shared {
                map: Arc::new(opened.map),
                file,
                path: path.to_owned(),
                remove_on_close: opts.remove_on_close,
                lock_timeout: opts.lock_timeout,
                local: Mutex::new(Local::new(me)),
            };
            if opts.read_only {
                return Ok(Zone { shared: Arc::new(shared(None)) });
            }
            if geo.legacy {
                let msg = format!("{}: zone format 1.0 (an older shmmetrics) can only be read; open it read-only, or start fresh", path.display());
                return Err(Error::new(Status::SHM_ERR_VERSION, msg));
            }
            let shared = Arc::new(shared(None));
            shared.claim_slot()?;
            if !open::same_file(path, &shared.file) {
                continue; // dropping `shared` gives the slot back
            }
            fork::track(&shared);
            return Ok(Zone { shared });
        }
        Err(Error::new(Status::SHM_ERR_IO, format!("{} keeps being replaced", path.display())))
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    pub fn is_read_only(&self) -> bool {
        !self.shared.map.writable()
    }

    pub fn capacity(&self) -> u32 {
        self.shared.map.geometry().capacity
    }

    /// Gets or registers the metric `name` of `kind`.
    pub fn register(&self, name: &[u8], kind: Kind) -> Result<Metric> {
        self.shared.register(name, kind)
    }

    pub fn counter(&self, name: &str) -> Result<Counter> {
        self.register(name.as_bytes(), Kind::Counter).map(Counter)
    }

    pub fn gauge(&self, name: &str) -> Result<Gauge> {
        self.register(name.as_bytes(), Kind::Gauge).map(Gauge)
    }

    pub fn gauge_f64(&self, name: &str) -> Result<GaugeF64> {
        self.register(name.as_bytes(), Kind::GaugeF64).map(GaugeF64)
    }

    /// The live entry at `index`, read without locks (None if free or changing).
    pub fn entry(&self, index: u32) -> Option<Snapshot> {
        (index < read::scan_end(&self.shared.map)).then(|| read::snapshot(&self.shared.map, index)).flatten()
    }

    /// Every live metric, read without locks; safe from read-only attachments too.
    pub fn metrics(&self) -> impl Iterator<Item = Snapshot> + '_ {
        self.metrics_from(0)
    }

    /// The live metrics at entry index `start` and after, in index order (a resumable scan:
    /// continue from the last `Snapshot::index` + 1). Scans stop at the high-water mark, so they
    /// cost what the zone has used, not its capacity.
    pub fn metrics_from(&self, start: u32) -> impl Iterator<Item = Snapshot> + '_ {
        (start..read::scan_end(&self.shared.map)).filter_map(|i| read::snapshot(&self.shared.map, i))
    }

    /// Like `metrics_from`, without allocating: calls `f` with each live entry and its name until
    /// it returns false.
    pub fn visit_from(&self, start: u32, mut f: impl FnMut(&read::RawSnapshot, &str) -> bool) {
        let map = &self.shared.map;
        let mut name = [0u8; 256];
        for i in start..read::scan_end(map) {
            if let Some(r) = read::read_entry(map, i, &mut name) {
                let Ok(text) = std::str::from_utf8(&name[..r.name_len]) else { continue };
                if !f(&r, text) {
                    return;
                }
            }
        }
    }

    /// Gives up one of this process's holds on entry `index` registered as `generation` (what
    /// `Metric::release` does, for bindings that keep only the entry's identity).
    pub fn release(&self, index: u32, generation: u64) -> Result<()> {
        self.shared.release(index, generation)
    }

    /// Fails with `SHM_ERR_CORRUPT` if someone shrank the zone file under our mapping: touching
    /// the missing pages would fault (SIGBUS), so locked operations, `stats`, `verify` and the
    /// C iteration check this first instead of failing silently or crashing.
    pub fn check_file(&self) -> Result<()> {
        self.shared.check_file(&self.shared.file)
    }

    pub fn info(&self) -> Result<ZoneInfo> {
        use std::os::unix::fs::MetadataExt;
        self.check_file()?;
        let meta = self.shared.file.metadata().map_err(|e| Error::io("fstat", e))?;
        let (map, h) = (&self.shared.map, self.shared.map.header());
        Ok(ZoneInfo {
            path: self.shared.path.clone(),
            version_major: h.version_major.load(Ordering::Relaxed),
            version_minor: h.version_minor.load(Ordering::Relaxed),
            file_size: map.geometry().file_size,
            capacity: map.geometry().capacity,
            max_writers: map.geometry().slots,
            created_unix_ns: h.created_unix_ns.load(Ordering::Relaxed),
            creator_pid: h.creator_pid.load(Ordering::Relaxed),
            owner_uid: meta.uid(),
            mode: meta.mode() & 0o7777,
            read_only: !map.writable(),
        })
    }

    /// Occupancy and health, read without locks. Costs what the zone has used (a pass up to the
    /// high-water mark) plus one kernel probe per claimed writer slot.
    pub fn stats(&self) -> Result<Stats> {
        self.check_file()?;
        let map = &self.shared.map;
        let (g, h) = (*map.geometry(), map.header());
        let own = {
            let local = self.shared.local();
            local.me.filter(|_| local.pid == current_pid()).map(|m| m.slot)
        };
        let mut live = Liveness::new(map, &self.shared.file, own);
        let end = read::scan_end(map);
        let mut s = Stats {
            capacity: g.capacity,
            max_writers: g.slots,
            high_water: end,
            free: g.capacity - end,
            attached: live.attached(),
            failed_registrations: h.failed_registrations.load(Ordering::Relaxed),
            failed_zone_full: h.failed_zone_full.load(Ordering::Relaxed),
            lock_timeouts: if g.legacy { 0 } else { h.lock_timeouts.load(Ordering::Relaxed) },
            lock_takeovers: if g.legacy { 0 } else { h.lock_takeovers.load(Ordering::Relaxed) },
            repairs: h.repairs.load(Ordering::Relaxed),
            lock_holder: if g.legacy { None } else { crate::lock::holder_slot(h.lock.load(Ordering::Acquire)) },
            file_size: g.file_size,
            version_major: h.version_major.load(Ordering::Relaxed),
            version_minor: h.version_minor.load(Ordering::Relaxed),
            ..Stats::default()
        };
        let o = read::occupancy(map, &mut |slot| live.effective(slot));
        (s.used, s.orphaned, s.free) = (o.used, o.orphaned, s.free + o.free);
        Ok(s)
    }

    /// Checks the whole zone; returns the problems found (empty when healthy). Writable
    /// attachments check under the registration lock; read-only ones check what they see.
    pub fn verify(&self) -> Result<Vec<String>> {
        self.check_file()?;
        if self.is_read_only() {
            return Ok(read::verify(&self.shared.map, false));
        }
        let me = self.shared.writer_slot()?;
        let guard = self.shared.lock(me)?;
        Ok(read::verify(guard.map(), true))
    }

    /// Reclaims what crashed processes left: interrupted registrations, the slots and owner
    /// bits of dead writers. Returns how many entries were reclaimed.
    pub fn repair(&self) -> Result<u32> {
        self.check_file()?;
        if self.is_read_only() {
            return Err(Error::new(Status::SHM_ERR_READ_ONLY, "the zone was opened read-only"));
        }
        let me = self.shared.writer_slot()?;
        let guard = self.shared.lock(me)?;
        let mut live = Liveness::new(&self.shared.map, &self.shared.file, Some(me.slot));
        let n = guard.repair(&mut |s| live.effective(s));
        slots::clean_dead(&guard, &mut live);
        Ok(n)
    }

    /// Detaches now. Handles still open keep the attachment until released.
    pub fn close(self) {}
}

impl Shared {
    /// Claims a writer slot for a new attachment (cleaning dead writers' slots if none is free).
    fn claim_slot(&self) -> Result<()> {
        self.writer_slot().map(drop)
    }
}

#[cfg(test)]
pub(crate) fn test_zone(tag: &str) -> (Zone, PathBuf) {
    let path = std::env::temp_dir().join(format!("shmm-unit-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let z = Zone::open_path(&path, &OpenOptions { create: true, size: 64 << 10, ..Default::default() }).unwrap();
    (z, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::CRASH_AFTER;

    /// A holder that dies at any step of an insert or a remove leaves an index that the next
    /// holder repairs: verify is clean, survivors keep their values, and the name works again.
    #[test]
    fn a_crash_at_every_step_is_repaired() {
        let (z, path) = test_zone("crash");
        let keep = z.counter("keep").unwrap();
        keep.inc(7);
        let mut crashed_steps = 0;
        for k in 0..32 {
            // Crash during an insert.
            CRASH_AFTER.with(|c| c.set(Some(k)));
            let r = z.counter("victim");
            let crashed = CRASH_AFTER.with(|c| c.take()).is_none() && r.is_err();
            if crashed {
                crashed_steps += 1;
                assert_eq!(r.err().unwrap().status, Status::SHM_ERR_INTERNAL);
                assert!(!z.verify_unrepaired().is_empty(), "step {k}: damage is visible before repair");
            }
            // The next registration repairs; then crash during a remove.
            let v = z.counter("victim").unwrap();
            assert!(z.verify().unwrap().is_empty(), "step {k}: {:?}", z.verify().unwrap());
            v.inc(1);
            CRASH_AFTER.with(|c| c.set(Some(k)));
            let r = v.release();
            if CRASH_AFTER.with(|c| c.take()).is_none() && r.is_err() {
                crashed_steps += 1;
            }
            let other = z.counter("other").unwrap();
            assert!(z.verify().unwrap().is_empty(), "step {k}: {:?}", z.verify().unwrap());
            other.release().unwrap();
            assert_eq!(keep.count(), 7);
        }
        assert!(crashed_steps >= 8, "the failpoints were reached ({crashed_steps})");
        assert!(z.stats().unwrap().repairs >= crashed_steps as u64 / 2);
        let _ = std::fs::remove_file(path);
    }

    impl Zone {
        /// Verify without the lock's automatic repair, to see the damage a crash left.
        fn verify_unrepaired(&self) -> Vec<String> {
            let mut p = read::verify(&self.shared.map, false);
            if self.shared.map.header().dirty.load(Ordering::Acquire) != 0 {
                p.push("dirty".into());
            }
            p
        }
    }
}
