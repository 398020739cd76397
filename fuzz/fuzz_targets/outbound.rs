#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spinshim_fuzz::outbound(data));
