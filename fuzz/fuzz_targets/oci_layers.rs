#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spinshim_fuzz::oci_layers(data));
