//! Fuzz target: fleetcmdb::fuzz::snapshot_page on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fleetcmdb::fuzz::snapshot_page(data);
});
