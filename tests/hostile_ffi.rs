//! Bad input at the C ABI checked from Rust: a NULL `out` on open must touch nothing, and
//! contradictory flag combinations must be refused without replacing a zone.

mod hostile;
use hostile::*;

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::ptr::null_mut;

use shmmetrics::ffi::*;
use shmmetrics::{OpenOptions, Status, Zone};

fn cstr(p: &std::path::Path) -> CString {
    CString::new(p.to_str().unwrap()).unwrap()
}

/// A NULL `out` must be refused before the open does anything. The core used to check it only
/// after opening (`give_zone`, src/ffi/zone.rs): the zone was created, attached (attach record
/// written) or, with SHM_OPEN_FRESH, replaced before SHM_ERR_NULL_ARGUMENT came back, and the
/// fresh case destroyed data.
#[test]
fn null_out_open_touches_nothing() {
    let dir = TempDir::new("nullout");
    let never = dir.path("never");
    // SAFETY: valid C string; NULL out is allowed and must be refused.
    let s = unsafe { shm_zone_open_path(cstr(&never).as_ptr(), 1 << 16, SHM_OPEN_CREATE, 0, null_mut()) };
    assert_eq!(s, shm_status::SHM_ERR_NULL_ARGUMENT);
    assert!(!never.exists(), "a refused create left a zone file");

    let victim = dir.path("victim");
    let z = Zone::open_path(&victim, &create(1 << 16)).unwrap();
    z.counter("precious").unwrap().inc(42);
    let ino = std::fs::metadata(&victim).unwrap().ino();
    let before = std::fs::read(&victim).unwrap();
    // SAFETY: as above.
    let s = unsafe { shm_zone_open_path(cstr(&victim).as_ptr(), 0, 0, 0, null_mut()) };
    assert_eq!(s, shm_status::SHM_ERR_NULL_ARGUMENT);
    assert!(std::fs::read(&victim).unwrap() == before, "a refused attach wrote the zone");
    // SAFETY: as above.
    let s = unsafe { shm_zone_open_path(cstr(&victim).as_ptr(), 1 << 16, SHM_OPEN_FRESH, 0, null_mut()) };
    assert_eq!(s, shm_status::SHM_ERR_NULL_ARGUMENT);
    assert_eq!(std::fs::metadata(&victim).unwrap().ino(), ino, "a refused fresh open replaced the zone");
}

/// SHM_OPEN_EXCLUSIVE promises to fail if the zone exists, SHM_OPEN_FRESH to replace it: the
/// combination is refused and the existing zone stays.
#[test]
fn fresh_exclusive_does_not_replace_an_existing_zone() {
    let dir = TempDir::new("freshexcl");
    let p = dir.path("zone");
    let z = Zone::open_path(&p, &create(1 << 16)).unwrap();
    z.counter("precious").unwrap().inc(42);
    let ino = std::fs::metadata(&p).unwrap().ino();
    let r = Zone::open_path(&p, &OpenOptions { fresh: true, exclusive: true, create: true, size: 1 << 16, ..Default::default() });
    let status = r.as_ref().err().map(|e| e.status);
    assert!(matches!(status, Some(Status::SHM_ERR_EXISTS | Status::SHM_ERR_INVALID_ARGUMENT)), "got {status:?}");
    assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino, "the zone was replaced");
}

/// The flag combinations that are refused up front, before any file is touched.
#[test]
fn contradictory_flags_are_refused_before_touching_files() {
    let dir = TempDir::new("flags");
    let p = dir.path("zone");
    let good = make_zone(&p, 1 << 16);
    let c = cstr(&p);
    let refused = [
        SHM_OPEN_READONLY | SHM_OPEN_CREATE,
        SHM_OPEN_READONLY | SHM_OPEN_FRESH,
        SHM_OPEN_READONLY | SHM_OPEN_EXCLUSIVE,
        SHM_OPEN_READONLY | SHM_OPEN_REMOVE_ON_CLOSE,
        SHM_OPEN_EXCLUSIVE,
        1 << 6,
        1 << 31,
        u32::MAX,
    ];
    for flags in refused {
        let mut out: *mut shm_zone = null_mut();
        // SAFETY: valid C string and out pointer.
        let s = unsafe { shm_zone_open_path(c.as_ptr(), 1 << 16, flags, 0, &mut out) };
        assert_eq!(s, shm_status::SHM_ERR_INVALID_ARGUMENT, "flags {flags:#x}");
        assert!(out.is_null());
    }
    assert!(std::fs::read(&p).unwrap() == good);
    assert_eq!(entries(&dir.0), vec!["zone".to_string()]);
}

/// A released or closed handle becomes a no-op, as the header promises: its increments go to a
/// sink, not to the entry it pointed at (which another handle still uses, and which a new name
/// could reuse), and it exposes no slot address (mutant: `SlotCell::detach` doing nothing).
#[test]
fn a_released_handle_writes_nothing_and_exposes_no_slot() {
    let dir = TempDir::new("released");
    let path = cstr(&dir.path("z"));
    let name = c"requests";
    let (mut zone, mut kept, mut gone) = (null_mut(), null_mut(), null_mut());
    // SAFETY: valid C strings and out-pointers; every handle is used only while alive or after
    // its release, which the ABI allows (a released handle stays valid until the zone closes).
    unsafe {
        assert_eq!(shm_zone_open_path(path.as_ptr(), 1 << 16, SHM_OPEN_CREATE, 0, &mut zone), shm_status::SHM_OK);
        let z = zone.as_ref();
        assert_eq!(shm_counter_open(z, name.as_ptr(), 8, &mut kept), shm_status::SHM_OK);
        assert_eq!(shm_counter_open(z, name.as_ptr(), 8, &mut gone), shm_status::SHM_OK);
        let (kept, gone) = (kept.as_ref(), gone.as_ref());
        shm_counter_inc(gone, 2);
        assert_eq!(shm_counter_count(kept), 2);
        assert!(!shm_counter_slot(gone).is_null());
        assert_eq!(shm_counter_release(gone), shm_status::SHM_OK);
        shm_counter_inc(gone, 5);
        assert_eq!(shm_counter_count(kept), 2, "a released handle still wrote the metric");
        assert!(shm_counter_slot(gone).is_null(), "a released handle still exposes its slot");
        assert_eq!(shm_counter_close(kept), shm_status::SHM_OK);
        assert_eq!(shm_zone_close(z), shm_status::SHM_OK);
    }
}
