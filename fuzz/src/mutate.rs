//! Input mutation for the stable driver: a seeded PRNG and zone-aware mutations.
//!
//! Not coverage-guided (libFuzzer is, via `cargo +nightly fuzz`); instead the mutations know the
//! zone layout: they write boundary values into header fields and metadata records, truncate
//! and extend at page boundaries, and, half the time, fix the header's `file_size` to the new
//! length so that mutated files get past attach validation into the index code.

use shmmetrics::layout_table::{Field, Record, bucket_head, header, meta, value};

pub use crate::rng::Rng;

const PAGE: usize = 4096;

/// A word of a random field of `record` at `base` (reserved fields are left alone).
fn any_word(rng: &mut Rng, record: &Record, base: usize) -> Field {
    let fields: Vec<Field> = record.fields.iter().copied().filter(|f| !f.is_reserved()).collect();
    let f = fields[rng.below(fields.len())];
    f.word(rng.below(f.size / f.word)).at(base)
}

fn interesting(rng: &mut Rng, data: &[u8], old: u64) -> u64 {
    let len = data.len() as u64;
    let cap = header::capacity.try_get(data).unwrap_or(10);
    let pick = [
        0,
        1,
        2,
        3,
        4,
        0x7f,
        0x80,
        0xff,
        0xffff,
        u32::MAX as u64,
        u32::MAX as u64 - 1,
        u64::MAX,
        i64::MAX as u64,
        1 << 31,
        1 << 32,
        1 << 40,
        (1 << 40) + PAGE as u64,
        64,
        value::RECORD.size as u64,
        header::RECORD.size as u64,
        meta::RECORD.size as u64,
        4096,
        8192,
        len,
        len.wrapping_sub(1),
        len + 1,
        len + PAGE as u64,
        cap,
        cap + 1,
        cap.wrapping_sub(1),
        old.wrapping_add(1),
        old.wrapping_sub(1),
        old.wrapping_add(64),
        old.wrapping_sub(64),
        old ^ (1 << rng.below(64)),
        rng.next_u64(),
    ];
    pick[rng.below(pick.len())]
}

/// Where the metadata region starts according to the header, if it looks plausible.
fn meta_region(data: &[u8]) -> Option<(usize, usize)> {
    let off = header::meta_offset.try_get(data)? as usize;
    let cap = header::capacity.try_get(data)? as usize;
    (off < data.len() && cap > 0).then(|| (off, cap.min((data.len() - off) / meta::RECORD.size)))
}

/// Mutates a zone file image in place.
pub fn mutate_zone(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], max_len: usize) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(12) {
            0 => {
                // Flip a few bits anywhere.
                for _ in 0..1 + rng.below(4) {
                    if !data.is_empty() {
                        let i = rng.below(data.len());
                        data[i] ^= 1 << rng.below(8);
                    }
                }
            }
            1..=3 => {
                let f = any_word(rng, &header::RECORD, 0);
                let old = f.try_get(data).unwrap_or(0);
                let v = interesting(rng, data, old);
                f.try_put(data, v);
            }
            4..=6 => {
                if let Some((base, n)) = meta_region(data).filter(|&(_, n)| n > 0) {
                    let rec = base + rng.below(n) * meta::RECORD.size;
                    let f = any_word(rng, &meta::RECORD, rec);
                    let old = f.try_get(data).unwrap_or(0);
                    let v = if rng.chance(2) { rng.below(5) as u64 } else { interesting(rng, data, old) };
                    f.try_put(data, v);
                }
            }
            7 => {
                // Bucket heads (index + 1, 0 = empty): point into the records, past them, or nowhere.
                if header::buckets_offset.try_get(data).is_some_and(|b| b < data.len() as u64) {
                    let nb = header::bucket_count.try_get(data).unwrap_or(1).max(1) as usize;
                    let head = bucket_head(data, rng.below(nb.min(1024)));
                    let cap = header::capacity.try_get(data).unwrap_or(1).max(1);
                    let v = [u32::MAX as u64, 1 + rng.next_u64() % cap, cap + 1, 0][rng.below(4)];
                    head.try_put(data, v);
                }
            }
            8 => {
                // Truncate, often at a boundary.
                let cuts = [0, 8, 255, 256, 4095, 4096, PAGE * 2, data.len().saturating_sub(1), data.len().saturating_sub(PAGE), rng.below(data.len() + 1)];
                let n = cuts[rng.below(cuts.len())].min(data.len());
                data.truncate(n);
            }
            9 => {
                // Extend with zeros or noise.
                let add = [1, 64, PAGE, PAGE * 2, rng.below(PAGE)][rng.below(5)];
                let noise = rng.chance(3);
                for _ in 0..add.min(max_len.saturating_sub(data.len())) {
                    data.push(if noise { rng.next_u64() as u8 } else { 0 });
                }
            }
            10 => {
                // Copy a 64-byte-aligned chunk over another (duplicates records, names).
                if data.len() >= 128 {
                    let len = [8, 64, meta::RECORD.size, 1024][rng.below(4)].min(data.len() / 2);
                    let from = rng.below(data.len() - len) & !63;
                    let to = rng.below(data.len() - len) & !63;
                    data.copy_within(from..from + len, to);
                }
            }
            _ => {
                // Splice from another input.
                if !other.is_empty() && !data.is_empty() {
                    let at = rng.below(data.len());
                    let from = rng.below(other.len());
                    let len = rng.below(other.len() - from).min(data.len() - at);
                    data[at..at + len].copy_from_slice(&other[from..from + len]);
                }
            }
        }
    }
    data.truncate(max_len);
    // Keep the header's size consistent with the new length half the time, so that the file
    // passes attach validation and the mutation reaches the index.
    if rng.chance(2) {
        let n = data.len() as u64;
        header::file_size.try_put(data, n);
    }
}

/// Mutates an API program (bytes decoded by `api_seq`): byte edits, inserted and removed runs,
/// duplicated runs and splices.
pub fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], max_len: usize) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next_u64() as u8;
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            2 => {
                let at = rng.below(data.len() + 1);
                let n = 1 + rng.below(16);
                let ins: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(at..at, ins);
            }
            3 if !data.is_empty() => {
                let at = rng.below(data.len());
                let n = (1 + rng.below(16)).min(data.len() - at);
                data.drain(at..at + n);
            }
            4 if !data.is_empty() => {
                let at = rng.below(data.len());
                let n = (1 + rng.below(32)).min(data.len() - at);
                let chunk = data[at..at + n].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, chunk);
            }
            _ if !other.is_empty() => {
                let from = rng.below(other.len());
                let n = (1 + rng.below(64)).min(other.len() - from);
                let at = rng.below(data.len() + 1);
                data.splice(at..at, other[from..from + n].iter().copied());
            }
            _ => data.push(rng.next_u64() as u8),
        }
    }
    data.truncate(max_len);
}
