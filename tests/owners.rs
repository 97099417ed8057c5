//! Owner bits: which writer slots hold an entry. An entry is freed only when no live writer's
//! bit is left on it, whichever of its owner words that bit is in, and a dead writer's bits never
//! pass to the next process that claims its slot.
//!
//! Each `Zone::open_path` is an attachment of its own (its own file description, kernel lock and
//! writer slot), so one process can fill many slots. Slots are claimed from `pid % slots`
//! upwards, so consecutive opens take consecutive slots (modulo the slot count).

mod common;
use common::*;

use shmmetrics::layout_table::{meta_record, owner_word};
use shmmetrics::{OpenOptions, Status, Zone};

/// One test at a time: a fork hands every attachment of the process to the child (the other
/// tests' too), and a child that inherited a metric holds it until it exits.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer slots whose bit is set on entry `index`, read from the zone file.
fn owner_slots(zone: &Zone, index: u32) -> Vec<u32> {
    let image = std::fs::read(zone.path()).unwrap();
    let record = meta_record(&image, index as usize);
    let words = zone.stats().unwrap().max_writers as usize / 64;
    (0..words)
        .flat_map(|w| {
            let bits = owner_word(record, w).get(&image);
            (0..64).filter(move |b| bits & (1 << b) != 0).map(move |b| (w * 64 + b) as u32)
        })
        .collect()
}

/// `n` attachments of zone "z" in `dir`, the first one creating it (`size` bytes, `slots`
/// writer slots).
fn attachments(dir: &TempDir, size: u64, slots: u32, n: usize) -> Vec<Zone> {
    let path = dir.zone_path("z");
    let first = Zone::open_path(&path, &OpenOptions { max_writers: slots, ..create(size) }).unwrap();
    std::iter::once(first).chain((1..n).map(|_| Zone::open_path(&path, &attach()).unwrap())).collect()
}

/// Attachments `a` and `b` hold one metric, in owner words `wa` != `wb`; `a` releases it. The
/// metric must stay, with its value and registration, and a new name must not get its entry.
fn release_keeps_a_metric_another_word_holds(a: &Zone, b: &Zone, name: &str) {
    let ma = a.counter(name).unwrap();
    ma.inc(5);
    let mb = b.counter(name).unwrap();
    mb.inc(2);
    let (index, generation) = (mb.0.index(), mb.0.generation());
    assert_eq!(ma.0.index(), index);
    let owners = owner_slots(a, index);
    assert_eq!(owners.len(), 2, "{owners:?}");
    assert_ne!(owners[0] / 64, owners[1] / 64, "the test needs owners in two words: {owners:?}");
    ma.release().unwrap();
    assert_eq!(mb.count(), 7, "{name}: the value stayed");
    let e = a.entry(index).expect("the entry stayed live");
    assert_eq!((e.name.as_str(), e.generation), (name, generation));
    let newcomer = a.counter(&format!("{name}_newcomer")).unwrap();
    assert_ne!(newcomer.0.index(), index, "{name}'s entry was handed to a new name");
    assert_eq!(mb.count(), 7);
    assert_eq!(owner_slots(a, index).len(), 1);
    newcomer.release().unwrap();
    mb.release().unwrap();
    assert!(a.entry(index).is_none(), "freed once its last holder released it");
}

/// 65 attachments of a 256-slot zone in one process: the first and the last are in different
/// owner words, and either releasing leaves the metric to the other.
#[test]
fn a_release_keeps_a_metric_held_in_another_owner_word() {
    let _serial = serial();
    let dir = TempDir::new("owners65");
    let zones = attachments(&dir, 64 << 10, 256, 65);
    let (first, last) = (&zones[0], &zones[64]);
    release_keeps_a_metric_another_word_holds(first, last, "first_releases");
    release_keeps_a_metric_another_word_holds(last, first, "last_releases");
    assert_eq!(first.stats().unwrap().attached, 65);
    assert!(first.verify().unwrap().is_empty());
}

/// The same with 4096 writer slots: 321 consecutive slots reach past slot 255 (the 1.0 limit)
/// wherever they start, and the first and last of them lie in different owner words.
#[test]
fn a_release_keeps_a_metric_held_in_another_owner_word_of_4096_slots() {
    let _serial = serial();
    let dir = TempDir::new("owners4096");
    let zones = attachments(&dir, 1 << 20, 4096, 321);
    let (first, last) = (&zones[0], &zones[320]);
    assert_eq!(first.stats().unwrap().max_writers, 4096);
    let probe = first.counter("probe").unwrap();
    let probe_last = last.counter("probe").unwrap();
    let slots = owner_slots(first, probe.0.index());
    assert!(slots.iter().any(|&s| s >= 256), "{slots:?}");
    probe.release().unwrap();
    probe_last.release().unwrap();
    release_keeps_a_metric_another_word_holds(first, last, "first_releases");
    release_keeps_a_metric_another_word_holds(last, first, "last_releases");
    assert!(first.verify().unwrap().is_empty());
}

/// A writer dies holding a metric (no detach: its slot stays claimed, its bit stays set). When
/// the slots run out, its slot is cleaned and claimed by a new attachment: the dead writer's bit
/// must not pass to the newcomer. The metric stays an orphan (counted as such, with its value)
/// and a full zone reclaims it, although the slot that held it is alive again.
#[test]
fn a_dead_writers_owner_bits_do_not_pass_to_the_next_claimer_of_its_slot() {
    let _serial = serial();
    let dir = TempDir::new("stale");
    let mut zones = attachments(&dir, 24576, 64, 1);
    let capacity = zones[0].capacity() as usize;
    // Fork from the one attachment that has slot 0, so the child's slot (the first free one
    // from 0) is another: the dead slot's bit must be found by its own number (mutants: the bit
    // arithmetic of dead slots). Attachments claim slots upwards from the PID's, wrapping.
    let slot0_free = || {
        use shmmetrics::layout_table::{SLOT_FREE, attach, attach_record};
        let image = std::fs::read(dir.zone_path("z")).unwrap();
        attach::state.at(attach_record(&image, 0)).get(&image) == SLOT_FREE as u64
    };
    while slot0_free() {
        zones.push(open(&dir, "z", &attach()));
    }
    let zone = zones.pop().unwrap(); // the one that took slot 0
    zones.clear(); // the others detach: one attachment at the fork, one child slot
    zones.push(zone.clone());
    // SAFETY: the child registers, increments and leaves with _exit (no destructors, no detach).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = zone.counter("orphan").map(|c| c.inc(41)).is_ok();
        // SAFETY: leaves without detaching, like a killed process.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let orphan = zone.metrics().find(|m| m.name == "orphan").unwrap();
    let dead_slot = owner_slots(&zone, orphan.index);
    assert_eq!(dead_slot.len(), 1);
    assert_eq!(zone.stats().unwrap().orphaned, 1);
    assert_ne!(dead_slot, [0]);
    // Every other slot taken by a live attachment; the next one cleans the dead slot and gets it.
    while zones.len() < 63 {
        zones.push(open(&dir, "z", &attach()));
    }
    assert_eq!(zone.stats().unwrap().attached, 63);
    let newcomer = open(&dir, "z", &attach());
    assert_eq!(zone.stats().unwrap().attached, 64);
    let mine = newcomer.counter("mine").unwrap();
    assert_eq!(owner_slots(&zone, mine.0.index()), dead_slot, "the newcomer has the dead writer's slot");
    assert!(owner_slots(&zone, orphan.index).is_empty(), "the dead writer's bit was cleared");
    let s = zone.stats().unwrap();
    assert_eq!((s.used, s.orphaned), (2, 1), "the orphan is nobody's");
    assert_eq!(zone.entry(orphan.index).map(|e| e.bits), Some(41));
    // Fill the zone from the newcomer: the last registration needs the orphan's entry.
    let fill: Vec<_> = (0..capacity - 2).map(|i| newcomer.counter(&format!("fill_{i}")).unwrap()).collect();
    assert_eq!(fill.len(), capacity - 2);
    let last = newcomer.counter("needs_the_orphans_entry");
    assert!(last.is_ok(), "the orphan was not reclaimed: {:?}", last.err().map(|e| e.status));
    assert!(zone.metrics().all(|m| m.name != "orphan"));
    assert_eq!(newcomer.counter("one_too_many").err().map(|e| e.status), Some(Status::SHM_ERR_ZONE_FULL));
    assert!(zone.verify().unwrap().is_empty());
}

/// An attachment that detaches cleanly (its zone dropped, its handle closed, not released) takes
/// its owner bits off what it held before freeing its slot: the metric is an orphan, and the next
/// attachment, which claims that same slot, does not inherit the hold (mutant: the detach
/// clearing the bits of the wrong registrations).
#[test]
fn a_clean_detach_leaves_no_owner_bits_for_the_next_claimer_of_its_slot() {
    let _serial = serial();
    let dir = TempDir::new("detach");
    let zone = attachments(&dir, 24576, 64, 1).remove(0);
    let second = open(&dir, "z", &attach());
    let kept = second.counter("kept").unwrap();
    kept.inc(3);
    let (index, slots) = (kept.0.index(), owner_slots(&zone, kept.0.index()));
    assert_eq!(slots.len(), 1);
    drop(kept); // closes the handle, keeps the metric
    drop(second);
    assert!(owner_slots(&zone, index).is_empty(), "the clean detach cleared its bit");
    let third = open(&dir, "z", &attach());
    third.counter("mine").unwrap();
    let s = zone.stats().unwrap();
    assert_eq!((s.attached, s.used, s.orphaned), (2, 2, 1), "kept is nobody's, whoever has the slot now");
    assert_eq!(zone.entry(index).map(|e| e.bits), Some(3));
}
