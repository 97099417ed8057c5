//! This process's attachment to a zone: its writer slot, the metrics it holds, registration and
//! release, and what a fork does to them.
//!
//! Registration takes the cheapest path that is correct:
//! 1. a name this process already holds: a lookup in a process-local map, no system call and no
//!    shared write;
//! 2. a name another process registered: found by a lock-free walk of its bucket chain and
//!    joined by setting our owner bit, then re-checking that the entry is still the same
//!    registration (a concurrent release re-reads the bits after marking the entry FREEING, so
//!    one of the two always sees the other; `Locked::free_if_unowned`);
//! 3. a new name: under the registration lock (`lock.rs`).
//!
//! The process-local state (`Local`) is behind a mutex that is never held while waiting for the
//! registration lock (that is always taken first), so a fork never waits for another process.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::{Error, Result, Status};
use crate::index::{Kind, check_name, clear_owner, fnv1a32, set_owner};
use crate::layout::{Mapping, STATE_LIVE};
use crate::lock::{self, Holder, RegLock};
use crate::metric::Metric;
use crate::read;
use crate::slots::{self, Liveness};
use crate::sys;

/// The kernel-lock byte a process without a writer slot holds while it holds the registration
/// lock (to clean dead slots); slot `s` uses byte `1 + s`.
const SLOTLESS_LOCK_BYTE: u64 = 0;

/// Most links a lock-free lookup follows before asking again under the lock.
const LOOKUP_STEPS: u32 = 64;
/// Registrations re-check the zone file's size (a shrunk file would fault) at most this often;
/// every other locked operation checks it each time.
const FILE_CHECK_EVERY: Duration = Duration::from_millis(100);

/// This process's PID, cached (refreshed in a forked child by `fork.rs`).
static PID: AtomicU32 = AtomicU32::new(0);

pub(crate) fn current_pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => refresh_pid(),
        p => p,
    }
}

pub(crate) fn refresh_pid() -> u32 {
    let p = std::process::id();
    PID.store(p, Ordering::Relaxed);
    p
}

/// A word-at-a-time 64-bit hash of a name, for the process-local index of held names (the names
/// are this process's own, so there is nobody to flood it; a collision only costs a slower path).
fn name_hash(name: &[u8]) -> u64 {
    let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(0x517C_C1B7_2722_0A95);
    let mut words = name.chunks_exact(8);
    let h = (&mut words).fold(name.len() as u64, |h, w| mix(h, u64::from_ne_bytes(w.try_into().expect("8 bytes"))));
    let h = mix(h, crate::layout::tail_word(words.remainder()));
    h ^ (h >> 29)
}

/// Hashes an integer key (an entry index, or a name hash) with one multiplication.
#[derive(Default)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        let h = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

/// The entries this process holds, found by the 64-bit hash of their name (`name_hash`) in one
/// probe. A name whose hash another held name already took is kept aside in `collided`
/// (practically always empty).
#[derive(Default)]
struct Holds {
    by_hash: IntMap<u64, Held>,
    collided: Vec<Held>,
}

impl Holds {
    fn get_mut(&mut self, hash: u64, index: u32) -> Option<&mut Held> {
        match self.by_hash.get_mut(&hash) {
            Some(h) if h.index == index => Some(h),
            _ => self.collided.iter_mut().find(|h| h.index == index),
        }
    }

    fn insert(&mut self, hash: u64, held: Held) {
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(held);
            }
            std::collections::hash_map::Entry::Occupied(_) => self.collided.push(held),
        }
    }

    fn remove(&mut self, hash: u64, index: u32) {
        if self.by_hash.get(&hash).is_some_and(|h| h.index == index) {
            self.by_hash.remove(&hash);
        } else {
            self.collided.retain(|h| h.index != index);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Held> {
        self.by_hash.values().chain(&self.collided)
    }
}

/// One entry this process holds.
struct Held {
    index: u32,
    generation: u64,
    kind: Kind,
    /// Handles (and binding refs) on it.
    count: u64,
    /// `Local::forks` when it was taken: children forked later inherited it.
    taken_at: u64,
}

pub(crate) struct Shared {
    pub(crate) map: Arc<Mapping>,
    /// Our open file description of the zone, which holds our writer slot's kernel lock. A
    /// forked child points this descriptor at a description of its own (`dup2`, see `fork.rs`),
    /// so every copy of it refers to the child's, never to the parent's, lock.
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) remove_on_close: bool,
    pub(crate) lock_timeout: Duration,
    pub(crate) local: Mutex<Local>,
}

/// Process-local state, guarded by a mutex because kernel locks do not exclude our own threads.
/// Never held while waiting for the registration lock.
pub(crate) struct Local {
    /// The process this attachment belongs to.
    pub(crate) pid: u32,
    /// Our writer slot (None for read-only attachments, and in a forked child that got none).
    pub(crate) me: Option<Holder>,
    /// A forked child whose inherited holds are still implied by its parent's bits.
    inherited: bool,
    held: Holds,
    /// Forks so far; children are recorded with the count at their fork.
    forks: u64,
    children: Vec<(Holder, u64)>,
    /// The attachment the forking thread prepared for its child (see `fork.rs`).
    pub(crate) spare: Option<(File, Holder)>,
    /// A description opened ahead of the next fork, so that `fork()` itself need not open one
    /// (opening is most of what the fork handlers cost); replaced after each fork by the next
    /// registration or release.
    next_spare: Option<File>,
    /// When registrations last checked the file's size (`sys::coarse_monotonic_ns`).
    checked_at: Option<u64>,
}

pub(crate) fn lock_guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new open file description of the same file (so with kernel locks of its own).
pub(crate) fn reopen(file: &File) -> Result<File> {
    use std::os::fd::AsRawFd;
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    std::fs::OpenOptions::new().read(true).write(true).open(proc_path).map_err(|e| Error::io("reopen the zone file", e))
}

impl Local {
    pub(crate) fn new(me: Option<Holder>) -> Local {
        Local { pid: current_pid(), me, inherited: false, held: Holds::default(), forks: 0, children: Vec::new(), spare: None, next_spare: None, checked_at: None }
    }

    /// In a forked child: `me` is the slot its parent prepared (None: none was).
    pub(crate) fn forked(&mut self, me: Option<Holder>) {
        self.pid = current_pid();
        self.me = me;
        self.inherited = true;
        self.children.clear();
        self.checked_at = None;
        self.next_spare = None; // our parent's: it must not outlive it here
    }

    fn record(&mut self, name: &[u8], index: u32, generation: u64, kind: Kind) {
        self.held.insert(name_hash(name), Held { index, generation, kind, count: 1, taken_at: self.forks });
    }

    /// One more hold on entry `index` if we hold it as registration `generation`.
    fn hold_again(&mut self, index: u32, generation: u64, name: &[u8], kind: Kind) -> Option<Result<(u32, u64)>> {
        let h = self.held.get_mut(name_hash(name), index).filter(|h| h.generation == generation)?;
        if h.kind != kind {
            return Some(Err(mismatch(name, h.kind as u32, kind)));
        }
        h.count += 1;
        Some(Ok((index, generation)))
    }
}

/// Runs a registration or a release; a panic (a bug, or a test's injected crash) becomes
/// `SHM_ERR_INTERNAL`. The registration lock is released on the way out, with the index marked
/// dirty if the change was cut short, so the next holder repairs it.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| Err(Error::new(Status::SHM_ERR_INTERNAL, "internal error during registration")))
}

fn mismatch(name: &[u8], have: u32, want: Kind) -> Error {
    let have = Kind::from_u32(have).map_or("unknown", Kind::as_str);
    let msg = format!("{:?} is registered as a {have}, not a {}", String::from_utf8_lossy(name), want.as_str());
    Error::new(Status::SHM_ERR_KIND_MISMATCH, msg)
}

impl Shared {
    pub(crate) fn local(&self) -> MutexGuard<'_, Local> {
        lock_guard(&self.local)
    }

    /// Fails with `SHM_ERR_CORRUPT` if someone shrank the zone file under our mapping (touching
    /// the missing pages would fault) or overwrote its header.
    pub(crate) fn check_file(&self, file: &File) -> Result<()> {
        let len = file.metadata().map_err(|e| Error::io("fstat", e))?.len();
        let want = self.map.geometry().file_size;
        if len < want {
            let msg = format!("{} was truncated to {len} bytes while mapped ({want} expected); the zone is unusable", self.path.display());
            return Err(Error::new(Status::SHM_ERR_CORRUPT, msg));
        }
        self.check_header()
    }

    /// The header is still ours (a file truncated and grown back reads as zeros). Two loads.
    fn check_header(&self) -> Result<()> {
        let h = self.map.header();
        if h.magic.load(Ordering::Acquire) != crate::layout::MAGIC || h.file_size.load(Ordering::Relaxed) != self.map.geometry().file_size {
            let msg = format!("{}: the zone header was overwritten while mapped; the zone is unusable", self.path.display());
            return Err(Error::new(Status::SHM_ERR_CORRUPT, msg));
        }
        Ok(())
    }

    /// Registrations check the header every time and the file's size (a system call) at most
    /// every FILE_CHECK_EVERY.
    fn check_file_now_and_then(&self, local: &mut Local) -> Result<()> {
        let now = sys::coarse_monotonic_ns();
        if local.checked_at.is_some_and(|t| now.saturating_sub(t) < FILE_CHECK_EVERY.as_nanos() as u64) {
            return self.check_header();
        }
        self.check_file(&self.file)?;
        local.checked_at = Some(now);
        Ok(())
    }

    fn count_failure(&self, status: Status) {
        if self.map.writable() {
            let h = self.map.header();
            h.failed_registrations.fetch_add(1, Ordering::Relaxed);
            if status == Status::SHM_ERR_ZONE_FULL {
                h.failed_zone_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Our writer slot, claiming one first in a forked child that got none at the fork.
    fn writer(&self, local: &mut Local) -> Result<Holder> {
        if !self.map.writable() {
            return Err(Error::new(Status::SHM_ERR_READ_ONLY, "the zone was opened read-only"));
        }
        if local.pid != current_pid() {
            // Forked by a path that skipped our fork handlers: take a description (and a slot)
            // of our own, the inherited one's locks are the parent's.
            self.own_description()?;
            local.forked(None);
        }
        if local.next_spare.is_none() {
            local.next_spare = reopen(&self.file).ok();
        }
        if let Some(me) = local.me {
            return Ok(me);
        }
        let me = match slots::try_claim(&self.map, &self.file, local.pid, None)? {
            Some(me) => me,
            None => {
                self.clean_without_slot()?;
                slots::try_claim(&self.map, &self.file, local.pid, None)?.ok_or_else(|| self.attach_limit())?
            }
        };
        local.me = Some(me);
        Ok(me)
    }

    /// Points our descriptor at a new open file description of the zone (`fresh`, or a new one),
    /// so no lock of another process's description is held through it any more.
    pub(crate) fn own_description_from(&self, fresh: &File) -> Result<()> {
        sys::dup_onto(fresh, &self.file).map_err(|e| Error::io("replace the zone descriptor", e))
    }

    fn own_description(&self) -> Result<()> {
        self.own_description_from(&reopen(&self.file)?)
    }

    pub(crate) fn attach_limit(&self) -> Error {
        let n = self.map.geometry().slots;
        Error::new(Status::SHM_ERR_ATTACH_LIMIT, format!("all {n} writer slots of the zone are held by live processes (create it with more max_writers)"))
    }

    /// A forked child that still stands on its parent's bits sets its own (once): from then on
    /// its holds no longer depend on the parent. Lock-free: the parent only hands bits over to
    /// a child under the registration lock, and only while the child's link is still set.
    fn materialize(&self, local: &mut Local, me: Holder) {
        if !local.inherited {
            return;
        }
        for h in local.held.iter() {
            let m = self.map.meta(h.index);
            set_owner(&self.map, h.index, me.slot);
            if m.state.load(Ordering::SeqCst) != STATE_LIVE || m.generation.load(Ordering::SeqCst) != h.generation {
                clear_owner(&self.map, h.index, me.slot); // freed by the parent before the fork took hold
            }
        }
        self.map.attach_record(me.slot).parent.store(0, Ordering::SeqCst);
        local.inherited = false;
    }

    /// The registration lock, held as writer `me`; repairs what a dead holder left.
    pub(crate) fn lock(&self, me: Holder) -> Result<RegLock<'_>> {
        let (map, file) = (&*self.map, &self.file);
        let guard = lock::acquire(map, file, me, self.lock_timeout, |h| {
            if h.slot == lock::SLOTLESS {
                return sys::is_locked_by_other(file, SLOTLESS_LOCK_BYTE).unwrap_or(true);
            }
            h.slot < map.geometry().slots && map.attach_record(h.slot).epoch.load(Ordering::Acquire) == h.epoch && Liveness::new(map, file, Some(me.slot)).alive(h.slot)
        })?;
        if guard.is_dirty() {
            let mut live = Liveness::new(map, file, Some(me.slot));
            guard.repair(&mut |s| live.effective(s));
            map.header().repairs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(guard)
    }

    /// Cleans dead writers' slots before we have one. Without a slot there is no slot lock to
    /// prove us alive, so a slotless cleaner first takes the kernel lock on byte 0 (one cleaner
    /// at a time, waiting at most the lock timeout) and holds the registration lock as
    /// `lock::SLOTLESS`, which waiters judge by that byte: alive while we hold it, free to take
    /// over when we die.
    fn clean_without_slot(&self) -> Result<u32> {
        let start = std::time::Instant::now();
        while !sys::try_lock(&self.file, SLOTLESS_LOCK_BYTE).map_err(|e| Error::io("take the cleaning lock", e))? {
            if start.elapsed() >= self.lock_timeout {
                return Err(Error::new(Status::SHM_ERR_LOCK_TIMEOUT, "another process without a writer slot kept cleaning the zone's slots"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let cleaned = self.lock(Holder { slot: lock::SLOTLESS, epoch: 0 }).map(|guard| slots::clean_dead(&guard, &mut Liveness::new(&self.map, &self.file, None)));
        let _ = sys::unlock(&self.file, SLOTLESS_LOCK_BYTE);
        cleaned
    }

    /// Our writer slot (claimed at attach; a forked child may have to claim one).
    pub(crate) fn writer_slot(&self) -> Result<Holder> {
        self.writer(&mut self.local())
    }

    pub(crate) fn register(self: &Arc<Self>, name: &[u8], kind: Kind) -> Result<Metric> {
        let r = guarded(|| self.register_inner(name, kind));
        if let Err(e) = &r {
            self.count_failure(e.status);
        }
        r.map(|(index, generation)| Metric::new(self.clone(), index, generation, kind))
    }

    fn register_inner(&self, name: &[u8], kind: Kind) -> Result<(u32, u64)> {
        let hash;
        {
            let mut local = self.local();
            if let Some(found) = self.held(&mut local, name, kind) {
                return found; // only valid names are ever held
            }
            check_name(name)?;
            let me = self.writer(&mut local)?;
            self.check_file_now_and_then(&mut local)?;
            self.materialize(&mut local, me);
            hash = fnv1a32(name);
            if let Some(f) = read::lookup(&self.map, name, hash, LOOKUP_STEPS) {
                #[cfg(test)]
                tests::BEFORE_JOIN.with(|h| h.take().map(|f| f()));
                if let Some(found) = local.hold_again(f.index, f.generation, name, kind) {
                    return found; // held, under a name hash another held name took
                }
                if f.kind != kind as u32 {
                    return Err(mismatch(name, f.kind, kind));
                }
                if self.join(f.index, f.generation, me.slot) {
                    local.record(name, f.index, f.generation, kind);
                    return Ok((f.index, f.generation));
                }
            }
        }
        // The registration lock is taken with the local mutex released (then the mutex again):
        // a fork in another thread never waits for another process.
        let me = self.local().me.ok_or_else(|| Error::new(Status::SHM_ERR_INTERNAL, "writable zone without a writer slot"))?;
        let guard = self.lock(me)?;
        let mut local = self.local();
        let (index, generation) = match guard.find(name, hash) {
            Some(f) => match local.hold_again(f.index, f.generation, name, kind) {
                Some(found) => return found, // another of our threads registered it meanwhile
                None if f.kind != kind as u32 => return Err(mismatch(name, f.kind, kind)),
                None => {
                    set_owner(&self.map, f.index, me.slot);
                    (f.index, f.generation)
                }
            },
            None => self.insert(&guard, name, hash, kind, me)?,
        };
        local.record(name, index, generation, kind);
        Ok((index, generation))
    }

    /// A name this process holds (found by its hash, confirmed against the entry, which cannot
    /// change while we hold it): one more handle on it.
    fn held(&self, local: &mut Local, name: &[u8], kind: Kind) -> Option<Result<(u32, u64)>> {
        let h = local.held.by_hash.get_mut(&name_hash(name))?;
        if !self.map.meta(h.index).name_equals(name) {
            return None; // another name with the same hash: the slower paths find this one
        }
        if h.kind != kind {
            return Some(Err(mismatch(name, h.kind as u32, kind)));
        }
        h.count += 1;
        Some(Ok((h.index, h.generation)))
    }

    /// The name of entry `index` as registered (we hold it, so it cannot change under us).
    fn name_of(&self, index: u32) -> ([u8; 256], usize) {
        let mut buf = [0u8; 256];
        let n = self.map.meta(index).read_name(&mut buf);
        (buf, n)
    }

    /// Sets our owner bit on a live entry found without the lock, unless it stopped being that
    /// registration meanwhile (then the bit is taken back and the caller asks under the lock).
    fn join(&self, index: u32, generation: u64, slot: u32) -> bool {
        set_owner(&self.map, index, slot);
        let m = self.map.meta(index);
        if m.state.load(Ordering::SeqCst) == STATE_LIVE && m.generation.load(Ordering::SeqCst) == generation {
            return true;
        }
        clear_owner(&self.map, index, slot);
        false
    }

    fn insert(&self, guard: &RegLock, name: &[u8], hash: u32, kind: Kind, me: Holder) -> Result<(u32, u64)> {
        match guard.insert(name, hash, kind, me.slot) {
            Err(e) if e.status == Status::SHM_ERR_ZONE_FULL => {
                // Make room from metrics whose every holder has exited, then retry once.
                let mut live = Liveness::new(&self.map, &self.file, Some(me.slot));
                if guard.reclaim_orphans(&mut |s| live.effective(s)) == 0 {
                    return Err(e);
                }
                slots::clean_dead(guard, &mut live);
                guard.insert(name, hash, kind, me.slot)
            }
            r => r,
        }
    }
}

impl Shared {
    /// Drops one hold on entry `index` (registered as `generation`). The last one gives our
    /// claim up, handing it first to children forked since we took it that still stand on our
    /// bits, and frees the entry when no live writer holds it any more.
    pub(crate) fn release(&self, index: u32, generation: u64) -> Result<()> {
        guarded(|| self.release_inner(index, generation))
    }

    fn release_inner(&self, index: u32, generation: u64) -> Result<()> {
        self.check_file(&self.file)?;
        let me = {
            let mut local = self.local();
            let me = self.writer(&mut local)?;
            self.materialize(&mut local, me);
            let (name, n) = self.name_of(index);
            match local.held.get_mut(name_hash(&name[..n]), index) {
                Some(h) if h.generation == generation && h.count > 1 => {
                    h.count -= 1;
                    return Ok(());
                }
                Some(h) if h.generation == generation && h.count == 1 => me,
                _ => return Err(Error::new(Status::SHM_ERR_CLOSED, "handle was already released")),
            }
        };
        let guard = self.lock(me)?;
        let mut local = self.local();
        let (name, n) = self.name_of(index);
        let key = name_hash(&name[..n]);
        let h = match local.held.get_mut(key, index) {
            Some(h) if h.generation == generation && h.count > 0 => h,
            _ => return Err(Error::new(Status::SHM_ERR_CLOSED, "handle was already released")),
        };
        h.count -= 1;
        if h.count > 0 {
            return Ok(());
        }
        let taken_at = h.taken_at;
        local.held.remove(key, index);
        local.children.retain(|&(c, _)| slots::linked(&self.map, me, c));
        for &(child, fork_no) in &local.children {
            if taken_at < fork_no {
                set_owner(&self.map, index, child.slot);
            }
        }
        clear_owner(&self.map, index, me.slot);
        let mut live = Liveness::new(&self.map, &self.file, Some(me.slot));
        guard.free_if_unowned(index, generation, &mut |s| live.effective(s));
        Ok(())
    }

    /// `remove_on_close`: unlinks the file when no other writer is attached.
    fn remove_if_last(&self, me: Holder) {
        let Ok(_guard) = self.lock(me) else { return };
        let mut live = Liveness::new(&self.map, &self.file, Some(me.slot));
        let slots = self.map.geometry().slots;
        let others = (0..slots).any(|s| s != me.slot && self.map.attach_record(s).state.load(Ordering::Acquire) == crate::layout::SLOT_CLAIMED && live.alive(s));
        if !others && crate::open::same_file(&self.path, &self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Before a fork, in the parent, with `local` locked until the fork is over: claims a slot
    /// for the child on a new description, linked to ours, and records the child.
    pub(crate) fn prepare_child(&self, local: &mut Local) {
        local.spare = None;
        let Some(me) = local.me.filter(|_| local.pid == current_pid()) else { return };
        let Some(file) = local.next_spare.take().or_else(|| reopen(&self.file).ok()) else { return };
        if let Ok(Some(child)) = slots::try_claim(&self.map, &file, 0, Some(me)) {
            local.forks += 1;
            local.children.push((child, local.forks));
            local.spare = Some((file, child));
        }
    }

    /// After a fork, in the parent: our copy of the child's description closes (its lock lives
    /// on in the child; if the fork failed, the slot is dead and gets cleaned).
    pub(crate) fn after_fork_parent(&self, local: &mut Local) {
        local.spare = None;
    }

    /// After a fork, in the child: our descriptor moves to the description prepared for us, so
    /// the parent's lock is no longer held through it, and we hold what we inherited through the
    /// parent's bits until we materialize.
    pub(crate) fn after_fork_child(&self, local: &mut Local) {
        if local.me.is_none() {
            return; // read-only, or never had a slot: no lock of the parent's is held through it
        }
        let me = match local.spare.take() {
            Some((file, child)) if self.own_description_from(&file).is_ok() => {
                self.map.attach_record(child.slot).pid.store(current_pid(), Ordering::Relaxed);
                Some(child)
            }
            _ => {
                let _ = self.own_description();
                None
            }
        };
        local.forked(me);
    }
}

impl Drop for Shared {
    /// Detaching: gives our claims up so the slot is clean for the next process, unless forked
    /// children still stand on our bits (then it is cleaned once they no longer do).
    fn drop(&mut self) {
        if self.check_file(&self.file).is_err() {
            return; // a shrunk file would fault; the slot dies with our descriptor
        }
        let local = self.local.get_mut().unwrap_or_else(|e| e.into_inner());
        let Some(me) = local.me.filter(|_| local.pid == current_pid()) else { return };
        let children = std::mem::take(&mut local.children);
        let held: Vec<(u32, u64)> = local.held.iter().map(|h| (h.index, h.generation)).collect();
        if self.remove_on_close {
            self.remove_if_last(me);
        }
        if children.iter().any(|&(c, _)| slots::linked(&self.map, me, c)) {
            return;
        }
        for (i, generation) in held {
            if self.map.meta(i).generation.load(Ordering::Acquire) == generation {
                clear_owner(&self.map, i, me.slot);
            }
        }
        slots::release_clean(&self.map, me);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    use crate::zone::test_zone;
    use crate::{OpenOptions, Zone};

    thread_local! {
        /// Runs between a lock-free lookup and the join (a preemption at the worst moment).
        pub static BEFORE_JOIN: Cell<Option<Box<dyn FnOnce()>>> = const { Cell::new(None) };
    }

    /// The entry found without the lock is freed and reused for another name before we set our
    /// bit: the join must notice (the entry is no longer that registration), take its bit back,
    /// and register the name anew, never hand out the other metric's slot.
    #[test]
    fn a_join_that_loses_the_race_with_a_release_registers_anew() {
        let (owner, path) = test_zone("lostjoin");
        let joiner = Zone::open_path(&path, &OpenOptions::default()).unwrap();
        let x = owner.counter("x").unwrap();
        x.inc(5);
        let x_index = x.0.index();
        let owner2 = owner.clone();
        BEFORE_JOIN.with(|h| {
            h.set(Some(Box::new(move || {
                x.release().unwrap(); // nobody else holds x: freed
                let y = owner2.counter("y").unwrap(); // the free entry is reused at once
                assert_eq!(y.0.index(), x_index);
                y.inc(7);
                std::mem::forget(y);
            })))
        });
        let mine = joiner.counter("x").unwrap();
        assert_ne!(mine.0.index(), x_index, "joined the entry that now holds y");
        let e = joiner.entry(mine.0.index()).unwrap();
        assert_eq!((e.name.as_str(), e.generation), ("x", mine.0.generation()));
        mine.inc(1);
        let y = joiner.metrics().find(|m| m.name == "y").unwrap();
        assert_eq!(y.bits, 7, "y's value is untouched");
        let owners_of_y: Vec<u32> = crate::index::owner_slots(&owner.shared.map, x_index).collect();
        assert_eq!(owners_of_y.len(), 1, "the joiner took its bit back from y's entry");
        assert!(owner.verify().unwrap().is_empty());
        let _ = std::fs::remove_file(path);
    }

    /// A joiner sets its bit after the releaser found no other owner but before it marked the
    /// entry FREEING: the releaser must see the new bit when it looks again, and back off.
    #[test]
    fn a_release_that_meets_a_late_joiner_keeps_the_metric() {
        let (owner, path) = test_zone("latejoin");
        let joiner = Zone::open_path(&path, &OpenOptions::default()).unwrap();
        let x = owner.counter("x").unwrap();
        x.inc(5);
        let joined = std::rc::Rc::new(Cell::new(None));
        let j = joined.clone();
        crate::index::BEFORE_FREEING.with(|h| h.set(Some(Box::new(move || j.set(Some(joiner.counter("x").unwrap()))))));
        x.release().unwrap();
        let mine = joined.take().expect("the joiner ran");
        assert_eq!(mine.count(), 5, "the value stayed");
        let e = owner.entry(mine.0.index()).expect("the entry stayed live");
        assert_eq!((e.name.as_str(), e.generation), ("x", mine.0.generation()));
        assert_eq!(owner.stats().unwrap().used, 1);
        assert!(owner.verify().unwrap().is_empty());
        let _ = std::fs::remove_file(path);
    }

    /// Two 16-byte printable names with the same `name_hash`: the second's last word is solved
    /// for from the first's hash (the mixing step is invertible), trying first words until it
    /// comes out printable.
    fn colliding_names() -> (String, String) {
        const K: u64 = 0x517C_C1B7_2722_0A95;
        let k_inv = (0..6).fold(K, |inv: u64, _| inv.wrapping_mul(2u64.wrapping_sub(K.wrapping_mul(inv))));
        let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
        let word = |s: &[u8]| u64::from_ne_bytes(s.try_into().unwrap());
        let a = "held_a__12345678";
        let target = mix(mix(16, word(&a.as_bytes()[..8])), word(&a.as_bytes()[8..]));
        for i in 0..100_000_000u64 {
            let first = format!("b{i:07}");
            let w2 = ((target.wrapping_mul(k_inv)) ^ mix(16, word(first.as_bytes())).rotate_left(5)).to_ne_bytes();
            if w2.iter().all(|b| (0x21..0x7f).contains(b)) {
                return (a.to_string(), format!("{first}{}", std::str::from_utf8(&w2).unwrap()));
            }
        }
        unreachable!("no printable collision found")
    }

    /// Held names whose hashes collide keep their own holds: each handle counts on its own
    /// name's entry, and releases drop the right one (mutants: `Holds` handing out or removing
    /// the other name's hold).
    #[test]
    fn held_names_with_the_same_hash_keep_their_own_holds() {
        let (a, b) = colliding_names();
        assert_ne!(a, b);
        assert_eq!(super::name_hash(a.as_bytes()), super::name_hash(b.as_bytes()));
        let (z, path) = test_zone("heldcollide");
        let (a1, b1) = (z.counter(&a).unwrap(), z.counter(&b).unwrap());
        assert_ne!(a1.0.index(), b1.0.index());
        a1.inc(1);
        b1.inc(2);
        let (a2, b2) = (z.counter(&a).unwrap(), z.counter(&b).unwrap());
        assert_eq!((a2.0.index(), b2.0.index()), (a1.0.index(), b1.0.index()), "another hold on the same entries");
        a1.release().unwrap();
        b1.release().unwrap();
        let live = |z: &Zone| {
            let mut names: Vec<(String, u64)> = z.metrics().map(|m| (m.name, m.bits)).collect();
            names.sort();
            names
        };
        let mut both = vec![(a.clone(), 1), (b.clone(), 2)];
        both.sort();
        assert_eq!(live(&z), both, "one hold left on each");
        b2.release().unwrap();
        assert_eq!(live(&z), [(a.clone(), 1)]);
        a2.release().unwrap();
        assert_eq!(live(&z), []);
        assert!(z.verify().unwrap().is_empty());
        let _ = std::fs::remove_file(path);
    }
}
