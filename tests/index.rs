//! The name index through the public API: registration, lookup, collisions, free and reuse,
//! capacity returning, names and kinds.

mod common;
use common::*;
use shmmetrics::{Kind, NAME_MAX, OpenOptions, Status, Zone};

#[test]
fn same_name_same_slot_and_kind_mismatch() {
    let dir = TempDir::new("idx1");
    let z = open(&dir, "z", &create(1 << 20));
    let a = z.counter("requests").unwrap();
    let b = z.counter("requests").unwrap();
    a.inc(5);
    b.inc(2);
    assert_eq!(a.count(), 7);
    assert_eq!(a.0.index(), b.0.index());
    let e = z.gauge("requests").err().unwrap();
    assert_eq!(e.status, Status::SHM_ERR_KIND_MISMATCH);
    assert_eq!(z.stats().unwrap().failed_registrations, 1);
    assert!(z.verify().unwrap().is_empty());
}

#[test]
fn names_are_exact_and_checked() {
    let dir = TempDir::new("idx2");
    let z = open(&dir, "z", &create(1 << 20));
    let long = "x".repeat(NAME_MAX);
    z.counter(&long).unwrap().inc(1);
    let labels = "http_requests_total{method=\"GET\",code=\"200\"}";
    z.gauge(labels).unwrap().update(3);
    let names: Vec<String> = z.metrics().map(|m| m.name).collect();
    assert!(names.contains(&long) && names.contains(&labels.to_string()));
    let status = |r: shmmetrics::Result<shmmetrics::Metric>| r.err().map(|e| e.status);
    assert_eq!(status(z.register("x".repeat(NAME_MAX + 1).as_bytes(), Kind::Counter)), Some(Status::SHM_ERR_NAME_TOO_LONG));
    assert_eq!(status(z.register(b"", Kind::Counter)), Some(Status::SHM_ERR_INVALID_NAME));
    assert_eq!(status(z.register(b"a\0b", Kind::Counter)), Some(Status::SHM_ERR_INVALID_NAME));
    assert_eq!(status(z.register(b"\xff\xfe", Kind::Counter)), Some(Status::SHM_ERR_INVALID_NAME));
    // Bytes just past ASCII (a lone continuation byte, alone and repeated) are not UTF-8 either.
    assert_eq!(status(z.register(b"\x80", Kind::Counter)), Some(Status::SHM_ERR_INVALID_NAME));
    assert_eq!(status(z.register(b"\x80\x80", Kind::Gauge)), Some(Status::SHM_ERR_INVALID_NAME));
    // DEL and the other ASCII controls but NUL are accepted bytes; so is valid UTF-8.
    z.counter("del\x7f").unwrap();
    z.counter("caf\u{e9}").unwrap();
    assert_eq!(z.stats().unwrap().failed_registrations, 6);
    assert_eq!(z.stats().unwrap().used, 4);
}

/// The kinds' names, as every language spells them, and the kind mismatch that names both.
#[test]
fn kind_names() {
    let names: Vec<(u32, &str)> = (0..5).filter_map(|k| Kind::from_u32(k).map(|kind| (kind as u32, kind.as_str()))).collect();
    assert_eq!(names, [(1, "counter"), (2, "gauge"), (3, "gauge_f64")]);
    let dir = TempDir::new("idxkinds");
    let z = open(&dir, "z", &create(64 << 10));
    z.gauge_f64("temperature").unwrap();
    let e = z.counter("temperature").err().unwrap();
    assert_eq!(e.status, Status::SHM_ERR_KIND_MISMATCH);
    assert!(e.message.contains("registered as a gauge_f64, not a counter"), "{}", e.message);
}

#[test]
fn creation_sizes_are_checked() {
    let dir = TempDir::new("idx3");
    let path = dir.zone_path("z");
    for size in [0, 1, 4096, 1 << 41, u64::MAX] {
        let e = Zone::open_path(&path, &create(size)).err().unwrap();
        assert_eq!(e.status, Status::SHM_ERR_INVALID_SIZE, "size {size}");
        assert!(!path.exists());
    }
    // Sizes are rounded up to the page size.
    let z = Zone::open_path(&path, &create(100_001)).unwrap();
    assert_eq!(z.stats().unwrap().file_size % 4096, 0);
    assert!(z.stats().unwrap().file_size >= 100_001);
}

/// Writer slot counts are whole owner words from 64 to 16384; anything else is refused before a
/// file is made, with the rule in the message.
#[test]
fn writer_slot_counts_are_checked() {
    let dir = TempDir::new("idxslots");
    let path = dir.zone_path("z");
    for n in [1, 63, 65, 100, 16384 + 64, u32::MAX] {
        let e = Zone::open_path(&path, &OpenOptions { max_writers: n, ..create(1 << 20) }).err().unwrap();
        assert_eq!(e.status, Status::SHM_ERR_INVALID_ARGUMENT, "max_writers {n}");
        assert!(e.message.contains("64 to 16384"), "{}", e.message);
        assert!(!path.exists());
    }
    for n in [64, 128, 16384] {
        let z = Zone::open_path(&path, &OpenOptions { max_writers: n, fresh: true, ..create(4 << 20) }).unwrap();
        assert_eq!(z.stats().unwrap().max_writers, n);
    }
}

/// Contradictory or unsafe open options are refused before anything is touched.
#[test]
fn open_options_are_checked() {
    let dir = TempDir::new("idxopts");
    let path = dir.zone_path("z");
    let ro = OpenOptions { read_only: true, ..Default::default() };
    let refused = [
        OpenOptions { create: true, ..ro.clone() },
        OpenOptions { exclusive: true, ..ro.clone() },
        OpenOptions { fresh: true, ..ro.clone() },
        OpenOptions { remove_on_close: true, ..ro.clone() },
        OpenOptions { exclusive: true, fresh: true, ..create(1 << 20) },
        OpenOptions { exclusive: true, ..Default::default() },
        OpenOptions { mode: 0o400, ..create(1 << 20) },
        OpenOptions { mode: 0o200, ..create(1 << 20) },
        OpenOptions { mode: 0o1600, ..create(1 << 20) },
        OpenOptions { mode: 0o4600, ..create(1 << 20) },
    ];
    for opts in refused {
        let e = Zone::open_path(&path, &opts).err().unwrap_or_else(|| panic!("{opts:?} was accepted"));
        assert_eq!(e.status, Status::SHM_ERR_INVALID_ARGUMENT, "{opts:?}");
        assert!(!path.exists());
    }
    let z = Zone::open_path(&path, &OpenOptions { mode: 0o640, ..create(1 << 20) }).unwrap();
    assert_eq!(z.info().unwrap().mode, 0o640);
}

/// Zones opened by name live in `$SHMMETRICS_DIR` (else /dev/shm); checked in a child process,
/// since the environment is the whole process's.
#[test]
fn the_zone_directory_comes_from_the_environment() {
    if let Ok(dir) = std::env::var("SHMM_ZONE_DIR_CHILD") {
        assert_eq!(std::env::var("SHMMETRICS_DIR").ok().as_deref(), Some(dir.as_str()));
        let z = Zone::open("envzone", &create(1 << 20)).unwrap();
        assert_eq!(z.path(), std::path::Path::new(&dir).join("shmmetrics-envzone"));
        assert!(z.path().exists());
        return;
    }
    let dir = TempDir::new("idxenv");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["the_zone_directory_comes_from_the_environment", "--exact", "--quiet"])
        .env("SHMMETRICS_DIR", &dir.0)
        .env("SHMM_ZONE_DIR_CHILD", &dir.0)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(dir.zone_path("shmmetrics-envzone").exists());
    if std::env::var_os("SHMMETRICS_DIR").is_none_or(|d| d.is_empty()) {
        assert_eq!(shmmetrics::open::zone_path("x").unwrap(), std::path::Path::new("/dev/shm/shmmetrics-x"));
    }
}

/// The C ABI's value-slot address (`shm_counter_slot`) is the metric's value.
#[test]
fn the_c_slot_address_is_the_value() {
    use shmmetrics::ffi::*;
    let dir = TempDir::new("idxslot");
    let z = open(&dir, "z", &create(64 << 10));
    let c = z.counter("c").unwrap();
    let path = std::ffi::CString::new(dir.zone_path("z").to_str().unwrap()).unwrap();
    let mut zone = std::ptr::null_mut();
    // SAFETY: a NUL-terminated path and a valid out-pointer.
    assert_eq!(unsafe { shm_zone_open_path(path.as_ptr(), 0, 0, 0, &mut zone) }, shm_status::SHM_OK);
    let mut counter = std::ptr::null_mut();
    // SAFETY: the zone handle is open; the name is valid for its length; `counter` is writable.
    assert_eq!(unsafe { shm_counter_open(zone.as_ref(), c"c".as_ptr(), 1, &mut counter) }, shm_status::SHM_OK);
    // SAFETY: the handle is open.
    let slot = shm_counter_slot(unsafe { counter.as_ref() });
    assert!(!slot.is_null());
    // SAFETY: the slot is an aligned i64 that stays mapped while the handle is open; atomics only.
    unsafe { std::sync::atomic::AtomicI64::from_ptr(slot).fetch_add(9, std::sync::atomic::Ordering::Relaxed) };
    assert_eq!(c.count(), 9);
    // SAFETY: the handle is open; releasing it ends it.
    assert_eq!(shm_counter_release(unsafe { counter.as_ref() }), shm_status::SHM_OK);
    // SAFETY: the zone handle is open; closing it ends it.
    assert_eq!(shm_zone_close(unsafe { zone.as_ref() }), shm_status::SHM_OK);
    assert_eq!(c.count(), 9);
}

#[test]
fn free_and_reuse_bumps_generation_and_returns_capacity() {
    let dir = TempDir::new("idx4");
    let z = open(&dir, "z", &create(64 << 10));
    let cap = z.capacity();
    let mut held = Vec::new();
    for i in 0..cap {
        held.push(z.counter(&format!("c{i}")).unwrap());
    }
    let full = z.counter("one-too-many").err().unwrap();
    assert_eq!(full.status, Status::SHM_ERR_ZONE_FULL);
    let s = z.stats().unwrap();
    assert_eq!((s.used, s.free, s.failed_zone_full), (cap, 0, 1));
    // Releasing every handle frees every entry: capacity really returns, again and again.
    for round in 0..3 {
        for c in held.drain(..) {
            c.release().unwrap();
        }
        assert_eq!(z.stats().unwrap().used, 0, "round {round}");
        for i in 0..cap {
            held.push(z.counter(&format!("r{round}-{i}")).unwrap());
        }
    }
    let gens: std::collections::HashSet<u64> = held.iter().map(|c| c.0.generation()).collect();
    assert_eq!(gens.len(), cap as usize);
    assert!(held.iter().all(|c| c.0.generation() > 3 * cap as u64));
    assert!(z.verify().unwrap().is_empty());
}

#[test]
fn reused_entry_starts_at_zero() {
    let dir = TempDir::new("idx5");
    let z = open(&dir, "z", &create(64 << 10));
    let mut all: Vec<_> = (0..z.capacity()).map(|i| z.counter(&format!("c{i}")).unwrap()).collect();
    all.iter().for_each(|c| c.inc(41));
    let victim = all.remove(7);
    let idx = victim.0.index();
    victim.release().unwrap();
    let b = z.counter("b").unwrap();
    assert_eq!(b.0.index(), idx, "a full zone hands out the freed entry");
    assert_eq!(b.count(), 0);
    assert!(z.metrics().all(|m| m.name != "c7"));
}

#[test]
fn collisions_share_buckets_correctly() {
    // A zone with few buckets forces long chains; every name still maps to its own entry.
    let dir = TempDir::new("idx6");
    let z = open(&dir, "z", &create(256 << 10));
    let cap = z.capacity() as usize;
    let counters: Vec<_> = (0..cap).map(|i| z.counter(&format!("m{i}")).unwrap()).collect();
    for (i, c) in counters.iter().enumerate() {
        c.inc(i as i64);
    }
    // Free every other one (unlinking from the middle of chains) and look the rest up again.
    let mut keep = Vec::new();
    for (i, c) in counters.into_iter().enumerate() {
        if i % 2 == 0 { c.release().unwrap() } else { keep.push((i, c)) }
    }
    for (i, _) in &keep {
        assert_eq!(z.counter(&format!("m{i}")).unwrap().count(), *i as i64);
    }
    assert!(z.verify().unwrap().is_empty());
    assert_eq!(z.stats().unwrap().used as usize, keep.len());
}

#[test]
fn float_gauge_add_and_update() {
    let dir = TempDir::new("idx7");
    let z = open(&dir, "z", &create(64 << 10));
    let g = z.gauge_f64("temp").unwrap();
    g.update(1.5);
    g.add(2.25);
    assert_eq!(g.value(), 3.75);
    let snap = z.metrics().find(|m| m.name == "temp").unwrap();
    assert_eq!((snap.kind, f64::from_bits(snap.bits)), (Kind::GaugeF64, 3.75));
    let other = Zone::open_path(&dir.zone_path("z"), &attach()).unwrap();
    assert_eq!(other.gauge_f64("temp").unwrap().value(), 3.75);
}

#[test]
fn a_file_truncated_under_the_mapping_is_reported_not_a_crash() {
    let dir = TempDir::new("idx8");
    let z = open(&dir, "z", &create(256 << 10));
    let c = z.counter("c").unwrap();
    c.inc(1);
    let f = std::fs::OpenOptions::new().write(true).open(dir.zone_path("z")).unwrap();
    f.set_len(4096).unwrap();
    // Registrations check the file's size at most every 100 ms (a system call is most of a
    // registration's cost), so they are left out here; tests/hostile_files.rs covers them.
    for e in [z.stats().err(), z.verify().err(), z.check_file().err(), c.0.release().err()] {
        assert_eq!(e.map(|e| e.status), Some(Status::SHM_ERR_CORRUPT));
    }
}

/// Rows of `key` in tests/vectors/fnv1a32.json: one `[...]` of plain strings (no escapes) per line.
fn fnv_vectors(key: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/fnv1a32.json")).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(&format!("\"{key}\"")))
        .skip(1)
        .take_while(|l| l.trim_start().starts_with('['))
        .map(|l| l.split('"').skip(1).step_by(2).map(String::from).collect())
        .collect();
    assert!(!rows.is_empty(), "no {key} in the vectors");
    rows
}

#[test]
fn fnv1a32_vectors() {
    for row in fnv_vectors("hashes") {
        assert_eq!(format!("{:08x}", shmmetrics::index::fnv1a32(row[0].as_bytes())), row[1], "{row:?}");
    }
}

/// Two long names with the same hash and the same first 72 bytes share a bucket chain: they are
/// two metrics with their own entries and values, found as such by every path (a second
/// attachment joins without the lock; the owner finds its own; both are listed), and releasing
/// one leaves the other. A comparison of names that stopped early would merge them.
#[test]
fn names_with_the_same_hash_and_a_long_common_prefix_stay_apart() {
    for row in fnv_vectors("collisions") {
        let (a, b) = (row[0].as_str(), row[1].as_str());
        assert!(a.len() > 64 && a.len() == b.len() && a.as_bytes()[..64] == b.as_bytes()[..64] && a != b);
        let hash = shmmetrics::index::fnv1a32(a.as_bytes());
        assert_eq!((format!("{hash:08x}"), shmmetrics::index::fnv1a32(b.as_bytes())), (row[2].clone(), hash));

        let dir = TempDir::new("idxcollide");
        let z = open(&dir, "z", &create(64 << 10));
        let other = Zone::open_path(&dir.zone_path("z"), &attach()).unwrap();
        let ca = z.counter(a).unwrap();
        ca.inc(1);
        let cb = z.counter(b).unwrap();
        cb.inc(2);
        assert_ne!(ca.0.index(), cb.0.index(), "{b} was handed {a}'s entry");
        // Lock-free joins from another attachment, in both orders of the chain.
        let (ob, oa) = (other.counter(b).unwrap(), other.counter(a).unwrap());
        assert_eq!((oa.0.index(), ob.0.index()), (ca.0.index(), cb.0.index()));
        assert_eq!((oa.count(), ob.count()), (1, 2));
        // A name this process holds, asked again.
        assert_eq!(z.counter(b).unwrap().0.index(), cb.0.index());
        // The kind check compares the right entry too.
        assert_eq!(z.gauge(a).err().map(|e| e.status), Some(Status::SHM_ERR_KIND_MISMATCH));
        let mut listed: Vec<(String, i64)> = z.metrics().map(|m| (m.name, m.bits as i64)).collect();
        listed.sort();
        assert_eq!(listed, vec![(a.to_string(), 1), (b.to_string(), 2)]);
        // Releasing every handle on `a` frees it alone.
        for h in [ca, oa] {
            h.release().unwrap();
        }
        let listed: Vec<(String, i64)> = z.metrics().map(|m| (m.name, m.bits as i64)).collect();
        assert_eq!(listed, vec![(b.to_string(), 2)]);
        // `a` again: a new registration, not `b`'s entry.
        let again = other.counter(a).unwrap();
        assert_ne!(again.0.index(), cb.0.index());
        assert_eq!(again.count(), 0);
        assert!(z.verify().unwrap().is_empty());
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Registration and creation times are the clock's at that moment; a reused entry gets its own.
/// A zone nobody crashed in reports no repair, takeover or timeout, and no lock holder at rest.
#[test]
fn times_and_health_counters_report_what_happened() {
    let dir = TempDir::new("idxstats");
    let before = now_ns();
    let z = open(&dir, "z", &create(64 << 10));
    let info = z.info().unwrap();
    assert!((before..=now_ns()).contains(&info.created_unix_ns), "{info:?}");
    assert_eq!((info.creator_pid, info.version_major, info.version_minor, info.read_only), (std::process::id(), 1, 1, false));
    assert_eq!((info.capacity, info.max_writers, info.mode), (z.capacity(), 256, 0o600));
    let t0 = now_ns();
    let a = z.counter("a").unwrap();
    let t1 = now_ns();
    let created = z.metrics().find(|m| m.name == "a").unwrap().created_unix_ns;
    assert!((t0..=t1).contains(&created), "{t0} <= {created} <= {t1}");
    let index = a.0.index();
    a.release().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let t2 = now_ns();
    let b = z.gauge("b").unwrap();
    assert_eq!(b.0.index(), index, "the freed entry is reused");
    assert!(z.entry(index).unwrap().created_unix_ns >= t2, "a reused entry has its own registration time");
    for i in 0..100 {
        z.counter(&format!("c{i}")).unwrap().release().unwrap();
    }
    let other = Zone::open_path(&dir.zone_path("z"), &attach()).unwrap();
    other.counter("b_other").unwrap();
    let s = z.stats().unwrap();
    assert_eq!((s.repairs, s.lock_takeovers, s.lock_timeouts, s.lock_holder), (0, 0, 0, None), "{s:?}");
    assert_eq!((s.used, s.orphaned, s.attached, s.failed_registrations), (2, 0, 2, 0), "{s:?}");
    assert_eq!(s.free + s.used, s.capacity, "{s:?}");
    assert!(z.verify().unwrap().is_empty());
}

/// The lock-free walk of a bucket chain stops after 64 links (then asks again under the
/// registration lock). A name 65 links down its chain is found there, by the exact walk under
/// the lock, never registered a second time.
#[test]
fn a_name_deeper_than_the_lock_free_walk_is_found_under_the_lock() {
    let dir = TempDir::new("idxdeep");
    let z = open(&dir, "z", &create(64 << 10));
    let buckets = z.capacity(); // a new zone has one bucket per entry
    let names: Vec<String> = (0..).map(|k| format!("deep_{k}")).filter(|n| shmmetrics::index::fnv1a32(n.as_bytes()) % buckets == 7).take(66).collect();
    // Each registration goes to the head of the chain: the first ends up 65 links down.
    let handles: Vec<_> = names.iter().map(|n| z.counter(n).unwrap()).collect();
    handles[0].inc(5);
    let other = Zone::open_path(&dir.zone_path("z"), &attach()).unwrap();
    let again = other.counter(&names[0]).unwrap();
    assert_eq!((again.0.index(), again.count()), (handles[0].0.index(), 5), "registered twice");
    // Found under the lock, the other kind is refused too (mutant: the kind check skipped there).
    assert_eq!(other.gauge(&names[1]).err().map(|e| e.status), Some(Status::SHM_ERR_KIND_MISMATCH));
    assert_eq!(z.stats().unwrap().used, 66);
    assert!(z.verify().unwrap().is_empty());
}

/// A free list damaged to point at a live entry, or at a record past the high-water mark: the
/// next registration rebuilds the list from the entries' states instead of following it, so it
/// neither overwrites the live metric nor registers one that scans would never reach.
#[test]
fn a_damaged_free_list_is_rebuilt_not_followed() {
    use std::os::unix::fs::FileExt;
    let dir = TempDir::new("idxfree");
    let z = open(&dir, "z", &create(64 << 10));
    let a = z.counter("a").unwrap();
    a.inc(7);
    let _b = z.counter("b").unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(dir.zone_path("z")).unwrap();
    let set_free_head = |index_plus_1: u32| {
        let field = shmmetrics::layout_table::header::free_head;
        assert_eq!(field.size, 4);
        file.write_at(&index_plus_1.to_ne_bytes(), field.offset as u64).unwrap();
    };
    set_free_head(a.0.index() + 1);
    let c = z.counter("c").unwrap();
    assert_ne!(c.0.index(), a.0.index(), "took a live entry off a damaged free list");
    assert_eq!((z.entry(a.0.index()).unwrap().name.as_str(), a.count()), ("a", 7));
    let high_water = z.stats().unwrap().high_water;
    set_free_head(high_water + 3 + 1);
    let d = z.counter("d").unwrap();
    assert!(d.0.index() < z.stats().unwrap().high_water, "took a record past the high-water mark");
    // The record just at the high-water mark is past it too.
    set_free_head(z.stats().unwrap().high_water + 1);
    let e = z.counter("e").unwrap();
    assert!(e.0.index() < z.stats().unwrap().high_water, "took the record at the high-water mark");
    let listed: Vec<String> = z.metrics().map(|m| m.name).collect();
    assert_eq!(listed, ["a", "b", "c", "d", "e"]);
    assert!(z.verify().unwrap().is_empty());
}

/// Entry records are reserved (fallocated) in chunks of 1024 as registrations reach them, from
/// the first registration on: a full tmpfs then fails a registration instead of faulting later,
/// and `repair`, which trusts only reserved records, keeps the first metric.
#[test]
fn the_first_registration_reserves_its_records() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("idxreserve");
    let z = open(&dir, "z", &create(1 << 20));
    let allocated = || std::fs::metadata(dir.zone_path("z")).unwrap().blocks() * 512;
    let before = allocated();
    let a = z.counter("a").unwrap();
    a.inc(1);
    let grown = allocated() - before;
    assert!(grown >= 1024 * (384 + 128), "the first registration reserved {grown} bytes, not 1024 records");
    assert_eq!(z.repair().unwrap(), 0);
    assert_eq!(z.metrics().map(|m| (m.name, m.bits)).collect::<Vec<_>>(), [("a".to_string(), 1)]);
    assert_eq!(z.stats().unwrap().high_water, 1);
}

/// Every handle operation, as another attachment (and a listing) sees it.
#[test]
fn counter_and_gauge_operations() {
    let dir = TempDir::new("idxops");
    let z = open(&dir, "z", &create(64 << 10));
    let other = Zone::open_path(&dir.zone_path("z"), &attach()).unwrap();
    let c = z.counter("c").unwrap();
    c.inc(10);
    c.dec(3);
    c.dec(-1);
    assert_eq!((c.count(), other.counter("c").unwrap().count()), (8, 8));
    c.clear();
    assert_eq!(other.counter("c").unwrap().count(), 0);
    c.dec(2);
    assert_eq!(c.count(), -2, "a counter may go down (go-metrics Dec)");
    let g = z.gauge("g").unwrap();
    g.update(-40);
    g.add(50);
    g.add(-3);
    assert_eq!((g.value(), other.gauge("g").unwrap().value()), (7, 7));
    g.update(i64::MIN);
    assert_eq!(other.gauge("g").unwrap().value(), i64::MIN);
    let f = z.gauge_f64("f").unwrap();
    f.update(-0.5);
    f.add(0.25);
    assert_eq!((f.value(), other.gauge_f64("f").unwrap().value()), (-0.25, -0.25));
    let as_f64: Vec<f64> = z.metrics().map(|m| m.value().as_f64()).collect();
    assert_eq!(as_f64, [-2.0, i64::MIN as f64, -0.25]);
    let listed: Vec<(String, String)> = z.metrics().map(|m| (m.name.clone(), m.value().to_string())).collect();
    assert_eq!(listed, [("c".into(), "-2".into()), ("g".into(), i64::MIN.to_string()), ("f".into(), "-0.25".into())]);
    // Releasing each kind's last handle frees it (the other attachment's holds go as it detaches).
    drop(other);
    f.release().unwrap();
    assert_eq!(z.metrics().map(|m| m.name).collect::<Vec<_>>(), ["c", "g"]);
    g.release().unwrap();
    c.release().unwrap();
    assert_eq!(z.stats().unwrap().used, 0);
}

/// A writer attaches only to a file its user owns and nobody else may write (beyond the mode it
/// asked for), unless it says it trusts a shared zone; a monitor (read-only) may read any.
#[test]
fn writers_refuse_zones_that_others_may_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("idxtrust");
    let path = dir.zone_path("z");
    drop(Zone::open_path(&path, &create(64 << 10)).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o622)).unwrap();
    let e = Zone::open_path(&path, &attach()).err().expect("a zone others may write was trusted");
    assert_eq!(e.status, Status::SHM_ERR_UNTRUSTED);
    assert!(e.message.contains("any user may write"), "{}", e.message);
    assert!(Zone::open_path(&path, &OpenOptions { trust_shared: true, ..attach() }).is_ok());
    assert!(Zone::open_path(&path, &OpenOptions { mode: 0o622, ..attach() }).is_ok(), "the mode it asked for");
    assert!(Zone::open_path(&path, &OpenOptions { read_only: true, ..Default::default() }).is_ok());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).unwrap();
    let e = Zone::open_path(&path, &attach()).err().expect("a zone its group may write was trusted");
    assert!(e.message.contains("its group may write"), "{}", e.message);
    // Another user's zone (needs root to make one): a fresh start never replaces it, unless the
    // caller trusts shared zones.
    use std::os::unix::fs::MetadataExt;
    if std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_ok() {
        let fresh = OpenOptions { fresh: true, ..create(64 << 10) };
        let e = Zone::open_path(&path, &fresh).err().expect("replaced another user's zone");
        assert_eq!(e.status, Status::SHM_ERR_UNTRUSTED);
        assert_eq!(std::fs::metadata(&path).unwrap().uid(), 65534, "the other user's file is still there");
        Zone::open_path(&path, &OpenOptions { trust_shared: true, ..fresh }).unwrap();
        assert_ne!(std::fs::metadata(&path).unwrap().uid(), 65534, "replaced when trusted");
    }
}

/// A zone bigger than its filesystem's free space is refused at once (`SHM_ERR_NO_SPACE`),
/// rather than created sparse and faulting when a registration reaches the missing pages.
#[test]
fn a_zone_bigger_than_the_free_space_is_refused() {
    let dir = TempDir::new("idxnospace");
    let c_dir = std::ffi::CString::new(dir.0.to_str().unwrap()).unwrap();
    // SAFETY: statvfs is plain data; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::statvfs(c_dir.as_ptr(), &mut st) }, 0);
    let free = st.f_bavail as u64 * st.f_frsize as u64;
    let size = free + (64 << 20);
    if size > 1 << 40 {
        return; // more than the largest zone is free: nothing to refuse
    }
    let path = dir.zone_path("z");
    let e = Zone::open_path(&path, &create(size)).err().expect("a zone bigger than the free space was created");
    assert_eq!(e.status, Status::SHM_ERR_NO_SPACE);
    assert!(e.message.contains("does not fit"), "{}", e.message);
    assert!(!path.exists());
}

/// A zone opened with `remove_on_close` removes its file when its last writer detaches, but
/// not a newer zone that replaced it under the same name (a fresh start by someone else).
#[test]
fn remove_on_close_never_removes_a_zone_that_replaced_it() {
    let dir = TempDir::new("idxremove");
    let path = dir.zone_path("z");
    let first = Zone::open_path(&path, &OpenOptions { remove_on_close: true, ..create(64 << 10) }).unwrap();
    first.counter("old").unwrap();
    let newer = Zone::open_path(&path, &OpenOptions { fresh: true, ..create(64 << 10) }).unwrap();
    newer.counter("new").unwrap();
    drop(first);
    assert!(path.exists(), "the newer zone's file was removed");
    let again = Zone::open_path(&path, &attach()).unwrap();
    assert_eq!(again.metrics().map(|m| m.name).collect::<Vec<_>>(), ["new"]);
    drop((again, newer));
    let alone = Zone::open_path(&path, &OpenOptions { remove_on_close: true, ..attach() }).unwrap();
    drop(alone);
    assert!(!path.exists(), "the last writer with remove_on_close removes the file");
}

/// Each later chunk of 1024 records is reserved when the first registration reaches it, its
/// metadata and its value records (mutant: `record_ranges` placing a chunk at
/// `offset + from + size` instead of `offset + from * size`, which re-reserved the first chunk).
#[test]
fn each_chunk_of_records_is_reserved_when_reached() {
    use shmmetrics::layout_table::header;
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("idxreserve2");
    let z = open(&dir, "z", &create(4 << 20));
    let allocated = || std::fs::metadata(dir.zone_path("z")).unwrap().blocks() * 512;
    let mut held: Vec<_> = (0..1024).map(|i| z.counter(&format!("m{i}")).unwrap()).collect();
    let image = std::fs::read(dir.zone_path("z")).unwrap();
    assert!(header::capacity.get(&image) >= 3 * 1024);
    let chunk = 1024 * (header::meta_record_size.get(&image) + 128);
    let before = allocated();
    held.push(z.counter("m1024").unwrap());
    let grown = allocated() - before;
    assert!(grown >= chunk, "the 1025th registration reserved {grown} bytes, not the next 1024 records ({chunk})");
    held.push(z.counter("m1025").unwrap());
    assert_eq!(allocated() - before, grown, "the next registration in the chunk found its records reserved");
}

/// A freed record keeps nothing of its metric: the name's bytes are zeroed in the file, so a
/// shorter name that reuses the record leaves no tail of the old one (mutant: `clear_name` doing
/// nothing).
#[test]
fn a_freed_record_keeps_no_trace_of_its_name() {
    let dir = TempDir::new("idxclear");
    let z = open(&dir, "z", &create(1 << 20));
    let name = "a_long_name_that_must_not_linger_in_the_zone_file_once_released";
    let in_file = |s: &str| std::fs::read(dir.zone_path("z")).unwrap().windows(s.len()).any(|w| w == s.as_bytes());
    let c = z.counter(name).unwrap();
    assert!(in_file(name));
    c.release().unwrap();
    assert!(!in_file("must_not_linger"), "the freed record still holds the name");
}

/// `entry` at or past the end of the records is None, even in a full zone whose value records
/// all read as a live state (mutant: `index <= high water`, which read the record one past the
/// metadata region).
#[test]
fn entry_past_the_last_record_is_none() {
    let dir = TempDir::new("idxentry");
    let z = open(&dir, "z", &create(24576));
    let capacity = z.stats().unwrap().capacity;
    let held: Vec<_> = (0..capacity).map(|i| z.counter(&format!("c{i}")).unwrap()).collect();
    held.iter().for_each(|c| c.inc(shmmetrics::layout_table::STATE_LIVE as i64));
    assert!(z.entry(capacity - 1).is_some());
    assert!(z.entry(capacity).is_none());
    assert!(z.entry(u32::MAX).is_none());
}

/// `Zone::release` by identity, as the bindings release (they keep only the index and the
/// registration id): the last hold given up frees the entry (mutant: doing nothing).
#[test]
fn a_release_by_identity_frees_the_entry() {
    let dir = TempDir::new("idxrelid");
    let z = open(&dir, "z", &create(1 << 20));
    let m = z.register(b"by_identity", Kind::Counter).unwrap();
    let (index, generation) = (m.index(), m.generation());
    drop(m); // keeps the hold, as a binding's handle does
    assert!(z.entry(index).is_some());
    z.release(index, generation).unwrap();
    assert!(z.entry(index).is_none(), "the entry is still live after its only hold was released");
    assert_eq!(z.metrics().count(), 0);
}

/// `Zone::visit_from` (what the C bulk read `shm_zone_read` uses) visits every live entry in
/// index order until the visitor says stop (mutant: stopping when the visitor says go on).
#[test]
fn visits_go_on_until_the_visitor_stops() {
    let dir = TempDir::new("idxvisit");
    let z = open(&dir, "z", &create(1 << 20));
    let held: Vec<_> = ["a", "b", "c"].iter().map(|n| z.counter(n).unwrap()).collect();
    let mut seen = Vec::new();
    z.visit_from(0, |r, name| {
        seen.push((name.to_string(), r.index));
        true
    });
    assert_eq!(seen.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    let mut first_two = Vec::new();
    z.visit_from(seen[0].1, |_, name| {
        first_two.push(name.to_string());
        first_two.len() < 2
    });
    assert_eq!(first_two, ["a", "b"]);
    drop(held);
}

/// Writes `v` into `field` (an absolute field of the zone image) of the zone file: what a crash
/// mid-change, or a hostile writer, leaves behind. Our mapping sees it at once (same pages).
fn poke(dir: &TempDir, field: shmmetrics::layout_table::Field, v: u64) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(dir.zone_path("z")).unwrap();
    file.write_at(&v.to_ne_bytes()[..field.size], field.offset as u64).unwrap();
}

/// Field `field` of metadata record `i` in the zone file.
fn meta_field(dir: &TempDir, i: u32, field: shmmetrics::layout_table::Field) -> shmmetrics::layout_table::Field {
    let image = std::fs::read(dir.zone_path("z")).unwrap();
    field.at(shmmetrics::layout_table::meta_record(&image, i as usize))
}

/// Freed entries below the high-water mark count as free in the statistics (mutant: the
/// occupancy pass not counting them).
#[test]
fn freed_entries_count_as_free() {
    let dir = TempDir::new("idxfreecount");
    let z = open(&dir, "z", &create(1 << 20));
    let (a, _b) = (z.counter("a").unwrap(), z.counter("b").unwrap());
    a.release().unwrap();
    let s = z.stats().unwrap();
    assert_eq!((s.used, s.high_water, s.free), (1, 2, s.capacity - 1));
}

/// `repair` after a crash: a half-freed entry a live writer still holds is kept, with its value;
/// a half-claimed entry and an entry whose fields make no sense are reclaimed, and counted; free
/// entries are left alone and not counted (mutants: each of repair's arms and counts).
#[test]
fn repair_keeps_what_a_live_writer_holds_and_counts_what_it_reclaims() {
    use shmmetrics::layout_table::{STATE_CLAIMING, STATE_FREEING, meta};
    let dir = TempDir::new("idxrepair");
    let z = open(&dir, "z", &create(1 << 20));
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| z.counter(n).unwrap());
    b.inc(7);
    let (bi, ci, di) = (b.0.index(), c.0.index(), d.0.index());
    a.release().unwrap();
    poke(&dir, meta_field(&dir, bi, meta::state), STATE_FREEING as u64);
    poke(&dir, meta_field(&dir, ci, meta::state), STATE_CLAIMING as u64);
    poke(&dir, meta_field(&dir, di, meta::kind), 9);
    assert_eq!(z.repair().unwrap(), 2, "c and d reclaimed, nothing else");
    assert_eq!(z.metrics().map(|m| m.name).collect::<Vec<_>>(), ["b"]);
    assert_eq!((z.entry(bi).unwrap().name.as_str(), b.count()), ("b", 7));
    assert!(z.verify().unwrap().is_empty());
}

/// A release that finds its entry registered anew (another generation: it was freed and reused
/// behind this process's back) leaves it alone (mutant: `||` as `&&` in the check).
#[test]
fn a_release_never_frees_a_later_registration_of_its_entry() {
    use shmmetrics::layout_table::meta;
    let dir = TempDir::new("idxrelgen");
    let z = open(&dir, "z", &create(1 << 20));
    let x = z.counter("x").unwrap();
    let i = x.0.index();
    let generation = z.entry(i).unwrap().generation;
    poke(&dir, meta_field(&dir, i, meta::generation), generation + 1);
    x.release().unwrap();
    assert_eq!(z.entry(i).map(|e| e.generation), Some(generation + 1), "the later registration was freed");
}

/// Unlinking an entry from a chain whose link points one past the last record stops there
/// (mutant: `<=` in the walk's range check, which read past the metadata region).
#[test]
fn unlinking_stops_at_a_link_past_the_last_record() {
    use shmmetrics::index::fnv1a32;
    use shmmetrics::layout_table::{header, meta};
    let dir = TempDir::new("idxunlink");
    let z = open(&dir, "z", &create(64 << 10));
    let image = std::fs::read(dir.zone_path("z")).unwrap();
    let (buckets, capacity) = (header::bucket_count.get(&image) as u32, header::capacity.get(&image));
    // Two names in one bucket: the walk from the bucket goes through `first` to reach `target`.
    let bucket = |n: &str| fnv1a32(n.as_bytes()) % buckets;
    let target = "target";
    let first = (0..).map(|i| format!("n{i}")).find(|n| bucket(n) == bucket(target)).unwrap();
    let first = z.counter(&first).unwrap();
    let target = z.counter(target).unwrap();
    // Registration pushes at the chain's head: bucket -> target -> first. Make the walk meet
    // first's link, damaged to point one past the last record, before it meets target.
    poke(&dir, meta_field(&dir, target.0.index(), meta::next), 0);
    let image = std::fs::read(dir.zone_path("z")).unwrap();
    poke(&dir, shmmetrics::layout_table::bucket_head(&image, bucket("target") as usize), first.0.index() as u64 + 1);
    poke(&dir, meta_field(&dir, first.0.index(), meta::next), capacity + 1);
    target.release().unwrap();
    assert!(!z.verify().unwrap().is_empty(), "the damage is still there for verify to report");
    z.repair().unwrap();
    assert!(z.verify().unwrap().is_empty());
}

/// `verify` under the lock follows the free list and reports a link past the high-water mark
/// (mutant: `||` as `&&` in the range check, which took the link as a free entry).
#[test]
fn verify_reports_a_free_list_link_past_the_high_water_mark() {
    let dir = TempDir::new("idxverifyfree");
    let z = open(&dir, "z", &create(1 << 20));
    let (_a, b) = (z.counter("a").unwrap(), z.counter("b").unwrap());
    b.release().unwrap();
    assert!(z.verify().unwrap().is_empty());
    let high_water = z.stats().unwrap().high_water;
    poke(&dir, shmmetrics::layout_table::header::free_head, high_water as u64 + 2); // links are index + 1
    let problems = z.verify().unwrap();
    assert!(problems.iter().any(|p| p.contains(&format!("free list: link to entry {}", high_water + 1))), "{problems:?}");
}

/// Each handle on a name is one hold of this process: of two handles, releasing one keeps the
/// metric for the other, releasing both frees it (mutants: a release not counting its hold down).
#[test]
fn each_handle_is_one_hold() {
    let dir = TempDir::new("idxholds");
    let z = open(&dir, "z", &create(1 << 20));
    let (a, b) = (z.counter("x").unwrap(), z.counter("x").unwrap());
    assert_eq!(a.0.index(), b.0.index());
    a.inc(3);
    a.release().unwrap();
    assert_eq!(z.metrics().map(|m| (m.name, m.bits)).collect::<Vec<_>>(), [("x".to_string(), 3)], "the other handle still holds x");
    b.release().unwrap();
    assert_eq!(z.metrics().count(), 0, "both holds released, the entry is freed");
    assert!(z.verify().unwrap().is_empty());
}

/// A header overwritten under a live mapping (a file truncated and grown back reads as zeros) is
/// noticed by the next registration, even within the interval between file-size checks (mutant:
/// `||` as `&&`, which needed both the magic and the size to change).
#[test]
fn a_registration_notices_an_overwritten_header() {
    use shmmetrics::layout_table::header;
    let dir = TempDir::new("idxheader");
    let z = open(&dir, "z", &create(1 << 20));
    z.counter("a").unwrap();
    poke(&dir, header::magic, 0);
    assert_eq!(z.counter("b").err().map(|e| e.status), Some(Status::SHM_ERR_CORRUPT));
}

/// A zone file shrunk under the mapping is noticed by a registration once the file-size check is
/// due (at most every 100 ms), instead of faulting on the missing pages (mutant: the check's
/// interval test inverted).
#[test]
fn a_registration_notices_a_shrunk_file_once_the_check_is_due() {
    let dir = TempDir::new("idxshrunk");
    let z = open(&dir, "z", &create(1 << 20));
    z.counter("a").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    std::fs::OpenOptions::new().write(true).open(dir.zone_path("z")).unwrap().set_len(8192).unwrap();
    assert_eq!(z.counter("b").err().map(|e| e.status), Some(Status::SHM_ERR_CORRUPT));
}

/// `remove_on_close` unlinks the zone file when the last writer detaches, not before (mutant:
/// the check for other attached writers inverted).
#[test]
fn remove_on_close_waits_for_the_last_writer() {
    let dir = TempDir::new("idxremove");
    let path = dir.zone_path("z");
    let a = Zone::open_path(&path, &OpenOptions { remove_on_close: true, ..create(1 << 20) }).unwrap();
    let b = Zone::open_path(&path, &OpenOptions { remove_on_close: true, ..attach() }).unwrap();
    drop(a);
    assert!(path.exists(), "removed while another writer is attached");
    drop(b);
    assert!(!path.exists(), "the last writer removes it");
}
