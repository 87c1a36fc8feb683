//! The bytes as a user type name inside a quoted text-format string: only an
//! identifier may pass and reach the generated locustfile (the security boundary).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadgen_fuzz::user_type_name(data));
