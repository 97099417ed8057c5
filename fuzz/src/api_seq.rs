//! Harness `api_seq`: the input is decoded into a sequence of C ABI calls (`shmmetrics::ffi`)
//! against one zone file, and every result is checked against a model of what the documentation
//! promises:
//!
//! - each call returns the documented status (and never `SHM_ERR_INTERNAL`);
//! - out-parameters are written only on success;
//! - handles on the same metric share one value, which only their own updates change; a
//!   registration finds the value that iteration showed, or 0 for a new metric;
//! - released handles and closed zones give `SHM_ERR_CLOSED` or a no-op, and a stale handle's
//!   updates reach no live metric; handles whose zone was closed keep working;
//! - failed calls do not write the zone file (beyond the documented `failed_registrations`
//!   counter for refused names);
//! - `verify` passes after every step, `stats` agrees with iteration and with the number of live
//!   attachments, `repair` of a healthy zone reclaims nothing;
//! - `SHM_OPEN_REMOVE_ON_CLOSE` removes the file exactly when the last attachment goes away.
//!
//! Decoding never fails: a byte string of any length is a valid (possibly empty) program.

use std::collections::HashMap;
use std::ffi::{CString, c_char};
use std::path::PathBuf;
use std::ptr::{null, null_mut};

use shmmetrics::ffi::*;
use shmmetrics::layout_table::{header, meta_record, owner_word};

const NAMES: [&str; 12] = [
    "a",
    "b",
    "requests_total{method=\"GET\",code=\"200\"}",
    "é_utf8_ok",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    // 255 bytes: the longest name.
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
];
/// Creation sizes: the minimum (10 metrics, so "full" is reachable) and 64 KiB (100 metrics).
const SIZES: [u64; 3] = [20608, 24576, 65536];
const ZONE_SLOTS: usize = 3;
const HANDLE_SLOTS: usize = 12;
const MAX_OPS: usize = 400;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum HKind {
    Counter,
    Gauge,
    F64,
}

impl HKind {
    fn from_byte(b: u8) -> HKind {
        [HKind::Counter, HKind::Gauge, HKind::F64][b as usize % 3]
    }
    fn code(self) -> u32 {
        match self {
            HKind::Counter => SHM_KIND_COUNTER,
            HKind::Gauge => SHM_KIND_GAUGE,
            HKind::F64 => SHM_KIND_GAUGE_F64,
        }
    }
}

#[derive(Clone, Copy)]
enum HPtr {
    C(*mut shm_counter),
    G(*mut shm_gauge),
    F(*mut shm_gauge_f64),
}

struct Handle {
    ptr: HPtr,
    kind: HKind,
    name: usize,
    attach: usize,
    file: u64,
}

/// One writable or read-only attachment (a `shm_zone_open*` that succeeded).
struct Attachment {
    file: u64,
    capacity: u32,
    writable: bool,
    remove_on_close: bool,
    zone_open: bool,
    handles: usize,
}

impl Attachment {
    fn alive(&self) -> bool {
        self.zone_open || self.handles > 0
    }
}

struct ZoneSlot {
    ptr: *mut shm_zone,
    attach: usize,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | self.byte() as u64)
    }
    /// A small or an arbitrary 64-bit value.
    fn value(&mut self) -> u64 {
        let sel = self.byte();
        match sel % 4 {
            0 => sel as u64 / 4,
            1 => (sel as u64 / 4).wrapping_neg(),
            2 => [0, 1, u64::MAX, i64::MAX as u64, i64::MIN as u64, 1.5f64.to_bits(), f64::NAN.to_bits(), f64::INFINITY.to_bits()][sel as usize / 4 % 8],
            _ => self.u64(),
        }
    }
}

struct State {
    path: PathBuf,
    cpath: CString,
    /// Generation of the file now at `path` (bumped whenever a new file takes the name); None
    /// while no file is there.
    current: Option<u64>,
    next_file: u64,
    attachments: Vec<Attachment>,
    zones: [Option<ZoneSlot>; ZONE_SLOTS],
    handles: [Option<Handle>; HANDLE_SLOTS],
    /// Released or closed handles (parked by the library, so using them is defined).
    stale: Vec<(HPtr, HKind)>,
    /// Model: value bits of every metric some live handle holds, by (file, name).
    values: HashMap<(u64, usize), u64>,
}

fn check(got: shm_status, want: shm_status, what: &str) {
    assert!(got == want, "{what}: got {got:?}, expected {want:?}: {}", last_error());
}

fn last_error() -> String {
    // SAFETY: shm_last_error returns a valid NUL-terminated string owned by the library.
    unsafe { std::ffi::CStr::from_ptr(shm_last_error()) }.to_string_lossy().into_owned()
}

fn zone_ref<'a>(p: *mut shm_zone) -> Option<&'a shm_zone> {
    // SAFETY: p is NULL or a zone pointer the library gave us (open or parked after close).
    unsafe { p.as_ref() }
}

fn read_value(h: HPtr) -> u64 {
    // SAFETY (all three): live or parked handles from the library.
    unsafe {
        match h {
            HPtr::C(p) => shm_counter_count(p.as_ref()) as u64,
            HPtr::G(p) => shm_gauge_value(p.as_ref()) as u64,
            HPtr::F(p) => shm_gauge_f64_value(p.as_ref()).to_bits(),
        }
    }
}

fn slot_ptr(h: HPtr) -> *mut u64 {
    // SAFETY: live or parked handles from the library.
    unsafe {
        match h {
            HPtr::C(p) => shm_counter_slot(p.as_ref()).cast(),
            HPtr::G(p) => shm_gauge_slot(p.as_ref()).cast(),
            HPtr::F(p) => shm_gauge_f64_slot(p.as_ref()).cast(),
        }
    }
}

fn end_handle(h: HPtr, release: bool) -> shm_status {
    // SAFETY: live or parked handles from the library; not used concurrently.
    unsafe {
        match (h, release) {
            (HPtr::C(p), true) => shm_counter_release(p.as_ref()),
            (HPtr::C(p), false) => shm_counter_close(p.as_ref()),
            (HPtr::G(p), true) => shm_gauge_release(p.as_ref()),
            (HPtr::G(p), false) => shm_gauge_close(p.as_ref()),
            (HPtr::F(p), true) => shm_gauge_f64_release(p.as_ref()),
            (HPtr::F(p), false) => shm_gauge_f64_close(p.as_ref()),
        }
    }
}

/// Applies update `op` with `v` to the value bits `old` as the library must; also performs it.
fn update(h: HPtr, op: u8, v: u64, old: u64) -> u64 {
    // SAFETY: live or parked handles from the library.
    unsafe {
        match h {
            HPtr::C(p) => match op % 3 {
                0 => {
                    shm_counter_inc(p.as_ref(), v as i64);
                    old.wrapping_add(v)
                }
                1 => {
                    shm_counter_dec(p.as_ref(), v as i64);
                    old.wrapping_sub(v)
                }
                _ => {
                    shm_counter_clear(p.as_ref());
                    0
                }
            },
            HPtr::G(p) => {
                shm_gauge_update(p.as_ref(), v as i64);
                v
            }
            HPtr::F(p) => {
                let d = f64::from_bits(v);
                if op.is_multiple_of(2) {
                    shm_gauge_f64_update(p.as_ref(), d);
                    d.to_bits()
                } else {
                    shm_gauge_f64_add(p.as_ref(), d);
                    (f64::from_bits(old) + d).to_bits()
                }
            }
        }
    }
}

/// Bits equal, or both NaN (a NaN's payload may change through arithmetic).
fn same_bits(a: u64, b: u64, kind: HKind) -> bool {
    a == b || (kind == HKind::F64 && f64::from_bits(a).is_nan() && f64::from_bits(b).is_nan())
}

struct Listed {
    kind: u32,
    value_i64: i64,
    value_f64: f64,
}

/// Iterates zone `z` through the C ABI: name -> (kind, value).
fn list(z: *mut shm_zone) -> HashMap<String, Listed> {
    let mut out = HashMap::new();
    let mut cursor = 0u32;
    // SAFETY: shm_metric_info is plain data; all-zero is a valid value.
    let mut info: shm_metric_info = unsafe { std::mem::zeroed() };
    loop {
        let prev = cursor;
        // SAFETY: valid pointers to our locals; z from the library.
        let s = unsafe { shm_zone_next(zone_ref(z), &mut cursor, &mut info) };
        if s == shm_status::SHM_DONE {
            assert_eq!(cursor, prev, "SHM_DONE moved the cursor");
            break;
        }
        check(s, shm_status::SHM_OK, "shm_zone_next");
        assert!(cursor > prev, "the cursor did not advance");
        // SAFETY: the library NUL-terminates the name.
        let name = unsafe { std::ffi::CStr::from_ptr(info.name.as_ptr()) }.to_str().expect("names are UTF-8").to_owned();
        assert_eq!(name.len(), info.name_len as usize);
        assert!(info.generation > 0);
        let dup = out.insert(name.clone(), Listed { kind: info.kind, value_i64: info.value_i64, value_f64: info.value_f64 });
        assert!(dup.is_none(), "iteration returned {name:?} twice");
    }
    out
}

fn stats(z: *mut shm_zone) -> shm_stats {
    // SAFETY: shm_stats is plain data.
    let mut s: shm_stats = unsafe { std::mem::zeroed() };
    // SAFETY: valid out pointer; z from the library.
    check(unsafe { shm_zone_stats(zone_ref(z), &mut s) }, shm_status::SHM_OK, "shm_zone_stats");
    s
}

fn listed_bits(l: &Listed) -> u64 {
    if l.kind == SHM_KIND_GAUGE_F64 { l.value_f64.to_bits() } else { l.value_i64 as u64 }
}

impl State {
    fn new() -> State {
        let path = dir().join("api_seq.zone");
        let _ = std::fs::remove_file(&path);
        let cpath = CString::new(path.to_str().expect("UTF-8 scratch path")).expect("no NUL");
        State {
            path,
            cpath,
            current: None,
            next_file: 1,
            attachments: Vec::new(),
            zones: Default::default(),
            handles: Default::default(),
            stale: Vec::new(),
            values: HashMap::new(),
        }
    }

    fn file_bytes(&self) -> Option<Vec<u8>> {
        std::fs::read(&self.path).ok()
    }

    fn live_writable_attachments(&self, file: u64) -> usize {
        self.attachments.iter().filter(|a| a.file == file && a.writable && a.alive()).count()
    }

    /// Called after attachment `a` may have died: models SHM_OPEN_REMOVE_ON_CLOSE.
    fn after_attachment_change(&mut self, a: usize) {
        let att = &self.attachments[a];
        if att.alive() || !att.remove_on_close || !att.writable {
            return;
        }
        if Some(att.file) == self.current && self.live_writable_attachments(att.file) == 0 {
            self.current = None;
        }
    }

    fn new_file(&mut self) -> u64 {
        let f = self.next_file;
        self.next_file += 1;
        self.current = Some(f);
        f
    }

    fn close_zone_slot(&mut self, k: usize) {
        let Some(zs) = self.zones[k].take() else { return };
        let a = zs.attach;
        let want = if self.attachments[a].zone_open { shm_status::SHM_OK } else { shm_status::SHM_ERR_CLOSED };
        check(shm_zone_close(zone_ref(zs.ptr)), want, "shm_zone_close");
        if want == shm_status::SHM_OK {
            self.attachments[a].zone_open = false;
            self.after_attachment_change(a);
        }
        self.check_file_presence();
    }

    fn check_file_presence(&self) {
        let exists = std::fs::symlink_metadata(&self.path).is_ok();
        assert_eq!(exists, self.current.is_some(), "zone file presence differs from the model (remove-on-close / fresh)");
    }

    fn open_writable(&mut self, r: &mut Reader) {
        let k = r.byte() as usize % ZONE_SLOTS;
        let fb = r.byte();
        let size = SIZES[fb as usize % SIZES.len()];
        let mut flags = 0;
        if fb & 0x04 != 0 {
            flags |= SHM_OPEN_CREATE;
        }
        if fb & 0x08 != 0 {
            flags |= SHM_OPEN_REMOVE_ON_CLOSE;
        }
        // FRESH is rarer: it discards the zone.
        if fb & 0x70 == 0x70 {
            flags |= SHM_OPEN_FRESH;
        } else if fb & 0x80 != 0 && flags & SHM_OPEN_CREATE != 0 {
            flags |= SHM_OPEN_EXCLUSIVE;
        }
        self.close_zone_slot(k);
        let before = self.file_bytes();
        let mut out: *mut shm_zone = null_mut();
        // SAFETY: valid C string and out pointer.
        let s = unsafe { shm_zone_open_path(self.cpath.as_ptr(), size, flags, 0, &mut out) };
        let exists = self.current.is_some();
        let (want, file) = if flags & SHM_OPEN_FRESH != 0 {
            (shm_status::SHM_OK, None)
        } else if exists && flags & SHM_OPEN_EXCLUSIVE != 0 {
            (shm_status::SHM_ERR_EXISTS, self.current)
        } else if exists {
            (shm_status::SHM_OK, self.current)
        } else if flags & SHM_OPEN_CREATE != 0 {
            (shm_status::SHM_OK, None)
        } else {
            (shm_status::SHM_ERR_NOT_FOUND, None)
        };
        check(s, want, "shm_zone_open_path (writable)");
        if s != shm_status::SHM_OK {
            assert!(out.is_null(), "out written on failure");
            assert!(self.file_bytes() == before, "a failed open changed the zone file");
            return;
        }
        assert!(!out.is_null());
        let file = file.unwrap_or_else(|| self.new_file());
        // Capacity from the header of the file just opened (stats would probe all 256 attach
        // slots, which dominates the run time when done on every open).
        let capacity = {
            use std::io::Read;
            let mut h = [0u8; header::capacity.offset + header::capacity.size];
            std::fs::File::open(&self.path).and_then(|mut f| f.read_exact(&mut h)).expect("read the header of the zone just opened");
            header::capacity.get(&h) as u32
        };
        assert!(capacity >= 10);
        let remove_on_close = flags & SHM_OPEN_REMOVE_ON_CLOSE != 0;
        self.attachments.push(Attachment { file, capacity, writable: true, remove_on_close, zone_open: true, handles: 0 });
        self.zones[k] = Some(ZoneSlot { ptr: out, attach: self.attachments.len() - 1 });
    }

    fn open_readonly(&mut self, r: &mut Reader) {
        let k = r.byte() as usize % ZONE_SLOTS;
        self.close_zone_slot(k);
        let before = self.file_bytes();
        let mut out: *mut shm_zone = null_mut();
        // SAFETY: valid C string and out pointer.
        let s = unsafe { shm_zone_open_path(self.cpath.as_ptr(), 0, SHM_OPEN_READONLY, 0, &mut out) };
        assert!(self.file_bytes() == before, "a read-only open changed the zone file");
        let Some(file) = self.current else {
            check(s, shm_status::SHM_ERR_NOT_FOUND, "read-only open of a missing zone");
            assert!(out.is_null());
            return;
        };
        check(s, shm_status::SHM_OK, "read-only open");
        self.attachments.push(Attachment { file, capacity: 0, writable: false, remove_on_close: false, zone_open: true, handles: 0 });
        self.zones[k] = Some(ZoneSlot { ptr: out, attach: self.attachments.len() - 1 });
    }

    fn register(&mut self, r: &mut Reader) {
        let k = r.byte() as usize % ZONE_SLOTS;
        let name = r.byte() as usize % NAMES.len();
        let kind = HKind::from_byte(r.byte());
        let h = r.byte() as usize % HANDLE_SLOTS;
        if self.zones[k].is_none() {
            return;
        }
        // The slot's previous handle is closed first (it may hold the same metric).
        self.drop_handle_slot(h, false);
        let Some(zs) = &self.zones[k] else { return };
        let (zp, a) = (zs.ptr, zs.attach);
        let att = &self.attachments[a];
        let (file, writable, open) = (att.file, att.writable, att.zone_open);
        // What the zone holds before the call (only meaningful on an open zone).
        let (listing, full) = if open {
            let l = list(zp);
            let full = l.len() == att.capacity as usize;
            (l, full)
        } else {
            (HashMap::new(), false)
        };
        let before = self.file_bytes();
        let n = NAMES[name];
        let mut out: HPtr = match kind {
            HKind::Counter => HPtr::C(null_mut()),
            HKind::Gauge => HPtr::G(null_mut()),
            HKind::F64 => HPtr::F(null_mut()),
        };
        let zr = zone_ref(zp);
        let (np, nl) = (n.as_ptr().cast::<c_char>(), n.len());
        // SAFETY: valid name buffer and out pointers.
        let s = unsafe {
            match &mut out {
                HPtr::C(p) => shm_counter_open(zr, np, nl, p),
                HPtr::G(p) => shm_gauge_open(zr, np, nl, p),
                HPtr::F(p) => shm_gauge_f64_open(zr, np, nl, p),
            }
        };
        let existing = listing.get(n);
        let want: &[shm_status] = if !open {
            &[shm_status::SHM_ERR_CLOSED]
        } else if !writable {
            &[shm_status::SHM_ERR_READ_ONLY]
        } else {
            match existing {
                Some(l) if l.kind != kind.code() => &[shm_status::SHM_ERR_KIND_MISMATCH],
                Some(_) => &[shm_status::SHM_OK],
                // A full zone may still make room by reclaiming metrics of exited holders.
                None if full => &[shm_status::SHM_OK, shm_status::SHM_ERR_ZONE_FULL],
                None => &[shm_status::SHM_OK],
            }
        };
        assert!(want.contains(&s), "register {n:?} as {kind:?}: got {s:?}, expected one of {want:?}: {}", last_error());
        let ptr_null = match out {
            HPtr::C(p) => p.is_null(),
            HPtr::G(p) => p.is_null(),
            HPtr::F(p) => p.is_null(),
        };
        if s != shm_status::SHM_OK {
            assert!(ptr_null, "out written on failure");
            assert_same_except_failures(&before, &self.file_bytes(), s == shm_status::SHM_ERR_ZONE_FULL, "refused registration");
            return;
        }
        assert!(!ptr_null);
        let v = read_value(out);
        let expect = match (self.values.get(&(file, name)), existing) {
            (Some(&m), _) => m,
            (None, Some(l)) => listed_bits(l),
            (None, None) => 0,
        };
        assert!(same_bits(v, expect, kind), "{n:?}: a new handle reads {v:#x}, expected {expect:#x}");
        self.values.insert((file, name), v);
        // Handles on one metric in one mapping share the slot.
        for other in self.handles.iter().flatten() {
            if other.file == file && other.name == name && other.attach == a {
                assert_eq!(slot_ptr(other.ptr), slot_ptr(out));
            }
        }
        self.attachments[a].handles += 1;
        self.handles[h] = Some(Handle { ptr: out, kind, name, attach: a, file });
    }

    /// Ends the handle in slot `h` (release or close) and updates the model.
    fn drop_handle_slot(&mut self, h: usize, release: bool) {
        let Some(hd) = self.handles[h].take() else { return };
        check(end_handle(hd.ptr, release), shm_status::SHM_OK, if release { "release" } else { "close" });
        // Ending it again is a clean error: the handle is parked.
        check(end_handle(hd.ptr, release), shm_status::SHM_ERR_CLOSED, "second release/close");
        assert!(slot_ptr(hd.ptr).is_null(), "a released handle still exposes its slot");
        self.stale.push((hd.ptr, hd.kind));
        if self.stale.len() > 16 {
            self.stale.remove(0);
        }
        self.attachments[hd.attach].handles -= 1;
        if !self.handles.iter().flatten().any(|o| o.file == hd.file && o.name == hd.name) {
            self.values.remove(&(hd.file, hd.name));
        }
        self.after_attachment_change(hd.attach);
        self.check_file_presence();
    }

    fn mutate(&mut self, r: &mut Reader) {
        let h = r.byte() as usize % HANDLE_SLOTS;
        let op = r.byte();
        let v = r.value();
        let Some(hd) = &self.handles[h] else { return };
        let key = (hd.file, hd.name);
        let old = self.values[&key];
        let new = update(hd.ptr, op, v, old);
        self.values.insert(key, new);
        self.check_handles();
    }

    /// Every live handle reads its metric's modelled value.
    fn check_handles(&self) {
        for hd in self.handles.iter().flatten() {
            let v = read_value(hd.ptr);
            let m = self.values[&(hd.file, hd.name)];
            assert!(same_bits(v, m, hd.kind), "{:?} reads {v:#x}, model {m:#x}", NAMES[hd.name]);
            assert!(!slot_ptr(hd.ptr).is_null());
            assert_eq!(slot_ptr(hd.ptr) as usize % 128, 0, "value slot not 128-byte aligned");
        }
    }

    fn use_stale(&mut self, r: &mut Reader) {
        if self.stale.is_empty() {
            return;
        }
        let i = r.byte() as usize % self.stale.len();
        let op = r.byte();
        let v = r.value();
        let (p, _) = self.stale[i];
        let before = self.file_bytes();
        update(p, op, v, 0);
        let _ = read_value(p);
        assert!(slot_ptr(p).is_null());
        check(end_handle(p, op & 1 == 0), shm_status::SHM_ERR_CLOSED, "ending a stale handle");
        assert!(self.file_bytes() == before, "a stale handle wrote to the zone file");
        self.check_handles();
    }

    fn check_all(&mut self) {
        self.check_handles();
        self.check_file_presence();
        for zs in self.zones.iter().flatten() {
            let att = &self.attachments[zs.attach];
            if !att.zone_open {
                // SAFETY: a parked zone pointer.
                check(shm_zone_verify(zone_ref(zs.ptr)), shm_status::SHM_ERR_CLOSED, "verify on a closed zone");
                let mut s: shm_stats = unsafe { std::mem::zeroed() };
                // SAFETY: valid out pointer; parked zone.
                check(unsafe { shm_zone_stats(zone_ref(zs.ptr), &mut s) }, shm_status::SHM_ERR_CLOSED, "stats on a closed zone");
                continue;
            }
            check(shm_zone_verify(zone_ref(zs.ptr)), shm_status::SHM_OK, "verify");
            let s = stats(zs.ptr);
            let listing = list(zs.ptr);
            assert_eq!(s.used as usize, listing.len(), "stats.used differs from iteration");
            assert_eq!(s.used + s.free, s.capacity);
            assert_eq!(s.max_attached, SHM_MAX_ATTACHED);
            assert_eq!(s.name_max, SHM_NAME_MAX);
            assert_eq!(s.attached as usize, self.live_writable_attachments(att.file), "stats.attached differs from the live attachments");
            for hd in self.handles.iter().flatten().filter(|h| h.file == att.file) {
                let l = listing.get(NAMES[hd.name]).unwrap_or_else(|| panic!("{:?} is held but not listed", NAMES[hd.name]));
                assert_eq!(l.kind, hd.kind.code());
                assert!(same_bits(listed_bits(l), self.values[&(hd.file, hd.name)], hd.kind));
            }
        }
    }

    fn repair(&mut self, r: &mut Reader) {
        let k = r.byte() as usize % ZONE_SLOTS;
        let Some(zs) = &self.zones[k] else { return };
        let att = &self.attachments[zs.attach];
        let mut n = u32::MAX;
        // SAFETY: valid out pointer; zone from the library.
        let s = unsafe { shm_zone_repair(zone_ref(zs.ptr), &mut n) };
        let want = if !att.zone_open {
            shm_status::SHM_ERR_CLOSED
        } else if !att.writable {
            shm_status::SHM_ERR_READ_ONLY
        } else {
            shm_status::SHM_OK
        };
        check(s, want, "repair");
        if s == shm_status::SHM_OK {
            assert_eq!(n, 0, "repair of a healthy zone reclaimed entries");
        } else {
            assert_eq!(n, u32::MAX, "out written on failure");
        }
        // SAFETY: NULL out_reclaimed is allowed.
        let s2 = unsafe { shm_zone_repair(zone_ref(zs.ptr), null_mut()) };
        check(s2, want, "repair with NULL out");
    }

    fn bad_register(&mut self, r: &mut Reader) {
        let k = r.byte() as usize % ZONE_SLOTS;
        let which = r.byte() % 7;
        let Some(zs) = &self.zones[k] else { return };
        let att = &self.attachments[zs.attach];
        let (zp, open, writable) = (zs.ptr, att.zone_open, att.writable);
        let long = [b'x'; 256];
        let (name, len, null_out): (*const c_char, usize, bool) = match which {
            0 => (c"".as_ptr(), 0, false),
            1 => (long.as_ptr().cast(), 256, false),
            2 => (b"\xff\xfe".as_ptr().cast(), 2, false),
            3 => (b"a\0b".as_ptr().cast(), 3, false),
            4 => (null(), 3, false),
            5 => (b"a".as_ptr().cast(), 1, true),
            _ => (null(), 0, false),
        };
        // The zone's failure counters, read from the file when it is the one at the path.
        let is_current = Some(att.file) == self.current;
        let before = self.file_bytes();
        let mut out: *mut shm_counter = null_mut();
        let outp: *mut *mut shm_counter = if null_out { null_mut() } else { &mut out };
        // SAFETY: `name` is valid for `len` bytes or NULL; outp is NULL or valid.
        let s = unsafe { shm_counter_open(zone_ref(zp), name, len, outp) };
        let (want, counted) = if !open {
            (shm_status::SHM_ERR_CLOSED, false)
        } else {
            match which {
                0 | 2 | 3 | 6 => (shm_status::SHM_ERR_INVALID_NAME, true),
                1 => (shm_status::SHM_ERR_NAME_TOO_LONG, true),
                _ => (shm_status::SHM_ERR_NULL_ARGUMENT, false),
            }
        };
        check(s, want, "registration with a bad argument");
        assert!(out.is_null(), "out written on failure");
        assert_same_except_failures(&before, &self.file_bytes(), false, "refused registration");
        if let (true, true, Some(b), Some(a)) = (open, is_current, &before, &self.file_bytes()) {
            let bump = u64::from(counted && writable);
            assert_eq!(header::failed_registrations.get(a), header::failed_registrations.get(b) + bump, "failed_registrations");
            assert_eq!(header::failed_zone_full.get(a), header::failed_zone_full.get(b), "failed_zone_full");
        }
    }

    fn bad_open(&mut self, r: &mut Reader) {
        let which = r.byte() % 12;
        let before = self.file_bytes();
        let listing_before = std::fs::read_dir(dir()).map(|d| d.count()).unwrap_or(0);
        let missing = CString::new(dir().join("never-created.zone").to_str().unwrap()).unwrap();
        let mut out: *mut shm_zone = null_mut();
        let p = self.cpath.as_ptr();
        // SAFETY: every pointer is NULL or valid; strings are NUL-terminated.
        let (s, want) = unsafe {
            match which {
                0 => (shm_zone_open_path(p, 20480, 1 << 6, 0, &mut out), shm_status::SHM_ERR_INVALID_ARGUMENT),
                1 => (shm_zone_open_path(p, 20480, SHM_OPEN_READONLY | SHM_OPEN_CREATE, 0, &mut out), shm_status::SHM_ERR_INVALID_ARGUMENT),
                2 => (shm_zone_open_path(p, 20480, SHM_OPEN_EXCLUSIVE, 0, &mut out), shm_status::SHM_ERR_INVALID_ARGUMENT),
                3 => (shm_zone_open_path(missing.as_ptr(), 0, SHM_OPEN_CREATE, 0, &mut out), shm_status::SHM_ERR_INVALID_SIZE),
                4 => (shm_zone_open_path(missing.as_ptr(), u64::MAX, SHM_OPEN_CREATE, 0, &mut out), shm_status::SHM_ERR_INVALID_SIZE),
                5 => (shm_zone_open_path(missing.as_ptr(), 16384, SHM_OPEN_CREATE, 0, &mut out), shm_status::SHM_ERR_INVALID_SIZE),
                6 => (shm_zone_open_path(p, 20480, SHM_OPEN_CREATE, 0o400, &mut out), shm_status::SHM_ERR_INVALID_ARGUMENT),
                7 => (shm_zone_open_path(p, 20480, SHM_OPEN_CREATE, 0o4600, &mut out), shm_status::SHM_ERR_INVALID_ARGUMENT),
                8 => (shm_zone_open(c"../escape".as_ptr(), 20480, SHM_OPEN_CREATE, &mut out), shm_status::SHM_ERR_INVALID_NAME),
                9 => (shm_zone_open(c"bad\xff".as_ptr(), 20480, SHM_OPEN_CREATE, &mut out), shm_status::SHM_ERR_INVALID_NAME),
                10 => (shm_zone_open_path(null(), 20480, SHM_OPEN_CREATE, 0, &mut out), shm_status::SHM_ERR_NULL_ARGUMENT),
                // A NULL out is refused before the file is even looked at.
                _ => (shm_zone_open_path(p, 0, SHM_OPEN_READONLY, 0, null_mut()), shm_status::SHM_ERR_NULL_ARGUMENT),
            }
        };
        check(s, want, "open with a bad argument");
        assert!(out.is_null(), "out written on failure");
        assert!(self.file_bytes() == before, "a refused open changed the zone file");
        let listing_after = std::fs::read_dir(dir()).map(|d| d.count()).unwrap_or(0);
        assert_eq!(listing_before, listing_after, "a refused open left a file behind");
    }

    fn next_edge(&mut self, r: &mut Reader) {
        let k = r.byte() as usize % ZONE_SLOTS;
        let which = r.byte() % 4;
        let Some(zs) = &self.zones[k] else { return };
        let open = self.attachments[zs.attach].zone_open;
        let zp = zs.ptr;
        // SAFETY: plain data.
        let mut info: shm_metric_info = unsafe { std::mem::zeroed() };
        info.kind = 0xdead;
        // SAFETY: pointers valid or NULL as each case says.
        unsafe {
            match which {
                0 => {
                    let mut c = u32::MAX;
                    let s = shm_zone_next(zone_ref(zp), &mut c, &mut info);
                    check(s, if open { shm_status::SHM_DONE } else { shm_status::SHM_ERR_CLOSED }, "next at u32::MAX");
                    assert_eq!(c, u32::MAX);
                }
                1 => {
                    let s = shm_zone_next(zone_ref(zp), null_mut(), &mut info);
                    check(s, if open { shm_status::SHM_ERR_NULL_ARGUMENT } else { shm_status::SHM_ERR_CLOSED }, "next with NULL cursor");
                }
                2 => {
                    let mut c = 0u32;
                    let s = shm_zone_next(zone_ref(zp), &mut c, null_mut());
                    let any = open && !list(zp).is_empty();
                    let want = if !open {
                        shm_status::SHM_ERR_CLOSED
                    } else if any {
                        shm_status::SHM_ERR_NULL_ARGUMENT
                    } else {
                        shm_status::SHM_DONE
                    };
                    check(s, want, "next with NULL out");
                    assert_eq!(c, 0, "cursor moved on failure");
                }
                _ => {
                    let s = shm_zone_stats(zone_ref(zp), null_mut());
                    check(s, if open { shm_status::SHM_ERR_NULL_ARGUMENT } else { shm_status::SHM_ERR_CLOSED }, "stats with NULL out");
                }
            }
        }
        assert_eq!(info.kind, 0xdead, "out written on failure or at the end");
    }

    fn teardown(&mut self) {
        for h in 0..HANDLE_SLOTS {
            self.drop_handle_slot(h, h % 2 == 0);
        }
        for k in 0..ZONE_SLOTS {
            self.close_zone_slot(k);
        }
        assert!(self.attachments.iter().all(|a| !a.alive()));
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Bytes equal except the header's `failed_registrations` / `failed_zone_full` counters and,
/// with `sweep` (a registration refused as full, which first tries to make room), owner bits
/// that were cleared: those of attachments that have gone away.
fn assert_same_except_failures(before: &Option<Vec<u8>>, after: &Option<Vec<u8>>, sweep: bool, what: &str) {
    match (before, after) {
        (Some(b), Some(a)) => {
            assert_eq!(a.len(), b.len(), "{what} changed the file size");
            let cap = header::capacity.get(b) as usize;
            let words = header::attach_slots.get(b) as usize / 64;
            let owner_bits = |i: usize| (0..cap).any(|r| (0..words).any(|w| owner_word(meta_record(b, r), w).range().contains(&i)));
            let failure_counter = |i: usize| [header::failed_registrations, header::failed_zone_full].iter().any(|f| f.range().contains(&i));
            let diff = (0..a.len()).find(|&i| a[i] != b[i] && !failure_counter(i) && !(sweep && owner_bits(i) && a[i] & !b[i] == 0));
            assert!(diff.is_none(), "{what} wrote the zone file at offset {diff:?}");
        }
        (b, a) => assert_eq!(b.is_some(), a.is_some(), "{what} created or removed the zone file"),
    }
}

/// This harness's own directory inside the scratch directory (it counts the files there).
fn dir() -> PathBuf {
    let d = crate::scratch_dir().join("api_seq");
    std::fs::create_dir_all(&d).expect("create the api_seq directory");
    d
}

pub fn run(data: &[u8]) {
    // One zone path per process: executions must not overlap (tests run in threads).
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = State::new();
    let mut r = Reader { data, pos: 0 };
    let mut ops = 0;
    let trace = std::env::var_os("SHMM_FUZZ_TRACE").is_some();
    while !r.done() && ops < MAX_OPS {
        ops += 1;
        let op = r.byte() % 14;
        if trace {
            eprintln!("op {ops}: {op} at byte {}", r.pos - 1);
        }
        match op {
            0 | 1 => s.open_writable(&mut r),
            2 => s.open_readonly(&mut r),
            3 => {
                let k = r.byte() as usize % ZONE_SLOTS;
                // Close, then close again through the parked pointer.
                if let Some(zs) = &s.zones[k] {
                    let (p, a) = (zs.ptr, zs.attach);
                    s.close_zone_slot(k);
                    s.zones[k] = Some(ZoneSlot { ptr: p, attach: a });
                }
            }
            4 | 5 => s.register(&mut r),
            6 | 7 => s.mutate(&mut r),
            8 => {
                let h = r.byte() as usize % HANDLE_SLOTS;
                let release = r.byte() & 1 == 0;
                s.drop_handle_slot(h, release);
            }
            9 => s.use_stale(&mut r),
            10 => s.repair(&mut r),
            11 => s.bad_register(&mut r),
            12 => s.bad_open(&mut r),
            _ => s.next_edge(&mut r),
        }
        if ops % 16 == 0 {
            s.check_all();
        }
    }
    s.check_all();
    s.teardown();
}
