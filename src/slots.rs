//! Writer slots: every process attached for writing claims one, proves it is alive by holding
//! the kernel (OFD) lock on byte `1 + slot` of the zone file, and marks the entries it holds with
//! the slot's owner bit.
//!
//! Claiming is lock-free (a non-blocking kernel lock plus a compare-and-swap of the slot's state)
//! and touches only the slot's record, so attaching costs the same in an empty zone and in one
//! with millions of metrics. A slot whose process died keeps its owner bits until a registration
//! lock holder cleans it (`clean_dead`, run when no FREE slot is left or the zone is full), so
//! only a FREE slot is ever claimed: a new process never inherits a dead one's claims.
//!
//! A forked child gets a slot of its own, claimed by its parent just before the fork, that
//! names the parent (`AttachRecord::parent`): until the child sets its own bits on what it
//! inherited ("materializes"), the parent's bits stand for the child's holds, so the parent's
//! slot counts as alive while such a child lives (`Liveness::effective`).

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::layout::*;
use crate::lock::Holder;
use crate::sys;

/// Byte of the zone file whose kernel lock proves slot `s` alive (byte 0 is historical: the
/// 1.0 registration lock).
fn lock_byte(s: u32) -> u64 {
    1 + s as u64
}

/// Claims a FREE slot through `file` (an open file description of this attachment's own) for
/// process `pid`; `parent` names the forking process for a child's slot. None when every slot is
/// taken (alive, or dead and not yet cleaned).
pub(crate) fn try_claim(map: &Mapping, file: &File, pid: u32, parent: Option<Holder>) -> Result<Option<Holder>> {
    let slots = map.geometry().slots;
    let start = pid % slots;
    for k in 0..slots {
        let s = (start + k) % slots;
        let rec = map.attach_record(s);
        if rec.state.load(Ordering::Acquire) != SLOT_FREE {
            continue;
        }
        if !sys::try_lock(file, lock_byte(s)).map_err(|e| Error::io("claim a writer slot", e))? {
            continue;
        }
        if rec.state.compare_exchange(SLOT_FREE, SLOT_CLAIMED, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            let _ = sys::unlock(file, lock_byte(s));
            continue;
        }
        let epoch = rec.epoch.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        rec.pid.store(pid, Ordering::Relaxed);
        rec.parent.store(parent.map_or(0, |p| p.slot + 1), Ordering::Relaxed);
        rec.parent_epoch.store(parent.map_or(0, |p| p.epoch), Ordering::Relaxed);
        rec.attached_unix_ns.store(sys::unix_ns(), Ordering::Relaxed);
        return Ok(Some(Holder { slot: s, epoch }));
    }
    Ok(None)
}

/// Gives a slot back at a clean detach: the caller has cleared every owner bit it set.
pub(crate) fn release_clean(map: &Mapping, me: Holder) {
    let rec = map.attach_record(me.slot);
    if rec.epoch.load(Ordering::Acquire) == me.epoch {
        rec.parent.store(0, Ordering::Relaxed);
        rec.state.store(SLOT_FREE, Ordering::Release);
    }
}

/// Whether `child` still stands on `parent`'s bits (it has not materialized and is the same
/// attachment as when it was forked).
pub(crate) fn linked(map: &Mapping, parent: Holder, child: Holder) -> bool {
    let rec = map.attach_record(child.slot);
    rec.state.load(Ordering::Acquire) == SLOT_CLAIMED
        && rec.epoch.load(Ordering::Acquire) == child.epoch
        && rec.parent.load(Ordering::Acquire) == parent.slot + 1
        && rec.parent_epoch.load(Ordering::Acquire) == parent.epoch
}

/// Who is alive, asked of the kernel once per slot per operation.
pub(crate) struct Liveness<'a> {
    map: &'a Mapping,
    file: &'a File,
    own: Option<u32>,
    alive: HashMap<u32, bool>,
    effective: HashMap<u32, bool>,
}

impl<'a> Liveness<'a> {
    pub fn new(map: &'a Mapping, file: &'a File, own: Option<u32>) -> Liveness<'a> {
        Liveness { map, file, own, alive: HashMap::new(), effective: HashMap::new() }
    }

    /// Slot `s`'s process holds its kernel lock (we are alive by definition: our own lock does
    /// not show as a conflict to our own descriptor).
    pub fn alive(&mut self, s: u32) -> bool {
        if Some(s) == self.own {
            return true;
        }
        if let Some(&a) = self.alive.get(&s) {
            return a;
        }
        // An error probing counts as alive: never free what might still be held.
        let a = sys::is_locked_by_other(self.file, lock_byte(s)).unwrap_or(true);
        self.alive.insert(s, a);
        a
    }

    /// Slot `s`'s owner bits still stand for a live process: its own, or a forked descendant's
    /// that has not materialized yet.
    pub fn effective(&mut self, s: u32) -> bool {
        if s >= self.map.geometry().slots {
            return false;
        }
        if let Some(&e) = self.effective.get(&s) {
            return e;
        }
        self.effective.insert(s, false); // a cycle of links proves nothing
        let e = self.alive(s) || (!self.map.geometry().legacy && self.has_effective_child(s));
        self.effective.insert(s, e);
        e
    }

    fn has_effective_child(&mut self, s: u32) -> bool {
        let epoch = self.map.attach_record(s).epoch.load(Ordering::Acquire);
        let parent = Holder { slot: s, epoch };
        (0..self.map.geometry().slots).any(|c| {
            let rec = self.map.attach_record(c);
            c != s && linked(self.map, parent, Holder { slot: c, epoch: rec.epoch.load(Ordering::Acquire) }) && self.effective(c)
        })
    }

    /// Slots claimed by a live process (the `attached` statistic).
    pub fn attached(&mut self) -> u32 {
        let g = *self.map.geometry();
        (0..g.slots).filter(|&s| (g.legacy || self.map.attach_record(s).state.load(Ordering::Acquire) == SLOT_CLAIMED) && self.alive(s)).count() as u32
    }

    /// Claimed slots whose process is gone and whose bits stand for nobody: a bit per slot.
    pub fn dead_claimed(&mut self) -> Vec<u64> {
        let slots = self.map.geometry().slots;
        let mut dead = vec![0u64; slots as usize / 64];
        for s in 0..slots {
            if self.map.attach_record(s).state.load(Ordering::Acquire) == SLOT_CLAIMED && !self.effective(s) {
                dead[(s / 64) as usize] |= 1 << (s % 64);
            }
        }
        dead
    }
}

/// Makes dead writers' slots claimable again: clears their owner bits from every live entry
/// (under the registration lock), then marks them FREE. Returns how many slots it freed.
pub(crate) fn clean_dead(lock: &crate::lock::Locked, live: &mut Liveness) -> u32 {
    let dead = live.dead_claimed();
    let n: u32 = dead.iter().map(|w| w.count_ones()).sum();
    if n == 0 {
        return 0;
    }
    lock.clear_dead_owners(&dead);
    let map = lock.map();
    for s in 0..map.geometry().slots {
        if dead[(s / 64) as usize] & (1 << (s % 64)) != 0 {
            let rec = map.attach_record(s);
            rec.parent.store(0, Ordering::Relaxed);
            rec.state.store(SLOT_FREE, Ordering::Release);
        }
    }
    n
}
