//! Input mutation for the stable driver: a seeded PRNG and zone-aware mutations.
//!
//! Not coverage-guided (libFuzzer is, via `cargo +nightly fuzz`); instead the mutations know the
//! zone layout: they write boundary values into header fields and metadata records, truncate
//! and extend at page boundaries, and, half the time, fix the header's `file_size` to the new
//! length so that mutated files get past attach validation into the index code.

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

const PAGE: usize = 4096;
/// Header fields: (offset, width).
const HEADER_FIELDS: [(usize, usize); 26] = [
    (0, 8),
    (8, 2),
    (10, 2),
    (12, 4),
    (16, 8),
    (24, 4),
    (28, 4),
    (32, 4),
    (36, 4),
    (40, 8),
    (48, 4),
    (52, 4),
    (56, 8),
    (64, 8),
    (72, 4),
    (76, 4),
    (80, 8),
    (88, 8),
    (96, 4),
    (100, 4),
    (104, 4),
    (108, 4),
    (112, 8),
    (120, 8),
    (128, 8),
    (136, 8),
];
/// Metadata record fields: (offset within the 384-byte record, width).
const META_FIELDS: [(usize, usize); 9] = [(0, 4), (4, 4), (8, 8), (16, 4), (20, 4), (24, 4), (32, 8), (56, 8), (64, 8)];
const META_RECORD: usize = 384;

fn get(data: &[u8], off: usize, width: usize) -> Option<u64> {
    let b = data.get(off..off + width)?;
    let mut buf = [0u8; 8];
    buf[..width].copy_from_slice(b);
    Some(u64::from_le_bytes(buf))
}

fn put(data: &mut [u8], off: usize, width: usize, v: u64) {
    if let Some(b) = data.get_mut(off..off + width) {
        b.copy_from_slice(&v.to_le_bytes()[..width]);
    }
}

fn interesting(rng: &mut Rng, data: &[u8], old: u64) -> u64 {
    let len = data.len() as u64;
    let cap = get(data, 32, 4).unwrap_or(10);
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
        128,
        256,
        384,
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
    let off = get(data, 64, 8)? as usize;
    let cap = get(data, 32, 4)? as usize;
    (off < data.len() && cap > 0).then(|| (off, cap.min((data.len() - off) / META_RECORD)))
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
                let (off, w) = HEADER_FIELDS[rng.below(HEADER_FIELDS.len())];
                let old = get(data, off, w).unwrap_or(0);
                let v = interesting(rng, data, old);
                put(data, off, w, v);
            }
            4..=6 => {
                if let Some((base, n)) = meta_region(data).filter(|&(_, n)| n > 0) {
                    let rec = base + rng.below(n) * META_RECORD;
                    let (off, w) = META_FIELDS[rng.below(META_FIELDS.len())];
                    let old = get(data, rec + off, w).unwrap_or(0);
                    let v = if rng.chance(2) { rng.below(5) as u64 } else { interesting(rng, data, old) };
                    put(data, rec + off, w, v);
                }
            }
            7 => {
                // Bucket heads: point into the records, past them, or to NIL.
                if let Some(bo) = get(data, 56, 8).map(|b| b as usize).filter(|&b| b < data.len()) {
                    let nb = get(data, 36, 4).unwrap_or(1).max(1) as usize;
                    let i = bo + 4 * rng.below(nb.min(1024));
                    let cap = get(data, 32, 4).unwrap_or(1).max(1);
                    let v = [u32::MAX as u64, rng.next_u64() % cap, cap, 0][rng.below(4)];
                    put(data, i, 4, v);
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
                    let len = [8, 64, 384, 1024][rng.below(4)].min(data.len() / 2);
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
    if data.len() >= 24 && rng.chance(2) {
        let n = data.len() as u64;
        put(data, 16, 8, n);
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
