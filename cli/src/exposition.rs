//! Zone metrics as Prometheus text (0.0.4) and OpenMetrics (1.0) exposition.
//!
//! The name and label mapping is the one rule every exporter follows (Rust here, Python's
//! `ZoneCollector`, Go's `Collector`); `tests/vectors/exposition.json` states it and the tests of
//! each language read that file. In short: a zone name may carry labels in Prometheus syntax;
//! names are sanitized to the classic character sets; counters drop a trailing `_total` from their
//! family and write `<family>_total` samples (unless counters are exposed as gauges); names are
//! taken in bytewise order and the first one to claim a family name, or a family and label set,
//! wins.
//!
//! A scrape maps every metric of a zone (100,000 in `make bench`), so the mapping borrows from
//! the names wherever it can (most names need no sanitizing or unescaping) and each sample
//! costs two allocations: its label block as written and its label-set key.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use shmmetrics::{Kind, Value};

/// How names are mapped.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Prefix of every family, `<namespace>_<name>`; empty for none.
    pub namespace: String,
    /// Expose counters as gauges (the go-metrics-prometheus convention: go-metrics counters may
    /// go down, which a Prometheus counter must not).
    pub counters_as_gauges: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FamilyType {
    Counter,
    Gauge,
}

impl FamilyType {
    pub fn as_str(self) -> &'static str {
        match self {
            FamilyType::Counter => "counter",
            FamilyType::Gauge => "gauge",
        }
    }
}

// Byte classes, so that the sanitizers and the parser test one table entry per byte.
const METRIC_CHAR: u8 = 1; // [a-zA-Z0-9_:]
const LABEL_CHAR: u8 = 2; // [a-zA-Z0-9_]
const KEY_END: u8 = 4; // ends a label key: an ASCII space (as is_space), `=,{}"`; or any non-ASCII byte, to look closer
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() || b == b'_' {
            table[i] = METRIC_CHAR | LABEL_CHAR;
        } else if b == b':' {
            table[i] = METRIC_CHAR;
        } else if matches!(b, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f | b'=' | b',' | b'{' | b'}' | b'"') || !b.is_ascii() {
            table[i] = KEY_END;
        }
        i += 1;
    }
    table
};

fn is(class: u8, b: u8) -> bool {
    CLASS[b as usize] & class != 0
}

/// Every character outside `[a-zA-Z0-9_:]` becomes `_`; a leading digit gets a `_` before it.
pub fn sanitize_metric_name(name: &str) -> Cow<'_, str> {
    sanitize(name, METRIC_CHAR)
}

/// As metric names, without `:`; a reserved `__` prefix gets `shm` in front of it.
pub fn sanitize_label_name(name: &str) -> Cow<'_, str> {
    let s = sanitize(name, LABEL_CHAR);
    if s.starts_with("__") { Cow::Owned(format!("shm{s}")) } else { s }
}

fn sanitize(name: &str, class: u8) -> Cow<'_, str> {
    let leading_digit = name.starts_with(|c: char| c.is_ascii_digit());
    if !name.is_empty() && !leading_digit && name.bytes().all(|b| is(class, b)) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    if name.is_empty() || leading_digit {
        out.push('_');
    }
    out.extend(name.chars().map(|c| if c.is_ascii() && is(class, c as u8) { c } else { '_' }));
    Cow::Owned(out)
}

/// Python's `str.isspace()`, which the other implementations' regular expressions use for `\s`.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

// The parser's hot spots, bytewise while the text is ASCII (names almost always are).

fn trim_start_space(s: &str) -> &str {
    match s.as_bytes().first() {
        Some(&b) if b.is_ascii() && !is_space(b as char) => s,
        _ => s.trim_start_matches(is_space),
    }
}

fn trim_end_space(s: &str) -> &str {
    match s.as_bytes().last() {
        Some(&b) if b.is_ascii() && !is_space(b as char) => s,
        _ => s.trim_end_matches(is_space),
    }
}

/// Length of the label key at the start of `s`: up to a space or one of `=,{}"`.
fn key_len(s: &str) -> usize {
    match s.bytes().position(|b| is(KEY_END, b)) {
        None => s.len(),
        Some(i) if s.as_bytes()[i].is_ascii() => i,
        // A non-ASCII character (after ASCII ones, so at a character boundary): a space or not.
        Some(i) => i + s[i..].find(|c: char| is_space(c) || matches!(c, '=' | ',' | '{' | '}' | '"')).unwrap_or(s.len() - i),
    }
}

/// A label of a zone name: key and (unescaped) value, borrowed from the name when they can be.
pub type Label<'a> = (Cow<'a, str>, Cow<'a, str>);

/// Splits a zone name into its base name and, into `labels`, its labels (unescaped). When the
/// label part does not parse, the whole name is the base, without labels.
pub fn parse_name<'a>(name: &'a str, labels: &mut Vec<Label<'a>>) -> &'a str {
    labels.clear();
    if parse_labels(name, labels).is_some() {
        return &name[..name.find('{').expect("parsed")];
    }
    labels.clear();
    name
}

fn parse_labels<'a>(name: &'a str, labels: &mut Vec<Label<'a>>) -> Option<()> {
    let brace = name.find('{')?;
    if !name.ends_with('}') || brace == 0 {
        return None;
    }
    let mut rest = trim_end_space(&name[brace + 1..name.len() - 1]);
    while !rest.is_empty() {
        let (key, value, after) = parse_pair(rest)?;
        if labels.iter().any(|(k, _)| k == key) {
            return None;
        }
        labels.push((Cow::Borrowed(key), value));
        rest = after;
    }
    Some(())
}

/// One `key="value"` followed by a comma or the end; returns the rest after it.
fn parse_pair(s: &str) -> Option<(&str, Cow<'_, str>, &str)> {
    let s = trim_start_space(s);
    let key_end = key_len(s);
    if key_end == 0 {
        return None;
    }
    let key = &s[..key_end];
    let s = trim_start_space(&s[key_end..]).strip_prefix('=')?;
    let s = trim_start_space(s).strip_prefix('"')?;
    // Fast path: no escape before the closing quote (both are ASCII, never inside a UTF-8
    // sequence, so a byte search is exact).
    if let Some(i) = s.bytes().position(|b| b == b'"' || b == b'\\')
        && s.as_bytes()[i] == b'"'
    {
        return after_value(key, Cow::Borrowed(&s[..i]), &s[i + 1..]);
    }
    let mut value = String::new();
    let mut chars = s.char_indices();
    let close = loop {
        match chars.next()? {
            (i, '"') => break i,
            (_, '\\') => match chars.next()?.1 {
                'n' => value.push('\n'),
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                other => {
                    value.push('\\');
                    value.push(other);
                }
            },
            (_, c) => value.push(c),
        }
    };
    after_value(key, Cow::Owned(value), &s[close + 1..])
}

fn after_value<'a>(key: &'a str, value: Cow<'a, str>, after: &'a str) -> Option<(&'a str, Cow<'a, str>, &'a str)> {
    let after = trim_start_space(after);
    match after.strip_prefix(',') {
        Some(rest) => Some((key, value, rest)),
        None if after.is_empty() => Some((key, value, after)),
        None => None,
    }
}

/// Where a zone metric goes: its family and the family's type, and into `labels` its labels
/// with sanitized keys, in the name's order (of two keys that sanitize alike, the first wins).
pub fn map_name<'a>(name: &'a str, kind: Kind, rules: &Rules, labels: &mut Vec<Label<'a>>) -> (Cow<'a, str>, FamilyType) {
    let base = parse_name(name, labels);
    for label in labels.iter_mut() {
        if let Cow::Owned(key) = sanitize_label_name(&label.0) {
            label.0 = Cow::Owned(key);
        }
    }
    for i in (1..labels.len()).rev() {
        if labels[..i].iter().any(|(k, _)| *k == labels[i].0) {
            labels.remove(i);
        }
    }
    let family = if rules.namespace.is_empty() { sanitize_metric_name(base) } else { Cow::Owned(sanitize_metric_name(&format!("{}_{base}", rules.namespace)).into_owned()) };
    let family_type = if kind == Kind::Counter && !rules.counters_as_gauges { FamilyType::Counter } else { FamilyType::Gauge };
    // A family name may not be empty: the counter `_total` keeps its name.
    let family = match family {
        f if family_type == FamilyType::Gauge || f.len() <= "_total".len() || !f.ends_with("_total") => f,
        Cow::Borrowed(f) => Cow::Borrowed(&f[..f.len() - "_total".len()]),
        Cow::Owned(mut f) => {
            f.truncate(f.len() - "_total".len());
            Cow::Owned(f)
        }
    };
    (family, family_type)
}

/// The name a family's samples carry: `<family>_total` for counters.
pub fn sample_name(family: &str, family_type: FamilyType) -> Cow<'_, str> {
    match family_type {
        FamilyType::Counter => Cow::Owned(format!("{family}_total")),
        FamilyType::Gauge => Cow::Borrowed(family),
    }
}

/// One metric of a zone, as read.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub value: Value,
}

#[derive(Clone, Debug)]
pub struct Sample {
    /// The label block as written, `{k="v",...}` (escaped; empty without labels), then the
    /// label-set key: the labels sorted by key, each key and value followed by NUL (which never
    /// occurs in a zone name, so the key is unambiguous). The family's samples are ordered and
    /// deduplicated by the key. One allocation for both.
    text: String,
    /// Where the key starts in `text`.
    split: usize,
    /// Where its value is in `Exposition::values` (the position of its input).
    pub source: usize,
}

impl Sample {
    pub fn labels(&self) -> &str {
        &self.text[..self.split]
    }

    fn key(&self) -> &str {
        &self.text[self.split..]
    }
}

/// A fast non-cryptographic hash for family names and label-set keys (hundreds of thousands per
/// scrape; the input is the zone's own names, and SipHash was a tenth of a dump's time).
#[derive(Default)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(last) ^ bytes.len() as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FastHasher {
    fn mix(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type Fast = BuildHasherDefault<FastHasher>;

#[derive(Clone, Debug)]
pub struct Family {
    pub name: String,
    pub family_type: FamilyType,
    pub help: String,
    pub samples: Vec<Sample>,
    /// Hash of a label-set key -> the first sample with that hash.
    keys: HashMap<u64, usize, Fast>,
}

impl Family {
    /// The sample with label-set `key`, if there is one.
    fn find(&self, key: &str) -> Option<usize> {
        let &i = self.keys.get(&Fast::default().hash_one(key))?;
        // A different key with the same hash is astronomically rare: then look at every sample.
        if self.samples[i].key() == key { Some(i) } else { self.samples.iter().position(|s| s.key() == key) }
    }

    fn push(&mut self, sample: Sample) {
        self.keys.entry(Fast::default().hash_one(sample.key())).or_insert(self.samples.len());
        self.samples.push(sample);
    }

    /// Adds a zone's samples (with their metrics' names): a label set already here from an
    /// earlier zone stays; within the zone the smaller name keeps it. The others' names go to
    /// `skipped`.
    fn merge<'a>(&mut self, samples: Vec<(&'a str, Sample)>, skipped: &mut Vec<&'a str>) {
        let first = self.samples.len();
        let mut names: Vec<&'a str> = Vec::with_capacity(samples.len());
        for (name, sample) in samples {
            match self.find(sample.key()) {
                None => {
                    names.push(name);
                    self.push(sample);
                }
                Some(i) if i >= first && name < names[i - first] => {
                    skipped.push(std::mem::replace(&mut names[i - first], name));
                    self.samples[i] = sample;
                }
                Some(_) => skipped.push(name),
            }
        }
    }
}

/// Families being assembled from one or several zones (or an exporter's own metrics).
///
/// What is exposed, and in which order, depends only on the inputs' names and kinds: the values
/// are kept apart, in input order, so that `serve` can write a layout it built at an earlier
/// scrape with the values of this one.
#[derive(Default)]
pub struct Exposition {
    pub families: Vec<Family>,
    /// Every input's value, in the order the inputs were given.
    pub values: Vec<Value>,
    by_name: HashMap<String, usize, Fast>,
    /// Every name a family writes (its family name and, for counters, `<family>_total`).
    claimed: HashSet<String, Fast>,
    /// Zone names that could not be exposed because of a clash (prefixed `zone: ` when several
    /// zones are exposed).
    pub skipped: Vec<String>,
    /// Scratch space for sorting a sample's labels.
    order: Vec<usize>,
}

/// A family some of a zone's metrics map to, before it is known whether it can be exposed.
struct Candidate<'a> {
    /// The bytewise-first name of its metrics: in sequence, the metric that would create it.
    first: &'a str,
    family: Cow<'a, str>,
    family_type: FamilyType,
    samples: Vec<(&'a str, Sample)>,
}

impl Exposition {
    /// Adds one zone's metrics. `zone` (when several zones are exposed) becomes a `zone` label in
    /// front of the metric's own labels; a metric's own `zone` label is renamed `exported_zone`
    /// (Prometheus's convention for a clash with a target label).
    ///
    /// The result is that of taking the metrics one by one in bytewise name order, without
    /// sorting 100,000 names: the metrics are grouped by the family they map to, each group
    /// remembering its first name, and the groups are settled in that order (a family's fate is
    /// decided by its first metric); within a family, of two samples with one label set the one
    /// with the smaller name stays.
    pub fn add_zone<'a>(&mut self, metrics: impl IntoIterator<Item = Input<'a>>, rules: &Rules, zone: Option<&'a str>) {
        let mut candidates: Vec<Candidate<'a>> = Vec::new();
        let mut by_family: HashMap<(Cow<'a, str>, FamilyType), usize, Fast> = HashMap::default();
        let mut skipped: Vec<&'a str> = Vec::new();
        let mut labels: Vec<Label> = Vec::new();
        for m in metrics {
            let source = self.values.len();
            self.values.push(m.value);
            let (family, family_type) = map_name(m.name, m.kind, rules, &mut labels);
            if let Some(zone) = zone {
                if let Some(own) = labels.iter_mut().find(|(k, _)| k == "zone") {
                    own.0 = Cow::Borrowed("exported_zone");
                    if labels.iter().filter(|(k, _)| k == "exported_zone").count() > 1 {
                        skipped.push(m.name);
                        continue;
                    }
                }
                labels.insert(0, (Cow::Borrowed("zone"), Cow::Borrowed(zone)));
            }
            let sample = self.sample(&labels, source);
            let index = *by_family.entry((family, family_type)).or_insert_with_key(|(family, family_type)| {
                candidates.push(Candidate { first: m.name, family: family.clone(), family_type: *family_type, samples: Vec::new() });
                candidates.len() - 1
            });
            let c = &mut candidates[index];
            c.first = c.first.min(m.name);
            c.samples.push((m.name, sample));
        }
        candidates.sort_unstable_by(|a, b| a.first.cmp(b.first));
        for c in candidates {
            match self.family(&c.family, c.family_type) {
                Some(index) => self.families[index].merge(c.samples, &mut skipped),
                None => skipped.extend(c.samples.iter().map(|(name, _)| *name)),
            }
        }
        skipped.sort_unstable();
        self.skipped.extend(skipped.into_iter().map(|name| match zone {
            Some(zone) => format!("{zone}: {name}"),
            None => name.to_string(),
        }));
    }

    /// Adds one sample (labels: keys already sanitized, values raw, in the order written);
    /// false if it clashes with what is already there.
    pub fn add<K: AsRef<str>, V: AsRef<str>>(&mut self, family: &str, family_type: FamilyType, labels: &[(K, V)], value: Value) -> bool {
        self.values.push(value);
        let sample = self.sample(labels, self.values.len() - 1);
        let Some(index) = self.family(family, family_type) else { return false };
        let f = &mut self.families[index];
        if f.find(sample.key()).is_some() {
            return false;
        }
        f.push(sample);
        true
    }

    /// The family `name` of type `family_type`, created if its names are free; None on a clash.
    fn family(&mut self, name: &str, family_type: FamilyType) -> Option<usize> {
        match self.by_name.get(name) {
            Some(&i) => (self.families[i].family_type == family_type).then_some(i),
            None => {
                let counter = family_type == FamilyType::Counter;
                if self.claimed.contains(name) || (counter && self.claimed.contains(&format!("{name}_total"))) {
                    return None;
                }
                let help = format!("shmmetrics {} {name}", family_type.as_str());
                self.declare(name, family_type, &help);
                Some(self.families.len() - 1)
            }
        }
    }

    fn sample<K: AsRef<str>, V: AsRef<str>>(&mut self, labels: &[(K, V)], source: usize) -> Sample {
        self.order.clear();
        self.order.extend(0..labels.len());
        self.order.sort_unstable_by(|&a, &b| labels[a].0.as_ref().cmp(labels[b].0.as_ref()).then_with(|| labels[a].1.as_ref().cmp(labels[b].1.as_ref())));
        let mut text = String::with_capacity(labels.iter().map(|(k, v)| 2 * (k.as_ref().len() + v.as_ref().len()) + 6).sum::<usize>() + 2);
        write_label_block(&mut text, labels);
        let split = text.len();
        for &i in &self.order {
            text.push_str(labels[i].0.as_ref());
            text.push('\0');
            text.push_str(labels[i].1.as_ref());
            text.push('\0');
        }
        Sample { text, split, source }
    }

    /// Claims the names of a family exposed elsewhere (an exporter's own), so that no zone
    /// metric takes them.
    pub fn reserve(&mut self, name: &str, family_type: FamilyType) {
        self.claimed.insert(name.to_string());
        if family_type == FamilyType::Counter {
            self.claimed.insert(format!("{name}_total"));
        }
    }

    /// Creates an empty family with its help text (families left without samples are not
    /// written).
    pub fn declare(&mut self, name: &str, family_type: FamilyType, help: &str) {
        self.reserve(name, family_type);
        self.by_name.insert(name.to_string(), self.families.len());
        self.families.push(Family { name: name.to_string(), family_type, help: help.to_string(), samples: Vec::new(), keys: HashMap::default() });
    }

    /// Orders each family's samples by label set (families stay in the order they appeared).
    pub fn finish(&mut self) {
        for f in &mut self.families {
            if !f.samples.is_sorted_by(|a, b| a.key() <= b.key()) {
                f.samples.sort_unstable_by(|a, b| a.key().cmp(b.key()));
            }
        }
    }

    /// Prometheus text format 0.0.4, with `values` (this exposition's, or those of inputs with
    /// the same names and kinds in the same order). As in the client libraries, a counter
    /// family's HELP and TYPE lines name `<family>_total`.
    pub fn write_prometheus(&self, out: &mut String, values: &[Value]) {
        for f in self.families.iter().filter(|f| !f.samples.is_empty()) {
            let sample = sample_name(&f.name, f.family_type);
            write_header(out, &sample, f, false);
            for s in &f.samples {
                write_sample(out, &sample, s, values[s.source]);
            }
        }
    }

    /// OpenMetrics 1.0 text, without the final `# EOF` (the caller ends the whole exposition).
    /// OpenMetrics forbids negative counter values (a go-metrics counter can go below zero):
    /// such samples are left out, and returned so the caller can say so; `counters_as_gauges`
    /// exposes them.
    pub fn write_openmetrics(&self, out: &mut String, values: &[Value]) -> Vec<String> {
        let mut omitted = Vec::new();
        for f in self.families.iter().filter(|f| !f.samples.is_empty()) {
            let sample = sample_name(&f.name, f.family_type);
            write_header(out, &f.name, f, true);
            for s in &f.samples {
                let value = values[s.source];
                if f.family_type == FamilyType::Counter && matches!(value, Value::Int(v) if v < 0) {
                    omitted.push(format!("{sample}{}", s.labels()));
                } else {
                    write_sample(out, &sample, s, value);
                }
            }
        }
        omitted
    }
}

fn write_header(out: &mut String, shown: &str, f: &Family, openmetrics: bool) {
    out.push_str("# HELP ");
    out.push_str(shown);
    out.push(' ');
    escape_help(out, &f.help, openmetrics);
    out.push_str("\n# TYPE ");
    out.push_str(shown);
    out.push(' ');
    out.push_str(f.family_type.as_str());
    out.push('\n');
}

fn write_sample(out: &mut String, name: &str, s: &Sample, value: Value) {
    out.push_str(name);
    out.push_str(s.labels());
    out.push(' ');
    write_value(out, value);
    out.push('\n');
}

/// `{k="v",...}` with the values escaped; nothing for no labels.
fn write_label_block<K: AsRef<str>, V: AsRef<str>>(out: &mut String, labels: &[(K, V)]) {
    for (i, (k, v)) in labels.iter().enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        out.push_str(k.as_ref());
        out.push_str("=\"");
        escape_label_value(out, v.as_ref());
        out.push('"');
    }
    if !labels.is_empty() {
        out.push('}');
    }
}

fn escape_label_value(out: &mut String, v: &str) {
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(out: &mut String, help: &str, quotes: bool) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A sample value as both formats (and Go's ParseFloat) read it.
pub fn write_value(out: &mut String, value: Value) {
    match value {
        Value::Int(i) => {
            // itoa by hand: the formatting machinery costs more than the digits.
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            let mut n = i.unsigned_abs();
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            if i < 0 {
                out.push('-');
            }
            out.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
        }
        Value::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        Value::Float(f) => out.push_str(&format_float(f)),
    }
}

pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Debug is the shortest representation that reads back exactly, with an exponent for
        // very large or small magnitudes (`1e300`, not 301 digits).
        format!("{f:?}")
    }
}

#[cfg(test)]
mod tests {
    //! Every section of tests/vectors/exposition.json, the rule shared with Python and Go.
    use super::*;
    use serde_json::Value as Json;

    fn vectors() -> Json {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/exposition.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("read the vectors")).expect("vectors are JSON")
    }

    fn kind(s: &str) -> Kind {
        match s {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "gauge_f64" => Kind::GaugeF64,
            other => panic!("unknown kind {other}"),
        }
    }

    fn labels(j: &Json) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = j.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
        v.sort();
        v
    }

    fn sorted(labels: &[Label]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        v.sort();
        v
    }

    impl Sample {
        /// The label set, sorted, from the key.
        fn label_pairs(&self) -> Vec<(String, String)> {
            let parts: Vec<&str> = self.key().split_terminator('\0').collect();
            parts.chunks(2).map(|kv| (kv[0].to_string(), kv[1].to_string())).collect()
        }
    }

    #[test]
    fn sanitize_vectors() {
        let v = vectors();
        for pair in v["sanitize_metric"].as_array().unwrap() {
            assert_eq!(sanitize_metric_name(pair[0].as_str().unwrap()), pair[1].as_str().unwrap(), "metric {pair}");
        }
        for pair in v["sanitize_label"].as_array().unwrap() {
            assert_eq!(sanitize_label_name(pair[0].as_str().unwrap()), pair[1].as_str().unwrap(), "label {pair}");
        }
    }

    #[test]
    fn parse_vectors() {
        for case in vectors()["parse"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let mut got = Vec::new();
            let base = parse_name(name, &mut got);
            assert_eq!(base, case["base"].as_str().unwrap(), "{case}");
            assert_eq!(sorted(&got), labels(&case["labels"]), "{case}");
        }
    }

    #[test]
    fn name_vectors() {
        for case in vectors()["names"].as_array().unwrap() {
            let rules = Rules {
                namespace: case.get("namespace").and_then(Json::as_str).unwrap_or("").to_string(),
                counters_as_gauges: case.get("counters_as_gauges").and_then(Json::as_bool).unwrap_or(false),
            };
            let mut got = Vec::new();
            let (family, family_type) = map_name(case["name"].as_str().unwrap(), kind(case["kind"].as_str().unwrap()), &rules, &mut got);
            assert_eq!(family, case["family"].as_str().unwrap(), "{case}");
            assert_eq!(sample_name(&family, family_type), case["sample"].as_str().unwrap(), "{case}");
            assert_eq!(sorted(&got), labels(&case["labels"]), "{case}");
        }
    }

    fn value_of(j: &Json, k: Kind) -> Value {
        if k == Kind::GaugeF64 { Value::Float(j.as_f64().unwrap()) } else { Value::Int(j.as_i64().unwrap()) }
    }

    fn as_f64(v: Value) -> f64 {
        match v {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
        }
    }

    #[test]
    fn zone_vectors() {
        for case in vectors()["zones"].as_array().unwrap() {
            let what = case["what"].as_str().unwrap();
            let rules = Rules { namespace: String::new(), counters_as_gauges: case.get("counters_as_gauges").and_then(Json::as_bool).unwrap_or(false) };
            let metrics: Vec<(String, Kind, Value)> = case["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    let k = kind(m["kind"].as_str().unwrap());
                    (m["name"].as_str().unwrap().to_string(), k, value_of(&m["value"], k))
                })
                .collect();
            let mut e = Exposition::default();
            // Reversed input: the rule takes names in bytewise order, whatever order they come in.
            e.add_zone(metrics.iter().rev().map(|(name, kind, value)| Input { name, kind: *kind, value: *value }), &rules, None);
            e.finish();
            let want = case["families"].as_object().unwrap();
            assert_eq!(e.families.len(), want.len(), "{what}: families {:?}", e.families.iter().map(|f| &f.name).collect::<Vec<_>>());
            for f in &e.families {
                let w = &want.get(&f.name).unwrap_or_else(|| panic!("{what}: unexpected family {}", f.name));
                assert_eq!(f.family_type.as_str(), w["type"].as_str().unwrap(), "{what}: {}", f.name);
                let ws = w["samples"].as_array().unwrap();
                assert_eq!(f.samples.len(), ws.len(), "{what}: {}", f.name);
                for (s, w) in f.samples.iter().zip(ws) {
                    assert_eq!(sample_name(&f.name, f.family_type), w["name"].as_str().unwrap(), "{what}");
                    assert_eq!(s.label_pairs(), labels(&w["labels"]), "{what}: sample order");
                    assert_eq!(as_f64(e.values[s.source]), w["value"].as_f64().unwrap(), "{what}");
                }
            }
            let skipped: Vec<&str> = case["skipped"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
            assert_eq!(e.skipped, skipped, "{what}");
        }
    }

    /// The rule's definition, spelled out: every metric in turn, in bytewise name order.
    fn one_by_one(e: &mut Exposition, metrics: &[(String, Kind, Value)], rules: &Rules, zone: Option<&str>) {
        let mut sorted: Vec<&(String, Kind, Value)> = metrics.iter().collect();
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (name, kind, value) in sorted {
            let mut labels = Vec::new();
            let (family, family_type) = map_name(name, *kind, rules, &mut labels);
            let skip = zone.is_some_and(|zone| {
                if let Some(own) = labels.iter_mut().find(|(k, _)| k == "zone") {
                    own.0 = Cow::Borrowed("exported_zone");
                }
                labels.insert(0, (Cow::Borrowed("zone"), Cow::Borrowed(zone)));
                labels.iter().filter(|(k, _)| k == "exported_zone").count() > 1
            });
            if skip || !e.add(&family, family_type, &labels, *value) {
                e.skipped.push(zone.map_or_else(|| name.clone(), |zone| format!("{zone}: {name}")));
            }
        }
    }

    #[test]
    fn grouping_by_family_gives_what_one_by_one_in_name_order_gives() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut pick = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        // Bases and label sets that clash in every way the rule knows.
        let bases = ["a", "a_total", "b", "b_total", "a.b", "a_b", "9x", "_total", "é"];
        let label_sets =
            ["", "{x=\"1\"}", "{x=\"2\"}", "{x=\"1\",y=\"2\"}", "{y=\"2\",x=\"1\"}", "{x.y=\"1\"}", "{x_y=\"1\"}", "{zone=\"z\"}", "{zone=\"z\",exported_zone=\"e\"}", "{bad}"];
        let kinds = [Kind::Counter, Kind::Gauge, Kind::GaugeF64];
        for _ in 0..2000 {
            let rules = Rules { namespace: String::new(), counters_as_gauges: pick(4) == 0 };
            let mut zones: Vec<Vec<(String, Kind, Value)>> = Vec::new();
            for _ in 0..2 {
                let mut names: Vec<String> = (0..1 + pick(12)).map(|_| format!("{}{}", bases[pick(bases.len())], label_sets[pick(label_sets.len())])).collect();
                names.sort();
                names.dedup(); // a zone's names are unique
                // Distinct values: the output shows which metric won a clash.
                let mut zone: Vec<(String, Kind, Value)> =
                    names.into_iter().enumerate().map(|(i, n)| (n, kinds[pick(3)], Value::Int(100 * zones.len() as i64 + i as i64))).collect();
                for i in (1..zone.len()).rev() {
                    zone.swap(i, pick(i + 1)); // the zone's order is not the names'
                }
                zones.push(zone);
            }
            let labels: [Option<&str>; 2] = if pick(2) == 0 { [None, None] } else { [Some("p"), Some("q")] };
            let (mut grouped, mut reference) = (Exposition::default(), Exposition::default());
            for (zone, label) in zones.iter().zip(labels).take(if labels[0].is_some() { 2 } else { 1 }) {
                grouped.add_zone(zone.iter().map(|(name, kind, value)| Input { name, kind: *kind, value: *value }), &rules, label);
                one_by_one(&mut reference, zone, &rules, label);
            }
            grouped.finish();
            reference.finish();
            let (mut got, mut want) = (String::new(), String::new());
            grouped.write_prometheus(&mut got, &grouped.values);
            reference.write_prometheus(&mut want, &reference.values);
            assert_eq!(got, want, "{zones:?}");
            assert_eq!(grouped.skipped, reference.skipped, "{zones:?}");
        }
    }

    #[test]
    fn text_formats() {
        let mut e = Exposition::default();
        let rules = Rules::default();
        let input = [
            Input { name: "jobs_total", kind: Kind::Counter, value: Value::Int(3) },
            Input { name: "t{room=\"a\\\"b\\\\c\\nd\"}", kind: Kind::GaugeF64, value: Value::Float(f64::INFINITY) },
        ];
        e.add_zone(input, &rules, Some("z"));
        e.finish();
        let mut text = String::new();
        e.write_prometheus(&mut text, &e.values);
        assert_eq!(
            text,
            "# HELP jobs_total shmmetrics counter jobs\n# TYPE jobs_total counter\njobs_total{zone=\"z\"} 3\n\
             # HELP t shmmetrics gauge t\n# TYPE t gauge\nt{zone=\"z\",room=\"a\\\"b\\\\c\\nd\"} +Inf\n"
        );
        let mut om = String::new();
        assert!(e.write_openmetrics(&mut om, &e.values).is_empty());
        assert!(om.starts_with("# HELP jobs shmmetrics counter jobs\n# TYPE jobs counter\njobs_total{zone=\"z\"} 3\n"), "{om}");
    }

    #[test]
    fn a_metrics_own_zone_label_becomes_exported_zone() {
        let mut e = Exposition::default();
        e.add_zone([Input { name: "m{zone=\"inner\"}", kind: Kind::Gauge, value: Value::Int(1) }], &Rules::default(), Some("outer"));
        assert_eq!(e.families[0].samples[0].labels(), "{zone=\"outer\",exported_zone=\"inner\"}");
    }

    #[test]
    fn openmetrics_leaves_out_negative_counters() {
        let mut e = Exposition::default();
        let input = [Input { name: "c{a=\"1\"}", kind: Kind::Counter, value: Value::Int(-2) }, Input { name: "c{a=\"2\"}", kind: Kind::Counter, value: Value::Int(5) }];
        e.add_zone(input, &Rules::default(), None);
        e.finish();
        let mut om = String::new();
        assert_eq!(e.write_openmetrics(&mut om, &e.values), ["c_total{a=\"1\"}"]);
        assert_eq!(om, "# HELP c shmmetrics counter c\n# TYPE c counter\nc_total{a=\"2\"} 5\n");
        let mut text = String::new();
        e.write_prometheus(&mut text, &e.values);
        assert!(text.contains("c_total{a=\"1\"} -2\n"), "text 0.0.4 has no such rule");
    }

    #[test]
    fn floats_read_back_exactly() {
        for f in [0.1, -3.25, 1e300, 5e-324, 123456789.0, f64::MAX] {
            assert_eq!(format_float(f).parse::<f64>().unwrap(), f);
        }
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
    }
}
