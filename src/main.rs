//! The `fleetcmdb` binary: everything lives in the library; this only exits.

// mimalloc: the conversion path allocates many small strings; glibc malloc
// was a tenth of the profile and fragmented across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(fleetcmdb::main_with_args(std::env::args_os()));
}
