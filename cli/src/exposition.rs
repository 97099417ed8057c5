//! Zone metrics as Prometheus text (0.0.4) and OpenMetrics (1.0) exposition.
//!
//! The name and label mapping is the one rule every exporter follows (Rust here, Python's
//! `ZoneCollector`, Go's `Collector`); `tests/vectors/exposition.json` states it and the tests of
//! each language read that file. In short: a zone name may carry labels in Prometheus syntax;
//! names are sanitized to the classic character sets; counters drop a trailing `_total` from their
//! family and write `<family>_total` samples (unless counters are exposed as gauges); names are
//! taken in bytewise order and the first one to claim a family name, or a family and label set,
//! wins.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::hash::{BuildHasherDefault, Hasher};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Every character outside `[a-zA-Z0-9_:]` becomes `_`; a leading digit gets a `_` before it.
pub fn sanitize_metric_name(name: &str) -> String {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// As metric names, without `:`; a reserved `__` prefix gets `shm` in front of it.
pub fn sanitize_label_name(name: &str) -> String {
    let s = sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_');
    if s.starts_with("__") { format!("shm{s}") } else { s }
}

fn sanitize(name: &str, ok: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(name.chars().map(|c| if ok(c) { c } else { '_' }));
    out
}

/// Python's `str.isspace()`, which the other implementations' regular expressions use for `\s`.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Splits a zone name into its base name and labels (unescaped), or None when it has no label
/// part that parses: then the whole name is the base, without labels.
pub fn parse_name(name: &str) -> Option<(&str, Vec<(String, String)>)> {
    let brace = name.find('{')?;
    if !name.ends_with('}') || brace == 0 {
        return None;
    }
    let body = name[brace + 1..name.len() - 1].trim_end_matches(is_space);
    let mut rest = body;
    let mut labels: Vec<(String, String)> = Vec::new();
    while !rest.is_empty() {
        let (key, value, after) = parse_pair(rest)?;
        if labels.iter().any(|(k, _)| k == key) {
            return None;
        }
        labels.push((key.to_string(), value));
        rest = after;
    }
    Some((&name[..brace], labels))
}

/// One `key="value"` followed by a comma or the end; returns the rest after it.
fn parse_pair(s: &str) -> Option<(&str, String, &str)> {
    let s = s.trim_start_matches(is_space);
    let key_end = s.find(|c: char| c == '=' || is_space(c) || matches!(c, ',' | '{' | '}' | '"')).unwrap_or(s.len());
    if key_end == 0 {
        return None;
    }
    let key = &s[..key_end];
    let s = s[key_end..].trim_start_matches(is_space).strip_prefix('=')?;
    let s = s.trim_start_matches(is_space).strip_prefix('"')?;
    // Fast path: no escape before the closing quote (both are ASCII, never inside a UTF-8
    // sequence, so a byte search is exact).
    if let Some(i) = s.bytes().position(|b| b == b'"' || b == b'\\')
        && s.as_bytes()[i] == b'"'
    {
        return after_value(key, s[..i].to_string(), &s[i + 1..]);
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
    after_value(key, value, &s[close + 1..])
}

fn after_value<'a>(key: &'a str, value: String, after: &'a str) -> Option<(&'a str, String, &'a str)> {
    let after = after.trim_start_matches(is_space);
    match after.strip_prefix(',') {
        Some(rest) => Some((key, value, rest)),
        None if after.is_empty() => Some((key, value, after)),
        None => None,
    }
}

/// Where a zone metric goes: its family, its sample name and its labels (sanitized).
#[derive(Clone, Debug, PartialEq)]
pub struct Named {
    pub family: String,
    pub sample: String,
    pub labels: Vec<(String, String)>,
    pub family_type: FamilyType,
}

pub fn exposition_name(name: &str, kind: Kind, rules: &Rules) -> Named {
    let (base, raw_labels) = parse_name(name).unwrap_or((name, Vec::new()));
    let mut family = if rules.namespace.is_empty() { sanitize_metric_name(base) } else { sanitize_metric_name(&format!("{}_{base}", rules.namespace)) };
    let family_type = if kind == Kind::Counter && !rules.counters_as_gauges { FamilyType::Counter } else { FamilyType::Gauge };
    let sample = match family_type {
        FamilyType::Counter => {
            // A family name may not be empty: the counter `_total` keeps its name.
            if family.len() > "_total".len() && family.ends_with("_total") {
                family.truncate(family.len() - "_total".len());
            }
            format!("{family}_total")
        }
        FamilyType::Gauge => family.clone(),
    };
    let mut labels: Vec<(String, String)> = Vec::with_capacity(raw_labels.len());
    for (key, value) in raw_labels {
        let key = sanitize_label_name(&key);
        if !labels.iter().any(|(k, _)| *k == key) {
            labels.push((key, value));
        }
    }
    Named { family, sample, labels, family_type }
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
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: Value,
    /// The sorted label set, joined: the family's samples are ordered and deduplicated by it.
    key: String,
}

/// A fast non-cryptographic hash for the label-set keys (a few hundred thousand per scrape; the
/// input is the zone's own names, not an attacker's, and SipHash was a tenth of a dump's time).
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

type KeySet = HashSet<String, BuildHasherDefault<FastHasher>>;

#[derive(Clone, Debug)]
pub struct Family {
    pub name: String,
    pub family_type: FamilyType,
    pub help: String,
    pub samples: Vec<Sample>,
    keys: KeySet,
}

/// Families being assembled from one or several zones (plus an exporter's own metrics).
#[derive(Default)]
pub struct Exposition {
    pub families: Vec<Family>,
    by_name: HashMap<String, usize>,
    /// Every name a family writes (its family name and, for counters, `<family>_total`).
    claimed: HashSet<String>,
    /// Zone names that could not be exposed because of a clash (prefixed `zone: ` when several
    /// zones are exposed).
    pub skipped: Vec<String>,
}

fn label_key(labels: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = labels.iter().collect();
    sorted.sort();
    let mut key = String::new();
    for (k, v) in sorted {
        // NUL never occurs in a zone name, so these separators are unambiguous.
        key.push_str(k);
        key.push('\0');
        key.push_str(v);
        key.push('\0');
    }
    key
}

impl Exposition {
    /// Adds one zone's metrics. `zone` (when several zones are exposed) becomes a `zone` label in
    /// front of the metric's own labels; a metric's own `zone` label is renamed `exported_zone`
    /// (Prometheus's convention for a clash with a target label).
    pub fn add_zone<'a>(&mut self, metrics: impl IntoIterator<Item = Input<'a>>, rules: &Rules, zone: Option<&str>) {
        let mut sorted: Vec<Input<'a>> = metrics.into_iter().collect();
        if !sorted.is_sorted_by(|a, b| a.name.as_bytes() <= b.name.as_bytes()) {
            sorted.sort_unstable_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        }
        for m in sorted {
            let mut named = exposition_name(m.name, m.kind, rules);
            if let Some(zone) = zone {
                if let Some(own) = named.labels.iter_mut().find(|(k, _)| k == "zone") {
                    own.0 = "exported_zone".to_string();
                    if named.labels.iter().filter(|(k, _)| k == "exported_zone").count() > 1 {
                        self.skipped.push(format!("{zone}: {}", m.name));
                        continue;
                    }
                }
                named.labels.insert(0, ("zone".to_string(), zone.to_string()));
            }
            if !self.add(named, m.value) {
                self.skipped.push(match zone {
                    Some(zone) => format!("{zone}: {}", m.name),
                    None => m.name.to_string(),
                });
            }
        }
    }

    /// Adds one sample; false if it clashes with what is already there.
    pub fn add(&mut self, named: Named, value: Value) -> bool {
        let index = match self.by_name.get(&named.family) {
            Some(&i) if self.families[i].family_type == named.family_type => i,
            Some(_) => return false,
            None => {
                let total = format!("{}_total", named.family);
                let counter = named.family_type == FamilyType::Counter;
                if self.claimed.contains(&named.family) || (counter && self.claimed.contains(&total)) {
                    return false;
                }
                self.claimed.insert(named.family.clone());
                if counter {
                    self.claimed.insert(total);
                }
                let help = format!("shmmetrics {} {}", named.family_type.as_str(), named.family);
                self.by_name.insert(named.family.clone(), self.families.len());
                self.families.push(Family { name: named.family, family_type: named.family_type, help, samples: Vec::new(), keys: KeySet::default() });
                self.families.len() - 1
            }
        };
        let family = &mut self.families[index];
        let key = label_key(&named.labels);
        if !family.keys.insert(key.clone()) {
            return false;
        }
        family.samples.push(Sample { name: named.sample, labels: named.labels, value, key });
        true
    }

    /// Creates an empty family (an exporter's own) so that it claims its names before any zone
    /// metric can; families left without samples are not written.
    pub fn declare(&mut self, name: &str, family_type: FamilyType, help: &str) {
        let counter = family_type == FamilyType::Counter;
        self.claimed.insert(name.to_string());
        if counter {
            self.claimed.insert(format!("{name}_total"));
        }
        self.by_name.insert(name.to_string(), self.families.len());
        self.families.push(Family { name: name.to_string(), family_type, help: help.to_string(), samples: Vec::new(), keys: KeySet::default() });
    }

    /// Orders each family's samples by label set (families stay in the order they appeared).
    pub fn finish(&mut self) {
        for f in &mut self.families {
            f.samples.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        }
    }

    /// Prometheus text format 0.0.4. As in the client libraries, a counter family's HELP and
    /// TYPE lines name `<family>_total`.
    pub fn write_prometheus(&self, out: &mut String) {
        for f in self.families.iter().filter(|f| !f.samples.is_empty()) {
            let shown = match f.family_type {
                FamilyType::Counter => format!("{}_total", f.name),
                FamilyType::Gauge => f.name.clone(),
            };
            let _ = writeln!(out, "# HELP {shown} {}", escape_help(&f.help, false));
            let _ = writeln!(out, "# TYPE {shown} {}", f.family_type.as_str());
            write_samples(out, f.samples.iter());
        }
    }

    /// OpenMetrics 1.0 text, ending with `# EOF`. OpenMetrics forbids negative counter values
    /// (a go-metrics counter can go below zero): such samples are left out, and returned so the
    /// caller can say so; `counters_as_gauges` exposes them.
    pub fn write_openmetrics(&self, out: &mut String) -> Vec<String> {
        let mut omitted = Vec::new();
        for f in self.families.iter().filter(|f| !f.samples.is_empty()) {
            let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(&f.help, true));
            let _ = writeln!(out, "# TYPE {} {}", f.name, f.family_type.as_str());
            if f.family_type == FamilyType::Counter && f.samples.iter().any(|s| matches!(s.value, Value::Int(v) if v < 0)) {
                let (neg, ok): (Vec<&Sample>, Vec<&Sample>) = f.samples.iter().partition(|s| matches!(s.value, Value::Int(v) if v < 0));
                omitted.extend(neg.iter().map(|s| format!("{}{}", s.name, s.key.replace('\0', " "))));
                write_samples(out, ok.into_iter());
            } else {
                write_samples(out, f.samples.iter());
            }
        }
        out.push_str("# EOF\n");
        omitted
    }
}

fn write_samples<'a>(out: &mut String, samples: impl Iterator<Item = &'a Sample>) {
    for s in samples {
        out.push_str(&s.name);
        if !s.labels.is_empty() {
            out.push('{');
            for (i, (k, v)) in s.labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                escape_label_value(out, v);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        write_value(out, s.value);
        out.push('\n');
    }
}

fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(help: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// A sample value as both formats (and Go's ParseFloat) read it.
pub fn write_value(out: &mut String, value: Value) {
    match value {
        Value::Int(i) => {
            let _ = write!(out, "{i}");
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

    fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
        v.sort();
        v
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
            let (base, got) = parse_name(name).unwrap_or((name, Vec::new()));
            assert_eq!(base, case["base"].as_str().unwrap(), "{case}");
            assert_eq!(sorted(got), labels(&case["labels"]), "{case}");
        }
    }

    #[test]
    fn name_vectors() {
        for case in vectors()["names"].as_array().unwrap() {
            let rules = Rules {
                namespace: case.get("namespace").and_then(Json::as_str).unwrap_or("").to_string(),
                counters_as_gauges: case.get("counters_as_gauges").and_then(Json::as_bool).unwrap_or(false),
            };
            let n = exposition_name(case["name"].as_str().unwrap(), kind(case["kind"].as_str().unwrap()), &rules);
            assert_eq!(n.family, case["family"].as_str().unwrap(), "{case}");
            assert_eq!(n.sample, case["sample"].as_str().unwrap(), "{case}");
            assert_eq!(sorted(n.labels), labels(&case["labels"]), "{case}");
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
                    assert_eq!(s.name, w["name"].as_str().unwrap(), "{what}");
                    assert_eq!(sorted(s.labels.clone()), labels(&w["labels"]), "{what}: sample order");
                    assert_eq!(as_f64(s.value), w["value"].as_f64().unwrap(), "{what}");
                }
            }
            let skipped: Vec<&str> = case["skipped"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
            assert_eq!(e.skipped, skipped, "{what}");
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
        e.write_prometheus(&mut text);
        assert_eq!(
            text,
            "# HELP jobs_total shmmetrics counter jobs\n# TYPE jobs_total counter\njobs_total{zone=\"z\"} 3\n\
             # HELP t shmmetrics gauge t\n# TYPE t gauge\nt{zone=\"z\",room=\"a\\\"b\\\\c\\nd\"} +Inf\n"
        );
        let mut om = String::new();
        assert!(e.write_openmetrics(&mut om).is_empty());
        assert!(om.starts_with("# HELP jobs shmmetrics counter jobs\n# TYPE jobs counter\njobs_total{zone=\"z\"} 3\n"), "{om}");
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn a_metrics_own_zone_label_becomes_exported_zone() {
        let mut e = Exposition::default();
        e.add_zone([Input { name: "m{zone=\"inner\"}", kind: Kind::Gauge, value: Value::Int(1) }], &Rules::default(), Some("outer"));
        let s = &e.families[0].samples[0];
        assert_eq!(s.labels, vec![("zone".into(), "outer".into()), ("exported_zone".into(), "inner".into())]);
    }

    #[test]
    fn openmetrics_leaves_out_negative_counters() {
        let mut e = Exposition::default();
        let input = [Input { name: "c{a=\"1\"}", kind: Kind::Counter, value: Value::Int(-2) }, Input { name: "c{a=\"2\"}", kind: Kind::Counter, value: Value::Int(5) }];
        e.add_zone(input, &Rules::default(), None);
        e.finish();
        let mut om = String::new();
        assert_eq!(e.write_openmetrics(&mut om).len(), 1);
        assert_eq!(om, "# HELP c shmmetrics counter c\n# TYPE c counter\nc_total{a=\"2\"} 5\n# EOF\n");
        let mut text = String::new();
        e.write_prometheus(&mut text);
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
