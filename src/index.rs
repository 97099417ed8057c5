//! The name index under the registration lock: insert, remove, the free list, orphan reclaim,
//! cleaning dead writers' owner bits, and repair.
//!
//! Every change is bracketed by the header's `dirty` flag (`begin`/`end`), so a holder killed at
//! any instruction leaves at worst a half-claimed or half-freed entry, which `repair` (run by the
//! next holder that sees `dirty`) settles. Bucket chains and the free list are derived data:
//! `repair` rebuilds both from the entries' states. Readers never need the lock (`read.rs`).

use std::sync::atomic::{Ordering, fence};

use crate::error::{Error, Result, Status};
use crate::layout::*;
use crate::lock::Locked;
use crate::read::lookup;

/// Metric kinds as stored in the zone (and exposed to C as `SHM_KIND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Counter = 1,
    Gauge = 2,
    GaugeF64 = 3,
}

impl Kind {
    pub fn from_u32(k: u32) -> Option<Kind> {
        match k {
            1 => Some(Kind::Counter),
            2 => Some(Kind::Gauge),
            3 => Some(Kind::GaugeF64),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::GaugeF64 => "gauge_f64",
        }
    }
}

pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5u32, |h, b| (h ^ *b as u32).wrapping_mul(0x0100_0193))
}

/// Checks a metric name: 1..=NAME_MAX bytes of UTF-8 without NUL. Never truncates.
pub fn check_name(name: &[u8]) -> Result<()> {
    // The common case in one vectorisable pass: printable-or-control ASCII without NUL.
    if (1..=NAME_MAX).contains(&name.len()) && name.iter().fold(true, |ok, &b| ok & (b.wrapping_sub(1) < 0x7F)) {
        return Ok(());
    }
    if name.is_empty() {
        return Err(Error::new(Status::SHM_ERR_INVALID_NAME, "metric name is empty"));
    }
    if name.len() > NAME_MAX {
        let msg = format!("metric name is {} bytes; the limit is {NAME_MAX}", name.len());
        return Err(Error::new(Status::SHM_ERR_NAME_TOO_LONG, msg));
    }
    if name.contains(&0) {
        return Err(Error::new(Status::SHM_ERR_INVALID_NAME, "metric name contains a NUL byte"));
    }
    if std::str::from_utf8(name).is_err() {
        return Err(Error::new(Status::SHM_ERR_INVALID_NAME, "metric name is not valid UTF-8"));
    }
    Ok(())
}

#[cfg(test)]
thread_local! {
    /// Test failpoint: crash (panic) after this many more steps of an index change.
    pub static CRASH_AFTER: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

#[cfg(test)]
thread_local! {
    /// Test hook: runs after a release found no other owner and before it marks the entry
    /// FREEING (a joiner arriving at the worst moment).
    pub static BEFORE_FREEING: std::cell::Cell<Option<Box<dyn FnOnce()>>> = const { std::cell::Cell::new(None) };
}

/// A point inside an index change where a killed holder may stop; a no-op outside tests.
#[inline(always)]
fn step() {
    #[cfg(test)]
    CRASH_AFTER.with(|c| match c.get() {
        Some(0) => {
            c.set(None);
            panic!("injected crash");
        }
        Some(n) => c.set(Some(n - 1)),
        None => {}
    });
}

/// Records reserved (fallocated) at a time as the high-water mark grows.
const RESERVE_CHUNK: u32 = 1024;

pub fn owner_bit(slot: u32) -> (usize, u64) {
    ((slot / 64) as usize, 1u64 << (slot % 64))
}

/// Sets writer slot `slot`'s owner bit on entry `i`. Sequentially consistent: a joiner sets its
/// bit and then re-reads the entry's state, a remover sets the state and then re-reads the bits,
/// so one of them always sees the other (see `free_if_unowned`).
pub fn set_owner(map: &Mapping, i: u32, slot: u32) {
    let (w, bit) = owner_bit(slot);
    map.owners(i)[w].fetch_or(bit, Ordering::SeqCst);
}

pub fn clear_owner(map: &Mapping, i: u32, slot: u32) {
    let (w, bit) = owner_bit(slot);
    map.owners(i)[w].fetch_and(!bit, Ordering::SeqCst);
}

/// The writer slots whose bit is set on entry `i`.
pub fn owner_slots(map: &Mapping, i: u32) -> impl Iterator<Item = u32> + '_ {
    map.owners(i).iter().enumerate().flat_map(|(w, word)| {
        let mut bits = word.load(Ordering::SeqCst);
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                w as u32 * 64 + b
            })
        })
    })
}

impl Locked<'_> {
    /// Marks the index as being changed; a holder dying before `end` leaves the mark.
    fn begin(&self) {
        self.map().header().dirty.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    fn end(&self) {
        self.map().header().dirty.store(0, Ordering::Release);
    }

    pub fn is_dirty(&self) -> bool {
        self.map().header().dirty.load(Ordering::Acquire) != 0
    }

    /// The live entry called `name` (exact: nothing changes the chains while we hold the lock).
    pub fn find(&self, name: &[u8], hash: u32) -> Option<crate::read::Found> {
        lookup(self.map(), name, hash, self.map().geometry().capacity)
    }

    /// Claims a free entry for `name`, owned by writer slot `owner`; ZoneFull if none is free.
    pub fn insert(&self, name: &[u8], hash: u32, kind: Kind, owner: u32) -> Result<(u32, u64)> {
        let map = self.map();
        let h = map.header();
        if h.next_generation.load(Ordering::Relaxed) == u64::MAX {
            return Err(Error::new(Status::SHM_ERR_CORRUPT, "the zone's registration counter is exhausted"));
        }
        self.begin();
        let i = match self.claim_record() {
            Ok(i) => i,
            Err(e) => {
                self.end();
                return Err(e);
            }
        };
        let m = map.meta(i);
        m.state.store(STATE_CLAIMING, Ordering::Relaxed);
        step();
        fence(Ordering::Release);
        let generation = h.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        m.generation.store(generation, Ordering::Relaxed);
        step();
        m.kind.store(kind as u32, Ordering::Relaxed);
        m.hash.store(hash, Ordering::Relaxed);
        m.name_len.store(name.len() as u32, Ordering::Relaxed);
        m.write_name(name);
        m.created_unix_ns.store(crate::sys::unix_ns(), Ordering::Relaxed);
        step();
        for w in map.owners(i) {
            w.store(0, Ordering::Relaxed); // stray bits of failed joiners
        }
        set_owner(map, i, owner);
        step();
        map.value(i).store(0, Ordering::Relaxed);
        // Link at the chain head: `next` first, so the chain is whole at every instant.
        let bucket = map.bucket(hash % map.geometry().bucket_count);
        m.next.store(bucket.load(Ordering::Relaxed), Ordering::Relaxed);
        step();
        bucket.store(i + 1, Ordering::Release);
        step();
        m.state.store(STATE_LIVE, Ordering::Release);
        self.end();
        Ok((i, generation))
    }

    /// Takes a FREE record off the free list, or the next record above the high-water mark
    /// (reserving its pages). Inside `begin`/`end`.
    fn claim_record(&self) -> Result<u32> {
        let map = self.map();
        let (h, g) = (map.header(), map.geometry());
        let high = h.high_water.load(Ordering::Relaxed).min(g.capacity);
        if let Some(i) = g.decode_link(h.free_head.load(Ordering::Relaxed)) {
            if i < high && map.meta(i).state.load(Ordering::Acquire) == STATE_FREE {
                h.free_head.store(map.meta(i).next.load(Ordering::Relaxed), Ordering::Relaxed);
                step();
                return Ok(i);
            }
            // A free list that points at a used record was damaged: rebuild it from the states.
            self.rebuild_free_list();
            return self.claim_record();
        }
        if high == g.capacity {
            return Err(Error::new(Status::SHM_ERR_ZONE_FULL, format!("zone full: all {} entries are in use", g.capacity)));
        }
        self.reserve(high + 1)?;
        h.high_water.store(high + 1, Ordering::Release);
        Ok(high)
    }

    /// Makes sure the pages of records `0..upto` are allocated, so a full tmpfs is an error now
    /// (`SHM_ERR_NO_SPACE`) rather than a SIGBUS on first touch.
    fn reserve(&self, upto: u32) -> Result<()> {
        let map = self.map();
        let h = map.header();
        let have = h.reserved_records.load(Ordering::Relaxed);
        if upto <= have {
            return Ok(());
        }
        let want = upto.div_ceil(RESERVE_CHUNK).saturating_mul(RESERVE_CHUNK).min(map.geometry().capacity);
        for (offset, len) in map.record_ranges(have, want) {
            crate::sys::allocate_range(self.file(), offset, len).map_err(|e| Error::io("reserve zone pages", e))?;
        }
        h.reserved_records.store(want, Ordering::Relaxed);
        Ok(())
    }

    /// Frees live entry `i` (registered as `generation`) unless a writer for which `live` says
    /// yes owns it. A lock-free joiner may set its bit at any moment: we set FREEING, then
    /// re-read the bits, and give up if a new one appeared (the joiner, having set its bit
    /// first, then sees FREEING and backs off, or we see its bit). Returns whether it freed.
    pub fn free_if_unowned(&self, i: u32, generation: u64, live: &mut impl FnMut(u32) -> bool) -> bool {
        let map = self.map();
        let m = map.meta(i);
        if m.state.load(Ordering::Acquire) != STATE_LIVE || m.generation.load(Ordering::Relaxed) != generation {
            return false;
        }
        let mut before = [0u64; (MAX_WRITERS / 64) as usize];
        for (b, w) in before.iter_mut().zip(map.owners(i)) {
            *b = w.load(Ordering::SeqCst);
        }
        if owner_slots(map, i).any(&mut *live) {
            return false;
        }
        #[cfg(test)]
        BEFORE_FREEING.with(|h| h.take().map(|f| f()));
        self.begin();
        m.state.store(STATE_FREEING, Ordering::SeqCst);
        let joined = map.owners(i).iter().zip(before).any(|(w, b)| w.load(Ordering::SeqCst) & !b != 0);
        if joined {
            m.state.store(STATE_LIVE, Ordering::Release);
            self.end();
            return false;
        }
        step();
        self.unlink(i, m.hash.load(Ordering::Relaxed));
        step();
        self.clear_entry(i);
        self.end();
        true
    }

    fn unlink(&self, target: u32, hash: u32) {
        let map = self.map();
        let g = map.geometry();
        let next = map.meta(target).next.load(Ordering::Relaxed);
        let bucket = map.bucket(hash % g.bucket_count);
        let mut link = bucket.load(Ordering::Relaxed);
        if link == target + 1 {
            bucket.store(next, Ordering::Release);
            return;
        }
        for _ in 0..g.capacity {
            let Some(i) = g.decode_link(link).filter(|&i| i < g.capacity) else { return };
            let m = map.meta(i);
            link = m.next.load(Ordering::Relaxed);
            if link == target + 1 {
                m.next.store(next, Ordering::Release);
                return;
            }
        }
    }

    /// Resets entry `i` to FREE and pushes it on the free list (the caller has made it
    /// unreachable or is rebuilding the index).
    fn clear_entry(&self, i: u32) {
        let map = self.map();
        let m = map.meta(i);
        if m.state.load(Ordering::Relaxed) == STATE_LIVE {
            m.state.store(STATE_FREEING, Ordering::Relaxed);
            fence(Ordering::Release);
        }
        m.kind.store(0, Ordering::Relaxed);
        m.hash.store(0, Ordering::Relaxed);
        m.name_len.store(0, Ordering::Relaxed);
        m.clear_name();
        m.created_unix_ns.store(0, Ordering::Relaxed);
        step();
        for w in map.owners(i) {
            w.store(0, Ordering::Relaxed);
        }
        map.value(i).store(0, Ordering::Relaxed);
        let h = map.header();
        m.next.store(h.free_head.load(Ordering::Relaxed), Ordering::Relaxed);
        m.state.store(STATE_FREE, Ordering::Release);
        h.free_head.store(i + 1, Ordering::Relaxed);
    }

    /// Clears the owner bits of writer slots in `dead` (a bit per slot) from every live entry.
    pub fn clear_dead_owners(&self, dead: &[u64]) {
        let map = self.map();
        for i in 0..crate::read::scan_end(map) {
            if map.meta(i).state.load(Ordering::Acquire) == STATE_LIVE {
                for (w, d) in map.owners(i).iter().zip(dead) {
                    if *d != 0 {
                        w.fetch_and(!d, Ordering::SeqCst);
                    }
                }
            }
        }
    }

    /// Frees every live entry that no live writer owns (orphans of exited processes). Returns
    /// how many it freed.
    pub fn reclaim_orphans(&self, live: &mut impl FnMut(u32) -> bool) -> u32 {
        let map = self.map();
        let mut freed = 0;
        for i in 0..crate::read::scan_end(map) {
            let m = map.meta(i);
            if m.state.load(Ordering::Acquire) == STATE_LIVE && self.free_if_unowned(i, m.generation.load(Ordering::Relaxed), live) {
                freed += 1;
            }
        }
        freed
    }

    fn rebuild_free_list(&self) {
        let map = self.map();
        let h = map.header();
        h.free_head.store(0, Ordering::Relaxed);
        for i in (0..crate::read::scan_end(map)).rev() {
            let m = map.meta(i);
            if m.state.load(Ordering::Acquire) == STATE_FREE {
                m.next.store(h.free_head.load(Ordering::Relaxed), Ordering::Relaxed);
                h.free_head.store(i + 1, Ordering::Relaxed);
            }
        }
    }

    /// Recovers from a holder that died mid-change: settles half-claimed entries (freed) and
    /// half-freed ones (kept if a live writer still owns them: a joiner may have set its bit
    /// just before the remover died), frees entries whose fields make no sense and duplicate
    /// names, and rebuilds every chain and the free list. Returns the entries reclaimed.
    pub fn repair(&self, live: &mut impl FnMut(u32) -> bool) -> u32 {
        let map = self.map();
        let geo = *map.geometry();
        let h = map.header();
        self.begin();
        for b in 0..geo.bucket_count {
            map.bucket(b).store(0, Ordering::Relaxed);
        }
        let end = h.high_water.load(Ordering::Relaxed).min(geo.capacity).min(h.reserved_records.load(Ordering::Relaxed));
        h.high_water.store(end, Ordering::Relaxed);
        let mut reclaimed = 0;
        let mut name = [0u8; 256];
        for i in 0..end {
            let m = map.meta(i);
            match m.state.load(Ordering::Acquire) {
                STATE_FREE => continue,
                STATE_LIVE => {}
                STATE_FREEING if owner_slots(map, i).any(&mut *live) => m.state.store(STATE_LIVE, Ordering::Release),
                _ => {
                    self.clear_entry(i);
                    reclaimed += 1;
                    continue;
                }
            }
            let n = m.read_name(&mut name);
            let generation = m.generation.load(Ordering::Relaxed);
            let sane = Kind::from_u32(m.kind.load(Ordering::Relaxed)).is_some()
                && generation != 0
                && generation <= h.next_generation.load(Ordering::Relaxed)
                && m.name_len.load(Ordering::Relaxed) as usize <= NAME_MAX
                && check_name(&name[..n]).is_ok();
            let hash = fnv1a32(&name[..n]);
            if !sane || self.find(&name[..n], hash).is_some() {
                self.clear_entry(i);
                reclaimed += 1;
                continue;
            }
            m.hash.store(hash, Ordering::Relaxed);
            let bucket = map.bucket(hash % geo.bucket_count);
            m.next.store(bucket.load(Ordering::Relaxed), Ordering::Relaxed);
            bucket.store(i + 1, Ordering::Release);
        }
        self.rebuild_free_list();
        self.end();
        reclaimed
    }
}
