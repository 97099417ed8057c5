//! libFuzzer target: bytes decoded as a sequence of C ABI calls against one zone, checked
//! against a model. See `shmmetrics_fuzz::api_seq`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shmmetrics_fuzz::api_seq::run(data));
