//! The registration lock: one word in the zone header, taken with a compare-and-swap, naming its
//! holder by writer slot and claim epoch.
//!
//! Uncontended it costs two atomic operations (no system call). A waiter spins briefly, then
//! sleeps with backoff, and gives up after the caller's timeout with `SHM_ERR_LOCK_TIMEOUT`
//! (counted in the header). It takes the lock over only from a holder that is provably dead: the
//! holder's writer slot was claimed again since (its epoch changed), or the kernel lock that a
//! live writer holds on its slot is gone. The kernel drops that lock when the process dies,
//! whatever its PID namespace, so a live holder is never robbed and a dead one never blocks
//! anybody for long. Whoever takes over finds the index `dirty` and repairs it.

use std::fs::File;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Status};
use crate::layout::Mapping;

/// Proof that the caller holds the registration lock: only a `RegLock` hands one out.
pub(crate) struct Locked<'a> {
    map: &'a Mapping,
    file: &'a File,
}

impl<'a> Locked<'a> {
    pub fn map(&self) -> &'a Mapping {
        self.map
    }

    /// The zone file, for reserving pages.
    pub fn file(&self) -> &'a File {
        self.file
    }
}

/// The slot a process without a writer slot names in the lock word (to clean dead slots when
/// none is free); its liveness is its kernel lock on byte 0 (see `attach.rs`).
pub(crate) const SLOTLESS: u32 = u32::MAX - 1;

/// A writer's identity in the lock word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Holder {
    pub slot: u32,
    pub epoch: u32,
}

impl Holder {
    fn word(self) -> u64 {
        (self.slot as u64 + 1) | ((self.epoch as u64) << 32)
    }

    /// The holder a nonzero lock word names (None: a word no writer could have written).
    fn from_word(w: u64) -> Option<Holder> {
        let low = (w & 0xFFFF_FFFF) as u32;
        (low != 0).then(|| Holder { slot: low - 1, epoch: (w >> 32) as u32 })
    }
}

/// The writer slot a lock word names (None: free).
pub(crate) fn holder_slot(word: u64) -> Option<u32> {
    (word != 0).then(|| Holder::from_word(word).map_or(u32::MAX, |h| h.slot))
}

/// The registration lock, held until dropped.
pub(crate) struct RegLock<'a> {
    locked: Locked<'a>,
    word: u64,
}

impl<'a> Deref for RegLock<'a> {
    type Target = Locked<'a>;
    fn deref(&self) -> &Locked<'a> {
        &self.locked
    }
}

impl Drop for RegLock<'_> {
    fn drop(&mut self) {
        // Only our own word is cleared: a lock taken over from us (which would mean a bug in the
        // liveness rules) is not released under its new holder.
        let _ = self.locked.map.header().lock.compare_exchange(self.word, 0, Ordering::Release, Ordering::Relaxed);
    }
}

const SPINS: u32 = 100;
const YIELDS: u32 = 20;
const FIRST_SLEEP: Duration = Duration::from_micros(50);
const MAX_SLEEP: Duration = Duration::from_millis(2);

/// Takes the registration lock as `me`, waiting at most `timeout` for a live holder.
/// `holder_alive` says whether another holder is still alive.
pub(crate) fn acquire<'a>(map: &'a Mapping, file: &'a File, me: Holder, timeout: Duration, holder_alive: impl Fn(Holder) -> bool) -> Result<RegLock<'a>> {
    let word = me.word();
    let lock = &map.header().lock;
    let got = || RegLock { locked: Locked { map, file }, word };
    if lock.compare_exchange(0, word, Ordering::Acquire, Ordering::Relaxed).is_ok() {
        return Ok(got());
    }
    let start = Instant::now();
    let mut sleep = FIRST_SLEEP;
    let mut round = 0u32;
    loop {
        let current = lock.load(Ordering::Relaxed);
        if current == 0 {
            if lock.compare_exchange(0, word, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return Ok(got());
            }
            continue;
        }
        round += 1;
        if round < SPINS {
            std::hint::spin_loop();
            continue;
        }
        if round < SPINS + YIELDS {
            std::thread::yield_now();
            continue;
        }
        if Holder::from_word(current).is_none_or(|h| h != me && !holder_alive(h)) {
            if lock.compare_exchange(current, word, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                map.header().lock_takeovers.fetch_add(1, Ordering::Relaxed);
                return Ok(got());
            }
            continue;
        }
        if start.elapsed() >= timeout {
            map.header().lock_timeouts.fetch_add(1, Ordering::Relaxed);
            let holder = Holder::from_word(current).map_or(0, |h| h.slot);
            let msg = format!("the registration lock stayed held by the live writer in slot {holder} for {timeout:?}; gave up");
            return Err(Error::new(Status::SHM_ERR_LOCK_TIMEOUT, msg));
        }
        std::thread::sleep(sleep.min(timeout.saturating_sub(start.elapsed())).max(Duration::from_micros(1)));
        sleep = (sleep * 2).min(MAX_SLEEP);
    }
}
