#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pakiti_fuzzing::kev(data));
