//! The bytes as a `--fail-if` threshold expression.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadgen_fuzz::threshold(data));
