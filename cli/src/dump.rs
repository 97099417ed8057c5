//! `shmmetrics dump`: every metric of one zone, as a table, JSON, Prometheus text or
//! OpenMetrics.

use serde_json::{Value as Json, json};
use shmmetrics::Value;

use crate::exit::{CliResult, note};
use crate::exposition::{Exposition, Input, Rules, format_float};
use crate::glob::Filter;
use crate::source::{Metric, Source};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One metric per line: name, kind, value (like `varnishstat -1`).
    Text,
    /// The zone's description and every metric with its registration id and creation time.
    Json,
    /// Prometheus text exposition format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text.
    Openmetrics,
}

/// The metrics `filter` allows, in the zone's order.
pub fn selected(source: &Source, filter: &Filter) -> CliResult<Vec<Metric>> {
    Ok(source.metrics()?.into_iter().filter(|m| filter.allows(&m.name)).collect())
}

/// The metrics in `format`: text and JSON list them in bytewise name order, the exposition
/// formats by family.
pub fn render(source: &Source, mut metrics: Vec<Metric>, format: Format, rules: &Rules) -> CliResult<String> {
    if matches!(format, Format::Text | Format::Json) {
        metrics.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(match format {
        Format::Text => text(&metrics),
        Format::Json => json(source, &metrics)?,
        Format::Prometheus | Format::Openmetrics => {
            let mut e = Exposition::default();
            e.add_zone(metrics.iter().map(|m| Input { name: &m.name, kind: m.kind, value: m.value }), rules, None);
            e.finish();
            let mut out = String::with_capacity(metrics.len() * 96);
            if format == Format::Prometheus {
                e.write_prometheus(&mut out, &e.values)
            } else {
                for sample in e.write_openmetrics(&mut out, &e.values) {
                    note!("shmmetrics: left out {sample}: OpenMetrics counters cannot be negative (--counters-as-gauges exposes it)");
                }
                out.push_str("# EOF\n");
            }
            for name in &e.skipped {
                note!("shmmetrics: skipped {name:?}: its exposition name or label set is already taken");
            }
            // The command exits once the text is written: freeing 100,000 metrics and samples one
            // by one first would be a tenth of its time for nothing.
            std::mem::forget((e, metrics));
            out
        }
    })
}

pub fn value_text(v: Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_float(f),
    }
}

fn text(metrics: &[Metric]) -> String {
    let width = metrics.iter().map(|m| m.name.chars().count()).max().unwrap_or(0);
    let mut out = String::with_capacity(metrics.len() * (width + 24));
    for m in metrics {
        let pad = width - m.name.chars().count();
        out.push_str(&m.name);
        out.extend(std::iter::repeat_n(' ', pad + 2));
        out.push_str(&format!("{:<9}  {}", m.kind.as_str(), value_text(m.value)));
        if m.truncated {
            out.push_str("  (MOSN hash-truncated name)");
        }
        out.push('\n');
    }
    out
}

fn json_value(v: Value) -> Json {
    match v {
        Value::Int(i) => json!(i),
        // JSON has no NaN or infinities: those are written as the exposition formats write them.
        Value::Float(f) if f.is_finite() => json!(f),
        Value::Float(f) => json!(format_float(f)),
    }
}

fn json(source: &Source, metrics: &[Metric]) -> CliResult<String> {
    let zone = match source {
        Source::Shm(z) => {
            let info = z.info()?;
            json!({
                "path": info.path.display().to_string(),
                "format": "shmmetrics",
                "version": format!("{}.{}", info.version_major, info.version_minor),
                "file_size": info.file_size,
                "capacity": info.capacity,
                "created_unix_ns": info.created_unix_ns,
                "creator_pid": info.creator_pid,
            })
        }
        Source::Mosn(m) => {
            let meta = m.read()?.meta;
            json!({
                "path": m.path.display().to_string(),
                "format": "mosn",
                "file_size": meta.file_size,
                "capacity": meta.capacity,
            })
        }
    };
    let mut out = format!("{{\"zone\": {zone},\n\"metrics\": [");
    for (i, m) in metrics.iter().enumerate() {
        let mut row = json!({"name": m.name, "kind": m.kind.as_str(), "value": json_value(m.value)});
        if source.is_mosn() {
            row["truncated"] = json!(m.truncated);
        } else {
            row["generation"] = json!(m.generation);
            row["created_unix_ns"] = json!(m.created_unix_ns);
        }
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        out.push_str(&row.to_string());
    }
    out.push_str("\n]}\n");
    Ok(out)
}
