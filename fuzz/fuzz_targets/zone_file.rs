//! libFuzzer target: arbitrary bytes as a zone file, opened read-only and writable, verified,
//! iterated, repaired and written to. See `shmmetrics_fuzz::zone_file`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shmmetrics_fuzz::zone_file::run(data));
