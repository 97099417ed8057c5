//! Regression test: every committed corpus input, and every freshly generated seed, runs through
//! its harness without a panic, an abort or a signal (`make test` runs this on stable).

use std::path::Path;

use shmmetrics_fuzz::{corpus_files, seeds};

fn replay(target: &str, generated: Vec<(String, Vec<u8>)>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let files = corpus_files(&dir);
    assert!(!files.is_empty(), "no committed corpus in {}", dir.display());
    for f in &files {
        let data = std::fs::read(f).unwrap();
        eprintln!("{target}: {}", f.display());
        shmmetrics_fuzz::run(target, &data);
    }
    for (name, data) in &generated {
        eprintln!("{target}: generated {name}");
        shmmetrics_fuzz::run(target, data);
    }
    println!("{target}: {} committed inputs and {} generated seeds replayed", files.len(), generated.len());
}

#[test]
fn zone_file_corpus() {
    replay("zone_file", seeds::zone_file_seeds());
}

#[test]
fn api_seq_corpus() {
    replay("api_seq", seeds::api_seq_seeds());
}
