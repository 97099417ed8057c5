//! `docs/FORMAT.md` and `tests/vectors/zone_layout.json` against the code: the header, attach,
//! metadata and value record tables (offset, size and name of every field, in order, reserved
//! ranges included) and the record sizes must be those of the layout structs
//! (`shmmetrics::layout_table`). The JSON file is for tests in other languages (the C tests);
//! `SHMM_WRITE_VECTORS=1 cargo test --release --test format_doc` rewrites it from the code.

use shmmetrics::layout_table::{RECORDS, Record};

/// One row of a FORMAT.md field table.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    offset: usize,
    size: usize,
    name: String,
}

/// The section of FORMAT.md whose `## ` title starts with `title`: its title line and body.
fn section<'a>(doc: &'a str, title: &str) -> (&'a str, &'a str) {
    let start = doc.find(&format!("\n## {title}")).unwrap_or_else(|| panic!("FORMAT.md has no section \"## {title}\"")) + 1;
    let rest = &doc[start..];
    let title_end = rest.find('\n').unwrap_or(rest.len());
    let end = rest[title_end..].find("\n## ").map_or(rest.len(), |e| title_end + e);
    (&rest[..title_end], &rest[title_end..end])
}

/// The rows of the first table in `body` whose first two cells are numbers. The field is the
/// first `code` span of the third cell, or "reserved"; a row with neither is an error.
fn rows(body: &str) -> Result<Vec<Row>, String> {
    let table = body.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'));
    let mut out = Vec::new();
    for line in table {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (Some(Ok(offset)), Some(Ok(size))) = (cells.first().map(|c| c.parse()), cells.get(1).map(|c| c.parse())) else {
            continue; // the heading and the alignment row
        };
        let cell = cells.get(2).copied().unwrap_or("");
        let name = match cell.split('`').nth(1) {
            Some(code) => code.to_string(),
            None if cell.starts_with("reserved") => "reserved".to_string(),
            None => return Err(format!("row {line:?}: the field cell names no `field` and is not \"reserved\"")),
        };
        out.push(Row { offset, size, name });
    }
    Ok(out)
}

/// What FORMAT.md must say for `record`: every field, reserved ones by that word.
fn expected(record: &Record) -> Vec<Row> {
    let name = |f: &shmmetrics::layout_table::Field| if f.is_reserved() { "reserved".to_string() } else { f.name.to_string() };
    record.fields.iter().map(|f| Row { offset: f.offset, size: f.size, name: name(f) }).collect()
}

fn format_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn format_md_tables_match_the_layout_structs() {
    let doc = format_md();
    let mut problems = Vec::new();
    for record in RECORDS {
        let (title, body) = section(&doc, record.title);
        if !title.contains(&format!("{} bytes", record.size)) {
            problems.push(format!("{title:?}: the record is {} bytes", record.size));
        }
        let (got, want) = (rows(body).unwrap_or_else(|e| panic!("{title:?}: {e}")), expected(&record));
        if got != want {
            let show = |r: Option<&Row>| r.map_or("(no row)".to_string(), |r| format!("{:>4} {:>4} {}", r.offset, r.size, r.name));
            let diff: Vec<String> = (0..got.len().max(want.len()))
                .filter(|&i| got.get(i) != want.get(i))
                .map(|i| format!("  row {i}: FORMAT.md {:<36} code {}", show(got.get(i)), show(want.get(i))))
                .collect();
            problems.push(format!("{title:?} (offset, size, field):\n{}", diff.join("\n")));
        }
    }
    assert!(problems.is_empty(), "docs/FORMAT.md differs from src/layout.rs:\n{}", problems.join("\n"));
}

/// The parser itself: a table it cannot read must fail the check, not pass it empty.
#[test]
fn the_table_parser_reads_rows_and_refuses_unnamed_fields() {
    let body = "text\n\n| off | size | field |\n|---:|---:|---|\n| 0 | 4 | `state` | x |\n| 4 | 60 | reserved, 0 |\n\nafter\n| 9 | 9 | `not_this_table` |\n";
    let want = vec![Row { offset: 0, size: 4, name: "state".into() }, Row { offset: 4, size: 60, name: "reserved".into() }];
    assert_eq!(rows(body), Ok(want));
    assert!(rows("| 0 | 8 | value: i64 |\n").is_err(), "a row without a field name was accepted");
    for record in RECORDS {
        assert!(!expected(&record).is_empty());
    }
}

/// The layout as language-neutral vectors: one line per field, `"record.field"`, so that a C
/// test can find a field with `strstr`.
fn vectors() -> String {
    let mut out = String::from(
        "{\n  \"about\": \"Field offsets and sizes of the zone format (docs/FORMAT.md), generated from src/layout.rs by tests/format_doc.rs: do not edit, run SHMM_WRITE_VECTORS=1 cargo test --release --test format_doc\",\n",
    );
    let sizes: Vec<String> = RECORDS.iter().map(|r| format!("\"{}\": {}", r.key, r.size)).collect();
    out += &format!("  \"record_sizes\": {{{}}},\n  \"fields\": {{\n", sizes.join(", "));
    let fields: Vec<String> = RECORDS
        .iter()
        .flat_map(|r| r.fields.iter().filter(|f| !f.is_reserved()).map(move |f| format!("    \"{}.{}\": {{\"offset\": {}, \"size\": {}}}", r.key, f.name, f.offset, f.size)))
        .collect();
    out + &fields.join(",\n") + "\n  }\n}\n"
}

#[test]
fn zone_layout_vectors_match_the_layout_structs() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/zone_layout.json");
    let want = vectors();
    if std::env::var_os("SHMM_WRITE_VECTORS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let got = std::fs::read_to_string(path).unwrap_or_default();
    assert!(got == want, "{path} differs from src/layout.rs: run SHMM_WRITE_VECTORS=1 cargo test --release --test format_doc, and check what reads it (tests/c)");
}
