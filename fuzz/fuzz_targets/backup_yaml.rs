//! Fuzz target: fleetcmdb::fuzz::backup_yaml on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fleetcmdb::fuzz::backup_yaml(data);
});
