//! MOSN `pkg/metrics/shm` zone files, built byte for byte here from the layout description
//! (docs/CLI.md, "MOSN zones"; MOSN's hashset.go): `dump`, `list` and `stats` read them
//! read-only. The builder is checked against a dump measured from MOSN itself.

mod common;

use common::*;
use serde_json::Value as Json;

const NIL: u32 = u32::MAX;

fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5u32, |h, b| (h ^ *b as u32).wrapping_mul(0x0100_0193))
}

/// A MOSN zone as `newSharedMetrics` + `hashSet.Alloc` leave it.
struct Mosn {
    s: u32,
    buf: Vec<u8>,
}

impl Mosn {
    fn new(file_size: usize) -> Mosn {
        let s = ((file_size - 28) / 260) as u32;
        let mut m = Mosn { s, buf: vec![0; file_size] };
        m.put(4, 1); // ref: one process attached
        let cap = 2 * s;
        for i in 0..cap {
            m.put(Self::entry(i) + 120, if i + 1 < cap { i + 1 } else { NIL });
        }
        let meta = m.meta();
        m.put(meta, cap);
        m.put(meta + 4, 0); // size
        m.put(meta + 8, 0); // freeIndex
        m.put(meta + 12, s);
        m.put(meta + 16, 260 * s + 20);
        for b in 0..s {
            m.put(meta + 20 + 4 * b as usize, NIL);
        }
        m
    }

    fn entry(i: u32) -> usize {
        8 + 128 * i as usize
    }

    fn meta(&self) -> usize {
        8 + 256 * self.s as usize
    }

    fn put(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn get(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.buf[at..at + 4].try_into().unwrap())
    }

    /// The stored form of a name: > 107 bytes become the decimal hash + the last bytes.
    fn stored(name: &str) -> Vec<u8> {
        if name.len() <= 107 {
            return name.as_bytes().to_vec();
        }
        let h = fnv1a32(name.as_bytes()).to_string();
        let mut v = h.clone().into_bytes();
        v.extend_from_slice(&name.as_bytes()[h.len() + name.len() - 107..]);
        v
    }

    /// `zone.alloc(name)` then a value store; None when the set is full.
    fn alloc(&mut self, name: &str, value: i64) -> Option<u32> {
        let (cap, meta) = (2 * self.s, self.meta());
        let bucket = meta + 20 + 4 * (fnv1a32(name.as_bytes()) % self.s) as usize;
        let stored = Self::stored(name);
        let mut tail = None;
        let mut i = self.get(bucket);
        while i != NIL {
            let e = Self::entry(i);
            if self.buf[e + 12..e + 12 + stored.len()] == stored[..] && self.buf[e + 12 + stored.len()] == 0 {
                let refs = self.get(e + 8);
                self.put(e + 8, refs + 1);
                self.buf[e..e + 8].copy_from_slice(&value.to_le_bytes());
                return Some(i);
            }
            tail = Some(e);
            i = self.get(e + 120);
        }
        if self.get(meta + 4) >= cap {
            return None;
        }
        let new = self.get(meta + 8);
        let e = Self::entry(new);
        self.buf[e + 12..e + 12 + stored.len()].copy_from_slice(&stored);
        self.buf[e + 12 + stored.len()] = 0;
        self.put(e + 8, 1);
        match tail {
            Some(t) => self.put(t + 120, new),
            None => self.put(bucket, new),
        }
        let size = self.get(meta + 4);
        self.put(meta + 4, size + 1);
        let next = self.get(e + 120);
        self.put(meta + 8, next);
        self.put(e + 120, NIL);
        self.buf[e..e + 8].copy_from_slice(&value.to_le_bytes());
        Some(new)
    }

    fn write(&self, path: &std::path::Path) {
        std::fs::write(path, &self.buf).unwrap();
    }
}

#[test]
fn the_builder_reproduces_the_dump_measured_from_mosn() {
    // mosn-model.md §3: a fresh 4096-byte zone after alloc("a") twice and value 0x1122334455667788.
    let mut m = Mosn::new(4096);
    m.alloc("a", 0);
    m.alloc("a", 0x1122334455667788);
    let meta = m.meta();
    assert_eq!((meta, m.get(meta), m.get(meta + 4), m.get(meta + 8), m.get(meta + 12), m.get(meta + 16)), (3848, 30, 1, 1, 15, 3920));
    assert_eq!(m.get(meta + 20 + 4 * 10), 0, "slots[10] = 0");
    assert_eq!(m.get(Mosn::entry(0) + 8), 2, "ref 2");
    assert_eq!(m.get(Mosn::entry(1) + 120), 2);
    assert_eq!(Mosn::stored(&"x".repeat(150)), format!("1314219709{}", "x".repeat(97)).into_bytes());

    let d = TempDir::new("mosn-ref");
    let path = d.join("mosn_shm_metrics");
    m.write(&path);
    let o = shm(&["dump", path.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("a  gauge      {}\n", 0x1122334455667788i64));
}

#[test]
fn a_full_zone_with_long_names() {
    let mut m = Mosn::new(4096); // capacity 30
    let long = format!("upstream.cluster.outbound|8080||reviews.default.svc.cluster.local.host.10.244.1.23:8080.{}", "request_duration_time_total");
    // A name of exactly 107 bytes is stored as it is: not truncated, though as long as those.
    let exact = format!("upstream.cluster.outbound.{}", "y".repeat(81));
    assert_eq!(exact.len(), 107);
    let mut names = vec!["downstream.proxy.global.request_total".to_string(), "x".repeat(150), long.clone(), exact.clone()];
    names.extend((0..26).map(|i| format!("meta.mosn.info.version:0.9.{i}")));
    for (i, n) in names.iter().enumerate() {
        assert!(m.alloc(n, i as i64 * 10 - 5).is_some(), "{n}");
    }
    assert_eq!(m.alloc("one.too.many", 1), None, "the set is full");
    let d = TempDir::new("mosn-full");
    m.write(&d.join("mosn_shm_metrics"));
    // By name in --dir: the file mosn_shm_metrics.
    let o = shm_in(d.path(), &["dump", "mosn_shm_metrics", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: Json = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["zone"]["format"], "mosn");
    assert_eq!(j["zone"]["capacity"], 30);
    let metrics = j["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 30);
    let by_name = |n: &str| metrics.iter().find(|m| m["name"] == n).unwrap_or_else(|| panic!("{n} missing"));
    assert_eq!(by_name("downstream.proxy.global.request_total")["value"], -5);
    assert_eq!(by_name("downstream.proxy.global.request_total")["truncated"], false);
    let x = by_name(&format!("1314219709{}", "x".repeat(97)));
    assert_eq!((x["value"].as_i64(), x["truncated"].as_bool()), (Some(5), Some(true)));
    let stored_long = String::from_utf8(Mosn::stored(&long)).unwrap();
    assert_eq!(stored_long.len(), 107);
    assert_eq!(by_name(&stored_long)["truncated"], true);
    assert_eq!(by_name(&exact)["truncated"], false);
    assert_eq!(metrics.iter().filter(|m| m["truncated"] == true).count(), 2);

    let text = stdout(&shm_in(d.path(), &["dump", "mosn_shm_metrics"]));
    assert_eq!(text.matches("(MOSN hash-truncated name)").count(), 2, "{text}");
    let prom = stdout(&shm_in(d.path(), &["dump", "mosn_shm_metrics", "--format", "prometheus", "--match", "downstream.*"]));
    assert_eq!(
        prom,
        "# HELP downstream_proxy_global_request_total shmmetrics gauge downstream_proxy_global_request_total\n\
         # TYPE downstream_proxy_global_request_total gauge\ndownstream_proxy_global_request_total -5\n"
    );

    let list = stdout(&shm(&["list", "--dir", d.path().to_str().unwrap()]));
    let row = list.lines().nth(1).unwrap();
    assert!(row.starts_with("mosn_shm_metrics") && row.contains("mosn") && row.contains("30/30") && row.contains("ref 1"), "{list}");
    let stats = stdout(&shm_in(d.path(), &["stats", "mosn_shm_metrics"]));
    assert!(stats.contains("30 live of 30"), "{stats}");
}

#[test]
fn a_looping_chain_or_a_wild_link_ends_the_walk() {
    let mut m = Mosn::new(12288);
    let i = m.alloc("a", 1).unwrap();
    let j = m.alloc("b", 2).unwrap();
    m.put(Mosn::entry(i) + 120, i); // a -> a
    m.put(Mosn::entry(j) + 120, 1_000_000); // b -> out of range
    let d = TempDir::new("mosn-loop");
    m.write(&d.join("mosn_shm_x"));
    let o = shm_in(d.path(), &["dump", "mosn_shm_x"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "a  gauge      1\nb  gauge      2\n");
    let stats = stdout(&shm_in(d.path(), &["stats", "mosn_shm_x"]));
    assert!(stats.contains("loops") && stats.contains("out of range"), "{stats}");
}

#[test]
fn files_that_are_neither_kind_are_refused() {
    let d = TempDir::new("mosn-not");
    let mut m = Mosn::new(4096);
    m.alloc("a", 1);
    let meta = m.meta();
    m.put(meta + 12, 14); // slotsNum disagrees with the size
    m.write(&d.join("mosn_shm_bad"));
    std::fs::write(d.join("mosn_shm_odd"), vec![0u8; 5000]).unwrap();
    for name in ["mosn_shm_bad", "mosn_shm_odd"] {
        let o = shm_in(d.path(), &["dump", name]);
        assert!(matches!(code(&o), 4 | 6), "{name}: {} {}", code(&o), stderr(&o));
    }
    let list = stdout(&shm(&["list", "--dir", d.path().to_str().unwrap()]));
    assert_eq!(list.matches("not a zone").count(), 2, "{list}");
}
