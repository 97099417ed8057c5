//! The zone layout as data, for code that handles zone *images* (byte copies of zone files):
//! the hostile-file tests, the fuzz mutator and seeds, and the test that checks
//! `docs/FORMAT.md`'s tables. Every offset and size comes from the structs in `layout.rs`
//! (`offset_of!`, `size_of`), so a layout change reaches all of them at once.
//!
//! Each record lists its fields once, by name, in any order; the compiler checks that list
//! against the struct (an exhaustive pattern: a field added to the struct and not listed here is
//! a build error, "pattern requires `..`" or "does not have a field") and that the fields tile
//! the record without gaps. This module is a child of `layout`, so it sees the private (`name`,
//! reserved) fields too.
//!
//! Not for the library itself, which goes through `Mapping`'s typed accessors.

use std::mem::{offset_of, size_of};
use std::ops::Range;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64};

use super::{AttachRecord, Header, MetaRecord, ValueRecord};
pub use super::{META_FIXED, SLOT_CLAIMED, SLOT_FREE, STATE_CLAIMING, STATE_FREE, STATE_FREEING, STATE_LIVE};

/// One field of a record: where it is, how wide it is, and the width of the integers it is
/// made of (an array field such as `owners` or `name` is `size / word` words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    pub word: usize,
}

/// A record type: its short name (that of its module here), its name as `docs/FORMAT.md` titles
/// its section, its size, its fields in offset order.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub key: &'static str,
    pub title: &'static str,
    pub size: usize,
    pub fields: &'static [Field],
}

/// The atomics a layout field may be made of, with their width. Implemented for nothing else,
/// so a non-atomic field in a layout struct fails to build here as well.
pub trait Atomic {
    const WIDTH: usize;
}
impl Atomic for AtomicU16 {
    const WIDTH: usize = 2;
}
impl Atomic for AtomicU32 {
    const WIDTH: usize = 4;
}
impl Atomic for AtomicU64 {
    const WIDTH: usize = 8;
}
impl<T: Atomic, const N: usize> Atomic for [T; N] {
    const WIDTH: usize = T::WIDTH;
}

/// Size and word width of the field that `_get` projects to (only its type is used).
pub const fn size_and_word<S, F: Atomic>(_get: fn(&S) -> &F) -> (usize, usize) {
    (size_of::<F>(), F::WIDTH)
}

impl Field {
    /// The same field in a record that starts at `base` in an image.
    pub const fn at(self, base: usize) -> Field {
        Field { offset: base + self.offset, ..self }
    }

    /// A reserved field: zero, for future use (`docs/FORMAT.md` calls them all "reserved").
    pub fn is_reserved(self) -> bool {
        self.name.starts_with("_reserved")
    }

    /// Word `i` of an array field, as a field of its own.
    pub fn word(self, i: usize) -> Field {
        assert!(i < self.size / self.word, "{} has {} words, not {}", self.name, self.size / self.word, i + 1);
        Field { offset: self.offset + i * self.word, size: self.word, ..self }
    }

    pub fn range(self) -> Range<usize> {
        self.offset..self.offset + self.size
    }

    /// The field's integer, in the byte order of this machine (that of the zone format), or
    /// None if the image ends before the field does.
    pub fn try_get(self, image: &[u8]) -> Option<u64> {
        assert!(self.size == self.word, "{} is an array of {}-byte words: take one with .word(i)", self.name, self.word);
        let mut buf = [0u8; 8];
        let bytes = image.get(self.range())?;
        if cfg!(target_endian = "little") {
            buf[..self.size].copy_from_slice(bytes);
        } else {
            buf[8 - self.size..].copy_from_slice(bytes);
        }
        Some(u64::from_ne_bytes(buf))
    }

    /// Stores the low `size` bytes of `v` in the machine's byte order; false (nothing written)
    /// if the image ends before the field does.
    pub fn try_put(self, image: &mut [u8], v: u64) -> bool {
        assert!(self.size == self.word, "{} is an array of {}-byte words: take one with .word(i)", self.name, self.word);
        let bytes = v.to_ne_bytes();
        let src = if cfg!(target_endian = "little") { &bytes[..self.size] } else { &bytes[8 - self.size..] };
        match image.get_mut(self.range()) {
            Some(dst) => {
                dst.copy_from_slice(src);
                true
            }
            None => false,
        }
    }

    /// `try_get` for images known to hold the field.
    pub fn get(self, image: &[u8]) -> u64 {
        self.try_get(image).unwrap_or_else(|| panic!("{} at {} is past the end of a {}-byte image", self.name, self.offset, image.len()))
    }

    /// `try_put` for images known to hold the field.
    pub fn put(self, image: &mut [u8], v: u64) {
        let len = image.len();
        assert!(self.try_put(image, v), "{} at {} is past the end of a {}-byte image", self.name, self.offset, len);
    }
}

impl Record {
    /// The field called `name` (panics if there is none: names come from the structs).
    pub fn field(&self, name: &str) -> Field {
        *self.fields.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{} has no field {name:?}", self.title))
    }
}

/// `fields` in offset order (the lists below need not follow the struct's order).
const fn by_offset<const N: usize>(mut fields: [Field; N]) -> [Field; N] {
    let mut i = 1;
    while i < N {
        let mut j = i;
        while j > 0 && fields[j - 1].offset > fields[j].offset {
            let t = fields[j];
            fields[j] = fields[j - 1];
            fields[j - 1] = t;
            j -= 1;
        }
        i += 1;
    }
    fields
}

/// Whether `fields` (in offset order) cover `0..size` exactly, without gaps or overlaps.
const fn tiles(fields: &[Field], size: usize) -> bool {
    let mut end = 0;
    let mut i = 0;
    while i < fields.len() {
        if fields[i].offset != end || fields[i].size % fields[i].word != 0 {
            return false;
        }
        end += fields[i].size;
        i += 1;
    }
    end == size
}

/// `record!(module, Struct, "title" { field, ... })`: a module with one `Field` constant per
/// field (named like the field) and `RECORD` (the fields in offset order), checked against the
/// struct at compile time.
macro_rules! record {
    ($(#[$doc:meta])* $module:ident, $s:ident, $title:literal { $($f:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[allow(non_upper_case_globals)]
        pub mod $module {
            use super::*;
            $(
                pub const $f: Field = {
                    let (size, word) = size_and_word(|r: &$s| &r.$f);
                    Field { name: stringify!($f), offset: offset_of!($s, $f), size, word }
                };
            )+
            pub const RECORD: Record = Record { key: stringify!($module), title: $title, size: size_of::<$s>(), fields: &by_offset([$($f),+]) };

            // Every field of the struct is listed: a field the list lacks fails this pattern
            // ("pattern requires `..`"); add its name to the list below.
            #[allow(dead_code)]
            fn listed_fields_are_all_fields(r: &$s) {
                let $s { $($f: _),+ } = r;
            }
            const _: () = assert!(tiles(RECORD.fields, RECORD.size), concat!(stringify!($s), ": the listed fields leave a gap; is a field missing from its list in layout_table.rs?"));
        }
    };
}

record!(
    /// The header at offset 0.
    header, Header, "Header" {
        magic, version_major, version_minor, header_size, file_size, page_size, hash_id, capacity, bucket_count,
        attach_offset, attach_slots, attach_record_size, buckets_offset, meta_offset, meta_record_size,
        value_record_size, values_offset, created_unix_ns, creator_pid, flags, dirty, free_head,
        failed_registrations, failed_zone_full, next_generation, repairs, lock, high_water, reserved_records,
        lock_timeouts, lock_takeovers, _reserved,
    }
);

record!(
    /// One attach record (writer slot), `attach_slots` of them at `attach_offset`.
    attach, AttachRecord, "Attach records" { state, pid, epoch, parent, parent_epoch, _reserved, attached_unix_ns }
);

record!(
    /// The fixed part of a metadata record, `capacity` records of `meta_record_size` bytes at
    /// `meta_offset`; the owner bits follow at `META_FIXED` (see `owner_word`).
    meta, MetaRecord, "Metadata record" {
        state, kind, generation, next, hash, name_len, _reserved0, created_unix_ns, _reserved1, name,
    }
);

record!(
    /// One value record, `capacity` of them at `values_offset`.
    value, ValueRecord, "Value record" { value, _reserved }
);

/// Every record type, in the order `docs/FORMAT.md` describes them.
pub const RECORDS: [Record; 4] = [header::RECORD, attach::RECORD, meta::RECORD, value::RECORD];

/// Bucket head `b` of an image (metadata record index + 1, 0 for an empty chain), from the
/// image's header.
pub fn bucket_head(image: &[u8], b: usize) -> Field {
    let (size, word) = size_and_word(|m: &super::Mapping| m.bucket(0));
    Field { name: "bucket head", offset: header::buckets_offset.get(image) as usize + b * size, size, word }
}

/// Offset of metadata record `i` in an image, from the image's own header (records are
/// `meta_record_size` bytes: the fixed part, then one owner bit per writer slot).
pub fn meta_record(image: &[u8], i: usize) -> usize {
    header::meta_offset.get(image) as usize + i * header::meta_record_size.get(image) as usize
}

/// Owner word `w` (writer slots `64w..64w+63`) of the metadata record at `record`.
pub fn owner_word(record: usize, w: usize) -> Field {
    Field { name: "owners", offset: record + META_FIXED as usize + w * 8, size: 8, word: 8 }
}

/// Attach record (writer slot) `s` of an image.
pub fn attach_record(image: &[u8], s: usize) -> usize {
    header::attach_offset.get(image) as usize + s * attach::RECORD.size
}

/// Offset of value record `i` in an image, from the image's own header.
pub fn value_record(image: &[u8], i: usize) -> usize {
    header::values_offset.get(image) as usize + i * value::RECORD.size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_in_machine_order() {
        let mut image = vec![0u8; 512];
        header::version_minor.put(&mut image, 0xBEEF);
        header::capacity.put(&mut image, 0x1234_5678_9ABC);
        assert_eq!(header::version_minor.get(&image), 0xBEEF);
        assert_eq!(header::capacity.get(&image), 0x5678_9ABC, "stores the low bytes");
        assert_eq!(&image[32..36], &0x5678_9ABCu32.to_ne_bytes());
        assert_eq!(header::magic.try_get(&image[..7]), None);
        assert!(!header::magic.try_put(&mut image[..7], 1));
    }

    #[test]
    fn arrays_split_into_words() {
        assert_eq!(meta::name.word(3).range(), meta::name.offset + 24..meta::name.offset + 32);
        assert_eq!(owner_word(1000, 2).offset, 1000 + META_FIXED as usize + 16);
        assert_eq!(meta::name.size / meta::name.word, 32);
        assert_eq!(meta::next.at(1000).offset, 1000 + meta::next.offset);
    }
}
