//! Metric handles. Every update is one atomic instruction on the metric's value slot; no lock,
//! no lookup. The `ops` functions are shared with the C layer so both paths do the same thing.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::attach::Shared;
use crate::error::Result;
use crate::index::Kind;
use crate::layout::ValueSlot;

/// The operations on a value slot, for each kind. Relaxed ordering: each value is independent,
/// and read-modify-writes stay exact across processes whatever the ordering.
pub mod ops {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    #[inline(always)]
    pub fn add_i64(a: &AtomicU64, n: i64) {
        a.fetch_add(n as u64, Relaxed);
    }
    #[inline(always)]
    pub fn sub_i64(a: &AtomicU64, n: i64) {
        a.fetch_sub(n as u64, Relaxed);
    }
    #[inline(always)]
    pub fn store_i64(a: &AtomicU64, v: i64) {
        a.store(v as u64, Relaxed);
    }
    #[inline(always)]
    pub fn load_i64(a: &AtomicU64) -> i64 {
        a.load(Relaxed) as i64
    }
    #[inline(always)]
    pub fn store_f64(a: &AtomicU64, v: f64) {
        a.store(v.to_bits(), Relaxed);
    }
    #[inline(always)]
    pub fn load_f64(a: &AtomicU64) -> f64 {
        f64::from_bits(a.load(Relaxed))
    }
    /// Compare-and-swap loop: exact under concurrent adds from any process.
    #[inline]
    pub fn add_f64(a: &AtomicU64, d: f64) {
        let _ = a.fetch_update(Relaxed, Relaxed, |bits| Some((f64::from_bits(bits) + d).to_bits()));
    }
}

/// A registered metric of any kind: the entry it holds and its value slot.
pub struct Metric {
    zone: Arc<Shared>,
    index: u32,
    generation: u64,
    kind: Kind,
    slot: ValueSlot,
}

impl Metric {
    pub(crate) fn new(zone: Arc<Shared>, index: u32, generation: u64, kind: Kind) -> Metric {
        let slot = ValueSlot::new(zone.map.clone(), index);
        Metric { zone, index, generation, kind, slot }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Entry index in the zone (stable while registered).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Registration id: differs for every registration that reuses an entry.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn slot(&self) -> &ValueSlot {
        &self.slot
    }

    #[inline(always)]
    fn atomic(&self) -> &AtomicU64 {
        self.slot.get()
    }

    /// Gives up this handle. When no process holds the metric any more, its entry is freed and
    /// its value discarded. Dropping a handle without releasing keeps the metric (like exiting).
    pub fn release(self) -> Result<()> {
        self.zone.release(self.index, self.generation)
    }
}

/// A monotonic-by-convention integer counter (go-metrics `Counter`: Inc, Dec, Count, Clear).
pub struct Counter(pub Metric);
/// An integer gauge (go-metrics `Gauge`: Update, Value).
pub struct Gauge(pub Metric);
/// A float gauge (go-metrics `GaugeFloat64`), stored as IEEE-754 bits.
pub struct GaugeF64(pub Metric);

impl Counter {
    #[inline]
    pub fn inc(&self, n: i64) {
        ops::add_i64(self.0.atomic(), n)
    }
    #[inline]
    pub fn dec(&self, n: i64) {
        ops::sub_i64(self.0.atomic(), n)
    }
    #[inline]
    pub fn count(&self) -> i64 {
        ops::load_i64(self.0.atomic())
    }
    #[inline]
    pub fn clear(&self) {
        ops::store_i64(self.0.atomic(), 0)
    }
    pub fn release(self) -> Result<()> {
        self.0.release()
    }
}

impl Gauge {
    #[inline]
    pub fn update(&self, v: i64) {
        ops::store_i64(self.0.atomic(), v)
    }
    /// Adds `n` (negative to subtract) atomically: an up-down counter.
    #[inline]
    pub fn add(&self, n: i64) {
        ops::add_i64(self.0.atomic(), n)
    }
    #[inline]
    pub fn value(&self) -> i64 {
        ops::load_i64(self.0.atomic())
    }
    pub fn release(self) -> Result<()> {
        self.0.release()
    }
}

impl GaugeF64 {
    #[inline]
    pub fn update(&self, v: f64) {
        ops::store_f64(self.0.atomic(), v)
    }
    #[inline]
    pub fn value(&self) -> f64 {
        ops::load_f64(self.0.atomic())
    }
    #[inline]
    pub fn add(&self, d: f64) {
        ops::add_f64(self.0.atomic(), d)
    }
    pub fn release(self) -> Result<()> {
        self.0.release()
    }
}
