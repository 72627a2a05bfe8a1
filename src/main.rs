//! The `fleetcmdb` binary: everything lives in the library; this only exits.

fn main() {
    std::process::exit(fleetcmdb::main_with_args(std::env::args_os()));
}
