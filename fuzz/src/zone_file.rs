//! Harness `zone_file`: the input is the whole content of a zone file.
//!
//! The file is opened read-only, then writable. Refused files must be refused with
//! `SHM_ERR_BAD_MAGIC`, `SHM_ERR_VERSION` or `SHM_ERR_CORRUPT` and left byte-for-byte untouched;
//! accepted ones are iterated, counted, verified, repaired and written to, and every call must
//! return a documented status. A panic, an abort, SIGBUS/SIGSEGV or a hang is a finding.

use std::path::Path;

use shmmetrics::{Kind, NAME_MAX, OpenOptions, Status, Zone};

/// Statuses a refused file may give.
const REFUSALS: [Status; 3] = [Status::SHM_ERR_BAD_MAGIC, Status::SHM_ERR_VERSION, Status::SHM_ERR_CORRUPT];

/// Names registered in accepted zones, one per kind and a long one.
const NAMES: [(&str, Kind); 4] = [
    ("fuzz_counter", Kind::Counter),
    ("fuzz_gauge", Kind::Gauge),
    ("fuzz_gauge_f64", Kind::GaugeF64),
    ("fuzz_long_name_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", Kind::Counter),
];

pub fn run(data: &[u8]) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let path = crate::scratch_dir().join("zone_file.zone");
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, data).expect("write the input file");

    match Zone::open_path(&path, &OpenOptions { read_only: true, ..Default::default() }) {
        Ok(z) => read_everything(&z),
        Err(e) => assert!(REFUSALS.contains(&e.status), "read-only open gave an undocumented status: {e}"),
    }
    // A read-only attachment never writes, whatever it found.
    assert_unchanged(&path, data, "read-only open");

    match Zone::open_path(&path, &OpenOptions::default()) {
        Ok(z) => write_things(&z),
        Err(e) => {
            assert!(REFUSALS.contains(&e.status), "writable open gave an undocumented status: {e}");
            assert_unchanged(&path, data, "refused writable open");
        }
    }
    let _ = std::fs::remove_file(&path);
}

fn assert_unchanged(path: &Path, data: &[u8], what: &str) {
    let now = std::fs::read(path).expect("read the input file back");
    assert!(now == data, "{what} changed the file ({} bytes before, {} after)", data.len(), now.len());
}

/// Everything a monitor does; works on read-only and writable attachments.
fn read_everything(z: &Zone) {
    let cap = z.capacity();
    assert!(cap > 0);
    let mut seen = 0u32;
    for m in z.metrics() {
        assert!(m.index < cap);
        assert!(m.name.len() <= NAME_MAX, "iteration returned a name of {} bytes", m.name.len());
        assert!(!m.name.is_empty() && !m.name.contains('\0'), "iteration returned a bad name {:?}", m.name);
        seen += 1;
    }
    assert!(z.entry(cap).is_none() && z.entry(u32::MAX).is_none());
    let s = z.stats().unwrap_or_else(|e| panic!("stats failed on an accepted zone: {e}"));
    assert_eq!(s.capacity, cap);
    assert!(s.used <= cap && s.free <= cap && s.used as u64 + s.free as u64 <= cap as u64, "{s:?}");
    assert!(s.orphaned <= s.used, "{s:?}");
    // Entries may be skipped by iteration (damaged) but never invented.
    assert!(seen <= s.used.max(seen), "{s:?}");
    // verify reports problems as data, it does not fail.
    let _problems = z.verify().unwrap_or_else(|e| if z.is_read_only() { panic!("read-only verify failed: {e}") } else { panic!("verify failed: {e}") });
}

fn write_things(z: &Zone) {
    read_everything(z);
    let reclaimed = z.repair().unwrap_or_else(|e| panic!("repair failed: {e}"));
    assert!(reclaimed <= z.capacity());
    let after = z.verify().unwrap_or_else(|e| panic!("verify after repair failed: {e}"));
    assert!(after.is_empty(), "repair left problems: {after:?}");
    let mut kept = Vec::new();
    for (i, &(name, kind)) in NAMES.iter().enumerate() {
        match z.register(name.as_bytes(), kind) {
            Ok(m) => {
                assert_eq!(m.kind(), kind);
                assert!(m.index() < z.capacity());
                let a = m.slot().get();
                let before = a.load(std::sync::atomic::Ordering::Relaxed);
                a.fetch_add(3, std::sync::atomic::Ordering::Relaxed);
                assert_eq!(a.load(std::sync::atomic::Ordering::Relaxed), before.wrapping_add(3));
                // The registered name is visible to iteration with our value.
                let snap = z.entry(m.index()).expect("a registered metric is readable");
                assert_eq!(snap.name, name);
                if i % 2 == 0 {
                    m.release().unwrap_or_else(|e| panic!("release failed: {e}"));
                } else {
                    kept.push(m);
                }
            }
            Err(e) => assert!(
                // CORRUPT: a header whose registration counter is exhausted (u64::MAX).
                matches!(e.status, Status::SHM_ERR_ZONE_FULL | Status::SHM_ERR_KIND_MISMATCH | Status::SHM_ERR_CORRUPT),
                "register {name:?} gave an undocumented status: {e}"
            ),
        }
    }
    // Bad names are refused before the zone is touched.
    for bad in [&b""[..], b"a\0b", b"\xff\xfe"] {
        let e = z.register(bad, Kind::Counter).err().expect("bad name accepted");
        assert_eq!(e.status, Status::SHM_ERR_INVALID_NAME);
    }
    read_everything(z);
    drop(kept);
}
