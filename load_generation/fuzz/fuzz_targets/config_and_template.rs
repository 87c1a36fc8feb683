//! The bytes as a load config (parse, validate, plan, render with a fixed
//! template) and as a locustfile template; see `loadgen_fuzz` for the properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadgen_fuzz::config_and_template(data));
