//! Hand-made seed inputs, written into `fuzz/corpus/<target>/seed-*` by
//! `fuzz-stable --write-seeds` and replayed by `tests/corpus.rs` (freshly generated as well as
//! committed, so a format change cannot leave the seeds stale unnoticed).
//!
//! Zone images are made by the library itself, then edited: valid zones, truncated files, wrong
//! magic, future versions, headers that lie about their sizes, and damaged indexes.

use shmmetrics::layout_table::{STATE_CLAIMING, STATE_FREEING, STATE_LIVE, attach, bucket_head, header, meta, meta_record, owner_word};
use shmmetrics::{OpenOptions, Zone};

/// A zone created by the library with `metrics` registered (name, kind 0/1/2, value), with the
/// informational fields (time, pid, attach records, owner bits) zeroed so the bytes are the
/// same on every run.
pub fn zone_image(size: u64, metrics: &[(&str, u8, i64)], release: &[&str]) -> Vec<u8> {
    let path = crate::scratch_dir().join(format!("seed-{size}-{}.zone", metrics.len()));
    let _ = std::fs::remove_file(&path);
    {
        let z = Zone::open_path(&path, &OpenOptions { create: true, size, ..Default::default() }).expect("create a seed zone");
        let mut keep = Vec::new();
        for &(name, kind, v) in metrics {
            match kind {
                0 => {
                    let c = z.counter(name).expect("register");
                    c.inc(v);
                    if release.contains(&name) { c.release().unwrap() } else { keep.push(c.0) }
                }
                1 => {
                    let g = z.gauge(name).expect("register");
                    g.update(v);
                    if release.contains(&name) { g.release().unwrap() } else { keep.push(g.0) }
                }
                _ => {
                    let g = z.gauge_f64(name).expect("register");
                    g.update(v as f64 + 0.5);
                    if release.contains(&name) { g.release().unwrap() } else { keep.push(g.0) }
                }
            }
        }
    }
    let mut data = std::fs::read(&path).expect("read the seed zone");
    let _ = std::fs::remove_file(&path);
    header::created_unix_ns.put(&mut data, 0);
    header::creator_pid.put(&mut data, 0);
    let attach_region = header::attach_offset.get(&data) as usize;
    let attach_len = header::attach_slots.get(&data) as usize * attach::RECORD.size;
    data[attach_region..attach_region + attach_len].fill(0);
    for i in 0..header::capacity.get(&data) as usize {
        let rec = meta_record(&data, i);
        for w in 0..header::attach_slots.get(&data) as usize / 64 {
            owner_word(rec, w).put(&mut data, 0);
        }
        meta::created_unix_ns.at(rec).put(&mut data, 0);
    }
    data
}

fn with(base: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut d = base.to_vec();
    f(&mut d);
    d
}

/// Index of the first live record.
fn first_live(data: &[u8]) -> usize {
    let cap = header::capacity.get(data) as usize;
    (0..cap).find(|&i| meta::state.at(meta_record(data, i)).get(data) == STATE_LIVE as u64).expect("a live entry")
}

pub fn zone_file_seeds() -> Vec<(String, Vec<u8>)> {
    let long = "l".repeat(255);
    let metrics: Vec<(&str, u8, i64)> =
        vec![("requests_total{method=\"GET\"}", 0, 42), ("queue_depth", 1, -7), ("temperature", 2, 21), ("released", 0, 1), (&long, 0, i64::MAX), ("é", 1, 3)];
    let valid = zone_image(24576, &metrics, &["released"]);
    let full: Vec<(String, u8, i64)> = (0..10).map(|i| (format!("m{i}"), (i % 3) as u8, i as i64)).collect();
    let full_refs: Vec<(&str, u8, i64)> = full.iter().map(|(n, k, v)| (n.as_str(), *k, *v)).collect();
    let len = valid.len();
    let mut v: Vec<(String, Vec<u8>)> = vec![
        ("valid-empty".into(), zone_image(20608, &[], &[])),
        ("valid-metrics".into(), valid.clone()),
        ("valid-full".into(), zone_image(24576, &full_refs, &[])),
        ("valid-64k".into(), zone_image(65536, &metrics, &[])),
        // Truncated files.
        ("truncated-0".into(), Vec::new()),
        ("truncated-255".into(), valid[..255].to_vec()),
        ("truncated-256".into(), valid[..256].to_vec()),
        ("truncated-4096".into(), valid[..4096].to_vec()),
        ("truncated-minus-1".into(), valid[..len - 1].to_vec()),
        ("truncated-size-fixed".into(), with(&valid[..12288], |d| header::file_size.put(d, 12288))),
        ("extended".into(), with(&valid, |d| d.extend(std::iter::repeat_n(0, 4096)))),
        (
            "extended-size-fixed".into(),
            with(&valid, |d| {
                d.extend(std::iter::repeat_n(0, 4096));
                header::file_size.put(d, (len + 4096) as u64)
            }),
        ),
        // Not a zone.
        ("wrong-magic".into(), with(&valid, |d| d[0] ^= 0x20)),
        ("other-endian".into(), with(&valid, |d| d[..8].reverse())),
        ("zeros".into(), vec![0; 24576]),
        // Versions.
        ("future-major".into(), with(&valid, |d| header::version_major.put(d, 2))),
        ("major-0".into(), with(&valid, |d| header::version_major.put(d, 0))),
        ("future-minor".into(), with(&valid, |d| header::version_minor.put(d, 99))),
        // Headers that lie about sizes.
        ("lie-file-size-bigger".into(), with(&valid, |d| header::file_size.put(d, (len + 4096) as u64))),
        ("lie-file-size-huge".into(), with(&valid, |d| header::file_size.put(d, u64::MAX))),
        (
            "lie-capacity-plus-1".into(),
            with(&valid, |d| {
                let c = header::capacity.get(d);
                header::capacity.put(d, c + 1)
            }),
        ),
        ("lie-capacity-0".into(), with(&valid, |d| header::capacity.put(d, 0))),
        ("lie-capacity-max".into(), with(&valid, |d| header::capacity.put(d, u32::MAX as u64))),
        ("lie-buckets-max".into(), with(&valid, |d| header::bucket_count.put(d, u32::MAX as u64 - 1))),
        ("lie-buckets-1".into(), with(&valid, |d| header::bucket_count.put(d, 1))),
        (
            "lie-values-misaligned-64".into(),
            with(&valid, |d| {
                let o = header::values_offset.get(d);
                header::values_offset.put(d, o + 64)
            }),
        ),
        ("lie-values-past-end".into(), with(&valid, |d| header::values_offset.put(d, len as u64))),
        (
            "lie-meta-overlaps-buckets".into(),
            with(&valid, |d| {
                let b = header::buckets_offset.get(d);
                header::meta_offset.put(d, b)
            }),
        ),
        ("lie-attach-0".into(), with(&valid, |d| header::attach_offset.put(d, 0))),
        ("lie-offset-overflow".into(), with(&valid, |d| header::values_offset.put(d, u64::MAX - 63))),
        ("lie-header-size".into(), with(&valid, |d| header::header_size.put(d, 256))),
        ("lie-meta-record-size".into(), with(&valid, |d| header::meta_record_size.put(d, 256))),
        ("lie-value-record-size".into(), with(&valid, |d| header::value_record_size.put(d, 8))),
        ("lie-attach-slots".into(), with(&valid, |d| header::attach_slots.put(d, 1024))),
        ("unknown-hash".into(), with(&valid, |d| header::hash_id.put(d, 2))),
    ];
    // Damaged indexes behind a valid header.
    let i = first_live(&valid);
    let rec = meta_record(&valid, i);
    let bucket0 = bucket_head(&valid, 0);
    type Edit = Box<dyn Fn(&mut Vec<u8>)>;
    let damaged: Vec<(&str, Edit)> = vec![
        ("dirty", Box::new(|d| header::dirty.put(d, 1))),
        ("chain-loop", Box::new(move |d| meta::next.at(rec).put(d, i as u64 + 1))),
        ("chain-out-of-range", Box::new(move |d| meta::next.at(rec).put(d, 1_000_000))),
        ("bucket-out-of-range", Box::new(move |d| bucket0.put(d, u32::MAX as u64 - 1))),
        ("bucket-to-free", Box::new(move |d| bucket0.put(d, 9))),
        ("state-claiming", Box::new(move |d| meta::state.at(rec).put(d, STATE_CLAIMING as u64))),
        ("state-freeing", Box::new(move |d| meta::state.at(rec).put(d, STATE_FREEING as u64))),
        ("state-unknown", Box::new(move |d| meta::state.at(rec).put(d, 7))),
        ("kind-unknown", Box::new(move |d| meta::kind.at(rec).put(d, 9))),
        ("kind-zero", Box::new(move |d| meta::kind.at(rec).put(d, 0))),
        ("generation-0", Box::new(move |d| meta::generation.at(rec).put(d, 0))),
        ("generation-future", Box::new(move |d| meta::generation.at(rec).put(d, 1 << 40))),
        ("hash-wrong", Box::new(move |d| meta::hash.at(rec).put(d, 12345))),
        ("name-len-300", Box::new(move |d| meta::name_len.at(rec).put(d, 300))),
        ("name-len-0", Box::new(move |d| meta::name_len.at(rec).put(d, 0))),
        ("name-invalid-utf8", Box::new(move |d| d[meta::name.at(rec).offset] = 0xff)),
        ("name-nul", Box::new(move |d| d[meta::name.at(rec).offset + 1] = 0)),
        (
            "duplicate-name",
            Box::new(move |d| {
                let other = meta_record(d, (i + 7) % 10);
                let src = d[rec..rec + meta::RECORD.size].to_vec();
                d[other..other + meta::RECORD.size].copy_from_slice(&src);
            }),
        ),
        (
            "all-live-garbage",
            Box::new(move |d| {
                for k in 0..10 {
                    meta::state.at(meta_record(d, k)).put(d, STATE_LIVE as u64);
                }
            }),
        ),
    ];
    for (name, f) in damaged {
        v.push((format!("damaged-{name}"), with(&valid, |d| f(d))));
    }
    v
}

/// A small assembler for `api_seq` programs (see the opcode table in `api_seq::run`).
struct Prog(Vec<u8>);

impl Prog {
    fn open_w(&mut self, k: u8, flags: u8) -> &mut Self {
        self.0.extend([0, k, flags]);
        self
    }
    fn open_r(&mut self, k: u8) -> &mut Self {
        self.0.extend([2, k]);
        self
    }
    fn close_zone(&mut self, k: u8) -> &mut Self {
        self.0.extend([3, k]);
        self
    }
    fn reg(&mut self, k: u8, name: u8, kind: u8, h: u8) -> &mut Self {
        self.0.extend([4, k, name, kind, h]);
        self
    }
    fn update(&mut self, h: u8, op: u8, small: u8) -> &mut Self {
        self.0.extend([6, h, op, small * 4]);
        self
    }
    fn update_wide(&mut self, h: u8, op: u8, v: u64) -> &mut Self {
        self.0.extend([6, h, op, 3]);
        self.0.extend(v.to_be_bytes());
        self
    }
    fn end(&mut self, h: u8, release: bool) -> &mut Self {
        self.0.extend([8, h, if release { 0 } else { 1 }]);
        self
    }
    fn stale(&mut self, i: u8, op: u8) -> &mut Self {
        self.0.extend([9, i, op, 20]);
        self
    }
    fn repair(&mut self, k: u8) -> &mut Self {
        self.0.extend([10, k]);
        self
    }
    fn bad_reg(&mut self, k: u8, which: u8) -> &mut Self {
        self.0.extend([11, k, which]);
        self
    }
    fn bad_open(&mut self, which: u8) -> &mut Self {
        self.0.extend([12, which]);
        self
    }
    fn next_edge(&mut self, k: u8, which: u8) -> &mut Self {
        self.0.extend([13, k, which]);
        self
    }
}

/// Flags byte for `open_w`: bit 2 create, bit 3 remove-on-close, bits 4-6 all set = fresh,
/// bit 7 exclusive; `% 3` picks the size.
const CREATE: u8 = 0x04;
const REMOVE: u8 = 0x08;
const FRESH: u8 = 0x70;
const EXCL: u8 = 0x80;

pub fn api_seq_seeds() -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    let mut p = Prog(Vec::new());
    p.open_w(0, CREATE).reg(0, 0, 0, 0).update(0, 0, 5).reg(0, 0, 0, 1).update(1, 1, 2).reg(0, 1, 1, 2).update(2, 0, 9).reg(0, 3, 2, 3).update(3, 1, 3);
    p.update_wide(0, 0, u64::MAX).update_wide(3, 1, f64::NAN.to_bits()).end(0, true).end(1, false).end(2, true).close_zone(0);
    v.push(("seed-basic".to_string(), p.0));

    let mut p = Prog(Vec::new());
    p.open_w(0, CREATE).open_w(1, 0).open_r(2).reg(0, 2, 0, 0).reg(1, 2, 0, 1).update(0, 0, 7).reg(2, 2, 0, 2).reg(1, 2, 1, 3);
    p.close_zone(0).update(0, 0, 1).end(0, true).end(1, true).close_zone(1).close_zone(2);
    v.push(("seed-two-attachments-readonly".to_string(), p.0));

    let mut p = Prog(Vec::new());
    p.open_w(0, CREATE);
    for n in 0..12u8 {
        p.reg(0, n, n % 3, n % 12);
    }
    p.end(3, true).end(5, false).reg(0, 11, 0, 4).close_zone(0);
    v.push(("seed-fill-zone".to_string(), p.0));

    let mut p = Prog(Vec::new());
    p.open_w(0, CREATE | REMOVE).reg(0, 0, 0, 0).open_w(1, REMOVE).close_zone(0).end(0, false).close_zone(1).open_r(0).open_w(2, CREATE | 1);
    v.push(("seed-remove-on-close".to_string(), p.0));

    let mut p = Prog(Vec::new());
    p.open_w(0, CREATE).reg(0, 0, 0, 0).update(0, 0, 3).open_w(1, FRESH).reg(1, 0, 0, 1).update(0, 0, 1).update(1, 0, 2).open_w(2, CREATE | EXCL).close_zone(0);
    v.push(("seed-fresh-exclusive".to_string(), p.0));

    let mut p = Prog(Vec::new());
    p.open_w(0, CREATE).reg(0, 0, 0, 0).reg(0, 1, 1, 1).end(0, true).end(1, false).stale(0, 0).stale(1, 1).repair(0);
    for w in 0..7 {
        p.bad_reg(0, w);
    }
    for w in 0..12 {
        p.bad_open(w);
    }
    for w in 0..4 {
        p.next_edge(0, w);
    }
    p.open_r(1).bad_reg(1, 0).repair(1).close_zone(0).bad_reg(0, 1).next_edge(0, 0).repair(0);
    v.push(("seed-bad-arguments".to_string(), p.0));
    v
}

/// Writes every seed into `<corpus>/<target>/seed-*`.
pub fn write_all(corpus: &std::path::Path) -> std::io::Result<usize> {
    let mut n = 0;
    for (target, seeds) in [("zone_file", zone_file_seeds()), ("api_seq", api_seq_seeds())] {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, data) in seeds {
            let name = if name.starts_with("seed-") { name } else { format!("seed-{name}") };
            std::fs::write(dir.join(name), data)?;
            n += 1;
        }
    }
    Ok(n)
}
