//! The zone's byte layout and the only module that turns mapping addresses into references.
//!
//! Everything in the shared region is accessed through atomics, by every process, so this module
//! hands out `&Atomic*` (never `&mut`, never byte slices). `docs/FORMAT.md` describes the same
//! layout byte for byte; the `const` asserts below pin it.
//!
//! Format 1.1 (written by this library) and 1.0 (read-only: the library before writer slots were
//! configurable) share the header, the metadata record's first 320 bytes but for the owner bits,
//! and the value records; `Geometry::legacy` says which one a mapping holds.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::fs::File;
use std::mem::{align_of, offset_of, size_of};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU16, AtomicU32, AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Error, Result, Status};

#[cfg(not(target_has_atomic = "64"))]
compile_error!("shmmetrics needs native 64-bit atomics");

/// `"SHMMZONE"` in memory order; a zone written on a machine of the other endianness reads as a
/// different number and is refused.
pub const MAGIC: u64 = u64::from_ne_bytes(*b"SHMMZONE");
pub const VERSION_MAJOR: u16 = 1;
pub const VERSION_MINOR: u16 = 1;
/// FNV-1a, 32 bit, over the name's UTF-8 bytes.
pub const HASH_FNV1A_32: u32 = 1;

pub const HEADER_REGION: u64 = 4096;
/// Writer slots of a zone created without saying how many.
pub const DEFAULT_WRITERS: u32 = 256;
/// Most writer slots a zone may have (each costs every metric one bit).
pub const MAX_WRITERS: u32 = 16384;
pub const ATTACH_RECORD: u32 = 32;
/// The metadata record without its owner bits; the record is this plus one bit per writer slot,
/// rounded up to 64 bytes.
pub const META_FIXED: u32 = 320;
pub const VALUE_RECORD: u32 = 128;
pub const NAME_MAX: usize = 255;
const NAME_WORDS: usize = 32;
/// Largest zone we create or accept: 1 TiB keeps every index well inside `u32`.
pub const MAX_FILE_SIZE: u64 = 1 << 40;
pub const REGION_ALIGN: u64 = 4096;

/// Format 1.0 constants, for reading zones of the older library.
pub mod v1_0 {
    pub const ATTACH_SLOTS: u32 = 256;
    pub const ATTACH_RECORD: u32 = 16;
    pub const META_RECORD: u32 = 384;
    /// Links were plain indexes with this terminator (1.1 stores index + 1, 0 = none).
    pub const NIL: u32 = u32::MAX;
    pub const OWNERS_AT: u32 = 32;
}

/// Entry states (`MetaRecord::state`).
pub const STATE_FREE: u32 = 0;
pub const STATE_CLAIMING: u32 = 1;
pub const STATE_LIVE: u32 = 2;
pub const STATE_FREEING: u32 = 3;

/// Writer slot states (`AttachRecord::state`).
pub const SLOT_FREE: u32 = 0;
pub const SLOT_CLAIMED: u32 = 1;

/// The first 256 bytes of the file. Fields up to `dirty` are written before the file becomes
/// visible under its name (see `open.rs`); the rest change under the registration lock, but for
/// the statistics counters, which are atomic adds.
#[repr(C)]
pub struct Header {
    pub magic: AtomicU64,
    pub version_major: AtomicU16,
    pub version_minor: AtomicU16,
    pub header_size: AtomicU32,
    pub file_size: AtomicU64,
    pub page_size: AtomicU32,
    pub hash_id: AtomicU32,
    pub capacity: AtomicU32,
    pub bucket_count: AtomicU32,
    pub attach_offset: AtomicU64,
    pub attach_slots: AtomicU32,
    pub attach_record_size: AtomicU32,
    pub buckets_offset: AtomicU64,
    pub meta_offset: AtomicU64,
    pub meta_record_size: AtomicU32,
    pub value_record_size: AtomicU32,
    pub values_offset: AtomicU64,
    pub created_unix_ns: AtomicU64,
    pub creator_pid: AtomicU32,
    pub flags: AtomicU32,
    /// 1 while a registration-lock holder is changing the index; a holder that finds it set
    /// knows its predecessor died mid-change and repairs first.
    pub dirty: AtomicU32,
    /// Index + 1 of the first record of the free list (0: empty). 1.0: an allocation hint.
    pub free_head: AtomicU32,
    pub failed_registrations: AtomicU64,
    pub failed_zone_full: AtomicU64,
    pub next_generation: AtomicU64,
    /// Times a lock holder found `dirty` set and repaired the index after a dead predecessor.
    pub repairs: AtomicU64,
    /// The registration lock: 0 when free, else the holder's writer slot + 1 in the low 32 bits
    /// and that slot's claim epoch in the high 32 bits.
    pub lock: AtomicU64,
    /// Records `0..high_water` have been used at least once; scans stop there.
    pub high_water: AtomicU32,
    /// Records `0..reserved_records` have their metadata and value pages reserved.
    pub reserved_records: AtomicU32,
    /// Registrations that gave up waiting for a live lock holder.
    pub lock_timeouts: AtomicU64,
    /// Times a waiter took the registration lock over from a dead holder.
    pub lock_takeovers: AtomicU64,
    _reserved: [AtomicU64; 10],
}

/// One per writer slot. Whether the slot's process is alive is decided by the kernel lock on
/// byte `1 + slot` of the file, never by these fields.
#[repr(C)]
pub struct AttachRecord {
    /// SLOT_FREE: nobody claims it and no entry has its owner bit. SLOT_CLAIMED: claimed by a
    /// process, alive while the slot's kernel lock is held, else dead until cleaned.
    pub state: AtomicU32,
    pub pid: AtomicU32,
    /// Incremented at every claim: (slot, epoch) names one process's attachment.
    pub epoch: AtomicU32,
    /// Slot + 1 of the process that forked this one while its inherited holds are still implied
    /// by the parent's owner bits (0 once the child set its own bits, or for no parent).
    pub parent: AtomicU32,
    /// The parent's epoch when it forked.
    pub parent_epoch: AtomicU32,
    _reserved: AtomicU32,
    pub attached_unix_ns: AtomicU64,
}

/// Per-metric metadata, separate from the values so that scans never touch hot lines. The owner
/// bits (one per writer slot) follow at `META_FIXED`.
#[repr(C)]
pub struct MetaRecord {
    pub state: AtomicU32,
    pub kind: AtomicU32,
    pub generation: AtomicU64,
    /// Index + 1 of the next record in the bucket chain or the free list (0: the end).
    pub next: AtomicU32,
    pub hash: AtomicU32,
    pub name_len: AtomicU32,
    _reserved0: AtomicU32,
    /// Registration time, nanoseconds since the Unix epoch (1.0: the first owner word).
    pub created_unix_ns: AtomicU64,
    _reserved1: [AtomicU64; 3],
    name: [AtomicU64; NAME_WORDS],
}

/// A metric's value, alone on two cache lines.
#[repr(C, align(128))]
pub struct ValueRecord {
    pub value: AtomicU64,
    _reserved: [AtomicU64; 15],
}

const _: () = {
    assert!(size_of::<Header>() == 256 && align_of::<Header>() == 8);
    assert!(offset_of!(Header, file_size) == 16);
    assert!(offset_of!(Header, capacity) == 32);
    assert!(offset_of!(Header, values_offset) == 80);
    assert!(offset_of!(Header, dirty) == 104);
    assert!(offset_of!(Header, next_generation) == 128);
    assert!(offset_of!(Header, repairs) == 136);
    assert!(offset_of!(Header, lock) == 144);
    assert!(offset_of!(Header, high_water) == 152);
    assert!(offset_of!(Header, lock_takeovers) == 168);
    assert!(size_of::<AttachRecord>() == ATTACH_RECORD as usize);
    assert!(size_of::<MetaRecord>() == META_FIXED as usize && align_of::<MetaRecord>() == 8);
    assert!(offset_of!(MetaRecord, next) == 16);
    assert!(offset_of!(MetaRecord, created_unix_ns) == 32);
    assert!(offset_of!(MetaRecord, name) == 64);
    assert!(size_of::<ValueRecord>() == VALUE_RECORD as usize);
    assert!(offset_of!(ValueRecord, value) == 0);
    assert!(NAME_WORDS * 8 > NAME_MAX);
    assert!(MAX_WRITERS % 64 == 0 && DEFAULT_WRITERS % 64 == 0);
};

/// Writer slot counts are multiples of 64 (whole owner words) in 64..=MAX_WRITERS.
pub fn writer_slots_invalid(n: u32) -> bool {
    !(64..=MAX_WRITERS).contains(&n) || n % 64 != 0
}

pub fn writer_slots_rule(n: u32) -> String {
    format!("max_writers {n}: a zone has 64 to {MAX_WRITERS} writer slots, in multiples of 64 (default {DEFAULT_WRITERS})")
}

/// Metadata record size for `slots` writer slots.
pub const fn meta_record_size(slots: u32) -> u32 {
    (META_FIXED + slots / 8).div_ceil(64) * 64
}

/// Region offsets and sizes of one zone, as written in (or validated from) its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub file_size: u64,
    pub capacity: u32,
    pub bucket_count: u32,
    pub slots: u32,
    pub meta_record_size: u32,
    pub attach_offset: u64,
    pub buckets_offset: u64,
    pub meta_offset: u64,
    pub values_offset: u64,
    /// Format 1.0: read-only for this library (see the `v1_0` constants).
    pub legacy: bool,
}

const fn round_up(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

impl Geometry {
    fn with_capacity(capacity: u32, slots: u32) -> Geometry {
        let cap = capacity as u64;
        let meta_record_size = meta_record_size(slots);
        let attach_offset = HEADER_REGION;
        let buckets_offset = attach_offset + round_up(slots as u64 * ATTACH_RECORD as u64, REGION_ALIGN);
        let meta_offset = buckets_offset + round_up(cap * 4, REGION_ALIGN);
        let values_offset = meta_offset + round_up(cap * meta_record_size as u64, REGION_ALIGN);
        let file_size = values_offset + cap * VALUE_RECORD as u64;
        Geometry { file_size, capacity, bucket_count: capacity, slots, meta_record_size, attach_offset, buckets_offset, meta_offset, values_offset, legacy: false }
    }

    /// The largest layout with `slots` writer slots fitting in `file_size` bytes (already
    /// page-rounded), if any.
    pub fn for_file_size(file_size: u64, slots: u32) -> Option<Geometry> {
        if file_size > MAX_FILE_SIZE {
            return None;
        }
        let per_entry = 4 + meta_record_size(slots) as u64 + VALUE_RECORD as u64;
        let mut cap = (file_size.saturating_sub(Self::with_capacity(0, slots).file_size) / per_entry).min(u32::MAX as u64 - 1) as u32;
        while cap > 0 && Self::with_capacity(cap, slots).file_size > file_size {
            cap -= 1;
        }
        (cap > 0).then(|| Geometry { file_size, ..Self::with_capacity(cap, slots) })
    }

    /// The smallest file that holds one metric.
    pub fn min_file_size(slots: u32) -> u64 {
        Self::with_capacity(1, slots).file_size
    }

    /// Bytes of owner bits per metadata record.
    pub fn owner_words(&self) -> usize {
        self.slots as usize / 64
    }

    /// Where the owner bits sit in a metadata record.
    fn owners_at(&self) -> u64 {
        if self.legacy { v1_0::OWNERS_AT as u64 } else { META_FIXED as u64 }
    }

    /// A bucket head or `next` link as an index.
    pub fn decode_link(&self, raw: u32) -> Option<u32> {
        match (self.legacy, raw) {
            (true, v1_0::NIL) | (false, 0) => None,
            (true, i) => Some(i),
            (false, i) => Some(i - 1),
        }
    }

    /// Reads and checks the geometry a header claims against the real file length.
    /// Every region must be aligned, in order, large enough for `capacity` and inside the file.
    pub fn from_header_bytes(h: &[u8; 256], actual_len: u64) -> Result<Geometry> {
        let u16_at = |o: usize| u16::from_ne_bytes([h[o], h[o + 1]]);
        let u32_at = |o: usize| u32::from_ne_bytes(h[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_ne_bytes(h[o..o + 8].try_into().expect("8 bytes"));
        let corrupt = |what: String| Error::new(Status::SHM_ERR_CORRUPT, what);
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(corrupt(what.to_string())) };
        if u64_at(offset_of!(Header, magic)) != MAGIC {
            return Err(Error::new(Status::SHM_ERR_BAD_MAGIC, "bad magic: not a shmmetrics zone (or written with the other endianness)"));
        }
        let major = u16_at(offset_of!(Header, version_major));
        if major != VERSION_MAJOR {
            let msg = format!("zone format major version {major} is not supported (this library reads {VERSION_MAJOR})");
            return Err(Error::new(Status::SHM_ERR_VERSION, msg));
        }
        let legacy = u16_at(offset_of!(Header, version_minor)) == 0;
        let g = Geometry {
            file_size: u64_at(offset_of!(Header, file_size)),
            capacity: u32_at(offset_of!(Header, capacity)),
            bucket_count: u32_at(offset_of!(Header, bucket_count)),
            slots: u32_at(offset_of!(Header, attach_slots)),
            meta_record_size: u32_at(offset_of!(Header, meta_record_size)),
            attach_offset: u64_at(offset_of!(Header, attach_offset)),
            buckets_offset: u64_at(offset_of!(Header, buckets_offset)),
            meta_offset: u64_at(offset_of!(Header, meta_offset)),
            values_offset: u64_at(offset_of!(Header, values_offset)),
            legacy,
        };
        if g.file_size != actual_len {
            return Err(corrupt(format!("header says {} bytes but the file has {actual_len} (truncated?)", g.file_size)));
        }
        let attach_record = u32_at(offset_of!(Header, attach_record_size));
        check(u32_at(offset_of!(Header, header_size)) as u64 == HEADER_REGION, "unexpected header size")?;
        check(u32_at(offset_of!(Header, hash_id)) == HASH_FNV1A_32, "unknown hash function")?;
        if legacy {
            check(g.slots == v1_0::ATTACH_SLOTS, "unexpected attach slot count")?;
            check(attach_record == v1_0::ATTACH_RECORD, "unexpected attach record size")?;
            check(g.meta_record_size == v1_0::META_RECORD, "unexpected metadata record size")?;
        } else {
            check(!writer_slots_invalid(g.slots), "writer slot count out of range")?;
            check(attach_record == ATTACH_RECORD, "unexpected attach record size")?;
            check(g.meta_record_size == meta_record_size(g.slots), "metadata record size does not match the writer slots")?;
        }
        check(u32_at(offset_of!(Header, value_record_size)) == VALUE_RECORD, "unexpected value record size")?;
        check(g.capacity > 0 && g.capacity < u32::MAX, "capacity out of range")?;
        check(g.bucket_count > 0 && g.bucket_count < u32::MAX, "bucket count out of range")?;
        let cap = g.capacity as u64;
        let regions = [
            (g.attach_offset, g.slots as u64 * attach_record as u64),
            (g.buckets_offset, g.bucket_count as u64 * 4),
            (g.meta_offset, cap * g.meta_record_size as u64),
            (g.values_offset, cap * VALUE_RECORD as u64),
        ];
        let mut end = HEADER_REGION;
        for (off, len) in regions {
            check(off % 64 == 0, "misaligned region")?;
            check(off >= end, "overlapping regions")?;
            end = off.checked_add(len).ok_or_else(|| corrupt("region size overflows".into()))?;
        }
        check(g.values_offset % VALUE_RECORD as u64 == 0, "value region not aligned to its record size")?;
        check(end <= g.file_size && g.file_size <= MAX_FILE_SIZE, "regions extend past the end of the file")?;
        Ok(g)
    }
}

/// A zone file mapped into this process. Lives as long as any handle that points into it.
pub struct Mapping {
    raw: MmapRaw,
    geo: Geometry,
    writable: bool,
}

// The mapping is only ever accessed through atomics (see the accessors), so sharing it between
// threads is as safe as sharing the atomics themselves.
// SAFETY: MmapRaw is a pointer + length; all access goes through `&Atomic*` obtained below.
unsafe impl Send for Mapping {}
// SAFETY: as above; no accessor hands out anything but shared references to atomics.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `file`, whose length and header were validated into `geo` by the caller.
    pub fn map(file: &File, geo: Geometry, writable: bool) -> std::io::Result<Mapping> {
        let mut opts = MmapOptions::new();
        opts.len(geo.file_size as usize);
        let raw = if writable { opts.map_raw(file)? } else { opts.map_raw_read_only(file)? };
        assert!(raw.as_ptr().cast::<Header>().is_aligned(), "mmap returns page-aligned addresses");
        Ok(Mapping { raw, geo, writable })
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    pub fn writable(&self) -> bool {
        self.writable
    }

    /// # Safety
    /// `offset + size_of::<T>() * len <= file_size`, `offset` is aligned for `T`, and `T`
    /// consists of atomics only.
    unsafe fn slice_at<T>(&self, offset: u64, len: usize) -> &[T] {
        debug_assert!(offset + (size_of::<T>() * len) as u64 <= self.geo.file_size);
        // SAFETY: the caller guarantees bounds and alignment (the base is page-aligned). The
        // memory stays mapped as long as `self`, to which the result is tied. Other processes
        // write it concurrently, which is sound because `T` is made of atomics only and we hand
        // out shared references. On a read-only mapping the callers only load.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(offset as usize).cast::<T>(), len) }
    }

    /// # Safety
    /// As `slice_at` with `len` 1.
    unsafe fn at<T>(&self, offset: u64) -> &T {
        // SAFETY: forwarded contract.
        unsafe { &self.slice_at(offset, 1)[0] }
    }

    pub fn header(&self) -> &Header {
        // SAFETY: offset 0, 256 bytes, validated file length >= HEADER_REGION; all atomics.
        unsafe { self.at(0) }
    }

    /// Writer slot `s`'s record (format 1.1 only).
    pub fn attach_record(&self, s: u32) -> &AttachRecord {
        assert!(s < self.geo.slots && !self.geo.legacy);
        // SAFETY: the attach region was validated to hold `slots` 32-byte records, 64-aligned.
        unsafe { self.at(self.geo.attach_offset + (s * ATTACH_RECORD) as u64) }
    }

    pub fn bucket(&self, b: u32) -> &AtomicU32 {
        assert!(b < self.geo.bucket_count);
        // SAFETY: b < bucket_count, and the bucket region was validated to hold that many u32s.
        unsafe { self.at(self.geo.buckets_offset + b as u64 * 4) }
    }

    fn meta_offset(&self, i: u32) -> u64 {
        assert!(i < self.geo.capacity);
        self.geo.meta_offset + i as u64 * self.geo.meta_record_size as u64
    }

    pub fn meta(&self, i: u32) -> &MetaRecord {
        // SAFETY: i < capacity; the metadata region holds `capacity` records of at least
        // META_FIXED bytes, 64-aligned (record sizes are multiples of 64).
        unsafe { self.at(self.meta_offset(i)) }
    }

    /// Entry `i`'s owner bits: bit `s % 64` of word `s / 64` for writer slot `s`.
    pub fn owners(&self, i: u32) -> &[AtomicU64] {
        let g = &self.geo;
        // SAFETY: owners_at + 8 * owner_words fits in the record (meta_record_size was checked
        // against the slot count, 1.0: 32 bytes at offset 32); 8-aligned.
        unsafe { self.slice_at(self.meta_offset(i) + g.owners_at(), g.owner_words()) }
    }

    pub fn value(&self, i: u32) -> &AtomicU64 {
        assert!(i < self.geo.capacity);
        // SAFETY: i < capacity; the value region holds `capacity` 128-byte records, 64-aligned.
        let rec: &ValueRecord = unsafe { self.at(self.geo.values_offset + i as u64 * VALUE_RECORD as u64) };
        &rec.value
    }

    /// Byte ranges of entry records `from..to` (metadata, then values), for reserving pages.
    pub fn record_ranges(&self, from: u32, to: u32) -> [(u64, u64); 2] {
        let g = &self.geo;
        let (from, to) = (from as u64, to as u64);
        let m = g.meta_record_size as u64;
        let v = VALUE_RECORD as u64;
        [(g.meta_offset + from * m, (to - from) * m), (g.values_offset + from * v, (to - from) * v)]
    }
}

impl MetaRecord {
    /// Stores `name` (at most NAME_MAX bytes), its last word zero-padded; published later by
    /// `state`. Words past the name are not read by anyone (readers stop at `name_len`).
    pub fn write_name(&self, name: &[u8]) {
        for (w, chunk) in self.name.iter().zip(name.chunks(8)) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            w.store(u64::from_ne_bytes(buf), Ordering::Relaxed);
        }
    }

    /// Zeroes the whole name field (a freed record keeps nothing of its metric).
    pub fn clear_name(&self) {
        for w in &self.name {
            w.store(0, Ordering::Relaxed);
        }
    }

    /// Copies the stored name into `out` (`name_len` clamped to NAME_MAX) and returns its length.
    pub fn read_name(&self, out: &mut [u8; NAME_WORDS * 8]) -> usize {
        let n = (self.name_len.load(Ordering::Relaxed) as usize).min(NAME_MAX);
        for (w, chunk) in self.name.iter().zip(out.chunks_mut(8)).take(n.div_ceil(8)) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
        }
        n
    }

    /// Whether the stored name is `name`, comparing every word (a caller validates the read).
    pub fn name_equals(&self, name: &[u8]) -> bool {
        if self.name_len.load(Ordering::Relaxed) as usize != name.len() {
            return false;
        }
        let mut words = name.chunks_exact(8);
        let whole = (&mut words).zip(&self.name).all(|(w, a)| a.load(Ordering::Relaxed) == u64::from_ne_bytes(w.try_into().expect("8 bytes")));
        let rest = words.remainder();
        whole && (rest.is_empty() || self.name[name.len() / 8].load(Ordering::Relaxed) == tail_word(rest))
    }
}

/// `u64::from_ne_bytes` of up to 8 bytes, zero-padded: the word a name's last bytes are stored
/// in (without a `memcpy` call for a few bytes).
#[inline]
pub fn tail_word(bytes: &[u8]) -> u64 {
    debug_assert!(bytes.len() <= 8);
    let shift = |i: usize| if cfg!(target_endian = "little") { 8 * i } else { 56 - 8 * i };
    bytes.iter().enumerate().fold(0, |w, (i, &b)| w | (b as u64) << shift(i))
}

/// A metric's value slot, keeping its mapping alive.
pub struct ValueSlot {
    ptr: NonNull<AtomicU64>,
    /// Never read: holding it keeps `ptr` mapped.
    _map: Arc<Mapping>,
}

// SAFETY: the pointee is an atomic inside a mapping kept alive by `map`; atomics are Sync.
unsafe impl Send for ValueSlot {}
// SAFETY: as above.
unsafe impl Sync for ValueSlot {}

impl ValueSlot {
    pub fn new(map: Arc<Mapping>, index: u32) -> ValueSlot {
        let ptr = NonNull::from(map.value(index));
        ValueSlot { ptr, _map: map }
    }

    #[inline(always)]
    pub fn get(&self) -> &AtomicU64 {
        // SAFETY: `ptr` came from `map.value()`, and `map` (held by self) keeps it mapped.
        unsafe { self.ptr.as_ref() }
    }
}

/// Where the value pointer of a released C handle points: stale handles write here, harmlessly.
static SINK: AtomicU64 = AtomicU64::new(0);

/// A value pointer that the C layer can detach (point at `SINK`) when a handle is released,
/// so a stale handle used afterwards never touches a slot that may belong to another metric.
/// The owner keeps the `ValueSlot` it was made from (and so the mapping) alive until after
/// `detach`.
pub struct SlotCell {
    ptr: AtomicPtr<AtomicU64>,
}

impl SlotCell {
    pub fn new(slot: &ValueSlot) -> SlotCell {
        SlotCell { ptr: AtomicPtr::new(slot.ptr.as_ptr()) }
    }

    /// # Safety
    /// The `ValueSlot` this cell was made from is still alive, or `detach` ran; no `detach`
    /// runs concurrently with the use of the result (the C contract: a handle is not released
    /// while another thread still uses it).
    #[inline(always)]
    pub unsafe fn get(&self) -> &AtomicU64 {
        // SAFETY: the pointer is either SINK (static) or a slot inside a mapping that the
        // caller keeps alive (its ValueSlot outlives every use before `detach`).
        unsafe { &*self.ptr.load(Ordering::Acquire) }
    }

    /// The slot's address for bindings that do their own atomics (NULL once detached).
    pub fn address(&self) -> *mut u64 {
        let p = self.ptr.load(Ordering::Acquire);
        if std::ptr::eq(p, &SINK) { std::ptr::null_mut() } else { p.cast() }
    }

    pub fn detach(&self) {
        self.ptr.store((&raw const SINK).cast_mut(), Ordering::Release);
    }
}

/// Reads the 256-byte header prefix of a file without mapping it (a short file cannot SIGBUS).
pub fn read_header_bytes(file: &File) -> std::io::Result<[u8; 256]> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 256];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// The layout as a table of fields, for tests and fuzzers that edit zone images. A child module
/// so that it sees every field; see the module's own documentation.
#[doc(hidden)]
#[path = "layout_table.rs"]
pub mod table;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_fits_and_is_aligned() {
        for slots in [64, DEFAULT_WRITERS, 4096, MAX_WRITERS] {
            for size in [Geometry::min_file_size(slots), 20480, 1 << 20, 10 << 20, 64 << 20] {
                let size = round_up(size, 4096);
                let Some(g) = Geometry::for_file_size(size, slots) else { continue };
                assert!(g.values_offset + g.capacity as u64 * 128 <= size);
                assert_eq!(g.values_offset % 4096, 0);
                assert_eq!(g.meta_record_size % 64, 0);
                assert!(g.meta_record_size as usize >= META_FIXED as usize + g.owner_words() * 8);
            }
            assert!(Geometry::for_file_size(Geometry::min_file_size(slots) - 1, slots).is_none());
        }
        assert!(Geometry::for_file_size(MAX_FILE_SIZE + 4096, DEFAULT_WRITERS).is_none());
    }

    /// The capacities and record sizes quoted in docs/FORMAT.md.
    #[test]
    fn documented_capacities() {
        assert_eq!(meta_record_size(DEFAULT_WRITERS), 384);
        assert_eq!(meta_record_size(4096), 832);
        assert_eq!(meta_record_size(MAX_WRITERS), 2368);
        assert_eq!(Geometry::for_file_size(1 << 20, DEFAULT_WRITERS).unwrap().capacity, 2005);
        assert_eq!(Geometry::for_file_size(10 << 20, DEFAULT_WRITERS).unwrap().capacity, 20288);
        assert_eq!(Geometry::for_file_size(10 << 20, 4096).unwrap().capacity, 10732);
        assert_eq!(Geometry::for_file_size(1 << 30, DEFAULT_WRITERS).unwrap().capacity, 2080864);
        assert_eq!(Geometry::min_file_size(DEFAULT_WRITERS), 20608);
    }
}
