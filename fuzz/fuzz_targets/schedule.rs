//! Fuzz target: fleetcmdb::fuzz::schedule on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fleetcmdb::fuzz::schedule(data);
});
