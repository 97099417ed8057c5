//! shmmetrics: counters and gauges in a file-backed shared-memory zone.
//!
//! Any process that opens the same zone sees the same values: a process started during a hot
//! upgrade keeps counting where the old one left off, and a monitor reads everything without
//! asking the application. The byte layout is specified in `docs/FORMAT.md`; the C ABI lives
//! in `ffi` (header `include/shmmetrics.h`).
//!
//! ```no_run
//! use shmmetrics::{OpenOptions, Zone};
//! let zone = Zone::open("myapp", &OpenOptions { create: true, size: 1 << 20, ..Default::default() })?;
//! let requests = zone.counter("http_requests_total{method=\"GET\"}")?;
//! requests.inc(1);
//! for m in zone.metrics() {
//!     println!("{} {:?} {}", m.name, m.kind, m.bits as i64);
//! }
//! # Ok::<(), shmmetrics::Error>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod attach;
pub mod error;
pub mod ffi;
mod fork;
pub mod index;
mod layout;
mod lock;
pub mod metric;
pub mod open;
pub mod read;
mod slots;
mod sys;
pub mod zone;

pub use error::{Error, Result, Status};
pub use index::Kind;
pub use layout::NAME_MAX;
/// Field offsets of the zone format, derived from the layout structs (for tests and fuzzers).
#[doc(hidden)]
pub use layout::table as layout_table;
pub use metric::{Counter, Gauge, GaugeF64, Metric};
pub use open::OpenOptions;
pub use read::{Snapshot, Value};
pub use zone::{Stats, Zone, ZoneInfo};

/// Format version this library writes and reads (major, minor).
pub const FORMAT_VERSION: (u16, u16) = (layout::VERSION_MAJOR, layout::VERSION_MINOR);
