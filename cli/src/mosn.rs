//! Read-only reader of MOSN `pkg/metrics/shm` zone files (`<conf>/mosn_shm_<zone>`), so a MOSN
//! user can inspect and export the zones they run today. A different format from ours, hence
//! its own small reader; the layout is described in docs/CLI.md ("MOSN zones").
//!
//! File of size F (a multiple of 4096): u32 mutex, u32 ref, then 2S entries of 128 bytes
//! (i64 value, u32 ref, 108-byte NUL-terminated name, u32 next, 4 bytes pad), then the meta
//! (u32 cap, size, freeIndex, slotsNum, bytesNum), then S u32 bucket heads; S = (F − 28) / 260.
//! There is no magic: a file is taken as a MOSN zone when the meta agrees with its size.
//!
//! The file is read with one `pread` (no mapping, no lock): MOSN changes its chains with plain
//! stores under a PID spin lock a reader cannot take, so the walk is bounded and tolerant, and
//! a chain caught mid-change may miss or repeat an entry for one read.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::exit::{CliError, CliResult, Code};

const PAGE: u64 = 4096;
const ENTRY: usize = 128;
const NAME_AT: usize = 12;
const NAME_BYTES: usize = 108;
const NEXT_AT: usize = 120;
/// Longer names are stored as the decimal FNV-1a hash of the full name + its last bytes.
pub const NAME_MAX: usize = 107;
const NIL: u32 = u32::MAX;

/// The zone's shared fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub file_size: u64,
    /// Holder PID of the spin lock, 0 when unlocked.
    pub mutex: u32,
    /// Processes that attached; MOSN never detaches, so this over-counts.
    pub attached: u32,
    pub capacity: u32,
    /// Entries ever handed out (MOSN never decrements it).
    pub size: u32,
    pub free_index: u32,
    pub slots: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub index: u32,
    pub name: String,
    pub value: i64,
    pub refs: u32,
    /// The stored name is a hash-truncated long name (decimal FNV-1a hash + the name's tail).
    pub truncated: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Read {
    pub meta: Meta,
    pub entries: Vec<Entry>,
    /// Inconsistencies met while walking the chains.
    pub problems: Vec<String>,
}

pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5u32, |h, b| (h ^ *b as u32).wrapping_mul(0x0100_0193))
}

/// Bucket heads for a file of `file_size` bytes, if MOSN could have made it.
pub fn slots_for(file_size: u64) -> Option<u32> {
    if file_size < PAGE || file_size % PAGE != 0 {
        return None;
    }
    let s = (file_size - 28) / 260;
    (s >= 1 && s * 2 < NIL as u64).then_some(s as u32)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[derive(Clone, Debug)]
pub struct MosnZone {
    pub path: PathBuf,
}

fn open_file(path: &Path) -> CliResult<File> {
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).map_err(|e| CliError::io(&format!("open {}", path.display()), e))?;
    let meta = file.metadata().map_err(|e| CliError::io("fstat", e))?;
    if !meta.file_type().is_file() {
        return Err(CliError::new(Code::NotAZone, format!("{} is not a regular file", path.display())));
    }
    Ok(file)
}

impl MosnZone {
    /// Checks that `path` holds a MOSN zone (its meta agrees with its size).
    pub fn open(path: &Path) -> CliResult<MosnZone> {
        let zone = MosnZone { path: path.to_owned() };
        zone.read()?;
        Ok(zone)
    }

    /// Reads the whole zone afresh (the file is reopened: a MOSN fresh start replaces it).
    pub fn read(&self) -> CliResult<Read> {
        let not_mosn = |why: String| CliError::new(Code::NotAZone, format!("{} is not a shmmetrics or MOSN zone: {why}", self.path.display()));
        let file = open_file(&self.path)?;
        let file_size = file.metadata().map_err(|e| CliError::io("fstat", e))?.len();
        let s = slots_for(file_size).ok_or_else(|| not_mosn(format!("its size {file_size} is not a MOSN zone size")))?;
        let cap = 2 * s;
        let used = 28 + 260 * s as usize;
        let mut buf = vec![0u8; used];
        file.read_exact_at(&mut buf, 0).map_err(|e| CliError::io(&format!("read {}", self.path.display()), e))?;
        let meta_at = 8 + ENTRY * cap as usize;
        let meta = Meta {
            file_size,
            mutex: u32_at(&buf, 0),
            attached: u32_at(&buf, 4),
            capacity: u32_at(&buf, meta_at),
            size: u32_at(&buf, meta_at + 4),
            free_index: u32_at(&buf, meta_at + 8),
            slots: u32_at(&buf, meta_at + 12),
        };
        let bytes_num = u32_at(&buf, meta_at + 16);
        if meta.capacity != cap || meta.slots != s || bytes_num != (260 * s as u64 + 20) as u32 {
            return Err(not_mosn(format!("its meta (cap {}, slots {}, bytes {bytes_num}) does not match its size (cap {cap}, slots {s})", meta.capacity, meta.slots)));
        }
        let mut read = Read { meta, ..Read::default() };
        if read.meta.size > cap {
            read.problems.push(format!("meta size {} is larger than the capacity {cap}", read.meta.size));
        }
        let mut seen = vec![false; cap as usize];
        let slots_at = meta_at + 20;
        for bucket in 0..s {
            let mut i = u32_at(&buf, slots_at + 4 * bucket as usize);
            while i != NIL {
                if i >= cap {
                    read.problems.push(format!("bucket {bucket}: link to entry {i} is out of range"));
                    break;
                }
                if std::mem::replace(&mut seen[i as usize], true) {
                    read.problems.push(format!("bucket {bucket}: chain loops or joins another at entry {i}"));
                    break;
                }
                let e = &buf[8 + ENTRY * i as usize..][..ENTRY];
                let raw = &e[NAME_AT..NAME_AT + NAME_BYTES];
                let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(NAME_BYTES)];
                if !name.is_empty() {
                    // A name that does not hash to the bucket it is chained in was stored
                    // truncated: MOSN chains by the hash of the full name.
                    let truncated = name.len() == NAME_MAX && fnv1a32(name) % s != bucket;
                    read.entries.push(Entry {
                        index: i,
                        name: String::from_utf8_lossy(name).into_owned(),
                        value: i64::from_ne_bytes(e[..8].try_into().expect("8 bytes")),
                        refs: u32_at(e, 8),
                        truncated,
                    });
                }
                i = u32_at(e, NEXT_AT);
            }
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_of_the_reference_table() {
        // mosn-model.md §3: file size -> S.
        assert_eq!(slots_for(4096), Some(15));
        assert_eq!(slots_for(12288), Some(47));
        assert_eq!(slots_for(10485760), Some(40329));
        assert_eq!(slots_for(20971520), Some(80659));
        assert_eq!(slots_for(4095), None);
        assert_eq!(slots_for(0), None);
        assert_eq!(slots_for(4097), None);
    }

    #[test]
    fn fnv_vectors() {
        assert_eq!(fnv1a32(b""), 0x811C9DC5);
        assert_eq!(fnv1a32(b"a"), 0xE40C292C);
        assert_eq!(fnv1a32(b"foobar"), 0xBF9CF968);
        assert_eq!(fnv1a32(b"downstream.proxy.global.request_total"), 0x8D984132);
        assert_eq!(fnv1a32("x".repeat(150).as_bytes()), 1314219709);
    }
}
