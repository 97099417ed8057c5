//! Lock-free reading of a zone: name lookup, consistent snapshots of entries, and verify.
//!
//! Readers never take the registration lock. Every read of an entry is validated with its state
//! and generation (a seqlock): writers move `state` away from LIVE before they change a field and
//! every reuse takes a new generation, so a validated read is one registration's data.

use std::sync::atomic::{Ordering, fence};

use crate::index::{Kind, check_name, fnv1a32};
use crate::layout::*;

/// Records a scan must look at: those below the high-water mark (1.0 zones have none).
pub fn scan_end(map: &Mapping) -> u32 {
    let g = map.geometry();
    if g.legacy { g.capacity } else { map.header().high_water.load(Ordering::Acquire).min(g.capacity) }
}

/// A live entry found by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub index: u32,
    pub generation: u64,
    pub kind: u32,
}

/// Walks `name`'s bucket chain for at most `max_steps` links. Without the registration lock the
/// chain may change under the walk: a changing entry or a walk cut short gives None (the caller
/// then asks again under the lock), never another name's entry.
pub fn lookup(map: &Mapping, name: &[u8], hash: u32, max_steps: u32) -> Option<Found> {
    let g = map.geometry();
    let mut link = map.bucket(hash % g.bucket_count).load(Ordering::Acquire);
    for _ in 0..max_steps {
        let i = g.decode_link(link).filter(|&i| i < g.capacity)?;
        let m = map.meta(i);
        let state = m.state.load(Ordering::Acquire);
        let generation = m.generation.load(Ordering::Relaxed);
        if state == STATE_LIVE && m.hash.load(Ordering::Relaxed) == hash && m.name_equals(name) {
            let kind = m.kind.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            let stable = m.state.load(Ordering::Relaxed) == STATE_LIVE && m.generation.load(Ordering::Relaxed) == generation;
            return stable.then_some(Found { index: i, generation, kind });
        }
        link = m.next.load(Ordering::Acquire);
    }
    None
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
        Value::decode(self.kind, self.bits)
    }
}

impl Value {
    /// A value slot's 64 bits as the kind stores them.
    pub fn decode(kind: Kind, bits: u64) -> Value {
        match kind {
            Kind::GaugeF64 => Value::Float(f64::from_bits(bits)),
            Kind::Counter | Kind::Gauge => Value::Int(bits as i64),
        }
    }
}

/// One live entry read consistently, its name left in the caller's buffer (no allocation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawSnapshot {
    pub index: u32,
    pub kind: Kind,
    pub generation: u64,
    pub created_unix_ns: u64,
    pub bits: u64,
    /// Bytes of the name at the start of the buffer: valid UTF-8 (checked).
    pub name_len: usize,
}

/// Reads entry `i` without any lock into `name`; None if it is not live (or keeps changing
/// under us, or is damaged: verify reports it, readers skip it).
pub fn read_entry(map: &Mapping, i: u32, name: &mut [u8; 256]) -> Option<RawSnapshot> {
    let m = map.meta(i);
    let legacy = map.geometry().legacy;
    for _ in 0..64 {
        let state = m.state.load(Ordering::Acquire);
        if state == STATE_FREEING {
            // Being freed, or a release that backs off because a joiner arrived (it restores
            // LIVE at once): look again shortly rather than skip a metric that stays.
            std::hint::spin_loop();
            continue;
        }
        if state != STATE_LIVE {
            return None;
        }
        let generation = m.generation.load(Ordering::Relaxed);
        let kind = m.kind.load(Ordering::Relaxed);
        let created_unix_ns = if legacy { 0 } else { m.created_unix_ns.load(Ordering::Relaxed) };
        #[cfg(test)]
        tests::MID_SNAPSHOT.with(|h| h.take().map(|f| f()));
        let name_len = m.read_name(name);
        let bits = map.value(i).load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if m.state.load(Ordering::Relaxed) != STATE_LIVE || m.generation.load(Ordering::Relaxed) != generation {
            continue;
        }
        let (Some(kind), Ok(())) = (Kind::from_u32(kind), check_name(&name[..name_len])) else {
            return None;
        };
        return Some(RawSnapshot { index: i, kind, generation, created_unix_ns, bits, name_len });
    }
    None
}

/// Reads entry `i` without any lock; None if it is not live (or keeps changing under us).
pub fn snapshot(map: &Mapping, i: u32) -> Option<Snapshot> {
    let mut name = [0u8; 256];
    let r = read_entry(map, i, &mut name)?;
    let name = std::str::from_utf8(&name[..r.name_len]).ok()?.to_owned(); // checked: never fails
    Some(Snapshot { index: r.index, kind: r.kind, generation: r.generation, created_unix_ns: r.created_unix_ns, name, bits: r.bits })
}

/// Entries below the high-water mark by state.
pub struct Occupancy {
    pub used: u32,
    pub free: u32,
    /// Live entries no writer for which `owner_alive` says yes holds.
    pub orphaned: u32,
}

/// Counts used, free and orphaned entries without a lock: a pass up to the high-water mark.
pub fn occupancy(map: &Mapping, owner_alive: &mut impl FnMut(u32) -> bool) -> Occupancy {
    let mut o = Occupancy { used: 0, free: 0, orphaned: 0 };
    for i in 0..scan_end(map) {
        match map.meta(i).state.load(Ordering::Acquire) {
            STATE_FREE => o.free += 1,
            STATE_LIVE => {
                o.used += 1;
                if !crate::index::owner_slots(map, i).any(&mut *owner_alive) {
                    o.orphaned += 1;
                }
            }
            _ => {}
        }
    }
    o
}

/// Checks the index and returns every problem found (empty = healthy). With `locked`, the
/// caller holds the registration lock, so transient states are damage rather than progress.
pub fn verify(map: &Mapping, locked: bool) -> Vec<String> {
    let geo = *map.geometry();
    let h = map.header();
    let end = scan_end(map);
    let mut problems = Vec::new();
    if locked && h.dirty.load(Ordering::Acquire) != 0 {
        problems.push("a registration was interrupted (repair reclaims it)".to_string());
    }
    if !geo.legacy && h.high_water.load(Ordering::Acquire) > geo.capacity {
        problems.push(format!("high-water mark {} is past the capacity {}", h.high_water.load(Ordering::Relaxed), geo.capacity));
    }
    let mut reached = vec![false; geo.capacity as usize];
    let mut names = std::collections::HashSet::new();
    let max_generation = h.next_generation.load(Ordering::Acquire);
    for b in 0..geo.bucket_count {
        let mut link = map.bucket(b).load(Ordering::Acquire);
        let mut steps = 0;
        while let Some(i) = geo.decode_link(link) {
            if i >= end {
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
            } else if state == STATE_LIVE && m.hash.load(Ordering::Relaxed) % geo.bucket_count != b {
                problems.push(format!("entry {i}: linked in bucket {b}, which its hash does not select"));
            }
            link = m.next.load(Ordering::Acquire);
        }
    }
    if locked && !geo.legacy {
        verify_free_list(map, end, &mut reached, &mut problems);
    }
    for i in 0..end {
        let m = map.meta(i);
        match m.state.load(Ordering::Acquire) {
            STATE_FREE => {
                if locked && !geo.legacy && !reached[i as usize] {
                    problems.push(format!("entry {i}: free but on no free list"));
                }
                continue;
            }
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

/// The free list holds every FREE entry below the high-water mark, once; marks them `reached`.
fn verify_free_list(map: &Mapping, end: u32, reached: &mut [bool], problems: &mut Vec<String>) {
    let geo = map.geometry();
    let mut link = map.header().free_head.load(Ordering::Acquire);
    let mut steps = 0u32;
    while let Some(i) = geo.decode_link(link) {
        if i >= end || steps > end {
            problems.push(format!("free list: link to entry {i} is out of range or loops"));
            return;
        }
        steps += 1;
        let m = map.meta(i);
        if m.state.load(Ordering::Acquire) != STATE_FREE || std::mem::replace(&mut reached[i as usize], true) {
            problems.push(format!("free list: entry {i} is not free or is listed twice"));
            return;
        }
        link = m.next.load(Ordering::Acquire);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use crate::index::Kind;
    use crate::zone::test_zone;

    use super::Value;

    thread_local! {
        /// Runs in the middle of a snapshot's copy, after the kind and before the name (a reader
        /// preempted at the worst moment).
        pub static MID_SNAPSHOT: Cell<Option<Box<dyn FnOnce()>>> = const { Cell::new(None) };
    }

    /// The entry a reader is copying is freed and reused for another metric in the middle of
    /// the copy: the re-check of state and generation must see it and copy again, never return
    /// the first metric's kind with the second one's name.
    #[test]
    fn a_snapshot_torn_by_a_reuse_of_its_entry_copies_again() {
        let (z, path) = test_zone("torn");
        let first = z.counter("first_metric_a_counter").unwrap();
        first.inc(3);
        let i = first.0.index();
        let z2 = z.clone();
        MID_SNAPSHOT.with(|h| {
            h.set(Some(Box::new(move || {
                first.release().unwrap(); // its only holder: freed
                let second = z2.gauge_f64("second").unwrap(); // the free entry is reused at once
                assert_eq!(second.0.index(), i);
                second.update(1.5);
                std::mem::forget(second);
            })))
        });
        let s = z.entry(i).expect("the entry is live");
        assert!(MID_SNAPSHOT.with(|h| h.take()).is_none(), "the hook ran");
        assert_eq!((s.name.as_str(), s.kind, s.value()), ("second", Kind::GaugeF64, Value::Float(1.5)));
        let _ = std::fs::remove_file(path);
    }
}
