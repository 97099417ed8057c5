//! An attached zone: registration under the kernel lock, attach slots, statistics, verify and
//! repair. Values are not touched here; handles (`metric.rs`) update them lock-free.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::ThreadId;

use crate::error::{Error, Result, Status};
use crate::index::{self, Kind, Locked, Snapshot};
use crate::layout::{self, ATTACH_SLOTS, Mapping};
use crate::metric::{Counter, Gauge, GaugeF64, Metric};
use crate::open::{self, OpenOptions};
use crate::sys;

/// A zone opened by this process. Cloning is cheap and shares the attachment.
#[derive(Clone)]
pub struct Zone {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) map: Arc<Mapping>,
    path: PathBuf,
    remove_on_close: bool,
    local: Mutex<Local>,
}

/// Process-local state, guarded by a mutex because OFD locks do not exclude our own threads.
struct Local {
    file: File,
    pid: u32,
    /// This process's attach slot; None for read-only attachments.
    slot: Option<u32>,
    /// Handles this attachment holds per entry: index -> (generation, count).
    refs: HashMap<u32, (u64, u64)>,
    /// Made just before a fork, one per forking thread (threads may fork at the same time): a
    /// new open file description holding a new attach slot that already claims every entry in
    /// `refs`, for the child to adopt (see `prepare_fork`).
    fork_spares: Vec<(ThreadId, File, u32)>,
}

/// Occupancy and health of a zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub capacity: u32,
    pub used: u32,
    pub free: u32,
    /// Live entries that no attached process holds (their owners exited); reclaimed when full.
    pub orphaned: u32,
    pub attached: u32,
    /// Writer slots: the most processes that can be attached for writing at once.
    pub max_writers: u32,
    /// Records ever used: scans stop here.
    pub high_water: u32,
    pub failed_registrations: u64,
    pub failed_zone_full: u64,
    /// Registrations that gave up waiting for a live lock holder.
    pub lock_timeouts: u64,
    /// Index repairs after a registrar died mid-change.
    pub repairs: u64,
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

/// Writable attachments of this process, so a fork can hand the child its own attachment.
static ATTACHED: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

fn track_for_fork(shared: &Arc<Shared>) {
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let _ = sys::at_fork(prepare_fork, after_fork_in_parent, after_fork_in_child);
    });
    let mut all = lock_guard(&ATTACHED);
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(shared));
}

/// Applies `f` to every live attachment whose mutexes are free. Fork handlers only *try* to
/// lock: a mutex another thread holds at the fork stays locked in the child. An attachment
/// skipped this way re-attaches lazily on its next registration, release or stats call.
fn for_each_attachment(f: impl Fn(&Shared, &mut Local)) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let Ok(all) = ATTACHED.try_lock() else { return };
        for shared in all.iter().filter_map(Weak::upgrade) {
            if let Ok(mut local) = shared.local.try_lock() {
                f(&shared, &mut local);
            }
        }
    }));
}

/// Before fork, in the parent: the child must hold its inherited handles' entries from its
/// first instant, or the parent could release one and free it under the child's increments.
/// So the parent claims a spare attach slot on a new file description for the child; the
/// child inherits that description (and its lock) and adopts it.
extern "C" fn prepare_fork() {
    for_each_attachment(|shared, local| {
        let me = std::thread::current().id();
        local.fork_spares.retain(|s| s.0 != me);
        if local.pid == std::process::id()
            && let Ok((file, slot)) = shared.make_spare(local)
        {
            local.fork_spares.push((me, file, slot));
        }
    });
}

/// After fork, in the parent: our copy of the spare closes; the child's copy keeps its lock.
extern "C" fn after_fork_in_parent() {
    let me = std::thread::current().id();
    for_each_attachment(|_, local| local.fork_spares.retain(|s| s.0 != me));
}

extern "C" fn after_fork_in_child() {
    for_each_attachment(|shared, local| {
        shared.adopt_spare(local);
    });
}

/// A new open file description of the same file (so with locks of its own).
fn reopen(file: &File) -> Result<File> {
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    std::fs::OpenOptions::new().read(true).write(true).open(proc_path).map_err(|e| Error::io("reopen the zone file", e))
}

fn lock_guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
        // start may replace it; attaching re-checks under the lock and starts over if so.
        for _ in 0..64 {
            let opened = open::open(path, opts)?;
            let local = Local { file: opened.file, pid: std::process::id(), slot: None, refs: HashMap::new(), fork_spares: Vec::new() };
            let shared = Shared { map: Arc::new(opened.map), path: path.to_owned(), remove_on_close: opts.remove_on_close, local: Mutex::new(local) };
            if opts.read_only {
                return Ok(Zone { shared: Arc::new(shared) });
            }
            let attached = shared.with_lock(|ix, local| {
                if !open::same_file(path, &local.file) {
                    return Ok(false);
                }
                Shared::claim_slot(ix, local)?;
                Ok(true)
            })?;
            if attached {
                let shared = Arc::new(shared);
                track_for_fork(&shared);
                return Ok(Zone { shared });
            }
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
        (index < self.capacity()).then(|| index::snapshot(&self.shared.map, index)).flatten()
    }

    /// Every live metric, read without locks; safe from read-only attachments too.
    pub fn metrics(&self) -> impl Iterator<Item = Snapshot> + '_ {
        self.metrics_from(0)
    }

    /// The live metrics at entry index `start` and after, in index order (a resumable scan:
    /// continue from the last `Snapshot::index` + 1).
    pub fn metrics_from(&self, start: u32) -> impl Iterator<Item = Snapshot> + '_ {
        (start..self.capacity()).filter_map(|i| index::snapshot(&self.shared.map, i))
    }

    /// Gives up one of this process's holds on entry `index` registered as `generation` (what
    /// `Metric::release` does, for bindings that keep only the entry's identity).
    pub fn release(&self, index: u32, generation: u64) -> Result<()> {
        self.shared.release(index, generation)
    }

    pub fn info(&self) -> Result<ZoneInfo> {
        use std::os::unix::fs::MetadataExt;
        let local = lock_guard(&self.shared.local);
        self.shared.check_file(&local)?;
        let meta = local.file.metadata().map_err(|e| Error::io("fstat", e))?;
        let (map, h) = (&self.shared.map, self.shared.map.header());
        Ok(ZoneInfo {
            path: self.shared.path.clone(),
            version_major: h.version_major.load(Ordering::Relaxed),
            version_minor: h.version_minor.load(Ordering::Relaxed),
            file_size: map.geometry().file_size,
            capacity: map.geometry().capacity,
            max_writers: ATTACH_SLOTS,
            created_unix_ns: h.created_unix_ns.load(Ordering::Relaxed),
            creator_pid: h.creator_pid.load(Ordering::Relaxed),
            owner_uid: meta.uid(),
            mode: meta.mode() & 0o7777,
            read_only: !map.writable(),
        })
    }

    /// Fails with `SHM_ERR_CORRUPT` if someone shrank the zone file under our mapping: touching
    /// the missing pages would fault (SIGBUS), so every locked operation, `stats`, `verify` and
    /// the C iteration check this first instead of failing silently or crashing.
    pub fn check_file(&self) -> Result<()> {
        self.shared.check_file(&lock_guard(&self.shared.local))
    }

    pub fn stats(&self) -> Result<Stats> {
        let map = &self.shared.map;
        let live = self.shared.live_slots()?;
        let h = map.header();
        let mut s = Stats {
            capacity: map.geometry().capacity,
            max_writers: ATTACH_SLOTS,
            high_water: map.geometry().capacity,
            attached: live.iter().map(|w| w.count_ones()).sum(),
            failed_registrations: h.failed_registrations.load(Ordering::Relaxed),
            failed_zone_full: h.failed_zone_full.load(Ordering::Relaxed),
            repairs: h.repairs.load(Ordering::Relaxed),
            file_size: map.geometry().file_size,
            version_major: h.version_major.load(Ordering::Relaxed),
            version_minor: h.version_minor.load(Ordering::Relaxed),
            ..Stats::default()
        };
        for i in 0..s.capacity {
            match map.meta(i).state.load(Ordering::Acquire) {
                layout::STATE_FREE => s.free += 1,
                layout::STATE_LIVE => {
                    s.used += 1;
                    let owners = map.meta(i).owner_bits();
                    if owners.iter().zip(live).all(|(o, l)| o & l == 0) {
                        s.orphaned += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(s)
    }

    /// Checks the whole zone; returns the problems found (empty when healthy). Writable
    /// attachments check under the registration lock; read-only ones check what they see.
    pub fn verify(&self) -> Result<Vec<String>> {
        if self.is_read_only() {
            self.check_file()?;
            return Ok(index::verify(&self.shared.map, false));
        }
        self.shared.with_lock_raw(|ix, _| Ok(index::verify(ix.map, true)))
    }

    /// Reclaims what crashed processes left: interrupted registrations, owner bits of dead
    /// processes. Returns how many entries were reclaimed.
    pub fn repair(&self) -> Result<u32> {
        self.shared.with_lock_raw(|ix, local| {
            let n = ix.repair();
            ix.sweep_owners(Shared::probe_slots(local)?, false);
            Ok(n)
        })
    }

    /// Detaches now. Handles still open keep the mapping alive until released.
    pub fn close(self) {}
}

impl Shared {
    /// Runs `f` under the process mutex and the zone's registration lock, after repairing what a
    /// holder that died mid-change left behind.
    fn with_lock<T>(&self, f: impl FnOnce(&Locked, &mut Local) -> Result<T>) -> Result<T> {
        self.with_lock_raw(|ix, local| {
            if ix.is_dirty() {
                ix.repair();
                ix.map.header().repairs.fetch_add(1, Ordering::Relaxed);
            }
            f(ix, local)
        })
    }

    fn with_lock_raw<T>(&self, f: impl FnOnce(&Locked, &mut Local) -> Result<T>) -> Result<T> {
        if !self.map.writable() {
            return Err(Error::new(Status::SHM_ERR_READ_ONLY, "the zone was opened read-only"));
        }
        let mut local = lock_guard(&self.local);
        self.check_file(&local)?;
        self.reattach_after_fork(&mut local)?;
        sys::lock_wait(&local.file, sys::REGISTRATION_LOCK).map_err(|e| Error::io("take the registration lock", e))?;
        let ix = Locked { map: &self.map };
        let result = catch_unwind(AssertUnwindSafe(|| f(&ix, &mut local)));
        let _ = sys::unlock(&local.file, sys::REGISTRATION_LOCK);
        result.unwrap_or_else(|_| Err(Error::new(Status::SHM_ERR_INTERNAL, "internal error during registration")))
    }

    /// A forked child shares the parent's open file description, hence its locks: it gets its
    /// own description and attach slot, and re-claims the entries its inherited handles use.
    fn reattach_after_fork(&self, local: &mut Local) -> Result<()> {
        let pid = std::process::id();
        if pid == local.pid {
            return Ok(());
        }
        if self.adopt_spare(local) {
            return Ok(());
        }
        // Closing the inherited descriptor leaves the parent's locks alone (the parent still
        // holds the description).
        local.file = reopen(&local.file)?;
        local.pid = pid;
        local.slot = None;
        sys::lock_wait(&local.file, sys::REGISTRATION_LOCK).map_err(|e| Error::io("take the registration lock", e))?;
        let r = catch_unwind(AssertUnwindSafe(|| Self::claim_slot(&Locked { map: &self.map }, local)));
        let _ = sys::unlock(&local.file, sys::REGISTRATION_LOCK);
        r.unwrap_or_else(|_| Err(Error::new(Status::SHM_ERR_INTERNAL, "internal error while attaching")))
    }

    fn make_spare(&self, local: &Local) -> Result<(File, u32)> {
        let file = reopen(&local.file)?;
        sys::lock_wait(&local.file, sys::REGISTRATION_LOCK).map_err(|e| Error::io("take the registration lock", e))?;
        let ix = Locked { map: &self.map };
        let r = catch_unwind(AssertUnwindSafe(|| Self::claim_slot_on(&ix, &file, local.pid.wrapping_add(1), &local.refs)));
        let _ = sys::unlock(&local.file, sys::REGISTRATION_LOCK);
        let slot = r.unwrap_or_else(|_| Err(Error::new(Status::SHM_ERR_INTERNAL, "internal error while preparing a fork")))?;
        Ok((file, slot))
    }

    /// In a forked child: take over the spare attachment the forking thread prepared, and
    /// close the other threads' spares (they belong to their own children).
    fn adopt_spare(&self, local: &mut Local) -> bool {
        let me = std::thread::current().id();
        let mine = local.fork_spares.iter().position(|s| s.0 == me).map(|i| local.fork_spares.swap_remove(i));
        local.fork_spares.clear();
        let Some((_, file, slot)) = mine else { return false };
        local.file = file;
        local.slot = Some(slot);
        local.pid = std::process::id();
        self.map.attach_record(slot).pid.store(local.pid, Ordering::Relaxed);
        true
    }

    /// Claims a free attach slot (under the registration lock), clearing any stale claims a
    /// dead previous holder of the slot left on entries.
    fn claim_slot(ix: &Locked, local: &mut Local) -> Result<()> {
        local.slot = Some(Self::claim_slot_on(ix, &local.file, local.pid, &local.refs)?);
        Ok(())
    }

    /// Locks a free attach slot through `file` and makes it claim every entry in `refs`.
    fn claim_slot_on(ix: &Locked, file: &File, pid: u32, refs: &HashMap<u32, (u64, u64)>) -> Result<u32> {
        let start = pid % ATTACH_SLOTS;
        let mut claimed = None;
        for k in 0..ATTACH_SLOTS {
            let s = (start + k) % ATTACH_SLOTS;
            if sys::try_lock(file, sys::ATTACH_LOCK_BASE + s as u64).map_err(|e| Error::io("claim an attach slot", e))? {
                claimed = Some(s);
                break;
            }
        }
        let Some(slot) = claimed else {
            return Err(Error::new(Status::SHM_ERR_ATTACH_LIMIT, format!("all {ATTACH_SLOTS} attach slots are held by live processes")));
        };
        let mut others = [u64::MAX; 4];
        others[(slot / 64) as usize] &= !(1u64 << (slot % 64));
        ix.sweep_owners(others, false);
        for (&index, &(generation, _)) in refs {
            let m = ix.map.meta(index);
            if m.state.load(Ordering::Acquire) == layout::STATE_LIVE && m.generation.load(Ordering::Relaxed) == generation {
                ix.add_owner(index, slot);
            }
        }
        let rec = ix.map.attach_record(slot);
        rec.pid.store(pid, Ordering::Relaxed);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        rec.attached_unix_ns.store(now, Ordering::Relaxed);
        Ok(slot)
    }

    fn check_file(&self, local: &Local) -> Result<()> {
        let len = local.file.metadata().map_err(|e| Error::io("fstat", e))?.len();
        let want = self.map.geometry().file_size;
        if len < want {
            let msg = format!("{} was truncated to {len} bytes while mapped ({want} expected); the zone is unusable", self.path.display());
            return Err(Error::new(Status::SHM_ERR_CORRUPT, msg));
        }
        let h = self.map.header();
        if h.magic.load(Ordering::Acquire) != layout::MAGIC || h.file_size.load(Ordering::Relaxed) != want {
            let msg = format!("{}: the zone header was overwritten while mapped; the zone is unusable", self.path.display());
            return Err(Error::new(Status::SHM_ERR_CORRUPT, msg));
        }
        Ok(())
    }

    /// Bit `s` set: attach slot `s` is held by a live process (including us).
    fn live_slots(&self) -> Result<[u64; 4]> {
        let mut local = lock_guard(&self.local);
        self.check_file(&local)?;
        if self.map.writable() {
            self.reattach_after_fork(&mut local)?;
        }
        Self::probe_slots(&local)
    }

    fn probe_slots(local: &Local) -> Result<[u64; 4]> {
        let mut live = [0u64; 4];
        for s in 0..ATTACH_SLOTS {
            let held = local.slot == Some(s) || sys::is_locked_by_other(&local.file, sys::ATTACH_LOCK_BASE + s as u64).map_err(|e| Error::io("probe attach slots", e))?;
            if held {
                live[(s / 64) as usize] |= 1 << (s % 64);
            }
        }
        Ok(live)
    }

    fn count_failure(&self, full: bool) {
        if self.map.writable() {
            let h = self.map.header();
            h.failed_registrations.fetch_add(1, Ordering::Relaxed);
            if full {
                h.failed_zone_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn register(self: &Arc<Self>, name: &[u8], kind: Kind) -> Result<Metric> {
        if let Err(e) = index::check_name(name) {
            self.count_failure(false);
            return Err(e);
        }
        let hash = index::fnv1a32(name);
        let found = self.with_lock(|ix, local| {
            let slot = local.slot.ok_or_else(|| Error::new(Status::SHM_ERR_INTERNAL, "writable zone without attach slot"))?;
            let (index, generation) = match ix.find(name, hash) {
                Some(i) => {
                    let m = ix.map.meta(i);
                    let existing = m.kind.load(Ordering::Relaxed);
                    if existing != kind as u32 {
                        let have = Kind::from_u32(existing).map_or("unknown", Kind::as_str);
                        let msg = format!("{:?} is registered as a {have}, not a {}", String::from_utf8_lossy(name), kind.as_str());
                        return Err(Error::new(Status::SHM_ERR_KIND_MISMATCH, msg));
                    }
                    ix.add_owner(i, slot);
                    (i, m.generation.load(Ordering::Relaxed))
                }
                None => match ix.insert(name, hash, kind, slot) {
                    Err(e) if e.status == Status::SHM_ERR_ZONE_FULL => {
                        // Make room from metrics whose every holder has exited, then retry once.
                        if ix.sweep_owners(Self::probe_slots(local)?, true) == 0 {
                            return Err(e);
                        }
                        ix.insert(name, hash, kind, slot)?
                    }
                    r => r?,
                },
            };
            let r = local.refs.entry(index).or_insert((generation, 0));
            if r.0 != generation {
                *r = (generation, 0);
            }
            r.1 += 1;
            Ok((index, generation))
        });
        match found {
            Ok((index, generation)) => Ok(Metric::new(self.clone(), index, generation, kind)),
            Err(e) => {
                self.count_failure(e.status == Status::SHM_ERR_ZONE_FULL);
                Err(e)
            }
        }
    }

    /// Drops one handle on entry `index`; frees the entry when no process holds it any more.
    pub(crate) fn release(&self, index: u32, generation: u64) -> Result<()> {
        self.with_lock(|ix, local| {
            let slot = local.slot.ok_or_else(|| Error::new(Status::SHM_ERR_INTERNAL, "writable zone without attach slot"))?;
            match local.refs.get_mut(&index) {
                Some((g, n)) if *g == generation && *n > 0 => {
                    *n -= 1;
                    if *n == 0 {
                        local.refs.remove(&index);
                        ix.drop_owner(index, generation, slot);
                    }
                    Ok(())
                }
                _ => Err(Error::new(Status::SHM_ERR_CLOSED, "handle was already released")),
            }
        })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if !self.remove_on_close || !self.map.writable() {
            return;
        }
        let _ = self.with_lock(|_, local| {
            let mut live = Self::probe_slots(local)?;
            if let Some(s) = local.slot {
                live[(s / 64) as usize] &= !(1 << (s % 64));
            }
            if live == [0; 4] && open::same_file(&self.path, &local.file) {
                let _ = std::fs::remove_file(&self.path);
            }
            Ok(())
        });
    }
}
