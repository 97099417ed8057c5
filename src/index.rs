//! The name index: a chained hash table over the metadata records, plus lock-free snapshots.
//!
//! Functions taking `&Locked` change the index and must run under the registration lock; the
//! caller brackets them with `begin`/`end` (the header's `dirty` flag) so that a holder killed
//! at any instruction leaves at worst a half-claimed or half-freed entry, which `repair` (run by
//! the next holder that sees `dirty`) reclaims. Bucket chains are derived data: `repair` rebuilds
//! them from the live entries. Readers never follow chains; they scan records and validate each
//! read with the entry's state and generation (a seqlock).

use std::sync::atomic::{Ordering, fence};

use crate::error::{Error, Result, Status};
use crate::layout::*;

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

/// Proof that the caller holds the registration lock (constructed only by `zone.rs`).
pub(crate) struct Locked<'a> {
    pub(crate) map: &'a Mapping,
}

fn bucket_of(map: &Mapping, hash: u32) -> u32 {
    hash % map.geometry().bucket_count
}

fn owner_word(slot: u32) -> (usize, u64) {
    ((slot / 64) as usize, 1u64 << (slot % 64))
}

impl Locked<'_> {
    /// Marks the index as being changed; a holder dying before `end` leaves the mark.
    pub fn begin(&self) {
        self.map.header().dirty.store(1, Ordering::Relaxed);
        fence(Ordering::Release);
    }

    pub fn end(&self) {
        self.map.header().dirty.store(0, Ordering::Release);
    }

    pub fn is_dirty(&self) -> bool {
        self.map.header().dirty.load(Ordering::Acquire) != 0
    }

    /// The live entry called `name`, walking at most `capacity` links.
    pub fn find(&self, name: &[u8], hash: u32) -> Option<u32> {
        let cap = self.map.geometry().capacity;
        let mut i = self.map.bucket(bucket_of(self.map, hash)).load(Ordering::Acquire);
        for _ in 0..cap {
            if i >= cap {
                return None;
            }
            let m = self.map.meta(i);
            if m.state.load(Ordering::Acquire) == STATE_LIVE && m.hash.load(Ordering::Relaxed) == hash && m.name_equals(name) {
                return Some(i);
            }
            i = m.next.load(Ordering::Acquire);
        }
        None
    }

    /// Claims a free entry for `name` owned by attach slot `owner`; `ZoneFull` if none is free.
    pub fn insert(&self, name: &[u8], hash: u32, kind: Kind, owner: u32) -> Result<(u32, u64)> {
        let h = self.map.header();
        let cap = self.map.geometry().capacity;
        let start = h.alloc_hint.load(Ordering::Relaxed) % cap;
        let free = (0..cap).map(|k| (start + k) % cap).find(|&i| self.map.meta(i).state.load(Ordering::Acquire) == STATE_FREE);
        let Some(i) = free else {
            return Err(Error::new(Status::SHM_ERR_ZONE_FULL, format!("zone full: all {cap} entries are in use")));
        };
        let m = self.map.meta(i);
        if h.next_generation.load(Ordering::Relaxed) == u64::MAX {
            return Err(Error::new(Status::SHM_ERR_CORRUPT, "the zone's registration counter is exhausted"));
        }
        self.begin();
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
        m.created_unix_ns.store(unix_now_ns(), Ordering::Relaxed);
        step();
        for w in &m.owners {
            w.store(0, Ordering::Relaxed);
        }
        let (w, bit) = owner_word(owner);
        m.owners[w].store(bit, Ordering::Relaxed);
        step();
        self.map.value(i).store(0, Ordering::Relaxed);
        // Link at the chain head: `next` first, so the chain is whole at every instant.
        let bucket = self.map.bucket(bucket_of(self.map, hash));
        m.next.store(bucket.load(Ordering::Relaxed), Ordering::Relaxed);
        step();
        bucket.store(i, Ordering::Release);
        step();
        m.state.store(STATE_LIVE, Ordering::Release);
        h.alloc_hint.store(i.wrapping_add(1) % cap, Ordering::Relaxed);
        self.end();
        Ok((i, generation))
    }

    pub fn add_owner(&self, i: u32, owner: u32) {
        let (w, bit) = owner_word(owner);
        self.map.meta(i).owners[w].fetch_or(bit, Ordering::AcqRel);
    }

    /// Drops `owner`'s claim on entry `i` (if it still has `generation`) and frees the entry when
    /// nobody claims it any more. Returns whether it was freed.
    pub fn drop_owner(&self, i: u32, generation: u64, owner: u32) -> bool {
        let m = self.map.meta(i);
        if m.state.load(Ordering::Acquire) != STATE_LIVE || m.generation.load(Ordering::Relaxed) != generation {
            return false;
        }
        let (w, bit) = owner_word(owner);
        m.owners[w].fetch_and(!bit, Ordering::AcqRel);
        if m.owner_bits() != [0; 4] {
            return false;
        }
        self.remove(i);
        true
    }

    /// Unlinks and frees live entry `i`.
    fn remove(&self, i: u32) {
        let m = self.map.meta(i);
        self.begin();
        m.state.store(STATE_FREEING, Ordering::Relaxed);
        fence(Ordering::Release);
        step();
        self.unlink(i, m.hash.load(Ordering::Relaxed));
        step();
        clear_entry(self.map, i);
        self.end();
    }

    fn unlink(&self, target: u32, hash: u32) {
        let cap = self.map.geometry().capacity;
        let next = self.map.meta(target).next.load(Ordering::Relaxed);
        let bucket = self.map.bucket(bucket_of(self.map, hash));
        let mut i = bucket.load(Ordering::Relaxed);
        if i == target {
            bucket.store(next, Ordering::Release);
            return;
        }
        for _ in 0..cap {
            if i >= cap {
                return;
            }
            let m = self.map.meta(i);
            let after = m.next.load(Ordering::Relaxed);
            if after == target {
                m.next.store(next, Ordering::Release);
                return;
            }
            i = after;
        }
    }

    /// Clears the owner bits of dead attach slots (`live` has a bit per live slot) and, if
    /// `reclaim`, frees live entries that no live process claims. Returns how many were freed.
    pub fn sweep_owners(&self, live: [u64; 4], reclaim: bool) -> u32 {
        let mut freed = 0;
        for i in 0..self.map.geometry().capacity {
            let m = self.map.meta(i);
            if m.state.load(Ordering::Acquire) != STATE_LIVE {
                continue;
            }
            let mut any = false;
            for (w, mask) in m.owners.iter().zip(live) {
                any |= w.fetch_and(mask, Ordering::AcqRel) & mask != 0;
            }
            if reclaim && !any {
                self.remove(i);
                freed += 1;
            }
        }
        freed
    }

    /// Recovers from a holder that died mid-change: frees half-claimed and half-freed entries and
    /// entries whose fields make no sense, drops duplicate names, and rebuilds every chain.
    /// Returns the number of entries reclaimed.
    pub fn repair(&self) -> u32 {
        let geo = *self.map.geometry();
        self.begin();
        for b in 0..geo.bucket_count {
            self.map.bucket(b).store(NIL, Ordering::Relaxed);
        }
        let mut reclaimed = 0;
        let mut name = [0u8; 256];
        for i in 0..geo.capacity {
            let m = self.map.meta(i);
            match m.state.load(Ordering::Acquire) {
                STATE_FREE => continue,
                STATE_LIVE => {}
                _ => {
                    clear_entry(self.map, i);
                    reclaimed += 1;
                    continue;
                }
            }
            let n = m.read_name(&mut name);
            let generation = m.generation.load(Ordering::Relaxed);
            let sane = Kind::from_u32(m.kind.load(Ordering::Relaxed)).is_some()
                && generation != 0
                && generation <= self.map.header().next_generation.load(Ordering::Relaxed)
                && m.name_len.load(Ordering::Relaxed) as usize <= NAME_MAX
                && check_name(&name[..n]).is_ok();
            let hash = fnv1a32(&name[..n]);
            if !sane || self.find(&name[..n], hash).is_some() {
                clear_entry(self.map, i);
                reclaimed += 1;
                continue;
            }
            m.hash.store(hash, Ordering::Relaxed);
            let bucket = self.map.bucket(bucket_of(self.map, hash));
            m.next.store(bucket.load(Ordering::Relaxed), Ordering::Relaxed);
            bucket.store(i, Ordering::Release);
        }
        self.end();
        reclaimed
    }
}

/// Resets entry `i` to FREE (the caller has made it unreachable or is rebuilding chains).
fn clear_entry(map: &Mapping, i: u32) {
    let m = map.meta(i);
    if m.state.load(Ordering::Relaxed) == STATE_LIVE {
        m.state.store(STATE_FREEING, Ordering::Relaxed);
        fence(Ordering::Release);
    }
    m.kind.store(0, Ordering::Relaxed);
    m.hash.store(0, Ordering::Relaxed);
    m.name_len.store(0, Ordering::Relaxed);
    m.write_name(&[]);
    m.created_unix_ns.store(0, Ordering::Relaxed);
    step();
    m.next.store(NIL, Ordering::Relaxed);
    for w in &m.owners {
        w.store(0, Ordering::Relaxed);
    }
    map.value(i).store(0, Ordering::Relaxed);
    m.state.store(STATE_FREE, Ordering::Release);
}

pub fn unix_now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// A metric's value, decoded by its kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// Counters and integer gauges.
    Int(i64),
    /// Float gauges.
    Float(f64),
}

impl Value {
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(v) => v as f64,
            Value::Float(v) => v,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
        }
    }
}

/// A consistent copy of one live entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub index: u32,
    pub kind: Kind,
    /// Registration id: differs for every registration that reuses an entry.
    pub generation: u64,
    /// When the metric was registered, nanoseconds since the Unix epoch (0 if unknown).
    pub created_unix_ns: u64,
    pub name: String,
    /// Raw 64 bits: an i64 for counters and gauges, f64 bits for float gauges.
    pub bits: u64,
}

impl Snapshot {
    pub fn value(&self) -> Value {
        match self.kind {
            Kind::GaugeF64 => Value::Float(f64::from_bits(self.bits)),
            Kind::Counter | Kind::Gauge => Value::Int(self.bits as i64),
        }
    }
}

/// Reads entry `i` without any lock; None if it is not live (or keeps changing under us).
pub fn snapshot(map: &Mapping, i: u32) -> Option<Snapshot> {
    let m = map.meta(i);
    let mut name = [0u8; 256];
    for _ in 0..16 {
        let state = m.state.load(Ordering::Acquire);
        if state != STATE_LIVE {
            return None;
        }
        let generation = m.generation.load(Ordering::Relaxed);
        let kind = m.kind.load(Ordering::Relaxed);
        let created_unix_ns = m.created_unix_ns.load(Ordering::Relaxed);
        let n = m.read_name(&mut name);
        let bits = map.value(i).load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if m.state.load(Ordering::Relaxed) != STATE_LIVE || m.generation.load(Ordering::Relaxed) != generation {
            continue;
        }
        let (Some(kind), Ok(())) = (Kind::from_u32(kind), check_name(&name[..n])) else {
            return None; // damaged entry: verify reports it, readers skip it
        };
        let name = String::from_utf8_lossy(&name[..n]).into_owned(); // valid: checked above
        return Some(Snapshot { index: i, kind, generation, created_unix_ns, name, bits });
    }
    None
}

/// Checks the index and returns every problem found (empty = healthy). With `locked`, the
/// caller holds the registration lock, so transient states are damage rather than progress.
pub fn verify(map: &Mapping, locked: bool) -> Vec<String> {
    let geo = *map.geometry();
    let h = map.header();
    let mut problems = Vec::new();
    if locked && h.dirty.load(Ordering::Acquire) != 0 {
        problems.push("a registration was interrupted (repair reclaims it)".to_string());
    }
    let mut reached = vec![false; geo.capacity as usize];
    let mut names = std::collections::HashSet::new();
    let max_generation = h.next_generation.load(Ordering::Acquire);
    for b in 0..geo.bucket_count {
        let mut i = map.bucket(b).load(Ordering::Acquire);
        let mut steps = 0;
        while i != NIL {
            if i >= geo.capacity {
                problems.push(format!("bucket {b}: link to entry {i} is out of range"));
                break;
            }
            if std::mem::replace(&mut reached[i as usize], true) || steps > geo.capacity {
                problems.push(format!("bucket {b}: chain loops at entry {i}"));
                break;
            }
            steps += 1;
            let m = map.meta(i);
            let state = m.state.load(Ordering::Acquire);
            if state != STATE_LIVE && (locked || state == STATE_FREE) {
                problems.push(format!("entry {i}: linked in bucket {b} but in state {state}"));
            } else if state == STATE_LIVE && bucket_of(map, m.hash.load(Ordering::Relaxed)) != b {
                problems.push(format!("entry {i}: linked in bucket {b}, which its hash does not select"));
            }
            i = m.next.load(Ordering::Acquire);
        }
    }
    for i in 0..geo.capacity {
        let m = map.meta(i);
        match m.state.load(Ordering::Acquire) {
            STATE_FREE => continue,
            STATE_LIVE => {}
            s @ (STATE_CLAIMING | STATE_FREEING) => {
                if locked {
                    problems.push(format!("entry {i}: left in transient state {s}"));
                }
                continue;
            }
            s => {
                problems.push(format!("entry {i}: unknown state {s}"));
                continue;
            }
        }
        let Some(snap) = snapshot(map, i) else {
            problems.push(format!("entry {i}: live but unreadable (bad kind or name)"));
            continue;
        };
        if m.name_len.load(Ordering::Relaxed) as usize != snap.name.len() || check_name(snap.name.as_bytes()).is_err() {
            problems.push(format!("entry {i}: bad name {:?}", snap.name));
        }
        if m.hash.load(Ordering::Relaxed) != fnv1a32(snap.name.as_bytes()) {
            problems.push(format!("entry {i}: stored hash does not match its name"));
        }
        if snap.generation == 0 || snap.generation > max_generation {
            problems.push(format!("entry {i}: generation {} out of range", snap.generation));
        }
        if locked && !reached[i as usize] {
            problems.push(format!("entry {i} ({:?}): live but not reachable from its bucket", snap.name));
        }
        if !names.insert(snap.name.clone()) {
            problems.push(format!("entry {i}: duplicate name {:?}", snap.name));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Zone};

    fn zone(tag: &str) -> (Zone, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("shmm-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let z = Zone::open_path(&path, &OpenOptions { create: true, size: 64 << 10, ..Default::default() }).unwrap();
        (z, path)
    }

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a32(b""), 0x811C9DC5);
        assert_eq!(fnv1a32(b"a"), 0xE40C292C);
        assert_eq!(fnv1a32(b"foobar"), 0xBF9CF968);
        assert_eq!(fnv1a32(b"downstream.proxy.global.request_total"), 0x8D984132);
    }

    /// A holder that dies at any step of an insert or a remove leaves an index that the next
    /// holder repairs: verify is clean, survivors keep their values, and the name works again.
    #[test]
    fn a_crash_at_every_step_is_repaired() {
        let (z, path) = zone("crash");
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
                assert!(!z.verify().unwrap().is_empty(), "step {k}: damage is visible before repair");
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
}
